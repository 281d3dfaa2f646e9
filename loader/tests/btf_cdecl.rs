//! Our C declarations against `bpftool btf dump ... format c`: every named struct, union,
//! enum and typedef that bpftool prints as a paragraph must read the same from c_decl.

mod btf_support;
use btf_support::*;

use loader::btf::{kind, Btf};
use std::path::Path;
use std::process::Command;

fn btf_of(path: &Path) -> Option<Btf> {
    use object::{Object, ObjectSection};
    if path.starts_with("/sys") {
        return Some(Btf::from_file(path.to_str().unwrap()).unwrap());
    }
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    Some(Btf::parse(file.section_by_name(".BTF")?.data().unwrap()).unwrap())
}

/// (paragraphs compared, mismatches as (ours, bpftool's)).
fn compare(path: &Path) -> (usize, Vec<(String, String)>) {
    let Some(btf) = btf_of(path) else {
        return (0, vec![]);
    };
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(path)
        .args(["format", "c"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut n, mut bad) = (0, vec![]);
    for para in text.split("\n\n") {
        let para = para.trim_matches('\n');
        let first = para.lines().next().unwrap_or("");
        let (k, name) = if let Some(r) = first.strip_prefix("struct ") {
            (kind::STRUCT, r.split(' ').next().unwrap())
        } else if let Some(r) = first.strip_prefix("union ") {
            (kind::UNION, r.split(' ').next().unwrap())
        } else if let Some(r) = first.strip_prefix("enum ") {
            (kind::ENUM, r.split(' ').next().unwrap())
        } else if first.starts_with("typedef ") && para.lines().count() == 1 {
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            let last_ident = |s: &str| -> String {
                let r: String = s
                    .chars()
                    .rev()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                r.chars().rev().collect()
            };
            let body = para.trim_end_matches(';');
            let name = if let Some((_, r)) = body.split_once("(*") {
                ident(r)
            } else if let Some((l, _)) = body.split_once('(') {
                last_ident(l)
            } else if let Some((l, _)) = body.split_once('[') {
                last_ident(l)
            } else {
                last_ident(body)
            };
            let name: &str = Box::leak(name.into_boxed_str());
            (kind::TYPEDEF, name)
        } else {
            continue;
        };
        // bpftool renames clashing names (`foo___2`) and adds layout attributes and
        // padding of its own; those paragraphs say more than the BTF does.
        if para.contains("___") || para.contains("__attribute__") || para.contains(": 0;") {
            continue;
        }
        let name = name.trim_end_matches(';');
        let id = btf.find_by_name(name, k).or_else(|| {
            (k == kind::ENUM)
                .then(|| btf.find_by_name(name, kind::ENUM64))
                .flatten()
        });
        let Some(id) = id else { continue };
        // A forward declaration paragraph (`struct foo;`) is not a definition.
        if para.ends_with(&format!("{name};")) && k != kind::TYPEDEF {
            continue;
        }
        n += 1;
        // Both sides without padding lines: we print them only for memberless types.
        let ours = without_padding(&without_union_packed(&without_enum_mode(&btf.c_decl(id))));
        let theirs = without_padding(para);
        if ours != theirs {
            bad.push((ours, theirs));
        }
    }
    (n, bad)
}

/// bpftool marks holes with nameless bitfields (`int: 13;`, `long: 64;`); BTF has no such
/// members, so they are not ours to print.
fn without_padding(para: &str) -> String {
    let pad = |l: &str| {
        let t = l.trim();
        t.strip_suffix(';')
            .and_then(|t| t.split_once(": "))
            .is_some_and(|(ty, n)| {
                n.parse::<u32>().is_ok()
                    && matches!(ty, "char" | "short" | "int" | "long" | "long long")
            })
    };
    para.lines()
        .filter(|l| !pad(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A union whose size is not a multiple of its widest member's alignment (6.12's
/// `ec_response_get_next_data_v3`: 18 bytes holding a u64) is packed, and we say so;
/// libbpf 1.1's dump does not check unions, and clang then makes it 24 bytes.
/// tests/tests/gen_build.rs checks that layout with clang, so here only bpftool's
/// wording is compared.
fn without_union_packed(para: &str) -> String {
    if !para.starts_with("union ") {
        return para.to_string();
    }
    para.replace("} __attribute__((packed));", "};")
}

/// We give an enum of another size than C's its size (`__attribute__((mode(QI)))` for a
/// one-byte `__packed` enum); bpftool 7.1 does not, and so lays out `struct inode` wrong
/// (tests/tests/gen_build.rs checks every struct's layout with clang).
fn without_enum_mode(para: &str) -> String {
    ["QI", "HI", "SI", "DI"]
        .iter()
        .fold(para.to_string(), |p, m| {
            p.replace(&format!(" __attribute__((mode({m})))"), "")
        })
}

/// The first line where two texts differ, for a readable failure.
fn first_diff(a: &str, b: &str) -> String {
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            return format!("ours:    {x}\nbpftool: {y}");
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn objects_read_like_bpftool() {
    let mut total = 0;
    for path in bpf_objects() {
        let (n, bad) = compare(&path);
        total += n;
        if let Some((ours, theirs)) = bad.first() {
            panic!(
                "{}: {} of {n} differ; first:\n{}",
                path.display(),
                bad.len(),
                first_diff(ours, theirs)
            );
        }
    }
    assert!(total > 20, "only {total} declarations compared");
}

#[test]
fn vmlinux_reads_like_bpftool() {
    let (n, bad) = compare(Path::new("/sys/kernel/btf/vmlinux"));
    eprintln!("vmlinux: {n} declarations compared, {} differ", bad.len());
    for (ours, theirs) in bad.iter().take(8) {
        eprintln!("{}", first_diff(ours, theirs));
    }
    assert!(n > 10_000);
    assert!(bad.is_empty());
}

#[test]
fn functions_variables_and_sections_are_declared() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf/core_fields.bpf.o");
    let dump = btf_of(&path).unwrap().c_dump();
    // Straight from bpf-src/core_fields.bpf.c.
    for want in [
        "int core_fields(void *ctx);",
        "struct core_results results;",
        "char LICENSE[4];",
        "/* section \".bss\", 0 bytes */",
        "struct task_struct___rbpf {\n\tint pid;\n\tlong rbpf_made_up_member;\n};",
        "enum bpf_map_type___rbpf {\n\tBPF_MAP_TYPE_RINGBUF___rbpf = 1,\n\tRBPF_MADE_UP_MAP_TYPE___rbpf = 2,\n};",
    ] {
        assert!(dump.contains(want), "missing {want:?} in:\n{dump}");
    }
}
