//! Helpers shared by the `btf_*` integration tests: where the clang-built objects are,
//! their ELF sections, and the privileged-test gate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `target/bpf` of this workspace (built by `make bpf`).
pub fn bpf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf")
}

/// `target/bpf/NAME.bpf.o`.
pub fn bpf_obj(name: &str) -> PathBuf {
    let p = bpf_dir().join(format!("{name}.bpf.o"));
    assert!(p.exists(), "{} is missing: run `make bpf`", p.display());
    p
}

/// Every `*.bpf.o` in target/bpf, sorted; at least one.
pub fn bpf_objects() -> Vec<PathBuf> {
    let dir = bpf_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `make bpf` first", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    v.sort();
    assert!(
        !v.is_empty(),
        "no objects in {}: run `make bpf`",
        dir.display()
    );
    v
}

/// The bytes of ELF section `name` of the object at `path`.
pub fn section(path: &Path, name: &str) -> Option<Vec<u8>> {
    use object::{Object, ObjectSection};
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let sec = file.section_by_name(name)?;
    Some(sec.data().unwrap().to_vec())
}

/// May this test use bpf(2)? False (after one line saying why) when not root; under
/// `RBPF_REQUIRE_PRIV=1` it panics instead, so a privileged test never skips unseen.
pub fn privileged(test: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var("RBPF_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("{test}: needs root and RBPF_REQUIRE_PRIV=1 forbids skipping");
    }
    eprintln!("skipping {test}: not root");
    false
}
