// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Lesson 0: the same idea with the kernel's uapi headers instead of vmlinux.h. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass_all(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
