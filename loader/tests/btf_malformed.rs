//! Damaged BTF and .BTF.ext: every fault is an error that names it, never a panic.
//! The blobs start from a real clang object and are cut or altered here.

use loader::btf::ext::BtfExt;
use loader::btf::{Btf, BtfError};
use object::{Object, ObjectSection};
use std::path::Path;

fn sections() -> (Vec<u8>, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf/xdp_count.bpf.o");
    let data = std::fs::read(&path).expect("target/bpf/xdp_count.bpf.o: run `make bpf`");
    let file = object::File::parse(&*data).unwrap();
    let sec = |n: &str| file.section_by_name(n).unwrap().data().unwrap().to_vec();
    (sec(".BTF"), sec(".BTF.ext"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn put(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn err(b: &[u8]) -> String {
    Btf::parse(b).expect_err("damaged BTF parsed").to_string()
}

#[test]
fn truncated_anywhere_is_an_error() {
    let (btf, _) = sections();
    let hdr = u32_at(&btf, 4) as usize;
    let type_len = u32_at(&btf, 12) as usize;
    // Every header field boundary and every byte of the first types.
    for n in (0..=hdr).chain(hdr..hdr + 200.min(type_len)) {
        let e = err(&btf[..n]);
        assert!(
            e.contains("truncated") || e.contains("magic"),
            "{n} bytes: {e}"
        );
    }
    // Cut inside the string section: the section is shorter than the header says.
    let e = err(&btf[..btf.len() - 1]);
    assert!(e.contains("truncated string section"), "{e}");
}

#[test]
fn bad_magic_version_and_header() {
    let (btf, _) = sections();
    let mut b = btf.clone();
    b[0] = 0x00;
    assert!(matches!(Btf::parse(&b), Err(BtfError::BadMagic(_))));
    let mut b = btf.clone();
    b[2] = 2;
    assert!(err(&b).contains("version 2"));
    let mut b = btf.clone();
    put(&mut b, 4, 8);
    assert!(err(&b).contains("header length 8"));
}

#[test]
fn counts_and_offsets_larger_than_the_file() {
    let (btf, _) = sections();
    let hdr = u32_at(&btf, 4) as usize;
    // type_len past the end.
    let mut b = btf.clone();
    put(&mut b, 12, 0x7fff_ffff);
    assert!(err(&b).contains("type section"), "{}", err(&b));
    // str_off past the end.
    let mut b = btf.clone();
    put(&mut b, 16, 0xffff_fff0);
    assert!(err(&b).contains("string section"), "{}", err(&b));
    // A struct claiming 65535 members: refused before allocating.
    let mut b = btf.clone();
    let (mut off, end) = (hdr, hdr + u32_at(&btf, 12) as usize);
    let mut patched = false;
    while off < end {
        let info = u32_at(&b, off + 4);
        let kind = (info >> 24) & 0x1f;
        if kind == 4 {
            put(&mut b, off + 4, (info & 0xffff_0000) | 0xffff);
            patched = true;
            break;
        }
        off += 12 + record_len(kind, info & 0xffff);
    }
    assert!(patched);
    assert!(err(&b).contains("65535 entries"), "{}", err(&b));
}

/// Trailing bytes of a type record of `kind` with `vlen`.
fn record_len(kind: u32, vlen: u32) -> usize {
    let vlen = vlen as usize;
    match kind {
        1 | 14 | 17 => 4,
        3 => 12,
        4 | 5 | 15 | 19 => 12 * vlen,
        6 | 13 => 8 * vlen,
        _ => 0,
    }
}

#[test]
fn names_and_type_ids_out_of_range() {
    let (btf, _) = sections();
    let hdr = u32_at(&btf, 4) as usize;
    // The first type's name offset past the strings.
    let mut b = btf.clone();
    put(&mut b, hdr, 0x00ff_ffff);
    assert!(
        err(&b).contains("type id 1") && err(&b).contains("name offset"),
        "{}",
        err(&b)
    );
    // Find a PTR and point it past the last type.
    let mut b = btf.clone();
    let (mut off, end) = (hdr, hdr + u32_at(&btf, 12) as usize);
    while off < end {
        let info = u32_at(&b, off + 4);
        let kind = (info >> 24) & 0x1f;
        if kind == 2 {
            put(&mut b, off + 8, 99_999);
            break;
        }
        off += 12 + record_len(kind, info & 0xffff);
    }
    assert!(err(&b).contains("refers to type id 99999"), "{}", err(&b));
    // An unknown kind.
    let mut b = btf.clone();
    put(&mut b, hdr + 4, 31 << 24);
    assert!(err(&b).contains("unknown kind 31"), "{}", err(&b));
}

#[test]
fn every_single_byte_change_is_survived() {
    // Not a check of what is reported (many changes are harmless), only that nothing
    // panics and that any error reads as a sentence.
    let (btf, ext) = sections();
    for i in 0..btf.len() {
        for v in [0x00, 0xff, 0x80] {
            let mut b = btf.clone();
            b[i] = v;
            match Btf::parse(&b) {
                Ok(p) => {
                    for id in 0..p.types.len() as u32 {
                        let _ = p.resolve_size(id);
                        let _ = p.c_decl(id);
                    }
                    let _ = BtfExt::parse(&ext, &p);
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    let good = Btf::parse(&btf).unwrap();
    for i in 0..ext.len() {
        for v in [0x00, 0xff, 0x80] {
            let mut b = ext.clone();
            b[i] = v;
            let _ = BtfExt::parse(&b, &good);
        }
    }
}

#[test]
fn a_typedef_loop_is_an_error_not_a_hang() {
    let (btf, _) = sections();
    let hdr = u32_at(&btf, 4) as usize;
    let (mut off, end, mut id) = (hdr, hdr + u32_at(&btf, 12) as usize, 1u32);
    let mut b = btf.clone();
    let mut looped = None;
    while off < end {
        let info = u32_at(&b, off + 4);
        let kind = (info >> 24) & 0x1f;
        if kind == 8 {
            put(&mut b, off + 8, id); // typedef X X;
            looped = Some(id);
            break;
        }
        off += 12 + record_len(kind, info & 0xffff);
        id += 1;
    }
    let id = looped.expect("a typedef in xdp_count's BTF");
    let p = Btf::parse(&b).unwrap();
    let e = p.resolve_size(id).unwrap_err().to_string();
    assert!(
        e.contains(&format!("type id {id}")) && e.contains("loop"),
        "{e}"
    );
    assert!(p.skip_mods_and_typedefs(id).is_err());
    let _ = p.c_decl(id);
}
