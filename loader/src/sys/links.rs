//! bpf links on network devices: tcx (Linux 6.6+: an ordered chain of programs per device
//! and direction, owned by links, no qdisc) and XDP links (the device's XDP hook held by a
//! link that another tool cannot silently replace), `BPF_PROG_QUERY` to list a chain, and
//! `BPF_LINK_UPDATE` to swap a link's program atomically.

use super::{bpf, to_fd, Cmd, Result};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `enum bpf_attach_type`: the XDP hook, through a link.
pub const BPF_XDP: u32 = 37;
/// tcx's ingress and egress hooks.
pub const BPF_TCX_INGRESS: u32 = 46;
pub const BPF_TCX_EGRESS: u32 = 47;

/// `BPF_F_*` flags of multi-program attachment (include/uapi/linux/bpf.h).
pub const BPF_F_REPLACE: u32 = 1 << 2;
pub const BPF_F_BEFORE: u32 = 1 << 3;
pub const BPF_F_AFTER: u32 = 1 << 4;
pub const BPF_F_ID: u32 = 1 << 5;
pub const BPF_F_LINK: u32 = 1 << 13;

/// Where in a tcx chain a new program goes, relative to what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anchor {
    /// At the end (the kernel's default).
    #[default]
    Last,
    /// At the start.
    First,
    /// Right before the program with this id.
    BeforeProg(u32),
    /// Right after the program with this id.
    AfterProg(u32),
}

impl Anchor {
    /// The flags and relative id `link_create.tcx` takes for this position.
    fn encode(self) -> (u32, u32) {
        match self {
            Anchor::Last => (BPF_F_AFTER, 0),
            Anchor::First => (BPF_F_BEFORE, 0),
            Anchor::BeforeProg(id) => (BPF_F_BEFORE | BPF_F_ID, id),
            Anchor::AfterProg(id) => (BPF_F_AFTER | BPF_F_ID, id),
        }
    }
}

/// `link_create` as tcx and XDP use it: the type-specific part is `relative_fd/id` (u32,
/// then 4 bytes of padding) and `expected_revision` (u64).
#[repr(C)]
#[derive(Default)]
struct NetLinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative: u32,
    _pad: u32,
    expected_revision: u64,
}

/// Attach `prog` to device `ifindex`'s tcx hook (`attach_type` [`BPF_TCX_INGRESS`] or
/// [`BPF_TCX_EGRESS`]) at `anchor`; with `expected_revision` non-zero the kernel refuses
/// (ESTALE) when the chain changed since that revision was read. Returns the link.
pub fn tcx_link_create(
    prog: BorrowedFd,
    ifindex: u32,
    attach_type: u32,
    anchor: Anchor,
    expected_revision: u64,
) -> Result<OwnedFd> {
    let (flags, relative) = anchor.encode();
    let mut attr = NetLinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags,
        relative,
        expected_revision,
        ..Default::default()
    };
    bpf(Cmd::BPF_LINK_CREATE, &mut attr, &|| {
        format!("tcx link on ifindex {ifindex}")
    })
    .map(to_fd)
}

/// Attach `prog` to device `ifindex`'s XDP hook through a link; `mode_flags` are the
/// `XDP_FLAGS_*` mode bits (0: let the kernel choose). Returns the link.
pub fn xdp_link_create(prog: BorrowedFd, ifindex: u32, mode_flags: u32) -> Result<OwnedFd> {
    let mut attr = NetLinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: mode_flags,
        ..Default::default()
    };
    bpf(Cmd::BPF_LINK_CREATE, &mut attr, &|| {
        format!("XDP link on ifindex {ifindex}")
    })
    .map(to_fd)
}

#[repr(C)]
#[derive(Default)]
struct LinkUpdateAttr {
    link_fd: u32,
    new_prog_fd: u32,
    flags: u32,
    old_prog_fd: u32,
}

/// Swap the program of `link` for `new` in one step (`BPF_LINK_UPDATE`): no packet passes
/// between the two unprocessed. With `old`, only if `old` is the program there now.
pub fn link_update(link: BorrowedFd, new: BorrowedFd, old: Option<BorrowedFd>) -> Result<()> {
    let mut attr = LinkUpdateAttr {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new.as_raw_fd() as u32,
        flags: if old.is_some() { BPF_F_REPLACE } else { 0 },
        old_prog_fd: old.map(|o| o.as_raw_fd() as u32).unwrap_or(0),
    };
    bpf(Cmd::BPF_LINK_UPDATE, &mut attr, &|| {
        format!("link fd {}", link.as_raw_fd())
    })
    .map(|_| ())
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_ifindex: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    count: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// One hook's chain, in the order the programs run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// (program id, link id; 0 when attached without a link).
    pub entries: Vec<(u32, u32)>,
    /// Changes with every attach and detach on the hook.
    pub revision: u64,
}

/// `BPF_PROG_QUERY` of device `ifindex`'s hook `attach_type` (tcx): its programs in order.
pub fn query_chain(ifindex: u32, attach_type: u32) -> Result<Chain> {
    let mut cap = 16usize;
    loop {
        let mut progs = vec![0u32; cap];
        let mut links = vec![0u32; cap];
        let mut attr = QueryAttr {
            target_ifindex: ifindex,
            attach_type,
            prog_ids: progs.as_mut_ptr() as u64,
            link_ids: links.as_mut_ptr() as u64,
            count: cap as u32,
            ..Default::default()
        };
        let res = bpf(Cmd::BPF_PROG_QUERY, &mut attr, &|| {
            format!("attach type {attach_type} on ifindex {ifindex}")
        });
        let n = attr.count as usize;
        match res {
            Ok(_) => {
                let entries = progs.into_iter().zip(links).take(n.min(cap)).collect();
                return Ok(Chain {
                    entries,
                    revision: attr.revision,
                });
            }
            // The chain is longer than the buffers: the kernel said how long.
            Err(e) if e.errno() == Some(libc::ENOSPC) && n > cap => cap = n,
            Err(e) => return Err(e),
        }
    }
}
