// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tc_count: three tc (traffic control, "cls_bpf") programs that count packets by protocol.
 * tc programs run on an sk_buff, on ingress (after the driver, after XDP) or on egress
 * (before the driver), attached as a "bpf" filter on a clsact qdisc in direct-action mode:
 * the return value is the verdict (TC_ACT_OK = let it go on).
 *
 * Map `counts` (ARRAY, 24 x u64), three blocks of 8 slots:
 *   count_ingress -> slots 0..7, count_egress -> 8..15, count_alt -> 16..23;
 *   within a block: PROTO_* (common.h) by protocol, plus COUNT_TOTAL for every packet.
 * `count_alt` is the same program under the plain "tc" section name, for attaching
 * wherever the user says (its section does not say the direction).
 *
 * User space: create the clsact qdisc on the device, add the filter (direct-action),
 * send traffic, read `counts`.
 */
#include "common.h"

#define BLOCK_INGRESS 0
#define BLOCK_EGRESS  8
#define BLOCK_ALT     16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3 * SLOTS_PER_BLOCK);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* Inlined into each program: a BPF program cannot hand packet pointers to a sub-function. */
static __always_inline int count_skb(struct __sk_buff *skb, __u32 block)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pkt_info pi;

	count_slot(&counts, block + parse_packet(data, data_end, &pi));
	count_slot(&counts, block + COUNT_TOTAL);
	return TC_ACT_OK;
}

SEC("tc/ingress")
int count_ingress(struct __sk_buff *skb)
{
	return count_skb(skb, BLOCK_INGRESS);
}

SEC("tc/egress")
int count_egress(struct __sk_buff *skb)
{
	return count_skb(skb, BLOCK_EGRESS);
}

SEC("tc")
int count_alt(struct __sk_buff *skb)
{
	return count_skb(skb, BLOCK_ALT);
}

char LICENSE[] SEC("license") = "GPL";
