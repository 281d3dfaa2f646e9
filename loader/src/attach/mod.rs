//! Tracing attachments: raw tracepoints, tracepoints, tp_btf / fentry / fexit / fmod_ret,
//! kprobes and uprobes. Each attach function returns a [`Link`] that owns the attachment:
//! drop it and the program is detached (unless it was pinned).
//!
//! - raw tracepoints, tp_btf and trampolines go through `BPF_RAW_TRACEPOINT_OPEN`;
//! - tracepoints, kprobes and uprobes open a perf event (see [`probe`]) and attach the
//!   program to it with `BPF_LINK_CREATE(BPF_PERF_EVENT)`, or with
//!   `PERF_EVENT_IOC_SET_BPF` on kernels without perf links.
//! - [`btf_ids`] finds the BTF ids that fentry/fexit/tp_btf programs are loaded with.

pub mod btf_ids;
pub mod net;
pub mod probe;

pub use btf_ids::{kernel_func_btf_id, kernel_tp_btf_id, prog_func_btf_id};
pub use net::{attach_tcx, attach_xdp_link, tcx_chain, TcxDirection};
pub use probe::{
    attach_kprobe, attach_tracepoint, attach_uprobe, tracefs_root, tracepoint_id,
    uprobe_symbol_offset,
};

use crate::section::attach_type;
use crate::sys::{self, SysError};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What went wrong while attaching; every variant names the thing at fault.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("tracepoint '{category}/{name}' does not exist (no {})", path.display())]
    NoTracepoint {
        category: String,
        name: String,
        path: PathBuf,
    },
    #[error("tracepoint '{0}': expected CATEGORY/NAME with no '/' or '..' in either part")]
    BadTracepointName(String),
    #[error("tracefs: {what}: {source}")]
    Tracefs {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "this kernel has no kprobe PMU (CONFIG_KPROBES?): cannot attach {probe} '{func}' \
         ({} is missing)", path.display()
    )]
    NoKprobePmu {
        probe: &'static str,
        func: String,
        path: PathBuf,
    },
    #[error(
        "this kernel has no uprobe PMU (CONFIG_UPROBES?): cannot attach {probe} '{target}' \
         ({} is missing)", path.display()
    )]
    NoUprobePmu {
        probe: &'static str,
        target: String,
        path: PathBuf,
    },
    #[error("perf PMU '{pmu}': {} says '{text}', which is not understood", path.display())]
    BadPmu {
        pmu: &'static str,
        path: PathBuf,
        text: String,
    },
    #[error(
        "this kernel refuses BPF trampolines (fentry/fexit): EPERM; cannot attach {what} \
         (the kernel needs CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and a JIT that builds \
         trampolines; lockdown can also forbid them; kprobes or tracepoints may work instead)"
    )]
    TrampolineRefused {
        what: String,
        #[source]
        source: SysError,
    },
    #[error("cannot attach {what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: SysError,
    },
    #[error("function '{func}' is not in {btf}")]
    NoSuchFunc { func: String, btf: String },
    #[error("{btf}: {source}")]
    Btf {
        btf: String,
        #[source]
        source: crate::btf::BtfError,
    },
    #[error("uprobe on {}: {detail}", binary.display())]
    Uprobe { binary: PathBuf, detail: String },
    #[error("{what} was attached with PERF_EVENT_IOC_SET_BPF (no bpf link): it cannot be pinned")]
    NotALink { what: String },
    #[error("pin {what} at {}: {source}", path.display())]
    Pin {
        what: String,
        path: PathBuf,
        #[source]
        source: SysError,
    },
}

pub type Result<T> = std::result::Result<T, AttachError>;

fn sys_err(what: impl Into<String>) -> impl FnOnce(SysError) -> AttachError {
    let what = what.into();
    move |source| AttachError::Sys { what, source }
}

/// An attached program. Owns the kernel objects that keep the attachment alive: a bpf
/// link fd, and for perf-event attachments the perf event fd. Dropping it detaches
/// (a pinned bpf link stays until its pin is removed).
#[derive(Debug)]
pub struct Link {
    what: String,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// A bpf link (BPF_RAW_TRACEPOINT_OPEN / BPF_LINK_CREATE), and the perf event it
    /// attaches to, if any.
    Bpf {
        link: OwnedFd,
        id: u32,
        perf: Option<OwnedFd>,
    },
    /// PERF_EVENT_IOC_SET_BPF on a perf event: detached when the perf fd closes.
    PerfIoctl { perf: OwnedFd },
}

