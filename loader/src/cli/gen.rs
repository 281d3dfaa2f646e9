//! `rbpf-load gen vmlinux-h [-o FILE]`: the running kernel's types as one C header, from our
//! own BTF reader, as `bpftool btf dump file /sys/kernel/btf/vmlinux format c` prints them.

use super::{CliError, CliResult};
use crate::btf::Btf;
use std::io::Write;
use std::path::Path;

/// The header for the BTF file at `btf` (the kernel's by default).
pub fn vmlinux_h(btf: &Path) -> CliResult<String> {
    let b = Btf::from_file(&btf.display().to_string()).map_err(|e| {
        CliError::new(format!("{}: {e}", btf.display()))
            .hint("the kernel publishes its types at /sys/kernel/btf/vmlinux when built with CONFIG_DEBUG_INFO_BTF=y")
    })?;
    Ok(b.c_header())
}

pub fn run(btf: &Path, out: Option<&Path>) -> CliResult {
    let text = vmlinux_h(btf)?;
    match out {
        Some(p) => write_file(p, &text),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::new(format!("standard output: {e}"))),
    }
}

/// Write through a temporary file, so that a reader never sees half a header.
pub fn write_file(p: &Path, text: &str) -> CliResult {
    let tmp = p.with_extension("h.tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, p))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::new(format!("{}: {e}", p.display()))
        })
}
