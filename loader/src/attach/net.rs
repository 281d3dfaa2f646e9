//! Network hooks through bpf links: tcx (a program in a device's ordered ingress or egress
//! chain, Linux 6.6+, no qdisc) and XDP links. The attachment lives as long as its link:
//! dropped (or the process killed) it is gone, pinned it stays, and `Link::update` swaps
//! its program atomically.

use super::{sys_err, Link, Result};
use crate::sys::links::{self, Anchor, Chain};
use std::os::fd::{AsFd, BorrowedFd};

/// Which tcx hook of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcxDirection {
    /// `BPF_TCX_INGRESS`: packets arriving on the device.
    Ingress,
    /// `BPF_TCX_EGRESS`: packets leaving it.
    Egress,
}

impl TcxDirection {
    /// The `bpf_attach_type` of this hook.
    pub fn attach_type(self) -> u32 {
        match self {
            TcxDirection::Ingress => links::BPF_TCX_INGRESS,
            TcxDirection::Egress => links::BPF_TCX_EGRESS,
        }
    }

    /// `ingress` or `egress`.
    pub fn as_str(self) -> &'static str {
        match self {
            TcxDirection::Ingress => "ingress",
            TcxDirection::Egress => "egress",
        }
    }
}

/// Attach `prog` (a `BPF_PROG_TYPE_SCHED_CLS` program) to the tcx hook of device `ifindex`
/// at `anchor` in its chain. With `expected_revision` (from [`tcx_chain`]) the kernel refuses
/// with ESTALE when another attach or detach came in between, instead of racing it.
pub fn attach_tcx(
    prog: BorrowedFd,
    ifindex: u32,
    dir: TcxDirection,
    anchor: Anchor,
    expected_revision: Option<u64>,
) -> Result<Link> {
    let what = format!(
        "{} on tcx {} of ifindex {ifindex}",
        super::prog_label(prog),
        dir.as_str()
    );
    let link = links::tcx_link_create(
        prog,
        ifindex,
        dir.attach_type(),
        anchor,
        expected_revision.unwrap_or(0),
    )
    .map_err(sys_err(&what))?;
    Ok(Link::bpf(what, link, None))
}

/// The programs on a tcx hook of device `ifindex`, in the order they run, and the chain's
/// revision.
pub fn tcx_chain(ifindex: u32, dir: TcxDirection) -> Result<Chain> {
    links::query_chain(ifindex, dir.attach_type()).map_err(sys_err(format!(
        "tcx {} of ifindex {ifindex}",
        dir.as_str()
    )))
}

/// Attach `prog` to the XDP hook of device `ifindex` through a link (`mode_flags`: the
/// `XDP_FLAGS_*` mode bits, 0 to let the kernel choose). While the link holds the hook,
/// a netlink attach or detach by another tool fails (EBUSY).
pub fn attach_xdp_link(prog: BorrowedFd, ifindex: u32, mode_flags: u32) -> Result<Link> {
    let what = format!(
        "{} on XDP link of ifindex {ifindex}",
        super::prog_label(prog)
    );
    let link = links::xdp_link_create(prog, ifindex, mode_flags).map_err(sys_err(&what))?;
    Ok(Link::bpf(what, link, None))
}

impl Link {
    /// A link pinned at `path` (to update or detach it).
    pub fn from_pin(path: &std::path::Path) -> Result<Link> {
        let what = format!("link pinned at {}", path.display());
        let fd = crate::sys::obj_get(path).map_err(sys_err(&what))?;
        Ok(Link::bpf(what, fd, None))
    }

    /// Put `new` in place of the link's program in one step (`BPF_LINK_UPDATE`): every
    /// packet is seen by one or the other. Links made by perf events cannot be updated.
    pub fn update(&self, new: BorrowedFd) -> Result<()> {
        links::link_update(self.fd(), new, None).map_err(sys_err(&self.what))
    }

    /// The link's program and type, as the kernel reports them.
    pub fn info(&self) -> Result<crate::sys::LinkInfo> {
        crate::sys::link_info(self.fd().as_fd()).map_err(sys_err(&self.what))
    }
}
