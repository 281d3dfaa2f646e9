// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * legacy_maps: maps declared the pre-BTF way, as `struct bpf_map_def` variables in a
 * section called "maps". The loader learns type, sizes and max_entries from the bytes of
 * each variable (the symbol's offset and size in the "maps" section), not from BTF.
 * libbpf 1.x dropped this format (its bpftool refuses the object); older objects in the
 * wild still use it, and our loader reads it.
 *
 *   legacy_counts: ARRAY, key u32, value u64, 4 entries (struct bytes: 2,4,8,4,0)
 *   legacy_hash:   HASH,  key u32, value u64, 16 entries (struct bytes: 1,4,8,16,0)
 *   xdp_legacy (SEC "xdp"), for BPF_PROG_TEST_RUN: each run adds 1 to legacy_counts[0]
 *   and to legacy_hash[frame length] (created at 1 when absent); returns XDP_PASS.
 * After 3 runs with a 14-byte frame: legacy_counts[0] == 3, legacy_hash{14: 3}.
 */
#include "common.h"

/* The layout the kernel's samples and old libbpf used: five unsigned ints, 20 bytes. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16,
	.map_flags = 0,
};

SEC("xdp")
int xdp_legacy(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u64 one = 1;
	__u64 *v;

	count_slot(&legacy_counts, 0);
	v = bpf_map_lookup_elem(&legacy_hash, &len);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		/* BPF_NOEXIST: if another CPU inserted it meanwhile, that run's 1 stays (a
		 * race we accept in an example). */
		bpf_map_update_elem(&legacy_hash, &len, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
