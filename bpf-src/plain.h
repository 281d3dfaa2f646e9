/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * plain.h: what the plain_* programs share. "Plain" means written against the kernel's
 * uapi headers (<linux/bpf.h>, <linux/if_ether.h>, ...) as most of xdp-tutorial and many tc
 * programs are, not against vmlinux.h: the uapi structs carry no preserve_access_index, so
 * these objects have no CO-RE relocations and no loader needs the kernel's BTF for them.
 * The Makefile adds the multiarch include directory for <asm/types.h>.
 *
 * Counter slots are those of common.h (PROTO_* and COUNT_TOTAL), so tests can read both
 * kinds of object the same way.
 */
#ifndef RBPF_PLAIN_H
#define RBPF_PLAIN_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PROTO_ICMP      0 /* ICMP and ICMPv6 */
#define PROTO_TCP       1
#define PROTO_UDP       2
#define PROTO_OTHER_IP  3
#define PROTO_NON_IP    4
#define COUNT_TOTAL     5
#define COUNT_TAIL_FAIL 6
#define SLOTS_PER_BLOCK 8

/* The protocol slot of the frame in [data, data_end): IPv4 and IPv6 (no extension
 * headers followed), as parse_packet in common.h, without the addresses and ports. */
static __always_inline int plain_proto(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	__u8 l4proto;

	if ((void *)(eth + 1) > data_end)
		return PROTO_NON_IP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return PROTO_NON_IP;
		l4proto = ip->protocol;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return PROTO_NON_IP;
		l4proto = ip6->nexthdr;
	} else {
		return PROTO_NON_IP;
	}
	switch (l4proto) {
	case IPPROTO_ICMP:
	case 58: /* IPPROTO_ICMPV6 (in <linux/in6.h>) */
		return PROTO_ICMP;
	case IPPROTO_TCP:
		return PROTO_TCP;
	case IPPROTO_UDP:
		return PROTO_UDP;
	default:
		return PROTO_OTHER_IP;
	}
}

#endif /* RBPF_PLAIN_H */
