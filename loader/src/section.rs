//! One table: section name -> program type, expected attach type and how it is attached.
//! Names follow libbpf's conventions (`xdp`, `tc/ingress`, `fentry/FUNC`, ...).

/// `enum bpf_prog_type` values we know by name.
pub mod prog_type {
    pub const SOCKET_FILTER: u32 = 1;
    pub const KPROBE: u32 = 2;
    pub const SCHED_CLS: u32 = 3;
    pub const SCHED_ACT: u32 = 4;
    pub const TRACEPOINT: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const CGROUP_SKB: u32 = 8;
    pub const CGROUP_SOCK: u32 = 9;
    pub const SOCK_OPS: u32 = 13;
    pub const SK_SKB: u32 = 14;
    pub const SK_MSG: u32 = 16;
    pub const RAW_TRACEPOINT: u32 = 17;
    pub const CGROUP_SOCK_ADDR: u32 = 18;
    pub const FLOW_DISSECTOR: u32 = 22;
    pub const TRACING: u32 = 26;
    pub const EXT: u32 = 28;
    pub const LSM: u32 = 29;
    pub const SK_LOOKUP: u32 = 30;
    pub const SYSCALL: u32 = 31;

    /// The kernel's name for a program type, as bpftool prints it.
    pub fn name(t: u32) -> &'static str {
        match t {
            SOCKET_FILTER => "socket_filter",
            KPROBE => "kprobe",
            SCHED_CLS => "sched_cls",
            SCHED_ACT => "sched_act",
            TRACEPOINT => "tracepoint",
            XDP => "xdp",
            PERF_EVENT => "perf_event",
            CGROUP_SKB => "cgroup_skb",
            CGROUP_SOCK => "cgroup_sock",
            SOCK_OPS => "sock_ops",
            SK_SKB => "sk_skb",
            SK_MSG => "sk_msg",
            RAW_TRACEPOINT => "raw_tracepoint",
            CGROUP_SOCK_ADDR => "cgroup_sock_addr",
            FLOW_DISSECTOR => "flow_dissector",
            TRACING => "tracing",
            EXT => "ext",
            LSM => "lsm",
            SK_LOOKUP => "sk_lookup",
            SYSCALL => "syscall",
            _ => "unknown",
        }
    }
}

/// `enum bpf_attach_type` values we use.
pub mod attach_type {
    pub const CGROUP_INET_INGRESS: u32 = 0;
    pub const CGROUP_INET_EGRESS: u32 = 1;
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const XDP: u32 = 37;
    pub const PERF_EVENT: u32 = 41;

    /// The uapi name (`BPF_XDP`), or the number when we have no name for it.
    pub fn name(t: u32) -> String {
        let n = match t {
            CGROUP_INET_INGRESS => "BPF_CGROUP_INET_INGRESS",
            CGROUP_INET_EGRESS => "BPF_CGROUP_INET_EGRESS",
            TRACE_RAW_TP => "BPF_TRACE_RAW_TP",
            TRACE_FENTRY => "BPF_TRACE_FENTRY",
            TRACE_FEXIT => "BPF_TRACE_FEXIT",
            MODIFY_RETURN => "BPF_MODIFY_RETURN",
            LSM_MAC => "BPF_LSM_MAC",
            XDP => "BPF_XDP",
            PERF_EVENT => "BPF_PERF_EVENT",
            _ => return t.to_string(),
        };
        n.to_string()
    }
}

/// How a program of this section is attached once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachKind {
    /// XDP on a device (netlink IFLA_XDP).
    Xdp,
    /// tc bpf filter on clsact; `None` = direction chosen by the user.
    Tc(Option<TcDirection>),
    /// BPF_RAW_TRACEPOINT_OPEN with the name after the prefix.
    RawTracepoint,
    /// perf_event_open on tracefs id CAT/NAME, then a perf link.
    Tracepoint,
    /// tp_btf: BTF-typed raw tracepoint (TRACING + BPF_TRACE_RAW_TP).
    TpBtf,
    /// fentry/fexit/fmod_ret on a kernel function or another BPF program.
    Trampoline,
    /// kprobe/kretprobe through the kprobe PMU.
    Kprobe { ret: bool },
    /// uprobe/uretprobe on a binary and symbol.
    Uprobe { ret: bool },
    /// Loaded only; attached by the user some other way (socket, cgroup, ...).
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcDirection {
    Ingress,
    Egress,
}

