//! The real `rbpf-load` binary in real labs: attach, exit, send traffic, read the counters;
//! detach and find nothing left; the error messages users see; --foreground and signals.

use loader::sys::{self, ObjKind};
use rbpf_tests::cli::{fails, ok, text};
use rbpf_tests::kernel::{array_u64, wait_prog_gone};
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// The pin directory rbpf-load uses for an attachment in a lab namespace.
fn pin_dir(object: &str, ns: &str, attachment: &str) -> PathBuf {
    Path::new("/sys/fs/bpf/rbpf")
        .join(object)
        .join(format!("{ns}@{attachment}"))
}

fn counts(pin: &Path, n: u32) -> Vec<u64> {
    let fd = sys::obj_get(&pin.join("maps/counts")).expect("pinned counts");
    (0..n).map(|k| array_u64(fd.as_fd(), k)).collect()
}

/// `ip -j link show` in a namespace: the XDP program id on a device, if any.
fn ip_xdp_prog(ns: &str, dev: &str) -> Option<u64> {
    let out = run("ip", &["-n", ns, "-j", "link", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["xdp"]["prog"]["id"].as_u64()
}

fn tc_filters(ns: &str, dev: &str, dir: &str) -> serde_json::Value {
    let out = run("tc", &["-n", ns, "-j", "filter", "show", "dev", dev, dir]);
    serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).expect("tc -j")
}

fn qdiscs(ns: &str, dev: &str) -> String {
    run("tc", &["-n", ns, "qdisc", "show", "dev", dev])
}

#[test]
fn xdp_classifier_keeps_counting_after_rbpf_load_exits_and_detach_removes_everything() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let out = ok(&[
        "-n",
        &lab.ns_a,
        &obj("xdp_classifier"),
        "--sec",
        "xdp_classifier",
        "--dev",
        &lab.veth_a,
    ]);
    // One line per attachment: device, hook, program id and name; how the type was chosen.
    assert!(
        out.contains(&format!("{}: xdp", lab.veth_a)) && out.contains("'xdp_classify'"),
        "{out}"
    );
    assert!(out.contains("context type 'struct xdp_md *'"), "{out}");
    let id = ip_xdp_prog(&lab.ns_a, &lab.veth_a).expect("ip sees an XDP program");
    assert!(out.contains(&format!("prog id {id} ")), "{out}");

    // rbpf-load has exited: the tail calls must still work (the prog array is pinned).
    assert_eq!(lab.ping_a_from_b(5), 5);
    assert_eq!(lab.tcp_syn_b_to_a(3, 8080), 3);
    assert_eq!(lab.udp_b_to_a(4, 9999), 4);
    let pin = pin_dir("xdp_classifier", &lab.ns_a, &format!("{}-xdp", lab.veth_a));
    let c = counts(&pin, 8);
    assert_eq!(c[0], 5, "ICMP echo requests {c:?}");
    assert_eq!(c[1], 3, "TCP SYNs {c:?}");
    assert_eq!(c[2], 4, "UDP datagrams {c:?}");
    assert_eq!(c[6], 0, "no failed tail call {c:?}");
    assert_eq!(c[5], c[0] + c[1] + c[2] + c[3] + c[4], "total {c:?}");

    let shown = ok(&["-n", &lab.ns_a, "show", "--dev", &lab.veth_a, "-j"]);
    let v: serde_json::Value = serde_json::from_str(&shown).expect("show -j");
    assert_eq!(v[0]["prog_id"].as_u64(), Some(id));
    assert_eq!(v[0]["pin"].as_str(), Some(pin.to_str().unwrap_or("")));

    ok(&["-n", &lab.ns_a, "detach", "--dev", &lab.veth_a, "--xdp"]);
    assert_eq!(ip_xdp_prog(&lab.ns_a, &lab.veth_a), None);
    assert!(!pin.exists(), "pins removed");
    assert!(
        wait_prog_gone(id as u32),
        "program {id} still in the kernel"
    );
}

