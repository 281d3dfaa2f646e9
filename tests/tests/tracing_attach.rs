//! Attaching hand-made programs to raw tracepoints, tracepoints, tp_btf, uprobes, and the
//! clear refusals of this kernel (fentry/fexit trampolines: EPERM; no kprobe PMU). Each
//! program reports only this test thread's calls, so tests can run in parallel.

mod tracing_support;

use loader::attach::{self, AttachError, Tracing};
use loader::events::RingBuf;
use loader::section::{attach_type, prog_type};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;
use tracing_support::progs::syscall_reporter_as;
use tracing_support::progs::{arg_reporter, decode, pid_reporter, syscall_reporter};
use tracing_support::progs::{Filter, Sink};
use tracing_support::*;

/// A ring buffer and its reader, plus the send counters of the program writing into it.
struct Rb {
    map: OwnedFd,
    counts: OwnedFd,
    reader: RingBuf,
}

impl Rb {
    fn new() -> Rb {
        let map = map(BPF_MAP_TYPE_RINGBUF, 0, 0, 256 * 1024, "t_rb");
        let reader = RingBuf::open(map.as_fd()).unwrap();
        Rb {
            map,
            counts: tracing_support::map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts"),
            reader,
        }
    }

    /// Every record waiting now, as (word0, pid_tgid) pairs.
    fn drain(&mut self, size: usize) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        self.reader
            .poll(Some(Duration::from_millis(5)), |r| {
                let (w, who, intact) = decode(r, size);
                assert!(intact, "record contents");
                v.push((w, who));
            })
            .unwrap();
        v
    }
}

fn me() -> u64 {
    (u64::from(std::process::id()) << 32) | u64::from(gettid())
}

fn count_nr(recs: &[(u64, u64)], nr: u64) -> usize {
    recs.iter()
        .filter(|(w, who)| *w == nr && *who == me())
        .count()
}

#[test]
fn raw_tracepoint_link_shows_in_bpftool_pins_and_detaches() {
    rbpf_tests::require_priv!();
    let mut rb = Rb::new();
    let prog = syscall_reporter(gettid(), Sink::Ringbuf(&rb.map), 16, &rb.counts);
    let link = attach::attach_raw_tracepoint(prog.as_fd(), "sys_enter").unwrap();
    let id = link
        .id()
        .expect("a raw tracepoint attachment is a bpf link");
    assert!(link.what().contains("sys_enter"), "{}", link.what());

    let shown = bpftool_link(id);
    assert_eq!(shown["id"], id, "{shown}");
    assert_eq!(shown["prog_id"], tracing_support::prog_id(&prog), "{shown}");
    assert_eq!(shown["type"], "raw_tracepoint", "{shown}");
    assert_eq!(shown["tp_name"], "sys_enter", "{shown}");
    for _ in 0..25 {
        getppid_syscall();
    }
    assert_eq!(count_nr(&rb.drain(16), NR_GETPPID), 25);

    // Pinned, the link outlives its fd; removing the pin detaches it.
    let pin = pin_path("rawtp");
    link.pin(&pin).unwrap();
    drop(link);
    assert!(link_exists(id), "a pinned link stays after its fd closes");
    for _ in 0..5 {
        getppid_syscall();
    }
    assert_eq!(count_nr(&rb.drain(16), NR_GETPPID), 5);
    std::fs::remove_file(&pin).unwrap();
    assert!(
        wait_link_gone(id),
        "link {id} still there after its pin was removed"
    );
    // The kernel drops its id first and unregisters the probe just after, on a work queue.
    assert!(
        wait_until(|| {
            getppid_syscall();
            count_nr(&rb.drain(16), NR_GETPPID) == 0
        }),
        "still reporting after the pin was removed"
    );
    for _ in 0..5 {
        getppid_syscall();
    }
    assert_eq!(count_nr(&rb.drain(16), NR_GETPPID), 0, "detached");
}

/// `bpftool -j link show id ID`: the kernel's view of one link, parsed.
fn bpftool_link(id: u32) -> serde_json::Value {
    let out = rbpf_tests::run("bpftool", &["-j", "link", "show", "id", &id.to_string()]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bpftool link show: {e}: {out}"))
}

/// Try `f` every 10 ms for up to 2 s, until it says yes.
fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    (0..200).any(|_| {
        let ok = f();
        if !ok {
            std::thread::sleep(Duration::from_millis(10));
        }
        ok
    })
}

#[test]
fn raw_tracepoint_that_does_not_exist_is_named_in_the_error() {
    rbpf_tests::require_priv!();
    let rb = Rb::new();
    let prog = syscall_reporter(gettid(), Sink::Ringbuf(&rb.map), 16, &rb.counts);
    let e = attach::attach_raw_tracepoint(prog.as_fd(), "no_such_raw_tp").unwrap_err();
    assert!(e.to_string().contains("no_such_raw_tp"), "{e}");
}

