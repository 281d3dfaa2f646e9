// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tc_flow: report every TCP/UDP packet (IPv4 or IPv6) to user space as a
 * `struct flow_event` (common.h) through a PERF_EVENT_ARRAY.
 *
 *   tc_flow_ingress (SEC "tc"): direction = 0, attach on clsact ingress;
 *   tc_flow_egress  (SEC "tc"): direction = 1, attach on clsact egress.
 * Both return TC_ACT_OK: they watch, they never change the traffic.
 *
 * A PERF_EVENT_ARRAY has one slot per CPU; bpf_perf_event_output(..., BPF_F_CURRENT_CPU)
 * writes into the perf ring buffer of the CPU the program runs on. User space must, for
 * each CPU, perf_event_open a PERF_COUNT_SW_BPF_OUTPUT event, mmap its ring, and store the
 * event fd in `events` at key = cpu. Without that the output call fails (-ENOENT) and the
 * event is lost; the program does not care.
 */
#include "common.h"
#include "flow.h"

/* max_entries 0: libbpf-style loaders set it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __always_inline int flow(struct __sk_buff *skb, __u8 direction)
{
	struct flow_event ev;

	if (!fill_flow_event(skb, direction, &ev))
		return TC_ACT_OK;
	/* The event is copied from the stack into the per-CPU perf ring. */
	bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return TC_ACT_OK;
}

SEC("tc")
int tc_flow_ingress(struct __sk_buff *skb)
{
	return flow(skb, DIR_INGRESS);
}

SEC("tc")
int tc_flow_egress(struct __sk_buff *skb)
{
	return flow(skb, DIR_EGRESS);
}

/* Never used by the program: BTF only describes the types that globals and functions use,
 * and this pointer puts struct flow_event into the object's BTF, so that user space can
 * print each record field by field (`rbpf-load ... --events events=flow_event`). */
struct flow_event *flow_event_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
