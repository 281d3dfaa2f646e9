// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xdp_flows: frames counted per source address and IP protocol, in a HASH map whose key is
 * a struct. A struct key is what `map lookup ... key '{"saddr": "10.0.0.2", "proto": 17}'`
 * is for: rbpf-load writes the JSON into the key's bytes through the map's BTF.
 *
 * Map `flows` (HASH, 1024 x u64), key `struct flow_key`: saddr (an IPv4 or IPv6 address in
 * 16 bytes; IPv4 in the first 4) and proto (IPPROTO_*). Non-IP frames are not counted.
 * Returns XDP_PASS.
 */
#include "common.h"

struct flow_key {
	__u8 saddr[16];
	__u8 proto;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, __u64);
} flows SEC(".maps");

SEC("xdp")
int xdp_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_key key = {};
	struct pkt_info pi;
	__u64 one = 1, *n;

	if (parse_packet(data, data_end, &pi) == PROTO_NON_IP)
		return XDP_PASS;
	__builtin_memcpy(key.saddr, pi.saddr, sizeof(key.saddr));
	key.proto = pi.l4proto;
	n = bpf_map_lookup_elem(&flows, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&flows, &key, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
