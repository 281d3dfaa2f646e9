//! Applications (issue 13): `rbpf-load OBJ --all` loads an object once and attaches every
//! program whose section names its hook, in one process, with one set of maps; all or
//! nothing; `detach --pin DIR` removes all of it. Checked in real labs with real traffic,
//! against tc, bpftool and the kernel's id lists.

use loader::sys;
use rbpf_tests::cli::{bin_path, fails, ok, text};
use rbpf_tests::kernel::{array_u64, wait_prog_gone};
use rbpf_tests::lab::{has_clsact, pins_of, tc_bpf_filters as tc_filters, Lab};
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// The program id on the line of `out` that contains `what`.
fn id_on_line(out: &str, what: &str) -> u32 {
    out.lines()
        .find(|l| l.contains(what))
        .and_then(|l| l.split("prog id ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no prog id on a line with {what:?} in:\n{out}"))
}

fn getppid_n(n: u32) {
    for _ in 0..n {
        nix::unistd::getppid();
    }
}

fn app_dir(ns: &str) -> String {
    format!("/sys/fs/bpf/rbpf/app_count/{ns}@app")
}

#[test]
fn one_process_attaches_every_program_and_detach_pin_removes_all_of_it() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let out = ok(&["-n", ns, &obj("app_count"), "--all", "--dev", dev]);
    let ingress = id_on_line(&out, &format!("{dev}: tc ingress prio 1 handle 1"));
    let egress = id_on_line(&out, &format!("{dev}: tc egress prio 1 handle 1"));
    let tracer = id_on_line(&out, "tracepoint 'syscalls/sys_enter_getppid'");
    assert!(
        out.contains("prog 'app_socket' (section 'socket'): loaded, not attached"),
        "{out}"
    );
    let dir = app_dir(ns);
    assert!(out.contains(&format!("pinned at {dir}")), "{out}");
    // tc sees what we reported.
    assert_eq!(tc_filters(ns, dev, "ingress"), vec![(1, ingress as u64)]);
    assert_eq!(tc_filters(ns, dev, "egress"), vec![(1, egress as u64)]);

    // rbpf-load has exited: real traffic and our own system calls land in one map.
    let hits = sys::obj_get(Path::new(&format!("{dir}/maps/hits"))).expect("pinned hits");
    assert_eq!(lab.ping_a_from_b(4), 4);
    getppid_n(6);
    let (rx, tx, calls, sock) = (
        array_u64(hits.as_fd(), 0),
        array_u64(hits.as_fd(), 1),
        array_u64(hits.as_fd(), 2),
        array_u64(hits.as_fd(), 3),
    );
    // 4 echo requests in, 4 replies out, plus at most an ARP exchange each way.
    assert!((4..=6).contains(&rx), "ingress {rx}");
    assert!((4..=6).contains(&tx), "egress {tx}");
    assert!(calls >= 6, "getppid {calls}");
    assert_eq!(sock, 0, "the socket filter is attached nowhere");

    // show lists the application's attachments together, and bpftool the link.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["-n", ns, "show", "-j"])).expect("show -j");
    let ours: Vec<&serde_json::Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["pin"] == dir.as_str())
        .collect();
    let mut ids: Vec<u64> = ours.iter().filter_map(|r| r["prog_id"].as_u64()).collect();
    ids.sort();
    let mut want = vec![ingress as u64, egress as u64, tracer as u64];
    want.sort();
    assert_eq!(ids, want, "{v}");
    let link = ours
        .iter()
        .find(|r| r["prog_id"] == tracer)
        .and_then(|r| r["link_id"].as_u64())
        .expect("the tracepoint's link");
    let bl: serde_json::Value = serde_json::from_str(&run(
        "bpftool",
        &["-j", "link", "show", "id", &link.to_string()],
    ))
    .expect("bpftool -j");
    assert_eq!(bl["prog_id"], tracer, "{bl}");

    let socket = sys::obj_get(Path::new(&format!("{dir}/app_socket")))
        .and_then(|fd| sys::prog_info(fd.as_fd()))
        .expect("the socket filter is pinned")
        .id;
    drop(hits);

    let gone = ok(&["-n", ns, "detach", "--pin", &dir]);
    assert!(
        gone.contains(&format!("detached prog id {ingress}")),
        "{gone}"
    );
    assert!(
        gone.contains(&format!("detached prog id {egress}")),
        "{gone}"
    );
    assert!(gone.contains("removed the clsact qdisc"), "{gone}");
    assert_eq!(tc_filters(ns, dev, "ingress"), vec![]);
    assert_eq!(tc_filters(ns, dev, "egress"), vec![]);
    assert!(!has_clsact(ns, dev), "our clsact went");
    for id in [ingress, egress, tracer, socket] {
        assert!(wait_prog_gone(id), "prog {id} is still in the kernel");
    }
    assert!(!Path::new(&dir).exists());
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}

