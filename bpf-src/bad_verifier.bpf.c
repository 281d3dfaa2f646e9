// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bad_verifier: a program the kernel must refuse, for testing how a loader reports it.
 *
 *   xdp_bad (SEC "xdp") reads the EtherType (bytes 12-13 of the frame) without first
 *   checking that the frame is that long. Nothing guarantees a frame has 14 bytes, so the
 *   verifier rejects the load (EACCES) with a log ending like
 *     "invalid access to packet, off=12 size=2, R1(id=0,off=12,r=0)
 *      R1 offset is outside of the packet"
 *   Compare drop_tcp.bpf.c / common.h: `if ((void *)(eth + 1) > data_end) return ...;`
 *   is the line that is missing here. The line_info of the failing instruction points at
 *   the `eth->h_proto` line below.
 */
#include "common.h"

SEC("xdp")
int xdp_bad(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	/* BUG (on purpose): no bounds check against ctx->data_end before this read. */
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
