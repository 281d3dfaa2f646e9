//! CO-RE against the running kernel, checked against bpftool: every relocation record of
//! core_fields.bpf.o is applied with our code (our parser, our matcher) against
//! /sys/kernel/btf/vmlinux, and each result is compared with a value worked out here from
//! `bpftool btf dump ... format raw` text alone (the object's BTF to read the access
//! strings, the kernel's for offsets, sizes, ids and enum values).

use loader::btf::core::{apply, relo, POISON_HELPER};
use loader::btf::ext::BtfExt;
use loader::btf::Btf;
use loader::insn::{self, Insn};
use object::{Object, ObjectSection};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// A type as bpftool prints it.
#[derive(Debug, Default, Clone)]
struct RawType {
    kind: String,
    name: String,
    attrs: HashMap<String, String>,
    /// (name, type_id, bits_offset, bitfield_size) for members; (name, val) for enums.
    members: Vec<(String, u32, u64, u64)>,
    enumerators: Vec<(String, i64)>,
}

struct RawBtf {
    types: HashMap<u32, RawType>,
}

fn quoted(s: &str) -> (String, &str) {
    let s = s.trim_start();
    let s = s.strip_prefix('\'').unwrap();
    let end = s.find('\'').unwrap();
    (s[..end].to_string(), &s[end + 1..])
}

