/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * common.h: what the BPF programs in bpf-src/ and the Rust tests share.
 *
 * - protocol indexes (the slot of each counter in the "counts" arrays),
 * - the event structs sent to user space (their layout is part of the contract with the
 *   Rust side: change both together),
 * - a small packet parser used by the XDP and tc programs.
 *
 * BPF programs cannot include the usual <linux/if_ether.h> & co here (the asm headers are
 * not on the include path), so the few constants we need are defined below. All kernel types
 * come from vmlinux.h, generated from the running kernel's BTF by the Makefile.
 */
#ifndef RBPF_COMMON_H
#define RBPF_COMMON_H

/* The kernel has its own `struct proc_event` (the proc connector); rename it while
 * vmlinux.h is read so that ours (below) keeps the contract's name. */
#define proc_event kernel_cn_proc_event
#include "vmlinux.h"
#undef proc_event
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Counter slots. A "block" of counters is 8 u64 wide; tc_count.bpf.c uses 3 blocks. */
#define PROTO_ICMP      0 /* ICMP and ICMPv6 */
#define PROTO_TCP       1
#define PROTO_UDP       2
#define PROTO_OTHER_IP  3 /* IPv4/IPv6 carrying anything else */
#define PROTO_NON_IP    4 /* ARP, LLDP, truncated frames, ... */
#define COUNT_TOTAL     5 /* every frame seen */
#define COUNT_TAIL_FAIL 6 /* xdp_classifier: a tail call fell through (empty slot) */
#define SLOTS_PER_BLOCK 8

/* Return codes of tc programs (include/uapi/linux/pkt_cls.h), not in vmlinux.h. */
#define TC_ACT_OK   0
#define TC_ACT_SHOT 2

/* EtherType values, in host order (compare after bpf_ntohs). */
#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q  0x8100
#define ETH_P_8021AD 0x88A8

/* IPv6 next-header value of ICMPv6 (the kernel's NEXTHDR_ICMP); IPv4's are in vmlinux.h. */
#define IPPROTO_ICMPV6_NR 58

/* Direction of a flow_event. */
#define DIR_INGRESS 0
#define DIR_EGRESS  1

/*
 * One TCP/UDP packet seen by tc_flow / tc_flow_rb. 48 bytes, no implicit padding, so the
 * Rust side can read it field by field at fixed offsets:
 *   0 proto (IPPROTO_TCP=6 / IPPROTO_UDP=17), 1 direction, 2 ip_version (4/6), 3 pad,
 *   4 ifindex, 8 len (skb->len), 12 sport, 14 dport (host order), 16 saddr, 32 daddr.
 */
struct flow_event {
	__u8 proto;
	__u8 direction;
	__u8 ip_version;
	__u8 pad;
	__u32 ifindex;
	__u32 len;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16]; /* IPv4: first 4 bytes, network order; rest zero */
	__u8 daddr[16];
};

/* Kinds of proc_event. */
#define PROC_EXEC 0
#define PROC_FORK 1
#define PROC_EXIT 2

/*
 * One process event from proc_events.bpf.c. 32 bytes:
 *   0 kind, 4 pid, 8 tgid, 12 ppid, 16 comm (NUL-terminated when shorter than 16).
 * For a fork, pid/tgid are the child's and ppid the parent's tgid.
 */
struct proc_event {
	__u32 kind;
	__u32 pid;  /* kernel task id (the thread id in user-space words) */
	__u32 tgid; /* the process id in user-space words */
	__u32 ppid; /* real_parent->tgid */
	char comm[16];
};

/* What parse_packet learnt about a frame. */
struct pkt_info {
	int proto;       /* PROTO_* */
	__u8 l4proto;    /* IPPROTO_* when proto is ICMP/TCP/UDP/OTHER_IP */
	__u8 ip_version; /* 4, 6 or 0 */
	__u16 sport;     /* host order; 0 unless TCP/UDP with a complete header */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/*
 * Classify the frame in [data, data_end). Every read is preceded by a check that it stays
 * below data_end: the verifier rejects any packet access it cannot prove in bounds, and a
 * frame may really be shorter than the headers we expect. "__always_inline" because the
 * bounds facts the verifier learns only hold inside one function (packet pointers cannot
 * be passed to BPF-to-BPF sub-functions and keep their proven range).
 */
static __always_inline int parse_packet(void *data, void *data_end, struct pkt_info *pi)
{
	struct ethhdr *eth = data;
	__u16 h_proto;
	void *l4;

	pi->proto = PROTO_NON_IP;
	pi->l4proto = 0;
	pi->ip_version = 0;
	pi->sport = 0;
	pi->dport = 0;
	__builtin_memset(pi->saddr, 0, sizeof(pi->saddr));
	__builtin_memset(pi->daddr, 0, sizeof(pi->daddr));

	if ((void *)(eth + 1) > data_end)
		return PROTO_NON_IP;
	h_proto = bpf_ntohs(eth->h_proto);
	l4 = eth + 1;

	if (h_proto == ETH_P_IP) {
		struct iphdr *ip = l4;

		if ((void *)(ip + 1) > data_end)
			return PROTO_NON_IP;
		/* ihl counts 32-bit words; below 5 the header is malformed. */
		if (ip->ihl < 5)
			return PROTO_NON_IP;
		pi->ip_version = 4;
		pi->l4proto = ip->protocol;
		__builtin_memcpy(pi->saddr, &ip->saddr, 4);
		__builtin_memcpy(pi->daddr, &ip->daddr, 4);
		l4 = (void *)ip + ip->ihl * 4;
	} else if (h_proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = l4;

		if ((void *)(ip6 + 1) > data_end)
			return PROTO_NON_IP;
		/* Extension headers are not followed: nexthdr is taken as the L4 protocol. */
		pi->ip_version = 6;
		pi->l4proto = ip6->nexthdr;
		__builtin_memcpy(pi->saddr, &ip6->saddr, 16);
		__builtin_memcpy(pi->daddr, &ip6->daddr, 16);
		l4 = ip6 + 1;
	} else {
		return PROTO_NON_IP;
	}

	switch (pi->l4proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_NR:
		pi->proto = PROTO_ICMP;
		break;
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;

		pi->proto = PROTO_TCP;
		if ((void *)(tcp + 1) <= data_end) {
			pi->sport = bpf_ntohs(tcp->source);
			pi->dport = bpf_ntohs(tcp->dest);
		}
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;

		pi->proto = PROTO_UDP;
		if ((void *)(udp + 1) <= data_end) {
			pi->sport = bpf_ntohs(udp->source);
			pi->dport = bpf_ntohs(udp->dest);
		}
		break;
	}
	default:
		pi->proto = PROTO_OTHER_IP;
	}
	return pi->proto;
}

/*
 * Add 1 to slot idx of an ARRAY map of u64. The lookup can return NULL (the verifier
 * insists we check, even though an ARRAY lookup below max_entries never fails), and several
 * CPUs may count at once, hence the atomic add.
 */
static __always_inline void count_slot(void *map, __u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

#endif /* RBPF_COMMON_H */
