//! tc bpf filters through our own netlink layer, on a real veth pair with real traffic:
//! counting on ingress and egress, dropping TCP, replacing a program while packets flow,
//! deleting, and listing (checked against `tc -j filter show` and the `rtnetlink` crate).

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use netlink::{ClsactState, Handle, TcAttachFlags, TcDirection, TcFilterInfo, TcHook};
use rbpf_tests::lab::{Lab, ADDR_A};
use rbpf_tests::pins::{self, Pinned};

/// Counter slots (bpf-src/common.h) and blocks of tc_count's `counts`.
const ICMP: usize = 0;
const TCP: usize = 1;
const UDP: usize = 2;
const TOTAL: usize = 5;
const INGRESS: usize = 0;
const EGRESS: usize = 8;
const ALT: usize = 16;

const ING: TcDirection = TcDirection::Ingress;
const EG: TcDirection = TcDirection::Egress;

fn hook(direction: TcDirection, priority: u16, handle: u32) -> TcHook {
    TcHook {
        direction,
        priority,
        handle,
    }
}

/// A UDP socket in namespace a, so datagrams are delivered (no ICMP port unreachable).
fn udp_listener(lab: &Lab, port: u16) -> UdpSocket {
    let s = Lab::in_ns(&lab.ns_a, || UdpSocket::bind((ADDR_A, port)).unwrap());
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// Drain a UDP socket: how many datagrams arrived.
fn received(s: &UdpSocket) -> u32 {
    let mut buf = [0u8; 64];
    let mut n = 0;
    while s.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// TCP segments namespace a took in and sent out, by the kernel's own count.
fn tcp_segments(lab: &Lab) -> (u64, u64) {
    let s = |f| pins::snmp(&lab.ns_a, "Tcp", f);
    (s("InSegs"), s("OutSegs") + s("RetransSegs"))
}

/// A filter as a comparable tuple: direction, priority, handle, prog id, name, tag, da.
type Row = (TcDirection, u16, u32, u32, String, String, bool);

fn rows(v: &[TcFilterInfo]) -> BTreeSet<Row> {
    v.iter()
        .map(|f| {
            (
                f.direction,
                f.priority,
                f.handle,
                f.prog_id,
                f.name.clone(),
                f.tag_hex(),
                f.direct_action,
            )
        })
        .collect()
}

/// `tc -j filter show dev DEV ingress|egress`, bpf filters only.
fn tc_rows(lab: &Lab) -> BTreeSet<Row> {
    let mut out = BTreeSet::new();
    for dir in [ING, EG] {
        let json = rbpf_tests::run(
            "tc",
            &[
                "-n",
                &lab.ns_a,
                "-j",
                "filter",
                "show",
                "dev",
                &lab.veth_a,
                dir.as_str(),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for f in v.as_array().unwrap() {
            // Entries without options are the per-priority heads, not filters.
            let Some(o) = f.get("options") else { continue };
            assert_eq!(f["kind"], "bpf");
            let handle = o["handle"].as_str().unwrap().trim_start_matches("0x");
            out.insert((
                dir,
                f["pref"].as_u64().unwrap() as u16,
                u32::from_str_radix(handle, 16).unwrap(),
                o["prog"]["id"].as_u64().unwrap() as u32,
                o["bpf_name"].as_str().unwrap().to_string(),
                o["prog"]["tag"].as_str().unwrap().to_string(),
                o.get("direct-action") == Some(&serde_json::Value::Bool(true)),
            ));
        }
    }
    out
}

/// The same dump made by the `rtnetlink` crate, an independent implementation.
fn rtnetlink_rows(lab: &Lab, ifindex: u32) -> BTreeSet<Row> {
    use futures_util::TryStreamExt;
    use rtnetlink::packet_route::tc::{TcAttribute, TcBpfFlags, TcFilterBpfOption as B, TcOption};
    Lab::in_ns(&lab.ns_a, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().unwrap();
            tokio::spawn(conn);
            let mut out = BTreeSet::new();
            for dir in [ING, EG] {
                let mut tf = handle.traffic_filter(ifindex as i32);
                let req = match dir {
                    TcDirection::Ingress => tf.get().ingress(),
                    TcDirection::Egress => tf.get().egress(),
                };
                let msgs: Vec<_> = req.execute().try_collect().await.unwrap();
                for m in msgs {
                    let prio = (m.header.info >> 16) as u16;
                    let mut row = (
                        dir,
                        prio,
                        u32::from(m.header.handle),
                        0,
                        String::new(),
                        String::new(),
                        false,
                    );
                    let mut is_filter = false;
                    for a in &m.attributes {
                        let TcAttribute::Options(opts) = a else {
                            continue;
                        };
                        for o in opts {
                            let TcOption::Bpf(b) = o else { continue };
                            is_filter = true;
                            match b {
                                B::ProgId(id) => row.3 = *id,
                                B::ProgName(n) => row.4 = n.clone(),
                                B::ProgTag(t) => {
                                    row.5 = t.iter().map(|b| format!("{b:02x}")).collect()
                                }
                                B::Flags(f) => row.6 = f.contains(TcBpfFlags::DirectAction),
                                _ => {}
                            }
                        }
                    }
                    if is_filter {
                        out.insert(row);
                    }
                }
            }
            out
        })
    })
}

#[test]
fn tc_counts_exactly_the_packets_sent_on_ingress_and_egress() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    pins::quiet_ipv6(&lab);
    let objs = Pinned::load("tc_count", Some("classifier"));
    let ids = pins::ids_of(&objs);
    let (ing, eg) = (objs.prog("count_ingress"), objs.prog("count_egress"));

    let (fi, fe) = Lab::in_ns(&lab.ns_a, || {
        let mut h = Handle::new().unwrap();
        let ifindex = h.ifindex(&lab.veth_a).unwrap();
        assert_eq!(h.ensure_clsact(ifindex).unwrap(), ClsactState::Created);
        assert_eq!(h.ensure_clsact(ifindex).unwrap(), ClsactState::Existed);
        assert_eq!(h.qdisc_kind(ifindex).unwrap().as_deref(), Some("clsact"));
        let none = TcAttachFlags::default();
        let fi = h
            .tc_attach(ifindex, hook(ING, 0, 0), ing.as_fd(), "count_ingress", none)
            .unwrap();
        let fe = h
            .tc_attach(ifindex, hook(EG, 0, 0), eg.as_fd(), "count_egress", none)
            .unwrap();
        (fi, fe)
    });
    // The kernel chose priority 49152 and handle 1; the echo says which program it holds.
    assert_eq!((fi.direction, fi.priority, fi.handle), (ING, 49152, 1));
    assert_eq!((fe.direction, fe.priority, fe.handle), (EG, 49152, 1));
    assert_eq!(fi.prog_id, objs.prog_id("count_ingress"));
    assert_eq!(fe.prog_id, objs.prog_id("count_egress"));
    assert!(fi.direct_action && fe.direct_action);
    assert_eq!(fi.name, "count_ingress");

    let udp = udp_listener(&lab, 4100);
    let tcp0 = tcp_segments(&lab);
    assert_eq!(lab.ping_a_from_b(5), 5, "ping through the counting filters");
    assert_eq!(lab.udp_b_to_a(7, 4100), 7);
    assert_eq!(received(&udp), 7, "every datagram delivered");
    assert_eq!(
        lab.tcp_b_to_a(3, 4101),
        3,
        "TCP connections through the filters"
    );

    let (c, tcp1) = pins::settled(|| {
        let c = objs.counters("counts", 24);
        (
            [
                c[INGRESS + ICMP],
                c[INGRESS + UDP],
                c[INGRESS + TCP],
                c[EGRESS + ICMP],
                c[EGRESS + UDP],
                c[EGRESS + TCP],
                c[ALT + TOTAL],
            ],
            tcp_segments(&lab),
        )
    });
    let [in_icmp, in_udp, in_tcp, out_icmp, out_udp, out_tcp, alt_total] = c;
    eprintln!("in: icmp {in_icmp} udp {in_udp} tcp {in_tcp}; out: icmp {out_icmp} udp {out_udp} tcp {out_tcp}");
    // 5 echo requests in, 5 replies out; 7 datagrams in, none out.
    assert_eq!((in_icmp, out_icmp), (5, 5));
    assert_eq!((in_udp, out_udp), (7, 0));
    // TCP: exactly the segments the kernel's TCP stack of namespace a received and sent
    // (at least SYN, ACK, data and the closing segments of 3 connections).
    assert_eq!(in_tcp, tcp1.0 - tcp0.0, "ingress TCP = InSegs");
    assert_eq!(
        out_tcp,
        tcp1.1 - tcp0.1,
        "egress TCP = OutSegs + RetransSegs"
    );
    assert!(in_tcp >= 9 && out_tcp >= 6, "in {in_tcp} out {out_tcp}");
    assert_eq!(alt_total, 0, "count_alt is not attached");

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone(), objs.maps_dir.clone()];
    drop((ing, eg, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}

#[test]
fn tc_drop_tcp_drops_tcp_and_passes_udp_and_icmp() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let objs = Pinned::load("drop_tcp", None);
    let ids = pins::ids_of(&objs);
    let prog = objs.prog("tc_drop_tcp");
    let f = Lab::in_ns(&lab.ns_a, || {
        let mut h = Handle::new().unwrap();
        let ifindex = h.ifindex(&lab.veth_a).unwrap();
        h.ensure_clsact(ifindex).unwrap();
        h.tc_attach(
            ifindex,
            hook(ING, 10, 5),
            prog.as_fd(),
            "drop_tcp",
            TcAttachFlags::default(),
        )
        .unwrap()
    });
    assert_eq!(
        (f.priority, f.handle, f.prog_id),
        (10, 5, objs.prog_id("tc_drop_tcp"))
    );

    let udp = udp_listener(&lab, 4200);
    assert_eq!(lab.ping_a_from_b(4), 4, "ICMP passes");
    assert_eq!(lab.udp_b_to_a(6, 4200), 6);
    assert_eq!(received(&udp), 6, "UDP passes");
    assert_eq!(lab.tcp_b_to_a(2, 4201), 0, "TCP is dropped");
    let stats = objs.counters("stats", 2);
    assert!(
        stats[1] >= 2,
        "at least one SYN per connection dropped: {stats:?}"
    );
    assert!(stats[0] >= 4 + 6, "pings and datagrams passed: {stats:?}");

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone()];
    drop((prog, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}

#[test]
fn tc_replace_while_traffic_flows_loses_no_packet() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    pins::quiet_ipv6(&lab);
    let objs = Pinned::load("tc_count", Some("classifier"));
    let ids = pins::ids_of(&objs);
    let (first, second) = (objs.prog("count_ingress"), objs.prog("count_alt"));
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    h.ensure_clsact(ifindex).unwrap();
    let none = TcAttachFlags::default();
    let before = h
        .tc_attach(ifindex, hook(ING, 7, 3), first.as_fd(), "first", none)
        .unwrap();

    let udp = udp_listener(&lab, 4300);
    let overflows = || pins::snmp(&lab.ns_a, "Udp", "RcvbufErrors");
    let overflows0 = overflows();
    let swapped = AtomicBool::new(false);
    let (sent, after) = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            Lab::in_ns(&lab.ns_b, || {
                let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
                let (mut sent, mut after_swap) = (0u32, 0u32);
                // Keep sending until well after the swap; pace so no queue overflows.
                while after_swap < 400 && sent < 20_000 {
                    if sock.send_to(&sent.to_be_bytes(), (ADDR_A, 4300)).is_ok() {
                        sent += 1;
                    }
                    if swapped.load(Ordering::SeqCst) {
                        after_swap += 1;
                    }
                    if sent % 16 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                sent
            })
        });
        let receiver = s.spawn(|| {
            let mut buf = [0u8; 16];
            let mut n = 0u32;
            while udp.recv(&mut buf).is_ok() {
                n += 1;
            }
            n
        });
        // Swap once the first program has seen traffic (the sender sends 20 000 at most:
        // 200 of them are seen in well under a second, even in the guests).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while objs.counters("counts", 24)[INGRESS + UDP] < 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first program saw {} datagrams in 30 s",
                objs.counters("counts", 24)[INGRESS + UDP]
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let flags = TcAttachFlags { replace: true };
        let after = h
            .tc_attach(ifindex, hook(ING, 7, 3), second.as_fd(), "second", flags)
            .unwrap();
        swapped.store(true, Ordering::SeqCst);
        let sent = sender.join().unwrap();
        let got = receiver.join().unwrap();
        // Every datagram reached the socket, or the kernel counted it as a full buffer.
        let full = overflows() - overflows0;
        assert_eq!(
            u64::from(got) + full,
            u64::from(sent),
            "{got} received, {full} overflowed"
        );
        (sent, after)
    });
    // Replaced in place: same priority and handle, the other program.
    assert_eq!(
        (after.priority, after.handle),
        (before.priority, before.handle)
    );
    assert_eq!(after.prog_id, objs.prog_id("count_alt"));
    assert_ne!(after.prog_id, before.prog_id);
    assert_eq!(h.tc_list(ifindex).unwrap(), vec![after.clone()]);

    let c = objs.counters("counts", 24);
    let (by_first, by_second) = (c[INGRESS + UDP], c[ALT + UDP]);
    eprintln!("sent {sent}: {by_first} counted by the first program, {by_second} by the second");
    assert!(
        by_first >= 200 && by_second >= 300,
        "both ran: {by_first} + {by_second}"
    );
    assert_eq!(
        by_first + by_second,
        u64::from(sent),
        "each datagram counted by one of them"
    );

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone()];
    drop((h, first, second, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}

#[test]
fn tc_list_agrees_with_tc_and_rtnetlink_and_delete_removes() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    pins::quiet_ipv6(&lab);
    let objs = Pinned::load("tc_count", Some("classifier"));
    let ids = pins::ids_of(&objs);
    let ing = objs.prog("count_ingress");
    let eg = objs.prog("count_egress");
    let alt = objs.prog("count_alt");
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    assert_eq!(h.tc_list(ifindex).unwrap(), vec![], "no clsact, no filters");
    h.ensure_clsact(ifindex).unwrap();
    let none = TcAttachFlags::default();
    let a = h
        .tc_attach(ifindex, hook(ING, 1, 1), ing.as_fd(), "in_first", none)
        .unwrap();
    let b = h
        .tc_attach(ifindex, hook(ING, 2, 0x10), alt.as_fd(), "in_second", none)
        .unwrap();
    let c = h
        .tc_attach(ifindex, hook(EG, 0, 0), eg.as_fd(), "out", none)
        .unwrap();
    // A filter added by tc itself (pinned program, not direct-action) shows up too. nsenter,
    // not `tc -n`: that one remounts /sys and so hides the pin.
    let netns = format!("--net=/run/netns/{}", lab.ns_a);
    let pin = objs.prog_path("count_alt");
    rbpf_tests::run(
        "nsenter",
        &[
            &netns,
            "tc",
            "filter",
            "add",
            "dev",
            &lab.veth_a,
            "egress",
            "pref",
            "9",
            "handle",
            "0x4",
            "bpf",
            "object-pinned",
            pin.to_str().unwrap(),
        ],
    );

    let ours = h.tc_list(ifindex).unwrap();
    assert_eq!(ours.len(), 4, "{ours:#?}");
    for f in [&a, &b, &c] {
        assert!(ours.contains(f), "{f:?} missing from {ours:#?}");
    }
    let by_tc = ours.iter().find(|f| f.priority == 9).unwrap();
    assert_eq!(
        (by_tc.direction, by_tc.handle, by_tc.direct_action),
        (EG, 4, false)
    );
    assert_eq!(by_tc.prog_id, objs.prog_id("count_alt"));
    let alt_tag = loader::sys::prog_info(alt.as_fd()).unwrap().tag_hex();
    assert_eq!(by_tc.tag_hex(), alt_tag);
    assert_eq!(rows(&ours), tc_rows(&lab), "our list vs tc -j filter show");
    assert_eq!(
        rows(&ours),
        rtnetlink_rows(&lab, ifindex),
        "our list vs the rtnetlink crate"
    );

    // Delete one: its program stops seeing traffic, the other ingress one still does.
    h.tc_detach(ifindex, ING, 1, 1).unwrap();
    let before = objs.counters("counts", 24);
    assert_eq!(lab.ping_a_from_b(3), 3);
    let after = objs.counters("counts", 24);
    assert_eq!(
        after[INGRESS + ICMP],
        before[INGRESS + ICMP],
        "deleted filter still counting"
    );
    // count_alt runs twice per ping: as in_second on ingress and as tc's filter on egress.
    assert_eq!(after[ALT + ICMP] - before[ALT + ICMP], 3 + 3);
    let left = h.tc_list(ifindex).unwrap();
    assert!(!left.contains(&a) && left.contains(&b) && left.len() == 3);
    assert_eq!(rows(&left), tc_rows(&lab));

    // Delete everything we can identify, then the qdisc.
    let gone = h.tc_detach_all(ifindex, None).unwrap();
    assert_eq!(gone.len(), 3);
    assert_eq!(h.tc_list(ifindex).unwrap(), vec![]);
    assert!(tc_rows(&lab).is_empty());
    h.delete_clsact(ifindex).unwrap();
    assert_eq!(h.qdisc_kind(ifindex).unwrap(), None);
    let qdiscs = rbpf_tests::run(
        "tc",
        &["-n", &lab.ns_a, "qdisc", "show", "dev", &lab.veth_a],
    );
    assert!(!qdiscs.contains("clsact"), "{qdiscs}");

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone()];
    drop((h, ing, eg, alt, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}
