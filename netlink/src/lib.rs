//! Our own rtnetlink layer: clsact qdiscs, tc bpf filters and XDP. Takes program fds and
//! names; does not depend on the loader.
//!
//! One [`Handle`] is one NETLINK_ROUTE socket, in the network namespace of the thread that
//! made it. Message layouts and attributes come from `netlink-packet-route`; the socket,
//! sequence numbers, acks, dumps and extended-ack errors are ours ([`parse_reply`]).
//!
//! ```no_run
//! # use std::os::fd::AsFd;
//! # fn demo(prog: std::os::fd::OwnedFd) -> netlink::Result<()> {
//! use netlink::{Handle, TcAttachFlags, TcDirection, TcHook};
//! let mut h = Handle::new()?;
//! let ifindex = h.ifindex("veth0")?;
//! h.ensure_clsact(ifindex)?;
//! let hook = TcHook { direction: TcDirection::Ingress, priority: 0, handle: 0 };
//! let f = h.tc_attach(ifindex, hook, prog.as_fd(), "count", TcAttachFlags::default())?;
//! println!("prio {} handle {:#x} prog id {}", f.priority, f.handle, f.prog_id);
//! h.tc_detach(ifindex, f.direction, f.priority, f.handle)?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod error;
mod explain;
mod filter;
mod link;
mod links;
mod qdisc;
mod request;
mod socket;
mod wire;
mod xdp;

pub use error::{KernelError, NetlinkError, Result};
pub use explain::ExplainFn;
pub use filter::{TcAttachFlags, TcDirection, TcFilterInfo, TcHook};
pub use qdisc::ClsactState;
pub use request::{parse_reply, MalformedReply, ReplyBody, ReplyMessage};
pub use xdp::{XdpFlags, XdpInfo, XdpMode};

/// A NETLINK_ROUTE socket in the caller's current network namespace, and the operations
/// on it. Cheap to make; not shared between threads (each request waits for its answer).
#[derive(Debug)]
pub struct Handle {
    conn: request::Conn,
}

impl Handle {
    /// Open a socket in the network namespace of the calling thread.
    pub fn new() -> Result<Handle> {
        Ok(Handle {
            conn: request::Conn::new()?,
        })
    }
}

/// rtnetlink message types (linux/rtnetlink.h).
mod rtm {
    pub const NEWLINK: u16 = 16;
    pub const GETLINK: u16 = 18;
    pub const SETLINK: u16 = 19;
    pub const NEWQDISC: u16 = 36;
    pub const DELQDISC: u16 = 37;
    pub const GETQDISC: u16 = 38;
    pub const NEWTFILTER: u16 = 44;
    pub const DELTFILTER: u16 = 45;
    pub const GETTFILTER: u16 = 46;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read-only requests need no privilege: loopback is index 1 in every namespace.
    #[test]
    fn loopback_by_name_and_index() {
        let mut h = Handle::new().unwrap();
        assert_eq!(h.ifindex("lo").unwrap(), 1);
        assert_eq!(h.ifname(1).unwrap(), "lo");
        // Many requests on one socket: every answer matches its own sequence number.
        for _ in 0..100 {
            assert_eq!(h.ifindex("lo").unwrap(), 1);
        }
        let e = h.ifindex("rbpf-nosuch0").unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert_eq!(
            e.to_string(),
            "no device \"rbpf-nosuch0\" in this network namespace"
        );
    }
}
