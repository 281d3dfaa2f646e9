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

/// Slot `key` of an ARRAY map pinned at `path`, as an i64.
fn pinned_i64(path: &str, key: u32) -> i64 {
    let map = sys::obj_get(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    array_u64(map.as_fd(), key) as i64
}

/// `rbpf-load trace_kernel.bpf.o --sec SEC --set target_tgid=<this process> --pin DIR`.
/// Ok(its output), or Err(what it printed) when it failed.
fn trace_kernel_pinned(sec: &str, dir: &str) -> Result<String, String> {
    let o = rbpf_tests::cli::rbpf_load(&[
        &obj("trace_kernel"),
        "--sec",
        sec,
        "--set",
        &format!("target_tgid={}", std::process::id()),
        "--pin",
        dir,
    ]);
    if o.status.success() {
        Ok(text(&o))
    } else {
        Err(text(&o))
    }
}

/// Delete two files and one that is not there: three calls of do_unlinkat from this
/// process, returning 0, 0, -ENOENT.
fn unlink_two_and_a_missing_one(what: &str) {
    let base = std::env::temp_dir().join(format!("rbpf_cli_{what}_{}", std::process::id()));
    for i in 0..2 {
        let f = base.with_extension(i.to_string());
        std::fs::write(&f, b"x").expect("write");
        std::fs::remove_file(&f).expect("unlink");
    }
    let e = std::fs::remove_file(base.with_extension("missing")).expect_err("not there");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn fentry_and_fexit_on_a_kernel_function_count_each_call() {
    require_priv!();
    // This process's unlinks are counted: no other test of this file may delete files now.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fentry = rbpf_tests::cli::PinDir::new("fentry");
    let fexit = rbpf_tests::cli::PinDir::new("fexit");
    let required = rbpf_tests::vm::trampolines_required();
    let out = match trace_kernel_pinned("fentry/do_unlinkat", &fentry.0) {
        Err(m) if !required => {
            // This host: the kernel's refusal, explained.
            assert!(
                m.starts_with(
                    "Error: prog 'fentry_unlinkat' (section 'fentry/do_unlinkat'): BPF_PROG_LOAD \
                     on prog 'fentry_unlinkat': Operation not permitted (os error 1) (refused \
                     although we are root: this kernel does not allow BPF trampolines"
                ),
                "{m}"
            );
            return;
        }
        Err(m) => panic!(
            "RBPF_VM_KERNEL={:?}: fentry refused: {m}",
            rbpf_tests::vm::kernel()
        ),
        Ok(out) => out,
    };
    assert!(out.contains("prog 'fentry_unlinkat' ("), "{out}");
    let out = trace_kernel_pinned("fexit/do_unlinkat", &fexit.0).unwrap_or_else(|m| panic!("{m}"));
    assert!(out.contains("prog 'fexit_unlinkat' ("), "{out}");
    unlink_two_and_a_missing_one("fentry");
    // Each run loaded its own copy of the object: fentry counts in its slot 0, fexit in
    // its slot 1 (and keeps the last return value).
    let (fe, fx) = (
        format!("{}/maps/unlink_counts", fentry.0),
        format!("{}/maps/unlink_counts", fexit.0),
    );
    let counts: Vec<i64> = (0..4).map(|k| pinned_i64(&fe, k)).collect();
    assert_eq!(counts, [3, 0, 0, 0], "fentry's copy");
    let counts: Vec<i64> = (0..4).map(|k| pinned_i64(&fx, k)).collect();
    assert_eq!(counts, [0, 3, 0, 0], "fexit's copy");
    let ret = pinned_i64(&format!("{}/maps/unlink_ret", fexit.0), 0);
    assert_eq!(ret, -i64::from(libc::ENOENT), "fexit saw the last return");
    // Detached, they count no more (the maps stay while this test holds them).
    let held: Vec<_> = [&fe, &fx]
        .iter()
        .map(|p| sys::obj_get(std::path::Path::new(p)).expect("pinned map"))
        .collect();
    for dir in [&fentry.0, &fexit.0] {
        ok(&["detach", "--pin", dir]);
    }
    // The kernel frees a link whose last pin went on a work queue, just after: wait until
    // an unlink is counted no more (seen in the 6.12 guest: fexit counted 3 more at once).
    let now = || (array_u64(held[0].as_fd(), 0), array_u64(held[1].as_fd(), 1));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let before = now();
        unlink_two_and_a_missing_one("fentry_detaching");
        if now() == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still counting 20 s after detach"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = now();
    unlink_two_and_a_missing_one("fentry_detached");
    assert_eq!(now(), stopped, "fentry and fexit after detach");
}

#[test]
fn fentry_and_fexit_on_a_tc_program_through_target() {
    require_priv!();
    // tc_flow loaded and pinned, attached nowhere: only the test runs below run it.
    let tc = rbpf_tests::cli::PinDir::new("tc_target");
    ok(&["load", &obj("tc_flow"), "--pin", &tc.0]);
    let target = format!("{}/tc_flow_ingress", tc.0);
    let required = rbpf_tests::vm::trampolines_required();
    let mut dirs = Vec::new();
    for kind in ["fentry", "fexit"] {
        let dir = rbpf_tests::cli::PinDir::new(&format!("{kind}_tc"));
        let sec = format!("{kind}/tc_flow_ingress");
        let o = rbpf_tests::cli::rbpf_load(&[
            &obj("trace_tc"),
            "--sec",
            &sec,
            "--target",
            &target,
            "--pin",
            &dir.0,
        ]);
        let m = text(&o);
        if !o.status.success() && !required {
            assert!(
                m.starts_with(&format!(
                    "Error: prog '{kind}_tc' (section '{sec}'): BPF_PROG_LOAD on prog \
                     '{kind}_tc': Operation not permitted (os error 1) (refused although we \
                     are root: this kernel does not allow BPF trampolines"
                )),
                "{m}"
            );
            return;
        }
        assert!(
            o.status.success(),
            "RBPF_VM_KERNEL={:?}: {m}",
            rbpf_tests::vm::kernel()
        );
        assert!(m.contains(&format!("prog '{kind}_tc' (")), "{m}");
        dirs.push(dir);
    }
    // fexit_tc writes what the target returned; -1 first, so that its 0 shows.
    let ret_map = format!("{}/maps/trace_ret", dirs[1].0);
    let ret = sys::obj_get(std::path::Path::new(&ret_map)).expect("pinned trace_ret");
    sys::map_update(ret.as_fd(), &0u32.to_ne_bytes(), &(-1i64).to_ne_bytes(), 0).expect("set");
    let prog = sys::obj_get(std::path::Path::new(&target)).expect("pinned tc_flow_ingress");
    let run = sys::prog_test_run(prog.as_fd(), &[0u8; 64], &[], 5).expect("test run");
    let fe = format!("{}/maps/trace_counts", dirs[0].0);
    let fx = format!("{}/maps/trace_counts", dirs[1].0);
    assert_eq!(
        [pinned_i64(&fe, 0), pinned_i64(&fe, 1)],
        [5, 0],
        "fentry's copy"
    );
    assert_eq!(
        [pinned_i64(&fx, 0), pinned_i64(&fx, 1)],
        [0, 5],
        "fexit's copy"
    );
    assert_eq!(
        pinned_i64(&ret_map, 0),
        i64::from(run.retval as i32),
        "fexit saw the return"
    );
    for d in &dirs {
        ok(&["detach", "--pin", &d.0]);
    }
}

#[test]
fn kprobes_count_each_call_or_say_this_kernel_has_none() {
    require_priv!();
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let have_pmu = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists();
    // The guests have kprobes (docs/vm.md); only a host may lack them.
    assert!(
        have_pmu || !rbpf_tests::vm::in_vm(),
        "no kprobe PMU in the guest"
    );
    let kp = rbpf_tests::cli::PinDir::new("kprobe");
    let krp = rbpf_tests::cli::PinDir::new("kretprobe");
    for (sec, dir, probe) in [
        ("kprobe/do_unlinkat", &kp.0, "kprobe"),
        ("kretprobe/do_unlinkat", &krp.0, "kretprobe"),
    ] {
        match trace_kernel_pinned(sec, dir) {
            Ok(out) => assert!(have_pmu, "{sec} attached without a kprobe PMU: {out}"),
            Err(m) => {
                assert!(!have_pmu, "{sec}: {m}");
                // The loader's message, not the section name echoed back.
                assert_eq!(
                    m.trim_end(),
                    format!(
                        "Error: this kernel has no kprobe PMU (CONFIG_KPROBES?): cannot attach \
                         {probe} 'do_unlinkat' (/sys/bus/event_source/devices/kprobe is missing)"
                    )
                );
            }
        }
    }
    if !have_pmu {
        return;
    }
    unlink_two_and_a_missing_one("kprobe");
    let counts = |d: &str| -> Vec<i64> {
        let p = format!("{d}/maps/unlink_counts");
        (0..4).map(|k| pinned_i64(&p, k)).collect()
    };
    assert_eq!(counts(&kp.0), [0, 0, 3, 0], "kprobe's copy");
    assert_eq!(counts(&krp.0), [0, 0, 0, 3], "kretprobe's copy");
    for d in [&kp.0, &krp.0] {
        ok(&["detach", "--pin", d]);
    }
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
