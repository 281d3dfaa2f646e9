//! The wire format of replies, parsed from bytes without panicking: struct nlmsghdr
//! framing, attributes (struct nlattr), errors with the kernel's extended ack
//! (NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS) and NLMSG_DONE. A leaf: `request` sends and
//! receives with it, `explain` describes what it parsed. `parse_reply` is the entry point a
//! fuzz target calls.

use std::fmt;

use netlink_packet_core::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};

use crate::error::KernelError;

/// sizeof(struct nlmsghdr).
pub const NLMSG_HDRLEN: usize = 16;
/// sizeof(struct nlattr) header.
const NLA_HDRLEN: usize = 4;
/// NLMSGERR_ATTR_MSG: the extended-ack string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request.
const NLMSGERR_ATTR_OFFS: u16 = 2;
/// The low 14 bits of nla_type are the type; the top two are NLA_F_NESTED / NET_BYTEORDER.
const NLA_TYPE_MASK: u16 = 0x3fff;

pub(crate) fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// A reply that does not follow the netlink framing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReply {
    /// Byte offset in the datagram where the problem is.
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for MalformedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed netlink reply at byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for MalformedReply {}

/// What one netlink message of a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// A data message (RTM_NEWLINK, RTM_NEWTFILTER, ...): its payload after the header.
    Data(Vec<u8>),
    /// NLMSG_ERROR with error 0: the request succeeded.
    Ack,
    /// NLMSG_ERROR with a negative error: the request failed.
    Error(KernelError),
    /// NLMSG_DONE: the end of a dump, with the error that cut it short if any.
    Done(Option<KernelError>),
    /// NLMSG_NOOP / NLMSG_OVERRUN: nothing for us.
    Noop,
}

/// One netlink message of a reply: the fields of struct nlmsghdr and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyMessage {
    /// nlmsg_type.
    pub msg_type: u16,
    /// nlmsg_flags (NLM_F_MULTIPART, NLM_F_DUMP_INTR, ...).
    pub flags: u16,
    /// nlmsg_seq: the sequence number of the request this answers.
    pub seq: u32,
    /// nlmsg_pid: the port it is addressed to.
    pub port: u32,
    /// The message's meaning.
    pub body: ReplyBody,
}

/// Walk the attributes (struct nlattr) in `buf`: (type without flag bits, value). Stops at the
/// first malformed one, reporting it with its offset relative to `buf`.
pub(crate) fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf, at: 0 }
}

/// Iterator returned by [`attrs`].
pub(crate) struct Attrs<'a> {
    buf: &'a [u8],
    at: usize,
}

/// One attribute: its type, its value, and the whole attribute (header included).
pub(crate) struct Attr<'a> {
    pub kind: u16,
    pub value: &'a [u8],
    pub whole: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, MalformedReply>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.at;
        let rest = self.buf.get(at..)?;
        if rest.len() < NLA_HDRLEN {
            // Trailing padding shorter than a header ends the list.
            self.at = self.buf.len();
            return None;
        }
        let len = read_u16(rest, 0).map(usize::from).unwrap_or(0);
        let kind = read_u16(rest, 2).unwrap_or(0);
        let parts = if len >= NLA_HDRLEN {
            rest.get(NLA_HDRLEN..len).zip(rest.get(..len))
        } else {
            None
        };
        let Some((value, whole)) = parts else {
            // Nothing after a bad length can be trusted: stop here.
            self.at = self.buf.len();
            return Some(Err(MalformedReply {
                offset: at,
                reason: "attribute length outside its message",
            }));
        };
        self.at = at.saturating_add(align4(len));
        Some(Ok(Attr {
            kind: kind & NLA_TYPE_MASK,
            value,
            whole,
        }))
    }
}

/// A NUL-terminated (or not) attribute string.
pub(crate) fn attr_str(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(value.get(..end).unwrap_or_default()).into_owned()
}

/// A u32 attribute value.
pub(crate) fn attr_u32(value: &[u8]) -> Option<u32> {
    if value.len() == 4 {
        read_u32(value, 0)
    } else {
        None
    }
}

