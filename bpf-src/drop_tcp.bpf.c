// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * drop_tcp: a firewall in two flavours. Every TCP packet (IPv4 or IPv6) is dropped,
 * everything else passes.
 *   tc_drop_tcp  (SEC "tc"):  TC_ACT_SHOT for TCP, TC_ACT_OK otherwise.
 *   xdp_drop_tcp (SEC "xdp"): XDP_DROP for TCP, XDP_PASS otherwise.
 * Both count into `stats` (ARRAY, 2 x u64): slot 0 = passed, slot 1 = dropped
 * (shared if both are loaded from the same object).
 *
 * A test: attach on the receiving side, ping (passes, stats[0] grows), open a TCP
 * connection (fails, stats[1] grows).
 */
#include "common.h"

#define STAT_PASSED  0
#define STAT_DROPPED 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* 1 when [data, data_end) is a TCP packet. Bounds checks live in parse_packet. */
static __always_inline int is_tcp(void *data, void *data_end)
{
	struct pkt_info pi;

	return parse_packet(data, data_end, &pi) == PROTO_TCP;
}

SEC("tc")
int tc_drop_tcp(struct __sk_buff *skb)
{
	if (is_tcp((void *)(long)skb->data, (void *)(long)skb->data_end)) {
		count_slot(&stats, STAT_DROPPED);
		return TC_ACT_SHOT;
	}
	count_slot(&stats, STAT_PASSED);
	return TC_ACT_OK;
}

SEC("xdp")
int xdp_drop_tcp(struct xdp_md *ctx)
{
	if (is_tcp((void *)(long)ctx->data, (void *)(long)ctx->data_end)) {
		count_slot(&stats, STAT_DROPPED);
		return XDP_DROP;
	}
	count_slot(&stats, STAT_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
