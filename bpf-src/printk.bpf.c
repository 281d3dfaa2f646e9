// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * printk: the simplest way out of a BPF program, bpf_printk().
 *
 * bpf_printk() writes a line into the kernel's trace buffer, readable from
 * /sys/kernel/tracing/trace_pipe (`rbpf-load ... --foreground --trace-pipe` streams it).
 * It is for debugging: slow, shared by every program on the machine, and only text.
 *
 *   say_getppid (raw tracepoint sys_enter): when the caller's tgid is `target_tgid` and the
 *   syscall is getppid (110 on x86-64), prints "rbpf-printk getppid from <tgid>".
 */
#include "common.h"

volatile const __u32 target_tgid = 0;

SEC("raw_tp/sys_enter")
int say_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* args[1] of sys_enter is the syscall number. */
	if (tgid != target_tgid || ctx->args[1] != 110)
		return 0;
	bpf_printk("rbpf-printk getppid from %u", tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
