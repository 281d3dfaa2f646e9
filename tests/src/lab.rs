//! A throwaway lab: namespaces `a` and `b` joined by a veth pair (`veth_a` in `a`,
//! `veth_b` in `b`), 10.0.0.1/24 and fd00::1/64 in `a`, .2 / ::2 in `b`. Names are unique
//! per process and lab, so tests run in parallel. Everything goes when the lab is dropped,
//! also when the test panics. Nothing touches the host's own interfaces or routes.

use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub const ADDR_A: &str = "10.0.0.1";
pub const ADDR_B: &str = "10.0.0.2";
pub const ADDR6_A: &str = "fd00::1";
pub const ADDR6_B: &str = "fd00::2";
/// The second pair's addresses ([`Lab::second_pair`]).
pub const ADDR2_A: &str = "10.0.1.1";
pub const ADDR2_B: &str = "10.0.1.2";

pub struct Lab {
    pub ns_a: String,
    pub ns_b: String,
    pub veth_a: String,
    pub veth_b: String,
}

fn ip(args: &[&str]) {
    crate::run("ip", args);
}

impl Lab {
    /// Build a lab. Panics (failing the test) if it cannot.
    pub fn new() -> Lab {
        Self::build(true)
    }

    /// A lab without IPv6: no router solicitations, MLD reports or neighbour discovery,
    /// so counters see exactly the IPv4 traffic a test sends (plus ARP).
    pub fn ipv4_only() -> Lab {
        Self::build(false)
    }

