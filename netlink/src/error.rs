//! What can go wrong, each variant naming the device and the operation, in the words `tc`
//! and `ip` use, plus the kernel's own extended-ack text when it sent one.

use std::fmt;
use std::io;

/// The kernel's answer to a failed request: errno plus the extended ack (NETLINK_EXT_ACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno (EEXIST, ENOENT, ...).
    pub errno: i32,
    /// NLMSGERR_ATTR_MSG: the kernel's explanation, when it gave one.
    pub ext_ack: Option<String>,
    /// NLMSGERR_ATTR_OFFS: byte offset in our request of the attribute the kernel disliked.
    pub offset: Option<u32>,
}

impl KernelError {
    /// The errno as text without Rust's "(os error N)" suffix: `File exists`.
    pub fn errno_text(&self) -> String {
        let text = io::Error::from_raw_os_error(self.errno).to_string();
        match text.rfind(" (os error ") {
            Some(i) => text[..i].to_string(),
            None => text,
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.errno_text())?;
        match (&self.ext_ack, self.offset) {
            (Some(msg), _) => write!(f, " (kernel: {msg:?})"),
            (None, Some(off)) => write!(f, " (kernel: bad attribute at byte {off} of the request)"),
            (None, None) => Ok(()),
        }
    }
}

/// Errors of the netlink layer.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket itself failed (creating, sending, receiving).
    #[error("netlink socket: {call}: {source}")]
    Socket {
        /// The call that failed (`bind`, `sendto`, ...).
        call: &'static str,
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request: `tc filter add dev veth0 ingress: File exists
    /// (kernel: "Filter already exists")`.
    #[error("{op}: {kernel}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Kernel {
        /// The device, by name when we know it, else `ifindex N`.
        dev: String,
        /// The operation in `tc`/`ip` words, device included.
        op: String,
        /// errno and extended ack.
        kernel: KernelError,
        /// Our own diagnosis when the kernel gave no text (`fd 5 is not a BPF program`).
        hint: Option<String>,
    },
    /// No interface of that name (or index) in this network namespace.
    #[error("{}no device {} in this network namespace", op.as_ref().map(|o| format!("{o}: ")).unwrap_or_default(), show_dev(dev))]
    NoDevice {
        /// The name, or `ifindex N`, asked for.
        dev: String,
        /// The operation that needed it, when it was not the lookup itself.
        op: Option<String>,
        /// The kernel's answer (ENODEV), when it came from the kernel.
        kernel: Option<KernelError>,
    },
    /// The clsact slot (parent ffff:fff1) holds another qdisc, typically `ingress`.
    #[error(
        "tc qdisc add dev {dev} clsact: {}the slot is held by an `{kind}` qdisc, not \
         clsact; remove it first (tc qdisc del dev {dev} {kind})",
        kernel.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
    )]
    QdiscSlotTaken {
        /// The device.
        dev: String,
        /// The kind of qdisc in the slot.
        kind: String,
        /// What the kernel said when we tried to create clsact.
        kernel: Option<KernelError>,
    },
    /// The kernel accepted a request but its answer is not what the protocol promises.
    #[error("{op}: unexpected reply from the kernel: {reason}")]
    Protocol {
        /// The operation.
        op: String,
        /// What was wrong.
        reason: String,
    },
    /// Bad input from the caller, rejected before asking the kernel.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The operation.
        op: String,
        /// What was wrong.
        reason: String,
    },
}

/// `"veth0"` for a name, `with ifindex 7` for an index.
fn show_dev(dev: &str) -> String {
    match dev.strip_prefix("ifindex ") {
        Some(n) => format!("with ifindex {n}"),
        None => format!("{dev:?}"),
    }
}

/// What /proc/self/fdinfo says fd `fd` is, when it is not a BPF program of type `want`
/// (BPF_PROG_TYPE_*): the kernel rejects such fds with a bare EINVAL.
pub(crate) fn prog_fd_hint(fd: i32, want: u32) -> Option<String> {
    let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
        return Some(format!("fd {fd} is not open"));
    };
    let ty = info
        .lines()
        .find_map(|l| l.strip_prefix("prog_type:"))
        .and_then(|v| v.trim().parse::<u32>().ok());
    match ty {
        None => Some(format!("fd {fd} is not a BPF program")),
        Some(t) if t != want => Some(format!(
            "fd {fd} is a BPF program of type {}, not {}",
            prog_type_name(t),
            prog_type_name(want)
        )),
        Some(_) => None,
    }
}

/// BPF_PROG_TYPE_* names for the hint above.
fn prog_type_name(t: u32) -> String {
    let name = match t {
        1 => "socket_filter",
        2 => "kprobe",
        3 => "sched_cls (tc)",
        4 => "sched_act",
        5 => "tracepoint",
        6 => "xdp",
        7 => "perf_event",
        8 => "cgroup_skb",
        17 => "raw_tracepoint",
        26 => "tracing",
        _ => return format!("#{t}"),
    };
    name.to_string()
}

impl NetlinkError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { kernel, .. } => Some(kernel.errno),
            NetlinkError::NoDevice { kernel, .. } | NetlinkError::QdiscSlotTaken { kernel, .. } => {
                kernel.as_ref().map(|k| k.errno)
            }
            NetlinkError::Socket { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// When the kernel refused program fd `fd` without a word (EINVAL/EBADF, no extended
    /// ack), say what the fd is instead of a BPF program of type `want`.
    pub(crate) fn with_prog_hint(mut self, fd: i32, want: u32) -> Self {
        if let NetlinkError::Kernel { kernel, hint, .. } = &mut self {
            if kernel.ext_ack.is_none() && matches!(kernel.errno, libc::EINVAL | libc::EBADF) {
                *hint = prog_fd_hint(fd, want);
            }
        }
        self
    }

    /// When the kernel refused with a bare EINVAL and nothing else explained it, add `text`.
    pub(crate) fn or_hint(mut self, text: &str) -> Self {
        if let NetlinkError::Kernel { kernel, hint, .. } = &mut self {
            if kernel.ext_ack.is_none() && hint.is_none() && kernel.errno == libc::EINVAL {
                *hint = Some(text.to_string());
            }
        }
        self
    }

    /// The kernel's extended-ack text, when it gave one.
    pub fn ext_ack(&self) -> Option<&str> {
        match self {
            NetlinkError::Kernel { kernel, .. } => kernel.ext_ack.as_deref(),
            NetlinkError::NoDevice { kernel, .. } | NetlinkError::QdiscSlotTaken { kernel, .. } => {
                kernel.as_ref().and_then(|k| k.ext_ack.as_deref())
            }
            _ => None,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, NetlinkError>;
