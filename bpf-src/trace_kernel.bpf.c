// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * trace_kernel: the four ways to hook a kernel function, on do_unlinkat (the function
 * behind unlink(2), unlinkat(2) and rm).
 *
 *   fentry_unlinkat    (SEC "fentry/do_unlinkat"):    on entry, through a BPF trampoline;
 *   fexit_unlinkat     (SEC "fexit/do_unlinkat"):     on return, sees args and return value;
 *   kprobe_unlinkat    (SEC "kprobe/do_unlinkat"):    on entry, through a kprobe;
 *   kretprobe_unlinkat (SEC "kretprobe/do_unlinkat"): on return, through a kretprobe.
 * Each adds 1 to `unlink_counts` (ARRAY, 4 x u64) at 0 fentry, 1 fexit, 2 kprobe,
 * 3 kretprobe, but only when the calling process's tgid equals the global `target_tgid`
 * (.bss, u32 at offset 0, written by user space): other processes deleting files do not
 * disturb a test. A test that deletes N files gets N in each attached slot.
 * fexit_unlinkat also keeps in `unlink_ret` (ARRAY, 1 x s64) the value the last call of
 * target_tgid returned: 0 for a file deleted, -ENOENT (-2) for one that was not there.
 *
 * fentry/fexit: BPF_PROG_TYPE_TRACING, attach_btf_id = the FUNC do_unlinkat in vmlinux BTF,
 * then BPF_LINK_CREATE (or RAW_TRACEPOINT_OPEN). kprobes: BPF_PROG_TYPE_KPROBE, attached
 * through perf_event_open (kprobe PMU) + PERF_EVENT_IOC_SET_BPF or a bpf link.
 * (This kernel refuses trampolines and has no kprobes: these load only in the VM tests.)
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} unlink_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} unlink_ret SEC(".maps");

static __always_inline void count_if_target(__u32 slot)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_tgid)
		count_slot(&unlink_counts, slot);
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlinkat, int dfd, struct filename *name)
{
	count_if_target(0);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(fexit_unlinkat, int dfd, struct filename *name, int ret)
{
	__u32 key = 0;
	__s64 *last;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	count_slot(&unlink_counts, 1);
	last = bpf_map_lookup_elem(&unlink_ret, &key);
	if (last)
		*last = ret;
	return 0;
}

/* BPF_KPROBE reads the arguments from struct pt_regs by the x86_64 calling convention
 * (hence -D__TARGET_ARCH_x86 in the Makefile). */
SEC("kprobe/do_unlinkat")
int BPF_KPROBE(kprobe_unlinkat, int dfd, struct filename *name)
{
	count_if_target(2);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(kretprobe_unlinkat, int ret)
{
	count_if_target(3);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
