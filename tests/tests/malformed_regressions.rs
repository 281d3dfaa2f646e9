//! Inputs that once made the parser panic (arithmetic overflow on offsets read from the
//! file), each generated here from a real object by patching a few bytes, and each fixed:
//! now an `Err` that names the symbol, section or relocation at fault. Found by reading
//! every offset computation in `obj/` while the fuzzers ran; see docs/reliability.md.

use loader::obj::Object;
use object::{Object as _, ObjectSection, ObjectSymbol};
use rbpf_tests::bpf_obj;

/// A real object's bytes, and where things are in them.
struct Elf {
    b: Vec<u8>,
}

impl Elf {
    fn open(name: &str) -> Elf {
        Elf {
            b: std::fs::read(bpf_obj(name)).expect("read object"),
        }
    }

    fn section(&self, name: &str) -> (u64, u64) {
        let f = object::File::parse(&*self.b).expect("parse");
        let s = f.section_by_name(name).expect("section");
        s.file_range().expect("file range")
    }

    /// The file offset of symbol `name`'s Elf64_Sym, and its index.
    fn symbol(&self, name: &str) -> (usize, u32) {
        let f = object::File::parse(&*self.b).expect("parse");
        let s = f.symbols().find(|s| s.name() == Ok(name)).expect("symbol");
        let (symtab, _) = self.section(".symtab");
        (symtab as usize + s.index().0 * 24, s.index().0 as u32)
    }

    /// The file offset of the `i`th Elf64_Rel of `relsec`.
    fn rel(&self, relsec: &str, i: usize) -> usize {
        self.section(relsec).0 as usize + i * 16
    }

    fn put(&mut self, at: usize, v: &[u8]) {
        self.b[at..at + v.len()].copy_from_slice(v);
    }

    fn set_sym_value(&mut self, name: &str, v: u64) {
        let (at, _) = self.symbol(name);
        self.put(at + 8, &v.to_le_bytes());
    }

    /// Point relocation `i` of `relsec` at symbol `sym`, keeping its type.
    fn set_rel_sym(&mut self, relsec: &str, i: usize, sym: &str) {
        let (_, idx) = self.symbol(sym);
        let at = self.rel(relsec, i);
        self.put(at + 12, &idx.to_le_bytes());
    }
}

/// Parse in a thread so a panic is reported as this test's failure with the case name.
fn must_fail(case: &str, e: Elf, names: &[&str]) {
    let r = std::thread::spawn(move || Object::parse("regression", &e.b).map(|_| ()))
        .join()
        .unwrap_or_else(|_| panic!("{case}: Object::parse panicked"));
    let msg = r.expect_err(case).to_string();
    assert!(
        names.iter().any(|n| msg.contains(n)),
        "{case}: expected one of {names:?} in: {msg}"
    );
}

#[test]
fn call_target_symbol_value_overflow() {
    // bpf2bpf's call to add_square (relocation 1 of .relxdp, `call .text+(3+1)*8`) pointed
    // at LICENSE with st_value i64::MAX: value + (imm + 1) * 8 overflowed.
    let mut e = Elf::open("bpf2bpf");
    e.set_rel_sym(".relxdp", 1, "LICENSE");
    e.set_sym_value("LICENSE", i64::MAX as u64);
    must_fail("call target overflow", e, &["LICENSE"]);
}

#[test]
fn data_symbol_value_overflow() {
    // globals' `cfg_step` at st_value i64::MAX, and the ld_imm64 that loads it (relocation
    // 1 of .relxdp) with imm 1: value + imm overflowed.
    let mut e = Elf::open("globals");
    e.set_sym_value("cfg_step", i64::MAX as u64);
    let (xdp, _) = e.section("xdp");
    let rel = e.rel(".relxdp", 1);
    let r_offset = u64::from_le_bytes(e.b[rel..rel + 8].try_into().expect("8"));
    e.put(xdp as usize + r_offset as usize + 4, &1i32.to_le_bytes());
    must_fail("data offset overflow", e, &["cfg_step"]);
}

#[test]
fn map_symbol_end_overflow() {
    // xdp_classifier's `jmp_table` at st_value u64::MAX - 20 (size 48) and a `.values`
    // relocation at u64::MAX - 8: value + size overflowed while looking for its map.
    let mut e = Elf::open("xdp_classifier");
    e.set_sym_value("jmp_table", u64::MAX - 20);
    let rel = e.rel(".rel.maps", 0);
    e.put(rel, &(u64::MAX - 8).to_le_bytes());
    must_fail("map symbol end overflow", e, &["jmp_table", ".maps"]);
}

#[test]
fn legacy_map_definition_offset_overflow() {
    // legacy_maps' `legacy_hash` at st_value u64::MAX - 2: offset + 4 overflowed while
    // reading its struct bpf_map_def.
    let mut e = Elf::open("legacy_maps");
    e.set_sym_value("legacy_hash", u64::MAX - 2);
    must_fail("legacy map offset overflow", e, &["legacy_hash"]);
}

// Map values shown through BTF (`map dump`, events): the BTF comes from the kernel (which
// checked it) or from an object, and must not make the formatter panic or run away.
mod valuefmt {
    use loader::btf::{Btf, Kind, Member, Type};
    use std::time::Duration;

    fn int(size: u32, bits: u8) -> Type {
        Type {
            name_off: 0,
            kind: Kind::Int {
                size,
                encoding: 0,
                offset: 0,
                bits,
            },
        }
    }

    fn member(ty: u32, bit_offset: u32, bitfield_size: u32) -> Member {
        Member {
            name_off: 0,
            ty,
            bit_offset,
            bitfield_size,
        }
    }

    /// Format in a thread: a panic or no answer within 10 s fails the test.
    fn format_in_time(btf: Btf, ty: u32, bytes: Vec<u8>) -> serde_json::Value {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(loader::valuefmt::to_json(&btf, ty, &bytes));
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("to_json answered in time, without panicking")
    }

    #[test]
    fn bitfield_of_128_bits() {
        // `unsigned __int128 x : 128;` (the kernel accepts bitfields up to 128 bits):
        // `1u128 << 128` overflowed.
        let types = vec![
            Type {
                name_off: 0,
                kind: Kind::Void,
            },
            int(16, 128),
            Type {
                name_off: 1,
                kind: Kind::Struct {
                    size: 16,
                    members: vec![member(1, 0, 128)],
                },
            },
        ];
        let btf = Btf::from_parts(types, b"\0x\0".to_vec());
        let v = format_in_time(btf, 2, vec![0xff; 16]);
        assert_eq!(v["@0"], serde_json::json!(u64::MAX), "{v}");
    }

    #[test]
    fn unions_nested_thirty_deep() {
        // 30 levels of one-byte unions of 8 members each: 8^30 leaves to format, for one
        // byte of value.
        let mut types = vec![
            Type {
                name_off: 0,
                kind: Kind::Void,
            },
            int(1, 8),
        ];
        for level in 0..30u32 {
            types.push(Type {
                name_off: 0,
                kind: Kind::Union {
                    size: 1,
                    members: (0..8).map(|_| member(level + 1, 0, 0)).collect(),
                },
            });
        }
        let top = types.len() as u32 - 1;
        let btf = Btf::from_parts(types, b"\0".to_vec());
        let v = format_in_time(btf, top, vec![7]);
        assert!(v.is_object() || v.is_number() || v.is_string(), "{v}");
    }
}