/// Errno, ext-ack message and offset from the body of NLMSG_ERROR or NLMSG_DONE; `tlvs` are
/// the NLMSGERR_ATTR_* attributes when the flags say there are some. A malformed attribute
/// ends the reading there: the errno is what matters and is kept.
fn kernel_error(errno: i32, tlvs: Option<&[u8]>) -> KernelError {
    let mut err = KernelError {
        errno: errno.checked_neg().unwrap_or(i32::MAX),
        ext_ack: None,
        offset: None,
    };
    for a in attrs(tlvs.unwrap_or_default()).map_while(|a| a.ok()) {
        match a.kind {
            NLMSGERR_ATTR_MSG => err.ext_ack = Some(attr_str(a.value)).filter(|s| !s.is_empty()),
            NLMSGERR_ATTR_OFFS => err.offset = attr_u32(a.value),
            _ => {}
        }
    }
    err
}

fn parse_error_body(flags: u16, body: &[u8], at: usize) -> Result<ReplyBody, MalformedReply> {
    let bad = |reason| MalformedReply { offset: at, reason };
    let errno =
        read_u32(body, 0).ok_or_else(|| bad("NLMSG_ERROR shorter than its error code"))? as i32;
    // After the code comes our request's header (and, unless capped, its payload too).
    let orig_len =
        read_u32(body, 4).ok_or_else(|| bad("NLMSG_ERROR without the request header"))? as usize;
    if errno == 0 {
        return Ok(ReplyBody::Ack);
    }
    if errno > 0 {
        return Err(bad("NLMSG_ERROR with a positive error code"));
    }
    let tlvs = if flags & NLM_F_ACK_TLVS != 0 {
        let echoed = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(orig_len.max(NLMSG_HDRLEN))
        };
        let start = 4usize.saturating_add(echoed);
        Some(
            body.get(start..)
                .ok_or_else(|| bad("extended ack outside the message"))?,
        )
    } else {
        None
    };
    Ok(ReplyBody::Error(kernel_error(errno, tlvs)))
}

fn parse_done_body(flags: u16, body: &[u8]) -> Result<ReplyBody, MalformedReply> {
    // Old kernels may send an empty NLMSG_DONE; a negative code means the dump failed.
    let errno = read_u32(body, 0).unwrap_or(0) as i32;
    if errno >= 0 {
        return Ok(ReplyBody::Done(None));
    }
    let tlvs = if flags & NLM_F_ACK_TLVS != 0 {
        body.get(4..)
    } else {
        None
    };
    Ok(ReplyBody::Done(Some(kernel_error(errno, tlvs))))
}

