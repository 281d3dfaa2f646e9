// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Lesson 0: a first XDP program of your own. It counts every frame a device receives. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* One counter: an ARRAY map with a single u64 slot, described by BTF (clang -g). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&packets, &key);

	/* The verifier insists: a lookup may return NULL. */
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
