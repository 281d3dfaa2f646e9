//! Tracing programs from the command line (raw tracepoints, tracepoints, fentry/fexit,
//! kprobes), and `--foreground`: print events until Ctrl-C / SIGTERM / SIGHUP, then clean up.

use super::args::AttachArgs;
use super::util::{ensure_bpffs, load_error};
use super::{CliError, CliResult};
use crate::attach::{self, Link, Tracing};
use crate::events::{PerfEventArray, RingBuf};
use crate::load::{self, LoadOptions, Loaded};
use crate::obj::{map_type, Object, Program};
use crate::section::{AttachKind, SectionDef};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

pub fn run(
    a: &AttachArgs,
    obj: &Object,
    prog: &Program,
    def: SectionDef,
    mut opts: LoadOptions,
) -> CliResult {
    if !a.foreground && a.pin.is_none() {
        return Err(CliError::new(format!(
            "prog '{}' ({}): a tracing attachment lives as long as its link",
            prog.name, prog.section
        ))
        .hint("add --foreground (print events, detach on Ctrl-C) or --pin DIR (keep it; `rbpf-load detach --pin DIR` removes it)"));
    }
    // Load this program, the ones named in --prog-array, and tail-call targets.
    let mut only = vec![prog.name.clone()];
    for pa in &a.prog_array {
        let (_, _, p) = super::util::parse_prog_array(pa)?;
        if !only.contains(&p) {
            only.push(p);
        }
    }
    opts.only = Some(only);
    // Signals are blocked from here on, so a second Ctrl-C cannot cut a cleanup short.
    let sigfd = block_signals()?;
    let loaded = load::load(obj, &opts).map_err(|e| load_error(e, a.verbose > 0))?;
    super::util::fill_prog_arrays(a, &loaded)?;
    let lp = loaded
        .program(&prog.name)
        .ok_or_else(|| CliError::new(format!("prog '{}' was not loaded", prog.name)))?;
    if a.explain {
        explain_line!(
            "-- attach '{}' ({}): {}",
            prog.name,
            prog.section,
            match def.attach {
                AttachKind::RawTracepoint => "bpf(BPF_RAW_TRACEPOINT_OPEN) with the tracepoint's name gives a link fd",
                AttachKind::Tracepoint => "perf_event_open() on the tracepoint's id (from tracefs), then bpf(BPF_LINK_CREATE) ties the program to that event",
                AttachKind::TpBtf | AttachKind::Trampoline => "bpf(BPF_LINK_CREATE) on the BTF id given at load time: the kernel builds a trampoline that calls the program",
                AttachKind::Kprobe { .. } => "perf_event_open() on the kprobe PMU for the function, then bpf(BPF_LINK_CREATE)",
                _ => "",
            }
        );
        explain_line!("   why: a tracing attachment lives as long as its link: --foreground holds the fd until Ctrl-C, --pin keeps it in bpffs until `detach --pin`");
    }
    let link = attach_one(lp.fd.as_fd(), &def, prog)?;
    println!("{}", link_line(&link, lp));
    if let Some(dir) = &a.pin {
        super::pins::with_tree(|| {
            ensure_bpffs()?;
            let pinned = loaded
                .pin_all(dir)
                .map_err(|e| CliError::new(e.to_string()));
            let pinned = pinned.and_then(|_| {
                link.pin(&dir.join("link"))
                    .map_err(|e| CliError::new(e.to_string()))
            });
            if pinned.is_err() {
                let _ = std::fs::remove_dir_all(dir);
            }
            pinned
        })?;
        if a.explain {
            explain_line!(
                "bpf(BPF_OBJ_PIN) of the programs, maps and the link under {}",
                dir.display()
            );
            explain_line!("   why: the link is the attachment; pinned, it outlives rbpf-load until `detach --pin` removes it");
        }
        println!(
            "pinned at {} (remove with `rbpf-load detach --pin {}`)",
            dir.display(),
            dir.display()
        );
    }
    if a.verbose > 0 {
        super::util::print_verifier_logs(&loaded, a.verbose);
    }
    if a.pin.is_some() && !a.foreground {
        return Ok(());
    }
    let res = wait_with(a, obj, &loaded, sigfd);
    drop(link);
    if let (Some(dir), true) = (&a.pin, a.foreground) {
        let _ = super::pins::with_tree(|| Ok(std::fs::remove_dir_all(dir)));
    }
    // Not println!: the reader may be gone (SIGPIPE is blocked by now).
    let _ = writeln!(std::io::stdout(), "detached");
    res
}

