//! tc bpf filters on the ingress and egress hooks of clsact: add (direct-action), replace,
//! delete, list. A filter is named by direction, priority and handle, as in `tc filter`.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NlaBuffer, Parseable, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE,
};
use netlink_packet_route::tc::{
    TcAttribute, TcBpfFlags, TcFilterBpfOption, TcHeader, TcMessage, TcOption,
};

use crate::error::{NetlinkError, Result};
use crate::qdisc::TCMSG_LEN;
use crate::request::{attr_str, attrs, Data};
use crate::{rtm, Handle};

/// ETH_P_ALL: the filters see every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// TC_H_MIN_INGRESS / TC_H_MIN_EGRESS under TC_H_CLSACT.
const PARENT_INGRESS: u32 = 0xFFFF_FFF2;
const PARENT_EGRESS: u32 = 0xFFFF_FFF3;
/// BPF_PROG_TYPE_SCHED_CLS: the program type a tc bpf filter runs.
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// TCA_KIND and TCA_OPTIONS.
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;

/// Which hook of clsact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcDirection {
    /// Packets arriving on the device (parent ffff:fff2).
    Ingress,
    /// Packets leaving the device (parent ffff:fff3).
    Egress,
}

impl TcDirection {
    /// The tcm_parent of this hook.
    pub fn parent(self) -> u32 {
        match self {
            TcDirection::Ingress => PARENT_INGRESS,
            TcDirection::Egress => PARENT_EGRESS,
        }
    }

    fn from_parent(parent: u32) -> Option<TcDirection> {
        match parent {
            PARENT_INGRESS => Some(TcDirection::Ingress),
            PARENT_EGRESS => Some(TcDirection::Egress),
            _ => None,
        }
    }

    /// `ingress` or `egress`, as tc writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TcDirection::Ingress => "ingress",
            TcDirection::Egress => "egress",
        }
    }
}

impl std::fmt::Display for TcDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a filter goes: direction, priority (`pref`, 0 = let the kernel choose) and handle
/// (0 = let the kernel choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcHook {
    /// Ingress or egress.
    pub direction: TcDirection,
    /// Priority; lower runs first. 0 lets the kernel choose (it counts down from 49152).
    pub priority: u16,
    /// Handle within the priority. 0 lets the kernel choose.
    pub handle: u32,
}

/// How [`Handle::tc_attach`] treats an existing filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcAttachFlags {
    /// Replace the filter at the hook's priority and handle in place (NLM_F_REPLACE), without
    /// a moment with no program. Without it an existing filter there is an error.
    pub replace: bool,
}

/// A bpf filter as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcFilterInfo {
    /// Ingress or egress.
    pub direction: TcDirection,
    /// Priority (`pref`).
    pub priority: u16,
    /// Handle.
    pub handle: u32,
    /// The protocol it matches (ETH_P_*, host order): ETH_P_ALL (3) for ours.
    pub protocol: u16,
    /// TCA_BPF_ID: the id of the attached program.
    pub prog_id: u32,
    /// TCA_BPF_NAME: the name given at attach time.
    pub name: String,
    /// TCA_BPF_TAG: the program's tag (hash of its instructions).
    pub tag: [u8; 8],
    /// TCA_BPF_FLAG_ACT_DIRECT: the program's return value is the tc action.
    pub direct_action: bool,
}