#[test]
fn tracepoint_reports_each_getppid_of_this_thread_and_stops_on_drop() {
    rbpf_tests::require_priv!();
    const MARK: i32 = 0x7e57;
    let mut rb = Rb::new();
    let prog = pid_reporter(
        prog_type::TRACEPOINT,
        0,
        0,
        Filter::Tid(gettid()),
        MARK,
        Sink::Ringbuf(&rb.map),
        &rb.counts,
    );
    let link = attach::attach_tracepoint(prog.as_fd(), "syscalls", "sys_enter_getppid").unwrap();
    let id = link.id().expect("this kernel has perf links");
    assert!(link.perf_fd().is_some());
    let shown = bpftool_link(id);
    assert_eq!(shown["id"], id, "{shown}");
    assert_eq!(shown["prog_id"], tracing_support::prog_id(&prog), "{shown}");
    assert_eq!(shown["type"], "perf_event", "{shown}");

    for _ in 0..200 {
        getppid_syscall();
        sched_yield_syscall();
    }
    let recs = rb.drain(32);
    // Only getppid fires this tracepoint: exactly 200 records, all from this thread.
    assert_eq!(recs.len(), 200);
    assert_eq!(count_nr(&recs, MARK as u64), 200);
    assert_eq!(array_u64(&rb.counts, 1), 200);

    drop(link);
    assert!(wait_link_gone(id));
    assert!(
        wait_until(|| {
            getppid_syscall();
            rb.drain(32).is_empty()
        }),
        "still reporting after the link was dropped"
    );
    for _ in 0..20 {
        getppid_syscall();
    }
    assert!(rb.drain(32).is_empty(), "detached on drop");
}

#[test]
fn missing_or_malformed_tracepoints_are_named() {
    rbpf_tests::require_priv!();
    let rb = Rb::new();
    let prog = pid_reporter(
        prog_type::TRACEPOINT,
        0,
        0,
        Filter::All,
        0,
        Sink::Ringbuf(&rb.map),
        &rb.counts,
    );
    let e = attach::attach_tracepoint(prog.as_fd(), "sched", "no_such_event").unwrap_err();
    assert!(matches!(e, AttachError::NoTracepoint { .. }), "{e:?}");
    assert!(e.to_string().contains("'sched/no_such_event'"), "{e}");
    let e = attach::attach_tracepoint(prog.as_fd(), "..", "sched").unwrap_err();
    assert!(matches!(e, AttachError::BadTracepointName(_)), "{e:?}");
    // The id comes from tracefs, as `cat` would read it.
    let root = attach::tracefs_root().unwrap();
    let cat = std::fs::read_to_string(root.join("events/sched/sched_process_exec/id")).unwrap();
    assert_eq!(
        attach::tracepoint_id("sched", "sched_process_exec").unwrap(),
        cat.trim().parse::<u64>().unwrap()
    );
}

#[test]
fn tp_btf_on_sys_enter_reports_each_getppid() {
    rbpf_tests::require_priv!();
    let mut rb = Rb::new();
    let btf_id = bpftool_vmlinux_id("TYPEDEF", "btf_trace_sys_enter");
    let prog = syscall_reporter_as(
        prog_type::TRACING,
        attach_type::TRACE_RAW_TP,
        btf_id,
        gettid(),
        Sink::Ringbuf(&rb.map),
        16,
        &rb.counts,
    );
    let link = attach::attach_tracing(prog.as_fd(), Tracing::TpBtf).unwrap();
    assert!(link.id().is_some());
    for _ in 0..40 {
        getppid_syscall();
    }
    drop(link);
    assert_eq!(count_nr(&rb.drain(16), NR_GETPPID), 40);
}

