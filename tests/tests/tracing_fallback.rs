//! Kernels before 5.15 have no perf links: BPF_LINK_CREATE(BPF_PERF_EVENT) answers EINVAL
//! and the attachment falls back to PERF_EVENT_IOC_SET_BPF + PERF_EVENT_IOC_ENABLE. The
//! EINVAL is injected (this kernel has perf links); the fallback itself is real. A test
//! binary of its own, with one test, because the injection hook is process-wide.

mod tracing_support;

use loader::attach::{self, AttachError};
use loader::events::RingBuf;
use loader::section::prog_type;
use loader::sys::{self, Cmd};
use std::os::fd::AsFd;
use std::time::Duration;
use tracing_support::progs::{decode, pid_reporter, Filter, Sink};
use tracing_support::*;

#[test]
fn tracepoint_without_perf_links_attaches_through_the_ioctl() {
    rbpf_tests::require_priv!();
    const MARK: i32 = 0xfa11;
    let rb = map(BPF_MAP_TYPE_RINGBUF, 0, 0, 64 * 1024, "t_rb");
    let counts = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts");
    let prog = pid_reporter(
        prog_type::TRACEPOINT,
        0,
        0,
        Filter::Tid(gettid()),
        MARK,
        Sink::Ringbuf(&rb),
        &counts,
    );
    let mut reader = RingBuf::open(rb.as_fd()).unwrap();

    sys::inject_failure(Cmd::BPF_LINK_CREATE, 0, libc::EINVAL);
    let link = attach::attach_tracepoint(prog.as_fd(), "syscalls", "sys_enter_getppid");
    sys::clear_injected();
    let link = link.unwrap();
    assert_eq!(link.id(), None, "attached without a bpf link");
    assert!(link.perf_fd().is_some());
    let e = link.pin(&pin_path("ioctl")).unwrap_err();
    assert!(matches!(e, AttachError::NotALink { .. }), "{e:?}");
    assert!(e.to_string().contains("sys_enter_getppid"), "{e}");

    for _ in 0..50 {
        getppid_syscall();
    }
    let mut marks = 0;
    let mut read = |reader: &mut RingBuf| {
        reader
            .poll(Some(Duration::from_millis(5)), |r| {
                if decode(r, 32).0 == MARK as u64 {
                    marks += 1;
                }
            })
            .unwrap()
    };
    read(&mut reader);
    drop(link);
    // Closing the perf event detaches the program.
    for _ in 0..10 {
        getppid_syscall();
    }
    read(&mut reader);
    assert_eq!(marks, 50);
    assert_eq!(array_u64(&counts, 1), 50);

    // Any other BPF_LINK_CREATE error is reported, not papered over with the ioctl.
    sys::inject_failure(Cmd::BPF_LINK_CREATE, 0, libc::EBUSY);
    let res = attach::attach_tracepoint(prog.as_fd(), "syscalls", "sys_enter_getppid");
    sys::clear_injected();
    let e = res.unwrap_err().to_string();
    assert!(
        e.contains("sys_enter_getppid") && e.contains("BPF_LINK_CREATE"),
        "{e}"
    );
}
