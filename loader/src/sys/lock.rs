//! Locks between rbpf-load processes. What the kernel does for one request is atomic; what
//! rbpf-load does around it (a clsact qdisc it creates and later deletes, pin directories it
//! creates and removes) is several requests, and two processes interleaving them lose each
//! other's work. So a process changing a device's hooks holds that device's lock, and one
//! creating or removing pin directories holds the pin tree's lock.
//!
//! A lock is `flock(2)` on a file under [`lock_dir`] (`/run/rbpf-load`): the kernel drops it
//! when the process dies, also by SIGKILL. The holder writes its pid into the file, so a
//! process that waits too long can say who holds it. The file is removed by its holder when
//! it lets go; a process that locked a file in the moment it was being removed sees that the
//! path no longer names the file it holds, and starts again.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the lock files are: `$RBPF_LOCK_DIR`, else `/run/rbpf-load` (a tmpfs every process
/// of the machine sees, also inside `ip netns exec`).
pub fn lock_dir() -> PathBuf {
    std::env::var_os("RBPF_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/rbpf-load"))
}

/// How long [`Lock::acquire`] waits: `$RBPF_LOCK_TIMEOUT` seconds, else 10.
pub fn default_timeout() -> Duration {
    std::env::var("RBPF_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(10))
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process held it for longer than we were willing to wait.
    #[error("{what} is being changed by another rbpf-load ({holder}); waited {waited:?}")]
    Busy {
        /// What the lock guards (`device veth0 in network namespace net:[4026531840]`).
        what: String,
        /// The holder as far as we can tell: `pid N: COMMAND LINE`.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The lock file could not be made or locked.
    #[error("lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// A held lock; dropping it lets go (the file is removed, then closed).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    _file: Flock<File>,
}

impl Lock {
    /// Take the lock named `name` (a file name under [`lock_dir`]); `what` says what it
    /// guards, for the error when another process holds it for longer than `timeout`.
    pub fn acquire(name: &str, what: &str, timeout: Duration) -> Result<Lock, LockError> {
        Self::acquire_at(lock_dir().join(name), what, timeout)
    }

    /// [`Lock::acquire`] with the lock file's whole path.
    pub fn acquire_at(path: PathBuf, what: &str, timeout: Duration) -> Result<Lock, LockError> {
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let io_err = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err)?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(io_err)?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => {
                    if !still_named_by(&held, &path) {
                        continue; // its holder removed it as we locked it: a new one
                    }
                    write_holder(&held);
                    return Ok(Lock { path, _file: held });
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {}
                Err((_, e)) => return Err(io_err(io::Error::from(e))),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(LockError::Busy {
                    what: what.to_string(),
                    holder: holder(&path),
                    waited,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so a waiter that locks the old file sees it is gone.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Does `path` still name the file `f` (the same inode)?
fn still_named_by(f: &File, path: &Path) -> bool {
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The pid, right-aligned in a fixed width at offset 0: one `pwrite`, and no truncate. On
/// ext4 a file truncated to 0 and written is flushed to disk when closed (`auto_da_alloc`),
/// and removing it then discards the blocks: ~0.1 ms of I/O per lock where /run is ext4.
fn write_holder(f: &File) {
    use std::os::unix::fs::FileExt;
    let _ = f.write_all_at(format!("{:>10}\n", std::process::id()).as_bytes(), 0);
}

/// `pid N: COMMAND LINE` of the process whose pid is in the lock file, as far as known.
fn holder(path: &Path) -> String {
    let mut s = String::new();
    let read = File::open(path).and_then(|mut f| f.read_to_string(&mut s));
    let Some(pid) = read.ok().and_then(|_| s.trim().parse::<u32>().ok()) else {
        return "pid unknown".to_string();
    };
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if cmd.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid}: {cmd}")
    }
}

/// The identity of the calling thread's network namespace: `net:[INODE]` as
/// `/proc/thread-self/ns/net` names it, or None where /proc is missing.
pub fn netns_id() -> Option<u64> {
    std::fs::metadata("/proc/thread-self/ns/net")
        .ok()
        .map(|m| m.ino())
}

/// The lock of device `ifindex` in the calling thread's network namespace: held while
/// rbpf-load changes that device's XDP or tc hooks (and the clsact qdisc with them).
pub fn device(ifindex: u32, dev: &str) -> Result<Lock, LockError> {
    let ns = netns_id().unwrap_or(0);
    Lock::acquire(
        &format!("dev-{ns}-{ifindex}"),
        &format!("device {dev} (network namespace net:[{ns}])"),
        default_timeout(),
    )
}

/// The lock of rbpf-load's pin tree (`/sys/fs/bpf/rbpf` and `--pin` directories): held
/// while directories there are created, filled or removed.
pub fn pin_tree() -> Result<Lock, LockError> {
    Lock::acquire("pins", "the pin tree", default_timeout())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbpf-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    #[test]
    fn a_held_lock_makes_others_wait_then_names_its_holder() {
        let d = scratch("busy");
        let at = || d.join("x");
        let held = Lock::acquire_at(at(), "thing x", Duration::from_secs(1)).expect("first");
        // flock locks belong to the open file: a second open in this process conflicts too.
        let err = Lock::acquire_at(at(), "thing x", Duration::from_millis(30)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("thing x"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        assert!(!d.join("x").exists(), "the holder removes the file");
        let again = Lock::acquire_at(at(), "thing x", Duration::from_millis(30));
        assert!(again.is_ok(), "free once dropped");
        drop(again);
        let _ = std::fs::remove_dir_all(&d);
    }
}