/// Load `kind` (fentry or fexit) as an [`arg_reporter`] and attach it. Where the kernel
/// refuses trampolines and this is allowed (the host, not a guest of `make test-vm`), check
/// the message and return None; any other failure fails the test.
fn trampoline_reporter(
    kind: Tracing,
    btf_id: u32,
    target: Option<std::os::fd::RawFd>,
    arg: i16,
    rb: &Rb,
) -> Option<(OwnedFd, attach::Link)> {
    let at = match kind {
        Tracing::Fentry => attach_type::TRACE_FENTRY,
        _ => attach_type::TRACE_FEXIT,
    };
    let res = arg_reporter(
        at,
        btf_id,
        target,
        gettid(),
        arg,
        Sink::Ringbuf(&rb.map),
        &rb.counts,
    )
    .map_err(|e| attach::tracing_load_error("t_arg_report", kind, e))
    .and_then(|prog| attach::attach_tracing(prog.as_fd(), kind).map(|l| (prog, l)));
    let required = rbpf_tests::vm::trampolines_required();
    match res {
        Ok(pl) => Some(pl),
        Err(e @ AttachError::TrampolineRefused { .. }) if !required => {
            let name = format!("{kind:?}").to_lowercase();
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "this kernel refuses BPF trampolines (fentry/fexit): EPERM; \
                     cannot attach prog 't_arg_report' ({name})"
                )),
                "{msg}"
            );
            eprintln!("{kind:?}: refused by this kernel, as expected outside the VM: {msg}");
            None
        }
        Err(e) if required => panic!(
            "{kind:?}: RBPF_VM_KERNEL={:?} allows trampolines, yet: {e}",
            rbpf_tests::vm::kernel()
        ),
        Err(e) => panic!("{kind:?}: unexpected error {e}"),
    }
}

/// The first word of this thread's records, as the i32 the traced function had.
fn words_of_mine(recs: &[(u64, u64)]) -> Vec<i32> {
    recs.iter()
        .filter(|(_, who)| *who == me())
        .map(|(w, _)| *w as u32 as i32)
        .collect()
}

#[test]
fn fentry_and_fexit_on_do_unlinkat_see_each_call_and_its_return() {
    rbpf_tests::require_priv!();
    // int do_unlinkat(int dfd, struct filename *name): fentry reports dfd (word 0), fexit
    // the return value (word 2, after the two arguments).
    let btf_id = bpftool_vmlinux_id("FUNC", "do_unlinkat");
    for (kind, arg) in [(Tracing::Fentry, 0), (Tracing::Fexit, 2)] {
        let mut rb = Rb::new();
        let Some((_prog, link)) = trampoline_reporter(kind, btf_id, None, arg, &rb) else {
            continue;
        };
        // unlink(2) of two files that exist and of one that does not: three calls of
        // do_unlinkat(AT_FDCWD, ...), returning 0, 0 and -ENOENT.
        let base = std::env::temp_dir().join(format!("rbpf_fentry_{}_{arg}", std::process::id()));
        let files: Vec<_> = (0..2).map(|i| base.with_extension(i.to_string())).collect();
        for f in &files {
            std::fs::write(f, b"x").unwrap();
        }
        for f in &files {
            std::fs::remove_file(f).unwrap();
        }
        let missing = std::fs::remove_file(base.with_extension("missing")).unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
        drop(link);
        let recs = rb.drain(16);
        let want = match kind {
            Tracing::Fentry => vec![libc::AT_FDCWD; 3],
            _ => vec![0, 0, -libc::ENOENT],
        };
        assert_eq!(words_of_mine(&recs), want, "{kind:?}: {recs:?}");
        assert_eq!(recs.len(), 3, "{kind:?}: only this thread's calls");
        assert_eq!(array_u64(&rb.counts, 1), 3, "{kind:?}: sends counted");
        assert_eq!(array_u64(&rb.counts, 0), 0, "{kind:?}: no send failed");
    }
}

#[test]
fn fentry_and_fexit_on_a_bpf_program_see_each_run_and_its_return() {
    rbpf_tests::require_priv!();
    let obj = tracing_support::bpftool::Loaded::new(&rbpf_tests::bpf_obj("tc_flow"));
    let target = obj.prog("tc_flow_ingress");
    let btf_id = attach::prog_func_btf_id(target.as_fd(), "tc_flow_ingress").unwrap();
    // int tc_flow_ingress(struct __sk_buff *skb): fentry reports the context pointer (word
    // 0), fexit the return value (word 1).
    for (kind, arg) in [(Tracing::Fentry, 0), (Tracing::Fexit, 1)] {
        let mut rb = Rb::new();
        let target_fd = Some(std::os::fd::AsRawFd::as_raw_fd(&target));
        let Some((_prog, link)) = trampoline_reporter(kind, btf_id, target_fd, arg, &rb) else {
            continue;
        };
        // Three runs of the target on this thread: three calls through the trampoline.
        let run = loader::sys::prog_test_run(target.as_fd(), &[0u8; 64], &[], 3).unwrap();
        drop(link);
        let words = words_of_mine(&rb.drain(16));
        assert_eq!(words.len(), 3, "{kind:?}: one record per run: {words:?}");
        assert_eq!(array_u64(&rb.counts, 1), 3, "{kind:?}: sends counted");
        match kind {
            Tracing::Fentry => assert!(words.iter().all(|&w| w != 0), "{words:?}"),
            _ => assert_eq!(words, vec![run.retval as i32; 3], "fexit saw the return"),
        }
    }
}

