//! Reading what BPF programs send to user space: the per-CPU perf buffers behind a
//! BPF_MAP_TYPE_PERF_EVENT_ARRAY ([`PerfEventArray`]), a BPF_MAP_TYPE_RINGBUF
//! ([`RingBuf`]), and formatting one record through its BTF type ([`format`]).

pub mod format;
pub mod perf;
pub mod ringbuf;

pub use perf::{PerfEventArray, Stats};
pub use ringbuf::RingBuf;

use crate::sys::SysError;

/// What went wrong while reading events; each variant names the map or ring at fault.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("map '{map}' is a {found} map, not a {expected}")]
    WrongMapType {
        map: String,
        found: u32,
        expected: &'static str,
    },
    #[error("map '{map}': {source}")]
    Sys {
        map: String,
        #[source]
        source: SysError,
    },
    #[error("map '{map}': no CPU could be opened for its perf buffers (cpus {cpus:?})")]
    NoCpus { map: String, cpus: Vec<u32> },
    #[error("reading the possible CPUs: {0}")]
    Cpus(#[source] std::io::Error),
    #[error("map '{map}': epoll: {source}")]
    Epoll {
        map: String,
        #[source]
        source: nix::Error,
    },
    #[error("map '{map}': {detail}")]
    BadArgument { map: String, detail: String },
    #[error("map '{map}', {ring}: corrupt record at position {pos}: {detail}")]
    Corrupt {
        map: String,
        ring: String,
        pos: u64,
        detail: String,
    },
}

pub type Result<T> = std::result::Result<T, EventsError>;

/// How a map is named in messages: `name` (id N).
fn map_label(info: &crate::sys::MapInfo) -> String {
    if info.name.is_empty() {
        format!("id {}", info.id)
    } else {
        format!("{} (id {})", info.name, info.id)
    }
}

/// epoll_wait with an optional timeout (None = wait for ever). EINTR counts as "nothing
/// happened", so a caller polling in a loop can look at its signal flags.
fn wait(
    epoll: &nix::sys::epoll::Epoll,
    timeout: Option<std::time::Duration>,
    map: &str,
) -> Result<usize> {
    use nix::sys::epoll::{EpollEvent, EpollTimeout};
    let timeout = match timeout {
        None => EpollTimeout::NONE,
        Some(d) => EpollTimeout::try_from(d).unwrap_or(EpollTimeout::MAX),
    };
    let mut evs = [EpollEvent::empty(); 16];
    match epoll.wait(&mut evs, timeout) {
        Ok(n) => Ok(n),
        Err(nix::Error::EINTR) => Ok(0),
        Err(source) => Err(EventsError::Epoll {
            map: map.into(),
            source,
        }),
    }
}
