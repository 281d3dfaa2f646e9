// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xdp_classifier: dispatch by protocol through tail calls.
 *
 * A tail call (bpf_tail_call) jumps into another BPF program and never comes back: the
 * callee's return value is the verdict. The callee is found in a PROG_ARRAY map by index.
 * If the slot is empty, bpf_tail_call returns and the caller goes on (that is how we notice
 * a failure: COUNT_TAIL_FAIL).
 *
 * Entry: SEC("xdp_classifier") `xdp_classify` (a non-standard section name on purpose:
 * the loader must work out that it is XDP from the context type or the attach request).
 * The function cannot be called `xdp_classifier` like its section: clang's assembler
 * gives an ELF section a symbol of the same name, and the two would collide
 * ("symbol 'xdp_classifier' is already defined").
 *   - counts COUNT_TOTAL for every frame;
 *   - ICMP/ICMPv6, TCP, UDP: tail-calls jmp_table[PROTO_ICMP/PROTO_TCP/PROTO_UDP];
 *     if that slot is empty, counts COUNT_TAIL_FAIL instead;
 *   - other IP: counts PROTO_OTHER_IP; not IP: counts PROTO_NON_IP.
 * Handlers SEC("xdp") `handle_icmp`, `handle_tcp`, `handle_udp` count their PROTO_* slot.
 * Everything returns XDP_PASS.
 *
 * Map `counts` (ARRAY, 8 x u64) as in common.h; map `jmp_table` (PROG_ARRAY, 8 slots),
 * filled statically below: the loader must load the handlers, then write their fds into
 * slots 0, 1, 2 (found as relocations in ".rel.maps" against `jmp_table`).
 * So after one ping (echo request in): counts[PROTO_ICMP] == counts[COUNT_TOTAL] minus
 * the ARP frames counted in PROTO_NON_IP, and COUNT_TAIL_FAIL == 0.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int handle_icmp(struct xdp_md *ctx)
{
	count_slot(&counts, PROTO_ICMP);
	return XDP_PASS;
}

SEC("xdp")
int handle_tcp(struct xdp_md *ctx)
{
	count_slot(&counts, PROTO_TCP);
	return XDP_PASS;
}

SEC("xdp")
int handle_udp(struct xdp_md *ctx)
{
	count_slot(&counts, PROTO_UDP);
	return XDP_PASS;
}

/*
 * The values array declares a PROG_ARRAY whose slots are set from the object file:
 * each `&handle_x` becomes a relocation against this map that the loader resolves after
 * loading the handler. Key and value are both u32 (program fds) for a PROG_ARRAY.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLOTS_PER_BLOCK);
	__type(key, __u32);
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = {
		[PROTO_ICMP] = (void *)&handle_icmp,
		[PROTO_TCP] = (void *)&handle_tcp,
		[PROTO_UDP] = (void *)&handle_udp,
	},
};

SEC("xdp_classifier")
int xdp_classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt_info pi;
	int proto;

	count_slot(&counts, COUNT_TOTAL);
	proto = parse_packet(data, data_end, &pi);
	switch (proto) {
	case PROTO_ICMP:
	case PROTO_TCP:
	case PROTO_UDP:
		bpf_tail_call(ctx, &jmp_table, proto);
		/* Only reached when the slot is empty (or the tail-call limit of 33 is hit). */
		count_slot(&counts, COUNT_TAIL_FAIL);
		break;
	default:
		count_slot(&counts, proto);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
