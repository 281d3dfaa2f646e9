//! Maps and programs named on the command line as bpftool names them: `ID` or `id:ID`, a
//! pinned path (`pinned:PATH` too), or `name:NAME` (the kernel's name, at most 15 bytes);
//! and `name:MAP@PROG`, the map MAP of a program (one whose pin is gone, say).

use super::{CliError, CliResult};
use crate::sys::{self, ObjKind};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// How a map or program was named.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjRef<'a> {
    Id(u32),
    Pin(&'a str),
    Name(&'a str),
}

/// `42`, `id:42`, `name:counts`, `pinned:/sys/fs/bpf/x`, `/sys/fs/bpf/x`.
pub fn parse(spec: &str) -> CliResult<ObjRef<'_>> {
    let bad_id = |s: &str| {
        CliError::new(format!("'{spec}': '{s}' is not an id"))
            .hint("name it as ID, id:ID, name:NAME or a pinned path (pinned:PATH)")
    };
    if let Some(id) = spec.strip_prefix("id:") {
        return id.trim().parse().map(ObjRef::Id).map_err(|_| bad_id(id));
    }
    if let Some(n) = spec.strip_prefix("name:") {
        return Ok(ObjRef::Name(n));
    }
    if let Some(p) = spec.strip_prefix("pinned:") {
        return Ok(ObjRef::Pin(p));
    }
    if let Ok(id) = spec.parse::<u32>() {
        return Ok(ObjRef::Id(id));
    }
    if spec.contains('/') {
        return Ok(ObjRef::Pin(spec));
    }
    Err(
        CliError::new(format!("'{spec}': neither an id nor a pinned path"))
            .hint("name it as ID, id:ID, name:NAME or a pinned path (pinned:PATH)"),
    )
}

/// "map" or "prog", for messages.
fn word(kind: ObjKind) -> &'static str {
    match kind {
        ObjKind::Map => "map",
        ObjKind::Prog => "prog",
        ObjKind::Link => "link",
        ObjKind::Btf => "btf",
    }
}

/// The kernel's name of an open map or program.
fn kernel_name(kind: ObjKind, fd: &OwnedFd) -> Option<String> {
    match kind {
        ObjKind::Map => sys::map_info(fd.as_fd()).ok().map(|i| i.name),
        ObjKind::Prog => sys::prog_info(fd.as_fd()).ok().map(|i| i.name),
        _ => None,
    }
}

/// `name:MAP@PROG`: the map named MAP that program PROG (id:N, a pin, name:NAME) uses.
fn map_of_prog(map: &str, prog: &str) -> CliResult<OwnedFd> {
    let p = open(ObjKind::Prog, prog)?;
    let info = sys::prog_info(p.as_fd())?;
    let short: String = map.chars().take(15).collect();
    let mut names = Vec::new();
    for id in &info.map_ids {
        let Ok(fd) = sys::fd_by_id(ObjKind::Map, *id) else {
            continue;
        };
        match kernel_name(ObjKind::Map, &fd) {
            Some(n) if n == short => return Ok(fd),
            Some(n) => names.push(n),
            None => {}
        }
    }
    Err(CliError::new(format!(
        "prog '{}' (id {}) uses no map named '{map}'",
        info.name, info.id
    ))
    .hint(format!("it uses: {}", names.join(", "))))
}

/// Open the one map or program named NAME (an error lists the ids when several have it).
fn by_name(kind: ObjKind, name: &str) -> CliResult<OwnedFd> {
    if let (ObjKind::Map, Some((map, prog))) = (kind, name.split_once('@')) {
        return map_of_prog(map, prog);
    }
    // The kernel keeps 15 bytes of a name.
    let short: String = name.chars().take(15).collect();
    let mut found = Vec::new();
    for id in sys::all_ids(kind)? {
        let Ok(fd) = sys::fd_by_id(kind, id) else {
            continue;
        };
        if kernel_name(kind, &fd).as_deref() == Some(short.as_str()) {
            found.push((id, fd));
        }
    }
    let w = word(kind);
    match found.len() {
        0 => Err(
            CliError::new(format!("no {w} named '{name}' in the kernel"))
                .hint(format!("`rbpf-load {w} show` lists them")),
        ),
        1 => Ok(found.remove(0).1),
        _ => Err(CliError::new(format!(
            "{} {w}s are named '{name}' (ids {}): name one as id:ID",
            found.len(),
            found
                .iter()
                .map(|(i, _)| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Open a map or program as the user named it.
pub fn open(kind: ObjKind, spec: &str) -> CliResult<OwnedFd> {
    let w = word(kind);
    match parse(spec)? {
        ObjRef::Id(id) => sys::fd_by_id(kind, id).map_err(|e| {
            CliError::new(format!("{w} id {id}: {e}")).hint(format!(
                "`rbpf-load map show` or `bpftool {w} show` list them"
            ))
        }),
        ObjRef::Pin(p) => {
            sys::obj_get(Path::new(p)).map_err(|e| CliError::new(format!("{w} {p}: {e}")))
        }
        ObjRef::Name(n) => by_name(kind, n),
    }
}

/// Open a map as the user named it.
pub fn open_map(spec: &str) -> CliResult<OwnedFd> {
    open(ObjKind::Map, spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_bpftool_names() {
        assert_eq!(parse("42").ok(), Some(ObjRef::Id(42)));
        assert_eq!(parse("id:42").ok(), Some(ObjRef::Id(42)));
        assert_eq!(parse("name:counts").ok(), Some(ObjRef::Name("counts")));
        assert_eq!(
            parse("pinned:/sys/fs/bpf/x").ok(),
            Some(ObjRef::Pin("/sys/fs/bpf/x"))
        );
        assert_eq!(
            parse("/sys/fs/bpf/x").ok(),
            Some(ObjRef::Pin("/sys/fs/bpf/x"))
        );
        assert!(parse("id:x").is_err());
        assert!(parse("counts").is_err());
    }
}
