//! tcx from the command line (issue 14): `tcx/*` sections and `--tcx` attach through a
//! pinned bpf link in the device's chain, placed with --first/--before/--after, swapped
//! with --replace, listed by `show` in chain order, removed by `detach --tcx`; a SIGKILLed
//! `--foreground` run leaves nothing; before Linux 6.6 a `tcx/*` section falls back to
//! clsact and `--tcx` says what is needed. Cross-checked with tc and bpftool.

use loader::sys;
use rbpf_tests::cli::{bin_path, fails, ok};
use rbpf_tests::kernel::{array_u64, has_tcx, wait_prog_gone};
use rbpf_tests::lab::{has_clsact, pins_of, Lab};
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::AsFd;
use std::path::Path;

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// (prog id, link id) of the tcx rows `show -j` lists for a device, in order.
fn shown_tcx(ns: &str, dev: &str) -> Vec<(u64, u64)> {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["-n", ns, "show", "--dev", dev, "-j"])).expect("show -j");
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["hook"] == "tcx ingress")
        .filter_map(|r| Some((r["prog_id"].as_u64()?, r["link_id"].as_u64()?)))
        .collect()
}

fn id_after(out: &str, key: &str) -> u64 {
    out.split(key)
        .nth(1)
        .and_then(|r| r.split([' ', ',']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} in {out}"))
}

/// The id of the link pinned at PIN/link, as bpftool reads it.
fn pinned_link_id(pin: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&run(
        "bpftool",
        &["-j", "link", "show", "pinned", &format!("{pin}/link")],
    ))
    .expect("bpftool -j");
    v["id"].as_u64().expect("link id")
}

fn dir(ns: &str, dev: &str, prog: &str) -> String {
    format!("/sys/fs/bpf/rbpf/tcx_order/{ns}@{dev}-tcx-ingress-{prog}")
}

#[test]
fn tcx_programs_run_in_the_order_asked_and_outlive_rbpf_load() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6: tcx_falls_back_to_clsact_before_6_6 checks that");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let second = ok(&[
        "-n",
        ns,
        &obj("tcx_order"),
        "--sec",
        "tcx/ingress",
        "--prog",
        "tcx_second",
        "--dev",
        dev,
    ]);
    assert!(
        second.contains(&format!("{dev}: tcx ingress: prog id")),
        "{second}"
    );
    // The second process uses the first one's map, so both stamp one clock.
    let shared = format!("order={}/maps/order", dir(ns, dev, "tcx_second"));
    let first = ok(&[
        "-n",
        ns,
        &obj("tcx_order"),
        "--sec",
        "tcx/ingress",
        "--prog",
        "tcx_first",
        "--dev",
        dev,
        "--before",
        "tcx_second",
        "--reuse-map",
        &shared,
    ]);
    let (p1, l1) = (id_after(&first, "prog id "), id_after(&first, "link id "));
    let (p2, l2) = (id_after(&second, "prog id "), id_after(&second, "link id "));
    assert_eq!(shown_tcx(ns, dev), vec![(p1, l1), (p2, l2)], "chain order");
    assert!(!has_clsact(ns, dev), "tcx needs no qdisc");
    // bpftool 7.1 knows no tcx: it shows the links as type 11, with our ids.
    let bl: serde_json::Value = serde_json::from_str(&run(
        "bpftool",
        &["-j", "link", "show", "id", &l1.to_string()],
    ))
    .expect("bpftool -j");
    assert_eq!(
        (bl["prog_id"].as_u64(), bl["type"].as_u64()),
        (Some(p1), Some(11)),
        "{bl}"
    );

    assert_eq!(lab.ping_a_from_b(1), 1);
    let order = sys::obj_get(Path::new(&format!(
        "{}/maps/order",
        dir(ns, dev, "tcx_second")
    )))
    .expect("order");
    let (f, s) = (array_u64(order.as_fd(), 1), array_u64(order.as_fd(), 2));
    assert!(f > 0 && f < s, "tcx_first at tick {f}, tcx_second at {s}");
    drop(order);

    let gone = ok(&["-n", ns, "detach", "--dev", dev, "--tcx", "--ingress"]);
    assert_eq!(gone.matches("tcx: detached").count(), 2, "{gone}");
    assert_eq!(shown_tcx(ns, dev), vec![]);
    for id in [p1, p2] {
        assert!(wait_prog_gone(id as u32), "prog {id} stayed");
    }
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
    let msg = fails(&["-n", ns, "detach", "--dev", dev, "--tcx"]);
    assert!(msg.contains("no tcx attachment of ours"), "{msg}");
}

