//! Every interface of the namespace (RTM_GETLINK dump), for listings.

use netlink_packet_route::link::LinkMessage;

use crate::error::{NetlinkError, Result};
use crate::link::{ifinfo_index, IFINFOMSG_LEN};
use crate::request::{attr_str, attrs};
use crate::{rtm, Handle};

/// IFLA_IFNAME.
const IFLA_IFNAME: u16 = 3;

impl Handle {
    /// (ifindex, name) of every interface in the socket's namespace, by index (`ip link`).
    pub fn links(&mut self) -> Result<Vec<(u32, String)>> {
        let op = "ip link show";
        let replies = self
            .conn
            .dump(rtm::GETLINK, &LinkMessage::default())
            .map_err(|f| f.at(op, "(all)"))?;
        let mut out = Vec::new();
        for d in replies.iter().filter(|d| d.msg_type == rtm::NEWLINK) {
            let Some(index) = ifinfo_index(&d.payload) else {
                continue;
            };
            let mut name = None;
            for a in attrs(d.payload.get(IFINFOMSG_LEN..).unwrap_or_default()) {
                let a = a.map_err(|e| NetlinkError::Protocol {
                    op: op.into(),
                    reason: e.to_string(),
                })?;
                if a.kind == IFLA_IFNAME {
                    name = Some(attr_str(a.value));
                }
            }
            if let Some(n) = name {
                out.push((index, n));
            }
        }
        out.sort();
        Ok(out)
    }
}
