//! `Btf::parse` on arbitrary bytes, and `.BTF.ext` on top of a BTF that parsed.
//!
//! Input layout: a blob that starts with the BTF magic (`9f eb`) is all `.BTF`; otherwise
//! the first 4 bytes (little-endian) are the length of a `.BTF` blob that follows, and the
//! rest is `.BTF.ext`. `fuzz/seed.sh` writes seeds of both shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loader::btf::{ext::BtfExt, Btf};

/// Split the input into (.BTF, .BTF.ext).
fn split(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    if data.starts_with(&[0x9f, 0xeb]) || data.len() < 4 {
        return (data, None);
    }
    let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    match data.get(4..).and_then(|r| r.get(..n).map(|b| (b, &r[n..]))) {
        Some((btf, ext)) => (btf, Some(ext)),
        None => (data, None),
    }
}

fuzz_target!(|data: &[u8]| {
    let (btf_bytes, ext_bytes) = split(data);
    let eager = Btf::parse(btf_bytes);
    // The lazy parser (how the kernel's BTF is read for loading) on the same bytes, with a
    // few names announced: it must not panic, and where the eager parser accepts the blob
    // it must give the same types and the same ids by name, announced or not.
    let names: Vec<String> = match &eager {
        Ok(b) => (1..b.len().min(6) as u32).map(|id| b.name(id).to_string()).collect(),
        Err(_) => vec!["int".into()],
    };
    let announced: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    if let Ok(lazy) = Btf::parse_lazy(btf_bytes, &announced) {
        for id in 0..lazy.len() as u32 + 1 {
            let got = lazy.get(id).ok();
            if let Ok(b) = &eager {
                assert_eq!(got, b.get(id).ok(), "lazy type {id}");
            }
        }
        for n in &names {
            let ids: Vec<u32> = lazy.find_all_by_name(n).collect();
            if let Ok(b) = &eager {
                assert_eq!(ids, b.find_all_by_name(n).collect::<Vec<_>>(), "ids named {n}");
            }
        }
    } else {
        assert!(eager.is_err(), "the lazy parser refused what the eager one accepts");
    }
    let Ok(btf) = eager else {
        return;
    };
    // What users of a parsed BTF do with it must not panic either: sizes, names, and map
    // values shown through each type (`map dump`), here the input's first 64 bytes.
    let value = &data[..data.len().min(64)];
    for id in 0..btf.len() as u32 {
        let _ = btf.resolve_size(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = btf.name(id);
        let _ = loader::valuefmt::to_json(&btf, id, value);
    }
    // What BTF_LOAD gets is written back from the parsed form: it must parse again, to
    // the same types.
    if let Ok(bytes) = btf.to_bytes() {
        let again = Btf::parse(&bytes).expect("to_bytes output parses");
        assert_eq!(again.types, btf.types, "round trip keeps every type");
    }
    if let Some(ext) = ext_bytes {
        let _ = BtfExt::parse(ext, &btf);
    }
});
