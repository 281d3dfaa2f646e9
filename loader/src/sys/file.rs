//! Files in one go, without copying what is never looked at. The kernel's BTF files
//! (`/sys/kernel/btf/*`): sysfs hands them out 4 KiB per read(2) (1,300+ calls for
//! vmlinux), but since Linux 6.16 vmlinux can be mapped read-only (`MAP_PRIVATE`,
//! `PROT_READ`) in one call; where mapping is refused (older kernels) the file is read.
//! Object files of 64 KiB and more are mapped too ([`read_file`]). Also the one large
//! index a load builds ([`Words`]).

use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Where sysfs keeps BTF: files there never change while they exist.
const SYSFS_BTF: &str = "/sys/kernel/btf/";

/// A file's bytes, mapped or read.
#[derive(Debug)]
pub enum FileBytes {
    Mapped(ReadOnlyMap),
    Read(Vec<u8>),
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m.bytes(),
            FileBytes::Read(v) => v,
        }
    }
}

/// A private read-only mapping of a whole file, unmapped on drop.
#[derive(Debug)]
pub struct ReadOnlyMap {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and private: no one writes to it, so sharing `&[u8]`
// views of it between threads is as safe as sharing a `Vec<u8>`.
unsafe impl Send for ReadOnlyMap {}
// SAFETY: as above: immutable memory.
unsafe impl Sync for ReadOnlyMap {}

impl ReadOnlyMap {
    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len describe a live PROT_READ mapping owned by self (unmapped only in
        // Drop), of a sysfs BTF file whose contents never change, so the bytes stay valid
        // and unchanged for as long as the borrow of self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ReadOnlyMap {
    fn drop(&mut self) {
        // SAFETY: exactly the pointer and length mmap returned; no borrow of the bytes can
        // outlive self.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// Read a BTF file from `/sys/kernel/btf/` with one mmap when the kernel allows it, else
/// with read(2). Any other path is simply read.
pub fn read_btf_file(path: &Path) -> io::Result<FileBytes> {
    if !path.starts_with(SYSFS_BTF) {
        return std::fs::read(path).map(FileBytes::Read);
    }
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    if len == 0 {
        return std::fs::read(path).map(FileBytes::Read);
    }
    match map_fd(&f, len) {
        Some(m) => Ok(FileBytes::Mapped(m)),
        // Kernels before 6.16 do not map BTF: read it.
        None => std::fs::read(path).map(FileBytes::Read),
    }
}

/// Files at least this large are mapped rather than read: an object built with `-g` carries
/// hundreds of KiB of DWARF (640 KiB for core_task.bpf.o) that loading never looks at, and
/// reading would copy all of it into fresh heap pages. Mapped, only the pages parsing
/// touches are faulted in, straight from the page cache.
const MAP_AT_LEAST: u64 = 64 * 1024;

/// A file's bytes: mapped (private, read-only) when it is a regular file of at least 64 KiB,
/// else read. Like libbpf, which maps object files too, this assumes nobody truncates the
/// file while it is being parsed (compilers write a new file and rename it over the old).
pub fn read_file(path: &Path) -> io::Result<FileBytes> {
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() < MAP_AT_LEAST {
        return read_open(&f, meta.len());
    }
    let len = usize::try_from(meta.len()).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    match map_fd(&f, len) {
        Some(m) => Ok(FileBytes::Mapped(m)),
        None => read_open(&f, 0),
    }
}

/// Read the rest of a file already open (std::fs::read would open it again), with room for
/// `size` bytes (its size, when small) from the start.
fn read_open(mut f: &std::fs::File, size: u64) -> io::Result<FileBytes> {
    use std::io::Read;
    let room = if size < MAP_AT_LEAST {
        size as usize + 1
    } else {
        0
    };
    let mut v = Vec::with_capacity(room);
    f.read_to_end(&mut v)?;
    Ok(FileBytes::Read(v))
}

/// A private read-only mapping of the first `len` bytes of `f`, or None if refused.
fn map_fd(f: &std::fs::File, len: usize) -> Option<ReadOnlyMap> {
    // SAFETY: a fresh private read-only mapping chosen by the kernel (addr NULL); the result
    // is checked against MAP_FAILED and owned by the ReadOnlyMap until munmap in its Drop.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    (ptr != libc::MAP_FAILED).then_some(ReadOnlyMap {
        ptr: ptr as *const u8,
        len,
    })
}

/// A growable array of `u32` in its own anonymous mapping, for the one large index a load
/// builds (two words per kernel BTF type: ~1 MB for vmlinux). From the heap, each of its
/// ~250 fresh pages would cost a page fault as the walk first writes to it; here they are
/// made present ahead of the writes, 256 KiB per `madvise(MADV_POPULATE_WRITE)` call (Linux
/// 5.14+; on older kernels the call fails and the pages simply fault in as usual).
#[derive(Debug)]
pub struct Words {
    ptr: *mut u32,
    cap: usize,
    len: usize,
    populated: usize,
}

// SAFETY: Words owns its mapping exclusively (like a Vec<u32>); &Words gives only shared
// reads, &mut Words the only writes.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

const POPULATE_STEP: usize = 256 * 1024;

impl Words {
    /// Room for `cap` words (at least one), none of it touched yet.
    pub fn with_capacity(cap: usize) -> io::Result<Words> {
        let cap = cap.max(1);
        let bytes = cap
            .checked_mul(4)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: a fresh private anonymous mapping chosen by the kernel (addr NULL, no fd);
        // the result is checked against MAP_FAILED and owned by Words until munmap in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Words {
            ptr: ptr as *mut u32,
            cap,
            len: 0,
            populated: 0,
        })
    }

