//! Formatting one event record for people: through its BTF type when there is one (field
//! names and values, char arrays as strings, address-named fields as IP addresses: the
//! rules of [`crate::valuefmt`]), as hex otherwise. One line per record, `name=value`.

use crate::btf::{kind, Btf};
use serde_json::Value;

/// Bytes as space-separated hex pairs (`0a 00 00 01`).
pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 3);
    for (i, b) in data.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The type id of record type `name` in `btf`: a struct, a union, or a typedef of one
/// (`flow_event`, `struct flow_event`).
pub fn record_type(btf: &Btf, name: &str) -> Option<u32> {
    let bare = name
        .strip_prefix("struct ")
        .or_else(|| name.strip_prefix("union "))
        .unwrap_or(name)
        .trim();
    [kind::STRUCT, kind::UNION, kind::TYPEDEF]
        .into_iter()
        .find_map(|k| btf.find_by_name(bare, k))
}

/// One record through BTF type `ty`: `proto=17 direction=0 ... saddr=10.0.0.2`. Bytes the
/// type does not cover are ignored (perf samples carry padding); a record shorter than the
/// type shows the fields that fit, and says how short it was.
pub fn line(btf: &Btf, ty: u32, data: &[u8]) -> String {
    let value = crate::valuefmt::to_json(btf, ty, data);
    let mut out = match &value {
        // In declaration order (the JSON object is sorted by name).
        Value::Object(fields) => member_names(btf, ty)
            .iter()
            .filter_map(|k| fields.get(k).map(|v| format!("{k}={}", scalar(v))))
            .collect::<Vec<_>>()
            .join(" "),
        other => scalar(other),
    };
    if let Ok(size) = btf.resolve_size(ty) {
        if (data.len() as u64) < size {
            out.push_str(&format!(
                " (record of {} bytes, type needs {size})",
                data.len()
            ));
        }
    }
    out
}

/// The member names of struct/union `ty` in declaration order, as valuefmt keys them
/// (`@OFFSET` for anonymous members).
fn member_names(btf: &Btf, ty: u32) -> Vec<String> {
    let id = btf.skip_mods_and_typedefs(ty).unwrap_or(ty);
    btf.members(id)
        .map(|ms| {
            ms.iter()
                .map(|m| match btf.str_at(m.name_off) {
                    Ok(n) if !n.is_empty() => n.to_string(),
                    _ => format!("@{}", m.bit_offset / 8),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A record with or without a type: [`line`] or [`hex`].
pub fn record(btf: Option<(&Btf, u32)>, data: &[u8]) -> String {
    match btf {
        Some((btf, ty)) if ty != 0 => line(btf, ty, data),
        _ => hex(data),
    }
}

/// A value as it reads best on one line: plain strings bare (quoted when they contain
/// spaces or are empty), everything else as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::{Kind, Member, Type};

    /// BTF for `struct ev { u8 proto; u8 saddr[16]; char comm[8]; u32 n; }` (32 bytes).
    fn ev_btf() -> Btf {
        let strings = b"\0ev\0proto\0saddr\0comm\0n\0u8\0char\0u32\0idx\0".to_vec();
        let off = |s: &str| {
            let pat = format!("\0{s}\0");
            strings
                .windows(pat.len())
                .position(|w| w == pat.as_bytes())
                .map(|p| p as u32 + 1)
                .unwrap()
        };
        let int = |name: &str, size: u32, encoding: u8| Type {
            name_off: off(name),
            kind: Kind::Int {
                size,
                encoding,
                offset: 0,
                bits: size as u8 * 8,
            },
        };
        let member = |name: &str, ty: u32, byte: u32| Member {
            name_off: off(name),
            ty,
            bit_offset: byte * 8,
            bitfield_size: 0,
        };
        let types = vec![
            Type {
                name_off: 0,
                kind: Kind::Void,
            },
            int("u8", 1, 0),   // 1
            int("char", 1, 2), // 2
            int("u32", 4, 0),  // 3
            Type {
                name_off: 0,
                kind: Kind::Array {
                    elem: 1,
                    index: 3,
                    nelems: 16,
                },
            }, // 4
            Type {
                name_off: 0,
                kind: Kind::Array {
                    elem: 2,
                    index: 3,
                    nelems: 8,
                },
            }, // 5
            Type {
                name_off: off("ev"),
                kind: Kind::Struct {
                    size: 32,
                    members: vec![
                        member("proto", 1, 0),
                        member("saddr", 4, 1),
                        member("comm", 5, 17),
                        member("n", 3, 28),
                    ],
                },
            }, // 6
        ];
        Btf::from_parts(types, strings)
    }

    fn ev_bytes() -> Vec<u8> {
        let mut b = vec![0u8; 32];
        b[0] = 17;
        b[1..5].copy_from_slice(&[10, 0, 0, 2]);
        b[17..21].copy_from_slice(b"true");
        b[28..32].copy_from_slice(&7u32.to_le_bytes());
        b
    }

    #[test]
    fn a_struct_reads_as_named_fields_with_ips_and_strings() {
        let btf = ev_btf();
        let ty = record_type(&btf, "struct ev").unwrap();
        assert_eq!(ty, 6);
        assert_eq!(
            line(&btf, ty, &ev_bytes()),
            "proto=17 saddr=10.0.0.2 comm=true n=7"
        );
        // Perf samples carry padding after the struct: ignored.
        let mut padded = ev_bytes();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            line(&btf, ty, &padded),
            "proto=17 saddr=10.0.0.2 comm=true n=7"
        );
    }

    #[test]
    fn ipv6_addresses_and_short_records() {
        let btf = ev_btf();
        let mut b = ev_bytes();
        b[1..17].copy_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert!(line(&btf, 6, &b).contains("saddr=fd00::1"));
        let short = line(&btf, 6, &b[..20]);
        assert!(short.starts_with("proto=17 saddr=fd00::1"), "{short}");
        assert!(
            short.ends_with("(record of 20 bytes, type needs 32)"),
            "{short}"
        );
    }

    #[test]
    fn without_a_type_it_is_hex() {
        assert_eq!(record(None, &[0x0a, 0, 0, 1]), "0a 00 00 01");
        assert_eq!(record_type(&ev_btf(), "no_such"), None);
    }
}
