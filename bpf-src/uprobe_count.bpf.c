// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * uprobe_count: a uprobe on a user-space function, libc's getpid().
 *
 * A uprobe is a breakpoint the kernel puts into a file's code (here the shared C library):
 * every process that runs getpid() through that file traps into the kernel, which runs this
 * program first. The section name says where: "uprobe/PATH:SYMBOL". The loader finds
 * SYMBOL's file offset in PATH's symbol table and opens a perf event on the uprobe PMU
 * (/sys/bus/event_source/devices/uprobe) for that offset.
 *
 *   count_getpid: if the caller's tgid is `target_tgid` (set by user space before load),
 *   calls[0] += 1.
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

/* Written by user space before load (rbpf-load --set target_tgid=PID). */
volatile const __u32 target_tgid = 0;

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:getpid")
int count_getpid(struct pt_regs *ctx)
{
	__u32 key = 0;
	__u64 *n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&calls, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
