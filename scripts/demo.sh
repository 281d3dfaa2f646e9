#!/usr/bin/env bash
# make demo: a throwaway lab (two network namespaces joined by a veth pair), the XDP
# tail-call classifier loaded and attached by rbpf-load, real ICMP/TCP/UDP traffic, the
# per-protocol counters, then everything removed, also on Ctrl-C or an error.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${RBPF_LOAD:-target/debug/rbpf-load}
OBJ=target/bpf/xdp_classifier.bpf.o
A=rbpf-demo-$$-a NB=rbpf-demo-$$-b DEV=demo0 PEER=demo1
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	trap - EXIT INT TERM
	step "clean up: detach, remove the lab"
	$B -n "$A" detach --dev $DEV --xdp 2>/dev/null || true
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$NB" 2>/dev/null || true
	echo "lab removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "the lab: namespaces $A and $NB, veth $DEV (10.0.0.1) <-> $PEER (10.0.0.2)"
ip netns add "$A"
ip netns add "$NB"
ip -n "$A" link add $DEV type veth peer name $PEER netns "$NB"
ip -n "$A" addr add 10.0.0.1/24 dev $DEV
ip -n "$NB" addr add 10.0.0.2/24 dev $PEER
ip -n "$A" link set $DEV up
ip -n "$NB" link set $PEER up
ip -n "$A" link set lo up

step "what is in the object (no kernel needed)"
run $B inspect $OBJ || true

step "load, fill the tail-call table, attach as XDP; rbpf-load exits, the program stays"
run $B -n "$A" $OBJ --sec xdp_classifier --dev $DEV

step "traffic from $NB to $A: 5 pings, 3 TCP connection attempts, 4 UDP datagrams"
ip netns exec "$NB" ping -c 5 -i 0.2 -q 10.0.0.1 | tail -n 2
for i in 1 2 3; do ip netns exec "$NB" timeout 1 bash -c 'exec 3<>/dev/tcp/10.0.0.1/8080' 2>/dev/null || true; done
for i in 1 2 3 4; do ip netns exec "$NB" bash -c 'echo hello > /dev/udp/10.0.0.1/9999'; done

step "what the programs counted (slots: 0 ICMP, 1 TCP, 2 UDP, 3 other IP, 4 non-IP, 5 total, 6 failed tail calls)"
PIN=/sys/fs/bpf/rbpf/xdp_classifier/$A@$DEV-xdp
run $B map dump $PIN/maps/counts

step "what is attached where"
run $B -n "$A" show
