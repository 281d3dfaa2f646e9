//! CO-RE unit tests on hand-built BTF.

use super::*;
use crate::btf::tests::blob;
use crate::btf::{kind, Btf};
use crate::insn::{BPF_MEM, BPF_MOV};

fn info(kind: u8, vlen: u32, kflag: bool) -> u32 {
    ((kflag as u32) << 31) | ((kind as u32) << 24) | vlen
}

/// Local: `struct s___v1 { unsigned int a; unsigned int b; int c; }`, access strings "0:1"
/// and "0:2" at offsets `B` and `C`.
fn local() -> Btf {
    let s = b"\0unsigned int\0s___v1\0a\0b\0int\0c\0" as &[u8];
    let mut strs = s.to_vec();
    strs.extend_from_slice(b"0:1\0" as &[u8]);
    strs.extend_from_slice(b"0:2\0" as &[u8]);
    let types = vec![
        1,
        info(kind::INT, 0, false),
        4,
        32,
        14,
        info(kind::STRUCT, 3, false),
        12,
        21,
        1,
        0,
        23,
        1,
        32,
        31,
        3,
        64,
        25,
        info(kind::INT, 0, false),
        4,
        (1 << 24) | 32,
    ];
    Btf::parse(&blob(&types, &strs)).unwrap()
}

/// Target: `struct s { unsigned long x; unsigned long b; long c; }` (no `a`).
fn target() -> Btf {
    let strs = b"\0unsigned long\0s\0x\0b\0long\0c\0";
    let types = vec![
        1,
        info(kind::INT, 0, false),
        8,
        64,
        15,
        info(kind::STRUCT, 3, false),
        24,
        17,
        1,
        0,
        19,
        1,
        64,
        26,
        3,
        128,
        21,
        info(kind::INT, 0, false),
        8,
        (1 << 24) | 64,
    ];
    Btf::parse(&blob(&types, strs)).unwrap()
}

fn relo(access_str_off: u32, kind: u32) -> CoreRelo {
    CoreRelo {
        insn_off: 0,
        type_id: 2,
        access_str_off,
        kind,
    }
}

const B: u32 = 31; // "0:1"
const C: u32 = 35; // "0:2"

#[test]
fn essential_names() {
    assert_eq!(
        crate::btf::spec::essential("task_struct___v2"),
        "task_struct"
    );
    assert_eq!(crate::btf::spec::essential("a___b___c"), "a___b");
    assert_eq!(crate::btf::spec::essential("__u32"), "__u32");
    assert_eq!(crate::btf::spec::essential("x____y"), "x____y");
}

#[test]
fn load_offset_and_width_follow_the_target() {
    let (l, t) = (local(), target());
    assert_eq!(l.str_at(B).unwrap(), "0:1");
    let mut insns = vec![Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 4, 0)];
    let done = apply(&mut insns, 0, &relo(B, relo::FIELD_BYTE_OFFSET), &l, &t).unwrap();
    assert_eq!(insns[0].off, 8);
    assert_eq!(insns[0].code, BPF_LDX | BPF_MEM | BPF_DW);
    assert_eq!(done.size_change, Some((4, 8)));
    assert_eq!(done.local_spec, "struct s___v1::b (0:1)");
    assert_eq!(done.target_spec.as_deref(), Some("struct s::b (0:1)"));
}

#[test]
fn signed_field_cannot_widen_so_it_is_poisoned() {
    let (l, t) = (local(), target());
    let mut insns = vec![Insn::new(BPF_LDX | BPF_MEM | BPF_W, 1, 2, 8, 0)];
    let done = apply(&mut insns, 0, &relo(C, relo::FIELD_BYTE_OFFSET), &l, &t).unwrap();
    assert!(done.poisoned());
    assert_eq!((insns[0].code, insns[0].imm), (CALL, POISON_HELPER));
}

#[test]
fn missing_member_exists_zero_and_offset_poisoned() {
    let (l, t) = (local(), target());
    let a = l.add_string_copy("0:0");
    let mut insns = vec![Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1)];
    let done = apply(&mut insns, 0, &relo(a.1, relo::FIELD_EXISTS), &a.0, &t).unwrap();
    assert_eq!((done.new, insns[0].imm), (Some(0), 0));
    let mut insns = vec![Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 0)];
    let done = apply(&mut insns, 0, &relo(a.1, relo::FIELD_BYTE_OFFSET), &a.0, &t).unwrap();
    assert!(done.poisoned(), "{done}");
}

#[test]
fn wrong_local_value_and_bad_access_are_errors() {
    let (l, t) = (local(), target());
    let mut insns = vec![Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 99)];
    let e = apply(&mut insns, 0, &relo(B, relo::FIELD_BYTE_OFFSET), &l, &t).unwrap_err();
    assert!(e.to_string().contains("expected the local value 4"), "{e}");
    let (l2, bad) = l.add_string_copy("0:7");
    let e = apply(&mut insns, 0, &relo(bad, relo::FIELD_BYTE_OFFSET), &l2, &t).unwrap_err();
    assert!(e.to_string().contains("member #7"), "{e}");
    let e = apply(&mut insns, 5, &relo(B, relo::FIELD_BYTE_OFFSET), &l, &t).unwrap_err();
    assert!(e.to_string().contains("insn #5"), "{e}");
}

#[test]
fn type_kinds() {
    let (l, t) = (local(), target());
    let (l, zero) = l.add_string_copy("0");
    for (k, want) in [
        (relo::TYPE_EXISTS, 1),
        (relo::TYPE_SIZE, 24),
        (relo::TYPE_ID_TARGET, 2),
        (relo::TYPE_MATCHES, 0), // `a` is missing in the target
    ] {
        let old = if k == relo::TYPE_SIZE {
            12
        } else if k == relo::TYPE_ID_TARGET {
            2
        } else {
            1
        };
        let mut insns = vec![Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, old)];
        let done = apply(&mut insns, 0, &relo(zero, k), &l, &t).unwrap();
        assert_eq!(insns[0].imm, want, "{done}");
    }
}

impl Btf {
    /// A copy with one more string; returns it and the string's offset.
    fn add_string_copy(&self, s: &str) -> (Btf, u32) {
        let mut b = self.clone();
        let off = b.add_string(s);
        (b, off)
    }
}
