//! tcx and XDP links through the library (issue 14, first part): a program in a device's
//! tcx chain with no qdisc, its place in the chain, an atomic program swap under traffic,
//! the chain's revision refusing a stale attach, and an XDP link that netlink cannot
//! replace. Real kernel, real lab, real packets; cross-checked with tc, ip and bpftool.

use loader::attach::{attach_tcx, attach_xdp_link, tcx_chain, TcxDirection};
use loader::load::{self, LoadOptions, Loaded};
use loader::obj::Object;
use loader::sys::links::Anchor;
use rbpf_tests::kernel::{array_u64, has_tcx, map_fd, prog_fd};
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv, run};

fn load_all(name: &str) -> Loaded {
    let obj = Object::from_file(&bpf_obj(name)).expect("parse");
    load::load(&obj, &LoadOptions::default()).expect("load")
}

fn ifindex(ns: &str, dev: &str) -> u32 {
    Lab::in_ns(ns, || {
        netlink::Handle::new().and_then(|mut h| h.ifindex(dev))
    })
    .expect("ifindex")
}

/// Attach `prog` to the tcx ingress hook of `idx` from inside namespace `ns`.
fn tcx_in(
    ns: &str,
    idx: u32,
    prog: std::os::fd::BorrowedFd,
    anchor: Anchor,
    revision: Option<u64>,
) -> loader::attach::Result<loader::attach::Link> {
    Lab::in_ns(ns, || {
        attach_tcx(prog, idx, TcxDirection::Ingress, anchor, revision)
    })
}

fn chain_of(ns: &str, idx: u32) -> loader::sys::links::Chain {
    Lab::in_ns(ns, || tcx_chain(idx, TcxDirection::Ingress)).expect("query")
}

fn prog_id(l: &Loaded, name: &str) -> u32 {
    l.program(name).expect("program").id
}

#[test]
fn a_tcx_program_counts_without_a_qdisc_and_goes_with_its_link() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let l = load_all("tc_count");
    let idx = ifindex(ns, dev);
    let attached = tcx_in(ns, idx, prog_fd(&l, "count_ingress"), Anchor::Last, None);
    if !has_tcx() {
        let err = attached.expect_err("tcx before Linux 6.6");
        assert!(err.to_string().contains("Invalid argument"), "{err}");
        return;
    }
    let link = attached.expect("tcx attach");
    assert_eq!(lab.ping_a_from_b(5), 5);
    // tc_count's ingress block: slot 0 ICMP.
    assert_eq!(array_u64(map_fd(&l, "counts"), 0), 5);
    let qdiscs = run("tc", &["-n", ns, "qdisc", "show", "dev", dev]);
    assert!(!qdiscs.contains("clsact"), "tcx needs no qdisc: {qdiscs}");
    let chain = chain_of(ns, idx);
    let id = prog_id(&l, "count_ingress");
    assert_eq!(chain.entries, vec![(id, link.id().expect("link id"))]);
    // bpftool 7.1 does not name tcx links: it shows them as type 11, with our ids.
    let bl: serde_json::Value = serde_json::from_str(&run(
        "bpftool",
        &[
            "-j",
            "link",
            "show",
            "id",
            &link.id().expect("id").to_string(),
        ],
    ))
    .expect("bpftool -j");
    assert_eq!(bl["prog_id"], id, "{bl}");
    assert_eq!(
        link.info().expect("info").link_type,
        11,
        "BPF_LINK_TYPE_TCX"
    );
    drop(link);
    let chain = chain_of(ns, idx);
    assert_eq!(chain.entries, vec![], "the program went with its link");
    assert_eq!(lab.ping_a_from_b(2), 2);
    assert_eq!(
        array_u64(map_fd(&l, "counts"), 0),
        5,
        "nothing counts any more"
    );
}

