//! Perf-event attachments: tracepoints (tracefs id -> PERF_TYPE_TRACEPOINT), kprobes and
//! uprobes (the `kprobe` / `uprobe` PMUs under /sys/bus/event_source/devices).

use super::{attach_perf_event, sys_err, AttachError, Link, Result};
use crate::sys::perf::{perf_event_open, PerfEventAttr, PERF_TYPE_TRACEPOINT};
use std::ffi::CString;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
const PMU_DIR: &str = "/sys/bus/event_source/devices";

/// The tracefs directory (the one with `events/`): /sys/kernel/tracing, else the old
/// /sys/kernel/debug/tracing; when neither is mounted, tracefs is mounted at
/// /sys/kernel/tracing. Found once per process (an application attaches many tracepoints).
pub fn tracefs_root() -> Result<PathBuf> {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(dir) = FOUND.get() {
        return Ok(dir.clone());
    }
    let dir = find_tracefs()?;
    Ok(FOUND.get_or_init(|| dir).clone())
}

fn find_tracefs() -> Result<PathBuf> {
    for dir in [TRACEFS, DEBUGFS_TRACING] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    std::fs::create_dir_all(TRACEFS).map_err(|source| AttachError::Tracefs {
        what: format!("mkdir {TRACEFS}"),
        source,
    })?;
    let mounted = nix::mount::mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    // Another thread or process may have mounted it meanwhile: look again either way.
    if Path::new(TRACEFS).join("events").is_dir() {
        return Ok(PathBuf::from(TRACEFS));
    }
    Err(AttachError::Tracefs {
        what: format!("mount tracefs at {TRACEFS}"),
        source: match mounted {
            Err(e) => std::io::Error::from(e),
            Ok(()) => std::io::Error::new(std::io::ErrorKind::NotFound, "no events/ after mount"),
        },
    })
}

fn valid_part(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// The id of tracepoint `category/name` (tracefs `events/CATEGORY/NAME/id`).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64> {
    if !valid_part(category) || !valid_part(name) {
        return Err(AttachError::BadTracepointName(format!("{category}/{name}")));
    }
    let path = tracefs_root()?
        .join("events")
        .join(category)
        .join(name)
        .join("id");
    let text = match read_small(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AttachError::NoTracepoint {
                category: category.into(),
                name: name.into(),
                path,
            })
        }
        Err(source) => {
            return Err(AttachError::Tracefs {
                what: format!("read {}", path.display()),
                source,
            })
        }
    };
    text.trim().parse().map_err(|_| AttachError::Tracefs {
        what: format!("{} holds '{}', not an id", path.display(), text.trim()),
        source: std::io::Error::from(std::io::ErrorKind::InvalidData),
    })
}

/// A tracefs file of a few bytes, read without the `statx` (and `lseek`) with which
/// `read_to_string` sizes its buffer.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    String::from_utf8(buf[..len].to_vec())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Attach a BPF_PROG_TYPE_TRACEPOINT program to tracepoint `category/name`
/// (`sched/sched_process_exec`): perf_event_open(PERF_TYPE_TRACEPOINT, id) on CPU 0 for
/// every process (the program runs on every CPU), then a perf link.
pub fn attach_tracepoint(prog: BorrowedFd, category: &str, name: &str) -> Result<Link> {
    let id = tracepoint_id(category, name)?;
    let what = format!(
        "{} on tracepoint '{category}/{name}'",
        super::prog_label(prog)
    );
    let mut attr = PerfEventAttr::new(PERF_TYPE_TRACEPOINT, id);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    let perf = perf_event_open(&attr, -1, 0, &|| format!("tracepoint '{category}/{name}'"))
        .map_err(sys_err(&what))?;
    attach_perf_event(prog, perf, what)
}

/// A dynamic PMU (`kprobe`, `uprobe`): its perf type and the config bit that makes a
/// return probe.
struct Pmu {
    type_: u32,
    retprobe_bit: u32,
}

/// Read /sys/bus/event_source/devices/PMU/type and format/retprobe (`config:0`).
/// Ok(None) when the PMU does not exist.
fn read_pmu(pmu: &'static str) -> Result<Option<Pmu>> {
    let dir = Path::new(PMU_DIR).join(pmu);
    let type_path = dir.join("type");
    let text = match std::fs::read_to_string(&type_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AttachError::Tracefs {
                what: format!("read {}", type_path.display()),
                source,
            })
        }
    };
    let type_ = text.trim().parse().map_err(|_| AttachError::BadPmu {
        pmu,
        path: type_path.clone(),
        text: text.trim().into(),
    })?;
    let ret_path = dir.join("format/retprobe");
    let ret = std::fs::read_to_string(&ret_path).unwrap_or_default();
    let retprobe_bit = ret
        .trim()
        .strip_prefix("config:")
        .and_then(|b| b.parse::<u32>().ok())
        .filter(|b| *b < 64)
        .ok_or_else(|| AttachError::BadPmu {
            pmu,
            path: ret_path,
            text: ret.trim().into(),
        })?;
    Ok(Some(Pmu {
        type_,
        retprobe_bit,
    }))
}

