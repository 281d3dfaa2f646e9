//! Interfaces: index by name and name by index (RTM_GETLINK), in the socket's namespace.

use netlink_packet_route::link::{LinkAttribute, LinkHeader, LinkMessage};

use crate::error::{NetlinkError, Result};
use crate::request::{attr_str, attrs, Failure};
use crate::{rtm, Handle};

/// IFLA_IFNAME.
const IFLA_IFNAME: u16 = 3;
/// sizeof(struct ifinfomsg).
pub(crate) const IFINFOMSG_LEN: usize = 16;
/// IFNAMSIZ - 1: the longest interface name.
const IFNAME_MAX: usize = 15;

/// The rules the kernel's dev_valid_name() applies.
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// The index field of a struct ifinfomsg payload.
pub(crate) fn ifinfo_index(payload: &[u8]) -> Option<u32> {
    LinkHeader::parse(payload).ok().map(|h| h.index)
}

impl Handle {
    /// The index of interface `name` (like `ip link show dev NAME`). A missing device is
    /// [`NetlinkError::NoDevice`] naming it.
    pub fn ifindex(&mut self, name: &str) -> Result<u32> {
        if !valid_ifname(name) {
            return Err(NetlinkError::InvalidArgument {
                op: format!("ip link show dev {name:?}"),
                reason: "not a valid interface name (1 to 15 bytes, no '/', ':' or spaces)".into(),
            });
        }
        // One ioctl, unless --explain shows the netlink messages (then the RTM_GETLINK).
        if !self.conn.explain.on() {
            return self.conn.ifindex(name).map_err(|e| match e.raw_os_error() {
                Some(libc::ENODEV) => NetlinkError::NoDevice {
                    dev: name.to_string(),
                    op: None,
                    kernel: Some(crate::error::KernelError {
                        errno: libc::ENODEV,
                        ext_ack: None,
                        offset: None,
                    }),
                },
                _ => NetlinkError::Socket {
                    call: "ioctl(SIOCGIFINDEX)",
                    source: e,
                },
            });
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let replies = self
            .conn
            .request(rtm::GETLINK, 0, &msg)
            .map_err(|f| match f {
                Failure::Kernel(k) if k.errno == libc::ENODEV => NetlinkError::NoDevice {
                    dev: name.to_string(),
                    op: None,
                    kernel: Some(k),
                },
                f => f.at(&format!("ip link show dev {name}"), name),
            })?;
        replies
            .iter()
            .filter(|d| d.msg_type == rtm::NEWLINK)
            .find_map(|d| ifinfo_index(&d.payload))
            .ok_or_else(|| NetlinkError::Protocol {
                op: format!("ip link show dev {name}"),
                reason: "no RTM_NEWLINK in the answer".into(),
            })
    }

    /// The name of interface `ifindex`.
    pub fn ifname(&mut self, ifindex: u32) -> Result<String> {
        let payload = self.get_link(ifindex)?;
        let op = format!("ip link show index {ifindex}");
        for a in attrs(payload.get(IFINFOMSG_LEN..).unwrap_or_default()) {
            let a = a.map_err(|e| NetlinkError::Protocol {
                op: op.clone(),
                reason: e.to_string(),
            })?;
            if a.kind == IFLA_IFNAME {
                return Ok(attr_str(a.value));
            }
        }
        Err(NetlinkError::Protocol {
            op,
            reason: "link without IFLA_IFNAME".into(),
        })
    }

    /// The RTM_NEWLINK payload (struct ifinfomsg and attributes) of interface `ifindex`.
    pub(crate) fn get_link(&mut self, ifindex: u32) -> Result<Vec<u8>> {
        let dev = format!("ifindex {ifindex}");
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        let replies = self
            .conn
            .request(rtm::GETLINK, 0, &msg)
            .map_err(|f| match f {
                Failure::Kernel(k) if k.errno == libc::ENODEV => NetlinkError::NoDevice {
                    dev: dev.clone(),
                    op: None,
                    kernel: Some(k),
                },
                f => f.at(&format!("ip link show {dev}"), &dev),
            })?;
        replies
            .into_iter()
            .find(|d| d.msg_type == rtm::NEWLINK && ifinfo_index(&d.payload) == Some(ifindex))
            .map(|d| d.payload)
            .ok_or_else(|| NetlinkError::Protocol {
                op: format!("ip link show {dev}"),
                reason: "no RTM_NEWLINK for that index in the answer".into(),
            })
    }

    /// The device's name for error messages, `ifindex N` when it cannot be had.
    pub(crate) fn dev_name(&mut self, ifindex: u32) -> String {
        self.ifname(ifindex)
            .unwrap_or_else(|_| format!("ifindex {ifindex}"))
    }

    /// Turn a failure into an error naming the operation `op` (which contains `{dev}`)
    /// on device `ifindex`; ENODEV becomes [`NetlinkError::NoDevice`].
    pub(crate) fn fail(&mut self, f: Failure, ifindex: u32, op: &str) -> NetlinkError {
        let dev = self.dev_name(ifindex);
        match f {
            Failure::Kernel(k) if k.errno == libc::ENODEV => NetlinkError::NoDevice {
                op: Some(op.replace("{dev}", &dev)),
                dev,
                kernel: Some(k),
            },
            f => f.at(&op.replace("{dev}", &dev), &dev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_ifname;

    #[test]
    fn interface_names() {
        assert!(valid_ifname("veth0"));
        assert!(valid_ifname("a23456789012345"));
        assert!(!valid_ifname("a234567890123456"));
        assert!(!valid_ifname(""));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("a b"));
        assert!(!valid_ifname(".."));
    }
}