impl TcFilterInfo {
    /// The tag in hex, as `tc` and `bpftool` print it.
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// tcm_info of a filter: priority in the high half, protocol (network order) in the low.
fn tcm_info(priority: u16, protocol: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from(protocol.to_be())
}

fn filter_msg(
    ifindex: u32,
    dir: TcDirection,
    priority: u16,
    handle: u32,
    protocol: u16,
    options: Vec<TcOption>,
) -> TcMessage {
    let header = TcHeader {
        index: ifindex as i32,
        handle: handle.into(),
        parent: dir.parent().into(),
        info: tcm_info(priority, protocol),
        ..Default::default()
    };
    let mut attributes = vec![TcAttribute::Kind("bpf".into())];
    if !options.is_empty() {
        attributes.push(TcAttribute::Options(options));
    }
    TcMessage::from_parts(header, attributes)
}

/// A RTM_NEWTFILTER payload as a bpf filter on clsact; Ok(None) for anything else (other
/// kinds, other parents, and the per-priority entries dumps carry without options).
pub(crate) fn parse_filter(payload: &[u8]) -> std::result::Result<Option<TcFilterInfo>, String> {
    let h = TcHeader::parse(payload).map_err(|e| e.to_string())?;
    let Some(direction) = TcDirection::from_parent(h.parent.into()) else {
        return Ok(None);
    };
    let mut kind = None;
    let mut options = None;
    for a in attrs(payload.get(TCMSG_LEN..).unwrap_or_default()) {
        let a = a.map_err(|e| e.to_string())?;
        match a.kind {
            TCA_KIND => kind = Some(attr_str(a.value)),
            TCA_OPTIONS => options = Some(a.value),
            _ => {}
        }
    }
    let (Some("bpf"), Some(options)) = (kind.as_deref(), options) else {
        return Ok(None);
    };
    let mut info = TcFilterInfo {
        direction,
        priority: (h.info >> 16) as u16,
        handle: h.handle.into(),
        protocol: u16::from_be((h.info & 0xffff) as u16),
        prog_id: 0,
        name: String::new(),
        tag: [0; 8],
        direct_action: false,
    };
    for a in attrs(options) {
        let a = a.map_err(|e| e.to_string())?;
        let opt = TcFilterBpfOption::parse(&NlaBuffer::new(a.whole))
            .map_err(|e| format!("bpf filter option {}: {e}", a.kind))?;
        match opt {
            TcFilterBpfOption::ProgId(id) => info.prog_id = id,
            TcFilterBpfOption::ProgName(n) => info.name = n,
            TcFilterBpfOption::ProgTag(t) => info.tag = t,
            TcFilterBpfOption::Flags(f) => {
                info.direct_action = f.contains(TcBpfFlags::DirectAction)
            }
            _ => {}
        }
    }
    Ok(Some(info))
}

fn filters_in(data: &[Data]) -> std::result::Result<Vec<TcFilterInfo>, String> {
    let mut out = Vec::new();
    for d in data.iter().filter(|d| d.msg_type == rtm::NEWTFILTER) {
        if let Some(f) = parse_filter(&d.payload)? {
            out.push(f);
        }
    }
    Ok(out)
}

impl Handle {
    /// Attach program `prog` as a direct-action bpf filter (`tc filter add dev DEV ingress
    /// pref P handle H bpf da fd FD name NAME`). clsact must exist ([`Handle::ensure_clsact`]).
    /// Returns the filter as the kernel echoed it: the priority and handle it chose and the
    /// program id.
    pub fn tc_attach(
        &mut self,
        ifindex: u32,
        hook: TcHook,
        prog: BorrowedFd<'_>,
        name: &str,
        flags: TcAttachFlags,
    ) -> Result<TcFilterInfo> {
        let verb = if flags.replace { "replace" } else { "add" };
        let op = format!("tc filter {verb} dev {{dev}} {}", hook.direction);
        if name.contains('\0') {
            return Err(NetlinkError::InvalidArgument {
                op: op.replace("{dev}", &self.dev_name(ifindex)),
                reason: format!("filter name {name:?} contains a NUL byte"),
            });
        }
        let fd = u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX);
        let options = vec![
            TcOption::Bpf(TcFilterBpfOption::ProgFd(fd)),
            TcOption::Bpf(TcFilterBpfOption::ProgName(name.to_string())),
            TcOption::Bpf(TcFilterBpfOption::Flags(TcBpfFlags::DirectAction)),
        ];
        let msg = filter_msg(
            ifindex,
            hook.direction,
            hook.priority,
            hook.handle,
            ETH_P_ALL,
            options,
        );
        let mode = if flags.replace {
            NLM_F_REPLACE
        } else {
            NLM_F_EXCL
        };
        let data = match self
            .conn
            .request(rtm::NEWTFILTER, NLM_F_CREATE | NLM_F_ECHO | mode, &msg)
        {
            Ok(d) => d,
            Err(f) => {
                let e = self.fail(f, ifindex, &op);
                return Err(e.with_prog_hint(prog.as_raw_fd(), BPF_PROG_TYPE_SCHED_CLS));
            }
        };
        let found =
            filters_in(&data).map(|v| v.into_iter().find(|f| f.direction == hook.direction));
        match found {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(NetlinkError::Protocol {
                op: op.replace("{dev}", &self.dev_name(ifindex)),
                reason: "the kernel did not echo the new filter".into(),
            }),
            Err(reason) => Err(NetlinkError::Protocol {
                op: op.replace("{dev}", &self.dev_name(ifindex)),
                reason,
            }),
        }
    }

    /// Delete one bpf filter of ours (protocol all: `tc filter del dev DEV ingress pref P
    /// handle H bpf`). Handle 0 deletes every filter at that priority. Priority 0 is refused:
    /// the kernel would take it as "flush the whole hook", other people's filters included.
    pub fn tc_detach(
        &mut self,
        ifindex: u32,
        direction: TcDirection,
        priority: u16,
        handle: u32,
    ) -> Result<()> {
        self.tc_detach_proto(ifindex, direction, priority, handle, ETH_P_ALL)
    }

    fn tc_detach_proto(
        &mut self,
        ifindex: u32,
        direction: TcDirection,
        priority: u16,
        handle: u32,
        protocol: u16,
    ) -> Result<()> {
        let op =
            format!("tc filter del dev {{dev}} {direction} pref {priority} handle {handle:#x} bpf");
        if priority == 0 {
            return Err(NetlinkError::InvalidArgument {
                op: op.replace("{dev}", &self.dev_name(ifindex)),
                reason: "priority 0 would delete every filter on the hook; name the priority"
                    .into(),
            });
        }
        let msg = filter_msg(ifindex, direction, priority, handle, protocol, Vec::new());
        match self.conn.request(rtm::DELTFILTER, 0, &msg) {
            Ok(_) => Ok(()),
            Err(f) => Err(self.fail(f, ifindex, &op)),
        }
    }

