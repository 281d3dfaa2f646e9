//! `rbpf-load map dump MAP` (ID, id:ID, name:NAME or a pin): keys and values, through BTF when the map has some.

use super::{CliError, CliResult};
use crate::btf::Btf;
use crate::obj::map_type;
use crate::sys::{self, ObjKind};
use crate::valuefmt;
use std::os::fd::AsFd;

pub fn run(spec: &str, json: bool) -> CliResult {
    let fd = super::objref::open_map(spec)?;
    let info = sys::map_info(fd.as_fd())?;
    let btf = if info.btf_id != 0 {
        sys::fd_by_id(ObjKind::Btf, info.btf_id)
            .ok()
            .and_then(|b| sys::btf_data(b.as_fd()).ok())
            .and_then(|d| Btf::parse(&d).ok())
    } else {
        None
    };
    let ncpu = if map_type::is_percpu(info.map_type) {
        sys::possible_cpus().map(|c| c.len()).unwrap_or(1)
    } else {
        1
    };
    let stride = if ncpu > 1 {
        (info.value_size as usize).div_ceil(8) * 8
    } else {
        info.value_size as usize
    };
    if matches!(
        info.map_type,
        map_type::RINGBUF | map_type::PERF_EVENT_ARRAY
    ) {
        return Err(CliError::new(format!(
            "map '{}' (id {}) is a {}: it has no keys to dump",
            info.name,
            info.id,
            map_type::name(info.map_type)
        ))
        .hint("read it with --foreground --events MAP"));
    }
    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; info.key_size as usize];
    let mut guard = 0u64;
    while sys::map_next_key(fd.as_fd(), key.as_deref(), &mut next)? {
        guard += 1;
        if guard > 10_000_000 {
            break;
        }
        let mut value = vec![0u8; stride * ncpu];
        let present = sys::map_lookup(fd.as_fd(), &next, &mut value)?;
        if present {
            entries.push((next.clone(), value));
        }
        key = Some(next.clone());
    }
    let fmt = |bytes: &[u8], ty: u32| -> serde_json::Value {
        match (&btf, ty) {
            (Some(b), t) if t != 0 => valuefmt::to_json(b, t, bytes),
            _ => valuefmt::hex_or_int(bytes),
        }
    };
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|(k, v)| {
            let value = if ncpu > 1 {
                serde_json::Value::Array(
                    v.chunks(stride)
                        .enumerate()
                        .map(|(cpu, c)| serde_json::json!({"cpu": cpu, "value": fmt(&c[..info.value_size as usize], info.btf_value_type_id)}))
                        .collect(),
                )
            } else {
                fmt(v, info.btf_value_type_id)
            };
            serde_json::json!({"key": fmt(k, info.btf_key_type_id), "value": value})
        })
        .collect();
    if json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!(
            "map {} (id {}, {}, key {} B, value {} B, {} entries{}):",
            info.name,
            info.id,
            map_type::name(info.map_type),
            info.key_size,
            info.value_size,
            info.max_entries,
            if btf.is_some() { ", BTF" } else { "" }
        );
        for r in &rows {
            println!("  {} => {}", r["key"], r["value"]);
        }
        println!("{} elements", rows.len());
    }
    Ok(())
}