/// `--replace` keeps the link and swaps its program: under a steady ping every echo
/// request is counted by the old program or the new one.
#[test]
fn tcx_replace_swaps_the_program_in_place() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let args = [
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc",
        "--prog",
        "count_alt",
        "--dev",
        dev,
        "--tcx",
        "--ingress",
    ];
    let before = ok(&args);
    let pin = format!("/sys/fs/bpf/rbpf/tc_count/{ns}@{dev}-tcx-ingress-count_alt");
    let old = sys::obj_get(Path::new(&format!("{pin}/maps/counts"))).expect("old counts");
    let mut again = args.to_vec();
    again.push("--replace");
    let (pings, after) = std::thread::scope(|s| {
        let p = s.spawn(|| lab.ping_a_from_b_fast(300));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let after = ok(&again);
        (p.join().expect("ping"), after)
    });
    assert_eq!(pings, 300);
    assert_eq!(
        id_after(&before, "link id "),
        id_after(&after, "link id "),
        "one link"
    );
    assert_ne!(id_after(&before, "prog id "), id_after(&after, "prog id "));
    let new = sys::obj_get(Path::new(&format!("{pin}/maps/counts"))).expect("new counts");
    // count_alt's ICMP slot: block 16.
    let (o, n) = (array_u64(old.as_fd(), 16), array_u64(new.as_fd(), 16));
    assert!(o > 0 && n > 0, "both ran: {o} + {n}");
    assert_eq!(o + n, 300, "{o} + {n}");
    ok(&["-n", ns, "detach", "--dev", dev, "--tcx"]);
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}

/// A `--foreground` tcx attachment is held by the process alone: SIGKILL and it is gone.
#[test]
fn a_killed_foreground_tcx_run_leaves_nothing() {
    require_priv!();
    if !has_tcx() {
        eprintln!("no tcx before Linux 6.6");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let mut child = std::process::Command::new(bin_path())
        .args([
            "-n",
            ns,
            &obj("tcx_order"),
            "--sec",
            "tcx/ingress",
            "--prog",
            "tcx_first",
            "--dev",
            dev,
            "--foreground",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let id = loop {
        if let Some((id, _)) = shown_tcx(ns, dev).first() {
            break *id;
        }
        assert!(std::time::Instant::now() < deadline, "never attached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(
        wait_prog_gone(id as u32),
        "the program outlived its process"
    );
    assert_eq!(shown_tcx(ns, dev), vec![]);
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}

/// Before Linux 6.6 (the 6.1 VM): a `tcx/*` section falls back to clsact and says so;
/// `--tcx` asked explicitly fails and names the version needed.
#[test]
fn tcx_falls_back_to_clsact_before_6_6() {
    require_priv!();
    if has_tcx() {
        eprintln!("this kernel has tcx: the fallback runs in the 6.1 VM");
        return;
    }
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let out = ok(&[
        "-n",
        ns,
        &obj("tcx_order"),
        "--sec",
        "tcx/ingress",
        "--prog",
        "tcx_first",
        "--dev",
        dev,
    ]);
    assert!(
        out.contains("this kernel has no tcx (Linux 6.6+): attaching through clsact instead"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{dev}: tc ingress prio 1 handle 1")),
        "{out}"
    );
    ok(&["-n", ns, "detach", "--dev", dev, "--ingress"]);
    let msg = fails(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc",
        "--prog",
        "count_alt",
        "--dev",
        dev,
        "--tcx",
        "--ingress",
    ]);
    assert!(msg.contains("tcx needs Linux 6.6 or later"), "{msg}");
    assert!(!has_clsact(ns, dev));
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}

/// `--link`: XDP held by a pinned bpf link. ip shows the program, but neither `ip link set
/// xdp off` nor a netlink attach can take the hook; `--link --replace` swaps the program in
/// the same link; `detach --xdp` removes it and leaves nothing.
#[test]
fn an_xdp_link_attachment_cannot_be_taken_by_netlink() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let args = [
        "-n",
        ns,
        &obj("xdp_count"),
        "--sec",
        "xdp",
        "--dev",
        dev,
        "--link",
    ];
    let out = ok(&args);
    assert!(
        out.contains(&format!("{dev}: xdp (")) && out.contains("bpf link)"),
        "{out}"
    );
    let id = id_after(&out, "prog id ");
    let pin = format!("/sys/fs/bpf/rbpf/xdp_count/{ns}@{dev}-xdp");
    let link = pinned_link_id(&pin);
    let shown: serde_json::Value =
        serde_json::from_str(&run("ip", &["-n", ns, "-j", "link", "show", "dev", dev]))
            .expect("ip -j");
    assert_eq!(shown[0]["xdp"]["prog"]["id"].as_u64(), Some(id), "{shown}");
    let off = std::process::Command::new("ip")
        .args(["-n", ns, "link", "set", "dev", dev, "xdp", "off"])
        .output()
        .expect("ip");
    assert!(!off.status.success(), "ip detached a program a link holds");
    let msg = fails(&[
        "-n",
        ns,
        &obj("xdp_drop_all"),
        "--sec",
        "xdp",
        "--dev",
        dev,
        "--replace",
    ]);
    assert!(msg.contains("a bpf link holds"), "{msg}");
    assert_eq!(lab.ping_a_from_b(3), 3, "xdp_count passes everything");

    let mut again = args.to_vec();
    again.push("--replace");
    let swapped = ok(&again);
    let new = id_after(&swapped, "prog id ");
    assert_ne!(new, id);
    let still = pinned_link_id(&pin);
    assert_eq!(still, link, "the same link, a new program");
    let shown = ok(&["-n", ns, "show", "--dev", dev]);
    assert!(shown.contains("bpf link"), "{shown}");

    let gone = ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
    assert!(gone.contains(&format!("detached prog id {new}")), "{gone}");
    let shown = run("ip", &["-n", ns, "link", "show", "dev", dev]);
    assert!(!shown.contains("xdp"), "{shown}");
    for p in [id, new] {
        assert!(wait_prog_gone(p as u32), "prog {p} stayed");
    }
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}
