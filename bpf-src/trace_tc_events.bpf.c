// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * trace_tc_events: fentry and fexit on a tc program, both sending one record type through
 * one perf event array, the pair that lesson 11 attaches with one `rbpf-load --all
 * --target ...` process (the scenario of the article on fentry/fexit over a tc program).
 *
 *   trace_in  (SEC "fentry/tc_flow_ingress"): tc_flow_ingress (tc_flow.bpf.o) is entered
 *   trace_out (SEC "fexit/tc_flow_ingress"):  it returned; `verdict` says what it returned
 * Each IPv4 packet through tc_flow_ingress gives two records, `struct tc_trace_event`:
 * saddr, daddr (network order, printed as addresses), hook ("fentry" or "fexit") and
 * verdict ("" on entry; "TC_ACT_OK", "TC_ACT_SHOT" or "other" on return).
 *
 * The target's argument is a `struct __sk_buff *` in its own BTF; to a tracing program the
 * kernel hands the real `struct sk_buff`, whose IPv4 header is read at head +
 * network_header with bpf_probe_read_kernel (CO-RE reads of the sk_buff fields).
 * fentry/fexit need BPF trampolines: the lessons' VMs have them, this machine may not.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct tc_trace_event {
	__u32 saddr;
	__u32 daddr;
	char hook[8];
	char verdict[12];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} trace_events SEC(".maps");

/* Fill the addresses; false when the packet is not IPv4. */
static __always_inline bool addresses(struct sk_buff *skb, struct tc_trace_event *ev)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	struct iphdr ip;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
		return false;
	ev->saddr = ip.saddr;
	ev->daddr = ip.daddr;
	return true;
}

SEC("fentry/tc_flow_ingress")
int BPF_PROG(trace_in, struct sk_buff *skb)
{
	struct tc_trace_event ev = {};

	if (!addresses(skb, &ev))
		return 0;
	__builtin_memcpy(ev.hook, "fentry", 7);
	bpf_perf_event_output(ctx, &trace_events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return 0;
}

SEC("fexit/tc_flow_ingress")
int BPF_PROG(trace_out, struct sk_buff *skb, int ret)
{
	struct tc_trace_event ev = {};

	if (!addresses(skb, &ev))
		return 0;
	__builtin_memcpy(ev.hook, "fexit", 6);
	if (ret == TC_ACT_OK)
		__builtin_memcpy(ev.verdict, "TC_ACT_OK", 10);
	else if (ret == TC_ACT_SHOT)
		__builtin_memcpy(ev.verdict, "TC_ACT_SHOT", 12);
	else
		__builtin_memcpy(ev.verdict, "other", 6);
	bpf_perf_event_output(ctx, &trace_events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return 0;
}

/* Never used: puts struct tc_trace_event into the object's BTF for `--events MAP=TYPE`. */
struct tc_trace_event *tc_trace_event_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