fn probe_kind(uprobe: bool, ret: bool) -> &'static str {
    match (uprobe, ret) {
        (false, false) => "kprobe",
        (false, true) => "kretprobe",
        (true, false) => "uprobe",
        (true, true) => "uretprobe",
    }
}

/// Attach a BPF_PROG_TYPE_KPROBE program to kernel function `func` (+`offset`) as a kprobe,
/// or as a kretprobe with `ret`, through the kprobe PMU.
pub fn attach_kprobe(prog: BorrowedFd, func: &str, offset: u64, ret: bool) -> Result<Link> {
    let probe = probe_kind(false, ret);
    let Some(pmu) = read_pmu("kprobe")? else {
        return Err(AttachError::NoKprobePmu {
            probe,
            func: func.into(),
            path: Path::new(PMU_DIR).join("kprobe"),
        });
    };
    let what = format!("{} on {probe} '{func}'", super::prog_label(prog));
    let cfunc = CString::new(func).map_err(|_| AttachError::Sys {
        what: what.clone(),
        source: crate::sys::SysError::new(
            "perf_event_open",
            format!("{probe} '{func}'"),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "name contains a NUL byte"),
        ),
    })?;
    let mut attr = PerfEventAttr::new(pmu.type_, if ret { 1 << pmu.retprobe_bit } else { 0 });
    attr.config1 = cfunc.as_ptr() as u64;
    attr.config2 = offset;
    let perf =
        perf_event_open(&attr, -1, 0, &|| format!("{probe} '{func}'")).map_err(sys_err(&what))?;
    attach_perf_event(prog, perf, what)
}

/// The file offset of function `symbol` in ELF `binary` (what the uprobe PMU wants):
/// its address, translated through the PT_LOAD segment that contains it.
pub fn uprobe_symbol_offset(binary: &Path, symbol: &str) -> Result<u64> {
    use object::{Object, ObjectSegment, ObjectSymbol};
    let err = |detail: String| AttachError::Uprobe {
        binary: binary.to_path_buf(),
        detail,
    };
    let data = std::fs::read(binary).map_err(|e| err(format!("cannot read: {e}")))?;
    let file = object::File::parse(&*data).map_err(|e| err(format!("not an ELF file: {e}")))?;
    let addr = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.name() == Ok(symbol) && s.address() != 0)
        .map(|s| s.address())
        .ok_or_else(|| err(format!("no symbol '{symbol}' with an address")))?;
    for seg in file.segments() {
        let (start, size) = (seg.address(), seg.size());
        if addr >= start && addr - start < size {
            let (file_off, _) = seg.file_range();
            return Ok(addr - start + file_off);
        }
    }
    Err(err(format!(
        "symbol '{symbol}' at {addr:#x} lies in no loadable segment"
    )))
}

/// Attach a BPF_PROG_TYPE_KPROBE program as a uprobe (uretprobe with `ret`) on `symbol`
/// (+`offset`) in ELF `binary`, for process `pid` or (None) for every process.
pub fn attach_uprobe(
    prog: BorrowedFd,
    binary: &Path,
    symbol: &str,
    offset: u64,
    ret: bool,
    pid: Option<i32>,
) -> Result<Link> {
    let probe = probe_kind(true, ret);
    let target = format!("{}:{symbol}", binary.display());
    let Some(pmu) = read_pmu("uprobe")? else {
        return Err(AttachError::NoUprobePmu {
            probe,
            target,
            path: Path::new(PMU_DIR).join("uprobe"),
        });
    };
    let file_off = uprobe_symbol_offset(binary, symbol)?
        .checked_add(offset)
        .ok_or_else(|| AttachError::Uprobe {
            binary: binary.to_path_buf(),
            detail: format!("offset {offset:#x} past '{symbol}' overflows"),
        })?;
    let what = format!("{} on {probe} '{target}'", super::prog_label(prog));
    let cpath =
        CString::new(binary.as_os_str().as_encoded_bytes()).map_err(|_| AttachError::Uprobe {
            binary: binary.to_path_buf(),
            detail: "path contains a NUL byte".into(),
        })?;
    let mut attr = PerfEventAttr::new(pmu.type_, if ret { 1 << pmu.retprobe_bit } else { 0 });
    attr.config1 = cpath.as_ptr() as u64;
    attr.config2 = file_off;
    // One process on any CPU, or every process (then the event needs a CPU: 0).
    let (pid, cpu) = match pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    let perf = perf_event_open(&attr, pid, cpu, &|| format!("{probe} '{target}'"))
        .map_err(sys_err(&what))?;
    attach_perf_event(prog, perf, what)
}
