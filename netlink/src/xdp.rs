//! XDP on a device: attach (generic/skb, native/driver, hardware, or the kernel's choice),
//! atomic replace with the expected-program check, detach, query. All through RTM_SETLINK
//! with a nested IFLA_XDP.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NlaBuffer, Parseable};
use netlink_packet_route::link::{LinkAttribute, LinkMessage, LinkXdp, XdpAttached};

use crate::error::{NetlinkError, Result};
use crate::link::IFINFOMSG_LEN;
use crate::request::attrs;
use crate::{rtm, Handle};

/// BPF_PROG_TYPE_XDP.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// IFLA_XDP.
const IFLA_XDP: u16 = 43;
/// XDP_FLAGS_UPDATE_IF_NOEXIST: fail with EBUSY when a program is already attached.
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
/// XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE / XDP_FLAGS_HW_MODE.
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_HW_MODE: u32 = 1 << 3;
/// XDP_FLAGS_REPLACE: swap only if IFLA_XDP_EXPECTED_FD is the attached program.
const XDP_FLAGS_REPLACE: u32 = 1 << 4;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Let the kernel choose: native when the driver supports it, else generic. In
    /// [`Handle::xdp_detach`]: whatever mode is attached.
    Auto,
    /// Generic XDP on the skb (XDP_FLAGS_SKB_MODE, `ip link set dev D xdpgeneric`).
    Skb,
    /// Native, in the driver (XDP_FLAGS_DRV_MODE, `xdpdrv`).
    Native,
    /// Offloaded to the NIC (XDP_FLAGS_HW_MODE, `xdpoffload`).
    Hw,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Skb => XDP_FLAGS_SKB_MODE,
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Hw => XDP_FLAGS_HW_MODE,
        }
    }

    /// The `ip link` keyword: `xdp`, `xdpgeneric`, `xdpdrv`, `xdpoffload`.
    pub fn ip_keyword(self) -> &'static str {
        match self {
            XdpMode::Auto => "xdp",
            XdpMode::Skb => "xdpgeneric",
            XdpMode::Native => "xdpdrv",
            XdpMode::Hw => "xdpoffload",
        }
    }
}

/// How [`Handle::xdp_attach`] treats a program already attached.
#[derive(Debug, Clone, Copy, Default)]
pub struct XdpFlags<'a> {
    /// Replace whatever is attached. Without it (and without `expected`), an attached
    /// program is an error (XDP_FLAGS_UPDATE_IF_NOEXIST) and nothing changes.
    pub replace: bool,
    /// Replace atomically, and only if this program is the one attached (XDP_FLAGS_REPLACE
    /// with IFLA_XDP_EXPECTED_FD). Implies `replace`.
    pub expected: Option<BorrowedFd<'a>>,
}

/// An XDP program attached to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpInfo {
    /// Skb, Native or Hw (never Auto).
    pub mode: XdpMode,
    /// The program's id.
    pub prog_id: u32,
}

fn raw(fd: BorrowedFd<'_>) -> i32 {
    fd.as_raw_fd()
}

impl Handle {
    fn set_xdp(
        &mut self,
        ifindex: u32,
        fd: i32,
        flags: u32,
        expected: Option<i32>,
        op: &str,
    ) -> Result<()> {
        let mut xdp = vec![LinkXdp::Fd(fd), LinkXdp::Flags(flags)];
        if let Some(e) = expected {
            xdp.push(LinkXdp::ExpectedFd(e as u32));
        }
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.attributes.push(LinkAttribute::Xdp(xdp));
        match self.conn.request(rtm::SETLINK, 0, &msg) {
            Ok(_) => Ok(()),
            Err(f) => Err(self.fail(f, ifindex, op)),
        }
    }

