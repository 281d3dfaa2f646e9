//! The clsact qdisc: the hook that tc bpf filters on ingress and egress hang from.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::tc::{TcAttribute, TcHeader, TcMessage};

use crate::error::{NetlinkError, Result};
use crate::request::{attr_str, attrs, Failure};
use crate::{rtm, Handle};

/// TC_H_CLSACT (== TC_H_INGRESS): the parent of the one ingress/clsact slot of a device.
pub(crate) const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// The handle the kernel gives clsact: ffff:0000.
const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// TCA_KIND.
const TCA_KIND: u16 = 1;
/// sizeof(struct tcmsg).
pub(crate) const TCMSG_LEN: usize = 20;

/// What [`Handle::ensure_clsact`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClsactState {
    /// There was none; we created it.
    Created,
    /// A clsact qdisc was already there; it is left as it is.
    Existed,
}

fn clsact_msg(ifindex: u32) -> TcMessage {
    let header = TcHeader {
        index: ifindex as i32,
        handle: CLSACT_HANDLE.into(),
        parent: TC_H_CLSACT.into(),
        ..Default::default()
    };
    TcMessage::from_parts(header, vec![TcAttribute::Kind("clsact".into())])
}

impl Handle {
    /// Make sure device `ifindex` has a clsact qdisc (`tc qdisc add dev DEV clsact`).
    /// An existing clsact is fine; an `ingress` (or any other) qdisc in that slot is refused
    /// with [`NetlinkError::QdiscSlotTaken`], since replacing it would drop its filters.
    pub fn ensure_clsact(&mut self, ifindex: u32) -> Result<ClsactState> {
        let msg = clsact_msg(ifindex);
        let err = match self
            .conn
            .request(rtm::NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &msg)
        {
            Ok(_) => return Ok(ClsactState::Created),
            Err(Failure::Kernel(k)) => k,
            Err(f) => return Err(self.fail(f, ifindex, "tc qdisc add dev {dev} clsact")),
        };
        // Something holds the slot (or the device is gone): find out what.
        match self.qdisc_kind(ifindex) {
            Ok(Some(kind)) if kind == "clsact" && err.errno == libc::EEXIST => {
                Ok(ClsactState::Existed)
            }
            Ok(Some(kind)) if kind != "clsact" => Err(NetlinkError::QdiscSlotTaken {
                dev: self.dev_name(ifindex),
                kind,
                kernel: Some(err),
            }),
            _ => Err(self.fail(
                Failure::Kernel(err),
                ifindex,
                "tc qdisc add dev {dev} clsact",
            )),
        }
    }

    /// Delete the clsact qdisc of device `ifindex`, and with it every tc filter on its
    /// ingress and egress (`tc qdisc del dev DEV clsact`). Fails when there is none, and
    /// never deletes an `ingress` qdisc.
    pub fn delete_clsact(&mut self, ifindex: u32) -> Result<()> {
        let msg = clsact_msg(ifindex);
        self.conn
            .request(rtm::DELQDISC, 0, &msg)
            .map(|_| ())
            .map_err(|f| self.fail(f, ifindex, "tc qdisc del dev {dev} clsact"))
    }

    /// The kind of qdisc in the ingress/clsact slot of device `ifindex` (`clsact`,
    /// `ingress`), or None when the slot is empty.
    pub fn qdisc_kind(&mut self, ifindex: u32) -> Result<Option<String>> {
        let msg = TcMessage::with_index(ifindex as i32);
        let op = "tc qdisc show dev {dev}";
        let replies = match self.conn.dump(rtm::GETQDISC, &msg) {
            Ok(r) => r,
            Err(f) => return Err(self.fail(f, ifindex, op)),
        };
        for d in replies.iter().filter(|d| d.msg_type == rtm::NEWQDISC) {
            let Ok(h) = TcHeader::parse(&d.payload) else {
                continue;
            };
            if h.index as u32 != ifindex || u32::from(h.parent) != TC_H_CLSACT {
                continue;
            }
            for a in attrs(d.payload.get(TCMSG_LEN..).unwrap_or_default()) {
                match a {
                    Ok(a) if a.kind == TCA_KIND => return Ok(Some(attr_str(a.value))),
                    Ok(_) => {}
                    Err(e) => {
                        let dev = self.dev_name(ifindex);
                        return Err(NetlinkError::Protocol {
                            op: op.replace("{dev}", &dev),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(None)
    }
}
