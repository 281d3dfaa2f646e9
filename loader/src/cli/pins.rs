//! Where rbpf-load pins what must outlive it, and finding those pins again.
//!
//! Layout: `/sys/fs/bpf/rbpf/OBJECT/ATTACHMENT/` holds the programs (by name) and `maps/`;
//! ATTACHMENT is `[NETNS@]DEV-xdp` or `[NETNS@]DEV-ingress-PRIO-HANDLE` (bpffs refuses dots
//! in names, so they become `_`). Which attachment a pin belongs to is decided by program
//! id and that name: a pin directory goes away when its program is detached from that
//! device and hook (the same program may be attached, and pinned, on other devices too).
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

/// The name of an XDP attachment's directory.
pub fn xdp_name(netns: Option<&str>, dev: &str) -> String {
    format!("{}-xdp", dev_key(netns, dev))
}

/// The name of a tc attachment's directory.
pub fn tc_name(netns: Option<&str>, dev: &str, egress: bool, priority: u16, handle: u32) -> String {
    let d = if egress { "egress" } else { "ingress" };
    format!("{}-{d}-{priority}-{handle}", dev_key(netns, dev))
}

/// Whether `name` is one `xdp_name` or `tc_name` makes (the directory of a known
/// attachment), not one chosen with `--pin`.
fn is_attachment_name(name: &str) -> bool {
    if name.ends_with("-xdp") {
        return true;
    }
    let mut parts = name.rsplitn(4, '-');
    let (Some(handle), Some(prio), Some(dir)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    (dir == "ingress" || dir == "egress")
        && handle.parse::<u32>().is_ok()
        && prio.parse::<u16>().is_ok()
        && parts.next().is_some()
}

/// The directories of attachment `name` among those holding program `id`. One program
/// loaded once can be attached to several devices (`--dev A --dev B`), each attachment with
/// a directory of its own: the one named for this attachment is it. When none is, a
/// directory chosen with `--pin` (under the root) that holds the program is taken; one
/// named for another attachment never is.
pub fn dirs_of<'a>(pinned: &'a [PinDir], id: u32, name: &str) -> Vec<&'a PinDir> {
    let holding = || pinned.iter().filter(move |p| p.prog_ids.contains(&id));
    let file_name = |p: &PinDir| {
        p.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let exact: Vec<_> = holding().filter(|p| file_name(p) == name).collect();
    if !exact.is_empty() {
        return exact;
    }
    holding()
        .filter(|p| !is_attachment_name(&file_name(p)))
        .collect()
}

/// Remove the pin directories of the attachments `(program id, attachment name)` (see
/// [`dirs_of`]).
pub fn remove_for(attachments: &[(u32, String)]) -> Vec<PathBuf> {
    let pinned = scan();
    let mut removed = Vec::new();
    for (id, name) in attachments {
        for p in dirs_of(&pinned, *id, name) {
            if !removed.contains(&p.dir) && remove(&p.dir).is_ok() {
                removed.push(p.dir.clone());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str, ids: &[u32]) -> PinDir {
        PinDir {
            dir: Path::new(ROOT).join("obj").join(name),
            prog_ids: ids.to_vec(),
        }
    }

    #[test]
    fn attachment_names_are_told_from_chosen_ones() {
        assert!(is_attachment_name(&xdp_name(Some("lab-a"), "veth-a")));
        assert!(is_attachment_name(&tc_name(None, "eth0", true, 2, 7)));
        assert!(is_attachment_name("ns@a-b-ingress-1-1"));
        for name in [
            "mytrace",
            "ingress-1-1",
            "x-ingress-1-z",
            "x-sideways-1-1",
            "x-xdp2",
        ] {
            assert!(!is_attachment_name(name), "{name}");
        }
    }

    #[test]
    fn a_program_on_several_devices_has_one_directory_per_attachment() {
        let pinned = [
            dir("a-xdp", &[5]),
            dir("b-xdp", &[5]),
            dir("chosen", &[5, 6]),
            dir("c-xdp", &[6]),
        ];
        let names = |v: Vec<&PinDir>| -> Vec<String> {
            v.iter()
                .map(|p| {
                    p.dir
                        .display()
                        .to_string()
                        .replace("/sys/fs/bpf/rbpf/obj/", "")
                })
                .collect()
        };
        // This attachment's own directory, and no other device's.
        assert_eq!(names(dirs_of(&pinned, 5, "b-xdp")), ["b-xdp"]);
        // None named for it: a directory chosen with --pin, never another device's.
        assert_eq!(names(dirs_of(&pinned, 6, "d-xdp")), ["chosen"]);
        assert!(dirs_of(&pinned, 7, "a-xdp").is_empty());
    }
}
