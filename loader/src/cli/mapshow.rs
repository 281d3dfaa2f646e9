//! `rbpf-load map show [MAP] [-j]`: maps in the kernel with their type, sizes, BTF and pins
//! (as `bpftool map show -f`).

use super::mapcmd::MapCtx;
use super::CliResult;
use crate::obj::map_type;
use crate::sys::{self, MapInfo, ObjKind};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Every map pinned under bpffs, by id (a map can have several pins).
fn pins_by_id(root: &Path) -> BTreeMap<u32, Vec<PathBuf>> {
    let mut out: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), 0u32)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() && depth < 16 => stack.push((p, depth + 1)),
                Ok(t) if t.is_file() => {
                    let Ok(fd) = sys::obj_get(&p) else { continue };
                    if sys::fd_kind(fd.as_fd()) != Some(ObjKind::Map) {
                        continue;
                    }
                    if let Ok(i) = sys::map_info(fd.as_fd()) {
                        out.entry(i.id).or_default().push(p);
                    }
                }
                _ => {}
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn to_json(i: &MapInfo, pins: &[PathBuf]) -> serde_json::Value {
    serde_json::json!({
        "id": i.id, "type": map_type::name(i.map_type), "name": i.name,
        "key_size": i.key_size, "value_size": i.value_size, "max_entries": i.max_entries,
        "flags": i.map_flags, "btf_id": if i.btf_id == 0 { None } else { Some(i.btf_id) },
        "pinned": pins,
    })
}

fn print_text(i: &MapInfo, pins: &[PathBuf]) {
    let mut line = format!(
        "{}: {}  name {}  key {}B  value {}B  max_entries {}",
        i.id,
        map_type::name(i.map_type),
        i.name,
        i.key_size,
        i.value_size,
        i.max_entries
    );
    if i.map_flags != 0 {
        line += &format!("  flags {:#x}", i.map_flags);
    }
    if i.btf_id != 0 {
        line += &format!("  btf_id {}", i.btf_id);
    }
    println!("{line}");
    for p in pins {
        println!("\tpinned {}", p.display());
    }
}

pub fn run(spec: Option<&str>, json: bool) -> CliResult {
    let infos: Vec<MapInfo> = match spec {
        Some(s) => vec![MapCtx::open(s)?.info],
        None => sys::all_ids(ObjKind::Map)?
            .into_iter()
            .filter_map(|id| sys::fd_by_id(ObjKind::Map, id).ok())
            .filter_map(|fd| sys::map_info(fd.as_fd()).ok())
            .collect(),
    };
    let pins = if sys::is_bpffs(Path::new("/sys/fs/bpf")) {
        pins_by_id(Path::new("/sys/fs/bpf"))
    } else {
        BTreeMap::new()
    };
    let none = Vec::new();
    if json {
        let rows: Vec<_> = infos
            .iter()
            .map(|i| to_json(i, pins.get(&i.id).unwrap_or(&none)))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for i in &infos {
            print_text(i, pins.get(&i.id).unwrap_or(&none));
        }
    }
    Ok(())
}
