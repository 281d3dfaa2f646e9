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

use super::{CliError, CliResult};
use crate::load::Loaded;
use crate::sys::{self, lock::Lock};
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

/// Ids of the programs pinned directly in `dir`.
pub fn prog_ids_in(dir: &Path) -> Vec<u32> {
    let mut ids = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return ids;
    };
    for e in rd.flatten() {
        // The entry's type from the directory listing (bpffs fills it in): no stat per pin.
        if e.file_type().map(|t| t.is_dir()).unwrap_or(true) {
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

/// The name of a tcx attachment's directory: one per program name on a hook, since a tcx
/// chain holds many programs.
pub fn tcx_name(netns: Option<&str>, dev: &str, dir: &str, prog: &str) -> String {
    format!("{}-tcx-{dir}-{}", dev_key(netns, dev), clean(prog))
}

/// The hook an attachment's name ([`xdp_name`], [`tc_name`]) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedHook {
    Xdp,
    Tc {
        egress: bool,
        priority: u16,
        handle: u32,
    },
}

/// Read an attachment's name back: (network namespace, device, hook), as
/// [`xdp_name`]/[`tc_name`] wrote them (names with dots come back with `_`).
pub fn parse_attachment_name(name: &str) -> Option<(Option<String>, String, NamedHook)> {
    let (ns, rest) = match name.split_once('@') {
        Some((n, r)) => (Some(n.to_string()), r),
        None => (None, name),
    };
    if let Some(dev) = rest.strip_suffix("-xdp") {
        return (!dev.is_empty()).then(|| (ns, dev.to_string(), NamedHook::Xdp));
    }
    let mut parts = rest.rsplitn(4, '-');
    let (handle, prio, dir, dev) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let egress = match dir {
        "ingress" => false,
        "egress" => true,
        _ => return None,
    };
    let hook = NamedHook::Tc {
        egress,
        priority: prio.parse().ok()?,
        handle: handle.parse().ok()?,
    };
    Some((ns, dev.to_string(), hook))
}

/// Whether `name` is one `xdp_name` or `tc_name` makes (the directory of a known
/// attachment), not one chosen with `--pin`.
fn is_attachment_name(name: &str) -> bool {
    parse_attachment_name(name).is_some()
}

/// The directories of attachment `name` that hold program `id`. One program loaded once
/// can be attached to several devices (`--dev A --dev B`), each attachment with a directory
/// of its own: the one named for this attachment is it. When none is, a directory chosen
/// with `--pin` (under the root) that holds the program is taken; one named for another
/// attachment never is. Only those directories' pins are opened, not every one of ours.
pub fn dirs_for(id: u32, name: &str) -> Vec<PathBuf> {
    let objects: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|o| o.file_name() != "_clsact")
        .map(|o| o.path())
        .collect();
    let holds = |d: &Path| d.is_dir() && prog_ids_in(d).contains(&id);
    let mut dirs: Vec<PathBuf> = objects
        .iter()
        .map(|o| o.join(name))
        .filter(|d| holds(d))
        .collect();
    if dirs.is_empty() {
        dirs = objects
            .iter()
            .flat_map(|o| std::fs::read_dir(o).into_iter().flatten().flatten())
            .filter(|a| !is_attachment_name(&a.file_name().to_string_lossy()))
            .map(|a| a.path())
            .filter(|d| holds(d))
            .collect();
    }
    dirs.sort();
    dirs
}

/// Remove the pin directories of the attachments `(program id, attachment name)` (see
/// [`dirs_for`]).
pub fn remove_for(attachments: &[(u32, String)]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for (id, name) in attachments {
        for d in dirs_for(*id, name) {
            if !removed.contains(&d) && remove(&d).is_ok() {
                removed.push(d);
            }
        }
    }
    removed
}

