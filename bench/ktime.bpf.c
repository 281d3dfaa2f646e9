// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bench/ktime.bpf.c: how long the kernel spends in the bpf(2) and netlink system calls of
 * the processes bench/runner.c starts, measured in the same runs as their wall time.
 *
 * sys_enter notes the time when a child of the watched process (cfg[0], the runner's
 * tgid, written by the runner) enters bpf, sendto, recvfrom, sendmsg or recvmsg, or one of
 * the calls that attach and detach tracing programs besides bpf: perf_event_open, ioctl
 * (PERF_EVENT_IOC_*) and close; sys_exit adds the time spent to total[0] and counts the
 * call in total[1]. A close is timed until the thread's next system call (or exit): closing
 * the last fd of a perf link detaches it, and the kernel releases the perf event in task
 * work on the way back to user space, after sys_exit (tens of ms a link here, waiting for
 * RCU); that is kernel work too, not the process's own. The runner reads
 * total before and after each command. Tracing every system call this way costs every
 * process on the machine a little, contenders alike; unlike strace it does not stop the
 * traced process.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

/* A close timed until the thread's next system call: tid -> when the close began. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} closing SEC(".maps");

/* x86_64 system call numbers. */
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_BPF 321
#define NR_CLOSE 3
#define NR_IOCTL 16
#define NR_PERF_EVENT_OPEN 298

static __always_inline int watched_call(long nr)
{
	return nr == NR_BPF || (nr >= NR_SENDTO && nr <= NR_RECVMSG) || nr == NR_CLOSE ||
	       nr == NR_IOCTL || nr == NR_PERF_EVENT_OPEN;
}

static __always_inline void add(__u64 spent)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&total, &k);
	if (v)
		__sync_fetch_and_add(v, spent);
	k = 1;
	v = bpf_map_lookup_elem(&total, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("raw_tp/sys_enter")
int ktime_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = ctx->args[1];
	__u32 me = (__u32)bpf_get_current_pid_tgid();
	__u64 *closed = bpf_map_lookup_elem(&closing, &me);
	if (closed) {
		add(bpf_ktime_get_ns() - *closed);
		bpf_map_delete_elem(&closing, &me);
	}
	if (!watched_call(nr))
		return 0;
	__u32 zero = 0;
	__u32 *watched = bpf_map_lookup_elem(&cfg, &zero);
	if (!watched || !*watched)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, real_parent, tgid) != *watched)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int ktime_exit(struct bpf_raw_tracepoint_args *ctx)
{
	/* Every process's every system call comes here: leave the others at once. */
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (!watched_call(nr))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *t0 = bpf_map_lookup_elem(&start, &tid);
	if (!t0)
		return 0;
	__u64 began = *t0;
	bpf_map_delete_elem(&start, &tid);
	if (nr == NR_CLOSE)
		bpf_map_update_elem(&closing, &tid, &began, BPF_ANY);
	else
		add(bpf_ktime_get_ns() - began);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
