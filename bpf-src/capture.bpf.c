// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * capture: a packet-and-process capture tool in one object, the application lesson 11
 * builds. Six programs send one kind of record, `struct capture_event`, through one perf
 * event array, `events`, so one reader sees packets and processes in the order they
 * happened:
 *
 *   cap_in   (tc/ingress): an IPv4 packet arriving   -> what "in",  saddr, daddr, proto, len
 *   cap_out  (tc/egress):  an IPv4 packet leaving    -> what "out", saddr, daddr, proto, len
 *   cap_exec (tp/sched/sched_process_exec): execve   -> what "exec", pid, ppid, comm (new)
 *   cap_fork (tp/sched/sched_process_fork): fork     -> what "fork", pid (child), ppid, comm
 *   cap_exit (tp/sched/sched_process_exit): exit     -> what "exit", pid, ppid, comm
 *   cap_unlink (kprobe/do_unlinkat): unlink(2)       -> what "unlink", pid, ppid, comm
 *
 * Packet records leave pid, ppid and comm empty: tc runs in whatever task the packet
 * happens to be processed in, which says nothing about the packet. pid is the process id
 * (tgid), ppid the parent's. The kprobe needs a kernel with kprobes (the lessons' VMs).
 *
 * Process fields are read with BPF_CORE_READ (CO-RE: the loader or the kernel fixes the
 * offsets for the running kernel); packet fields are read from the packet after a bounds
 * check each, as the verifier demands.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct capture_event {
	char what[8];
	__u32 pid;
	__u32 ppid;
	__u32 saddr; /* network order; printed as an address (its name ends in "addr") */
	__u32 daddr;
	__u32 len;
	__u32 proto;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __always_inline int packet(struct __sk_buff *skb, const char *what)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct capture_event ev = {};

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	__builtin_memcpy(ev.what, what, 4);
	ev.saddr = ip->saddr;
	ev.daddr = ip->daddr;
	ev.len = skb->len;
	ev.proto = ip->protocol;
	bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return TC_ACT_OK;
}

SEC("tc/ingress")
int cap_in(struct __sk_buff *skb)
{
	return packet(skb, "in");
}

SEC("tc/egress")
int cap_out(struct __sk_buff *skb)
{
	return packet(skb, "out");
}

/* A record about the current task (or, for fork, its new child). */
static __always_inline int process(void *ctx, const char *what, __u32 child)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct capture_event ev = {};

	__builtin_memcpy(ev.what, what, 7);
	ev.pid = BPF_CORE_READ(task, tgid);
	ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (child) {
		ev.ppid = ev.pid; /* the current task is the parent */
		ev.pid = child;
	}
	bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return 0;
}

SEC("tp/sched/sched_process_exec")
int cap_exec(void *ctx)
{
	return process(ctx, "exec\0\0\0", 0);
}

SEC("tp/sched/sched_process_fork")
int cap_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	return process(ctx, "fork\0\0\0", ctx->child_pid);
}

SEC("tp/sched/sched_process_exit")
int cap_exit(void *ctx)
{
	/* Threads exit one by one: the process is gone when its main thread goes. */
	__u64 id = bpf_get_current_pid_tgid();

	if ((__u32)id != id >> 32)
		return 0;
	return process(ctx, "exit\0\0\0", 0);
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(cap_unlink)
{
	return process(ctx, "unlink\0", 0);
}

/* Never used by the programs: it puts struct capture_event into the object's BTF, so
 * `--events events=capture_event` can print each record field by field. */
struct capture_event *capture_event_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
