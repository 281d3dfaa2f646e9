//! Tracing through the `rbpf-load` binary: a raw tracepoint dispatcher filled with
//! --prog-array and pinned, events printed by --foreground --events, tracepoints on
//! processes, and the messages for what this kernel cannot do (trampolines, kprobes).

use loader::sys;
use rbpf_tests::cli::{bin_path, fails, ok, text};
use rbpf_tests::kernel::array_u64;
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv};
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The dispatcher counts syscalls of this whole process: keep the tests of this file apart.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

const NR_GETPPID: u32 = 110;
const NR_SCHED_YIELD: u32 = 24;

#[test]
fn raw_tracepoint_dispatcher_pinned_counts_our_syscalls_until_detached() {
    require_priv!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pins = rbpf_tests::cli::PinDir::new("dispatch");
    let dir = pins.0.clone();
    let out = ok(&[
        &obj("sys_enter_dispatch"),
        "--sec",
        "raw_tracepoint/sys_enter",
        "--prog",
        "sys_enter_dispatch",
        "--prog-array",
        &format!("syscall_table[{NR_GETPPID}]=handle_getppid"),
        "--prog-array",
        &format!("syscall_table[{NR_SCHED_YIELD}]=handle_sched_yield"),
        "--set",
        &format!("target_tgid={}", std::process::id()),
        "--pin",
        &dir,
    ]);
    assert!(
        out.contains("raw tracepoint") && out.contains("sys_enter_dispatch"),
        "{out}"
    );
    for _ in 0..7 {
        nix::unistd::getppid();
    }
    for _ in 0..3 {
        nix::sched::sched_yield().expect("sched_yield");
    }
    let counts = sys::obj_get(std::path::Path::new(&format!("{dir}/maps/syscall_counts")))
        .expect("pinned map");
    assert_eq!(array_u64(counts.as_fd(), NR_GETPPID), 7, "getppid calls");
    assert_eq!(
        array_u64(counts.as_fd(), NR_SCHED_YIELD),
        3,
        "sched_yield calls"
    );

    let out = ok(&["detach", "--pin", &dir]);
    assert!(out.contains("removed"), "{out}");
    assert!(!std::path::Path::new(&dir).exists());
    nix::unistd::getppid();
    assert_eq!(
        array_u64(counts.as_fd(), NR_GETPPID),
        7,
        "no counting after detach"
    );
}

#[test]
fn tracing_needs_foreground_or_pin() {
    require_priv!();
    let m = fails(&[
        &obj("sys_enter_dispatch"),
        "--sec",
        "raw_tracepoint/sys_enter",
        "--prog",
        "sys_enter_dispatch",
    ]);
    assert!(m.contains("--foreground") && m.contains("--pin"), "{m}");
}

/// Start `rbpf-load ... --foreground`, return it and a channel of its output lines.
fn foreground(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(bin_path())
        .args(args)
        .arg("--foreground")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbpf-load");
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (child, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = l.contains(what);
            seen.push(l);
            if hit {
                return;
            }
        }
    }
    panic!("no line with {what:?}; saw:\n{}", seen.join("\n"));
}

fn stop(mut child: Child, rx: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(l);
    }
    assert!(status.success(), "{}", seen.join("\n"));
    assert!(
        seen.iter().any(|l| l.contains("detached")),
        "{}",
        seen.join("\n")
    );
}

#[test]
fn tc_flow_events_print_one_record_per_packet_through_btf() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (child, rx) = foreground(&[
        "-n",
        &lab.ns_a,
        &obj("tc_flow"),
        "--sec",
        "tc",
        "--prog",
        "tc_flow_ingress",
        "--dev",
        &lab.veth_a,
        "--ingress",
        "--events",
        "events=flow_event",
    ]);
    let mut seen = Vec::new();
    wait_for(&rx, "running", &mut seen);
    assert_eq!(lab.udp_b_to_a(25, 9999), 25);
    let deadline = Instant::now() + Duration::from_secs(5);
    let events = |seen: &Vec<String>| seen.iter().filter(|l| l.starts_with("events: ")).count();
    while events(&seen) < 25 && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
    }
    stop(child, &rx, &mut seen);
    let evs: Vec<serde_json::Value> = seen
        .iter()
        .filter_map(|l| l.strip_prefix("events: "))
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{j}: {e}")))
        .collect();
    assert_eq!(evs.len(), 25, "{}", seen.join("\n"));
    for e in &evs {
        assert_eq!(e["proto"], 17, "{e}");
        assert_eq!(e["dport"], 9999, "{e}");
        assert_eq!(e["direction"], 0, "{e}");
        assert_eq!(e["ip_version"], 4, "{e}");
        assert_eq!(e["saddr"], "10.0.0.2", "{e}");
        assert_eq!(e["daddr"], "10.0.0.1", "{e}");
    }
}

