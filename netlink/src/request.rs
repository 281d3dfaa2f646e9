//! Requests and replies: framing (struct nlmsghdr), sequence numbers, acks, and multi-part
//! dumps that end with NLMSG_DONE; the replies are parsed by `wire`.

use netlink_packet_core::{Emitable, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};

use crate::error::{KernelError, NetlinkError};
use crate::socket::Socket;
pub(crate) use crate::wire::{align4, attr_str, attrs, NLMSG_HDRLEN};

/// How often a dump the kernel marked NLM_F_DUMP_INTR is started again.
const DUMP_RETRIES: u32 = 5;
pub use crate::wire::{parse_reply, MalformedReply, ReplyBody, ReplyMessage};

/// Why a request failed, before the caller adds the device and operation.
#[derive(Debug)]
pub(crate) enum Failure {
    Kernel(KernelError),
    Socket(&'static str, std::io::Error),
    Protocol(String),
}

impl Failure {
    /// Name the operation and the device.
    pub(crate) fn at(self, op: &str, dev: &str) -> NetlinkError {
        match self {
            Failure::Kernel(kernel) => NetlinkError::Kernel {
                dev: dev.to_string(),
                op: op.to_string(),
                kernel,
                hint: None,
            },
            Failure::Socket(call, source) => NetlinkError::Socket { call, source },
            Failure::Protocol(reason) => NetlinkError::Protocol {
                op: op.to_string(),
                reason,
            },
        }
    }
}

/// One data message of a reply: its type and payload (after struct nlmsghdr).
#[derive(Debug, Clone)]
pub(crate) struct Data {
    pub msg_type: u16,
    pub payload: Vec<u8>,
}

/// A socket plus the sequence counter and receive buffer of its requests.
#[derive(Debug)]
pub(crate) struct Conn {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    pub(crate) explain: crate::explain::Explain,
}

impl Conn {
    pub(crate) fn new() -> Result<Conn, NetlinkError> {
        let sock = Socket::new().map_err(|(call, source)| NetlinkError::Socket { call, source })?;
        Ok(Conn {
            sock,
            // Start away from 0 so a stray reply to "sequence 0" never matches.
            seq: std::process::id().wrapping_mul(7919) | 1,
            buf: Vec::new(),
            explain: Default::default(),
        })
    }

    /// The index of interface `name` (see [`Socket::ifindex`]).
    pub(crate) fn ifindex(&self, name: &str) -> std::io::Result<u32> {
        self.sock.ifindex(name)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Frame `msg` as one request and send it; returns its sequence number.
    fn send(&mut self, msg_type: u16, flags: u16, msg: &dyn Emitable) -> Result<u32, Failure> {
        let len = NLMSG_HDRLEN.saturating_add(msg.buffer_len());
        let len32 =
            u32::try_from(len).map_err(|_| Failure::Protocol("request too large".into()))?;
        let seq = self.next_seq();
        let mut out = vec![0u8; align4(len)];
        out[0..4].copy_from_slice(&len32.to_ne_bytes());
        out[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        out[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
        out[12..16].copy_from_slice(&self.sock.port().to_ne_bytes());
        msg.emit(&mut out[NLMSG_HDRLEN..len]);
        out.truncate(len);
        self.explain.request(&out);
        self.sock
            .send(&out)
            .map_err(|e| Failure::Socket("sendto", e))?;
        Ok(seq)
    }

    /// Receive the answer to request `seq`: data messages until the ack (or NLMSG_DONE for a
    /// dump). Messages for other sequence numbers (late answers to an earlier request) are
    /// skipped. Returns the data and whether the kernel flagged the dump as interrupted.
    fn collect(&mut self, seq: u32, dump: bool) -> Result<(Vec<Data>, bool), Failure> {
        let mut data = Vec::new();
        let mut interrupted = false;
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            let got = self.sock.recv(&mut buf);
            self.buf = buf;
            let n = got.map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    Failure::Protocol("no answer from the kernel (timed out)".into())
                }
                _ => Failure::Socket("recv", e),
            })?;
            let msgs = parse_reply(self.buf.get(..n).unwrap_or_default())
                .map_err(|e| Failure::Protocol(e.to_string()))?;
            for m in msgs {
                if m.seq != seq || m.port != self.sock.port() {
                    continue;
                }
                self.explain.reply(&m);
                if m.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.body {
                    ReplyBody::Data(payload) => data.push(Data {
                        msg_type: m.msg_type,
                        payload,
                    }),
                    ReplyBody::Error(e) | ReplyBody::Done(Some(e)) => {
                        return Err(Failure::Kernel(e))
                    }
                    ReplyBody::Ack if !dump => return Ok((data, interrupted)),
                    ReplyBody::Done(None) if dump => return Ok((data, interrupted)),
                    ReplyBody::Ack | ReplyBody::Done(None) | ReplyBody::Noop => {}
                }
            }
        }
    }

    /// A request that changes something (or gets one object): sent with NLM_F_ACK; returns
    /// any data messages (e.g. the NLM_F_ECHO copy) received before the ack.
    pub(crate) fn request(
        &mut self,
        msg_type: u16,
        flags: u16,
        msg: &dyn Emitable,
    ) -> Result<Vec<Data>, Failure> {
        let seq = self.send(msg_type, flags | NLM_F_ACK, msg)?;
        self.collect(seq, false).map(|(d, _)| d)
    }

    /// A dump (NLM_F_DUMP): every data message until NLMSG_DONE, started again when the
    /// kernel says the set changed underneath (NLM_F_DUMP_INTR).
    pub(crate) fn dump(&mut self, msg_type: u16, msg: &dyn Emitable) -> Result<Vec<Data>, Failure> {
        for _ in 0..DUMP_RETRIES {
            let seq = self.send(msg_type, NLM_F_DUMP, msg)?;
            let (data, interrupted) = self.collect(seq, true)?;
            if !interrupted {
                return Ok(data);
            }
        }
        Err(Failure::Protocol(format!(
            "dump interrupted {DUMP_RETRIES} times in a row (the set kept changing)"
        )))
    }
}