/// The line that reports a tracing attachment: `WHAT: prog id N 'NAME', link id M`.
pub(super) fn link_line(link: &Link, lp: &load::LoadedProgram) -> String {
    format!(
        "{}: prog id {} '{}'{}",
        link.what(),
        lp.id,
        lp.name,
        link.id()
            .map(|i| format!(", link id {i}"))
            .unwrap_or_default()
    )
}

pub(super) fn attach_one(
    prog: std::os::fd::BorrowedFd,
    def: &SectionDef,
    p: &Program,
) -> CliResult<Link> {
    let arg = || {
        p.attach_arg.clone().ok_or_else(|| {
            CliError::new(format!(
                "section '{}' does not say where to attach",
                p.section
            ))
        })
    };
    let res = match def.attach {
        AttachKind::RawTracepoint => attach::attach_raw_tracepoint(prog, &arg()?),
        AttachKind::Tracepoint => {
            let a = arg()?;
            let (cat, name) = a
                .split_once('/')
                .ok_or_else(|| CliError::new(format!("section '{}': expected tracepoint/CATEGORY/NAME", p.section)))?;
            attach::attach_tracepoint(prog, cat, name)
        }
        AttachKind::TpBtf | AttachKind::Trampoline => {
            let kind = Tracing::from_attach_type(def.expected_attach_type)
                .ok_or_else(|| CliError::new(format!("section '{}': unknown tracing kind", p.section)))?;
            attach::attach_tracing(prog, kind)
        }
        AttachKind::Kprobe { ret } => attach::attach_kprobe(prog, &arg()?, 0, ret),
        // uprobe/PATH:SYMBOL, as libbpf spells it.
        AttachKind::Uprobe { ret } => {
            let a = arg()?;
            let (path, sym) = a
                .rsplit_once(':')
                .ok_or_else(|| CliError::new(format!("section '{}': expected uprobe/PATH:SYMBOL", p.section)))?;
            attach::attach_uprobe(prog, std::path::Path::new(path), sym, 0, ret, None)
        }
        _ => {
            return Err(CliError::new(format!(
                "prog '{}' (section '{}') is not attached by rbpf-load: load it with `rbpf-load load --pin DIR` and attach it yourself",
                p.name, p.section
            )))
        }
    };
    res.map_err(|e| CliError::new(e.to_string()))
}

pub(super) fn block_signals() -> CliResult<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGHUP);
    // A reader that goes away (`| head`) must not kill us before we clean up: blocked, the
    // write fails with EPIPE instead, and the loop below detaches.
    mask.add(Signal::SIGPIPE);
    mask.thread_block()
        .map_err(|e| CliError::new(format!("blocking signals: {e}")))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| CliError::new(format!("signalfd: {e}")))
}

/// Stay until SIGINT/SIGTERM/SIGHUP, printing events. For XDP/tc attachments.
pub fn wait_foreground(a: &AttachArgs, obj: &Object, loaded: &Loaded) -> CliResult {
    let sigfd = block_signals()?;
    wait_with(a, obj, loaded, sigfd)
}

enum Reader {
    Perf(PerfEventArray),
    Ring(RingBuf),
}