#[test]
fn kprobes_give_the_clear_no_pmu_message_or_work() {
    rbpf_tests::require_priv!();
    let rb = Rb::new();
    let prog = pid_reporter(
        prog_type::KPROBE,
        0,
        0,
        Filter::Tid(gettid()),
        1,
        Sink::Ringbuf(&rb.map),
        &rb.counts,
    );
    let have_pmu = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    for ret in [false, true] {
        let res = attach::attach_kprobe(prog.as_fd(), "do_unlinkat", 0, ret);
        if have_pmu {
            let link = res.unwrap();
            let f = std::env::temp_dir().join(format!("rbpf_kprobe_{}", std::process::id()));
            let before = array_u64(&rb.counts, 1);
            std::fs::write(&f, b"x").unwrap();
            std::fs::remove_file(&f).unwrap();
            drop(link);
            assert_eq!(array_u64(&rb.counts, 1), before + 1, "kprobe ret={ret}");
        } else {
            let e = res.unwrap_err();
            let msg = e.to_string();
            let probe = if ret { "kretprobe" } else { "kprobe" };
            assert!(
                msg.starts_with(&format!(
                    "this kernel has no kprobe PMU (CONFIG_KPROBES?): cannot attach {probe} 'do_unlinkat'"
                )),
                "{msg}"
            );
        }
    }
}

/// The function the uprobe test probes. Not inlined and exported, so it has a symbol.
#[no_mangle]
#[inline(never)]
pub extern "C" fn rbpf_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3)
}

#[test]
fn uprobe_and_uretprobe_on_a_function_of_this_binary() {
    rbpf_tests::require_priv!();
    let exe = std::env::current_exe().unwrap();
    let mut rb = Rb::new();
    for (ret, mark) in [(false, 0x0b), (true, 0x0c)] {
        let prog = pid_reporter(
            prog_type::KPROBE,
            0,
            0,
            Filter::Tid(gettid()),
            mark,
            Sink::Ringbuf(&rb.map),
            &rb.counts,
        );
        let pid = std::process::id() as i32;
        let link =
            attach::attach_uprobe(prog.as_fd(), &exe, "rbpf_uprobe_target", 0, ret, Some(pid))
                .unwrap();
        let mut sum = 0u64;
        for i in 0..30 {
            sum = sum.wrapping_add(rbpf_uprobe_target(i));
        }
        assert_eq!(sum, 3 * (0..30).sum::<u64>());
        drop(link);
        assert_eq!(count_nr(&rb.drain(32), mark as u64), 30, "uprobe ret={ret}");
    }
    let e = attach::uprobe_symbol_offset(&exe, "no_such_symbol_here").unwrap_err();
    assert!(e.to_string().contains("no_such_symbol_here"), "{e}");
}

#[test]
fn btf_ids_for_tracing_programs_agree_with_bpftool() {
    rbpf_tests::require_priv!();
    assert_eq!(
        attach::kernel_func_btf_id("do_unlinkat").unwrap(),
        bpftool_vmlinux_id("FUNC", "do_unlinkat")
    );
    assert_eq!(
        attach::kernel_tp_btf_id("sched_process_exec").unwrap(),
        bpftool_vmlinux_id("TYPEDEF", "btf_trace_sched_process_exec")
    );
    let e = attach::kernel_func_btf_id("no_such_kernel_function").unwrap_err();
    assert!(e.to_string().contains("'no_such_kernel_function'"), "{e}");
    let e = attach::kernel_tp_btf_id("no_such_tp").unwrap_err();
    assert!(e.to_string().contains("no_such_tp"), "{e}");

    // A function of a loaded BPF program (the target of fentry/fexit on BPF), from that
    // program's own BTF, as bpftool finds it.
    let obj = tracing_support::bpftool::Loaded::new(&rbpf_tests::bpf_obj("tc_flow"));
    let target = obj.prog("tc_flow_ingress");
    let btf_id = loader::sys::prog_info(target.as_fd()).unwrap().btf_id;
    let id = attach::prog_func_btf_id(target.as_fd(), "tc_flow_ingress").unwrap();
    assert_eq!(
        id,
        bpftool_btf_id(&["id", &btf_id.to_string()], "FUNC", "tc_flow_ingress")
    );
    let e = attach::prog_func_btf_id(target.as_fd(), "not_in_it").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("'not_in_it'") && msg.contains("tc_flow_ingress"),
        "{msg}"
    );

    // A program loaded without BTF has nothing to look in: say so.
    let rb = Rb::new();
    let bare = syscall_reporter(gettid(), Sink::Ringbuf(&rb.map), 16, &rb.counts);
    let e = attach::prog_func_btf_id(bare.as_fd(), "anything").unwrap_err();
    assert!(e.to_string().contains("loaded without BTF"), "{e}");
}