/// Wait up to 15 s for `child` to exit by itself.
fn exits_by_itself(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rbpf-load --foreground did not end by itself");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tc's own view of the filters on `dev` (one line per filter; none: empty).
fn tc_filter_lines(ns: &str, dev: &str) -> String {
    rbpf_tests::run("tc", &["-n", ns, "filter", "show", "dev", dev, "ingress"])
}

#[test]
fn foreground_detaches_after_count_events_and_when_its_reader_goes_away() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let tc_flow = obj("tc_flow");
    let args = [
        "-n",
        &lab.ns_a,
        &tc_flow,
        "--sec",
        "tc",
        "--prog",
        "tc_flow_ingress",
        "--dev",
        &lab.veth_a,
        "--ingress",
        "--events",
        "events",
    ];
    let pins = std::path::PathBuf::from(format!(
        "/sys/fs/bpf/rbpf/tc_flow/{}@{}-ingress-1-1",
        lab.ns_a, lab.veth_a
    ));

    // --count 2: three datagrams, two events printed, then it detaches by itself.
    let mut with_count = args.to_vec();
    with_count.extend(["--count", "2"]);
    let (mut child, rx) = foreground(&with_count);
    let mut seen = Vec::new();
    wait_for(&rx, "running", &mut seen);
    assert!(pins.exists(), "pinned while it runs");
    assert_eq!(lab.udp_b_to_a(3, 9999), 3);
    let status = exits_by_itself(&mut child);
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(l);
    }
    let all = seen.join("\n");
    assert!(status.success(), "{all}");
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("events: ")).count(),
        2,
        "{all}"
    );
    assert!(all.contains("--count 2 reached: detaching"), "{all}");
    assert!(all.contains("detached, pins removed"), "{all}");
    assert!(!pins.exists(), "pins left: {all}");
    assert_eq!(tc_filter_lines(&lab.ns_a, &lab.veth_a), "", "filter left");

    // The reader goes away (`| head -2`): the next event cannot be written, and instead of
    // dying of SIGPIPE with everything still attached, it detaches.
    let mut child = Command::new(bin_path())
        .args(args)
        .arg("--foreground")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rbpf-load");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut head = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).expect("read a line");
        head.push(l);
    }
    assert!(head[1].starts_with("running"), "{head:?}");
    drop(out);
    // Datagrams until it notices (the first event is the one whose write fails).
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
        lab.udp_b_to_a(1, 9999);
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exits_by_itself(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("stdout closed: detaching"), "{err}");
    assert!(!pins.exists(), "pins left: {err}");
    assert_eq!(tc_filter_lines(&lab.ns_a, &lab.veth_a), "", "filter left");
}

#[test]
fn tracepoints_see_the_processes_we_start() {
    require_priv!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (child, rx) = foreground(&[
        &obj("proc_events"),
        "--sec",
        "tp/sched/sched_process_exec",
        "--events",
        "proc_rb=proc_event",
    ]);
    let mut seen = Vec::new();
    wait_for(&rx, "running", &mut seen);
    let mut pids = Vec::new();
    for _ in 0..3 {
        let c = Command::new("/bin/true").spawn().expect("spawn true");
        pids.push(c.id());
        let mut c = c;
        c.wait().expect("wait");
    }
    for pid in &pids {
        wait_for(&rx, &format!("\"pid\":{pid},"), &mut seen);
    }
    stop(child, &rx, &mut seen);
    for pid in pids {
        let line = seen
            .iter()
            .find(|l| l.contains(&format!("\"pid\":{pid},")))
            .expect("event");
        let v: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("proc_rb: ")).expect("json");
        assert_eq!(v["kind"], 0, "exec: {v}");
        assert_eq!(v["comm"], "true", "{v}");
        assert_eq!(
            v["ppid"],
            std::process::id(),
            "parent is this test process: {v}"
        );
    }
}

#[test]
fn trampolines_and_kprobes_say_what_this_kernel_lacks() {
    require_priv!();
    if std::env::var("RBPF_VM_KERNEL").is_ok() {
        return; // In the VMs both work; tests there cover them.
    }
    let m = fails(&[
        &obj("trace_kernel"),
        "--sec",
        "fentry/do_unlinkat",
        "--foreground",
    ]);
    assert!(m.contains("trampoline"), "{m}");
    let o = Command::new(bin_path())
        .args([
            &obj("trace_kernel"),
            "--sec",
            "kprobe/do_unlinkat",
            "--foreground",
        ])
        .output()
        .expect("run");
    let m = text(&o);
    assert!(!o.status.success(), "{m}");
    assert!(m.contains("kprobe"), "{m}");
}

#[test]
fn uprobe_on_libc_getpid_counts_our_calls() {
    require_priv!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pins = rbpf_tests::cli::PinDir::new("uprobe");
    let dir = pins.0.clone();
    let out = ok(&[
        &obj("uprobe_count"),
        "--sec",
        "uprobe//lib/x86_64-linux-gnu/libc.so.6:getpid",
        "--set",
        &format!("target_tgid={}", std::process::id()),
        "--pin",
        &dir,
    ]);
    assert!(out.contains("count_getpid"), "{out}");
    for _ in 0..9 {
        nix::unistd::getpid();
    }
    let calls =
        sys::obj_get(std::path::Path::new(&format!("{dir}/maps/calls"))).expect("pinned map");
    ok(&["detach", "--pin", &dir]);
    // Other threads of this test process (std::process::id() is getpid) may call it too,
    // up to the moment of detach; so the count is read after it: ours are there.
    let n = array_u64(calls.as_fd(), 0);
    assert!(n >= 9, "getpid calls seen: {n}");
    nix::unistd::getpid();
    assert_eq!(array_u64(calls.as_fd(), 0), n, "no counting after detach");
}

#[test]
fn trace_pipe_streams_bpf_printk() {
    require_priv!();
    // It calls getppid, which the dispatcher test counts.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (child, rx) = foreground(&[
        &obj("printk"),
        "--sec",
        "raw_tp/sys_enter",
        "--set",
        &format!("target_tgid={}", std::process::id()),
        "--trace-pipe",
    ]);
    let mut seen = Vec::new();
    wait_for(&rx, "running", &mut seen);
    let want = format!("rbpf-printk getppid from {}", std::process::id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l| l.contains(&want)) {
        assert!(
            Instant::now() < deadline,
            "no {want:?} in:\n{}",
            seen.join("\n")
        );
        nix::unistd::getppid();
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
    }
    stop(child, &rx, &mut seen);
}
