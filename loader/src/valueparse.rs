//! The other way round from [`crate::valuefmt`]: JSON written by a user becomes the bytes of
//! a map key or value through its BTF type (`{"saddr": "10.0.0.1", "proto": 6}`). Members
//! left out are zero; a name the type does not have is an error that lists the ones it has.

use crate::btf::{Btf, Kind, Member};
use serde_json::Value;

/// A value that does not fit its type: where (`.saddr`, `[2]`) and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{reason}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
#[non_exhaustive]
pub struct ValueError {
    pub path: String,
    pub reason: String,
}

type Result<T> = std::result::Result<T, ValueError>;

fn err<T>(path: &str, reason: impl Into<String>) -> Result<T> {
    Err(ValueError {
        path: path.to_string(),
        reason: reason.into(),
    })
}

/// `v` as the bytes of BTF type `ty` (exactly its size).
pub fn from_json(btf: &Btf, ty: u32, v: &Value) -> Result<Vec<u8>> {
    let size = btf
        .resolve_size(ty)
        .map_err(|e| ValueError {
            path: String::new(),
            reason: format!("type has no size: {e}"),
        })?
        .min(1 << 24) as usize;
    let mut out = vec![0u8; size];
    write(btf, ty, v, &mut out, "", "", 0)?;
    Ok(out)
}

/// A number given as JSON: an integer, a decimal or 0x string, or a boolean.
fn number(v: &Value, path: &str) -> Result<i128> {
    let parsed = match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => parse_int(s),
        Value::Bool(b) => Some(i128::from(*b)),
        _ => None,
    };
    match parsed {
        Some(n) => Ok(n),
        None => err(path, format!("{v} is not an integer")),
    }
}

/// Decimal or 0x hexadecimal, possibly negative.
pub fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s),
    };
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => t.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// `n` into `out` little-endian, checked against the width (signed or not).
fn put_int(n: i128, out: &mut [u8], signed: bool, path: &str) -> Result<()> {
    let bits = (out.len() * 8).min(127) as u32;
    let (lo, hi) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << bits) - 1)
    };
    if n < lo || n > hi {
        return err(path, format!("{n} does not fit in {} bytes", out.len()));
    }
    let bytes = n.to_le_bytes();
    let len = out.len().min(16);
    out[..len].copy_from_slice(&bytes[..len]);
    Ok(())
}

fn looks_like_addr(name: &str) -> bool {
    name.ends_with("addr") || name.ends_with("_ip")
}

/// An IP address string into a 4- or 16-byte field (IPv4 in the first 4 bytes of 16).
fn put_ip(s: &str, out: &mut [u8], path: &str) -> Result<bool> {
    let Ok(addr) = s.parse::<std::net::IpAddr>() else {
        return Ok(false);
    };
    match (addr, out.len()) {
        (std::net::IpAddr::V4(a), 4 | 16) => out[..4].copy_from_slice(&a.octets()),
        (std::net::IpAddr::V6(a), 16) => out.copy_from_slice(&a.octets()),
        _ => return err(path, format!("{s} does not fit in {} bytes", out.len())),
    }
    Ok(true)
}

