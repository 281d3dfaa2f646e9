//! `rbpf-load map dump MAP` (ID, id:ID, name:NAME or a pin): keys and values, through BTF
//! when the map has some.

use super::mapcmd::MapCtx;
use super::{CliError, CliResult};
use crate::obj::map_type;
use crate::sys;
use std::os::fd::AsFd;

/// Every key and its value, in the kernel's order.
fn entries(ctx: &MapCtx) -> CliResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; ctx.info.key_size as usize];
    while sys::map_next_key(ctx.fd.as_fd(), key.as_deref(), &mut next)? {
        if out.len() >= 10_000_000 {
            break;
        }
        if let Some(value) = ctx.lookup(&next)? {
            out.push((next.clone(), value));
        }
        key = Some(next.clone());
    }
    Ok(out)
}

pub fn run(spec: &str, json: bool) -> CliResult {
    let ctx = MapCtx::open(spec)?;
    let info = &ctx.info;
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
    let rows: Vec<serde_json::Value> = entries(&ctx)?
        .iter()
        .map(|(k, v)| serde_json::json!({"key": ctx.key_json(k), "value": ctx.value_json(v)}))
        .collect();
    if json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!(
        "map {} (id {}, {}, key {} B, value {} B, {} entries{}):",
        info.name,
        info.id,
        map_type::name(info.map_type),
        info.key_size,
        info.value_size,
        info.max_entries,
        if ctx.btf.is_some() { ", BTF" } else { "" }
    );
    for r in &rows {
        println!("  {} => {}", r["key"], r["value"]);
    }
    println!("{} elements", rows.len());
    Ok(())
}
