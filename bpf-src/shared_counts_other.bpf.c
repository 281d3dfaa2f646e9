// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * shared_counts_other: declares `shared_counts`, pinned by name like shared_counts.bpf.c,
 * but with 8 entries instead of 4. A loader must not use the other object's pinned map for
 * it ("max_entries 8 here, 4 pinned"): the load fails before any program is loaded.
 *
 *   other_tc (SEC "tc"): adds 1 to slot 7, returns TC_ACT_OK
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

SEC("tc")
int other_tc(struct __sk_buff *skb)
{
	count_slot(&shared_counts, 7);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
