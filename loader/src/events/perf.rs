//! The reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY: one PERF_COUNT_SW_BPF_OUTPUT perf event
//! per CPU, each with its own mmap'd ring, stored in the map at the CPU's index so that
//! `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)` lands in it.

use super::{map_label, wait, EventsError, Result};
use crate::sys::perf::{
    perf_event_open, MmapRing, PerfEventAttr, PERF_COUNT_SW_BPF_OUTPUT, PERF_RECORD_LOST,
    PERF_RECORD_SAMPLE, PERF_SAMPLE_RAW, PERF_TYPE_SOFTWARE,
};
use crate::sys::{self, BPF_ANY};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
/// `struct perf_event_header`: u32 type, u16 misc, u16 size.
const HEADER: usize = 8;

/// What one [`PerfEventArray::poll`] (or [`PerfEventArray::read`]) saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// PERF_RECORD_SAMPLE records handed to the callback.
    pub events: u64,
    /// Samples the kernel dropped because a ring was full (from PERF_RECORD_LOST records).
    pub lost: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.events += o.events;
        self.lost += o.lost;
    }
}

struct CpuRing {
    cpu: u32,
    // Field order matters: unmap before closing the event.
    ring: MmapRing,
    event: OwnedFd,
}

/// The per-CPU perf buffers of one perf event array map, opened and installed in the map.
/// Dropping it removes its perf events from the map and closes them.
pub struct PerfEventArray {
    map: OwnedFd,
    label: String,
    rings: Vec<CpuRing>,
    epoll: Epoll,
    record: Vec<u8>,
}

impl std::fmt::Debug for PerfEventArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfEventArray")
            .field("map", &self.label)
            .field("cpus", &self.cpus())
            .finish()
    }
}

impl PerfEventArray {
    /// Open a perf buffer of `pages` data pages (a power of two) on every possible CPU that
    /// the map has a slot for, and store each in `map` at the CPU's index. Offline CPUs
    /// are skipped.
    pub fn open(map: BorrowedFd, pages: usize) -> Result<Self> {
        let info = sys::map_info(map).map_err(|source| EventsError::Sys {
            map: format!("fd {}", map.as_raw_fd()),
            source,
        })?;
        let label = map_label(&info);
        if info.map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY {
            return Err(EventsError::WrongMapType {
                map: label,
                found: info.map_type,
                expected: "BPF_MAP_TYPE_PERF_EVENT_ARRAY",
            });
        }
        if pages == 0 || !pages.is_power_of_two() {
            return Err(EventsError::BadArgument {
                map: label,
                detail: format!("{pages} perf buffer pages: must be a power of two"),
            });
        }
        let sys_err = |source| EventsError::Sys {
            map: label.clone(),
            source,
        };
        let map = map
            .try_clone_to_owned()
            .map_err(|e| sys_err(sys::SysError::new("dup", "map fd", e)))?;
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|source| EventsError::Epoll {
                map: label.clone(),
                source,
            })?;
        let cpus = sys::possible_cpus().map_err(EventsError::Cpus)?;
        let mut this = PerfEventArray {
            map,
            label: label.clone(),
            rings: Vec::new(),
            epoll,
            record: Vec::new(),
        };
        for &cpu in cpus.iter().filter(|&&c| c < info.max_entries) {
            let mut attr = PerfEventAttr::new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT);
            attr.sample_type = PERF_SAMPLE_RAW;
            attr.sample_period = 1;
            attr.wakeup_events = 1;
            let event = match perf_event_open(&attr, -1, cpu as i32, &|| {
                format!("bpf output perf event, cpu {cpu}")
            }) {
                Ok(fd) => fd,
                // An offline CPU has nothing to read.
                Err(e) if e.errno() == Some(libc::ENODEV) => continue,
                Err(e) => return Err(sys_err(e)),
            };
            let ring = MmapRing::new(event.as_fd(), pages).map_err(sys_err)?;
            let value = (event.as_raw_fd() as u32).to_ne_bytes();
            sys::map_update(this.map.as_fd(), &cpu.to_ne_bytes(), &value, BPF_ANY)
                .map_err(sys_err)?;
            let idx = this.rings.len() as u64;
            this.rings.push(CpuRing { cpu, ring, event });
            let ev = EpollEvent::new(EpollFlags::EPOLLIN, idx);
            if let Some(r) = this.rings.last() {
                this.epoll
                    .add(r.event.as_fd(), ev)
                    .map_err(|source| EventsError::Epoll {
                        map: label.clone(),
                        source,
                    })?;
            }
        }
        if this.rings.is_empty() {
            return Err(EventsError::NoCpus { map: label, cpus });
        }
        Ok(this)
    }

    /// The CPUs with a perf buffer.
    pub fn cpus(&self) -> Vec<u32> {
        self.rings.iter().map(|r| r.cpu).collect()
    }

    /// Wait up to `timeout` (None: for ever) for events, then read every ring, calling
    /// `f(cpu, data)` for each sample. `data` is the sample's raw bytes as the kernel stores
    /// them: what the program passed, plus up to 7 bytes of padding to 8-byte alignment.
    pub fn poll(&mut self, timeout: Option<Duration>, f: impl FnMut(u32, &[u8])) -> Result<Stats> {
        wait(&self.epoll, timeout, &self.label)?;
        self.read(f)
    }

    /// Read every ring without waiting.
    pub fn read(&mut self, mut f: impl FnMut(u32, &[u8])) -> Result<Stats> {
        let mut stats = Stats::default();
        for r in &self.rings {
            stats += read_ring(r, &mut self.record, &self.label, &mut f)?;
        }
        Ok(stats)
    }
}

