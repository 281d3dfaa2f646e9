//! Where rbpf-load pins what must outlive it, and finding those pins again.
//!
//! Layout: `/sys/fs/bpf/rbpf/OBJECT/ATTACHMENT/` holds the programs (by name) and `maps/`;
//! ATTACHMENT is `[NETNS@]DEV-xdp` or `[NETNS@]DEV-ingress-PRIO-HANDLE` (bpffs refuses dots
//! in names, so they become `_`). Which attachment a pin belongs to is decided by program
//! id, not by name: a pin directory goes away when its program is detached.
//! `/sys/fs/bpf/rbpf/_clsact/[NETNS@]DEV` (an empty directory) records that we created that
//! device's clsact qdisc, so that we delete it when the last filter goes, and never one we
//! found there.

use crate::sys;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/bpf/rbpf";

pub fn clean(s: &str) -> String {
    s.replace(['.', '/'], "_")
}

/// The device as named in pin paths: `NETNS@DEV` inside a named namespace.
pub fn dev_key(netns: Option<&str>, dev: &str) -> String {
    match netns {
        Some(ns) => format!("{}@{}", clean(ns), clean(dev)),
        None => clean(dev),
    }
}

pub fn default_dir(object: &str, attachment: &str) -> PathBuf {
    Path::new(ROOT).join(clean(object)).join(attachment)
}

pub fn clsact_marker(netns: Option<&str>, dev: &str) -> PathBuf {
    Path::new(ROOT).join("_clsact").join(dev_key(netns, dev))
}

/// One attachment directory and the ids of the programs pinned in it.
#[derive(Debug, Clone)]
pub struct PinDir {
    pub dir: PathBuf,
    pub prog_ids: Vec<u32>,
}

/// Every attachment directory under the pin root.
pub fn scan() -> Vec<PinDir> {
    let mut out = Vec::new();
    let Ok(objs) = std::fs::read_dir(ROOT) else {
        return out;
    };
    for o in objs.flatten() {
        if o.file_name() == "_clsact" {
            continue;
        }
        let Ok(atts) = std::fs::read_dir(o.path()) else {
            continue;
        };
        for a in atts.flatten() {
            if a.path().is_dir() {
                let ids = prog_ids_in(&a.path());
                out.push(PinDir {
                    dir: a.path(),
                    prog_ids: ids,
                });
            }
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

/// Ids of the programs pinned directly in `dir`.
pub fn prog_ids_in(dir: &Path) -> Vec<u32> {
    let mut ids = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return ids;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            continue;
        }
        if let Ok(fd) = sys::obj_get(&e.path()) {
            if let Ok(info) = sys::prog_info(fd.as_fd()) {
                if info.id != 0 && info.name.len() <= 16 {
                    ids.push(info.id);
                }
            }
        }
    }
    ids
}

/// Remove a pin directory and everything in it (programs, maps, links), and the object
/// directory above it when that is now empty.
pub fn remove(dir: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(dir)?;
    if let Some(parent) = dir.parent() {
        if parent.starts_with(ROOT) && parent != Path::new(ROOT) {
            let _ = std::fs::remove_dir(parent);
        }
    }
    tidy();
    Ok(())
}

/// Remove our directories once they are empty, so nothing of ours stays in bpffs.
pub fn tidy() {
    let _ = std::fs::remove_dir(Path::new(ROOT).join("_clsact"));
    let _ = std::fs::remove_dir(ROOT);
}

/// Remove every attachment directory whose pinned programs include one of `ids`.
pub fn remove_for_progs(ids: &[u32]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for p in scan() {
        if p.prog_ids.iter().any(|id| ids.contains(id)) && remove(&p.dir).is_ok() {
            removed.push(p.dir);
        }
    }
    removed
}

/// Create a directory (and its parents) readable by the owner only.
pub fn make_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
