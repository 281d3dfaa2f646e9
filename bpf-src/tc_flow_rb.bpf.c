// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tc_flow_rb: tc_flow through a BPF ring buffer instead of perf buffers.
 *
 *   tc_flow_rb_ingress (SEC "tc"): direction = 0; tc_flow_rb_egress (SEC "tc"): 1.
 * Each TCP/UDP packet (IPv4/IPv6) becomes one 48-byte `struct flow_event` (common.h) in
 * RINGBUF `rb` (256 KiB). Both return TC_ACT_OK.
 *
 * A RINGBUF is one buffer shared by all CPUs, ordered. User space mmaps it (the consumer
 * page read-write, the producer page and data read-only) and reads records; no
 * per-CPU setup as with perf buffers. bpf_ringbuf_reserve can fail when the buffer is
 * full (the verifier insists on the NULL check) and a reserved record must be either
 * submitted or discarded on every path (the verifier checks that too).
 */
#include "common.h"
#include "flow.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* bytes; a power of 2 and a multiple of the page size */
} rb SEC(".maps");

static __always_inline int flow_rb(struct __sk_buff *skb, __u8 direction)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);

	if (!ev)
		return TC_ACT_OK;
	if (!fill_flow_event(skb, direction, ev)) {
		bpf_ringbuf_discard(ev, 0);
		return TC_ACT_OK;
	}
	bpf_ringbuf_submit(ev, 0);
	return TC_ACT_OK;
}

SEC("tc")
int tc_flow_rb_ingress(struct __sk_buff *skb)
{
	return flow_rb(skb, DIR_INGRESS);
}

SEC("tc")
int tc_flow_rb_egress(struct __sk_buff *skb)
{
	return flow_rb(skb, DIR_EGRESS);
}

/* Never used by the program: BTF only describes the types that globals and functions use,
 * and this pointer puts struct flow_event into the object's BTF, so that user space can
 * print each record field by field (`rbpf-load ... --events events=flow_event`). */
struct flow_event *flow_event_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
