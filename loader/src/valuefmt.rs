//! Bytes of a map key or value (or an event) shown through a BTF type: structs as objects,
//! integers as numbers, char arrays as strings, address-named fields as IP addresses.

use crate::btf::{Btf, Kind};
use serde_json::{json, Value};

/// Little-endian integer of up to 16 bytes.
fn uint(bytes: &[u8]) -> u128 {
    bytes.iter().rev().fold(0u128, |a, &b| (a << 8) | b as u128)
}

/// Without a type: a number for 1/2/4/8-byte values, hex bytes otherwise.
pub fn hex_or_int(bytes: &[u8]) -> Value {
    match bytes.len() {
        1 | 2 | 4 | 8 => json!(uint(bytes) as u64),
        _ => Value::String(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// At most this many values are formatted in one call (nested unions can multiply them
/// without bound); the rest shows as hex.
const MAX_VALUES: u32 = 100_000;

/// `bytes` as a value of BTF type `ty`. Never panics: what does not fit becomes hex.
pub fn to_json(btf: &Btf, ty: u32, bytes: &[u8]) -> Value {
    let mut budget = MAX_VALUES;
    to_json_named(btf, ty, bytes, "", 0, &mut budget)
}

fn looks_like_addr(name: &str) -> bool {
    name.ends_with("addr") || name == "saddr" || name == "daddr" || name.ends_with("_ip")
}

fn ip(bytes: &[u8], len: usize) -> Option<String> {
    match len {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes[..16]);
            // An IPv4 address stored in the first 4 bytes of a 16-byte field.
            if a[4..].iter().all(|&b| b == 0) && a[..4].iter().any(|&b| b != 0) {
                Some(std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string())
            } else {
                Some(std::net::Ipv6Addr::from(a).to_string())
            }
        }
        _ => None,
    }
}

fn to_json_named(
    btf: &Btf,
    ty: u32,
    bytes: &[u8],
    name: &str,
    depth: u32,
    budget: &mut u32,
) -> Value {
    if depth > 32 || *budget == 0 {
        return hex_or_int(bytes);
    }
    *budget -= 1;
    let Ok(id) = btf.skip_mods_and_typedefs(ty) else {
        return hex_or_int(bytes);
    };
    let Ok(t) = btf.get(id) else {
        return hex_or_int(bytes);
    };
    match &t.kind {
        Kind::Int { size, encoding, .. } => {
            let n = (*size as usize).min(bytes.len());
            if n == 0 {
                return Value::Null;
            }
            let v = uint(&bytes[..n]);
            if looks_like_addr(name) && n == 4 {
                return json!(ip(&bytes[..4], 4));
            }
            if encoding & 1 != 0 && n <= 8 {
                let shift = 64 - 8 * n as u32;
                json!(((v as u64) << shift) as i64 >> shift)
            } else if encoding & 4 != 0 {
                json!(v != 0)
            } else {
                json!(v as u64)
            }
        }
        Kind::Enum { size, .. } | Kind::Enum64 { size, .. } => {
            let n = (*size as usize).min(bytes.len());
            json!(uint(&bytes[..n]) as u64)
        }
        Kind::Ptr { .. } => json!(format!("{:#x}", uint(&bytes[..bytes.len().min(8)]))),
        Kind::Array { elem, nelems, .. } => {
            let esize = btf.resolve_size(*elem).unwrap_or(0) as usize;
            let eid = btf.skip_mods_and_typedefs(*elem).unwrap_or(*elem);
            let is_char = matches!(btf.get(eid).map(|t| &t.kind), Ok(Kind::Int { size: 1, .. }));
            let total = esize.saturating_mul(*nelems as usize).min(bytes.len());
            if is_char && looks_like_addr(name) {
                if let Some(s) = ip(bytes, total) {
                    return json!(s);
                }
            }
            if is_char {
                let s = &bytes[..total];
                let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                if s[..end].iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
                    return json!(String::from_utf8_lossy(&s[..end]));
                }
            }
            if esize == 0 {
                return hex_or_int(&bytes[..total]);
            }
            let mut items = Vec::new();
            for c in bytes[..total].chunks(esize).take(4096) {
                if *budget == 0 {
                    break;
                }
                items.push(to_json_named(btf, *elem, c, "", depth + 1, budget));
            }
            Value::Array(items)
        }
        Kind::Struct { members, .. } | Kind::Union { members, .. } => {
            let mut obj = serde_json::Map::new();
            for m in members {
                if *budget == 0 {
                    break;
                }
                let mname = btf.str_at(m.name_off).unwrap_or("").to_string();
                let off = (m.bit_offset / 8) as usize;
                let msize = btf.resolve_size(m.ty).unwrap_or(0) as usize;
                let Some(slice) = bytes.get(off..off.saturating_add(msize).min(bytes.len())) else {
                    continue;
                };
                let v = if m.bitfield_size > 0 {
                    let bit = m.bit_offset % 8;
                    let raw = uint(&slice[..slice.len().min(16)]) >> bit;
                    let mask = 1u128
                        .checked_shl(m.bitfield_size)
                        .map(|b| b - 1)
                        .unwrap_or(u128::MAX);
                    json!((raw & mask) as u64)
                } else {
                    to_json_named(btf, m.ty, slice, &mname, depth + 1, budget)
                };
                obj.insert(
                    if mname.is_empty() {
                        format!("@{off}")
                    } else {
                        mname
                    },
                    v,
                );
            }
            Value::Object(obj)
        }
        Kind::Datasec { vars, .. } => {
            let mut obj = serde_json::Map::new();
            for v in vars {
                if *budget == 0 {
                    break;
                }
                let vname = btf.name(v.ty).to_string();
                let vty = match btf.get(v.ty).map(|t| &t.kind) {
                    Ok(Kind::Var { ty, .. }) => *ty,
                    _ => continue,
                };
                let Some(slice) = bytes
                    .get(v.offset as usize..(v.offset as usize + v.size as usize).min(bytes.len()))
                else {
                    continue;
                };
                obj.insert(
                    vname.clone(),
                    to_json_named(btf, vty, slice, &vname, depth + 1, budget),
                );
            }
            Value::Object(obj)
        }
        _ => hex_or_int(bytes),
    }
}
