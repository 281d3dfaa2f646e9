//! The perf event array and ring buffer readers against a hand-made raw tracepoint program
//! that reports this test thread's own syscalls: every record arrives once and intact,
//! records that wrap the ring's end are put back together, and an overflowing ring reports
//! loss (perf) or keeps exact count of what fit (ringbuf) instead of hanging or corrupting.

mod tracing_support;

use loader::attach::attach_raw_tracepoint;
use loader::events::{PerfEventArray, RingBuf, Stats};
use std::os::fd::AsFd;
use std::time::Duration;
use tracing_support::progs::{decode, syscall_reporter, Sink};
use tracing_support::*;

/// This thread's pid_tgid. Callbacks compare against a copy: a syscall inside one would be
/// reported by the very program under test.
fn pid_tgid() -> u64 {
    (u64::from(std::process::id()) << 32) | u64::from(gettid())
}

#[test]
fn ringbuf_reader_sees_every_getppid_once_and_intact() {
    rbpf_tests::require_priv!();
    const N: usize = 3000;
    const SIZE: usize = 48;
    let rb = map(BPF_MAP_TYPE_RINGBUF, 0, 0, 64 * 1024, "t_rb");
    let counts = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts");
    let prog = syscall_reporter(gettid(), Sink::Ringbuf(&rb), SIZE as i16, &counts);
    let mut reader = RingBuf::open(rb.as_fd()).unwrap();
    assert_eq!(reader.size(), 64 * 1024);

    let link = attach_raw_tracepoint(prog.as_fd(), "sys_enter").unwrap();
    let (mut getppid, mut total, mut bad) = (0, 0, 0);
    let me = pid_tgid();
    let mut on_record = |rec: &[u8]| {
        total += 1;
        let (nr, who, intact) = decode(rec, SIZE);
        if rec.len() != SIZE || who != me || !intact {
            bad += 1;
        }
        if nr == NR_GETPPID {
            getppid += 1;
        }
    };
    // Read as we go, so 3000 x 56 bytes pass through a 64 KiB ring (wrapping it twice).
    for i in 0..N {
        getppid_syscall();
        if i % 500 == 499 {
            reader.read(&mut on_record).unwrap();
        }
    }
    drop(link);
    reader
        .poll(Some(Duration::from_millis(10)), &mut on_record)
        .unwrap();

    assert_eq!(getppid, N, "getppid records");
    assert_eq!(bad, 0, "records with the wrong size, thread or contents");
    assert_eq!(array_u64(&counts, 0), 0, "failed bpf_ringbuf_output calls");
    assert_eq!(array_u64(&counts, 1), total as u64, "records sent vs read");
}

#[test]
fn perf_array_reader_sees_every_getppid_once_and_intact() {
    rbpf_tests::require_priv!();
    const N: usize = 3000;
    const SIZE: usize = 64;
    let ncpu = loader::sys::possible_cpus().unwrap().len() as u32;
    let events = map(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, ncpu, "t_perf");
    let counts = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts");
    let prog = syscall_reporter(gettid(), Sink::Perf(&events), SIZE as i16, &counts);
    let mut reader = PerfEventArray::open(events.as_fd(), 8).unwrap();
    assert!(!reader.cpus().is_empty());

    let link = attach_raw_tracepoint(prog.as_fd(), "sys_enter").unwrap();
    let (mut getppid, mut bad) = (0, 0);
    let mut stats = Stats::default();
    let me = pid_tgid();
    let mut on_sample = |_cpu: u32, rec: &[u8]| {
        let (nr, who, intact) = decode(rec, SIZE);
        // The kernel pads raw samples so that size word + data are 8-byte aligned.
        if rec.len() < SIZE || rec.len() >= SIZE + 8 || who != me || !intact {
            bad += 1;
        }
        if nr == NR_GETPPID {
            getppid += 1;
        }
    };
    for i in 0..N {
        getppid_syscall();
        if i % 300 == 299 {
            stats += reader.read(&mut on_sample).unwrap();
        }
    }
    drop(link);
    stats += reader
        .poll(Some(Duration::from_millis(10)), &mut on_sample)
        .unwrap();

    assert_eq!(getppid, N, "getppid samples");
    assert_eq!(bad, 0, "samples with the wrong size, thread or contents");
    assert_eq!(stats.lost, 0, "lost samples");
    assert_eq!(
        array_u64(&counts, 0),
        0,
        "failed bpf_perf_event_output calls"
    );
    assert_eq!(array_u64(&counts, 1), stats.events, "samples sent vs read");
}