#[test]
fn tc_attach_counts_like_tc_filter_add_and_detach_removes_our_clsact() {
    require_priv!();
    // The same object, attached by iproute2 in one lab and by rbpf-load in another.
    let ours = Lab::ipv4_only();
    let theirs = Lab::ipv4_only();
    ok(&[
        "-n",
        &ours.ns_a,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        &ours.veth_a,
    ]);
    run(
        "tc",
        &[
            "-n",
            &theirs.ns_a,
            "qdisc",
            "add",
            "dev",
            &theirs.veth_a,
            "clsact",
        ],
    );
    run(
        "tc",
        &[
            "-n",
            &theirs.ns_a,
            "filter",
            "add",
            "dev",
            &theirs.veth_a,
            "ingress",
            "bpf",
            "da",
            "obj",
            &obj("tc_count"),
            "sec",
            "tc/ingress",
        ],
    );
    for lab in [&ours, &theirs] {
        assert_eq!(lab.ping_a_from_b(4), 4);
        assert_eq!(lab.tcp_syn_b_to_a(2, 8080), 2);
        assert_eq!(lab.udp_b_to_a(6, 9999), 6);
    }
    let ours_pins = pin_dir(
        "tc_count",
        &ours.ns_a,
        &format!("{}-ingress-1-1", ours.veth_a),
    );
    let ours_counts = counts(&ours_pins, 8);
    // Like tc, only the program attached is loaded (the object has two more, and nothing
    // could tail-call them: no PROG_ARRAY).
    let mut progs: Vec<String> = std::fs::read_dir(&ours_pins)
        .expect("pin dir")
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    progs.sort();
    assert_eq!(progs, ["count_ingress"], "programs pinned");
    // iproute2's program: find its `counts` map through the program id tc reports.
    let f = tc_filters(&theirs.ns_a, &theirs.veth_a, "ingress");
    let prog_id = f
        .as_array()
        .and_then(|a| a.iter().find_map(|x| x["options"]["prog"]["id"].as_u64()))
        .expect("tc's program id") as u32;
    let pfd = sys::fd_by_id(ObjKind::Prog, prog_id).expect("prog");
    let info = sys::prog_info(pfd.as_fd()).expect("info");
    let map = info
        .map_ids
        .iter()
        .filter_map(|id| sys::fd_by_id(ObjKind::Map, *id).ok())
        .find(|fd| {
            sys::map_info(fd.as_fd())
                .map(|m| m.name == "counts")
                .unwrap_or(false)
        })
        .expect("tc's counts map");
    let theirs_counts: Vec<u64> = (0..8).map(|k| array_u64(map.as_fd(), k)).collect();
    assert_eq!(ours_counts, theirs_counts, "rbpf-load and tc count alike");
    assert_eq!(&ours_counts[..3], &[4, 2, 6], "ICMP, TCP, UDP");

    // rbpf-load created the clsact qdisc, so its detach removes it with the last filter.
    assert!(qdiscs(&ours.ns_a, &ours.veth_a).contains("clsact"));
    ok(&[
        "-n",
        &ours.ns_a,
        "detach",
        "--dev",
        &ours.veth_a,
        "--ingress",
    ]);
    assert_eq!(
        tc_filters(&ours.ns_a, &ours.veth_a, "ingress")
            .as_array()
            .map(|a| a.len()),
        Some(0)
    );
    assert!(!qdiscs(&ours.ns_a, &ours.veth_a).contains("clsact"));

    // A clsact that was there before is left alone.
    run(
        "tc",
        &[
            "-n",
            &ours.ns_a,
            "qdisc",
            "add",
            "dev",
            &ours.veth_a,
            "clsact",
        ],
    );
    ok(&[
        "-n",
        &ours.ns_a,
        &obj("tc_count"),
        "--sec",
        "tc/egress",
        "--dev",
        &ours.veth_a,
    ]);
    ok(&[
        "-n",
        &ours.ns_a,
        "detach",
        "--dev",
        &ours.veth_a,
        "--egress",
    ]);
    assert!(
        qdiscs(&ours.ns_a, &ours.veth_a).contains("clsact"),
        "a clsact we found stays"
    );
}

