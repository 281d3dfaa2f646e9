//! The reader of a BPF_MAP_TYPE_RINGBUF: one ring shared by all CPUs. Each record starts
//! with an 8-byte header (u32 length with BPF_RINGBUF_BUSY_BIT / BPF_RINGBUF_DISCARD_BIT,
//! u32 page offset) and occupies a multiple of 8 bytes.

use super::{map_label, wait, EventsError, Result};
use crate::sys::perf::RingbufMmap;
use crate::sys::{self};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// `BPF_MAP_TYPE_RINGBUF`.
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_RINGBUF_BUSY_BIT`: the producer has reserved but not yet committed the record.
const BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: committed as discarded; skip it.
const DISCARD_BIT: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
const HDR: u64 = 8;

/// A ring buffer map, mapped for reading. Dropping it unmaps the ring.
pub struct RingBuf {
    // Field order matters: unmap before closing the map fd.
    ring: RingbufMmap,
    map: OwnedFd,
    label: String,
    epoll: Epoll,
    record: Vec<u8>,
}

impl std::fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuf")
            .field("map", &self.label)
            .field("size", &self.ring.data_size())
            .finish()
    }
}

impl RingBuf {
    /// Map ring buffer `map` and watch it with epoll.
    pub fn open(map: BorrowedFd) -> Result<Self> {
        let info = sys::map_info(map).map_err(|source| EventsError::Sys {
            map: format!("fd {}", map.as_raw_fd()),
            source,
        })?;
        let label = map_label(&info);
        if info.map_type != BPF_MAP_TYPE_RINGBUF {
            return Err(EventsError::WrongMapType {
                map: label,
                found: info.map_type,
                expected: "BPF_MAP_TYPE_RINGBUF",
            });
        }
        let sys_err = |source| EventsError::Sys {
            map: label.clone(),
            source,
        };
        let map = map
            .try_clone_to_owned()
            .map_err(|e| sys_err(sys::SysError::new("dup", "map fd", e)))?;
        let ring = RingbufMmap::new(map.as_fd(), info.max_entries as usize).map_err(sys_err)?;
        let epoll_err = |source| EventsError::Epoll {
            map: label.clone(),
            source,
        };
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(epoll_err)?;
        epoll
            .add(map.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))
            .map_err(epoll_err)?;
        Ok(RingBuf {
            ring,
            map,
            label,
            epoll,
            record: Vec::new(),
        })
    }

    /// The ring's data size in bytes.
    pub fn size(&self) -> usize {
        self.ring.data_size()
    }

    /// The map fd this reader holds.
    pub fn map_fd(&self) -> BorrowedFd<'_> {
        self.map.as_fd()
    }

    /// Wait up to `timeout` (None: for ever) for records, then consume every committed one,
    /// calling `f(data)` for each that was not discarded. Returns how many were handed over.
    pub fn poll(&mut self, timeout: Option<Duration>, f: impl FnMut(&[u8])) -> Result<usize> {
        wait(&self.epoll, timeout, &self.label)?;
        self.read(f)
    }

    /// Consume the records committed when the call starts, without waiting. Stops at the
    /// first record still being written (busy); the next call continues there. Bounded, so
    /// a callback whose own actions produce records cannot keep it going for ever.
    pub fn read(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let quarter = self.ring.data_size() as u64 / 4;
        let mut cons = self.ring.consumer_pos();
        // Only what was there when this read began: a callback that makes the program
        // produce more must not keep us here for ever.
        let prod = self.ring.producer_pos();
        let mut n = 0;
        while cons < prod {
            // The space is freed a quarter of the ring at a time, not record by record:
            // producers do not wait for it (a full ring makes them drop the record), and a
            // release store in the record loop costs ~8% of the drain rate.
            let (end, k, busy) = self.consume(cons, prod.min(cons + quarter), prod, &mut f)?;
            n += k;
            if end != cons {
                self.ring.set_consumer_pos(end);
            }
            cons = end;
            if busy {
                break;
            }
        }
        Ok(n)
    }

    /// Hand over the records from `cons` until `stop` (the last one may end past it, not
    /// past `prod`). Returns where it stopped, how many records were handed over, and
    /// whether it met a record still being written.
    #[inline(always)]
    fn consume(
        &mut self,
        mut cons: u64,
        stop: u64,
        prod: u64,
        f: &mut impl FnMut(&[u8]),
    ) -> Result<(u64, usize, bool)> {
        let size = self.ring.data_size() as u64;
        let data = self.ring.data();
        let mut n = 0;
        while cons < stop {
            let word = data.header_len(cons);
            if word & BUSY_BIT != 0 {
                return Ok((cons, n, true));
            }
            let len = u64::from(word & !(BUSY_BIT | DISCARD_BIT));
            // The header and the data, rounded up to 8 bytes.
            let total = (len + HDR + 7) & !7;
            if total > size || total > prod - cons {
                // Nothing sane to resume from: skip to the producer and say so.
                self.ring.set_consumer_pos(prod);
                return Err(EventsError::Corrupt {
                    map: self.label.clone(),
                    ring: "ring buffer".into(),
                    pos: cons,
                    detail: format!(
                        "record length {len} with {} bytes produced in a {size}-byte ring",
                        prod - cons
                    ),
                });
            }
            if word & DISCARD_BIT == 0 {
                // Lent straight from the ring: the kernel leaves it alone until the
                // consumer position moves past it (in `read`, after this returns).
                let lent = data.with_record(cons + HDR, len as usize, &mut *f);
                if lent.is_none() {
                    self.record.resize(len as usize, 0);
                    self.ring.copy_from(cons + HDR, &mut self.record);
                    f(&self.record);
                }
                n += 1;
            }
            cons += total;
        }
        Ok((cons, n, false))
    }
}
