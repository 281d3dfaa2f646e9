// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sys_enter_dispatch: per-syscall handlers chosen through a tail-call table.
 *
 * A raw tracepoint program runs at the "sys_enter" tracepoint, i.e. at the start of every
 * system call of every process. Its context is struct bpf_raw_tracepoint_args: the raw
 * arguments of the tracepoint, here args[0] = struct pt_regs * and args[1] = syscall nr.
 *
 *   sys_enter_dispatch (SEC "raw_tracepoint/sys_enter"): if the calling process's tgid is
 *     `target_tgid`, tail-calls syscall_table[syscall nr]; an empty slot simply falls
 *     through (nothing counted).
 *   handle_getppid, handle_sched_yield (same section): add 1 to syscall_counts[nr].
 *
 * User space must:
 *   - write its pid into the global `target_tgid` (in .bss, so in the ".bss" array map,
 *     offset 0, u32) before the program sees traffic;
 *   - put the handlers' fds into PROG_ARRAY `syscall_table` (512 slots) at the syscall
 *     numbers it wants: on x86_64 getppid = 110 and sched_yield = 24;
 *   - attach sys_enter_dispatch with BPF_RAW_TRACEPOINT_OPEN("sys_enter").
 * Then N calls of getppid() from the target process give syscall_counts[110] == N
 * (exactly N: no other process is counted, and handle_getppid only runs from slot 110).
 */
#include "common.h"

#define MAX_SYSCALLS 512

/* volatile: the compiler must read it at run time, user space changes it. */
volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u32);
} syscall_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

/* The tail-called program gets the same ctx, so it can read the syscall nr again. */
static __always_inline int count_syscall(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 nr = (__u32)ctx->args[1];

	/* An ARRAY lookup past max_entries returns NULL anyway; the check says so plainly. */
	if (nr < MAX_SYSCALLS)
		count_slot(&syscall_counts, nr);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int handle_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	return count_syscall(ctx);
}

SEC("raw_tracepoint/sys_enter")
int handle_sched_yield(struct bpf_raw_tracepoint_args *ctx)
{
	return count_syscall(ctx);
}

SEC("raw_tracepoint/sys_enter")
int sys_enter_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
	/* Upper 32 bits: tgid (the user-space pid); lower: the thread id. */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 nr = ctx->args[1];

	if (tgid != target_tgid || nr >= MAX_SYSCALLS)
		return 0;
	bpf_tail_call(ctx, &syscall_table, (__u32)nr);
	return 0; /* empty slot: nothing to do */
}

char LICENSE[] SEC("license") = "GPL";
