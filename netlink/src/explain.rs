//! Narration for `--explain`: every request this crate sends and every answer it gets, as
//! one line each: message type, flags, the fixed header (ifinfomsg or tcmsg) and the
//! attributes we know, decoded (nested IFLA_XDP and TCA_OPTIONS included). Only reads the
//! bytes; never changes what is sent.

use crate::wire::{attr_str, attr_u32, attrs, ReplyBody, ReplyMessage};
use crate::{rtm, Handle};
use std::fmt;

/// Where narration goes: one line per message.
pub type ExplainFn = Box<dyn Fn(&str) + Send + Sync>;

/// The narrator of one connection (none by default).
#[derive(Default)]
pub(crate) struct Explain(Option<ExplainFn>);

impl fmt::Debug for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Explain(on)"
        } else {
            "Explain(off)"
        })
    }
}

impl Handle {
    /// Narrate every request and answer on this handle through `f` (for `--explain`).
    pub fn set_explain(&mut self, f: ExplainFn) {
        self.conn.explain = Explain(Some(f));
    }
}

/// `struct nlmsghdr` is 16 bytes; ifinfomsg 16; tcmsg 20.
const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const TCMSG_LEN: usize = 20;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

impl Explain {
    /// Whether anyone listens.
    pub(crate) fn on(&self) -> bool {
        self.0.is_some()
    }

