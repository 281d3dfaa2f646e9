// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * core_task: CO-RE reads of the current task_struct into a global variable.
 *
 *   core_task (SEC "raw_tp/sys_enter"): on each run, reads pid, tgid, real_parent->tgid and
 *   comm of the current task with BPF_CORE_READ and stores them in the .bss global `seen`,
 *   then adds 1 to seen.runs.
 *
 * `seen` lives in the ".bss" section; the loader turns that section into a one-entry ARRAY
 * map (value = the whole section, 40 bytes: pid@0, tgid@4, ppid@8, comm@12, runs@32 after
 * 4 bytes of padding at 28), and the program's references to `seen` into references to
 * that map's value.
 *
 * Meant for BPF_PROG_TEST_RUN (no attach needed): run it once from a test thread, then
 * look up key 0 of the .bss map: pid == the thread's tid (gettid), tgid == getpid(),
 * ppid == getppid(), comm == the thread's name (cut at 15 bytes, NUL-terminated),
 * runs == number of test runs. For raw_tp programs the kernel wants repeat = 0, no
 * data_in/data_out, no duration, and ctx_size_in 0 here (the program reads no argument):
 * anything else is EINVAL (that is why `bpftool prog run` cannot run it: it sends
 * repeat = 1). The program runs on the calling thread. If it were attached to sys_enter, every syscall of every
 * task would overwrite `seen`.
 *
 * The offsets of pid/tgid/real_parent/comm in task_struct differ between kernel builds:
 * BPF_CORE_READ records CO-RE relocations (.BTF.ext) that the loader resolves against
 * /sys/kernel/btf/vmlinux before loading.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct task_seen {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	char comm[16];
	__u64 runs;
};

struct task_seen seen = {};

SEC("raw_tp/sys_enter")
int core_task(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	seen.pid = BPF_CORE_READ(task, pid);
	seen.tgid = BPF_CORE_READ(task, tgid);
	seen.ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&seen.comm, task, comm);
	__sync_fetch_and_add(&seen.runs, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