/// One whole record (header included): hand a sample to `f`, count lost samples.
/// Err(reason) when the record is not what its header says.
#[inline]
fn handle(
    cpu: u32,
    rec: &[u8],
    f: &mut impl FnMut(u32, &[u8]),
    stats: &mut Stats,
) -> std::result::Result<(), &'static str> {
    let kind = rec
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match kind {
        Some(PERF_RECORD_SAMPLE) => {
            // PERF_SAMPLE_RAW: u32 size, then the bytes.
            let raw = rec
                .get(HEADER..HEADER + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .and_then(|n| rec.get(HEADER + 4..HEADER + 4 + n));
            let data = raw.ok_or("raw sample larger than its record")?;
            f(cpu, data);
            stats.events += 1;
        }
        Some(PERF_RECORD_LOST) => {
            // u64 id, u64 lost.
            if let Some(b) = rec.get(HEADER + 8..HEADER + 16) {
                stats.lost += u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The size in a record header (`struct perf_event_header`: u32 type, u16 misc, u16 size).
#[inline]
fn record_size(hdr: &[u8]) -> usize {
    match hdr.get(6..8) {
        Some(b) => u16::from_ne_bytes([b[0], b[1]]) as usize,
        None => 0,
    }
}

/// Consume one ring from data_tail up to data_head. The unread bytes up to the end of the
/// data area are lent in one piece and read in place (the tail moves past them only at the
/// end); a record that wraps around the end of the area is copied out.
fn read_ring(
    r: &CpuRing,
    record: &mut Vec<u8>,
    label: &str,
    f: &mut impl FnMut(u32, &[u8]),
) -> Result<Stats> {
    let mut stats = Stats::default();
    let head = r.ring.head();
    let mut tail = r.ring.tail();
    let corrupt = |pos: u64, detail: String| EventsError::Corrupt {
        map: label.into(),
        ring: format!("cpu {}", r.cpu),
        pos,
        detail,
    };
    let bad_size = |size: usize, left: u64| format!("record size {size} with {left} bytes written");
    while tail < head {
        // Whole records inside the contiguous span [tail, end of the area or head).
        let span = r.ring.contiguous(tail, head - tail);
        let res = r.ring.with_data(tail, span, |bytes| {
            let mut at = 0usize;
            while bytes.len() - at >= HEADER {
                let size = record_size(&bytes[at..]);
                let left = head - tail - at as u64;
                if size < HEADER || size as u64 > left {
                    return Err((at, bad_size(size, left)));
                }
                let Some(rec) = bytes.get(at..at + size) else {
                    break; // wraps: copied below
                };
                handle(r.cpu, rec, f, &mut stats).map_err(|e| (at, e.to_string()))?;
                at += size;
            }
            Ok(at)
        });
        let done = match res {
            Some(Ok(done)) => done,
            Some(Err((at, detail))) => {
                // Skip what is there so the next read starts clean, and say so.
                r.ring.set_tail(head);
                return Err(corrupt(tail + at as u64, detail));
            }
            None => 0,
        };
        tail += done as u64;
        if tail >= head || done == span && span > 0 {
            continue;
        }
        // A record that wraps around the end of the area (or a span too short to lend).
        let mut hdr = [0u8; HEADER];
        let size = if r.ring.copy_from(tail, &mut hdr) {
            record_size(&hdr)
        } else {
            0
        };
        if size < HEADER || size as u64 > head - tail {
            r.ring.set_tail(head);
            return Err(corrupt(tail, bad_size(size, head - tail)));
        }
        record.resize(size, 0);
        if !r.ring.copy_from(tail, record) {
            r.ring.set_tail(head);
            return Err(corrupt(
                tail,
                format!(
                    "record size {size} exceeds the {}-byte ring",
                    r.ring.data_size()
                ),
            ));
        }
        if let Err(e) = handle(r.cpu, record, f, &mut stats) {
            r.ring.set_tail(head);
            return Err(corrupt(tail, e.to_string()));
        }
        tail += size as u64;
    }
    r.ring.set_tail(tail);
    Ok(stats)
}

impl Drop for PerfEventArray {
    fn drop(&mut self) {
        // The map holds its own reference to each perf event: take them out so the
        // program stops writing into rings nobody reads.
        for r in &self.rings {
            let _ = sys::map_delete(self.map.as_fd(), &r.cpu.to_ne_bytes());
        }
    }
}