#[test]
fn a_second_attach_fails_unless_replace() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let ns = lab.ns_a.as_str();
    let dev = lab.veth_a.as_str();
    ok(&["-n", ns, &obj("xdp_count"), "--sec", "xdp", "--dev", dev]);
    let msg = fails(&["-n", ns, &obj("xdp_drop_all"), "--sec", "xdp", "--dev", dev]);
    assert!(msg.contains("--replace"), "{msg}");
    assert_eq!(
        lab.ping_a_from_b(2),
        2,
        "the first program still passes traffic"
    );
    assert!(
        !pin_dir("xdp_drop_all", ns, &format!("{dev}-xdp")).exists(),
        "the loser left no pins"
    );

    let out = ok(&[
        "-n",
        ns,
        &obj("xdp_drop_all"),
        "--sec",
        "xdp",
        "--dev",
        dev,
        "--replace",
    ]);
    assert!(out.contains("xdp_drop_all"), "{out}");
    assert_eq!(lab.ping_a_from_b(2), 0, "drop-everything stops ping");
    assert!(
        !pin_dir("xdp_count", ns, &format!("{dev}-xdp")).exists(),
        "the replaced program's pins went"
    );
    ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
    assert_eq!(lab.ping_a_from_b(2), 2);

    // tc: the same priority and handle twice.
    ok(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        dev,
    ]);
    let msg = fails(&[
        "-n",
        ns,
        &obj("drop_tcp"),
        "--sec",
        "tc",
        "--dev",
        dev,
        "--ingress",
    ]);
    assert!(msg.contains("exists") && msg.contains("--replace"), "{msg}");
    ok(&[
        "-n",
        ns,
        &obj("drop_tcp"),
        "--sec",
        "tc",
        "--dev",
        dev,
        "--ingress",
        "--replace",
    ]);
    assert_eq!(
        lab.tcp_syn_b_to_a(2, 8080),
        0,
        "TCP dropped after the replace"
    );
    assert_eq!(lab.udp_b_to_a(2, 9999), 2);
    ok(&["-n", ns, "detach", "--dev", dev, "--ingress"]);
    assert!(!qdiscs(ns, dev).contains("clsact"));
}

#[test]
fn one_load_attached_to_two_devices_counts_both_and_detaches_one_at_a_time() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (second, _) = lab.second_pair();
    let ns = lab.ns_a.as_str();
    let first = lab.veth_a.as_str();
    let out = ok(&[
        "-n",
        ns,
        &obj("xdp_classifier"),
        "--sec",
        "xdp_classifier",
        "--dev",
        first,
        "--dev",
        &second,
    ]);
    // Loaded once: both devices run the same program (ip agrees), each attachment has its
    // own pin directory, and both directories hold the same counts map.
    let id = ip_xdp_prog(ns, first).expect("an XDP program on the first device");
    assert_eq!(ip_xdp_prog(ns, &second), Some(id), "{out}");
    assert_eq!(
        out.matches(&format!("prog id {id} 'xdp_classify'")).count(),
        2,
        "{out}"
    );
    let pin_first = pin_dir("xdp_classifier", ns, &format!("{first}-xdp"));
    let pin_second = pin_dir("xdp_classifier", ns, &format!("{second}-xdp"));
    let map_id = |pin: &Path| {
        let fd = sys::obj_get(&pin.join("maps/counts")).expect("pinned counts");
        sys::map_info(fd.as_fd()).expect("map info").id
    };
    assert_eq!(map_id(&pin_first), map_id(&pin_second));

    // Real traffic through each device; one map counts both (slot 2: UDP).
    assert_eq!(lab.udp_b_to_a(4, 9999), 4);
    assert_eq!(lab.udp_b_to(rbpf_tests::lab::ADDR2_A, 3, 9999), 3);
    assert_eq!(counts(&pin_second, 8)[2], 7);

    // Detaching one device leaves the other attached, pinned and tail-calling.
    let out = ok(&["-n", ns, "detach", "--dev", first, "--xdp"]);
    assert!(out.contains(&pin_first.display().to_string()), "{out}");
    assert!(!pin_first.exists() && pin_second.exists(), "{out}");
    assert_eq!(ip_xdp_prog(ns, first), None);
    assert_eq!(ip_xdp_prog(ns, &second), Some(id));
    let shown = ok(&["-n", ns, "show", "--dev", &second, "-j"]);
    let v: serde_json::Value = serde_json::from_str(&shown).expect("show -j");
    assert_eq!(v[0]["pin"].as_str(), pin_second.to_str(), "{shown}");
    assert_eq!(lab.udp_b_to(rbpf_tests::lab::ADDR2_A, 2, 9999), 2);
    let c = counts(&pin_second, 8);
    assert_eq!(
        (c[2], c[6]),
        (9, 0),
        "UDP counted, no failed tail call {c:?}"
    );

    ok(&["-n", ns, "detach", "--dev", &second, "--xdp"]);
    assert!(!pin_second.exists());
    assert!(
        wait_prog_gone(id as u32),
        "program {id} still in the kernel"
    );
}

