//! For unit tests that need something of this machine (the kernel's BTF, the uapi header,
//! the objects `make bpf` built): skip with one line where it is missing, but never under
//! `RBPF_REQUIRE_PRIV=1` (CI, the VM guests), where a missing prerequisite is a failure.

use std::path::Path;

/// True when `path` exists. Otherwise prints one line saying `test` skips and why, and
/// returns false; under `RBPF_REQUIRE_PRIV=1` it panics instead.
pub(crate) fn have(test: &str, path: &Path, why: &str) -> bool {
    if path.exists() {
        return true;
    }
    let msg = format!("{test}: {} is missing ({why})", path.display());
    if std::env::var("RBPF_REQUIRE_PRIV").as_deref() == Ok("1") {
        panic!("{msg}, and RBPF_REQUIRE_PRIV=1 forbids skipping");
    }
    eprintln!("skipping {msg}");
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn present_paths_are_had() {
        assert!(super::have("t", std::path::Path::new("/"), "the root"));
    }
}
