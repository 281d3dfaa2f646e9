#!/usr/bin/env bash
# bench/netlink_attach.sh: what an attach + detach costs through our netlink layer, side by
# side with iproute2, in one run, for programs that are already loaded (pinned by bpftool).
#
#   tc filter:  rbpf (library)  vs  `tc -batch` (one tc process)  vs  one `tc` per command
#   XDP native: rbpf (library)  vs  `ip -batch` (one ip process)  vs  one `ip` per command
#
# Everything happens in a network namespace and veth pair made here and removed at exit.
# Run as root from anywhere:  bench/netlink_attach.sh [N]   (N pairs per variant and round,
# default 100; ROUNDS=5 rounds, medians reported)
# PROFILE=release builds the driver with --release (default: debug, like the tests).
set -euo pipefail

N=${1:-100}
ROUNDS=${ROUNDS:-5}
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

# Each variant gives two numbers per attach + detach pair, in microseconds: wall clock, and
# CPU time of the process(es) (user + system: our work and the kernel's on our behalf; the
# kernel's RCU waits are wall time only).
TIMEFORMAT='%3R %3U %3S'
# timed FILE CMD...: run CMD, write "wall cpu" (µs per pair) to FILE.
timed() {
    local out=$1
    shift
    { time "$@" >/dev/null; } 2>"$TMP/time"
    awk -v n="$N" '{ printf "%.1f %.1f\n", $1 * 1e6 / n, ($2 + $3) * 1e6 / n }' "$TMP/time" >>"$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
# field FILE COLUMN: the median of that column over the rounds.
field() { awk -v f="$2" '{ print $f }' "$TMP/$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for _ in $(seq "$N"); do
    echo "filter add dev bench0 ingress pref 1 handle 1 bpf da pinned $TC_PROG"
    echo "filter del dev bench0 ingress pref 1 handle 1 bpf"
done >"$TMP/tc.batch"
for _ in $(seq "$N"); do
    echo "link set dev bench0 xdpdrv pinned $XDP_PROG"
    echo "link set dev bench0 xdpdrv off"
done >"$TMP/ip.batch"

# Rounds alternate the variants so that a busy moment of the machine hits them all alike;
# each number reported is the median over the rounds.
for r in $(seq "$ROUNDS"); do
    # 1. Ours: one process, program fds opened once.
    "${IN[@]}" "$DRIVER" bench0 "$TC_PROG" "$XDP_PROG" "$N" >"$TMP/rbpf.out"
    awk '$1 == "tc" { print $2, $3 }' "$TMP/rbpf.out" >>"$TMP/rbpf_tc"
    awk '$1 == "xdp" { print $2, $3 }' "$TMP/rbpf.out" >>"$TMP/rbpf_xdp"

    # 2. iproute2 in batch mode: one process, each command opens the pin.
    timed "$TMP/tc_batch" "${IN[@]}" tc -batch "$TMP/tc.batch"
    timed "$TMP/ip_batch" "${IN[@]}" ip -batch "$TMP/ip.batch"

    # 3. iproute2 as a script would use it: one process per command (inside one shell in
    # the namespace, so only tc/ip are started per pair).
    timed "$TMP/tc_proc" "${IN[@]}" bash -c "for i in \$(seq $N); do
        tc filter add dev bench0 ingress pref 1 handle 1 bpf da pinned $TC_PROG
        tc filter del dev bench0 ingress pref 1 handle 1 bpf
    done"
    timed "$TMP/ip_proc" "${IN[@]}" bash -c "for i in \$(seq $N); do
        ip link set dev bench0 xdpdrv pinned $XDP_PROG
        ip link set dev bench0 xdpdrv off
    done"
    echo "round $r of $ROUNDS done" >&2
done

# Nothing may be left attached.
left=$("${IN[@]}" tc filter show dev bench0 ingress; "${IN[@]}" ip link show dev bench0 | grep -c prog/xdp || true)
[ "$left" = 0 ] || { echo "left attached: $left" >&2; exit 1; }

echo "attach + detach pairs: $N per variant in each of $ROUNDS rounds (medians), driver built $PROFILE,"
echo "kernel $(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| per attach + detach pair | rbpf (library) | iproute2 -batch | iproute2, a process per command | -batch / rbpf | process / rbpf |"
echo "|---|---|---|---|---|---|"
row() { # name rbpf batch proc field
    local a b c
    a=$(field "$2" "$5"); b=$(field "$3" "$5"); c=$(field "$4" "$5")
    echo "| $1 | $a µs | $b µs | $c µs | $(ratio "$b" "$a") | $(ratio "$c" "$a") |"
}
row "tc filter add + del (bpf da), wall" rbpf_tc tc_batch tc_proc 1
row "tc filter add + del (bpf da), CPU" rbpf_tc tc_batch tc_proc 2
row "XDP native attach + detach, wall" rbpf_xdp ip_batch ip_proc 1
row "XDP native attach + detach, CPU" rbpf_xdp ip_batch ip_proc 2