/// When one attachment fails, the ones made before it are undone: nothing of ours is left
/// (filters, our clsact, links, programs, pins), and the error names program, section and
/// device.
#[test]
fn an_application_is_attached_all_or_none() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (second, _) = lab.second_pair();
    let (ns, first) = (lab.ns_a.as_str(), lab.veth_a.as_str());
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
        &obj("app_count"),
        "--all",
        "--dev",
        first,
        "--dev",
        &second,
        "--explain",
    ]);
    assert!(
        msg.contains(&format!(
            "prog 'app_ingress' (section 'tc/ingress') on {second}:"
        )) && msg.contains("exists"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{first}: 'app_ingress' detached again")),
        "{msg}"
    );
    assert_eq!(tc_filters(ns, first, "ingress"), vec![]);
    assert_eq!(tc_filters(ns, first, "egress"), vec![]);
    assert!(!has_clsact(ns, first), "our clsact went");
    assert_eq!(
        tc_filters(ns, &second, "ingress"),
        theirs,
        "theirs untouched"
    );
    // Every program the load made (--explain printed their ids) is gone from the kernel.
    let ids: Vec<u32> = msg
        .lines()
        .filter(|l| l.contains("bpf(BPF_PROG_LOAD"))
        .filter_map(|l| l.split(", id ").nth(1))
        .filter_map(|r| r.split(',').next()?.trim().parse().ok())
        .collect();
    assert_eq!(ids.len(), 4, "{msg}");
    for id in ids {
        assert!(wait_prog_gone(id), "prog {id} is still in the kernel");
    }
    assert!(!Path::new(&app_dir(ns)).exists());
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}

/// Mistakes are named before anything is loaded.
#[test]
fn an_application_that_cannot_be_attached_is_refused_before_loading() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let ns = lab.ns_a.as_str();
    let msg = fails(&["-n", ns, &obj("app_count"), "--all", "--explain"]);
    assert!(
        msg.contains(
            "prog 'app_ingress' (section 'tc/ingress') is sched_cls: name the device with --dev"
        ),
        "{msg}"
    );
    assert!(!msg.contains("BPF_PROG_LOAD"), "{msg}");
    let msg = fails(&[
        "-n",
        ns,
        &obj("app_count"),
        "--all",
        "--sec",
        "socket",
        "--explain",
    ]);
    assert!(
        msg.contains(
            "nothing in 'app_count' says where to attach: prog 'app_socket' (section 'socket')"
        ),
        "{msg}"
    );
    assert!(!msg.contains("BPF_PROG_LOAD"), "{msg}");
    let msg = fails(&["-n", ns, &obj("app_count"), "--all", "--sec", "tc/nowhere"]);
    assert!(
        msg.contains("the object has no section 'tc/nowhere'"),
        "{msg}"
    );
    assert!(msg.contains("--sec tc/ingress --prog app_ingress"), "{msg}");
}

/// A subset (`--sec` repeated), in the foreground: SIGTERM detaches everything at once.
#[test]
fn a_foreground_application_detaches_everything_on_sigterm() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let child = std::process::Command::new(bin_path())
        .args([
            "-n",
            ns,
            &obj("app_count"),
            "--sec",
            "tc/ingress",
            "--sec",
            "tracepoint/syscalls/sys_enter_getppid",
            "--dev",
            dev,
            "--foreground",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tc_filters(ns, dev, "ingress").is_empty() {
        assert!(Instant::now() < deadline, "never attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = tc_filters(ns, dev, "ingress")[0].1 as u32;
    assert_eq!(
        tc_filters(ns, dev, "egress"),
        vec![],
        "only the selected programs"
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let sent = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let out = child.wait_with_output().expect("wait");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("tracepoint 'syscalls/sys_enter_getppid'"),
        "{said}"
    );
    assert!(said.contains("detached"), "{said}");
    assert_eq!(tc_filters(ns, dev, "ingress"), vec![]);
    assert!(!has_clsact(ns, dev), "our clsact went");
    assert!(wait_prog_gone(id), "prog {id} is still in the kernel");
    assert_eq!(pins_of(&[ns]), Vec::<std::path::PathBuf>::new());
}
