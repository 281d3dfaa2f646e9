//! Driving the real `rbpf-load` binary (built by `make build` into target/debug).

use std::process::{Command, Output};

/// The path of the binary under test.
pub fn bin_path() -> std::path::PathBuf {
    let p = crate::root().join("target/debug/rbpf-load");
    assert!(
        p.exists(),
        "{} is missing: run `make build` first",
        p.display()
    );
    p
}

/// `rbpf-load ARGS...`: its output, whatever the exit code.
pub fn rbpf_load(args: &[&str]) -> Output {
    Command::new(bin_path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run rbpf-load: {e}"))
}

/// Standard output and error together, for assertions on messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run and require success.
pub fn ok(args: &[&str]) -> String {
    let o = rbpf_load(args);
    assert!(
        o.status.success(),
        "rbpf-load {args:?} failed:\n{}",
        text(&o)
    );
    text(&o)
}

/// Run and require failure; returns what it printed.
pub fn fails(args: &[&str]) -> String {
    let o = rbpf_load(args);
    assert!(
        !o.status.success(),
        "rbpf-load {args:?} should have failed:\n{}",
        text(&o)
    );
    text(&o)
}

/// A pin directory a test asked rbpf-load to make: removed when the test ends, also when
/// it fails (removing a pin releases what it held).
pub struct PinDir(pub String);

impl PinDir {
    /// `/sys/fs/bpf/rbpf-test-WHAT-PID`.
    pub fn new(what: &str) -> PinDir {
        PinDir(format!(
            "/sys/fs/bpf/rbpf-test-{what}-{}",
            std::process::id()
        ))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
