//! XDP through our own netlink layer on a real veth pair with real traffic: native and
//! generic mode both count, a drop-everything program silences ping, attaching over a
//! program is refused unless asked, the expected-fd replace checks what is attached, and
//! `ip -j link show` agrees with our query.

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

use netlink::{Handle, NetlinkError, XdpFlags, XdpInfo, XdpMode};
use rbpf_tests::lab::{Lab, ADDR_A};
use rbpf_tests::pins::{self, Pinned};

const ICMP: usize = 0;
const TCP: usize = 1;
const UDP: usize = 2;

/// What `ip -j -d link show dev DEV` says about XDP: (mode, prog id) per attachment; mode
/// 1 = driver, 2 = generic (skb), 3 = offload.
fn ip_xdp(lab: &Lab) -> Vec<(u64, u32)> {
    let json = rbpf_tests::run(
        "ip",
        &["-n", &lab.ns_a, "-j", "link", "show", "dev", &lab.veth_a],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let Some(xdp) = v[0].get("xdp") else {
        return Vec::new();
    };
    xdp["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["mode"].as_u64().unwrap(),
                a["prog"]["id"].as_u64().unwrap() as u32,
            )
        })
        .collect()
}

fn ip_mode(mode: XdpMode) -> u64 {
    match mode {
        XdpMode::Native => 1,
        XdpMode::Skb => 2,
        XdpMode::Hw => 3,
        XdpMode::Auto => unreachable!(),
    }
}

