#!/usr/bin/env bash
# bench/run.sh (`make bench`): rbpf-load against what users would use instead, in one run,
# interleaved, as ratios. Not a test: nothing here asserts a speed.
#
#  1. XDP load + attach + detach (tail-call classifier; xdp_count where iproute2 can load it)
#  2. tc attach of a classifier                    3. load-only, CO-RE and not
#  4. parse-only of each object, kernel BTF         5. the floor: process start + kernel time
#  6. event drain (perf buffer, ring buffer)        7. scale: 1..1000 veth interfaces
#  8. peak RSS of each
#
# Every contender runs as a process started by bench/runner.c (posix_spawn, wall time and
# ru_maxrss from wait4), round after round with the order rotated, inside a network
# namespace and veth pairs made here and removed at exit. Kernel time in bpf(2) and netlink
# calls comes from a probe on sys_enter/sys_exit (bench/ktime.bpf.c, loaded with our own
# library) that times those calls of every command the runner starts, in the same runs as
# the wall times: user-space share = wall - kernel, round by round.
# Writes target/bench/results.md (and prints it).
#
# ROUNDS=N (default 21) rounds for the single-operation jobs; QUICK=1 skips the 1000-device row.
# SECTIONS="ops parse drain scale" (the default: all) runs only the sections named; JOBS=REGEX
# keeps only the single-operation jobs whose name matches (and the no-op, which every floor
# needs), e.g. `SECTIONS=ops JOBS=plain bench/run.sh` for the plain-object rows alone.
# BASE=PATH adds every rbpf job run with another rbpf-load binary (base_*), for before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-21}
SECTIONS=${SECTIONS:-ops parse drain scale}
JOBS=${JOBS:-.}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
OUT=$ROOT/target/bench
BPF=$ROOT/target/bpf
[ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (loads programs, makes namespaces)" >&2; exit 1; }
mkdir -p "$OUT"
say() { printf '\033[1m== [%3ds] %s\033[0m\n' "$SECONDS" "$*" >&2; }

# --- what the contenders need (idempotent) -------------------------------------------------
need_pkgs=()
dpkg -s libbpf-dev >/dev/null 2>&1 || need_pkgs+=(libbpf-dev)
command -v bpftool >/dev/null || need_pkgs+=(bpftool)
command -v gcc >/dev/null || need_pkgs+=(gcc)
command -v nsenter >/dev/null || need_pkgs+=(util-linux)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

say "building: BPF objects, rbpf-load (release), bench drivers, aya loader, C programs"
make -s bpf >/dev/null
# rbpf-load as we would ship it: release, fat LTO, and static (glibc static-pie: no dynamic
# loader, no libgcc_s/libc to map and relocate at each start; 0.15-0.2 ms less per process
# here). The contenders are the distribution's own builds.
HOST=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release -p rbpf-loader --target "$HOST"
(cd bench/rbpf-bench && CARGO_TARGET_DIR=$ROOT/target cargo build -q --release)
(cd bench/aya-loader && CARGO_TARGET_DIR=$OUT/aya cargo build -q --release)
gcc -O2 -Wall -o "$OUT/runner" bench/runner.c
CLANG=$(command -v clang-19 || command -v clang)
"$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -I"$BPF" -c bench/ktime.bpf.c -o "$OUT/ktime.bpf.o"
gcc -O2 -Wall -o "$OUT/drain" bench/drain.c -lbpf
# Applications (`--all`): generated objects of N tracepoint programs sharing one map, and
# for each a libbpf-skeleton loader (bpftool gen skeleton + bench/skel_app.c).
UAPI_INC=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
for n in 3 10 30; do
    bench/app_gen.sh $n >"$OUT/app$n.bpf.c"
    "$CLANG" -O2 -g -target bpf -Wall -idirafter "$UAPI_INC" -c "$OUT/app$n.bpf.c" -o "$OUT/app$n.bpf.o"
    bpftool gen skeleton "$OUT/app$n.bpf.o" name app$n >"$OUT/app$n.skel.h"
    gcc -O2 -Wall -DAPP=app$n -include "$OUT/app$n.skel.h" -o "$OUT/skel_app$n" bench/skel_app.c -lbpf -lelf -lz
done
RBPF=$ROOT/target/$HOST/release/rbpf-load
BENCH=$ROOT/target/release/rbpf-bench
NOOP=$ROOT/target/release/noop
AYA=$OUT/aya/release/aya-loader
RUNNER=$OUT/runner

# --- the lab ----------------------------------------------------------------------------------
TAG=$$
NS=rbpf-bench-$TAG
DA=b${TAG}a DB=b${TAG}b DC=b${TAG}c DD=b${TAG}d
PIN=/sys/fs/bpf/rbpf-bench-$TAG
TMP=$(mktemp -d)
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$PIN" "$TMP"
    rm -rf /sys/fs/bpf/rbpf/*/"$DA"-* /sys/fs/bpf/rbpf/*/"$DB"-* /sys/fs/bpf/rbpf/*/"$DC"-* \
        /sys/fs/bpf/rbpf/*/[st]"$TAG"x* /sys/fs/bpf/rbpf/_clsact/[st]"$TAG"x* /sys/fs/bpf/rbpf/_clsact/"$DA" \
        /sys/fs/bpf/rbpf/_clsact/"$DB" /sys/fs/bpf/rbpf/_clsact/"$DC" 2>/dev/null || true
    rmdir /sys/fs/bpf/rbpf/* /sys/fs/bpf/rbpf 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link add "$DA" type veth peer name "$DB"
ip -n "$NS" link set "$DA" up
ip -n "$NS" link set "$DB" up
# The plain tc row adds and deletes its own clsact on DC, as `tc qdisc add/del` does.
ip -n "$NS" link add "$DC" type veth peer name "$DD"
ip -n "$NS" link set "$DC" up
ip -n "$NS" link set "$DD" up
ip -n "$NS" link set lo up
# bpffs for the pins (a fresh machine may not have it mounted yet).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mkdir -p "$PIN"
# The kernel-time probe: attached until its link pins go with $PIN at exit.
"$BENCH" ktime "$OUT/ktime.bpf.o" "$PIN/ktime"
# tc filters go on DB; its clsact exists before, so no contender creates or deletes it.
ip netns exec "$NS" tc qdisc add dev "$DB" clsact
# Everything runs inside the namespace (nsenter changes only the network namespace, so
# bpffs pins stay visible; `ip -n` would remount /sys and hide them).
IN=(nsenter "--net=/run/netns/$NS")

# --- 1-5, 8: single operations, one runner run ----------------------------------------------
CLS=$BPF/xdp_classifier.bpf.o CNT=$BPF/xdp_count.bpf.o TCO=$BPF/tc_count.bpf.o CORE=$BPF/core_task.bpf.o
# Plain objects: written against the uapi headers, no CO-RE (bpf-src/plain_*.bpf.c).
PXDP=$BPF/plain_xdp.bpf.o PTC=$BPF/plain_tc.bpf.o
cat >"$TMP/jobs.all" <<EOF
job noop
run $NOOP

job rbpf_xdp_cls
run $RBPF $CLS --sec xdp_classifier --dev $DA
run $RBPF detach --dev $DA --xdp
job bpftool_ip_xdp_cls
run bpftool prog loadall $CLS $PIN/cls type xdp pinmaps $PIN/cls/maps
run ip link set dev $DA xdp pinned $PIN/cls/xdp_classify
run ip link set dev $DA xdp off
run rm -rf $PIN/cls

job rbpf_xdp_count
run $RBPF $CNT --sec xdp --dev $DA
run $RBPF detach --dev $DA --xdp
job rbpf_xdp_count_ucore
run $RBPF $CNT --sec xdp --dev $DA --core user
run $RBPF detach --dev $DA --xdp
job ip_xdp_count
run ip link set dev $DA xdp obj $CNT sec xdp
run ip link set dev $DA xdp off
job bpftool_ip_xdp_count
run bpftool prog loadall $CNT $PIN/cnt pinmaps $PIN/cnt/maps
run ip link set dev $DA xdp pinned $PIN/cnt/xdp_count
run ip link set dev $DA xdp off
run rm -rf $PIN/cnt

job rbpf_tc
run $RBPF $TCO --sec tc --prog count_alt --dev $DB --ingress
untimed $RBPF detach --dev $DB --ingress
job tc_tc
run tc filter add dev $DB ingress bpf da obj $TCO sec tc
untimed tc filter del dev $DB ingress

job rbpf_load_cls
run $RBPF load $CLS
job bpftool_load_cls
run bpftool prog loadall $CLS $PIN/lcls type xdp pinmaps $PIN/lcls/maps
untimed rm -rf $PIN/lcls
job rbpf_load_count
run $RBPF load $CNT
job rbpf_load_count_ucore
run $RBPF load $CNT --core user
job bpftool_load_count
run bpftool prog loadall $CNT $PIN/lcnt pinmaps $PIN/lcnt/maps
untimed rm -rf $PIN/lcnt

job rbpf_core
run $RBPF load $CORE
job rbpf_core_ucore
run $RBPF load $CORE --core user
job bpftool_core
run bpftool prog load $CORE $PIN/core
untimed rm -f $PIN/core
job aya_core
run $AYA $CORE

job rbpf_inspect_cls
run $RBPF inspect $CLS
job rbpf_inspect_core
run $RBPF inspect $CORE

job rbpf_load_plain
run $RBPF load $PXDP
job bpftool_load_plain
run bpftool prog loadall $PXDP $PIN/lpl type xdp pinmaps $PIN/lpl/maps
untimed rm -rf $PIN/lpl

job rbpf_xdp_plain
run $RBPF $PXDP --sec xdp --prog plain_dispatch --dev $DA
run $RBPF detach --dev $DA --xdp
job bpftool_ip_xdp_plain
run bpftool prog loadall $PXDP $PIN/pxdp type xdp pinmaps $PIN/pxdp/maps
run ip link set dev $DA xdp pinned $PIN/pxdp/plain_dispatch
run ip link set dev $DA xdp off
run rm -rf $PIN/pxdp

job rbpf_tc_plain
run $RBPF $PTC --sec tc --dev $DC --ingress
run $RBPF detach --dev $DC --ingress
job tc_tc_plain
run tc qdisc add dev $DC clsact
run tc filter add dev $DC ingress bpf da obj $PTC sec tc
run tc filter del dev $DC ingress
run tc qdisc del dev $DC clsact

EOF
# Applications: `--all` of N tracepoint programs (one process, the pins removed untimed), the
# same followed by `detach --pin` (both timed), and a libbpf skeleton's open_and_load +
# attach + destroy in one process.
for n in 3 10 30; do
    cat <<EOF
job rbpf_app_$n
run $RBPF $OUT/app$n.bpf.o --all --pin $PIN/app$n
untimed $RBPF detach --pin $PIN/app$n
job rbpf_app_pair_$n
run $RBPF $OUT/app$n.bpf.o --all --pin $PIN/app$n
run $RBPF detach --pin $PIN/app$n
job skel_app_$n
run $OUT/skel_app$n

EOF
done >>"$TMP/jobs.all"
cat >>"$TMP/jobs.all" <<EOF
ratio rbpf_xdp_cls bpftool_ip_xdp_cls
ratio rbpf_xdp_count ip_xdp_count
ratio rbpf_xdp_count bpftool_ip_xdp_count
ratio rbpf_xdp_count_ucore ip_xdp_count
ratio rbpf_tc tc_tc
ratio rbpf_load_cls bpftool_load_cls
ratio rbpf_load_count bpftool_load_count
ratio rbpf_core bpftool_core
ratio rbpf_core aya_core
ratio rbpf_load_count_ucore bpftool_load_count
ratio rbpf_core_ucore bpftool_core
ratio rbpf_core_ucore aya_core
ratio rbpf_load_plain bpftool_load_plain
ratio rbpf_xdp_plain bpftool_ip_xdp_plain
ratio rbpf_tc_plain tc_tc_plain
ratio rbpf_app_3 skel_app_3
ratio rbpf_app_pair_3 skel_app_3
ratio rbpf_app_10 skel_app_10
ratio rbpf_app_pair_10 skel_app_10
ratio rbpf_app_30 skel_app_30
ratio rbpf_app_pair_30 skel_app_30
EOF
# JOBS=REGEX: the jobs whose name matches, the no-op, and the ratios between kept jobs.
awk -v re="$JOBS" '
$1 == "job" { keep = ($2 == "noop" || $2 ~ re); if (keep) kept[$2] = 1 }
$1 == "ratio" { if (($2 in kept) && ($3 in kept)) print; next }
keep || $1 == "" { print }' "$TMP/jobs.all" >"$TMP/jobs"
# BASE=PATH: every rbpf job again as base_* with the rbpf-load at PATH (e.g. a build of
# main), and the ratio of each to its base: what a change did, in the same rounds.
if [ -n "${BASE:-}" ]; then
    awk -v base="$BASE" -v rbpf="$RBPF" '
    $1 == "job" { on = ($2 ~ /^rbpf_/ && $2 !~ /^rbpf_inspect/); if (on) names[++n] = $2 }
    on && $1 == "job" { print "job base_" substr($2, 6); next }
    on && ($1 == "run" || $1 == "untimed") { line = $0; gsub(rbpf, base, line); print line }
    END { for (i = 1; i <= n; i++) print "ratio " names[i] " base_" substr(names[i], 6) }' "$TMP/jobs" >>"$TMP/jobs"
fi
: >"$OUT/ops.tsv"
if want ops; then
    say "single operations: $ROUNDS rounds, interleaved"
    "${IN[@]}" "$RUNNER" -r "$ROUNDS" -w 2 -l "$OUT/runner.log" -k "$PIN/ktime" "$TMP/jobs" >"$OUT/ops.tsv"
fi

# --- 4. parse-only, kernel BTF; 6. event drain (in-process drivers; peak RSS from time -f) --
: >"$OUT/parse.txt"
: >"$OUT/kbtf.txt"
echo "rss 0" >"$OUT/parse.rss"
echo "rss 0" >"$OUT/kbtf.rss"
want parse && {
say "parse-only and kernel BTF"
"$BENCH" parse 200 "$BPF"/*.bpf.o >"$OUT/parse.txt"
/usr/bin/time -f "rss %M" -o "$OUT/parse.rss" "$BENCH" parse 1 "$BPF"/*.bpf.o >/dev/null
"$BENCH" kbtf 15 >"$OUT/kbtf.txt"
# The same in a fresh process each time (what one load pays): 15 processes, medians.
for i in $(seq 15); do "$BENCH" klazy; done >"$TMP/klazy"
for f in 2:open 5:find; do
    echo "kbtf:cold_${f#*:} $(cut -d' ' -f"${f%%:*}" "$TMP/klazy" | sort -n | sed -n 8p | awk '{printf "%.2f", $1 / 1000}') ms"
done >>"$OUT/kbtf.txt"
/usr/bin/time -f "rss %M" -o "$OUT/kbtf.rss" "$BENCH" kbtf 1 >/dev/null
}

# Between processes the same binary's rate varies by up to 1.6x on this shared machine, so
# ours and libbpf's run in pairs (who goes first alternates) and the report takes the median
# of the pairs' ratios. Both are pinned to one CPU: BPF_PROG_TEST_RUN writes the events on
# the CPU the process is on, and a process the scheduler moved to the other core before the
# drain reads them from the other core's cache (a slow mode ~1.4x below, for either reader).
: >"$OUT/drain.txt"
want drain && {
say "event drain: 4000 events per round, 200 rounds, ours and libbpf in 9 pairs"
DRAIN_CPU=$(($(nproc) - 1))
for i in 1 2 3 4 5 6 7 8 9; do
    order=(rbpf libbpf) && [ $((i % 2)) = 0 ] && order=(libbpf rbpf)
    for who in "${order[@]}"; do
        bin=$BENCH && [ $who = libbpf ] && bin=$OUT/drain
        [ $who = rbpf ] && sub=(drain) || sub=()
        /usr/bin/time -f "rss %M" -o "$TMP/rss" taskset -c "$DRAIN_CPU" "$bin" "${sub[@]}" perf "$BPF/tc_flow.bpf.o" tc_flow_ingress events 4000 200 |
            sed "s/^/$who /" >>"$OUT/drain.txt"
        echo "$who rss:perf $(awk '{print $2}' "$TMP/rss")" >>"$OUT/drain.txt"
        /usr/bin/time -f "rss %M" -o "$TMP/rss" taskset -c "$DRAIN_CPU" "$bin" "${sub[@]}" rb "$BPF/tc_flow_rb.bpf.o" tc_flow_rb_ingress rb 4000 200 |
            sed "s/^/$who /" >>"$OUT/drain.txt"
        echo "$who rss:rb $(awk '{print $2}' "$TMP/rss")" >>"$OUT/drain.txt"
    done
done
}

# --- 7. scale: one tc program on 1, 10, 100, 1000 veth interfaces ------------------------------
NDEV=1000
[ "${QUICK:-0}" = 1 ] && NDEV=100
want scale || NDEV=0
[ "$NDEV" = 0 ] || say "scale: $((NDEV / 2)) veth pairs ($NDEV interfaces)"
for ((i = 0; i < NDEV / 2; i++)); do echo "link add s${TAG}x$i type veth peer name t${TAG}x$i"; done >"$TMP/mk"
[ "$NDEV" = 0 ] || ip -n "$NS" -batch "$TMP/mk"
DEVS=()
for ((i = 0; i < NDEV / 2; i++)); do DEVS+=("s${TAG}x$i" "t${TAG}x$i"); done
: >"$OUT/scale.tsv"
for n in 1 10 100 1000; do
    [ "$n" -le "$NDEV" ] || continue
    devs=("${DEVS[@]:0:n}")
    for d in "${devs[@]}"; do
        echo "qdisc add dev $d clsact"
        echo "filter add dev $d ingress bpf da obj $TCO sec tc"
    done >"$TMP/add$n"
    for d in "${devs[@]}"; do echo "qdisc del dev $d clsact"; done >"$TMP/del$n"
    {
        echo "rm -rf $(for d in "${devs[@]}"; do printf '/sys/fs/bpf/rbpf/tc_count/%s-ingress-1-1 /sys/fs/bpf/rbpf/_clsact/%s ' "$d" "$d"; done)"
        echo "rmdir /sys/fs/bpf/rbpf/tc_count /sys/fs/bpf/rbpf/_clsact /sys/fs/bpf/rbpf 2>/dev/null || true"
        echo "tc -batch $TMP/del$n"
    } >"$TMP/clean$n.sh"
    {
        echo "job tc_batch_$n"
        echo "run tc -batch $TMP/add$n"
        echo "untimed tc -batch $TMP/del$n"
        echo "job rbpf_lib_$n"
        echo "run $BENCH scale $TCO count_alt ${devs[*]}"
        echo "untimed tc -batch $TMP/del$n"
        echo "job rbpf_cli_$n"
        for d in "${devs[@]}"; do echo "run $RBPF $TCO --sec tc --prog count_alt --dev $d --ingress"; done
        echo "untimed bash $TMP/clean$n.sh"
        echo "job rbpf_multi_$n"
        echo "run $RBPF $TCO --sec tc --prog count_alt --ingress$(printf ' --dev %s' "${devs[@]}")"
        echo "untimed bash $TMP/clean$n.sh"
        echo "ratio rbpf_lib_$n tc_batch_$n"
        echo "ratio rbpf_cli_$n tc_batch_$n"
        echo "ratio rbpf_multi_$n tc_batch_$n"
    } >"$TMP/scale$n"
    # Fewer rounds as N grows (1000 interfaces: ~30 s a round for tc); the small sizes warm up.
    case $n in 1 | 10) r=15 w=1 ;; 100) r=5 w=1 ;; *) r=3 w=0 ;; esac
    "${IN[@]}" "$RUNNER" -r $r -w $w -l "$OUT/runner.log" "$TMP/scale$n" >>"$OUT/scale.tsv"
done

say "done; writing target/bench/results.md"
bench/report.sh "$OUT" | tee "$OUT/results.md"
