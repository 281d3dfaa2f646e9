//! perf_event_open(2), its ioctls and the mmap of its ring (tracepoints, kprobes, perf
//! event arrays), plus the shared mappings of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF).
//!
//! The rings are handed out as safe types ([`MmapRing`], [`RingbufMmap`]): every access is
//! bounds-checked (a ring buffer's record loop goes through [`RingbufData`], whose bounds
//! follow from the size of the mapping, checked once when the ring is mapped); positions
//! shared with the kernel are read with acquire and written with release ordering. A
//! record's bytes are lent to a closure (no copy) while the kernel leaves them alone, that
//! is before the consumer position moves past them; a perf record that wraps around the
//! end of its ring is copied out.

use super::{Result, SysError};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// `PERF_TYPE_*` (`enum perf_type_id`).
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_COUNT_SW_BPF_OUTPUT`: the software event behind a BPF_MAP_TYPE_PERF_EVENT_ARRAY.
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
/// `PERF_SAMPLE_RAW`: samples carry the bytes a BPF program passed to bpf_perf_event_output.
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_FLAG_FD_CLOEXEC`.
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// `PERF_RECORD_LOST` and `PERF_RECORD_SAMPLE` (`enum perf_event_type`).
pub const PERF_RECORD_LOST: u32 = 2;
pub const PERF_RECORD_SAMPLE: u32 = 9;

/// `PERF_EVENT_IOC_ENABLE` = _IO('$', 0).
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
/// `PERF_EVENT_IOC_DISABLE` = _IO('$', 1).
const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;
/// `PERF_EVENT_IOC_SET_BPF` = _IOW('$', 8, __u32).
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// `struct perf_event_attr` (PERF_ATTR_SIZE_VER8, 136 bytes). Unions are named after the
/// member we use; `flags` is the bitfield word (`disabled`, `inherit`, ...).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period` / `sample_freq`.
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// Bitfield: bit 0 `disabled`, bit 1 `inherit`, ... bit 15-16 `precise_ip`, ...
    pub flags: u64,
    /// `wakeup_events` / `wakeup_watermark`.
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `config1`: `kprobe_func` / `uprobe_path` (a pointer to a C string).
    pub config1: u64,
    /// `config2`: `kprobe_addr` / `probe_offset`.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
    pub aux_sample_size: u32,
    pub aux_action: u32,
    pub sig_data: u64,
    pub config3: u64,
}

impl PerfEventAttr {
    /// An attribute block of `type_`/`config` with its own size filled in.
    pub fn new(type_: u32, config: u64) -> Self {
        PerfEventAttr {
            type_,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config,
            ..Default::default()
        }
    }
}

/// perf_event_open(2) with PERF_FLAG_FD_CLOEXEC. `what` names the event in the error
/// (`tracepoint sched/sched_process_exec`, `kprobe do_unlinkat`, `bpf output cpu 1`).
pub fn perf_event_open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    what: &dyn Fn() -> String,
) -> Result<OwnedFd> {
    super::CALLS.fetch_add(1, Ordering::Relaxed);
    loop {
        // SAFETY: `attr` is a live, fully initialised perf_event_attr whose `size` field is
        // its own size; any pointer in config1 is kept alive by the caller for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr as *const PerfEventAttr,
                pid as libc::c_long,
                cpu as libc::c_long,
                -1 as libc::c_long,
                PERF_FLAG_FD_CLOEXEC as libc::c_long,
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(SysError::new("perf_event_open", what(), err));
    }
}

