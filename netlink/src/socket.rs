//! The NETLINK_ROUTE socket: the only file of this crate with `unsafe`. It opens, binds and
//! configures the socket and moves whole datagrams in and out; it knows nothing about the
//! messages inside them.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// How long to wait for the kernel's answer before giving up (it answers in microseconds;
/// this only stops a hang from becoming eternal).
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// Smallest receive buffer; it grows to whatever the kernel has queued.
const MIN_RECV: usize = 32 * 1024;

/// An AF_NETLINK / NETLINK_ROUTE socket in the network namespace of the thread that made it.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    /// The port id the kernel gave us at bind time (nl_pid).
    port: u32,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Socket {
    /// socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE), bound to a kernel-chosen port,
    /// with NETLINK_EXT_ACK (errors carry the kernel's text) and NETLINK_CAP_ACK (errors do
    /// not echo our whole request back).
    pub(crate) fn new() -> Result<Socket, (&'static str, io::Error)> {
        // SAFETY: plain syscall with constant arguments; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        let raw = check(raw).map_err(|e| ("socket(AF_NETLINK)", e))?;
        // SAFETY: `raw` is a fresh fd returned by socket() that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value (port 0 = let the
        // kernel choose, no multicast groups).
        let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `addr` is a valid sockaddr_nl and the length passed is its size.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        check(ret).map_err(|e| ("bind", e))?;

        let mut len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `addr` and `len` are valid for writes of a sockaddr_nl.
        let ret = unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                &mut addr as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut len,
            )
        };
        check(ret).map_err(|e| ("getsockname", e))?;

        let sock = Socket {
            fd,
            port: addr.nl_pid,
        };
        sock.set_int(libc::SOL_NETLINK, libc::NETLINK_EXT_ACK, 1)
            .map_err(|e| ("setsockopt(NETLINK_EXT_ACK)", e))?;
        sock.set_int(libc::SOL_NETLINK, libc::NETLINK_CAP_ACK, 1)
            .map_err(|e| ("setsockopt(NETLINK_CAP_ACK)", e))?;
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a valid timeval and the length passed is its size.
        let ret = unsafe {
            libc::setsockopt(
                sock.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        check(ret).map_err(|e| ("setsockopt(SO_RCVTIMEO)", e))?;
        Ok(sock)
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: `value` is a valid c_int and the length passed is its size.
        let ret = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        check(ret).map(|_| ())
    }

    /// The index of interface `name` in the socket's network namespace: ioctl(SIOCGIFINDEX)
    /// on this socket (the kernel hands socket ioctls a family does not know to the device
    /// layer), one call instead of an RTM_GETLINK whose answer is the whole link (~1.5 KiB
    /// with its statistics) and an ack. `name` must be 1 to 15 bytes without NUL.
    pub(crate) fn ifindex(&self, name: &str) -> io::Result<u32> {
        // SAFETY: ifreq is plain old data; all-zero is a valid value (an empty name).
        let mut req: libc::ifreq = unsafe { zeroed() };
        if name.is_empty() || name.len() >= req.ifr_name.len() || name.contains('\0') {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: `req` is a valid, NUL-terminated ifreq the kernel reads and writes in place.
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) };
        check(ret)?;
        // SAFETY: SIOCGIFINDEX succeeded, so the kernel wrote ifr_ifindex.
        let index = unsafe { req.ifr_ifru.ifru_ifindex };
        Ok(index as u32)
    }

    /// Our port id: replies from the kernel are addressed to it.
    pub(crate) fn port(&self) -> u32 {
        self.port
    }

    /// Send one datagram (one or more netlink messages) to the kernel (port 0).
    pub(crate) fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain old data; all-zero addresses the kernel.
        let mut to: libc::sockaddr_nl = unsafe { zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: `msg` is valid for reads of msg.len() bytes; `to` is a valid sockaddr_nl.
            let ret = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    0,
                    &to as *const libc::sockaddr_nl as *const libc::sockaddr,
                    size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if ret >= 0 {
                if ret as usize != msg.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("sent {ret} of {} bytes", msg.len()),
                    ));
                }
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receive one datagram into `buf`, growing it first so the datagram is never cut.
    /// Returns the datagram's length; `buf[..len]` holds it. The buffer is not zeroed
    /// first: only the bytes the kernel writes are touched (a 36-byte ack faults in one
    /// page of the 32 KiB, not eight).
    pub(crate) fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        buf.reserve(MIN_RECV);
        // Peek with MSG_TRUNC: the kernel tells the datagram's real size without consuming it.
        let want = self.recv_flags(buf, libc::MSG_PEEK | libc::MSG_TRUNC)?;
        if want > buf.capacity() {
            buf.clear();
            buf.reserve(want);
        }
        let got = self.recv_flags(buf, 0)?;
        Ok(got.min(buf.len()))
    }

    /// recv() into the whole capacity of `buf`; `buf.len()` becomes what the kernel wrote.
    /// Returns the datagram's length (more than the capacity with MSG_TRUNC and a datagram
    /// that does not fit).
    fn recv_flags(&self, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<usize> {
        let cap = buf.capacity();
        loop {
            // SAFETY: `buf` owns `cap` bytes of capacity, valid for writes; the kernel writes
            // at most `cap` bytes into them.
            let ret = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    cap,
                    flags,
                )
            };
            if ret >= 0 {
                // SAFETY: the kernel initialised the first min(ret, cap) bytes (u8 has no
                // invalid values).
                unsafe { buf.set_len((ret as usize).min(cap)) };
                return Ok(ret as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}
