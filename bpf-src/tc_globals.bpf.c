// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tc_globals: a map shared the iproute2 way. `struct bpf_elf_map` (iproute2's layout: nine
 * unsigned ints) in the "maps" section, with pinning = PIN_GLOBAL_NS (2): `tc` pins it at
 * /sys/fs/bpf/tc/globals/rbpf_tc_glob and every later load, by tc or by rbpf-load, uses
 * that map.
 *
 *   rbpf_tc_glob: ARRAY, key u32, value u64, 2 entries, PIN_GLOBAL_NS
 *   rbpf_tc_obj:  ARRAY, key u32, value u64, 2 entries, PIN_OBJECT_NS: pinned at
 *                 /sys/fs/bpf/tc/SHA1/rbpf_tc_obj, SHA1 the hex SHA-1 of this object file
 *                 (shared by the loads of this very file only)
 *   glob_tc (SEC "tc"): adds 1 to slot 0 of both maps for every packet, returns TC_ACT_OK
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

#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") rbpf_tc_glob = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 2,
	.pinning = PIN_GLOBAL_NS,
};

struct bpf_elf_map SEC("maps") rbpf_tc_obj = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 2,
	.pinning = PIN_OBJECT_NS,
};

SEC("tc")
int glob_tc(struct __sk_buff *skb)
{
	count_slot(&rbpf_tc_glob, 0);
	count_slot(&rbpf_tc_obj, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