impl Link {
    fn bpf(what: String, link: OwnedFd, perf: Option<OwnedFd>) -> Link {
        // The id is only for display; a kernel that cannot tell it still gave us a link.
        let id = sys::link_info(link.as_fd()).map(|i| i.id).unwrap_or(0);
        Link {
            what,
            inner: Inner::Bpf { link, id, perf },
        }
    }

    /// What is attached where (`raw tracepoint 'sys_enter'`, `tracepoint 'sched/...'`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The bpf link id (as `bpftool link` shows it); `None` for an attachment made with
    /// PERF_EVENT_IOC_SET_BPF, which has no link.
    pub fn id(&self) -> Option<u32> {
        match &self.inner {
            Inner::Bpf { id, .. } if *id != 0 => Some(*id),
            _ => None,
        }
    }

    /// The fd that holds the attachment: the link fd, or the perf event fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Bpf { link, .. } => link.as_fd(),
            Inner::PerfIoctl { perf } => perf.as_fd(),
        }
    }

    /// The perf event under a tracepoint/kprobe/uprobe attachment.
    pub fn perf_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Bpf { perf, .. } => perf.as_ref().map(|p| p.as_fd()),
            Inner::PerfIoctl { perf } => Some(perf.as_fd()),
        }
    }

    /// Pin the bpf link at `path` (inside bpffs) so the attachment outlives this process;
    /// remove the pin to detach. Attachments without a bpf link cannot be pinned.
    pub fn pin(&self, path: &Path) -> Result<()> {
        match &self.inner {
            Inner::Bpf { link, .. } => {
                sys::obj_pin(link.as_fd(), path).map_err(|source| AttachError::Pin {
                    what: self.what.clone(),
                    path: path.to_path_buf(),
                    source,
                })
            }
            Inner::PerfIoctl { .. } => Err(AttachError::NotALink {
                what: self.what.clone(),
            }),
        }
    }

    /// Detach now, even if the link is pinned (BPF_LINK_DETACH), and close it.
    pub fn detach(self) -> Result<()> {
        match &self.inner {
            Inner::Bpf { link, .. } => sys::link_detach(link.as_fd()).map_err(sys_err(&self.what)),
            Inner::PerfIoctl { perf } => {
                sys::perf::ioc_disable(perf.as_fd()).map_err(sys_err(&self.what))
            }
        }
    }
}

fn prog_label(prog: BorrowedFd) -> String {
    match sys::prog_info(prog) {
        Ok(info) if !info.name.is_empty() => format!("prog '{}'", info.name),
        Ok(info) => format!("prog id {}", info.id),
        Err(_) => "prog".into(),
    }
}

/// Attach a BPF_PROG_TYPE_RAW_TRACEPOINT program to raw tracepoint `name` (`sys_enter`)
/// with BPF_RAW_TRACEPOINT_OPEN.
pub fn attach_raw_tracepoint(prog: BorrowedFd, name: &str) -> Result<Link> {
    let what = format!("{} on raw tracepoint '{name}'", prog_label(prog));
    let link = sys::raw_tracepoint_open(prog, Some(name)).map_err(sys_err(&what))?;
    Ok(Link::bpf(what, link, None))
}

/// The BTF-typed attachments of BPF_PROG_TYPE_TRACING (and LSM) programs. The target was
/// fixed at load time (attach_btf_id, attach_prog_fd); this only switches them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracing {
    /// tp_btf: BPF_TRACE_RAW_TP.
    TpBtf,
    /// BPF_TRACE_FENTRY.
    Fentry,
    /// BPF_TRACE_FEXIT.
    Fexit,
    /// BPF_MODIFY_RETURN.
    FmodRet,
    /// BPF_LSM_MAC.
    Lsm,
}

