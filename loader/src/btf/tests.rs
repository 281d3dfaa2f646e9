//! Unit tests on small hand-built blobs.

use super::*;

/// Builds a BTF blob from raw u32 words of the type section and a string section.
pub(super) fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9fu16.to_le_bytes());
    out.push(1);
    out.push(0);
    for w in [24u32, 0, type_len, type_len, strings.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(strings);
    out
}

fn info(kind: u8, vlen: u32, kflag: bool) -> u32 {
    ((kflag as u32) << 31) | ((kind as u32) << 24) | vlen
}

/// "\0int\0s\0a\0b\0t\0"
const STRS: &[u8] = b"\0int\0s\0a\0b\0t\0";

fn sample() -> Vec<u32> {
    vec![
        // 1: int, 4 bytes, signed, 32 bits
        1,
        info(kind::INT, 0, false),
        4,
        (1 << 24) | 32,
        // 2: struct s { int a; int b:3; } size 8, kind_flag bitfields
        5,
        info(kind::STRUCT, 2, true),
        8,
        7,
        1,
        0,
        9,
        1,
        (3 << 24) | 32,
        // 3: typedef t -> struct s
        11,
        info(kind::TYPEDEF, 0, false),
        2,
        // 4: array of 3 t
        0,
        info(kind::ARRAY, 0, false),
        0,
        3,
        1,
        3,
    ]
}

#[test]
fn parses_a_small_blob() {
    let btf = Btf::parse(&blob(&sample(), STRS)).unwrap();
    assert_eq!(btf.types.len(), 5);
    assert_eq!(btf.name(1), "int");
    assert_eq!(btf.name(2), "s");
    assert_eq!(btf.name(4), "");
    let m = btf.members(2).unwrap();
    assert_eq!(m[1].bitfield_size, 3);
    assert_eq!(m[1].bit_offset, 32);
    assert_eq!(btf.resolve_size(4).unwrap(), 24);
    assert_eq!(btf.skip_mods_and_typedefs(3).unwrap(), 2);
    assert_eq!(btf.find_by_name("t", kind::TYPEDEF), Some(3));
    assert_eq!(btf.find_by_name("t", kind::STRUCT), None);
    assert_eq!(btf.find_by_name("s", kind::STRUCT), Some(2));
    assert_eq!(btf.kind_of(4), kind::ARRAY);
}

#[test]
fn typedef_loop_is_an_error() {
    let types = vec![
        1,
        info(kind::TYPEDEF, 0, false),
        2,
        3,
        info(kind::TYPEDEF, 0, false),
        1,
    ];
    let btf = Btf::parse(&blob(&types, b"\0a\0b\0")).unwrap();
    let e = btf.resolve_size(1).unwrap_err();
    assert!(matches!(e, BtfError::Loop { .. }), "{e}");
    assert!(btf.skip_mods_and_typedefs(2).is_err());
}

#[test]
fn dangling_reference_is_named() {
    let types = vec![0, info(kind::PTR, 0, false), 7];
    let e = Btf::parse(&blob(&types, b"\0")).unwrap_err();
    assert!(
        e.to_string()
            .contains("type id 1 (PTR) refers to type id 7"),
        "{e}"
    );
}

#[test]
fn huge_vlen_is_refused_before_allocating() {
    let types = vec![0, info(kind::STRUCT, 0xffff, false), 4];
    let e = Btf::parse(&blob(&types, b"\0")).unwrap_err();
    assert!(e.to_string().contains("65535 entries"), "{e}");
}

#[test]
fn truncation_at_every_byte_never_panics() {
    let b = blob(&sample(), STRS);
    for n in 0..b.len() {
        assert!(Btf::parse(&b[..n]).is_err(), "prefix of {n} bytes parsed");
    }
}

#[test]
fn bad_magic_and_string_offset() {
    let mut b = blob(&sample(), STRS);
    b[0] = 0;
    assert!(matches!(Btf::parse(&b), Err(BtfError::BadMagic(_))));
    let mut types = sample();
    types[0] = 999;
    let e = Btf::parse(&blob(&types, STRS)).unwrap_err();
    assert!(e.to_string().contains("name offset 999"), "{e}");
}

#[test]
fn split_btf_continues_the_base() {
    let base = Btf::parse(&blob(&sample(), STRS)).unwrap();
    let x = STRS.len() as u32;
    let types = vec![
        0,
        info(kind::PTR, 0, false),
        2, // 5: struct s *
        x,
        info(kind::TYPEDEF, 0, false),
        5, // 6: typedef struct s *x
    ];
    let split = Btf::parse_split(&blob(&types, b"x\0"), &base).unwrap();
    assert_eq!(split.types.len(), 7);
    assert_eq!(split.name(6), "x");
    assert_eq!(split.name(2), "s");
    assert_eq!(split.find_by_name("x", kind::TYPEDEF), Some(6));
    assert_eq!(split.resolve_size(6).unwrap(), 8);
    assert_eq!(split.own_ids(), 5..7);
    assert_eq!(split.to_bytes().unwrap(), blob(&types, b"x\0"));
    let mut grown = split.clone();
    let y = grown.add_string("y");
    assert_eq!(
        y as usize,
        STRS.len() + 2,
        "split strings continue the base's"
    );
    let bad = vec![0, info(kind::PTR, 0, false), 9];
    assert!(Btf::parse_split(&blob(&bad, b"x\0"), &base).is_err());
}

