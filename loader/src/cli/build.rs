//! `rbpf-load build PROG.bpf.c [-o OUT]`: clang with what a BPF program needs (`-target bpf`,
//! `-O2`, `-g` for BTF, the architecture for `PT_REGS`, the multiarch include directory for
//! `<asm/types.h>`) and a vmlinux.h made from this kernel's BTF when the program has none.

use super::args::BuildArgs;
use super::{CliError, CliResult};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `$CLANG`, else clang-19, else clang, from `PATH`.
fn find_clang() -> CliResult<PathBuf> {
    if let Some(c) = std::env::var_os("CLANG").filter(|c| !c.is_empty()) {
        return Ok(PathBuf::from(c));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["clang-19", "clang"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(CliError::new("clang not found (tried $CLANG, clang-19 and clang in PATH)")
        .hint("install it (Debian: `apt-get install clang-19`), or name one with CLANG=/path/to/clang"))
}

/// `__TARGET_ARCH_*`, as libbpf's bpf_tracing.h wants it, for this machine.
fn target_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" | "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390",
        "powerpc64" => "powerpc",
        "riscv64" => "riscv",
        "loongarch64" => "loongarch",
        _ => "x86",
    }
}

/// Where `<asm/types.h>` lives on Debian-like systems (`/usr/include/x86_64-linux-gnu`).
fn multiarch_include() -> Option<PathBuf> {
    let dir = PathBuf::from(format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH));
    dir.join("asm/types.h").exists().then_some(dir)
}

/// The generation of `gen vmlinux-h`'s output that a cached header must come from: raise
/// it whenever the header changes (2: an enum without values is a forward declaration).
const HEADER_FORMAT: u32 = 2;

/// A directory with a vmlinux.h: one of the program's own, else one generated for this
/// kernel and kept under ~/.cache/rbpf-load/RELEASE-hFORMAT/.
fn vmlinux_dir(a: &BuildArgs) -> CliResult<PathBuf> {
    let src_dir = match a.source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for d in a.include.iter().chain(std::iter::once(&src_dir)) {
        if d.join("vmlinux.h").exists() {
            return Ok(d.clone());
        }
    }
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    // A header written by an older generator is not reused.
    let release = format!("{release}-h{HEADER_FORMAT}");
    let cache =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rbpf-load").join(&release));
    // A read-only home (a container, a VM sharing the host's root): a private temporary
    // directory instead.
    let uid = nix::unistd::geteuid();
    let tmp = std::env::temp_dir()
        .join(format!("rbpf-load-{uid}"))
        .join(&release);
    let mut last = None;
    for dir in cache.into_iter().chain(std::iter::once(tmp)) {
        match cached_vmlinux_h(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| CliError::new("no directory for vmlinux.h")))
}

/// `dir/vmlinux.h`, generated unless there already, in a directory only we can write.
fn cached_vmlinux_h(dir: &Path) -> CliResult {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let err = |e: std::io::Error| CliError::new(format!("{}: {e}", dir.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let meta = std::fs::metadata(dir).map_err(err)?;
    if meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return Err(CliError::new(format!(
            "{}: not a directory of ours alone",
            dir.display()
        )));
    }
    if !dir.join("vmlinux.h").exists() {
        let text = super::gen::vmlinux_h(Path::new("/sys/kernel/btf/vmlinux"))?;
        super::gen::write_file(&dir.join("vmlinux.h"), &text)?;
    }
    Ok(())
}

/// The object's default name: `hello.bpf.c` -> `hello.bpf.o`.
fn default_output(src: &Path) -> PathBuf {
    src.with_extension("o")
}

/// What to do about clang's complaints we recognise.
fn hint_for(stderr: &str) -> Option<&'static str> {
    if stderr.contains("'asm/types.h' file not found") {
        Some("<linux/*.h> headers include <asm/types.h>, which lives in the multiarch directory: add -I/usr/include/$(uname -m)-linux-gnu, or include \"vmlinux.h\" instead of <linux/*.h>")
    } else if stderr.contains("'bpf/bpf_helpers.h' file not found") {
        Some("libbpf's headers are missing (Debian: `apt-get install libbpf-dev`)")
    } else if stderr.contains("'vmlinux.h' file not found") {
        Some("`rbpf-load gen vmlinux-h -o vmlinux.h` writes one for this kernel")
    } else {
        None
    }
}

pub fn run(a: &BuildArgs) -> CliResult {
    let clang = find_clang()?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| default_output(&a.source));
    let vmlinux = vmlinux_dir(a)?;
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall"])
        .arg(format!("-D__TARGET_ARCH_{}", target_arch()));
    for d in &a.include {
        cmd.arg("-I").arg(d);
    }
    cmd.arg("-I").arg(&vmlinux);
    if let Some(m) = multiarch_include() {
        cmd.arg("-idirafter").arg(m);
    }
    cmd.arg("-c").arg(&a.source).arg("-o").arg(&out);
    if a.verbose {
        println!("{cmd:?}");
    }
    let res = cmd
        .output()
        .map_err(|e| CliError::new(format!("{}: {e}", clang.display())))?;
    let stderr = String::from_utf8_lossy(&res.stderr);
    eprint!("{stderr}");
    if !res.status.success() {
        let err = CliError::new(format!(
            "clang could not build {} ({})",
            a.source.display(),
            res.status
        ));
        return Err(match hint_for(&stderr) {
            Some(h) => err.hint(h),
            None => err,
        });
    }
    println!(
        "{}: built from {} by {} (vmlinux.h from {})",
        out.display(),
        a.source.display(),
        clang.display(),
        vmlinux.display()
    );
    Ok(())
}
