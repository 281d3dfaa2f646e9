// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xdp_drop_all: drops every frame the interface receives and counts them in
 * `stats` (ARRAY, 1 x u64, slot 0). Attached to a veth end, it makes that end deaf:
 * a ping towards it gets no answer (not even ARP gets through).
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

SEC("xdp")
int xdp_drop_all(struct xdp_md *ctx)
{
	count_slot(&stats, 0);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