pub(super) fn wait_with(
    a: &AttachArgs,
    obj: &Object,
    loaded: &Loaded,
    sigfd: SignalFd,
) -> CliResult {
    let mut readers = Vec::new();
    for spec in &a.events {
        let (map, ty) = match spec.split_once('=') {
            Some((m, t)) => (m, Some(t)),
            None => (spec.as_str(), None),
        };
        let lm = loaded.map(map).ok_or_else(|| {
            CliError::new(format!("--events {map}: no such map")).hint(format!(
                "maps: {}",
                loaded
                    .maps
                    .iter()
                    .map(|m| m.def.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let type_id = match ty {
            None => None,
            Some(t) => Some(
                obj.btf
                    .as_ref()
                    .and_then(|b| crate::events::format::record_type(b, t))
                    .ok_or_else(|| {
                        CliError::new(format!(
                            "--events {spec}: no struct '{t}' in the object's BTF"
                        ))
                    })?,
            ),
        };
        let r = match lm.def.map_type {
            map_type::PERF_EVENT_ARRAY => Reader::Perf(
                PerfEventArray::open(lm.fd.as_fd(), 64)
                    .map_err(|e| CliError::new(e.to_string()))?,
            ),
            map_type::RINGBUF => Reader::Ring(
                RingBuf::open(lm.fd.as_fd()).map_err(|e| CliError::new(e.to_string()))?,
            ),
            t => {
                return Err(CliError::new(format!(
                    "--events {map}: a {} map has no events (perf event array or ring buffer only)",
                    map_type::name(t)
                )))
            }
        };
        readers.push((map.to_string(), r, type_id));
    }
    let mut pipe = if a.trace_pipe {
        let p = crate::attach::tracefs_root()
            .map(|r| r.join("trace_pipe"))
            .map_err(|e| CliError::new(e.to_string()))?;
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&p)
                .map_err(|e| CliError::new(format!("{}: {e}", p.display())))?,
        )
    } else {
        None
    };
    let stdout_gone = writeln!(std::io::stdout(), "running; Ctrl-C to detach").is_err();
    let btf = obj.btf.as_ref();
    // Events printed, against --count: the ones past it are not printed.
    let shown = std::cell::Cell::new(0u64);
    let limit = a.count.unwrap_or(u64::MAX);
    // Set when stdout's reader is gone (EPIPE): time to detach.
    let closed = std::cell::Cell::new(stdout_gone);
    let show = |map: &str, ty: Option<u32>, data: &[u8]| {
        if shown.get() >= limit || closed.get() {
            return;
        }
        shown.set(shown.get() + 1);
        let line = match (btf, ty) {
            (Some(b), Some(t)) => format!("{map}: {}", crate::valuefmt::to_json(b, t, data)),
            _ => format!("{map}: {}", crate::events::format::hex(data)),
        };
        if writeln!(std::io::stdout(), "{line}").is_err() {
            closed.set(true);
        }
    };
    let mut lost_total = 0u64;
    loop {
        if shown.get() >= limit {
            // On stdout, after the events (in order with them through a pipe).
            let _ = writeln!(std::io::stdout(), "--count {limit} reached: detaching");
            break;
        }
        if closed.get() {
            eprintln!("stdout closed: detaching");
            break;
        }
        match sigfd.read_signal() {
            Ok(Some(s)) => {
                eprintln!("signal {}: detaching", s.ssi_signo);
                break;
            }
            Ok(None) => {}
            Err(e) => return Err(CliError::new(format!("signalfd: {e}"))),
        }
        let tick = Duration::from_millis(if readers.is_empty() { 100 } else { 50 });
        if readers.is_empty() && pipe.is_none() {
            std::thread::sleep(tick);
        }
        for (name, r, ty) in readers.iter_mut() {
            match r {
                Reader::Perf(p) => {
                    let st = p
                        .poll(Some(tick), |_, d| show(name, *ty, d))
                        .map_err(|e| CliError::new(e.to_string()))?;
                    if st.lost > 0 {
                        lost_total += st.lost;
                        eprintln!("{name}: {} events lost ({lost_total} in all)", st.lost);
                    }
                }
                Reader::Ring(rb) => {
                    rb.poll(Some(tick), |d| show(name, *ty, d))
                        .map_err(|e| CliError::new(e.to_string()))?;
                }
            }
        }
        if let Some(p) = pipe.as_mut() {
            let mut buf = [0u8; 8192];
            match p.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if write!(std::io::stdout(), "{}", String::from_utf8_lossy(&buf[..n])).is_err()
                    {
                        closed.set(true);
                    }
                }
                _ => std::thread::sleep(tick),
            }
        }
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;