#[test]
fn perf_array_overflow_is_reported_as_loss_with_exact_accounting() {
    rbpf_tests::require_priv!();
    const BURST: usize = 400;
    const SIZE: usize = 256;
    // One CPU, so that one ring sees every sample and every loss.
    pin_to_cpu(0);
    let ncpu = loader::sys::possible_cpus().unwrap().len() as u32;
    let events = map(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, ncpu, "t_perf");
    let counts = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts");
    let prog = syscall_reporter(gettid(), Sink::Perf(&events), SIZE as i16, &counts);
    // One data page: about 15 samples of 272 bytes fit.
    let mut reader = PerfEventArray::open(events.as_fd(), 1).unwrap();
    let link = attach_raw_tracepoint(prog.as_fd(), "sys_enter").unwrap();

    let mut bad = 0;
    let me = pid_tgid();
    let mut on_sample = |cpu: u32, rec: &[u8]| {
        let (_, who, intact) = decode(rec, SIZE);
        if cpu != 0 || who != me || !intact {
            bad += 1;
        }
    };
    for _ in 0..BURST {
        getppid_syscall();
    }
    let first = reader.read(&mut on_sample).unwrap();
    // The kernel writes the PERF_RECORD_LOST record with the next sample that fits.
    getppid_syscall();
    drop(link);
    let second = reader
        .poll(Some(Duration::from_millis(10)), &mut on_sample)
        .unwrap();

    let (failed, sent) = (array_u64(&counts, 0), array_u64(&counts, 1));
    eprintln!("first read {first:?}, second {second:?}; program: {sent} sent, {failed} failed");
    assert!(first.events > 0 && first.events < BURST as u64);
    assert!(failed > 0, "a {BURST}-sample burst must overflow one page");
    assert_eq!(
        first.events + second.events,
        sent,
        "every sample that was sent is read"
    );
    assert_eq!(
        first.lost + second.lost,
        failed,
        "every failed send is reported as lost"
    );
    assert_eq!(bad, 0, "corrupt samples");
}

#[test]
fn ringbuf_overflow_keeps_exact_count_and_recovers() {
    rbpf_tests::require_priv!();
    const BURST: usize = 400;
    const SIZE: usize = 256;
    let page = 4096;
    let rb = map(BPF_MAP_TYPE_RINGBUF, 0, 0, page, "t_rb_small");
    let counts = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_counts");
    let prog = syscall_reporter(gettid(), Sink::Ringbuf(&rb), SIZE as i16, &counts);
    let mut reader = RingBuf::open(rb.as_fd()).unwrap();
    let link = attach_raw_tracepoint(prog.as_fd(), "sys_enter").unwrap();

    let (mut total, mut bad) = (0u64, 0);
    let me = pid_tgid();
    let mut on_record = |rec: &[u8]| {
        total += 1;
        let (_, who, intact) = decode(rec, SIZE);
        if rec.len() != SIZE || who != me || !intact {
            bad += 1;
        }
    };
    for _ in 0..BURST {
        getppid_syscall();
    }
    let first = reader.read(&mut on_record).unwrap();
    assert!(first > 0 && first < BURST, "{first} of {BURST} fit");
    // After the reader freed the ring, records flow again.
    for _ in 0..10 {
        getppid_syscall();
    }
    drop(link);
    reader
        .poll(Some(Duration::from_millis(10)), &mut on_record)
        .unwrap();

    let (failed, sent) = (array_u64(&counts, 0), array_u64(&counts, 1));
    eprintln!("first read {first}; program: {sent} sent, {failed} failed");
    assert!(failed > 0, "a {BURST}-record burst must overflow one page");
    assert!(total >= first as u64 + 10);
    assert_eq!(total, sent, "every record that was committed is read");
    assert_eq!(bad, 0, "corrupt records");
}

#[test]
fn readers_refuse_the_wrong_map_type() {
    rbpf_tests::require_priv!();
    let array = map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, "t_not_events");
    let e = RingBuf::open(array.as_fd()).unwrap_err().to_string();
    assert!(e.contains("t_not_events") && e.contains("RINGBUF"), "{e}");
    let e = PerfEventArray::open(array.as_fd(), 4)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t_not_events") && e.contains("PERF_EVENT_ARRAY"),
        "{e}"
    );
    let ncpu = loader::sys::possible_cpus().unwrap().len() as u32;
    let events = map(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, ncpu, "t_perf");
    let e = PerfEventArray::open(events.as_fd(), 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("power of two"), "{e}");
}

#[test]
fn poll_times_out_when_nothing_comes() {
    rbpf_tests::require_priv!();
    let rb = map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, "t_rb_idle");
    let mut reader = RingBuf::open(rb.as_fd()).unwrap();
    let t = std::time::Instant::now();
    let n = reader
        .poll(Some(Duration::from_millis(50)), |_| panic!("no records"))
        .unwrap();
    assert_eq!(n, 0);
    assert!(t.elapsed() >= Duration::from_millis(40));
}
