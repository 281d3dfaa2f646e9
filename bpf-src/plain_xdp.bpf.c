// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * plain_xdp: five XDP programs, a static tail-call table and global data, written against
 * the uapi headers (plain.h): no CO-RE relocation, so loading it needs nothing from the
 * kernel's BTF. The benchmark's plain load-only and XDP rows use it (docs/performance.md).
 *
 * Entry SEC("xdp") `plain_dispatch`: adds 1 to `frames` (.bss) and to counts[COUNT_TOTAL],
 * then tail-calls plain_jmp[proto] for ICMP, TCP and UDP, and plain_jmp[PROTO_OTHER_IP]
 * for any other IP protocol; a non-IP frame counts counts[PROTO_NON_IP]; a tail call that
 * falls through (empty slot) counts counts[COUNT_TAIL_FAIL].
 * Handlers SEC("xdp") `plain_icmp`, `plain_tcp`, `plain_udp`, `plain_other` count their
 * PROTO_* slot. Every program returns `verdict` (.rodata, XDP_PASS unless changed before
 * load); `plain_tcp` also adds the frame's length to `tcp_bytes` (.data, starts at 0).
 *
 * Maps: `counts` ARRAY 8 x u64 (slots as in common.h); `plain_jmp` PROG_ARRAY 8 with
 * static values: slot 0 plain_icmp, 1 plain_tcp, 2 plain_udp, 3 plain_other;
 * `.rodata` verdict u32 @0; `.data` tcp_bytes u64 @0; `.bss` frames u64 @0.
 */
#include "plain.h"

const volatile __u32 verdict = XDP_PASS;
__u64 tcp_bytes SEC(".data") = 0; /* in .data, not .bss: the object has both */
__u64 frames;

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

SEC("xdp")
int plain_icmp(struct xdp_md *ctx)
{
	count(PROTO_ICMP);
	return verdict;
}

SEC("xdp")
int plain_tcp(struct xdp_md *ctx)
{
	count(PROTO_TCP);
	__sync_fetch_and_add(&tcp_bytes, ctx->data_end - ctx->data);
	return verdict;
}

SEC("xdp")
int plain_udp(struct xdp_md *ctx)
{
	count(PROTO_UDP);
	return verdict;
}

SEC("xdp")
int plain_other(struct xdp_md *ctx)
{
	count(PROTO_OTHER_IP);
	return verdict;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__array(values, int (void *));
} plain_jmp SEC(".maps") = {
	.values = {
		[PROTO_ICMP] = (void *)&plain_icmp,
		[PROTO_TCP] = (void *)&plain_tcp,
		[PROTO_UDP] = (void *)&plain_udp,
		[PROTO_OTHER_IP] = (void *)&plain_other,
	},
};

SEC("xdp")
int plain_dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int proto = plain_proto(data, data_end);

	__sync_fetch_and_add(&frames, 1);
	count(COUNT_TOTAL);
	if (proto == PROTO_NON_IP) {
		count(PROTO_NON_IP);
		return verdict;
	}
	bpf_tail_call(ctx, &plain_jmp, proto);
	count(COUNT_TAIL_FAIL);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
