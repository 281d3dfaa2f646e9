// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * shared_counts: a map shared between loads through bpffs. `pinning` =
 * LIBBPF_PIN_BY_NAME asks the loader to pin the map at PIN_ROOT/shared_counts (PIN_ROOT is
 * /sys/fs/bpf unless told otherwise) and, when a map is pinned there already, to use that
 * one instead of creating its own: two loads of this object, or two objects that declare
 * the same map, count into one map.
 *
 *   shared_counts: ARRAY, key u32, value u64, 4 entries, pinned by name
 *   share_tc (SEC "tc"): adds 1 to slot 0 for every packet, returns TC_ACT_OK
 *   share_getppid (tracepoint syscalls/sys_enter_getppid): adds 1 to slot 1
 *
 * No program reads the context: the object has no CO-RE relocation.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

SEC("tc")
int share_tc(struct __sk_buff *skb)
{
	count_slot(&shared_counts, 0);
	return TC_ACT_OK;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int share_getppid(void *ctx)
{
	count_slot(&shared_counts, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