/// The device's lock (`sys::lock::device`): held while its hooks change.
pub fn lock_device(ifindex: u32, dev: &str) -> CliResult<Lock> {
    sys::lock::device(ifindex, dev).map_err(|e| {
        CliError::new(e.to_string()).hint(
            "another rbpf-load is attaching or detaching there; \
             RBPF_LOCK_TIMEOUT=SECONDS waits longer",
        )
    })
}

/// Run `f` holding the pin tree's lock: creating, filling and removing directories under
/// the root (and `--pin` ones) never interleaves with another rbpf-load doing the same, so
/// one process never removes a directory another has just made.
pub fn with_tree<T>(f: impl FnOnce() -> CliResult<T>) -> CliResult<T> {
    let _lock = sys::lock::pin_tree().map_err(|e| CliError::new(e.to_string()))?;
    f()
}

/// Pins made before the attach, at `at`: the attachment's directory, or a sibling of it
/// (`NAME_new`) when that directory exists already (what a `--replace` replaces keeps its
/// pins until the new program is attached).
pub struct Staged {
    at: PathBuf,
    pinned: Vec<PathBuf>,
}

impl Staged {
    /// Where the pins are now.
    pub fn path(&self) -> &Path {
        &self.at
    }
}

/// Pin every program and map of `loaded` for an attachment whose directory is `dir`.
pub fn stage(loaded: &Loaded, dir: &Path) -> CliResult<Staged> {
    let at = if dir.exists() {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push("_new");
        let at = dir.with_file_name(name);
        // Left by a process killed before it settled; the device's lock is ours now.
        let _ = std::fs::remove_dir_all(&at);
        at
    } else {
        dir.to_path_buf()
    };
    let pinned = loaded
        .pin_all(&at)
        .map_err(|e| CliError::new(e.to_string()))?;
    Ok(Staged { at, pinned })
}

/// Remove staged pins again (the attach failed).
pub fn unstage(s: &Staged) {
    let _ = remove(&s.at);
}

/// Move staged pins to `dir` (replacing what was there); returns the pins' paths.
pub fn settle(s: &Staged, dir: &Path) -> CliResult<Vec<PathBuf>> {
    if s.at == dir {
        return Ok(s.pinned.clone());
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::new(format!("{}: {e}", dir.display()))),
    }
    std::fs::rename(&s.at, dir).map_err(|e| {
        CliError::new(format!(
            "move pins {} to {}: {e}",
            s.at.display(),
            dir.display()
        ))
    })?;
    Ok(s.pinned
        .iter()
        .map(|p| dir.join(p.strip_prefix(&s.at).unwrap_or(p)))
        .collect())
}

/// Pin directories of attachments on hook `hook` (`xdp`, `ingress`, `egress`) of `dev` that
/// hold none of the programs `attached` there now: left by a process killed after it pinned
/// and before it attached (see [`stage`]). The caller holds the device's lock, so no attach
/// there is half done.
pub fn orphans(netns: Option<&str>, dev: &str, hook: &str, attached: &[u32]) -> Vec<PathBuf> {
    let prefix = format!("{}-{hook}", dev_key(netns, dev));
    let ours = |name: &str| {
        name.strip_prefix(&prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|o| o.file_name() != "_clsact")
        .flat_map(|o| std::fs::read_dir(o.path()).into_iter().flatten().flatten())
        .filter(|a| ours(&a.file_name().to_string_lossy()))
        .map(|a| a.path())
        .filter(|d| d.is_dir() && prog_ids_in(d).iter().all(|id| !attached.contains(id)))
        .collect();
    dirs.sort();
    dirs
}

/// Our attachment directories (ROOT/OBJECT/NAME) whose name passes `pick`.
pub fn named(pick: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|o| o.file_name() != "_clsact")
        .flat_map(|o| std::fs::read_dir(o.path()).into_iter().flatten().flatten())
        .filter(|a| pick(&a.file_name().to_string_lossy()))
        .map(|a| a.path())
        .collect();
    dirs.sort();
    dirs
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
}
