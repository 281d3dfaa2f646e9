//! Our BTF parser against bpftool's reading of the same bytes: the kernel's BTF and every
//! object clang built into target/bpf.

mod btf_support;
use btf_support::*;

use loader::btf::{kind, Btf};
use std::path::Path;
use std::process::Command;

/// One `[id] KIND 'name' ...` line of `bpftool btf dump ... format raw`.
#[derive(Debug, PartialEq)]
struct RawType {
    id: u32,
    kind: String,
    name: String,
}

fn bpftool_raw(file: &Path) -> Vec<RawType> {
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(file)
        .args(["format", "raw"])
        .output()
        .expect("bpftool runs");
    assert!(
        out.status.success(),
        "bpftool btf dump {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let (id, rest) = l[1..].split_once("] ").unwrap();
            let (kind, rest) = rest.split_once(' ').unwrap();
            let name = rest[1..].split('\'').next().unwrap();
            RawType {
                id: id.parse().unwrap(),
                kind: kind.to_string(),
                name: if name == "(anon)" {
                    String::new()
                } else {
                    name.to_string()
                },
            }
        })
        .collect()
}

fn ours(btf: &Btf) -> Vec<RawType> {
    (1..btf.types.len() as u32)
        .map(|id| RawType {
            id,
            kind: btf.types[id as usize].kind.kind_name().to_string(),
            name: btf.name(id).to_string(),
        })
        .collect()
}

fn assert_same(file: &Path, btf: &Btf) {
    let theirs = bpftool_raw(file);
    let ours = ours(btf);
    assert_eq!(ours.len(), theirs.len(), "{}: type count", file.display());
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o, t, "{}", file.display());
    }
}

#[test]
fn vmlinux_agrees_with_bpftool() {
    let t = std::time::Instant::now();
    let btf = Btf::kernel().unwrap();
    eprintln!("vmlinux: {} types in {:?}", btf.types.len(), t.elapsed());
    let t = std::time::Instant::now();
    let task = btf.find_by_name("task_struct", kind::STRUCT).unwrap();
    eprintln!(
        "vmlinux: name index built and searched in {:?}",
        t.elapsed()
    );
    assert_same(Path::new("/sys/kernel/btf/vmlinux"), &btf);
    assert_eq!(btf.name(task), "task_struct");
    assert!(btf.resolve_size(task).unwrap() > 1000);
}

/// The `.BTF` of every object `make bpf` built: clang -g gives each one, so an object
/// without it fails here rather than being passed over unseen.
fn every_btf() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let objs = bpf_objects();
    let with: Vec<_> = objs
        .iter()
        .filter_map(|p| section(p, ".BTF").map(|d| (p.clone(), d)))
        .collect();
    let without: Vec<_> = objs
        .iter()
        .filter(|p| !with.iter().any(|(w, _)| w == *p))
        .collect();
    assert!(without.is_empty(), "objects without .BTF: {without:?}");
    // One object per source in bpf-src/: fewer is a stale or broken build.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bpf-src");
    let sources = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".bpf.c"))
        })
        .count();
    assert_eq!(
        with.len(),
        sources,
        "objects with .BTF vs sources in bpf-src/"
    );
    with
}

#[test]
fn every_object_agrees_with_bpftool() {
    let all = every_btf();
    for (path, data) in &all {
        let btf = Btf::parse(data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_same(path, &btf);
    }
    eprintln!("{} objects' BTF compared with bpftool", all.len());
}

/// Timing, not a check: `cargo test --release --test btf_parse -- --ignored --nocapture`.
#[test]
#[ignore]
fn vmlinux_parse_time() {
    let t = std::time::Instant::now();
    let data = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    eprintln!("read {} bytes in {:?}", data.len(), t.elapsed());
    let mut best = std::time::Duration::MAX;
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let btf = Btf::parse(&data).unwrap();
        best = best.min(t.elapsed());
        drop(btf);
    }
    eprintln!("parse: best of 20 {best:?}");
}

#[test]
fn vmlinux_round_trips() {
    let data = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let btf = Btf::parse(&data).unwrap();
    let out = btf.to_bytes().unwrap();
    assert_eq!(out.len(), data.len());
    if let Some(i) = out.iter().zip(&data).position(|(a, b)| a != b) {
        panic!("first difference at byte {i}");
    }
}

#[test]
fn every_object_round_trips() {
    for (path, data) in every_btf() {
        let btf = Btf::parse(&data).unwrap();
        assert!(
            btf.to_bytes().unwrap() == data,
            "{}: to_bytes differs",
            path.display()
        );
    }
}
