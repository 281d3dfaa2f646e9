//! Small pieces the commands share.

use super::{CliError, CliResult};
use crate::btf::{kind, Kind};
use crate::load::LoadError;
use crate::obj::Object;

/// Apply `--set NAME=VALUE` (an integer, sized from the variable's BTF type).
pub fn apply_sets(obj: &mut Object, sets: &[String]) -> CliResult {
    for s in sets {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| CliError::new(format!("--set {s}: expected NAME=VALUE")))?;
        let size = obj
            .btf
            .as_ref()
            .and_then(|b| {
                let id = b.find_by_name(name, kind::VAR)?;
                match &b.get(id).ok()?.kind {
                    Kind::Var { ty, .. } => b.resolve_size(*ty).ok(),
                    _ => None,
                }
            })
            .ok_or_else(|| CliError::new(format!("--set {name}: no global variable '{name}' with a known size in the object's BTF")))?;
        let v: i128 = parse_int(value)
            .ok_or_else(|| CliError::new(format!("--set {name}: '{value}' is not an integer")))?;
        let bytes = v.to_le_bytes();
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(CliError::new(format!(
                "--set {name}: the variable is {size} bytes, not an integer"
            )));
        }
        obj.set_global(name, &bytes[..size as usize])?;
    }
    Ok(())
}

/// Decimal or 0x-prefixed hexadecimal, possibly negative.
pub fn parse_int(s: &str) -> Option<i128> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s),
    };
    let v = match t.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => t.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// A load failure for the user: the verifier's reason and line, the tail of its log
/// (all of it with -v), and a hint.
pub fn load_error(e: LoadError, verbose: bool) -> CliError {
    match e {
        LoadError::Verifier(v) => {
            let lines: Vec<&str> = v.log.lines().collect();
            let detail = if verbose {
                format!("verifier log:\n{}", v.log)
            } else {
                let tail = &lines[lines.len().saturating_sub(8)..];
                format!(
                    "verifier log (last {} lines; -v for all):\n  {}",
                    tail.len(),
                    tail.join("\n  ")
                )
            };
            let msg = v.to_string();
            CliError {
                hint: Some(verifier_hint(&msg).into()),
                msg,
                detail: Some(detail),
            }
        }
        other => CliError::new(other.to_string()),
    }
}

/// What to do about a verifier rejection.
fn verifier_hint(msg: &str) -> &'static str {
    if msg.contains("unknown opcode 8d") {
        // BPF_CALL|BPF_X: clang -O0 calls helpers through a register.
        "an indirect call (callx): built without optimisation? Build with clang -O2 (rbpf-load build does)"
    } else {
        "the verifier proves programs safe before they run: check bounds before every packet or map-value access"
    }
}

/// Mount bpffs at /sys/fs/bpf if needed (pins need it).
pub fn ensure_bpffs() -> CliResult {
    crate::sys::ensure_bpffs(std::path::Path::new("/sys/fs/bpf")).map_err(|e| {
        CliError::new(format!("bpffs: {e}")).hint("mount it with `mount -t bpf bpf /sys/fs/bpf`")
    })
}

/// `--pin-root` and `--reuse-map NAME=PATH` into the load's options.
pub fn apply_share(opts: &mut crate::load::LoadOptions, s: &super::args::ShareArgs) -> CliResult {
    opts.pin_root = s.pin_root.clone();
    for r in &s.reuse_map {
        let (name, path) = r
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            .ok_or_else(|| {
                CliError::new(format!("--reuse-map {r}: expected NAME=PATH"))
                    .hint("e.g. --reuse-map counts=/sys/fs/bpf/counts")
            })?;
        opts.reuse_maps
            .insert(name.to_string(), std::path::PathBuf::from(path));
    }
    Ok(())
}

/// `-v`: the verifier's log of each program that has one, after what was printed about it.
pub fn print_verifier_logs(loaded: &crate::load::Loaded, level: u8) {
    for p in &loaded.programs {
        if let Some(log) = &p.verifier_log {
            println!(
                "verifier log of prog '{}' (log_level {}):",
                p.name,
                level.min(2)
            );
            for l in log.lines() {
                println!("  {l}");
            }
        }
    }
}

/// `--prog-array MAP[IDX]=PROG`: fill the tail-call slots the user asked for.
pub fn fill_prog_arrays(a: &super::args::AttachArgs, loaded: &crate::load::Loaded) -> CliResult {
    for pa in &a.prog_array {
        let (map, idx, p) = parse_prog_array(pa)?;
        loaded
            .set_tail_call(&map, idx, &p)
            .map_err(|e| CliError::new(e.to_string()))?;
        if a.explain {
            explain_line!("map '{map}' slot {idx} = prog '{p}'");
        }
    }
    Ok(())
}

/// `MAP[IDX]=PROG`
pub fn parse_prog_array(s: &str) -> CliResult<(String, u32, String)> {
    let bad = || CliError::new(format!("--prog-array {s}: expected MAP[IDX]=PROG"));
    let (lhs, prog) = s.split_once('=').ok_or_else(bad)?;
    let (map, rest) = lhs.split_once('[').ok_or_else(bad)?;
    let idx = rest
        .strip_suffix(']')
        .and_then(|i| i.parse().ok())
        .ok_or_else(bad)?;
    Ok((map.to_string(), idx, prog.to_string()))
}

/// `--target PROG|id:N|PIN`: the program fentry/fexit programs attach to.
pub fn target_prog(t: &str) -> CliResult<crate::load::TargetProg> {
    use crate::load::TargetProg;
    if let Some(id) = t.strip_prefix("id:") {
        let id: u32 = id
            .parse()
            .map_err(|_| CliError::new(format!("--target {t}: bad id")))?;
        let fd = crate::sys::fd_by_id(crate::sys::ObjKind::Prog, id)
            .map_err(|e| CliError::new(format!("--target {t}: {e}")))?;
        return Ok(TargetProg::Fd(fd));
    }
    if t.starts_with('/') {
        let fd = crate::sys::obj_get(std::path::Path::new(t))
            .map_err(|e| CliError::new(format!("--target {t}: {e}")))?;
        return Ok(TargetProg::Fd(fd));
    }
    Ok(TargetProg::Named(t.to_string()))
}

pub fn nl() -> CliResult<netlink::Handle> {
    netlink::Handle::new().map_err(|e| CliError::new(e.to_string()))
}

/// A netlink handle that narrates its messages when `explain` is set.
pub fn nl_explained(explain: bool) -> CliResult<netlink::Handle> {
    let mut h = nl()?;
    if explain {
        h.set_explain(Box::new(|s: &str| explain_line!("{s}")));
    }
    Ok(h)
}

/// The load options every attach starts from: the verifier log levels of `-v`/`-vv`, who
/// resolves CO-RE, `--explain` narration, and the maps shared through bpffs.
pub fn attach_load_options(a: &super::args::AttachArgs) -> CliResult<crate::load::LoadOptions> {
    let mut opts = crate::load::LoadOptions {
        log_level: u32::from(a.verbose.clamp(1, 2)),
        success_log_level: u32::from(a.verbose.min(2)),
        core: a.core,
        explain: a
            .explain
            .then(|| Box::new(|s: &str| explain_line!("{s}")) as crate::load::Narrator),
        ..Default::default()
    };
    apply_share(&mut opts, &a.share)?;
    Ok(opts)
}
