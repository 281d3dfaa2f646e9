// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xdp_text: xdp_count written without SEC(). clang puts a function with no section attribute
 * into `.text`, where libbpf-style loaders expect only sub-programs (functions that programs
 * call). iproute2 loads it anyway with `ip link set dev DEV xdp obj xdp_text.bpf.o sec .text`,
 * and so does `rbpf-load xdp_text.bpf.o --sec .text --dev DEV`: the program type comes from
 * `--xdp`/`--ingress`/`--egress` or, as here, from the BTF type of the argument
 * (`struct xdp_md *` is XDP).
 *
 * Map `counts` (ARRAY, 8 x u64): the same slots as xdp_count (common.h). Returns XDP_PASS.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* No SEC(): this global function lands in .text. */
int xdp_text_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt_info pi;

	count_slot(&counts, parse_packet(data, data_end, &pi));
	count_slot(&counts, COUNT_TOTAL);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
