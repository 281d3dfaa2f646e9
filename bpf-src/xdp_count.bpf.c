// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xdp_count: the smallest useful XDP program. XDP runs in the network driver for every
 * received frame, before the kernel allocates an sk_buff. This one counts each frame by
 * protocol and lets it through.
 *
 * Map `counts` (ARRAY, 8 x u64): slot PROTO_ICMP / PROTO_TCP / PROTO_UDP / PROTO_OTHER_IP /
 * PROTO_NON_IP (see common.h) and COUNT_TOTAL (every frame). Slots 6 and 7 stay 0.
 *
 * User space: load, attach to an interface (netlink IFLA_XDP, skb or native mode), then read
 * `counts` with BPF_MAP_LOOKUP_ELEM. Returns XDP_PASS, so traffic is unchanged.
 */
#include "common.h"

/*
 * A BTF-defined map: the loader reads its type, key/value sizes and max_entries from this
 * struct's BTF description (the variable lives in the ".maps" section, it has no storage).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	/* data and data_end are 32-bit fields the kernel rewrites into real pointers. */
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt_info pi;

	count_slot(&counts, parse_packet(data, data_end, &pi));
	count_slot(&counts, COUNT_TOTAL);
	return XDP_PASS;
}

/* Helpers such as bpf_probe_read are GPL-only; the kernel checks this string at load. */
char LICENSE[] SEC("license") = "GPL";
