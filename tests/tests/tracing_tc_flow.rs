//! tc_flow (perf event array) and tc_flow_rb (ring buffer): clang-built tc programs that
//! report every TCP/UDP packet of a veth as a `struct flow_event`. Loaded with bpftool,
//! attached with `tc` inside a lab namespace, real packets sent from the other namespace;
//! our readers must hand over one event per packet with the right fields, and a burst
//! larger than a one-page perf ring must come out as counted loss.

mod tracing_support;

use loader::events::{format, PerfEventArray, RingBuf, Stats};
use rbpf_tests::kernel::wait_prog_gone;
use rbpf_tests::lab::{Lab, ADDR6_A, ADDR_A};
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_support::bpftool::Loaded;
use tracing_support::{pin_to_cpu, prog_id};

/// `struct flow_event` (common.h), decoded field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flow {
    proto: u8,
    direction: u8,
    ip_version: u8,
    ifindex: u32,
    len: u32,
    sport: u16,
    dport: u16,
    saddr: [u8; 16],
    daddr: [u8; 16],
}

impl Flow {
    fn parse(b: &[u8]) -> Flow {
        assert!(b.len() >= 48, "flow_event of {} bytes", b.len());
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        let u16_at = |o: usize| u16::from_ne_bytes(b[o..o + 2].try_into().unwrap());
        Flow {
            proto: b[0],
            direction: b[1],
            ip_version: b[2],
            ifindex: u32_at(4),
            len: u32_at(8),
            sport: u16_at(12),
            dport: u16_at(14),
            saddr: b[16..32].try_into().unwrap(),
            daddr: b[32..48].try_into().unwrap(),
        }
    }
}

fn v4(a: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a.parse::<Ipv4Addr>().unwrap().octets());
    out
}

fn v6(a: &str) -> [u8; 16] {
    a.parse::<Ipv6Addr>().unwrap().octets()
}

/// `tc ARGS` inside namespace `ns`. nsenter switches only the network namespace, so the
/// bpffs pins stay visible (`ip netns exec` remounts /sys).
fn tc_in(ns: &str, args: &[&str]) {
    let netns = format!("--net=/run/netns/{ns}");
    let mut all = vec![netns.as_str(), "tc"];
    all.extend_from_slice(args);
    rbpf_tests::run("nsenter", &all);
}

/// Attach pinned tc programs on veth_a: clsact, then a direct-action bpf filter each way.
fn attach_tc(lab: &Lab, ingress: &std::path::Path, egress: Option<&std::path::Path>) {
    let dev = lab.veth_a.as_str();
    tc_in(&lab.ns_a, &["qdisc", "add", "dev", dev, "clsact"]);
    let mut dirs = vec![("ingress", ingress)];
    dirs.extend(egress.map(|e| ("egress", e)));
    for (dir, prog) in dirs {
        let prog = prog.to_str().unwrap();
        tc_in(
            &lab.ns_a,
            &[
                "filter",
                "add",
                "dev",
                dev,
                dir,
                "bpf",
                "object-pinned",
                prog,
                "direct-action",
            ],
        );
    }
}

fn ifindex_a(lab: &Lab) -> u32 {
    Lab::in_ns(&lab.ns_a, || {
        nix::net::if_::if_nametoindex(lab.veth_a.as_str()).unwrap()
    })
}

/// Send `n` 4-byte UDP datagrams from namespace b to `addr:port` (a listener in a drinks
/// them, so a answers nothing), optionally from a thread pinned to `cpu`.
fn udp_burst(lab: &Lab, n: u32, addr: &str, port: u16, cpu: Option<usize>) {
    let rx = Lab::in_ns(&lab.ns_a, || UdpSocket::bind((addr, port)).unwrap());
    Lab::in_ns(&lab.ns_b, || {
        if let Some(cpu) = cpu {
            pin_to_cpu(cpu);
        }
        let bind = if addr.contains(':') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let s = UdpSocket::bind(bind).unwrap();
        for i in 0..n {
            s.send_to(&i.to_be_bytes(), (addr, port)).unwrap();
            // Let a deferred softirq drain the receive backlog (netdev_max_backlog drops
            // would happen before tc sees the packet).
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    drop(rx);
}

/// Collect events on a thread until told to stop, then drain what is left.
fn collect<R: Send + 'static>(
    mut reader: R,
    mut poll: impl FnMut(&mut R, &mut Vec<Flow>, &mut Stats) + Send + 'static,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<(Vec<Flow>, Stats)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        let (mut flows, mut stats) = (Vec::new(), Stats::default());
        while !s.load(Ordering::SeqCst) {
            poll(&mut reader, &mut flows, &mut stats);
        }
        poll(&mut reader, &mut flows, &mut stats);
        (flows, stats)
    });
    (stop, h)
}

