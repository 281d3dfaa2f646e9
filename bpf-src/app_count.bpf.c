// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * app_count: an application, not a program. Three programs whose sections say where they
 * go, and one whose section does not, all sharing one map. `rbpf-load OBJ --all --dev DEV`
 * loads the object once and attaches the three; the map is one map for all of them.
 *
 *   hits: ARRAY, key u32, value u64, 4 entries
 *   app_ingress (tc/ingress): hits[0] += 1 per packet, TC_ACT_OK
 *   app_egress  (tc/egress):  hits[1] += 1 per packet, TC_ACT_OK
 *   app_getppid (tracepoint/syscalls/sys_enter_getppid): hits[2] += 1 per getppid(2)
 *   app_socket  (socket): a socket filter, hits[3] += 1; its section says no hook, so it is
 *                         loaded and not attached (a socket filter is attached by the
 *                         process that owns the socket, with setsockopt SO_ATTACH_BPF)
 *
 * No program reads its context: the object has no CO-RE relocation.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("tc/ingress")
int app_ingress(struct __sk_buff *skb)
{
	count_slot(&hits, 0);
	return TC_ACT_OK;
}

SEC("tc/egress")
int app_egress(struct __sk_buff *skb)
{
	count_slot(&hits, 1);
	return TC_ACT_OK;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int app_getppid(void *ctx)
{
	count_slot(&hits, 2);
	return 0;
}

SEC("socket")
int app_socket(struct __sk_buff *skb)
{
	count_slot(&hits, 3);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
