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
    #[error("{op}: {kernel}")]
    Kernel {
        /// The device, by name when we know it, else `ifindex N`.
        dev: String,
        /// The operation in `tc`/`ip` words, device included.
        op: String,
        /// errno and extended ack.
        kernel: KernelError,
    },
    /// No interface of that name (or index) in this network namespace.
    #[error("no device {dev:?} in this network namespace{}", kernel_suffix(.kernel))]
    NoDevice {
        /// The name or `ifindex N` asked for.
        dev: String,
        /// The kernel's answer, when it came from the kernel.
        kernel: Option<KernelError>,
    },
    /// The clsact slot (parent ffff:fff1) holds another qdisc, typically `ingress`.
    #[error(
        "tc qdisc add dev {dev} clsact: the ingress/clsact slot holds a `{kind}` qdisc, not \
         clsact; remove it first (tc qdisc del dev {dev} {kind}){}",
        kernel_suffix(.kernel)
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

fn kernel_suffix(k: &Option<KernelError>) -> String {
    match k {
        Some(k) => format!(" ({k})"),
        None => String::new(),
    }
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