impl Tracing {
    /// The expected_attach_type the program must have been loaded with.
    pub fn attach_type(self) -> u32 {
        match self {
            Tracing::TpBtf => attach_type::TRACE_RAW_TP,
            Tracing::Fentry => attach_type::TRACE_FENTRY,
            Tracing::Fexit => attach_type::TRACE_FEXIT,
            Tracing::FmodRet => attach_type::MODIFY_RETURN,
            Tracing::Lsm => attach_type::LSM_MAC,
        }
    }

    /// From an expected_attach_type, for the loader's section table.
    pub fn from_attach_type(t: u32) -> Option<Tracing> {
        [
            Tracing::TpBtf,
            Tracing::Fentry,
            Tracing::Fexit,
            Tracing::FmodRet,
            Tracing::Lsm,
        ]
        .into_iter()
        .find(|k| k.attach_type() == t)
    }

    fn name(self) -> &'static str {
        match self {
            Tracing::TpBtf => "tp_btf",
            Tracing::Fentry => "fentry",
            Tracing::Fexit => "fexit",
            Tracing::FmodRet => "fmod_ret",
            Tracing::Lsm => "lsm",
        }
    }

    /// Everything but tp_btf runs through a BPF trampoline.
    fn uses_trampoline(self) -> bool {
        self != Tracing::TpBtf
    }
}

/// Attach a loaded tp_btf / fentry / fexit / fmod_ret / lsm program (BPF_RAW_TRACEPOINT_OPEN
/// with no name: the kernel takes the target from the program's attach_btf_id).
/// A kernel that refuses trampolines answers EPERM: reported as
/// [`AttachError::TrampolineRefused`].
pub fn attach_tracing(prog: BorrowedFd, kind: Tracing) -> Result<Link> {
    let what = format!("{} ({})", prog_label(prog), kind.name());
    match sys::raw_tracepoint_open(prog, None) {
        Ok(link) => Ok(Link::bpf(what, link, None)),
        Err(source) if kind.uses_trampoline() && source.errno() == Some(libc::EPERM) => {
            Err(AttachError::TrampolineRefused { what, source })
        }
        Err(source) => Err(AttachError::Sys { what, source }),
    }
    // (Some kernels refuse trampolines earlier, at PROG_LOAD: see tracing_load_error.)
}

/// Explain a failed BPF_PROG_LOAD of a tracing program: kernels that refuse trampolines
/// answer EPERM already at load time (this is where the trampoline is prepared on some
/// kernels), which becomes [`AttachError::TrampolineRefused`] naming `prog`; any other
/// failure stays a plain [`AttachError::Sys`]. The loader calls this for fentry/fexit/
/// fmod_ret/lsm programs.
pub fn tracing_load_error(prog: &str, kind: Tracing, source: SysError) -> AttachError {
    let what = format!("prog '{prog}' ({})", kind.name());
    if kind.uses_trampoline() && source.errno() == Some(libc::EPERM) {
        AttachError::TrampolineRefused { what, source }
    } else {
        AttachError::Sys { what, source }
    }
}

/// Attach `prog` to an open perf event (tracepoint, kprobe, uprobe): a perf link
/// (BPF_LINK_CREATE with BPF_PERF_EVENT) where the kernel has them, else
/// PERF_EVENT_IOC_SET_BPF + PERF_EVENT_IOC_ENABLE.
pub fn attach_perf_event(prog: BorrowedFd, perf: OwnedFd, what: String) -> Result<Link> {
    match sys::link_create(prog, perf_target(&perf), attach_type::PERF_EVENT, 0, 0) {
        Ok(link) => return Ok(Link::bpf(what, link, Some(perf))),
        // Kernels before 5.15 do not know BPF_PERF_EVENT links: EINVAL.
        Err(e) if e.errno() == Some(libc::EINVAL) => {}
        Err(source) => return Err(AttachError::Sys { what, source }),
    }
    sys::perf::ioc_set_bpf(perf.as_fd(), prog).map_err(sys_err(&what))?;
    sys::perf::ioc_enable(perf.as_fd()).map_err(sys_err(&what))?;
    Ok(Link {
        what,
        inner: Inner::PerfIoctl { perf },
    })
}

fn perf_target(perf: &OwnedFd) -> u32 {
    use std::os::fd::AsRawFd;
    perf.as_raw_fd() as u32
}