    /// Every bpf filter on the clsact hooks of device `ifindex` (ingress first), with
    /// priority, handle, program id, name, tag and the direct-action flag. Empty when there
    /// is no clsact.
    pub fn tc_list(&mut self, ifindex: u32) -> Result<Vec<TcFilterInfo>> {
        let mut out = self.tc_list_on(ifindex, TcDirection::Ingress)?;
        out.extend(self.tc_list_on(ifindex, TcDirection::Egress)?);
        Ok(out)
    }

    /// The bpf filters on one hook of device `ifindex` (`tc filter show dev DEV ingress`):
    /// one dump, where [`Handle::tc_list`] makes two.
    pub fn tc_list_on(&mut self, ifindex: u32, dir: TcDirection) -> Result<Vec<TcFilterInfo>> {
        let (op, data) = self.dump_hook(ifindex, dir)?;
        match filters_in(&data) {
            Ok(v) => Ok(v.into_iter().filter(|f| f.direction == dir).collect()),
            Err(reason) => Err(NetlinkError::Protocol {
                op: op.replace("{dev}", &self.dev_name(ifindex)),
                reason,
            }),
        }
    }

    /// How many filters of any kind (bpf, u32, flower, matchall ...) are on the clsact
    /// hooks of device `ifindex`: a qdisc that has any still serves somebody.
    pub fn tc_filter_count(&mut self, ifindex: u32) -> Result<usize> {
        let mut n = 0;
        for dir in [TcDirection::Ingress, TcDirection::Egress] {
            let (_, data) = self.dump_hook(ifindex, dir)?;
            n += data
                .iter()
                .filter(|d| d.msg_type == rtm::NEWTFILTER)
                .filter(|d| {
                    TcHeader::parse(&d.payload)
                        .is_ok_and(|h| TcDirection::from_parent(h.parent.into()) == Some(dir))
                })
                .count();
        }
        Ok(n)
    }

    /// `tc filter show dev DEV DIR` as netlink messages, with the operation's name.
    fn dump_hook(&mut self, ifindex: u32, dir: TcDirection) -> Result<(String, Vec<Data>)> {
        let op = format!("tc filter show dev {{dev}} {dir}");
        let msg = filter_msg(ifindex, dir, 0, 0, 0, Vec::new());
        match self.conn.dump(rtm::GETTFILTER, &msg) {
            Ok(d) => Ok((op, d)),
            Err(f) => Err(self.fail(f, ifindex, &op)),
        }
    }

    /// Delete every bpf filter on one hook (or both, with None) of device `ifindex`, one by
    /// one by priority and handle; other kinds of filters stay. Returns what was deleted.
    pub fn tc_detach_all(
        &mut self,
        ifindex: u32,
        direction: Option<TcDirection>,
    ) -> Result<Vec<TcFilterInfo>> {
        let victims: Vec<TcFilterInfo> = self
            .tc_list(ifindex)?
            .into_iter()
            .filter(|f| direction.is_none_or(|d| d == f.direction))
            .collect();
        for f in &victims {
            self.tc_detach_proto(ifindex, f.direction, f.priority, f.handle, f.protocol)?;
        }
        Ok(victims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcm_info_puts_priority_high_and_protocol_in_network_order() {
        let info = tcm_info(49152, ETH_P_ALL);
        assert_eq!(info >> 16, 49152);
        assert_eq!(u16::from_be((info & 0xffff) as u16), ETH_P_ALL);
    }

    #[test]
    fn parse_filter_never_panics() {
        let msg = filter_msg(
            3,
            TcDirection::Egress,
            7,
            1,
            ETH_P_ALL,
            vec![
                TcOption::Bpf(TcFilterBpfOption::ProgId(42)),
                TcOption::Bpf(TcFilterBpfOption::ProgName("x".into())),
                TcOption::Bpf(TcFilterBpfOption::Flags(TcBpfFlags::DirectAction)),
            ],
        );
        let mut buf = vec![0u8; netlink_packet_core::Emitable::buffer_len(&msg)];
        netlink_packet_core::Emitable::emit(&msg, &mut buf);
        let f = parse_filter(&buf).unwrap().unwrap();
        assert_eq!(
            (f.direction, f.priority, f.handle, f.prog_id),
            (TcDirection::Egress, 7, 1, 42)
        );
        assert!(f.direct_action);
        assert_eq!(f.name, "x");
        for cut in 0..buf.len() {
            let _ = parse_filter(&buf[..cut]);
        }
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0xff;
            let _ = parse_filter(&b);
        }
    }
}