/// One row of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDef {
    /// The section name, or its prefix when `takes_arg` (`fentry/` + FUNC).
    pub prefix: &'static str,
    /// The prefix must be followed by `/ARG` (fentry/FUNC); otherwise the name is exact,
    /// or (for `xdp`, `tc`...) may carry an ignored `/suffix`.
    pub takes_arg: bool,
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub attach: AttachKind,
    /// BPF_F_XDP_HAS_FRAGS etc.
    pub prog_flags: u32,
}

const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
const BPF_F_SLEEPABLE: u32 = 1 << 4;

use attach_type as at;
use prog_type as pt;

macro_rules! row {
    ($p:expr, $arg:expr, $t:expr, $at:expr, $k:expr) => {
        SectionDef {
            prefix: $p,
            takes_arg: $arg,
            prog_type: $t,
            expected_attach_type: $at,
            attach: $k,
            prog_flags: 0,
        }
    };
    ($p:expr, $arg:expr, $t:expr, $at:expr, $k:expr, $f:expr) => {
        SectionDef {
            prefix: $p,
            takes_arg: $arg,
            prog_type: $t,
            expected_attach_type: $at,
            attach: $k,
            prog_flags: $f,
        }
    };
}

/// The table. Longer prefixes first where one is a prefix of another.
pub static SECTIONS: &[SectionDef] = &[
    row!(
        "xdp.frags",
        false,
        pt::XDP,
        at::XDP,
        AttachKind::Xdp,
        BPF_F_XDP_HAS_FRAGS
    ),
    row!("xdp", false, pt::XDP, at::XDP, AttachKind::Xdp),
    row!(
        "tc/ingress",
        false,
        pt::SCHED_CLS,
        0,
        AttachKind::Tc(Some(TcDirection::Ingress))
    ),
    row!(
        "tc/egress",
        false,
        pt::SCHED_CLS,
        0,
        AttachKind::Tc(Some(TcDirection::Egress))
    ),
    row!(
        "tcx/ingress",
        false,
        pt::SCHED_CLS,
        0,
        AttachKind::Tc(Some(TcDirection::Ingress))
    ),
    row!(
        "tcx/egress",
        false,
        pt::SCHED_CLS,
        0,
        AttachKind::Tc(Some(TcDirection::Egress))
    ),
    row!("tc", false, pt::SCHED_CLS, 0, AttachKind::Tc(None)),
    row!("classifier", false, pt::SCHED_CLS, 0, AttachKind::Tc(None)),
    row!("action", false, pt::SCHED_ACT, 0, AttachKind::Manual),
    row!(
        "raw_tracepoint",
        true,
        pt::RAW_TRACEPOINT,
        0,
        AttachKind::RawTracepoint
    ),
    row!(
        "raw_tp",
        true,
        pt::RAW_TRACEPOINT,
        0,
        AttachKind::RawTracepoint
    ),
    row!(
        "tracepoint",
        true,
        pt::TRACEPOINT,
        0,
        AttachKind::Tracepoint
    ),
    row!(
        "tp_btf",
        true,
        pt::TRACING,
        at::TRACE_RAW_TP,
        AttachKind::TpBtf
    ),
    row!("tp", true, pt::TRACEPOINT, 0, AttachKind::Tracepoint),
    row!(
        "fentry.s",
        true,
        pt::TRACING,
        at::TRACE_FENTRY,
        AttachKind::Trampoline,
        BPF_F_SLEEPABLE
    ),
    row!(
        "fexit.s",
        true,
        pt::TRACING,
        at::TRACE_FEXIT,
        AttachKind::Trampoline,
        BPF_F_SLEEPABLE
    ),
    row!(
        "fentry",
        true,
        pt::TRACING,
        at::TRACE_FENTRY,
        AttachKind::Trampoline
    ),
    row!(
        "fexit",
        true,
        pt::TRACING,
        at::TRACE_FEXIT,
        AttachKind::Trampoline
    ),
    row!(
        "fmod_ret",
        true,
        pt::TRACING,
        at::MODIFY_RETURN,
        AttachKind::Trampoline
    ),
    row!(
        "kretprobe",
        true,
        pt::KPROBE,
        0,
        AttachKind::Kprobe { ret: true }
    ),
    row!(
        "kprobe",
        true,
        pt::KPROBE,
        0,
        AttachKind::Kprobe { ret: false }
    ),
    row!(
        "uretprobe",
        false,
        pt::KPROBE,
        0,
        AttachKind::Uprobe { ret: true }
    ),
    row!(
        "uprobe",
        false,
        pt::KPROBE,
        0,
        AttachKind::Uprobe { ret: false }
    ),
    row!("lsm", true, pt::LSM, at::LSM_MAC, AttachKind::Trampoline),
    row!("socket", false, pt::SOCKET_FILTER, 0, AttachKind::Manual),
    row!(
        "cgroup_skb/ingress",
        false,
        pt::CGROUP_SKB,
        at::CGROUP_INET_INGRESS,
        AttachKind::Manual
    ),
    row!(
        "cgroup_skb/egress",
        false,
        pt::CGROUP_SKB,
        at::CGROUP_INET_EGRESS,
        AttachKind::Manual
    ),
    row!("sk_lookup", false, pt::SK_LOOKUP, 36, AttachKind::Manual),
    row!("syscall", false, pt::SYSCALL, 0, AttachKind::Manual),
    row!("perf_event", false, pt::PERF_EVENT, 0, AttachKind::Manual),
];