/// Traffic of three kinds, and what each should look like at veth_a.
fn send_and_check(lab: &Lab, finish: impl FnOnce() -> (Vec<Flow>, Stats)) {
    const N4: u32 = 2000;
    const N6: u32 = 500;
    udp_burst(lab, N4, ADDR_A, 7001, None);
    udp_burst(lab, N6, ADDR6_A, 7002, None);
    assert_eq!(lab.tcp_b_to_a(10, 7003), 10, "tcp connections");
    std::thread::sleep(Duration::from_millis(100));
    let (flows, stats) = finish();
    let ifindex = ifindex_a(lab);

    let udp4: Vec<&Flow> = flows.iter().filter(|f| f.dport == 7001).collect();
    assert_eq!(udp4.len(), N4 as usize, "one event per IPv4 datagram");
    let sport = udp4[0].sport;
    for f in &udp4 {
        let want = Flow {
            proto: 17,
            direction: 0,
            ip_version: 4,
            ifindex,
            // Ethernet 14 + IPv4 20 + UDP 8 + 4 bytes of payload.
            len: 46,
            sport,
            dport: 7001,
            saddr: v4("10.0.0.2"),
            daddr: v4("10.0.0.1"),
        };
        assert_eq!(**f, want);
    }
    assert_ne!(sport, 0);

    let udp6: Vec<&Flow> = flows.iter().filter(|f| f.dport == 7002).collect();
    assert_eq!(udp6.len(), N6 as usize, "one event per IPv6 datagram");
    for f in &udp6 {
        assert_eq!((f.proto, f.direction, f.ip_version, f.len), (17, 0, 6, 66));
        assert_eq!((f.saddr, f.daddr), (v6("fd00::2"), v6("fd00::1")));
        assert_eq!(f.ifindex, ifindex);
    }

    // TCP both ways: b's segments come in, a's go out from port 7003.
    let tcp_in = flows
        .iter()
        .filter(|f| f.proto == 6 && f.direction == 0 && f.dport == 7003)
        .inspect(|f| assert_eq!((f.saddr, f.daddr), (v4("10.0.0.2"), v4("10.0.0.1"))))
        .count();
    let tcp_out = flows
        .iter()
        .filter(|f| f.proto == 6 && f.direction == 1 && f.sport == 7003)
        .inspect(|f| assert_eq!((f.saddr, f.daddr), (v4("10.0.0.1"), v4("10.0.0.2"))))
        .count();
    // Each connection: SYN, ACK, data in; SYN-ACK out at least.
    assert!(
        tcp_in >= 30 && tcp_out >= 10,
        "tcp in {tcp_in}, out {tcp_out}"
    );
    assert!(
        flows
            .iter()
            .all(|f| f.direction <= 1 && f.ifindex == ifindex),
        "every event from veth_a"
    );
    assert_eq!(stats.lost, 0, "no loss");
    assert_eq!(stats.events, flows.len() as u64);
}

#[test]
fn tc_flow_through_the_perf_event_array_one_event_per_packet() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let obj = Loaded::new(&rbpf_tests::bpf_obj("tc_flow"));
    let events: OwnedFd = obj.map("events");
    // 64 pages per CPU: a reader starved by a busy machine still loses nothing.
    let reader = PerfEventArray::open(events.as_fd(), 64).unwrap();
    let raw = Arc::new(std::sync::Mutex::new(None));
    let keep = raw.clone();
    let (stop, h) = collect(reader, move |r, flows, stats| {
        *stats += r
            .poll(Some(Duration::from_millis(20)), |_cpu, data| {
                let f = Flow::parse(data);
                if f.dport == 7001 {
                    keep.lock().unwrap().get_or_insert_with(|| data.to_vec());
                }
                flows.push(f);
            })
            .unwrap();
    });
    attach_tc(
        &lab,
        &obj.prog_path("tc_flow_ingress"),
        Some(&obj.prog_path("tc_flow_egress")),
    );
    send_and_check(&lab, || {
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap()
    });

    // One real sample (with the perf padding after it) through the object's own BTF, as
    // `--events events=flow_event` prints it.
    let elf = loader::obj::Object::from_file(&rbpf_tests::bpf_obj("tc_flow")).unwrap();
    let btf = elf.btf.expect("tc_flow has BTF");
    let ty = format::record_type(&btf, "flow_event").expect("struct flow_event in BTF");
    let sample = raw.lock().unwrap().take().unwrap();
    assert!(sample.len() > 48, "perf pads the 48-byte struct");
    let f = Flow::parse(&sample);
    assert_eq!(
        format::line(&btf, ty, &sample),
        format!(
            "proto=17 direction=0 ip_version=4 pad=0 ifindex={} len=46 sport={} dport=7001 \
             saddr=10.0.0.2 daddr=10.0.0.1",
            f.ifindex, f.sport
        )
    );
}

