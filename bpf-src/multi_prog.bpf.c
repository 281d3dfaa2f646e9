// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * multi_prog: several programs in one ELF section. clang puts functions with the same
 * SEC() one after another in that section; the loader must split the section by the
 * function symbols (offset and size) and keep each program apart. `--sec xdp` alone is
 * then ambiguous: the user must choose with `--prog`.
 *
 *   SEC("xdp"): xdp_first  -> hits[0] += 1, returns XDP_PASS (2)
 *               xdp_second -> hits[1] += 1, returns XDP_DROP (1)
 *   SEC("tc"):  tc_first   -> hits[2] += 1, returns TC_ACT_OK (0)
 *               tc_second  -> hits[3] += 1, returns TC_ACT_SHOT (2)
 * Map `hits`: ARRAY, 4 x u64, shared by all four. Each runs fine under BPF_PROG_TEST_RUN
 * (a 14-byte frame is enough), so a test can check that the program it picked is the one
 * that ran: the return value and the slot that moved.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("xdp")
int xdp_first(struct xdp_md *ctx)
{
	count_slot(&hits, 0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	count_slot(&hits, 1);
	return XDP_DROP;
}

SEC("tc")
int tc_first(struct __sk_buff *skb)
{
	count_slot(&hits, 2);
	return TC_ACT_OK;
}

SEC("tc")
int tc_second(struct __sk_buff *skb)
{
	count_slot(&hits, 3);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