/// A section name matched against the table: the row and the argument after the prefix
/// (`sys_enter` in `raw_tp/sys_enter`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub def: SectionDef,
    pub arg: Option<String>,
}

/// Look a section name up in the table. `None` for names it does not know
/// (`xdp_classifier`): the caller then decides from the hook or the context type.
pub fn lookup(section: &str) -> Option<Matched> {
    for def in SECTIONS {
        if section == def.prefix {
            if def.takes_arg {
                // `kprobe` alone is allowed by libbpf for manual attach; keep it, no arg.
                return Some(Matched {
                    def: *def,
                    arg: None,
                });
            }
            return Some(Matched {
                def: *def,
                arg: None,
            });
        }
        if let Some(rest) = section.strip_prefix(def.prefix) {
            if let Some(arg) = rest.strip_prefix('/') {
                if def.takes_arg || matches!(def.attach, AttachKind::Uprobe { .. }) {
                    return Some(Matched {
                        def: *def,
                        arg: Some(arg.to_string()),
                    });
                }
                // `xdp/foo`, `tc/foo`: libbpf accepts and ignores an extra component
                // only for the names above that do not take one; we do the same.
                if !def.prefix.contains('/') {
                    return Some(Matched {
                        def: *def,
                        arg: None,
                    });
                }
            }
        }
    }
    None
}

/// The table row for a program whose section is not in the table, chosen from the BTF
/// name of the struct its context argument points to.
pub fn from_context_type(struct_name: &str) -> Option<SectionDef> {
    let prefix = match struct_name {
        "xdp_md" => "xdp",
        "__sk_buff" => "tc",
        _ => return None,
    };
    SECTIONS.iter().find(|d| d.prefix == prefix).copied()
}

/// The table row for an explicit hook the user asked for (`--dev` with `--ingress`, ...).
pub fn by_prefix(prefix: &str) -> Option<SectionDef> {
    SECTIONS.iter().find(|d| d.prefix == prefix).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names() {
        assert_eq!(lookup("xdp").map(|m| m.def.prog_type), Some(pt::XDP));
        assert_eq!(
            lookup("xdp.frags").map(|m| m.def.prog_flags),
            Some(BPF_F_XDP_HAS_FRAGS)
        );
        let m = lookup("raw_tracepoint/sys_enter").expect("raw tp");
        assert_eq!(m.arg.as_deref(), Some("sys_enter"));
        assert_eq!(m.def.attach, AttachKind::RawTracepoint);
        let m = lookup("tp/syscalls/sys_enter_execve").expect("tp");
        assert_eq!(m.arg.as_deref(), Some("syscalls/sys_enter_execve"));
        assert_eq!(
            lookup("tc/egress").map(|m| m.def.attach),
            Some(AttachKind::Tc(Some(TcDirection::Egress)))
        );
        assert_eq!(
            lookup("fentry/do_unlinkat").map(|m| m.def.expected_attach_type),
            Some(at::TRACE_FENTRY)
        );
        assert_eq!(
            lookup("tp_btf/sched_switch").map(|m| m.def.prog_type),
            Some(pt::TRACING)
        );
    }

    #[test]
    fn unknown_names_are_none() {
        assert_eq!(lookup("xdp_classifier"), None);
        assert_eq!(lookup("license"), None);
        assert_eq!(
            from_context_type("xdp_md").map(|d| d.prog_type),
            Some(pt::XDP)
        );
        assert_eq!(
            from_context_type("__sk_buff").map(|d| d.prog_type),
            Some(pt::SCHED_CLS)
        );
    }
}
