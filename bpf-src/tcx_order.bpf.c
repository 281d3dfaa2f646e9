// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tcx_order: two programs for one tcx hook that record the order they run in. tcx keeps
 * an ordered chain of programs per device and direction; a program returning TCX_NEXT
 * (-1) lets the next one run, as here.
 *
 *   order: ARRAY, 4 x u64: [0] a clock, ticked by every run; [1] the tick at which
 *          tcx_first last ran; [2] the tick at which tcx_second last ran
 *   tcx_first, tcx_second (SEC "tcx/ingress"): stamp their slot, return TCX_NEXT
 * After a packet, order[1] < order[2] exactly when tcx_first ran before tcx_second.
 */
#include "common.h"

#define TCX_NEXT -1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} order SEC(".maps");

static __always_inline int stamp(__u32 slot)
{
	__u32 clock = 0;
	__u64 *t = bpf_map_lookup_elem(&order, &clock);
	__u64 *s = bpf_map_lookup_elem(&order, &slot);

	if (t && s)
		*s = __sync_fetch_and_add(t, 1) + 1;
	return TCX_NEXT;
}

SEC("tcx/ingress")
int tcx_first(struct __sk_buff *skb)
{
	return stamp(1);
}

SEC("tcx/ingress")
int tcx_second(struct __sk_buff *skb)
{
	return stamp(2);
}

char LICENSE[] SEC("license") = "GPL";
