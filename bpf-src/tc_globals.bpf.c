// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tc_globals: a map shared the iproute2 way. `struct bpf_elf_map` (iproute2's layout: nine
 * unsigned ints) in the "maps" section, with pinning = PIN_GLOBAL_NS (2): `tc` pins it at
 * /sys/fs/bpf/tc/globals/rbpf_tc_glob and every later load, by tc or by rbpf-load, uses
 * that map.
 *
 *   rbpf_tc_glob: ARRAY, key u32, value u64, 2 entries, PIN_GLOBAL_NS
 *   glob_tc (SEC "tc"): adds 1 to slot 0 for every packet, returns TC_ACT_OK
 */
#include "common.h"

/* iproute2's include/bpf_elf.h, written out: the loader reads these nine fields. */
struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") rbpf_tc_glob = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 2,
	.pinning = PIN_GLOBAL_NS,
};

SEC("tc")
int glob_tc(struct __sk_buff *skb)
{
	count_slot(&rbpf_tc_glob, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
