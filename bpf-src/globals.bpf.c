// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * globals: global variables in every section a loader must turn into maps.
 *
 * BPF has no .data segment of its own: the loader creates one single-entry ARRAY map per
 * section (.data, .rodata, .bss, .rodata.str1.1), fills it with the section's bytes, and
 * rewrites each instruction that takes the address of a global into "address of that
 * map's value + offset" (ld_imm64 with BPF_PSEUDO_MAP_VALUE). .rodata (and .rodata.str1.1)
 * are then frozen (BPF_MAP_FREEZE): the verifier knows their content cannot change and
 * treats reads from them as constants, and bpf_strncmp accepts only such read-only strings.
 *
 *   xdp_globals (SEC "xdp"), meant for BPF_PROG_TEST_RUN with a frame of >= 14 bytes
 *   (the minimum for XDP test runs). Each run:
 *     - bss_runs += 1                              (.bss, u64)
 *     - data_counter += cfg_step                   (.data u64, starts at 100; .rodata u32 = 3)
 *     - bss_last_len = frame length in bytes       (.bss, u32)
 *     - if the frame's first 4 bytes are "rbpf": bss_matches += 1  (.bss, u64; the string
 *       literal "rbpf" is in .rodata.str1.1)
 *     - returns cfg_verdict                        (.rodata u32 = XDP_PASS (2))
 * So after 2 runs with the 14-byte frame "rbpf" + 10 zero bytes, with the object's initial
 * values: return 2 each time, bss_runs == 2, data_counter == 106, bss_last_len == 14,
 * bss_matches == 2 (0 with any other first 4 bytes). If user space changes cfg_verdict to
 * XDP_DROP (1) or cfg_step in the .rodata map before freezing it / before load, the
 * program obeys: it is the user's configuration, constant for the verifier.
 *
 * Layouts (what a test reads in each map's value; all little-endian):
 *   .rodata: cfg_verdict u32 @0, cfg_step u32 @4.
 *   .data:   data_counter u64 @0, data_greeting char[8] = "globals" @8 (read-write,
 *            unused by the program: shows that initialised arrays land in .data too).
 *   .bss:    bss_runs u64 @0, bss_last_len u32 @8 (then 4 pad bytes), bss_matches u64 @16
 *            (24 bytes).
 *   .rodata.str1.1: "rbpf\0" (5 bytes).
 * (clang-19 chose this .bss order, not the order of definition: a loader must take the
 * offsets from the symbol table / BTF DATASEC, never assume them; see llvm-objdump -t.)
 */
#include "common.h"

/* const volatile: in .rodata, and the compiler may not fold the value in, so user space
 * can still change it before load. */
const volatile __u32 cfg_verdict = XDP_PASS;
const volatile __u32 cfg_step = 3;

__u64 data_counter = 100;
char data_greeting[8] = "globals";

__u64 bss_runs;
__u64 bss_matches;
__u32 bss_last_len;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	char head[4];

	/* Global variables are shared by every CPU running the program: atomic adds. */
	__sync_fetch_and_add(&bss_runs, 1);
	__sync_fetch_and_add(&data_counter, cfg_step);
	bss_last_len = (__u32)(data_end - data);

	/* The verifier must see that the 4-byte read stays inside the packet. */
	if (data + sizeof(head) <= data_end) {
		__builtin_memcpy(head, data, sizeof(head));
		/* bpf_strncmp(s1, n, s2) == strncmp(s1, s2, n); s2 must be a read-only map
		 * string: the literal lives in .rodata.str1.1. */
		if (bpf_strncmp(head, sizeof(head), "rbpf") == 0)
			__sync_fetch_and_add(&bss_matches, 1);
	}
	return cfg_verdict;
}

char LICENSE[] SEC("license") = "GPL";
