//! Shared test support: privilege checks that never skip silently in CI, throwaway network
//! labs (two namespaces joined by a veth pair) that clean up after themselves, and the path
//! of the built BPF objects.

pub mod bin;
pub mod cli;
pub mod kernel;
pub mod lab;
pub mod pins;
pub mod vm;

use std::path::PathBuf;

/// The workspace root (where the Makefile is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

/// A clang-built object from bpf-src/ (built by `make bpf` into target/bpf/).
pub fn bpf_obj(name: &str) -> PathBuf {
    let p = root().join("target/bpf").join(format!("{name}.bpf.o"));
    assert!(
        p.exists(),
        "{} is missing: run `make bpf` (or `make test`) first",
        p.display()
    );
    p
}

/// Every object built from bpf-src/.
pub fn all_bpf_objs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("target/bpf"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    assert!(!v.is_empty(), "no objects in target/bpf: run `make bpf`");
    v
}

/// May this test use privileged things (bpf(2), netns)? Returns false (after printing one
/// line saying why) when it should skip; under `RBPF_REQUIRE_PRIV=1` (CI) it panics instead,
/// so a privileged test never skips unseen.
pub fn privileged(test: &str) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if !std::path::Path::new("/sys/fs/bpf").exists() {
        Some("no /sys/fs/bpf")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("RBPF_REQUIRE_PRIV").as_deref() == Ok("1") {
                panic!("{test}: needs privileges ({why}) and RBPF_REQUIRE_PRIV=1 forbids skipping");
            }
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

/// Skip (return) from a test unless privileged.
#[macro_export]
macro_rules! require_priv {
    () => {
        if !$crate::privileged(module_path!()) {
            return;
        }
    };
}

/// Run an external command; panic with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ids of every BPF program currently loaded (for "nothing stays in the kernel" checks).
pub fn prog_ids() -> Vec<u32> {
    loader::sys::all_ids(loader::sys::ObjKind::Prog).unwrap_or_default()
}