/// Split one received datagram into its netlink messages and say what each one means.
/// Never panics, whatever the bytes.
pub fn parse_reply(bytes: &[u8]) -> Result<Vec<ReplyMessage>, MalformedReply> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let bad = |reason| MalformedReply { offset: at, reason };
        let rest = bytes.get(at..).unwrap_or_default();
        if rest.len() < NLMSG_HDRLEN {
            return Err(bad("message header cut short"));
        }
        let len = read_u32(rest, 0).ok_or_else(|| bad("message header cut short"))? as usize;
        let msg_type = read_u16(rest, 4).ok_or_else(|| bad("message header cut short"))?;
        let flags = read_u16(rest, 6).ok_or_else(|| bad("message header cut short"))?;
        let seq = read_u32(rest, 8).ok_or_else(|| bad("message header cut short"))?;
        let port = read_u32(rest, 12).ok_or_else(|| bad("message header cut short"))?;
        if len < NLMSG_HDRLEN {
            return Err(bad("message length smaller than its header"));
        }
        let body = rest
            .get(NLMSG_HDRLEN..len)
            .ok_or_else(|| bad("message length beyond the datagram"))?;
        let body = match msg_type {
            NLMSG_ERROR => parse_error_body(flags, body, at)?,
            NLMSG_DONE => parse_done_body(flags, body)?,
            NLMSG_NOOP | NLMSG_OVERRUN => ReplyBody::Noop,
            _ => ReplyBody::Data(body.to_vec()),
        };
        out.push(ReplyMessage {
            msg_type,
            flags,
            seq,
            port,
            body,
        });
        at = at.saturating_add(align4(len));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NLM_F_MULTIPART;

    fn msg(msg_type: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + body.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&msg_type.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes());
        v.extend_from_slice(body);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn ack_and_ext_ack_error() {
        let mut body = (-17i32).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        body.extend(nla(NLMSGERR_ATTR_MSG, b"Filter already exists\0"));
        body.extend(nla(NLMSGERR_ATTR_OFFS, &36u32.to_ne_bytes()));
        let mut bytes = msg(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, 5, &body);
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend_from_slice(&[0u8; 16]);
        bytes.extend(msg(NLMSG_ERROR, NLM_F_CAPPED, 6, &ack));
        let r = parse_reply(&bytes).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].seq, 5);
        let ReplyBody::Error(e) = &r[0].body else {
            panic!("{r:?}")
        };
        assert_eq!(e.errno, 17);
        assert_eq!(e.ext_ack.as_deref(), Some("Filter already exists"));
        assert_eq!(e.offset, Some(36));
        assert_eq!(
            e.to_string(),
            "File exists (kernel: \"Filter already exists\")"
        );
        assert_eq!(r[1].body, ReplyBody::Ack);
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        // Without NLM_F_CAPPED the whole request (here 16 + 8 bytes) precedes the TLVs.
        let mut body = (-22i32).to_ne_bytes().to_vec();
        body.extend_from_slice(&24u32.to_ne_bytes());
        body.extend_from_slice(&[0u8; 20]);
        body.extend(nla(NLMSGERR_ATTR_MSG, b"bad\0"));
        let r = parse_reply(&msg(NLMSG_ERROR, NLM_F_ACK_TLVS, 1, &body)).unwrap();
        let ReplyBody::Error(e) = &r[0].body else {
            panic!()
        };
        assert_eq!((e.errno, e.ext_ack.as_deref()), (22, Some("bad")));
    }

    #[test]
    fn dump_parts_and_done() {
        let mut bytes = msg(44, NLM_F_MULTIPART, 9, &[1, 2, 3, 4]);
        bytes.extend(msg(NLMSG_DONE, NLM_F_MULTIPART, 9, &0i32.to_ne_bytes()));
        let r = parse_reply(&bytes).unwrap();
        assert_eq!(r[0].body, ReplyBody::Data(vec![1, 2, 3, 4]));
        assert_eq!(r[1].body, ReplyBody::Done(None));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let good = msg(44, 0, 1, &[9; 8]);
        for cut in 0..good.len() {
            let _ = parse_reply(&good[..cut]);
        }
        // Length smaller than a header, length past the end, bad attribute lengths.
        let mut tiny = good.clone();
        tiny[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_reply(&tiny).is_err());
        let mut long = good.clone();
        long[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_reply(&long).is_err());
        let mut body = (-1i32).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        body.extend(nla(NLMSGERR_ATTR_OFFS, &8u32.to_ne_bytes()));
        body.extend_from_slice(&[200, 0, 1, 0]);
        // A bad extended-ack attribute loses the text after it, never the errno.
        let r = parse_reply(&msg(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, 1, &body)).unwrap();
        let ReplyBody::Error(e) = &r[0].body else {
            panic!("{r:?}")
        };
        assert_eq!(
            (e.errno, e.offset, e.ext_ack.as_deref()),
            (1, Some(8), None)
        );
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut b = good.clone();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % b.len();
            b[i] = (x >> 8) as u8;
            let _ = parse_reply(&b);
        }
    }

    #[test]
    fn attrs_stop_at_a_bad_length() {
        let mut b = nla(3, b"veth0\0");
        b.extend_from_slice(&[2, 0, 9, 0]);
        let v: Vec<_> = attrs(&b).collect();
        assert_eq!(v.len(), 2);
        assert!(v[0].is_ok() && v[1].is_err());
    }
}