fn kv(s: &str) -> HashMap<String, String> {
    s.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn bpftool(file: &Path) -> RawBtf {
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(file)
        .args(["format", "raw"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut types = HashMap::new();
    let mut cur: Option<(u32, RawType)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            if let Some((id, t)) = cur.take() {
                types.insert(id, t);
            }
            let (id, rest) = rest.split_once("] ").unwrap();
            let (kind, rest) = rest.split_once(' ').unwrap();
            let (name, rest) = quoted(rest);
            cur = Some((
                id.parse().unwrap(),
                RawType {
                    kind: kind.to_string(),
                    name: if name == "(anon)" {
                        String::new()
                    } else {
                        name
                    },
                    attrs: kv(rest),
                    ..Default::default()
                },
            ));
        } else if line.starts_with("\t'") {
            let (_, t) = cur.as_mut().unwrap();
            let (mut name, rest) = quoted(line);
            if name == "(anon)" {
                name.clear();
            }
            let a = kv(rest);
            if let Some(v) = a.get("val") {
                // ENUM64 values print as unsigned with a ULL suffix.
                let v = v.trim_end_matches("ULL").trim_end_matches("LL");
                let v = v
                    .parse::<i64>()
                    .unwrap_or_else(|_| v.parse::<u64>().unwrap() as i64);
                t.enumerators.push((name, v));
            } else if let Some(ty) = a.get("type_id") {
                t.members.push((
                    name,
                    ty.parse().unwrap(),
                    a.get("bits_offset").map_or(0, |v| v.parse().unwrap()),
                    a.get("bitfield_size").map_or(0, |v| v.parse().unwrap()),
                ));
            }
        }
    }
    if let Some((id, t)) = cur {
        types.insert(id, t);
    }
    RawBtf { types }
}

fn essential(name: &str) -> &str {
    name.split("___").next().unwrap()
}

impl RawBtf {
    fn t(&self, id: u32) -> &RawType {
        &self.types[&id]
    }
    fn attr(&self, id: u32, k: &str) -> u64 {
        self.t(id).attrs[k].parse().unwrap()
    }
    fn skip(&self, mut id: u32) -> u32 {
        while matches!(
            self.t(id).kind.as_str(),
            "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG"
        ) {
            id = self.attr(id, "type_id") as u32;
        }
        id
    }
    fn size(&self, id: u32) -> u64 {
        let id = self.skip(id);
        match self.t(id).kind.as_str() {
            "PTR" => 8,
            "ARRAY" => self.attr(id, "nr_elems") * self.size(self.attr(id, "type_id") as u32),
            _ => self.attr(id, "size"),
        }
    }
    fn find(&self, name: &str, kinds: &[&str]) -> Option<u32> {
        let mut ids: Vec<u32> = self
            .types
            .iter()
            .filter(|(_, t)| t.name == name && kinds.contains(&t.kind.as_str()))
            .map(|(&id, _)| id)
            .collect();
        ids.sort();
        ids.first().copied()
    }
    /// Member `name` of composite `id`, looking through anonymous members:
    /// (bit offset, type, bitfield size).
    fn member(&self, id: u32, name: &str) -> Option<(u64, u32, u64)> {
        for (mname, ty, off, bf) in &self.t(id).members {
            if mname == name {
                return Some((*off, *ty, *bf));
            }
            if mname.is_empty() {
                let inner = self.skip(*ty);
                if let Some((o, t, b)) = self.member(inner, name) {
                    return Some((off + o, t, b));
                }
            }
        }
        None
    }
}

/// What a record should produce: Some(value), or None for a poisoned instruction.
fn expected(
    obj: &RawBtf,
    kern: &RawBtf,
    r: &loader::btf::ext::CoreRelo,
    access: &str,
) -> Option<u64> {
    let root = obj.t(r.type_id);
    let kinds: &[&str] = match root.kind.as_str() {
        "ENUM" | "ENUM64" => &["ENUM", "ENUM64"],
        k => &[k][..],
    };
    let kinds: Vec<&str> = kinds.to_vec();
    let target = kern.find(essential(&root.name), &kinds);
    let idx: Vec<u32> = access.split(':').map(|s| s.parse().unwrap()).collect();
    match r.kind {
        relo::TYPE_ID_LOCAL => Some(r.type_id as u64),
        relo::TYPE_ID_TARGET => target.map(u64::from),
        relo::TYPE_EXISTS => Some(target.is_some() as u64),
        relo::TYPE_SIZE => target.map(|t| kern.size(t)),
        // bpftool cannot say whether types "match"; the program's own types say it: the
        // vmlinux.h copy of list_head matches, the flavour with int members does not.
        relo::TYPE_MATCHES => Some(match root.name.as_str() {
            "list_head" => 1,
            "list_head___rbpf" => 0,
            n => panic!("no expectation for type_matches on {n}"),
        }),
        relo::ENUMVAL_EXISTS | relo::ENUMVAL_VALUE => {
            let (lname, _) = &root.enumerators[idx[0] as usize];
            let v = target.and_then(|t| {
                kern.t(t)
                    .enumerators
                    .iter()
                    .find(|(n, _)| essential(n) == essential(lname))
                    .map(|(_, v)| *v)
            });
            if r.kind == relo::ENUMVAL_EXISTS {
                Some(v.is_some() as u64)
            } else {
                v.map(|v| v as u64)
            }
        }
        _ => {
            // Walk the access string through the object's types to get member names, and
            // the same names through the kernel's types.
            let mut lt = obj.skip(r.type_id);
            let mut tt = target.map(|t| kern.skip(t));
            let mut bit_off = 0u64;
            let (mut fty, mut bf) = (0u32, 0u64);
            for &i in &idx[1..] {
                let (mname, mty, _, _) = obj.t(lt).members[i as usize].clone();
                lt = obj.skip(mty);
                if mname.is_empty() {
                    continue; // anonymous: the kernel side finds the next name through it
                }
                let Some(t) = tt else { break };
                match kern.member(t, &mname) {
                    Some((o, ty, b)) => {
                        bit_off += o;
                        fty = ty;
                        bf = b;
                        tt = Some(kern.skip(ty));
                    }
                    None => tt = None,
                }
            }
            if tt.is_none() {
                return if r.kind == relo::FIELD_EXISTS {
                    Some(0)
                } else {
                    None
                };
            }
            let base = kern.skip(fty);
            let (byte_off, byte_sz, bit_sz) = if bf == 0 {
                let sz = kern.size(fty);
                (bit_off / 8, sz, sz * 8)
            } else {
                let mut sz = kern.size(base);
                let mut off = bit_off / 8 / sz * sz;
                while bit_off + bf - off * 8 > sz * 8 {
                    sz *= 2;
                    off = bit_off / 8 / sz * sz;
                }
                (off, sz, bf)
            };
            Some(match r.kind {
                relo::FIELD_BYTE_OFFSET => byte_off,
                relo::FIELD_BYTE_SIZE => byte_sz,
                relo::FIELD_EXISTS => 1,
                relo::FIELD_SIGNED => {
                    (kern.t(base).attrs.get("encoding").map(String::as_str) == Some("SIGNED"))
                        as u64
                }
                relo::FIELD_LSHIFT_U64 => 64 - (bit_off + bit_sz - byte_off * 8),
                relo::FIELD_RSHIFT_U64 => 64 - bit_sz,
                k => panic!("kind {k}"),
            })
        }
    }
}

fn value_in(insns: &[Insn], i: usize) -> Option<u64> {
    let x = insns[i];
    if x.code == insn::CALL && x.imm == POISON_HELPER {
        return None;
    }
    Some(match x.class() {
        insn::BPF_ALU | insn::BPF_ALU64 => x.imm as u32 as u64,
        insn::BPF_LDX | insn::BPF_ST | insn::BPF_STX => x.off as u64,
        _ => (x.imm as u32 as u64) | ((insns[i + 1].imm as u32 as u64) << 32),
    })
}

#[test]
fn every_core_kind_against_the_running_kernel() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf/core_fields.bpf.o");
    let data = std::fs::read(&path).expect("target/bpf/core_fields.bpf.o: run `make bpf`");
    let file = object::File::parse(&*data).unwrap();
    let sec = |n: &str| file.section_by_name(n).unwrap().data().unwrap().to_vec();
    let local = Btf::parse(&sec(".BTF")).unwrap();
    let ext = BtfExt::parse(&sec(".BTF.ext"), &local).unwrap();
    let kernel = Btf::kernel().unwrap();
    let obj_raw = bpftool(&path);
    let kern_raw = bpftool(Path::new("/sys/kernel/btf/vmlinux"));

    let mut kinds_seen = [0u32; 13];
    let mut poisoned = 0;
    for part in &ext.core_relos {
        let (mut insns, rest) = insn::decode(&sec(&part.section));
        assert_eq!(rest, 0);
        for r in &part.records {
            let idx = (r.insn_off / 8) as usize;
            let access = local.str_at(r.access_str_off).unwrap();
            let done = apply(&mut insns, idx, r, &local, &kernel)
                .unwrap_or_else(|e| panic!("{} {access}: {e}", part.section));
            eprintln!("{done}");
            let want = expected(&obj_raw, &kern_raw, r, access);
            assert_eq!(done.new, want, "{done}");
            assert_eq!(value_in(&insns, idx), want, "instruction after {done}");
            kinds_seen[r.kind as usize] += 1;
            poisoned += done.poisoned() as u32;
        }
    }
    assert!(
        kinds_seen.iter().all(|&n| n > 0),
        "every kind is exercised: {kinds_seen:?}"
    );
    assert!(
        poisoned >= 2,
        "the made-up member and enumerator are poisoned"
    );
}
