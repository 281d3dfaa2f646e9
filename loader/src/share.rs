//! Maps shared through bpffs: "the mechanism for sharing maps between programs is
//! pinning". A map that the object declares shared (libbpf's `LIBBPF_PIN_BY_NAME`,
//! iproute2's `PIN_GLOBAL_NS`/`PIN_OBJECT_NS`), or that the user names (`--reuse-map`), is
//! taken from its pin when one is there, and pinned there once the load succeeds when not:
//! two loads of such an object, or two objects declaring the same map, use one kernel map.
//! A pinned map is used only when it matches what the object declares (type, key size,
//! value size, max_entries, flags), as libbpf checks; else the load fails before any program
//! is loaded and names the field.

use crate::obj::{map_type, MapDef, Pinning};
use crate::sys;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where maps pinned by name go unless told otherwise (libbpf's default `pin_root_path`).
pub const PIN_ROOT: &str = "/sys/fs/bpf";
/// Where iproute2 keeps its pinned maps (`globals/` and one directory per object).
pub const TC_ROOT: &str = "/sys/fs/bpf/tc";

/// Where a map is shared, and whether this load made it or found it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMap {
    /// The pin.
    pub path: PathBuf,
    /// True when the map was pinned there before this load and is used as it is.
    pub reused: bool,
}

/// A shared map that cannot be used: the map, the pin, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("map '{map}': pinned map {path}: {reason}")]
pub struct ShareError {
    pub map: String,
    pub path: String,
    pub reason: String,
}

type Result<T> = std::result::Result<T, ShareError>;

/// The file name a map is pinned under: bpffs refuses names with dots, so `.rodata.str1.1`
/// becomes `rodata_str1_1`.
pub fn pin_name(map: &str) -> String {
    map.trim_start_matches('.').replace('.', "_")
}

/// Where map `def` is shared, if anywhere: a `--reuse-map` path first (`reuse`, by map
/// name), else the object's own pinning under `pin_root` (default [`PIN_ROOT`]).
pub fn shared_path(
    def: &MapDef,
    reuse: &HashMap<String, PathBuf>,
    pin_root: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(p) = reuse.get(&def.name) {
        return Some(p.clone());
    }
    match &def.pinning {
        Pinning::None => None,
        Pinning::ByName => Some(
            pin_root
                .unwrap_or(Path::new(PIN_ROOT))
                .join(pin_name(&def.name)),
        ),
        Pinning::ObjectNs { object } => Some(Path::new(TC_ROOT).join(object).join(&def.name)),
        Pinning::GlobalNs => Some(Path::new(TC_ROOT).join("globals").join(&def.name)),
    }
}

/// Every `--reuse-map` name must be a map of the object.
pub fn check_reuse_names(maps: &[MapDef], reuse: &HashMap<String, PathBuf>) -> Result<()> {
    let mut names: Vec<&String> = reuse.keys().collect();
    names.sort();
    for name in names {
        if !maps.iter().any(|m| &m.name == name) {
            return Err(ShareError {
                map: name.clone(),
                path: reuse[name].display().to_string(),
                reason: format!(
                    "the object has no map of that name (maps: {})",
                    maps.iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The map pinned at `path` for `def`, with its id, when it matches; None when nothing is
/// pinned there and `must_exist` is false (the load creates the map and pins it).
pub fn open_pinned(def: &MapDef, path: &Path, must_exist: bool) -> Result<Option<(OwnedFd, u32)>> {
    let err = |reason: String| ShareError {
        map: def.name.clone(),
        path: path.display().to_string(),
        reason,
    };
    let fd = match sys::obj_get(path) {
        Ok(fd) => fd,
        Err(e) if e.errno() == Some(libc::ENOENT) && !must_exist => return Ok(None),
        Err(e) => return Err(err(format!("cannot open the pin: {}", e.source))),
    };
    match sys::fd_kind(fd.as_fd()) {
        Some(sys::ObjKind::Map) => {}
        Some(other) => {
            let what = match other {
                sys::ObjKind::Prog => "program",
                sys::ObjKind::Link => "link",
                _ => "BPF object other than a map",
            };
            return Err(err(format!("a {what} is pinned there, not a map")));
        }
        None => return Err(err("what is pinned there is not a BPF object".into())),
    }
    let info = sys::map_info(fd.as_fd()).map_err(|e| err(e.to_string()))?;
    let (key_size, value_size, max_entries) = kernel_shape(def);
    let fields = [
        ("type", def.map_type, info.map_type),
        ("key_size", key_size, info.key_size),
        ("value_size", value_size, info.value_size),
        ("max_entries", max_entries, info.max_entries),
        ("map_flags", def.map_flags, info.map_flags),
    ];
    for (field, here, pinned) in fields {
        if here != pinned {
            let show = |v: u32| match field {
                "type" => map_type::name(v).to_string(),
                "map_flags" => format!("{v:#x}"),
                _ => v.to_string(),
            };
            return Err(err(format!(
                "it differs: {field} {} here, {} pinned",
                show(here),
                show(pinned)
            )));
        }
    }
    Ok(Some((fd, info.id)))
}

/// Key size, value size and max_entries as the map is created in the kernel (a perf event
/// array gets a slot per possible CPU; some types have fixed sizes).
pub fn kernel_shape(def: &MapDef) -> (u32, u32, u32) {
    match def.map_type {
        map_type::PERF_EVENT_ARRAY => {
            let max = if def.max_entries == 0 {
                sys::possible_cpus().map(|c| c.len() as u32).unwrap_or(1)
            } else {
                def.max_entries
            };
            (4, 4, max)
        }
        map_type::RINGBUF => (0, 0, def.max_entries),
        map_type::PROG_ARRAY => (4, 4, def.max_entries),
        _ => (def.key_size, def.value_size, def.max_entries),
    }
}