/// First and Before/After place a program in the chain; the programs themselves record
/// which ran first.
#[test]
fn tcx_anchors_order_the_chain_as_the_programs_see_it() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6: the first test checks the refusal");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let l = load_all("tcx_order");
    let idx = ifindex(ns, dev);
    let (first, second) = (prog_id(&l, "tcx_first"), prog_id(&l, "tcx_second"));
    let order = |l: &Loaded| {
        let m = map_fd(l, "order");
        (array_u64(m, 1), array_u64(m, 2))
    };
    // tcx_second first in line, then tcx_first put before it: first runs first.
    let b = tcx_in(ns, idx, prog_fd(&l, "tcx_second"), Anchor::First, None).expect("attach second");
    let a = tcx_in(
        ns,
        idx,
        prog_fd(&l, "tcx_first"),
        Anchor::BeforeProg(second),
        None,
    )
    .expect("attach first before second");
    let chain = chain_of(ns, idx);
    let ids: Vec<u32> = chain.entries.iter().map(|e| e.0).collect();
    assert_eq!(ids, vec![first, second]);
    assert_eq!(lab.ping_a_from_b(1), 1);
    let (f, s) = order(&l);
    assert!(f > 0 && f < s, "tcx_first at tick {f}, tcx_second at {s}");
    // Now the other way round: tcx_first again, after tcx_second.
    drop(a);
    let _a = tcx_in(
        ns,
        idx,
        prog_fd(&l, "tcx_first"),
        Anchor::AfterProg(second),
        None,
    )
    .expect("attach first after second");
    assert_eq!(lab.ping_a_from_b(1), 1);
    let (f, s) = order(&l);
    assert!(s < f, "now tcx_second at tick {s} before tcx_first at {f}");
    drop(b);
}

/// The chain's revision: an attach that read the chain before someone else changed it is
/// refused (ESTALE), not raced.
#[test]
fn a_stale_revision_is_refused() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6: the first test checks the refusal");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let l = load_all("tcx_order");
    let idx = ifindex(ns, dev);
    let before = chain_of(ns, idx);
    let _other = tcx_in(ns, idx, prog_fd(&l, "tcx_second"), Anchor::Last, None).expect("attach");
    let err = tcx_in(
        ns,
        idx,
        prog_fd(&l, "tcx_first"),
        Anchor::Last,
        Some(before.revision),
    )
    .expect_err("stale revision");
    assert!(err.to_string().contains("Stale file handle"), "{err}");
    let now = chain_of(ns, idx);
    assert_eq!(now.entries.len(), 1, "nothing added");
    assert!(now.revision > before.revision);
    let _ok = tcx_in(
        ns,
        idx,
        prog_fd(&l, "tcx_first"),
        Anchor::Last,
        Some(now.revision),
    )
    .expect("the current revision is taken");
}

/// `Link::update` swaps the program in one step: under a steady ping, every echo request
/// is counted by the old program or the new one, none by both and none by neither.
#[test]
fn a_link_update_swaps_the_program_without_losing_a_packet() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6: the first test checks the refusal");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let l = load_all("tc_count");
    let idx = ifindex(ns, dev);
    let link = tcx_in(ns, idx, prog_fd(&l, "count_ingress"), Anchor::Last, None).expect("attach");
    let pinger = std::thread::scope(|s| {
        let p = s.spawn(|| lab.ping_a_from_b_fast(300));
        std::thread::sleep(std::time::Duration::from_millis(300));
        link.update(prog_fd(&l, "count_alt")).expect("update");
        p.join().expect("ping thread")
    });
    assert_eq!(pinger, 300, "every ping answered");
    let counts = map_fd(&l, "counts");
    // ICMP slots: count_ingress's block at 0, count_alt's at 16.
    let (old, new) = (array_u64(counts, 0), array_u64(counts, 16));
    assert!(old > 0 && new > 0, "both ran: {old} + {new}");
    assert_eq!(old + new, 300, "{old} + {new}");
    let chain = chain_of(ns, idx);
    assert_eq!(chain.entries[0].0, prog_id(&l, "count_alt"));
}

/// An XDP link holds the hook: `ip link set ... xdp off` is refused while it lives, and the
/// hook is free once the link goes.
#[test]
fn an_xdp_link_cannot_be_replaced_through_netlink() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let l = load_all("xdp_count");
    let idx = ifindex(ns, dev);
    let link =
        Lab::in_ns(ns, || attach_xdp_link(prog_fd(&l, "xdp_count"), idx, 0)).expect("XDP link");
    let shown: serde_json::Value =
        serde_json::from_str(&run("ip", &["-n", ns, "-j", "link", "show", "dev", dev]))
            .expect("ip -j");
    assert_eq!(
        shown[0]["xdp"]["prog"]["id"].as_u64(),
        Some(prog_id(&l, "xdp_count") as u64),
        "{shown}"
    );
    let off = std::process::Command::new("ip")
        .args(["-n", ns, "link", "set", "dev", dev, "xdp", "off"])
        .output()
        .expect("ip");
    assert!(
        !off.status.success(),
        "ip detached a program held by a link"
    );
    assert_eq!(lab.ping_a_from_b(3), 3);
    assert!(array_u64(map_fd(&l, "counts"), 0) >= 3);
    assert_eq!(link.info().expect("info").link_type, 6, "BPF_LINK_TYPE_XDP");
    drop(link);
    let shown = run("ip", &["-n", ns, "link", "show", "dev", dev]);
    assert!(!shown.contains("xdp"), "{shown}");
}