    /// A request about to be sent (the whole message, header included).
    pub(crate) fn request(&self, msg: &[u8]) {
        let Some(out) = &self.0 else { return };
        let u16_at = |at: usize| {
            msg.get(at..at + 2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .unwrap_or(0)
        };
        let (ty, flags) = (u16_at(4), u16_at(6));
        let body = msg.get(NLMSG_HDRLEN..).unwrap_or_default();
        out(&format!(
            "netlink -> {} [{}] {}",
            type_name(ty),
            flag_names(ty, flags),
            describe_body(ty, body)
        ));
    }

    /// One message of the kernel's answer.
    pub(crate) fn reply(&self, m: &ReplyMessage) {
        let Some(out) = &self.0 else { return };
        let line = match &m.body {
            ReplyBody::Ack => "netlink <- NLMSG_ERROR 0: ack (done, no error)".to_string(),
            ReplyBody::Error(e) => format!(
                "netlink <- NLMSG_ERROR -{}: {}{}",
                e.errno,
                e.errno_text(),
                e.ext_ack
                    .as_ref()
                    .map(|m| format!(" (extended ack: \"{m}\")"))
                    .unwrap_or_default()
            ),
            ReplyBody::Done(None) => "netlink <- NLMSG_DONE (end of dump)".to_string(),
            ReplyBody::Done(Some(e)) => format!(
                "netlink <- NLMSG_DONE with error -{}: {}",
                e.errno,
                e.errno_text()
            ),
            ReplyBody::Noop => "netlink <- NLMSG_NOOP".to_string(),
            ReplyBody::Data(payload) => format!(
                "netlink <- {} {}",
                type_name(m.msg_type),
                describe_body(m.msg_type, payload)
            ),
        };
        out(&line);
    }
}

fn type_name(t: u16) -> String {
    match t {
        NLMSG_ERROR => "NLMSG_ERROR".into(),
        NLMSG_DONE => "NLMSG_DONE".into(),
        rtm::NEWLINK => "RTM_NEWLINK".into(),
        rtm::GETLINK => "RTM_GETLINK".into(),
        rtm::SETLINK => "RTM_SETLINK".into(),
        rtm::NEWQDISC => "RTM_NEWQDISC".into(),
        rtm::DELQDISC => "RTM_DELQDISC".into(),
        rtm::GETQDISC => "RTM_GETQDISC".into(),
        rtm::NEWTFILTER => "RTM_NEWTFILTER".into(),
        rtm::DELTFILTER => "RTM_DELTFILTER".into(),
        rtm::GETTFILTER => "RTM_GETTFILTER".into(),
        t => format!("type {t}"),
    }
}

/// NLM_F_* names; bits 8-11 mean different things for NEW and GET requests.
fn flag_names(ty: u16, flags: u16) -> String {
    let is_get = matches!(ty, rtm::GETLINK | rtm::GETQDISC | rtm::GETTFILTER);
    let mut names = Vec::new();
    let common = [
        (0x1, "REQUEST"),
        (0x2, "MULTI"),
        (0x4, "ACK"),
        (0x8, "ECHO"),
    ];
    let high: [(u16, &str); 4] = if is_get {
        [
            (0x100, "ROOT"),
            (0x200, "MATCH"),
            (0x400, "ATOMIC"),
            (0, ""),
        ]
    } else {
        [
            (0x100, "REPLACE"),
            (0x200, "EXCL"),
            (0x400, "CREATE"),
            (0x800, "APPEND"),
        ]
    };
    for (bit, n) in common.iter().chain(high.iter()) {
        if *bit != 0 && flags & bit != 0 {
            names.push(*n);
        }
    }
    if is_get && flags & 0x300 == 0x300 {
        names.retain(|n| *n != "ROOT" && *n != "MATCH");
        names.push("DUMP");
    }
    names.join("|")
}

fn describe_body(ty: u16, body: &[u8]) -> String {
    let i32_at = |at: usize| {
        body.get(at..at + 4)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    let u32_at = |at: usize| i32_at(at) as u32;
    match ty {
        rtm::NEWLINK | rtm::GETLINK | rtm::SETLINK => {
            let rest = body.get(IFINFOMSG_LEN..).unwrap_or_default();
            format!("ifinfomsg{{ifindex {}}} {}", i32_at(4), link_attrs(rest))
        }
        rtm::NEWQDISC
        | rtm::DELQDISC
        | rtm::GETQDISC
        | rtm::NEWTFILTER
        | rtm::DELTFILTER
        | rtm::GETTFILTER => {
            let is_filter = matches!(ty, rtm::NEWTFILTER | rtm::DELTFILTER | rtm::GETTFILTER);
            let info = u32_at(16);
            let mut s = format!(
                "tcmsg{{ifindex {}, handle {}, parent {}",
                i32_at(4),
                handle(u32_at(8), is_filter),
                parent(u32_at(12))
            );
            if is_filter && info != 0 {
                let proto = u16::from_be((info & 0xffff) as u16);
                s += &format!(
                    ", info: prio {} protocol {}",
                    info >> 16,
                    if proto == 3 {
                        "ETH_P_ALL".to_string()
                    } else {
                        format!("{proto:#06x}")
                    }
                );
            }
            s += "}";
            let rest = body.get(TCMSG_LEN..).unwrap_or_default();
            format!("{s} {}", tc_attrs(rest))
        }
        _ => format!("{} bytes", body.len()),
    }
}

/// TC_H_* values the way tc prints them.
fn parent(p: u32) -> String {
    match p {
        0xFFFF_FFFF => "TC_H_ROOT".into(),
        0xFFFF_FFF1 => "TC_H_CLSACT (ffff:fff1)".into(),
        0xFFFF_FFF2 => "clsact ingress (ffff:fff2)".into(),
        0xFFFF_FFF3 => "clsact egress (ffff:fff3)".into(),
        0 => "0".into(),
        p => format!("{:x}:{:x}", p >> 16, p & 0xffff),
    }
}

fn handle(h: u32, is_filter: bool) -> String {
    if is_filter {
        format!("{h:#x}")
    } else {
        format!("{:x}:{:x}", h >> 16, h & 0xffff)
    }
}

/// Known attributes by name, the others counted.
fn list(known: Vec<String>, other: usize) -> String {
    let mut parts = known;
    if other > 0 {
        parts.push(format!("+{other} other attributes"));
    }
    if parts.is_empty() {
        "(no attributes)".into()
    } else {
        parts.join(", ")
    }
}

fn link_attrs(b: &[u8]) -> String {
    const IFLA_IFNAME: u16 = 3;
    const IFLA_XDP: u16 = 43;
    let mut known = Vec::new();
    let mut other = 0;
    for a in attrs(b).map_while(|a| a.ok()) {
        match a.kind & 0x3fff {
            IFLA_IFNAME => known.push(format!("IFLA_IFNAME \"{}\"", attr_str(a.value))),
            IFLA_XDP => known.push(format!("IFLA_XDP {{{}}}", xdp_attrs(a.value))),
            _ => other += 1,
        }
    }
    list(known, other)
}

fn xdp_attrs(b: &[u8]) -> String {
    let mut parts = Vec::new();
    for a in attrs(b).map_while(|a| a.ok()) {
        let v = attr_u32(a.value).unwrap_or(0);
        // IFLA_XDP_ATTACHED is a u8; the others are u32.
        let byte = a.value.first().copied().unwrap_or(0);
        parts.push(match a.kind & 0x3fff {
            1 => format!("IFLA_XDP_FD {}", v as i32),
            2 => format!(
                "IFLA_XDP_ATTACHED {}",
                match byte {
                    0 => "none",
                    1 => "XDP_ATTACHED_DRV",
                    2 => "XDP_ATTACHED_SKB",
                    3 => "XDP_ATTACHED_HW",
                    _ => "XDP_ATTACHED_MULTI",
                }
            ),
            3 => format!("IFLA_XDP_FLAGS {}", xdp_flags(v)),
            4 => format!("IFLA_XDP_PROG_ID {v}"),
            5 => format!("IFLA_XDP_DRV_PROG_ID {v}"),
            6 => format!("IFLA_XDP_SKB_PROG_ID {v}"),
            7 => format!("IFLA_XDP_HW_PROG_ID {v}"),
            8 => format!("IFLA_XDP_EXPECTED_FD {}", v as i32),
            k => format!("attr {k}"),
        });
    }
    parts.join(", ")
}

fn xdp_flags(v: u32) -> String {
    let names = [
        (1, "XDP_FLAGS_UPDATE_IF_NOEXIST"),
        (2, "XDP_FLAGS_SKB_MODE"),
        (4, "XDP_FLAGS_DRV_MODE"),
        (8, "XDP_FLAGS_HW_MODE"),
        (16, "XDP_FLAGS_REPLACE"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "0".into()
    } else {
        set.join("|")
    }
}

fn tc_attrs(b: &[u8]) -> String {
    const TCA_KIND: u16 = 1;
    const TCA_OPTIONS: u16 = 2;
    let mut known = Vec::new();
    let mut other = 0;
    let mut kind = String::new();
    for a in attrs(b).map_while(|a| a.ok()) {
        match a.kind & 0x3fff {
            TCA_KIND => {
                kind = attr_str(a.value);
                known.push(format!("TCA_KIND \"{kind}\""));
            }
            TCA_OPTIONS if kind == "bpf" => {
                known.push(format!("TCA_OPTIONS {{{}}}", bpf_attrs(a.value)))
            }
            TCA_OPTIONS => known.push("TCA_OPTIONS {..}".into()),
            _ => other += 1,
        }
    }
    list(known, other)
}

/// TCA_BPF_* inside a bpf filter's TCA_OPTIONS.
fn bpf_attrs(b: &[u8]) -> String {
    let mut parts = Vec::new();
    for a in attrs(b).map_while(|a| a.ok()) {
        let v = attr_u32(a.value).unwrap_or(0);
        parts.push(match a.kind & 0x3fff {
            3 => format!("TCA_BPF_CLASSID {v}"),
            6 => format!("TCA_BPF_FD {}", v as i32),
            7 => format!("TCA_BPF_NAME \"{}\"", attr_str(a.value)),
            8 => format!(
                "TCA_BPF_FLAGS {}",
                if v & 1 != 0 {
                    "TCA_BPF_FLAG_ACT_DIRECT".to_string()
                } else {
                    v.to_string()
                }
            ),
            9 => format!("TCA_BPF_FLAGS_GEN {v:#x}"),
            10 => format!(
                "TCA_BPF_TAG {}",
                a.value
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
            ),
            11 => format!("TCA_BPF_ID {v}"),
            k => format!("TCA_BPF attr {k}"),
        });
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_by_request_kind() {
        assert_eq!(flag_names(rtm::GETLINK, 0x301), "REQUEST|DUMP");
        assert_eq!(flag_names(rtm::NEWQDISC, 0x605), "REQUEST|ACK|EXCL|CREATE");
        assert_eq!(parent(0xFFFF_FFF2), "clsact ingress (ffff:fff2)");
    }

    #[test]
    fn a_setlink_with_xdp() {
        // ifinfomsg for ifindex 7, then IFLA_XDP { IFLA_XDP_FD 5, IFLA_XDP_FLAGS 1 }.
        let mut body = vec![0u8; IFINFOMSG_LEN];
        body[4..8].copy_from_slice(&7i32.to_ne_bytes());
        let mut inner = Vec::new();
        for (k, v) in [(1u16, 5u32), (3, 1)] {
            inner.extend_from_slice(&8u16.to_ne_bytes());
            inner.extend_from_slice(&k.to_ne_bytes());
            inner.extend_from_slice(&v.to_ne_bytes());
        }
        body.extend_from_slice(&((4 + inner.len()) as u16).to_ne_bytes());
        body.extend_from_slice(&(43u16 | 0x8000).to_ne_bytes());
        body.extend_from_slice(&inner);
        assert_eq!(
            describe_body(rtm::SETLINK, &body),
            "ifinfomsg{ifindex 7} IFLA_XDP {IFLA_XDP_FD 5, IFLA_XDP_FLAGS XDP_FLAGS_UPDATE_IF_NOEXIST}"
        );
    }
}
