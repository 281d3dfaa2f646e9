//! The `rbpf-load` binary for tests that read its standard output alone, or its JSON
//! (the rest is in [`crate::cli`]).

use std::path::PathBuf;
use std::process::Output;

/// target/debug/rbpf-load (built by `make build`).
pub fn bin() -> PathBuf {
    crate::cli::bin_path()
}

/// Run `rbpf-load ARGS`; the whole output, whatever the exit status.
pub fn rbpf_load(args: &[&str]) -> Output {
    crate::cli::rbpf_load(args)
}

/// Run `rbpf-load ARGS`, which must succeed; returns standard output only.
pub fn rbpf_load_ok(args: &[&str]) -> String {
    let out = rbpf_load(args);
    assert!(
        out.status.success(),
        "rbpf-load {args:?} failed ({}):\n{}",
        out.status,
        crate::cli::text(&out)
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
