#!/usr/bin/env bash
# bench/netlink_attach.sh: what an attach + detach costs through our netlink layer, side by
# side with iproute2, in one run, for programs that are already loaded (pinned by bpftool).
#
#   tc filter:  rbpf (library)  vs  `tc -batch` (one tc process)  vs  one `tc` per command
#   XDP native: rbpf (library)  vs  `ip -batch` (one ip process)  vs  one `ip` per command
#
# Everything happens in a network namespace and veth pair made here and removed at exit.
# Run as root from anywhere:  bench/netlink_attach.sh [N]   (N pairs per variant, default 300)
# PROFILE=release builds the driver with --release (default: debug, like the tests).
set -euo pipefail

N=${1:-300}
PROFILE=${PROFILE:-debug}
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

make -s bpf >/dev/null
if [ "$PROFILE" = release ]; then
    cargo build -q --release -p rbpf-tests --example netlink_attach
else
    cargo build -q -p rbpf-tests --example netlink_attach
fi
DRIVER=$PWD/target/$PROFILE/examples/netlink_attach

NS=rbpf-bench-$$
PIN=/sys/fs/bpf/rbpf-bench-$$
TMP=$(mktemp -d)
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add bench0 type veth peer name bench1
ip -n "$NS" link set bench0 up
ip -n "$NS" link set bench1 up
mkdir -p "$PIN"
# type classifier: bpftool's libbpf predates the tc/ingress section names.
bpftool prog loadall target/bpf/tc_count.bpf.o "$PIN/tc" type classifier
bpftool prog loadall target/bpf/xdp_count.bpf.o "$PIN/xdp"
TC_PROG=$PIN/tc/count_ingress
XDP_PROG=$PIN/xdp/xdp_count
# nsenter, not `ip netns exec`/`-n`: those remount /sys and would hide the pins.
IN=(nsenter "--net=/run/netns/$NS")
"${IN[@]}" tc qdisc add dev bench0 clsact

now() { date +%s%N; }
# per_pair START END: microseconds per attach + detach pair.
per_pair() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / 1000 / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

# 1. Ours: one process, program fds opened once.
"${IN[@]}" "$DRIVER" bench0 "$TC_PROG" "$XDP_PROG" "$N" >"$TMP/rbpf.out"
rbpf_tc=$(awk '$1 == "tc" { print $2 }' "$TMP/rbpf.out")
rbpf_xdp=$(awk '$1 == "xdp" { print $2 }' "$TMP/rbpf.out")

# 2. iproute2 in batch mode: one process, each command opens the pin.
for _ in $(seq "$N"); do
    echo "filter add dev bench0 ingress pref 1 handle 1 bpf da pinned $TC_PROG"
    echo "filter del dev bench0 ingress pref 1 handle 1 bpf"
done >"$TMP/tc.batch"
for _ in $(seq "$N"); do
    echo "link set dev bench0 xdpdrv pinned $XDP_PROG"
    echo "link set dev bench0 xdpdrv off"
done >"$TMP/ip.batch"
t0=$(now); "${IN[@]}" tc -batch "$TMP/tc.batch"; t1=$(now)
tc_batch=$(per_pair "$t0" "$t1")
t0=$(now); "${IN[@]}" ip -batch "$TMP/ip.batch"; t1=$(now)
ip_batch=$(per_pair "$t0" "$t1")

# 3. iproute2 as a script would use it: one process per command (inside one shell in the
# namespace, so only tc/ip are started per pair).
t0=$(now)
"${IN[@]}" bash -c "for i in \$(seq $N); do
    tc filter add dev bench0 ingress pref 1 handle 1 bpf da pinned $TC_PROG
    tc filter del dev bench0 ingress pref 1 handle 1 bpf
done"
t1=$(now)
tc_proc=$(per_pair "$t0" "$t1")
t0=$(now)
"${IN[@]}" bash -c "for i in \$(seq $N); do
    ip link set dev bench0 xdpdrv pinned $XDP_PROG
    ip link set dev bench0 xdpdrv off
done"
t1=$(now)
ip_proc=$(per_pair "$t0" "$t1")

# Nothing may be left attached.
left=$("${IN[@]}" tc filter show dev bench0 ingress; "${IN[@]}" ip link show dev bench0 | grep -c prog/xdp || true)
[ "$left" = 0 ] || { echo "left attached: $left" >&2; exit 1; }

echo "attach + detach pairs: $N per variant, driver built $PROFILE, kernel $(uname -r), $(nproc) cores"
echo
echo "| operation | rbpf (library) | iproute2 -batch | iproute2, a process per command | -batch / rbpf | process / rbpf |"
echo "|---|---|---|---|---|---|"
echo "| tc filter add + del (bpf da) | ${rbpf_tc} µs | ${tc_batch} µs | ${tc_proc} µs | $(ratio "$tc_batch" "$rbpf_tc") | $(ratio "$tc_proc" "$rbpf_tc") |"
echo "| XDP native attach + detach | ${rbpf_xdp} µs | ${ip_batch} µs | ${ip_proc} µs | $(ratio "$ip_batch" "$rbpf_xdp") | $(ratio "$ip_proc" "$rbpf_xdp") |"
