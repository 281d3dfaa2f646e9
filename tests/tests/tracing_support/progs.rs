//! Hand-made test programs (until the object loader can load the clang-built ones).

use super::asm::*;
use loader::section::prog_type;
use std::os::fd::OwnedFd;

/// Where a reporter program sends its records.
pub enum Sink<'a> {
    Perf(&'a OwnedFd),
    Ringbuf(&'a OwnedFd),
}

/// A program body that sends one `size`-byte record (u64 syscall nr or `word0`, u64
/// pid_tgid, then u64 words 2, 3, ...) to `sink`, and counts in ARRAY `counts` slot 0 the
/// sends that failed and in slot 1 those that worked. `r6` must hold the context, `r7`
/// the pid_tgid, `r8` the first word.
fn send_and_count(sink: &Sink, size: i16, counts: &OwnedFd) -> Asm {
    assert!(size >= 16 && size % 8 == 0 && size <= 256);
    let mut a = Asm::new();
    for i in (2..size / 8).rev() {
        a.st_dw(R10, -size + 8 * i, i as i32);
    }
    a.stx_dw(R10, -size, R8).stx_dw(R10, -size + 8, R7);
    match sink {
        Sink::Ringbuf(rb) => {
            a.ld_map(R1, rb)
                .mov(R2, R10)
                .add_imm(R2, -(size as i32))
                .mov_imm(R3, size as i32)
                .mov_imm(R4, 0)
                .call(RINGBUF_OUTPUT);
        }
        Sink::Perf(pa) => {
            a.mov(R1, R6)
                .ld_map(R2, pa)
                .mov32_imm(R3, CURRENT_CPU)
                .mov(R4, R10)
                .add_imm(R4, -(size as i32))
                .mov_imm(R5, size as i32)
                .call(PERF_EVENT_OUTPUT);
        }
    }
    // key = (r0 == 0) ? 1 : 0
    let key_off = -size - 8;
    a.st_dw(R10, key_off, 0)
        .jne_imm(R0, 0, 1)
        .st_dw(R10, key_off, 1)
        .ld_map(R1, counts)
        .mov(R2, R10)
        .add_imm(R2, key_off as i32)
        .call(MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, 2)
        .mov_imm(R1, 1)
        .atomic_add_dw(R0, 0, R1);
    a
}

fn finish(a: &mut Asm) {
    a.mov_imm(R0, 0).exit();
}

/// A raw tracepoint program for `sys_enter`: for thread `tid` only, sends
/// {syscall nr, pid_tgid, 2, 3, ...} (`size` bytes) to `sink`; counts sends in `counts`.
pub fn syscall_reporter(tid: u32, sink: Sink, size: i16, counts: &OwnedFd) -> OwnedFd {
    syscall_reporter_as(prog_type::RAW_TRACEPOINT, 0, 0, tid, sink, size, counts)
}

/// [`syscall_reporter`] loaded as another program type whose context is also an array of
/// u64 arguments with the syscall number second (tp_btf on sys_enter).
pub fn syscall_reporter_as(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    tid: u32,
    sink: Sink,
    size: i16,
    counts: &OwnedFd,
) -> OwnedFd {
    let body = send_and_count(&sink, size, counts);
    let mut a = Asm::new();
    a.mov(R6, R1)
        .call(GET_CURRENT_PID_TGID)
        .mov(R7, R0)
        .jne32_imm(R0, tid as i32, (body.len() + 1) as i16)
        .ldx_dw(R8, R6, 8)
        .extend(&body);
    finish(&mut a);
    load(
        prog_type,
        expected_attach_type,
        attach_btf_id,
        "t_sys_report",
        &a,
    )
}

/// Which calls a [`pid_reporter`] reports.
#[derive(Clone, Copy)]
pub enum Filter {
    /// Every call.
    All,
    /// Calls from this thread id (low half of pid_tgid).
    Tid(u32),
    /// Calls from this process (high half of pid_tgid).
    Tgid(u32),
}

/// A program of `prog_type` (tracepoint, kprobe, tp_btf, ...) that sends
/// {`word0`, pid_tgid, 2, 3} (32 bytes) to `sink` for the calls `filter` lets through, and
/// counts sends in `counts`.
pub fn pid_reporter(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    filter: Filter,
    word0: i32,
    sink: Sink,
    counts: &OwnedFd,
) -> OwnedFd {
    let body = send_and_count(&sink, 32, counts);
    let skip = (body.len() + 1) as i16;
    let mut a = Asm::new();
    a.mov(R6, R1).call(GET_CURRENT_PID_TGID).mov(R7, R0);
    match filter {
        Filter::All => {}
        Filter::Tid(tid) => {
            a.jne32_imm(R0, tid as i32, skip);
        }
        Filter::Tgid(tgid) => {
            a.rsh_imm(R0, 32).jne32_imm(R0, tgid as i32, skip);
        }
    }
    a.mov_imm(R8, word0).extend(&body);
    finish(&mut a);
    load(
        prog_type,
        expected_attach_type,
        attach_btf_id,
        "t_pid_report",
        &a,
    )
}

/// Decode a record sent by these programs: (word0, pid_tgid, the words after them are
/// 2, 3, ... as they should be).
pub fn decode(rec: &[u8], size: usize) -> (u64, u64, bool) {
    let word = |i: usize| u64::from_ne_bytes(rec[i * 8..i * 8 + 8].try_into().unwrap());
    assert!(
        rec.len() >= size,
        "record of {} bytes, expected {size}",
        rec.len()
    );
    let intact = (2..size / 8).all(|i| word(i) == i as u64);
    (word(0), word(1), intact)
}

/// A fentry/fexit program (`attach_type` TRACE_FENTRY or TRACE_FEXIT, on BTF id `btf_id`,
/// of the kernel or, with `target`, of that loaded program) that, for thread `tid` only,
/// sends {argument word `arg` of its context, pid_tgid} (16 bytes) to `sink` and counts
/// sends in `counts`. A fexit program's context holds the arguments, then the return
/// value: `arg` = the argument count reads what the function returned. The kernel's
/// answer is returned as it is (this host refuses trampolines).
pub fn arg_reporter(
    attach_type: u32,
    btf_id: u32,
    target: Option<std::os::fd::RawFd>,
    tid: u32,
    arg: i16,
    sink: Sink,
    counts: &OwnedFd,
) -> Result<OwnedFd, loader::sys::SysError> {
    let body = send_and_count(&sink, 16, counts);
    let mut a = Asm::new();
    a.mov(R6, R1)
        .call(GET_CURRENT_PID_TGID)
        .mov(R7, R0)
        .jne32_imm(R0, tid as i32, (body.len() + 1) as i16)
        .ldx_dw(R8, R6, 8 * arg)
        .extend(&body);
    finish(&mut a);
    let words = a.words();
    loader::sys::prog_load(
        &loader::sys::ProgLoad {
            prog_type: prog_type::TRACING,
            expected_attach_type: attach_type,
            attach_btf_id: btf_id,
            attach_prog_fd: target,
            name: "t_arg_report".into(),
            insns: &words,
            license: "GPL",
            ..Default::default()
        },
        None,
    )
}