#[test]
fn tc_flow_through_the_ring_buffer_one_event_per_packet() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let obj = Loaded::new(&rbpf_tests::bpf_obj("tc_flow_rb"));
    let reader = RingBuf::open(obj.map("rb").as_fd()).unwrap();
    let (stop, h) = collect(reader, |r, flows, stats| {
        let n = r
            .poll(Some(Duration::from_millis(20)), |data| {
                assert_eq!(data.len(), 48, "a ring buffer record is exactly the struct");
                flows.push(Flow::parse(data))
            })
            .unwrap();
        stats.events += n as u64;
    });
    attach_tc(
        &lab,
        &obj.prog_path("tc_flow_rb_ingress"),
        Some(&obj.prog_path("tc_flow_rb_egress")),
    );
    send_and_check(&lab, || {
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap()
    });
}

#[test]
fn tc_flow_burst_into_a_one_page_perf_ring_is_counted_as_loss() {
    rbpf_tests::require_priv!();
    const BURST: u32 = 3000;
    let lab = Lab::new();
    let obj = Loaded::new(&rbpf_tests::bpf_obj("tc_flow"));
    let events = obj.map("events");
    let mut reader = PerfEventArray::open(events.as_fd(), 1).unwrap();
    attach_tc(&lab, &obj.prog_path("tc_flow_ingress"), None);

    let mut flows = Vec::new();
    let mut on = |_cpu: u32, data: &[u8]| flows.push(Flow::parse(data));
    // Nobody reads while the burst goes through: one page holds 64 events per CPU.
    udp_burst(&lab, BURST, ADDR_A, 7100, Some(0));
    let mut stats = reader.read(&mut on).unwrap();
    // The kernel reports a ring's loss with its next event that fits: one more packet
    // through every CPU.
    let cpus = reader.cpus();
    for &cpu in &cpus {
        // A port of its own: rebinding the burst's port at once can fail (EADDRINUSE).
        udp_burst(&lab, 1, ADDR_A, 7101 + cpu as u16, Some(cpu as usize));
    }
    stats += reader
        .poll(Some(Duration::from_millis(50)), &mut on)
        .unwrap();
    stats += reader.read(&mut on).unwrap();

    eprintln!("{stats:?} for {BURST} + {} packets", cpus.len());
    assert!(
        stats.lost > 0,
        "a {BURST}-packet burst must overflow one page"
    );
    assert_eq!(
        stats.events + stats.lost,
        u64::from(BURST) + cpus.len() as u64,
        "every packet is either read or counted as lost"
    );
    assert_eq!(flows.len() as u64, stats.events);
    let ifindex = ifindex_a(&lab);
    for f in &flows {
        let ports = 7100..=7100 + cpus.len() as u16;
        assert_eq!(
            (f.proto, ports.contains(&f.dport), f.len, f.ifindex),
            (17, true, 46, ifindex)
        );
        assert_eq!((f.saddr, f.daddr), (v4("10.0.0.2"), v4("10.0.0.1")));
    }

    // Nothing stays: the lab (and its tc filter), the pins and our fds gone, the kernel
    // frees the programs.
    let ids = [
        prog_id(&obj.prog("tc_flow_ingress")),
        prog_id(&obj.prog("tc_flow_egress")),
    ];
    drop((reader, events, lab, obj));
    for id in ids {
        assert!(wait_prog_gone(id), "prog id {id} still loaded");
    }
}