#[test]
fn several_devices_are_attached_all_or_none() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (second, _) = lab.second_pair();
    let ns = lab.ns_a.as_str();
    let first = lab.veth_a.as_str();
    // iproute2 holds prio 1 handle 1 on the second device's ingress.
    run("tc", &["-n", ns, "qdisc", "add", "dev", &second, "clsact"]);
    run(
        "tc",
        &[
            "-n",
            ns,
            "filter",
            "add",
            "dev",
            &second,
            "ingress",
            "prio",
            "1",
            "handle",
            "1",
            "bpf",
            "da",
            "obj",
            &obj("drop_tcp"),
            "sec",
            "tc",
        ],
    );
    let theirs = tc_filters(ns, &second, "ingress");
    let msg = fails(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        first,
        "--dev",
        &second,
    ]);
    // The error names the device; the first attachment was undone, clsact and pins too.
    assert!(
        msg.contains(&format!("dev {second} ingress")) && msg.contains("exists"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{first}: detached again")), "{msg}");
    assert_eq!(tc_filters(ns, first, "ingress"), serde_json::json!([]));
    assert!(!qdiscs(ns, first).contains("clsact"), "our clsact went");
    assert_eq!(
        tc_filters(ns, &second, "ingress"),
        theirs,
        "theirs untouched"
    );
    assert!(!pin_dir("tc_count", ns, &format!("{first}-ingress-1-1")).exists());
    // The program the first device had for a moment is gone from the kernel.
    let id: u32 = msg
        .split("prog id ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no prog id in {msg}"));
    assert!(wait_prog_gone(id), "program {id} still in the kernel");

    // What cannot work is refused before anything is loaded.
    let msg = fails(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        first,
        "--dev",
        first,
    ]);
    assert!(
        msg.contains(&format!("--dev {first} is given twice")),
        "{msg}"
    );
    let msg = fails(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        first,
        "--dev",
        &second,
        "--pin",
        "/sys/fs/bpf/rbpf-test-unused",
    ]);
    assert!(msg.contains("--pin names one directory"), "{msg}");
    assert!(!Path::new("/sys/fs/bpf/rbpf-test-unused").exists());
}

