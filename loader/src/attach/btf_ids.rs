//! BTF ids that tracing programs are loaded with (attach_btf_id): a kernel function for
//! fentry/fexit/fmod_ret, a `btf_trace_<tp>` typedef for tp_btf, or a function of another
//! BPF program (fentry/fexit on BPF, with attach_prog_fd).

use super::{AttachError, Result};
use crate::btf::{kind, Btf};
use crate::sys::{self, ObjKind};
use std::os::fd::{AsFd, BorrowedFd};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The kernel's BTF, walked once with `name` looked for on the way (nothing decoded whole).
fn kernel_btf(name: &str) -> Result<Btf> {
    Btf::kernel_lazy_for(&[name]).map_err(|source| AttachError::Btf {
        btf: VMLINUX.into(),
        source,
    })
}

fn find(btf: &Btf, want: u8, name: &str) -> Option<u32> {
    btf.find_by_name(name, want)
}

/// The BTF id of kernel function `name` (a FUNC in vmlinux BTF): the attach_btf_id of an
/// fentry/fexit/fmod_ret program on it.
pub fn kernel_func_btf_id(name: &str) -> Result<u32> {
    let btf = kernel_btf(name)?;
    find(&btf, kind::FUNC, name).ok_or_else(|| AttachError::NoSuchFunc {
        func: name.into(),
        btf: format!("kernel BTF ({VMLINUX})"),
    })
}

/// The BTF id of raw tracepoint `tp` for tp_btf programs: the typedef `btf_trace_<tp>`.
pub fn kernel_tp_btf_id(tp: &str) -> Result<u32> {
    let typedef = format!("btf_trace_{tp}");
    let btf = kernel_btf(&typedef)?;
    find(&btf, kind::TYPEDEF, &typedef).ok_or_else(|| AttachError::NoSuchFunc {
        func: typedef,
        btf: format!("kernel BTF ({VMLINUX}): no raw tracepoint '{tp}'"),
    })
}

/// The BTF id of function `func` in the BTF of loaded program `target` (for fentry/fexit on
/// a BPF program: load with attach_prog_fd = target and attach_btf_id = this).
pub fn prog_func_btf_id(target: BorrowedFd, func: &str) -> Result<u32> {
    let what = || {
        format!(
            "target prog fd {}",
            std::os::fd::AsRawFd::as_raw_fd(&target)
        )
    };
    let info = sys::prog_info(target).map_err(super::sys_err(what()))?;
    let label = format!("BTF of prog '{}' (id {})", info.name, info.id);
    if info.btf_id == 0 {
        return Err(AttachError::NoSuchFunc {
            func: func.into(),
            btf: format!("{label}: the program was loaded without BTF"),
        });
    }
    let btf_fd = sys::fd_by_id(ObjKind::Btf, info.btf_id).map_err(super::sys_err(&label))?;
    let data = sys::btf_data(btf_fd.as_fd()).map_err(super::sys_err(&label))?;
    let btf = Btf::parse(&data).map_err(|source| AttachError::Btf {
        btf: label.clone(),
        source,
    })?;
    find(&btf, kind::FUNC, func).ok_or(AttachError::NoSuchFunc {
        func: func.into(),
        btf: label,
    })
}