    /// Append `v`; false (and nothing written) when the capacity is reached.
    #[inline]
    pub fn push(&mut self, v: u32) -> bool {
        if self.len == self.cap {
            return false;
        }
        if self.len * 4 >= self.populated {
            self.populate_more();
        }
        // SAFETY: len < cap, so the word is inside the mapping this Words owns; nothing else
        // can hold a reference to it (push takes &mut self).
        unsafe { self.ptr.add(self.len).write(v) };
        self.len += 1;
        true
    }

    #[cold]
    fn populate_more(&mut self) {
        let total = self.cap * 4;
        let n = POPULATE_STEP.min(total - self.populated);
        // SAFETY: the range is inside the mapping (populated + n <= cap * 4) and page
        // aligned at its start (POPULATE_STEP is a multiple of the page size); the call
        // only makes the pages present, and a failure (older kernels) changes nothing.
        unsafe {
            libc::madvise(
                (self.ptr as *mut u8).add(self.populated) as *mut libc::c_void,
                n,
                libc::MADV_POPULATE_WRITE,
            )
        };
        self.populated += n;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u32] {
        // SAFETY: the first len words of the mapping were written by push and stay valid
        // until Drop; the borrow of self keeps it alive and unchanged.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        // SAFETY: exactly the pointer and length mmap returned; no borrow outlives self.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.cap * 4) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_or_read_bytes_are_the_file() {
        let p = Path::new("/sys/kernel/btf/vmlinux");
        if !crate::test_env::have("mapped_or_read_bytes_are_the_file", p, "the kernel's BTF") {
            return;
        }
        let a = read_btf_file(p).unwrap();
        let b = std::fs::read(p).unwrap();
        assert_eq!(&a[..], &b[..]);
    }

    #[test]
    fn other_paths_are_read() {
        let p = std::env::temp_dir().join(format!("rbpf-file-{}", std::process::id()));
        std::fs::write(&p, b"abc").unwrap();
        let a = read_btf_file(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(a, FileBytes::Read(_)));
        assert_eq!(&a[..], b"abc");
    }

    #[test]
    fn large_files_are_mapped_small_ones_read_both_whole() {
        let dir = std::env::temp_dir();
        let big = dir.join(format!("rbpf-map-{}", std::process::id()));
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&big, &bytes).unwrap();
        let m = read_file(&big).unwrap();
        std::fs::remove_file(&big).unwrap();
        assert!(matches!(m, FileBytes::Mapped(_)));
        assert_eq!(&m[..], &bytes[..]);
        let small = dir.join(format!("rbpf-small-{}", std::process::id()));
        std::fs::write(&small, b"xyz").unwrap();
        let r = read_file(&small).unwrap();
        std::fs::remove_file(&small).unwrap();
        assert!(matches!(r, FileBytes::Read(_)));
        assert_eq!(&r[..], b"xyz");
        assert!(read_file(&dir.join("rbpf-no-such-file")).is_err());
    }

    #[test]
    fn words_grow_to_capacity_and_keep_every_value() {
        let mut w = Words::with_capacity(300_000).unwrap();
        for i in 0..300_000u32 {
            assert!(w.push(i.wrapping_mul(2_654_435_761)));
        }
        assert!(!w.push(1), "a full Words refuses more");
        assert_eq!(w.len(), 300_000);
        assert!(w
            .as_slice()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == (i as u32).wrapping_mul(2_654_435_761)));
    }
}