#[test]
fn errors_say_what_is_wrong_and_leave_nothing_behind() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let ns = lab.ns_a.as_str();
    let dev = lab.veth_a.as_str();
    // Unknown section: the sections and programs there are.
    let m = fails(&["-n", ns, &obj("tc_count"), "--sec", "nope", "--dev", dev]);
    assert!(
        m.contains("no section 'nope'") && m.contains("--sec tc/ingress --prog count_ingress"),
        "{m}"
    );
    // Ambiguous section: the candidates.
    let m = fails(&["-n", ns, &obj("multi_prog"), "--sec", "xdp", "--dev", dev]);
    assert!(
        m.contains("--prog") && m.contains("xdp_first") && m.contains("xdp_second"),
        "{m}"
    );
    // Missing device: named.
    let m = fails(&[
        "-n",
        ns,
        &obj("xdp_count"),
        "--sec",
        "xdp",
        "--dev",
        "nosuchdev0",
    ]);
    assert!(m.contains("nosuchdev0"), "{m}");
    // The verifier: reason, C source line, the tail of the log; all of it with -v.
    let m = fails(&["-n", ns, &obj("bad_verifier"), "--sec", "xdp", "--dev", dev]);
    assert!(
        m.contains("verifier rejected") && m.contains("outside of the packet"),
        "{m}"
    );
    assert!(m.contains("bad_verifier.bpf.c:"), "C source line: {m}");
    assert!(m.contains("-v for all"), "{m}");
    let full = fails(&[
        "-n",
        ns,
        &obj("bad_verifier"),
        "--sec",
        "xdp",
        "--dev",
        dev,
        "-v",
    ]);
    // With -v the whole log, not its tail.
    assert!(
        full.contains("verifier log:\n")
            && !full.contains("-v for all")
            && full.contains("processed "),
        "{full}"
    );
    // Nothing left: no XDP, no qdisc, no pins of this lab.
    assert_eq!(ip_xdp_prog(ns, dev), None);
    assert!(!qdiscs(ns, dev).contains("clsact"));
    let leftovers: Vec<_> = std::fs::read_dir("/sys/fs/bpf/rbpf")
        .map(|d| {
            d.flatten()
                .flat_map(|o| std::fs::read_dir(o.path()).into_iter().flatten().flatten())
                .filter(|a| {
                    a.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{ns}@"))
                })
                .map(|a| a.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "pins left: {leftovers:?}");
}

#[test]
fn without_privileges_the_missing_capability_is_named() {
    require_priv!();
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(rbpf_tests::cli::bin_path())
        .args(["load", &obj("xdp_count")])
        .output()
        .expect("setpriv");
    let m = text(&o);
    assert!(!o.status.success(), "{m}");
    assert!(m.contains("CAP_BPF"), "{m}");
}

#[test]
fn load_reports_what_the_kernel_accepts_and_names_what_it_refuses() {
    require_priv!();
    let out = ok(&["load", &obj("xdp_classifier"), "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let progs = v["programs"].as_array().expect("programs");
    assert_eq!(progs.len(), 4);
    for p in progs {
        let id = p["id"].as_u64().expect("id") as u32;
        assert!(p["verified_insns"].as_u64().unwrap_or(0) > 0);
        // Without --pin everything was unloaded when rbpf-load exited.
        assert!(wait_prog_gone(id), "{p}");
    }
    let m = fails(&["load", &obj("bad_verifier")]);
    assert!(
        m.contains("xdp_bad") && m.contains("1 of 1 programs refused"),
        "{m}"
    );

    // With --pin everything stays, until the pins go.
    let pins = rbpf_tests::cli::PinDir::new("load");
    let dir = pins.0.clone();
    ok(&["load", &obj("globals"), "--pin", &dir]);
    let fd = sys::obj_get(&Path::new(&dir).join("xdp_globals")).expect("pinned prog");
    assert!(sys::prog_info(fd.as_fd()).expect("info").id > 0);
    let dump = ok(&["map", "dump", &format!("{dir}/maps/data"), "-j"]);
    assert!(
        dump.contains("\"data_counter\":100"),
        "formatted through BTF: {dump}"
    );
    std::fs::remove_dir_all(&dir).expect("remove pins");
}

fn foreground_ends_on(signal: nix::sys::signal::Signal) {
    let lab = Lab::ipv4_only();
    let mut child = std::process::Command::new(rbpf_tests::cli::bin_path())
        .args([
            "-n",
            &lab.ns_a,
            &obj("tc_count"),
            "--sec",
            "tc/ingress",
            "--dev",
            &lab.veth_a,
            "--foreground",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until it is attached.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tc_filters(&lab.ns_a, &lab.veth_a, "ingress")
        .as_array()
        .map(|a| a.len())
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "never attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lab.ping_a_from_b(1), 1);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let sent = Instant::now();
    nix::sys::signal::kill(pid, signal).expect("kill");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "still running 1 s after {signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("detached"));
    assert_eq!(
        tc_filters(&lab.ns_a, &lab.veth_a, "ingress")
            .as_array()
            .map(|a| a.len()),
        Some(0)
    );
    assert!(!qdiscs(&lab.ns_a, &lab.veth_a).contains("clsact"));
    assert!(!pin_dir(
        "tc_count",
        &lab.ns_a,
        &format!("{}-ingress-1-1", lab.veth_a)
    )
    .exists());
}

#[test]
fn foreground_detaches_on_sigint() {
    require_priv!();
    foreground_ends_on(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn foreground_detaches_on_sigterm() {
    require_priv!();
    foreground_ends_on(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn help_completions_and_man_page() {
    let h = ok(&["--help"]);
    assert!(h.contains("Examples:") && h.contains("--sec"), "{h}");
    for sub in ["load", "show", "detach", "inspect"] {
        let h = ok(&[sub, "--help"]);
        assert!(h.contains("Examples:"), "{sub}: {h}");
    }
    let c = ok(&["completions", "bash"]);
    assert!(
        c.contains("rbpf-load") && c.contains("complete"),
        "bash completion"
    );
    let m = ok(&["man"]);
    assert!(m.contains(".TH") && m.contains("rbpf-load"), "man page");
}

#[test]
fn a_closed_stdout_ends_quietly_not_with_a_panic() {
    let cmd = format!(
        "{} inspect {} --btf --disasm | head -n 1 >/dev/null",
        rbpf_tests::cli::bin_path().display(),
        obj("core_fields")
    );
    let o = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &cmd])
        .output()
        .expect("bash");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // 141 = killed by SIGPIPE, like any C tool; never Rust's panic code 101.
    assert!(
        matches!(o.status.code(), Some(0) | Some(141)),
        "{:?} {err}",
        o.status
    );
}
