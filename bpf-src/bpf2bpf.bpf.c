// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bpf2bpf: BPF-to-BPF function calls.
 *
 * A function marked __noinline stays a real function: the program calls it with
 * `call pc+N` (a call instruction with src_reg BPF_PSEUDO_CALL and a relative offset),
 * not a helper. Such functions live in ".text"; the loader must append the ones a
 * program uses after the program's own instructions and fix each call's offset (the
 * relocation against ".text"), and move their func_info/line_info along.
 * A static function is checked by the verifier as part of its caller, with the actual
 * argument values; a global (non-static) one is checked once on its own, for any value of
 * its arguments (so it must not rely on what callers pass).
 *
 *   xdp_bpf2bpf (SEC "xdp"), meant for BPF_PROG_TEST_RUN. With n = frame length in bytes:
 *     results[0] = add_square(n, 4)  = n*n + 4         (static -> static)
 *     results[1] = global_mix(n)     = (n+1)*(n+1) + n  (global -> static -> static)
 *     results[2] += 1 each run
 *   returns XDP_PASS (2).
 * For a 14-byte frame: results[0] == 200, results[1] == 239; results[3] stays 0.
 * Map `results`: ARRAY, 4 x u64.
 * (n comes from the packet so that clang cannot compute the results at build time.)
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

static __noinline __u64 square(__u64 x)
{
	return x * x;
}

static __noinline __u64 add_square(__u64 a, __u64 b)
{
	return square(a) + b;
}

/* Global: visible in the symbol table, verified independently of its callers. Its
 * arguments and return must be scalars (or the context). */
__noinline __u64 global_mix(__u64 a)
{
	return add_square(a + 1, a);
}

static __always_inline void store(__u32 idx, __u64 v)
{
	__u64 *slot = bpf_map_lookup_elem(&results, &idx);

	if (slot)
		*slot = v;
}

SEC("xdp")
int xdp_bpf2bpf(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data;
	__u32 key = 2;
	__u64 *runs;

	store(0, add_square(n, 4));
	store(1, global_mix(n));
	runs = bpf_map_lookup_elem(&results, &key);
	if (runs)
		__sync_fetch_and_add(runs, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