    /// Attach XDP program `prog` to device `ifindex` in `mode` (`ip link set dev DEV xdp*
    /// fd FD`). Refuses to replace an attached program unless `flags` ask for it.
    pub fn xdp_attach(
        &mut self,
        ifindex: u32,
        prog: BorrowedFd<'_>,
        mode: XdpMode,
        flags: XdpFlags<'_>,
    ) -> Result<()> {
        let mut bits = mode.flags();
        let expected = flags.expected.map(raw);
        if expected.is_some() {
            bits |= XDP_FLAGS_REPLACE;
        } else if !flags.replace {
            bits |= XDP_FLAGS_UPDATE_IF_NOEXIST;
        }
        let op = format!(
            "ip link set dev {{dev}} {} fd {}{}",
            mode.ip_keyword(),
            raw(prog),
            expected
                .map(|e| format!(" (expected fd {e})"))
                .unwrap_or_default()
        );
        self.set_xdp(ifindex, raw(prog), bits, expected, &op)
            .map_err(|e| {
                let e = e.with_prog_hint(raw(prog), BPF_PROG_TYPE_XDP);
                if mode == XdpMode::Hw {
                    e.or_hint(
                        "hardware mode needs a NIC that offloads XDP and a program loaded for it",
                    )
                } else {
                    e
                }
            })
    }

    /// Detach the XDP program of device `ifindex` (`ip link set dev DEV xdp* off`). With
    /// `expected`, only if that program is the one attached. [`XdpMode::Auto`] detaches
    /// whatever is attached, in every mode.
    pub fn xdp_detach(
        &mut self,
        ifindex: u32,
        mode: XdpMode,
        expected: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        let modes: Vec<XdpMode> = match mode {
            XdpMode::Auto => self
                .xdp_query(ifindex)?
                .into_iter()
                .map(|i| i.mode)
                .collect(),
            m => vec![m],
        };
        let expected = expected.map(raw);
        for m in modes {
            let mut bits = m.flags();
            if expected.is_some() {
                bits |= XDP_FLAGS_REPLACE;
            }
            let op = format!(
                "ip link set dev {{dev}} {} off{}",
                m.ip_keyword(),
                expected
                    .map(|e| format!(" (expected fd {e})"))
                    .unwrap_or_default()
            );
            self.set_xdp(ifindex, -1, bits, expected, &op)?;
        }
        Ok(())
    }

    /// The XDP programs attached to device `ifindex`: none, one, or one per mode when
    /// several are (XDP_ATTACHED_MULTI).
    pub fn xdp_query(&mut self, ifindex: u32) -> Result<Vec<XdpInfo>> {
        let payload = self.get_link(ifindex)?;
        parse_xdp(&payload).map_err(|reason| NetlinkError::Protocol {
            op: format!("ip link show {}", self.dev_name(ifindex)),
            reason,
        })
    }
}

/// The IFLA_XDP of a RTM_NEWLINK payload.
pub(crate) fn parse_xdp(payload: &[u8]) -> std::result::Result<Vec<XdpInfo>, String> {
    let mut attached = XdpAttached::None;
    let (mut prog, mut drv, mut skb, mut hw) = (0, 0, 0, 0);
    for a in attrs(payload.get(IFINFOMSG_LEN..).unwrap_or_default()) {
        let a = a.map_err(|e| e.to_string())?;
        if a.kind != IFLA_XDP {
            continue;
        }
        for x in attrs(a.value) {
            let x = x.map_err(|e| e.to_string())?;
            match LinkXdp::parse(&NlaBuffer::new(x.whole)).map_err(|e| format!("IFLA_XDP: {e}"))? {
                LinkXdp::Attached(at) => attached = at,
                LinkXdp::ProgId(id) => prog = id,
                LinkXdp::DrvProgId(id) => drv = id,
                LinkXdp::SkbProgId(id) => skb = id,
                LinkXdp::HwProgId(id) => hw = id,
                _ => {}
            }
        }
    }
    let one = |mode| {
        Ok(vec![XdpInfo {
            mode,
            prog_id: prog,
        }])
    };
    match attached {
        XdpAttached::None => Ok(Vec::new()),
        XdpAttached::Driver => one(XdpMode::Native),
        XdpAttached::SocketBuffer => one(XdpMode::Skb),
        XdpAttached::Hardware => one(XdpMode::Hw),
        XdpAttached::Multiple => Ok([
            (XdpMode::Native, drv),
            (XdpMode::Skb, skb),
            (XdpMode::Hw, hw),
        ]
        .into_iter()
        .filter(|&(_, id)| id != 0)
        .map(|(mode, prog_id)| XdpInfo { mode, prog_id })
        .collect()),
        other => Err(format!("unknown IFLA_XDP_ATTACHED value {other:?}")),
    }
}