fn count_traffic_in(mode: XdpMode) {
    let lab = Lab::new();
    pins::quiet_ipv6(&lab);
    let objs = Pinned::load("xdp_count", None);
    let ids = pins::ids_of(&objs);
    let prog = objs.prog("xdp_count");
    let id = objs.prog_id("xdp_count");
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    assert_eq!(h.xdp_query(ifindex).unwrap(), vec![]);
    h.xdp_attach(ifindex, prog.as_fd(), mode, XdpFlags::default())
        .unwrap();
    assert_eq!(
        h.xdp_query(ifindex).unwrap(),
        vec![XdpInfo { mode, prog_id: id }]
    );
    assert_eq!(
        ip_xdp(&lab),
        vec![(ip_mode(mode), id)],
        "ip -j link show agrees"
    );

    let udp = Lab::in_ns(&lab.ns_a, || UdpSocket::bind((ADDR_A, 4400)).unwrap());
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let in_segs = || pins::snmp(&lab.ns_a, "Tcp", "InSegs");
    let tcp0 = in_segs();
    assert_eq!(lab.ping_a_from_b(5), 5);
    assert_eq!(lab.udp_b_to_a(7, 4400), 7);
    let mut buf = [0u8; 16];
    let mut got = 0;
    while udp.recv(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, 7);
    assert_eq!(lab.tcp_b_to_a(2, 4401), 2);
    let (c, tcp1) = pins::settled(|| {
        let c = objs.counters("counts", 8);
        ([c[ICMP], c[UDP], c[TCP]], in_segs())
    });
    eprintln!(
        "{mode:?}: icmp {} udp {} tcp {} (InSegs +{})",
        c[0],
        c[1],
        c[2],
        tcp1 - tcp0
    );
    // XDP sees what arrives: 5 echo requests, 7 datagrams, every TCP segment a took in.
    assert_eq!(c, [5, 7, tcp1 - tcp0]);
    assert!(c[2] >= 6);

    h.xdp_detach(ifindex, XdpMode::Auto, None).unwrap();
    assert_eq!(h.xdp_query(ifindex).unwrap(), vec![]);
    assert_eq!(ip_xdp(&lab), vec![]);

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone()];
    drop((h, prog, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}

#[test]
fn xdp_native_mode_on_veth_counts_traffic() {
    rbpf_tests::require_priv!();
    count_traffic_in(XdpMode::Native);
}

#[test]
fn xdp_generic_mode_counts_traffic() {
    rbpf_tests::require_priv!();
    count_traffic_in(XdpMode::Skb);
}

#[test]
fn xdp_drop_all_stops_ping_until_detached() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let objs = Pinned::load("xdp_drop_all", None);
    let ids = pins::ids_of(&objs);
    let prog = objs.prog("xdp_drop_all");
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    // Auto: veth has native XDP, so the kernel picks driver mode.
    h.xdp_attach(ifindex, prog.as_fd(), XdpMode::Auto, XdpFlags::default())
        .unwrap();
    let q = h.xdp_query(ifindex).unwrap();
    assert_eq!(
        q,
        vec![XdpInfo {
            mode: XdpMode::Native,
            prog_id: objs.prog_id("xdp_drop_all")
        }]
    );
    assert_eq!(lab.ping_a_from_b(3), 0, "a deaf interface answers no ping");
    let dropped = objs.counters("stats", 1)[0];
    assert!(dropped >= 3, "frames dropped: {dropped}");
    h.xdp_detach(ifindex, XdpMode::Native, None).unwrap();
    assert_eq!(lab.ping_a_from_b(3), 3, "ping works again after detach");
    assert_eq!(
        objs.counters("stats", 1)[0],
        dropped,
        "detached program saw nothing more"
    );

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![objs.dir.clone()];
    drop((h, prog, objs, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}

#[test]
fn xdp_refuses_to_clobber_and_checks_the_expected_program() {
    rbpf_tests::require_priv!();
    let lab = Lab::new();
    let counting = Pinned::load("xdp_count", None);
    let dropping = Pinned::load("xdp_drop_all", None);
    let mut ids = pins::ids_of(&counting);
    ids.extend(pins::ids_of(&dropping));
    let (count, drop_all) = (counting.prog("xdp_count"), dropping.prog("xdp_drop_all"));
    let (count_id, drop_id) = (
        counting.prog_id("xdp_count"),
        dropping.prog_id("xdp_drop_all"),
    );
    let mut h = Lab::in_ns(&lab.ns_a, || Handle::new().unwrap());
    let ifindex = h.ifindex(&lab.veth_a).unwrap();
    let dev = &lab.veth_a;
    let native = XdpMode::Native;
    let attached = |h: &mut Handle| h.xdp_query(ifindex).unwrap();
    h.xdp_attach(ifindex, count.as_fd(), native, XdpFlags::default())
        .unwrap();

    // Without replace, an attached program stays.
    let e = h
        .xdp_attach(ifindex, drop_all.as_fd(), native, XdpFlags::default())
        .unwrap_err();
    eprintln!("{e}");
    assert!(matches!(e, NetlinkError::Kernel { .. }), "{e:?}");
    assert_eq!(e.errno(), Some(libc::EBUSY));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&drop_all);
    assert_eq!(
        e.to_string(),
        format!(
            "ip link set dev {dev} xdpdrv fd {fd}: Device or resource busy \
             (kernel: \"XDP program already attached\")"
        )
    );
    assert_eq!(
        attached(&mut h),
        vec![XdpInfo {
            mode: native,
            prog_id: count_id
        }]
    );

    // An expected-fd replace naming the wrong program fails and changes nothing.
    let wrong = XdpFlags {
        replace: true,
        expected: Some(drop_all.as_fd()),
    };
    let e = h
        .xdp_attach(ifindex, drop_all.as_fd(), native, wrong)
        .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert_eq!(e.ext_ack(), Some("Active program does not match expected"));
    assert!(e.to_string().starts_with(&format!(
        "ip link set dev {dev} xdpdrv fd {fd} (expected fd {fd}): "
    )));
    assert_eq!(
        attached(&mut h),
        vec![XdpInfo {
            mode: native,
            prog_id: count_id
        }]
    );

    // Naming the right one swaps atomically.
    let right = XdpFlags {
        replace: true,
        expected: Some(count.as_fd()),
    };
    h.xdp_attach(ifindex, drop_all.as_fd(), native, right)
        .unwrap();
    assert_eq!(
        attached(&mut h),
        vec![XdpInfo {
            mode: native,
            prog_id: drop_id
        }]
    );
    assert_eq!(ip_xdp(&lab), vec![(1, drop_id)]);

    // Generic mode while native is attached: the kernel refuses, and says why.
    let e = h
        .xdp_attach(ifindex, count.as_fd(), XdpMode::Skb, XdpFlags::default())
        .unwrap_err();
    eprintln!("{e}");
    assert_eq!(
        e.ext_ack(),
        Some("Native and generic XDP can't be active at the same time")
    );

    // Plain replace, then a detach guarded by the expected program.
    let replace = XdpFlags {
        replace: true,
        expected: None,
    };
    h.xdp_attach(ifindex, count.as_fd(), native, replace)
        .unwrap();
    assert_eq!(
        attached(&mut h),
        vec![XdpInfo {
            mode: native,
            prog_id: count_id
        }]
    );
    let e = h
        .xdp_detach(ifindex, native, Some(drop_all.as_fd()))
        .unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.ext_ack(), Some("Active program does not match expected"));
    assert_eq!(
        attached(&mut h),
        vec![XdpInfo {
            mode: native,
            prog_id: count_id
        }]
    );
    h.xdp_detach(ifindex, native, Some(count.as_fd())).unwrap();
    assert_eq!(attached(&mut h), vec![]);
    assert_eq!(ip_xdp(&lab), vec![]);

    let names = vec![lab.ns_a.clone(), lab.ns_b.clone()];
    let pinned = vec![counting.dir.clone(), dropping.dir.clone()];
    drop((h, count, drop_all, counting, dropping, lab));
    pins::assert_left_nothing(&names, &ids, &pinned);
}
