// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * trace_tc: fentry/fexit on another BPF program.
 *
 *   fentry_tc (SEC "fentry/tc_flow_ingress"): runs each time tc_flow_ingress is entered;
 *   fexit_tc  (SEC "fexit/tc_flow_ingress"):  each time it returns (and sees its return).
 * They add 1 to `trace_counts` (ARRAY, 2 x u64): slot 0 fentry, slot 1 fexit.
 *
 * The section names a function, not a kernel one: the loader must load these as
 * BPF_PROG_TYPE_TRACING with attach_prog_fd = the already-loaded tc_flow_ingress (from
 * tc_flow.bpf.o) and attach_btf_id = the id of the FUNC "tc_flow_ingress" in that
 * program's BTF, then BPF_LINK_CREATE. Each packet through tc_flow_ingress then adds 1 to
 * both slots. The arguments are the target's: one struct __sk_buff *, returning int.
 * fexit_tc also keeps in `trace_ret` (ARRAY, 1 x s64) what the last run returned
 * (tc_flow_ingress: TC_ACT_OK, 0; a test sets the slot to -1 first, so that a 0 there
 * was written by fexit_tc).
 * (This kernel refuses fentry/fexit trampolines with EPERM; they run in the VM tests.)
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} trace_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} trace_ret SEC(".maps");

/* BPF_PROG unpacks the u64 array that fentry programs receive into typed arguments. */
SEC("fentry/tc_flow_ingress")
int BPF_PROG(fentry_tc, struct __sk_buff *skb)
{
	count_slot(&trace_counts, 0);
	return 0;
}

SEC("fexit/tc_flow_ingress")
int BPF_PROG(fexit_tc, struct __sk_buff *skb, int ret)
{
	__u32 key = 0;
	__s64 *last;

	count_slot(&trace_counts, 1);
	last = bpf_map_lookup_elem(&trace_ret, &key);
	if (last)
		*last = ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