    fn build(ipv6: bool) -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let lab = Lab {
            ns_a: format!("rbpf-{pid}-{n}-a"),
            ns_b: format!("rbpf-{pid}-{n}-b"),
            veth_a: format!("va{}_{n}", pid % 100000),
            veth_b: format!("vb{}_{n}", pid % 100000),
        };
        ip(&["netns", "add", &lab.ns_a]);
        // From here on, Drop cleans up whatever exists.
        ip(&["netns", "add", &lab.ns_b]);
        if !ipv6 {
            for ns in [&lab.ns_a, &lab.ns_b] {
                for key in ["all", "default"] {
                    Self::exec(
                        ns,
                        &[
                            "sysctl",
                            "-qw",
                            &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                        ],
                    );
                }
            }
        }
        ip(&[
            "-n",
            &lab.ns_a,
            "link",
            "add",
            &lab.veth_a,
            "type",
            "veth",
            "peer",
            "name",
            &lab.veth_b,
            "netns",
            &lab.ns_b,
        ]);
        for (ns, dev, a4, a6) in [
            (&lab.ns_a, &lab.veth_a, ADDR_A, ADDR6_A),
            (&lab.ns_b, &lab.veth_b, ADDR_B, ADDR6_B),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{a4}/24"), "dev", dev]);
            if ipv6 {
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{a6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ]);
            }
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// A second veth pair between the lab's namespaces, for attaching to several devices:
    /// returns its ends in a (10.0.1.1/24) and in b (10.0.1.2/24). It goes with the lab.
    pub fn second_pair(&self) -> (String, String) {
        let wa = self.veth_a.replacen("va", "wa", 1);
        let wb = self.veth_b.replacen("vb", "wb", 1);
        ip(&[
            "-n", &self.ns_a, "link", "add", &wa, "type", "veth", "peer", "name", &wb, "netns",
            &self.ns_b,
        ]);
        for (ns, dev, a4) in [(&self.ns_a, &wa, ADDR2_A), (&self.ns_b, &wb, ADDR2_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{a4}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        (wa, wb)
    }

    /// Run `f` on a thread that has entered namespace `ns` (for netlink sockets, sockets,
    /// and anything else that acts in "the current" namespace).
    pub fn in_ns<T: Send, F: FnOnce() -> T + Send>(ns: &str, f: F) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{ns}"))
                    .unwrap_or_else(|e| panic!("open netns {ns}: {e}"));
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {ns}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Run a command inside namespace `ns` (`ip netns exec`).
    pub fn exec(ns: &str, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {cmd:?}: {e}"))
    }

    /// `count` pings from b to a (IPv4). Returns how many replies came back.
    pub fn ping_a_from_b(&self, count: u32) -> u32 {
        self.ping_every(count, "0.05")
    }

    /// `count` pings from b to a, 2 ms apart (a steady stream for atomicity checks).
    /// Returns how many replies came back.
    pub fn ping_a_from_b_fast(&self, count: u32) -> u32 {
        self.ping_every(count, "0.002")
    }

    fn ping_every(&self, count: u32, interval: &str) -> u32 {
        let count = count.to_string();
        let out = Self::exec(
            &self.ns_b,
            &[
                "ping", "-c", &count, "-i", interval, "-W", "1", "-q", ADDR_A,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(',')
            .find_map(|p| {
                p.trim()
                    .strip_suffix(" received")
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Send `count` UDP datagrams from b to a:port. Returns how many were sent.
    pub fn udp_b_to_a(&self, count: u32, port: u16) -> u32 {
        self.udp_b_to(ADDR_A, count, port)
    }

    /// Send `count` UDP datagrams from b to `addr`:port (an address of a). Returns how many
    /// were sent.
    pub fn udp_b_to(&self, addr: &str, count: u32, port: u16) -> u32 {
        Self::in_ns(&self.ns_b, || {
            let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp bind");
            (0..count)
                .filter(|i| s.send_to(&i.to_be_bytes(), (addr, port)).is_ok())
                .count() as u32
        })
    }

    /// `count` TCP connection attempts from b to a:port where nothing listens: exactly one
    /// SYN reaches a for each (answered by a RST). Returns how many were refused (a RST
    /// came back), 0 when TCP is dropped.
    pub fn tcp_syn_b_to_a(&self, count: u32, port: u16) -> u32 {
        Self::in_ns(&self.ns_b, || {
            (0..count)
                .filter(|_| {
                    let addr = std::net::SocketAddr::from(([10, 0, 0, 1], port));
                    matches!(
                        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300)),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
                    )
                })
                .count() as u32
        })
    }

    /// Open `count` TCP connections from b to a:port, where a listener in a accepts them.
    /// Returns how many connections were established (0 when TCP is dropped).
    pub fn tcp_b_to_a(&self, count: u32, port: u16) -> u32 {
        let listener = Self::in_ns(&self.ns_a, || {
            std::net::TcpListener::bind((ADDR_A, port)).expect("tcp listen")
        });
        listener.set_nonblocking(true).ok();
        let ok = Self::in_ns(&self.ns_b, || {
            (0..count)
                .filter(|_| {
                    let addr = std::net::SocketAddr::from(([10, 0, 0, 1], port));
                    std::net::TcpStream::connect_timeout(
                        &addr,
                        std::time::Duration::from_millis(500),
                    )
                    .map(|mut s| {
                        use std::io::Write;
                        let _ = s.write_all(b"hello");
                    })
                    .is_ok()
                })
                .count() as u32
        });
        while listener.accept().is_ok() {}
        ok
    }
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth in it, and with it its peer, qdiscs,
        // filters and XDP attachments.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // What rbpf-load pinned for attachments in these namespaces, and its clsact
        // markers: a test that failed halfway leaves them (a passing one checks they went).
        for dir in pins_of(&[&self.ns_a, &self.ns_b]) {
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// rbpf-load's pin directories and clsact markers (`/sys/fs/bpf/rbpf/*/NS@...`) of
/// attachments in namespaces `nss`.
pub fn pins_of(nss: &[&str]) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/bpf/rbpf")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|o| std::fs::read_dir(o.path()).into_iter().flatten().flatten())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            nss.iter().any(|ns| name.starts_with(&format!("{ns}@")))
        })
        .map(|e| e.path())
        .collect()
}

/// The bpf filters `tc` sees on a hook of a device in namespace `ns`: (prio, prog id)
/// pairs, an independent reader of what rbpf-load attached.
pub fn tc_bpf_filters(ns: &str, dev: &str, dir: &str) -> Vec<(u64, u64)> {
    let out = crate::run("tc", &["-n", ns, "-j", "filter", "show", "dev", dev, dir]);
    if out.trim().is_empty() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&out).expect("tc -j");
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["pref"].as_u64()?, f["options"]["prog"]["id"].as_u64()?)))
        .collect()
}

/// Is there a clsact qdisc on the device?
pub fn has_clsact(ns: &str, dev: &str) -> bool {
    crate::run("tc", &["-n", ns, "qdisc", "show", "dev", dev]).contains("clsact")
}