#[test]
fn round_trip_and_edit() {
    let b = blob(&sample(), STRS);
    let mut btf = Btf::parse(&b).unwrap();
    assert_eq!(btf.to_bytes().unwrap(), b);
    assert_eq!(btf.add_string("int"), 1);
    let off = btf.add_string("u");
    assert_eq!(btf.str_at(off).unwrap(), "u");
    let id = btf.add_type(Type {
        name_off: off,
        kind: Kind::Typedef { ty: 1 },
    });
    assert_eq!(btf.find_by_name("u", kind::TYPEDEF), Some(id));
    if let Kind::Struct { size, .. } = &mut btf.get_mut(2).unwrap().kind {
        *size = 16;
    }
    let again = Btf::parse(&btf.to_bytes().unwrap()).unwrap();
    assert_eq!(again.types, btf.types);
    assert_eq!(again.resolve_size(3).unwrap(), 16);
    assert_eq!(again.name(id), "u");
}

#[test]
fn fixup_sizes_offsets_sorting_and_externs() {
    // "\0int\0a\0b\0.data\0c\0.kconfig\0f\0"
    let s = b"\0int\0a\0b\0.data\0c\0.kconfig\0f\0";
    let types = vec![
        1,
        info(kind::INT, 0, false),
        4,
        (1 << 24) | 32, // 1 int
        5,
        info(kind::VAR, 0, false),
        1,
        1, // 2 a (global)
        7,
        info(kind::VAR, 0, false),
        1,
        1, // 3 b (global)
        9,
        info(kind::DATASEC, 2, false),
        0,
        3,
        0,
        4,
        2,
        0,
        4, // 4 .data {b, a}
        15,
        info(kind::VAR, 0, false),
        1,
        2, // 5 c (extern)
        17,
        info(kind::DATASEC, 1, false),
        0,
        5,
        0,
        0, // 6 .kconfig {c}
        0,
        info(kind::FUNC_PROTO, 0, false),
        1, // 7 int (void)
        26,
        info(kind::FUNC, 2, false),
        7, // 8 f (extern)
    ];
    let mut btf = Btf::parse(&blob(&types, s)).unwrap();
    let notes = btf
        .fixup_for_load(
            &|sec| (sec == ".data").then_some(8),
            &|sec, var| match (sec, var) {
                (".data", "a") => Some(0),
                (".data", "b") => Some(4),
                _ => None,
            },
        )
        .unwrap();
    assert!(
        notes.iter().any(|n| n.contains("VAR 'b' offset 0 -> 4")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("sorted")), "{notes:?}");
    let Kind::Datasec { size, vars } = &btf.types[4].kind else {
        panic!()
    };
    assert_eq!(*size, 8);
    assert_eq!(
        vars.iter().map(|v| (v.ty, v.offset)).collect::<Vec<_>>(),
        [(2, 0), (3, 4)]
    );
    let Kind::Datasec { size, vars } = &btf.types[6].kind else {
        panic!()
    };
    assert_eq!((*size, vars[0].offset, vars[0].size), (8, 0, 4));
    assert_eq!(
        btf.types[5].kind,
        Kind::Var {
            ty: 1,
            linkage: linkage::GLOBAL
        }
    );
    assert_eq!(
        btf.types[8].kind,
        Kind::Func {
            proto: 7,
            linkage: linkage::GLOBAL
        }
    );

    // A symbol the ELF does not have is an error naming the section and the variable.
    let mut btf = Btf::parse(&blob(&types, s)).unwrap();
    let e = btf.fixup_for_load(&|_| Some(8), &|_, _| None).unwrap_err();
    assert!(
        e.to_string()
            .contains("DATASEC '.data': no ELF symbol for VAR 'b'"),
        "{e}"
    );
}

/// Anonymous structs each holding two of the previous one: inlining is 2^40 lines.
fn doubling_chain(named_top: bool) -> Btf {
    let mut types = vec![1, info(kind::INT, 0, false), 4, (1 << 24) | 32];
    for k in 2..=41u32 {
        let name = if named_top && k == 41 { 5 } else { 0 };
        types.extend([name, info(kind::STRUCT, 2, false), 8]);
        types.extend([7, k - 1, 0, 9, k - 1, 32]);
    }
    Btf::parse(&blob(&types, b"\0int\0s\0a\0b\0")).unwrap()
}

#[test]
fn hostile_sharing_is_bounded() {
    let btf = doubling_chain(true);
    let s = btf.c_decl(41);
    assert!(s.len() < 50_000_000 && s.contains("too"), "{}", s.len());
    // The same shape on both sides of a type comparison: bounded, an error at worst.
    let r = crate::btf::core::types_match(&btf, 41, &btf, 41);
    assert!(r.is_err() || r.unwrap());
}
