//! rbpf-load under pressure: several at once, two on one hook, a replace under traffic,
//! pins only where they belong, and signals during --foreground.

use loader::sys;
use rbpf_tests::cli::{bin_path, fails, ok, text};
use rbpf_tests::kernel::array_u64;
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(bin_path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbpf-load")
}

#[test]
fn several_at_once_on_different_devices_all_succeed() {
    require_priv!();
    let labs: Vec<Lab> = (0..4).map(|_| Lab::ipv4_only()).collect();
    let children: Vec<_> = labs
        .iter()
        .map(|l| {
            spawn(&[
                "-n",
                &l.ns_a,
                &obj("xdp_classifier"),
                "--sec",
                "xdp_classifier",
                "--dev",
                &l.veth_a,
            ])
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", text(&o));
    }
    for l in &labs {
        assert_eq!(l.udp_b_to_a(3, 9999), 3);
        let pin = format!(
            "/sys/fs/bpf/rbpf/xdp_classifier/{}@{}-xdp/maps/counts",
            l.ns_a, l.veth_a
        );
        let fd = sys::obj_get(Path::new(&pin)).expect("pinned counts");
        assert_eq!(
            array_u64(fd.as_fd(), 2),
            3,
            "UDP counted through the tail call in {}",
            l.ns_a
        );
        ok(&["-n", &l.ns_a, "detach", "--dev", &l.veth_a, "--xdp"]);
    }
}

#[test]
fn two_on_the_same_hook_one_wins_and_the_other_says_why() {
    require_priv!();
    let lab = Lab::ipv4_only();
    for (args, hint) in [
        (
            vec![obj("xdp_count"), "--sec".into(), "xdp".into()],
            "already attached",
        ),
        (
            vec![obj("tc_count"), "--sec".into(), "tc/ingress".into()],
            "already exists",
        ),
    ] {
        let mut full: Vec<String> = vec!["-n".into(), lab.ns_a.clone()];
        full.extend(args);
        full.extend(["--dev".into(), lab.veth_a.clone()]);
        let full: Vec<&str> = full.iter().map(|s| s.as_str()).collect();
        let (a, b) = (spawn(&full), spawn(&full));
        let outs = [
            a.wait_with_output().expect("a"),
            b.wait_with_output().expect("b"),
        ];
        let wins = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            wins,
            1,
            "exactly one wins:\n{}\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
        let loser = outs
            .iter()
            .find(|o| !o.status.success())
            .map(text)
            .unwrap_or_default();
        assert!(
            loser.contains("--replace") && loser.to_lowercase().contains(hint),
            "{loser}"
        );
        let hook = if full.contains(&"xdp") {
            "--xdp"
        } else {
            "--ingress"
        };
        ok(&["-n", &lab.ns_a, "detach", "--dev", &lab.veth_a, hook]);
    }
}

#[test]
fn replace_under_traffic_counts_every_packet_in_one_program_or_the_other() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    ok(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        dev,
    ]);
    // Hold the first program's map: its pins go when it is replaced.
    let first = sys::obj_get(Path::new(&format!(
        "/sys/fs/bpf/rbpf/tc_count/{ns}@{dev}-ingress-1-1/maps/counts"
    )))
    .expect("map");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let sent = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += lab.udp_b_to_a(50, 9999);
            }
            n
        });
        std::thread::sleep(Duration::from_millis(100));
        let out = ok(&[
            "-n",
            ns,
            &obj("tc_count"),
            "--sec",
            "tc",
            "--prog",
            "count_alt",
            "--dev",
            dev,
            "--ingress",
            "--replace",
        ]);
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(out.contains("count_alt"), "{out}");
        sender.join().expect("sender")
    });
    let second = sys::obj_get(Path::new(&format!(
        "/sys/fs/bpf/rbpf/tc_count/{ns}@{dev}-ingress-1-1/maps/counts"
    )))
    .expect("map");
    let a = array_u64(first.as_fd(), 2); // ingress block, UDP
    let b = array_u64(second.as_fd(), 16 + 2); // alt block, UDP
    assert!(a > 0 && b > 0, "both programs saw traffic: {a} + {b}");
    assert_eq!(
        a + b,
        sent as u64,
        "no packet passed unfiltered during the replace"
    );
    ok(&["-n", ns, "detach", "--dev", dev, "--ingress"]);
}

#[test]
fn pins_stay_inside_bpffs_and_are_private() {
    require_priv!();
    let m = fails(&[
        "load",
        &obj("xdp_count"),
        "--pin",
        "/sys/fs/bpf/../../tmp/rbpf-escape",
    ]);
    assert!(m.contains("'..'"), "{m}");
    let m = fails(&["load", &obj("xdp_count"), "--pin", "/tmp/rbpf-not-bpffs"]);
    assert!(m.contains("not on a bpffs mount"), "{m}");
    assert!(!Path::new("/tmp/rbpf-not-bpffs").exists());
    // A symlink inside bpffs pointing out of it.
    let link = format!("/sys/fs/bpf/rbpf-link-{}", std::process::id());
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/tmp", &link).expect("symlink");
    let m = fails(&["load", &obj("xdp_count"), "--pin", &format!("{link}/x")]);
    std::fs::remove_file(&link).expect("rm link");
    assert!(m.contains("symlink") || m.contains("not on a bpffs"), "{m}");

    let pins = rbpf_tests::cli::PinDir::new("perm");
    let dir = pins.0.clone();
    ok(&["load", &obj("xdp_count"), "--pin", &dir]);
    let mode = |p: &str| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "pin directory");
    assert_eq!(mode(&format!("{dir}/maps")), 0o700, "maps directory");
    assert_eq!(mode(&format!("{dir}/xdp_count")), 0o600, "program pin");
    assert_eq!(mode(&format!("{dir}/maps/counts")), 0o600, "map pin");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

fn foreground_child(lab: &Lab) -> std::process::Child {
    let child = spawn(&[
        "-n",
        &lab.ns_a,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        &lab.veth_a,
        "--foreground",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = run(
            "tc",
            &[
                "-n",
                &lab.ns_a,
                "filter",
                "show",
                "dev",
                &lab.veth_a,
                "ingress",
            ],
        );
        if f.contains("count_ingress") {
            break;
        }
        assert!(Instant::now() < deadline, "never attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child
}

fn clean(lab: &Lab) {
    let f = run(
        "tc",
        &[
            "-n",
            &lab.ns_a,
            "filter",
            "show",
            "dev",
            &lab.veth_a,
            "ingress",
        ],
    );
    assert!(f.trim().is_empty(), "filters left: {f}");
    let q = run(
        "tc",
        &["-n", &lab.ns_a, "qdisc", "show", "dev", &lab.veth_a],
    );
    assert!(!q.contains("clsact"), "qdisc left: {q}");
    assert!(!Path::new(&format!(
        "/sys/fs/bpf/rbpf/tc_count/{}@{}-ingress-1-1",
        lab.ns_a, lab.veth_a
    ))
    .exists());
}

#[test]
fn foreground_detaches_on_sighup_and_survives_a_second_signal() {
    require_priv!();
    use nix::sys::signal::{kill, Signal};
    let lab = Lab::ipv4_only();
    let child = foreground_child(&lab);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGHUP).expect("hup");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", text(&o));
    clean(&lab);

    // Two signals in a row: the second arrives while the first is being handled.
    let child = foreground_child(&lab);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGINT).expect("int");
    kill(pid, Signal::SIGTERM).expect("term");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", text(&o));
    clean(&lab);
}