fn write(
    btf: &Btf,
    ty: u32,
    v: &Value,
    out: &mut [u8],
    name: &str,
    path: &str,
    depth: u32,
) -> Result<()> {
    if depth > 32 {
        return err(path, "types nested too deep");
    }
    let id = btf.skip_mods_and_typedefs(ty).map_err(|e| ValueError {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let t = btf.get(id).map_err(|e| ValueError {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    match &t.kind {
        Kind::Int { encoding, .. } => {
            if let (Value::String(s), true) = (v, looks_like_addr(name)) {
                if put_ip(s, out, path)? {
                    return Ok(());
                }
            }
            put_int(number(v, path)?, out, encoding & 1 != 0, path)
        }
        Kind::Enum { .. } | Kind::Enum64 { .. } => write_enum(btf, &t.kind, v, out, path),
        Kind::Ptr { .. } => put_int(number(v, path)?, out, false, path),
        Kind::Array { elem, .. } => write_array(btf, *elem, v, out, name, path, depth),
        Kind::Struct { members, .. } | Kind::Union { members, .. } => {
            write_struct(btf, members, v, out, path, depth)
        }
        other => err(
            path,
            format!("cannot write a {} from JSON", other.kind_name()),
        ),
    }
}

/// An enumerator's name or a number.
fn write_enum(btf: &Btf, k: &Kind, v: &Value, out: &mut [u8], path: &str) -> Result<()> {
    if let Value::String(s) = v {
        let found = match k {
            Kind::Enum { values, .. } | Kind::Enum64 { values, .. } => values
                .iter()
                .find(|e| btf.str_at(e.name_off).ok() == Some(s.as_str()))
                .map(|e| e.val),
            _ => None,
        };
        if let Some(n) = found {
            return put_int(i128::from(n), out, true, path).or_else(|_| {
                let b = n.to_le_bytes();
                let len = out.len().min(8);
                out[..len].copy_from_slice(&b[..len]);
                Ok(())
            });
        }
        if parse_int(s).is_none() {
            return err(path, format!("no enumerator '{s}'"));
        }
    }
    put_int(number(v, path)?, out, true, path)
        .or_else(|_| put_int(number(v, path)?, out, false, path))
}

fn write_array(
    btf: &Btf,
    elem: u32,
    v: &Value,
    out: &mut [u8],
    name: &str,
    path: &str,
    depth: u32,
) -> Result<()> {
    let esize = btf.resolve_size(elem).unwrap_or(0) as usize;
    if let Value::String(s) = v {
        if looks_like_addr(name) && put_ip(s, out, path)? {
            return Ok(());
        }
        if esize != 1 {
            return err(path, "expected a JSON array");
        }
        // A C string: the bytes, then zeroes.
        if s.len() > out.len() {
            return err(path, format!("'{s}' is longer than {} bytes", out.len()));
        }
        out[..s.len()].copy_from_slice(s.as_bytes());
        return Ok(());
    }
    let Value::Array(items) = v else {
        return err(path, format!("expected a JSON array, not {v}"));
    };
    if esize == 0 || items.len() > out.len() / esize {
        return err(
            path,
            format!(
                "{} elements, the array has {}",
                items.len(),
                out.len() / esize.max(1)
            ),
        );
    }
    for (i, (item, chunk)) in items.iter().zip(out.chunks_mut(esize)).enumerate() {
        write(
            btf,
            elem,
            item,
            chunk,
            "",
            &format!("{path}[{i}]"),
            depth + 1,
        )?;
    }
    Ok(())
}

fn write_struct(
    btf: &Btf,
    members: &[Member],
    v: &Value,
    out: &mut [u8],
    path: &str,
    depth: u32,
) -> Result<()> {
    let Value::Object(fields) = v else {
        return err(path, format!("expected a JSON object, not {v}"));
    };
    let names: Vec<&str> = members
        .iter()
        .map(|m| btf.str_at(m.name_off).unwrap_or(""))
        .collect();
    for (key, val) in fields {
        let Some(i) = names.iter().position(|n| n == key) else {
            return err(
                path,
                format!("no member '{key}' (members: {})", names.join(", ")),
            );
        };
        let m = &members[i];
        let mpath = format!("{path}.{key}");
        if m.bitfield_size > 0 {
            write_bits(m, number(val, &mpath)?, out, &mpath)?;
            continue;
        }
        let off = (m.bit_offset / 8) as usize;
        let size = btf.resolve_size(m.ty).unwrap_or(0) as usize;
        let Some(slot) = out.get_mut(off..off.saturating_add(size)) else {
            return err(&mpath, "member outside the value");
        };
        write(btf, m.ty, val, slot, key, &mpath, depth + 1)?;
    }
    Ok(())
}

/// A bitfield member: `bitfield_size` bits from `bit_offset`.
fn write_bits(m: &Member, n: i128, out: &mut [u8], path: &str) -> Result<()> {
    let width = m.bitfield_size;
    if n < 0 || (width < 127 && n >= (1i128 << width)) {
        return err(path, format!("{n} does not fit in {width} bits"));
    }
    for b in 0..width {
        let bit = (m.bit_offset + b) as usize;
        let Some(byte) = out.get_mut(bit / 8) else {
            return err(path, "bitfield outside the value");
        };
        if (n >> b) & 1 == 1 {
            *byte |= 1 << (bit % 8);
        } else {
            *byte &= !(1 << (bit % 8));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_range_checked_little_endian() {
        let mut b = [0u8; 2];
        put_int(0x1234, &mut b, false, "").unwrap();
        assert_eq!(b, [0x34, 0x12]);
        assert!(put_int(0x10000, &mut b, false, "").is_err());
        put_int(-1, &mut b, true, "").unwrap();
        assert_eq!(b, [0xff, 0xff]);
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("-3"), Some(-3));
    }

    #[test]
    fn ip_addresses_fill_4_or_16_bytes() {
        let mut b = [0u8; 4];
        assert!(put_ip("10.0.0.1", &mut b, "").unwrap());
        assert_eq!(b, [10, 0, 0, 1]);
        let mut b = [0u8; 16];
        assert!(put_ip("fd00::1", &mut b, "").unwrap());
        assert_eq!(b[0], 0xfd);
        assert_eq!(b[15], 1);
        assert!(!put_ip("nope", &mut b, "").unwrap());
    }
}
