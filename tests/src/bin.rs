//! The `rbpf-load` binary, run as a user would (built by `make build` before the tests).

use std::path::PathBuf;
use std::process::{Command, Output};

/// target/debug/rbpf-load.
pub fn bin() -> PathBuf {
    let p = crate::root().join("target/debug/rbpf-load");
    assert!(
        p.exists(),
        "{} is missing: run `make build` (or `make test`) first",
        p.display()
    );
    p
}

/// Run `rbpf-load ARGS`; returns the whole output, whatever the exit status.
pub fn rbpf_load(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run rbpf-load {args:?}: {e}"))
}

/// Run `rbpf-load ARGS`, which must succeed; returns standard output.
pub fn rbpf_load_ok(args: &[&str]) -> String {
    let out = rbpf_load(args);
    assert!(
        out.status.success(),
        "rbpf-load {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rbpf-load ARGS -j`, parsed.
pub fn rbpf_load_json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("-j");
    let text = rbpf_load_ok(&a);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("rbpf-load {a:?}: not JSON ({e}):\n{text}"))
}
