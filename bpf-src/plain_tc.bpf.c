// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * plain_tc: one tc program in SEC("tc"), written against the uapi headers (plain.h): no
 * CO-RE relocation. The benchmark's plain tc rows attach it as a direct-action filter.
 *
 * `plain_tc_count` counts counts[proto] and counts[COUNT_TOTAL] per packet (slots as in
 * common.h) and returns TC_ACT_OK. Map `counts` ARRAY 8 x u64.
 */
#include "plain.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tc")
int plain_tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	count(plain_proto(data, data_end));
	count(COUNT_TOTAL);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
