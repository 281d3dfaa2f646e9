/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* flow.h: fill a struct flow_event from an sk_buff (shared by tc_flow and tc_flow_rb). */
#ifndef RBPF_FLOW_H
#define RBPF_FLOW_H

#include "common.h"

/*
 * Return 1 and fill *ev when skb is TCP or UDP over IPv4/IPv6 with a complete L4 header,
 * 0 otherwise. Inlined: packet pointers keep their verified bounds only inside one function.
 */
static __always_inline int fill_flow_event(struct __sk_buff *skb, __u8 direction,
					   struct flow_event *ev)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pkt_info pi;
	int proto = parse_packet(data, data_end, &pi);

	if (proto != PROTO_TCP && proto != PROTO_UDP)
		return 0;
	/* Ports stay 0 when the L4 header is cut short; such packets are not reported. */
	if (pi.sport == 0 && pi.dport == 0)
		return 0;
	ev->proto = pi.l4proto;
	ev->direction = direction;
	ev->ip_version = pi.ip_version;
	ev->pad = 0;
	ev->ifindex = skb->ifindex;
	ev->len = skb->len;
	ev->sport = pi.sport;
	ev->dport = pi.dport;
	__builtin_memcpy(ev->saddr, pi.saddr, sizeof(ev->saddr));
	__builtin_memcpy(ev->daddr, pi.daddr, sizeof(ev->daddr));
	return 1;
}

#endif /* RBPF_FLOW_H */
