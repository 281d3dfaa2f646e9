#!/usr/bin/env bash
# The lessons' lab: two network namespaces joined by a veth pair, as the test suite builds it
# (rbpf_tests::lab::Lab): NS_A holds DEV_A with 10.0.0.1/24 and fd00::1/64, NS_B holds DEV_B
# with 10.0.0.2/24 and fd00::2/64. Nothing touches the host's own interfaces.
#   docs/lab.sh up   [NS_A NS_B DEV_A DEV_B]     (default: lab-a lab-b veth-a veth-b)
#   docs/lab.sh down [NS_A NS_B]
set -euo pipefail
cmd=${1:-}
A=${2:-lab-a} B=${3:-lab-b} DA=${4:-veth-a} DB=${5:-veth-b}
case "$cmd" in
up)
	ip netns add "$A"
	ip netns add "$B"
	ip -n "$A" link add "$DA" type veth peer name "$DB" netns "$B"
	ip -n "$A" addr add 10.0.0.1/24 dev "$DA"
	ip -n "$A" addr add fd00::1/64 dev "$DA" nodad
	ip -n "$B" addr add 10.0.0.2/24 dev "$DB"
	ip -n "$B" addr add fd00::2/64 dev "$DB" nodad
	for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
	ip -n "$A" link set "$DA" up
	ip -n "$B" link set "$DB" up
	echo "lab up: $A/$DA (10.0.0.1) <-> $B/$DB (10.0.0.2)"
	;;
down)
	# Deleting a namespace deletes its devices, their qdiscs, filters and XDP programs.
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	echo "lab down"
	;;
*)
	echo "usage: $0 up|down [NS_A NS_B [DEV_A DEV_B]]" >&2
	exit 2
	;;
esac