fn perf_ioctl(
    fd: BorrowedFd,
    req: libc::c_ulong,
    arg: libc::c_ulong,
    call: &'static str,
) -> Result<()> {
    // SAFETY: the PERF_EVENT_IOC_* requests used here take an integer argument (or none);
    // `fd` is a live descriptor borrowed for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, arg) };
    if ret < 0 {
        return Err(SysError::new(
            call,
            format!("perf event fd {}", fd.as_raw_fd()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// PERF_EVENT_IOC_SET_BPF: run `prog` whenever the perf event fires (the pre-link way).
pub fn ioc_set_bpf(event: BorrowedFd, prog: BorrowedFd) -> Result<()> {
    perf_ioctl(
        event,
        PERF_EVENT_IOC_SET_BPF,
        prog.as_raw_fd() as libc::c_ulong,
        "PERF_EVENT_IOC_SET_BPF",
    )
}

/// PERF_EVENT_IOC_ENABLE.
pub fn ioc_enable(event: BorrowedFd) -> Result<()> {
    perf_ioctl(event, PERF_EVENT_IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")
}

/// PERF_EVENT_IOC_DISABLE.
pub fn ioc_disable(event: BorrowedFd) -> Result<()> {
    perf_ioctl(event, PERF_EVENT_IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// One shared mapping of a kernel object, unmapped on drop. Private: the public types give
/// it meaning and check every offset against `len`.
#[derive(Debug)]
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all accesses go through atomics or copies.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(fd: BorrowedFd, len: usize, offset: usize, writable: bool, what: &str) -> Result<Self> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh shared mapping chosen by the kernel (addr NULL); the result is
        // checked against MAP_FAILED and owned by the returned value until munmap in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(SysError::new("mmap", what, io::Error::last_os_error()));
        }
        Ok(Mapping {
            ptr: ptr as *mut u8,
            len,
        })
    }

    /// The aligned address of a `T` at `off`, if it lies inside the mapping.
    #[inline]
    fn at<T>(&self, off: usize) -> Option<*mut T> {
        let size = std::mem::size_of::<T>();
        if off.checked_add(size)? > self.len || off & (std::mem::align_of::<T>() - 1) != 0 {
            return None;
        }
        // SAFETY: off + size <= len, so the result stays inside the mapping.
        Some(unsafe { self.ptr.add(off) } as *mut T)
    }

    #[inline]
    fn load_u64(&self, off: usize) -> u64 {
        match self.at::<u64>(off) {
            // SAFETY: in bounds and 8-aligned (checked by `at`); the kernel writes this word
            // concurrently, which is what the atomic access is for.
            Some(p) => unsafe { AtomicU64::from_ptr(p) }.load(Ordering::Acquire),
            None => 0,
        }
    }

    #[inline]
    fn store_u64(&self, off: usize, v: u64) {
        if let Some(p) = self.at::<u64>(off) {
            // SAFETY: in bounds and aligned; only writable mappings are written to (the
            // callers store into the rw header/consumer page only).
            unsafe { AtomicU64::from_ptr(p) }.store(v, Ordering::Release);
        }
    }

    /// The `len` bytes at `off`, lent without a copy, if they lie inside the mapping. Only
    /// for bytes the kernel does not write while the borrow lasts (a committed record
    /// before the consumer position is published past it).
    #[inline]
    fn slice(&self, off: usize, len: usize) -> Option<&[u8]> {
        if off.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: [off, off + len) is inside the live mapping (checked above; unmapped only
        // in Drop, which cannot run while &self is borrowed). The kernel does not write a
        // record between the consumer and producer positions until the consumer position
        // moves past it, and the callers publish that only after the borrow ends.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.add(off), len) })
    }

    /// Copy `out.len()` bytes starting at `off` (must lie inside the mapping).
    #[inline]
    fn copy(&self, off: usize, out: &mut [u8]) -> bool {
        match off.checked_add(out.len()) {
            Some(end) if end <= self.len => {
                // SAFETY: [off, end) is inside the mapping; `out` is a distinct Rust buffer.
                unsafe {
                    std::ptr::copy_nonoverlapping(self.ptr.add(off), out.as_mut_ptr(), out.len())
                };
                true
            }
            _ => false,
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; nothing borrows the mapping now.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

// `struct perf_event_mmap_page` offsets of the fields we use.
const PERF_DATA_HEAD: usize = 1024;
const PERF_DATA_TAIL: usize = 1032;
const PERF_DATA_OFFSET: usize = 1040;
const PERF_DATA_SIZE: usize = 1048;

/// The mmap'd ring of one perf event: the `perf_event_mmap_page` header page plus
/// 2^n data pages. The kernel writes at `data_head`, we consume up to it and publish
/// `data_tail`.
#[derive(Debug)]
pub struct MmapRing {
    map: Mapping,
    data_offset: usize,
    data_size: usize,
}

impl MmapRing {
    /// Map `1 + data_pages` pages of perf event `fd`; `data_pages` must be a power of two.
    pub fn new(fd: BorrowedFd, data_pages: usize) -> Result<Self> {
        let what = || {
            format!(
                "perf ring of fd {} ({data_pages} data pages)",
                fd.as_raw_fd()
            )
        };
        if data_pages == 0 || !data_pages.is_power_of_two() {
            return Err(SysError::new(
                "mmap",
                what(),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "data pages must be a power of two",
                ),
            ));
        }
        let page = page_size();
        let len = data_pages
            .checked_add(1)
            .and_then(|n| n.checked_mul(page))
            .ok_or_else(|| {
                SysError::new("mmap", what(), io::Error::from_raw_os_error(libc::EINVAL))
            })?;
        let map = Mapping::new(fd, len, 0, true, &what())?;
        // Kernels since 4.1 publish where the data lives; older ones leave 0 = "next page".
        let mut data_offset = map.load_u64(PERF_DATA_OFFSET) as usize;
        let mut data_size = map.load_u64(PERF_DATA_SIZE) as usize;
        if data_offset == 0 && data_size == 0 {
            data_offset = page;
            data_size = len - page;
        }
        let fits = data_offset
            .checked_add(data_size)
            .is_some_and(|end| end <= len);
        if !fits || !data_size.is_power_of_two() {
            return Err(SysError::new(
                "mmap",
                what(),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "kernel reports data at {data_offset}+{data_size} in a {len}-byte mapping"
                    ),
                ),
            ));
        }
        Ok(MmapRing {
            map,
            data_offset,
            data_size,
        })
    }

    /// Bytes in the data area (a power of two).
    #[inline]
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// `data_head`, read with acquire ordering: records before it are complete.
    #[inline]
    pub fn head(&self) -> u64 {
        self.map.load_u64(PERF_DATA_HEAD)
    }

    /// `data_tail`: how far we have consumed.
    #[inline]
    pub fn tail(&self) -> u64 {
        self.map.load_u64(PERF_DATA_TAIL)
    }

    /// Publish `data_tail` with release ordering: the kernel may overwrite what is before it.
    #[inline]
    pub fn set_tail(&self, tail: u64) {
        self.map.store_u64(PERF_DATA_TAIL, tail);
    }

    /// Copy `out.len()` bytes of the data area from ring position `pos`, wrapping at the end
    /// of the area. Returns false when more than the whole area is asked for.
    #[inline]
    pub fn copy_from(&self, pos: u64, out: &mut [u8]) -> bool {
        wrapped_copy(&self.map, self.data_offset, self.data_size, pos, out)
    }

    /// How many of the `len` bytes from ring position `pos` lie before the end of the data
    /// area (the rest wraps around to its start).
    #[inline]
    pub fn contiguous(&self, pos: u64, len: u64) -> usize {
        let start = (pos & (self.data_size as u64).wrapping_sub(1)) as usize;
        let to_end = self.data_size.saturating_sub(start);
        usize::try_from(len).map_or(to_end, |l| l.min(to_end))
    }

    /// Call `f` with the `len` bytes at ring position `pos` (between `tail` and `head`, and
    /// the tail not yet moved past them), lent without a copy. None when they wrap around
    /// the end of the data area (copy them with [`MmapRing::copy_from`] instead).
    #[inline]
    pub fn with_data<R>(&self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let start = (pos & (self.data_size as u64).wrapping_sub(1)) as usize;
        if self.data_size == 0 || start + len > self.data_size {
            return None;
        }
        self.map.slice(self.data_offset + start, len).map(f)
    }
}

#[inline]
fn wrapped_copy(map: &Mapping, base: usize, size: usize, pos: u64, out: &mut [u8]) -> bool {
    if out.len() > size || size == 0 {
        return false;
    }
    // `size` is a power of two (checked when the ring was mapped): a mask, not a division.
    let start = (pos & (size as u64 - 1)) as usize;
    let first = out.len().min(size - start);
    let (a, b) = out.split_at_mut(first);
    map.copy(base + start, a) && map.copy(base, b)
}

/// The two mappings of a BPF_MAP_TYPE_RINGBUF map: the consumer page (read-write, holds
/// `consumer_pos`) and, from the next page on, the producer page (`producer_pos`) followed
/// by the data area, which the kernel maps twice in a row.
#[derive(Debug)]
pub struct RingbufMmap {
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    data_size: usize,
}

impl RingbufMmap {
    /// Map ring buffer map `fd` whose data area is `data_size` bytes (its max_entries: a
    /// power-of-two multiple of the page size).
    pub fn new(fd: BorrowedFd, data_size: usize) -> Result<Self> {
        let what = format!("ring buffer map fd {} ({data_size} bytes)", fd.as_raw_fd());
        let page = page_size();
        if !data_size.is_power_of_two() || data_size < page {
            return Err(SysError::new(
                "mmap",
                what,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "size is not a power-of-two number of pages",
                ),
            ));
        }
        let prod_len = data_size
            .checked_mul(2)
            .and_then(|n| n.checked_add(page))
            .ok_or_else(|| {
                SysError::new(
                    "mmap",
                    what.clone(),
                    io::Error::from_raw_os_error(libc::EINVAL),
                )
            })?;
        let consumer = Mapping::new(fd, page, 0, true, &format!("{what}, consumer page"))?;
        let producer = Mapping::new(
            fd,
            prod_len,
            page,
            false,
            &format!("{what}, producer pages"),
        )?;
        Ok(RingbufMmap {
            consumer,
            producer,
            page,
            data_size,
        })
    }

    /// Bytes in the data area.
    #[inline]
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// `consumer_pos`: how far we have consumed.
    #[inline]
    pub fn consumer_pos(&self) -> u64 {
        self.consumer.load_u64(0)
    }

    /// Publish `consumer_pos` with release ordering, freeing the space before it.
    #[inline]
    pub fn set_consumer_pos(&self, pos: u64) {
        self.consumer.store_u64(0, pos);
    }

    /// `producer_pos`, read with acquire ordering.
    #[inline]
    pub fn producer_pos(&self) -> u64 {
        self.producer.load_u64(0)
    }

    /// Copy `out.len()` bytes of the data area from ring position `pos`, wrapping at the end.
    #[inline]
    pub fn copy_from(&self, pos: u64, out: &mut [u8]) -> bool {
        wrapped_copy(&self.producer, self.page, self.data_size, pos, out)
    }

    /// The data area as a small copyable view for a reader's record loop: the bounds that
    /// every access needs were proven once, here, so the loop does no per-access checks.
    #[inline]
    pub fn data(&self) -> RingbufData<'_> {
        RingbufData {
            // `new` mapped `page + 2 * data_size` bytes, so the data area starts inside.
            base: self.producer.ptr.wrapping_add(self.page),
            size: self.data_size,
            _ring: std::marker::PhantomData,
        }
    }
}

/// The data area of a mapped ring buffer, borrowed from its [`RingbufMmap`]: `2 * size`
/// bytes (the area twice in a row) from `base`, `size` a power of two of at least a page.
#[derive(Clone, Copy)]
pub struct RingbufData<'a> {
    base: *const u8,
    size: usize,
    _ring: std::marker::PhantomData<&'a RingbufMmap>,
}

impl RingbufData<'_> {
    /// The 32-bit length word of the record header at ring position `pos` (rounded down to
    /// 8 bytes, as every header is), read with acquire ordering so that a committed
    /// record's data is visible.
    #[inline(always)]
    pub fn header_len(self, pos: u64) -> u32 {
        let off = (pos as usize) & (self.size - 1) & !7;
        // SAFETY: off + 8 <= size, inside the data area's first copy; base is page-aligned
        // and off 8-aligned, so the word is aligned. The kernel writes it concurrently,
        // which is what the atomic load is for.
        unsafe { AtomicU32::from_ptr(self.base.add(off) as *mut u32) }.load(Ordering::Acquire)
    }

    /// Call `f` with the `len` bytes at ring position `pos` of a committed record that the
    /// consumer position has not yet passed, lent without a copy: the kernel maps the data
    /// area twice in a row, so a record up to the area's size never wraps. None when `len`
    /// is larger than the area.
    #[inline(always)]
    pub fn with_record<R>(self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if len > self.size {
            return None;
        }
        let off = (pos as usize) & (self.size - 1);
        // SAFETY: off < size and len <= size, so [off, off + len) lies inside the two
        // copies of the data area (2 * size bytes from base), mapped while the borrowed
        // RingbufMmap lives. The kernel leaves a committed record alone until the consumer
        // position moves past it, which the callers publish only after `f` returns.
        Some(f(unsafe {
            std::slice::from_raw_parts(self.base.add(off), len)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_is_ver8_sized() {
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), 136);
        assert_eq!(PerfEventAttr::new(1, 2).size, 136);
    }
}
