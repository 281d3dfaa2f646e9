#!/usr/bin/env bash
# bench/report.sh DIR: the markdown tables of bench/run.sh from the files it left in DIR.
set -euo pipefail
D=$1
cat "$D/ops.tsv" "$D/scale.tsv" 2>/dev/null | sed 's/^/ops /' >"$D/.all"
sed 's/^/parse /' "$D/parse.txt" "$D/kbtf.txt" >>"$D/.all"
sed 's/^/drain /' "$D/drain.txt" >>"$D/.all"
echo "kbtfrss $(awk '{print $2}' "$D/kbtf.rss")" >>"$D/.all"
echo "parserss $(awk '{print $2}' "$D/parse.rss")" >>"$D/.all"

awk -v cores="$(nproc)" -v kernel="$(uname -r)" -v date="$(date -u +%Y-%m-%dT%H:%MZ)" '
function ms(us) { return sprintf("%.2f", us / 1000) }
function mb(kb) { return sprintf("%.1f", kb / 1024) }
function yes(ok) { return ok ? "**met**" : "not met" }
$1 == "ops" && $2 == "job" { med[$3] = $4; q1[$3] = $5; q3[$3] = $6; rss[$3] = $8; n[$3] = $9; order[++nj] = $3 }
$1 == "ops" && $2 == "ratio" { rr[$3 "/" $4] = $5; rm[$3 "/" $4] = $6 }
$1 == "ops" && $2 == "kjob" { kt[$3] = $4; um[$3] = $5; uq1[$3] = $6; uq3[$3] = $7; kc[$3] = $8 }
$1 == "ops" && $2 == "uratio" { ur[$3 "/" $4] = $5 }
$1 == "parse" { p[$2] = $3; pu[$2] = $4; po[++np] = $2 }
$1 == "drain" && $3 ~ /^drain:/ { d[$2, $3] = d[$2, $3] " " $4 }
$1 == "drain" && $3 ~ /^rss:/ { if ($4 > drss[$2, $3]) drss[$2, $3] = $4 }
$1 == "kbtfrss" { kbtfrss = $2 }
$1 == "parserss" { parserss = $2 }
function med3(s,   a, k) { k = split(s, a, " "); asort_(a, k); return a[int((k + 1) / 2)] }
# Median of the ratios of the i-th values of two lists (runs made in pairs).
function pairmed(s, t,   a, b, q, k, i) { k = split(s, a, " "); split(t, b, " "); for (i = 1; i <= k; i++) q[i] = a[i] / b[i]; asort_(q, k); return q[int((k + 1) / 2)] }
function asort_(a, k,   i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
# User-space share: wall minus kernel time of the same run, the ratio taken round by round
# (the XDP attach and detach on veth vary by 10 ms and more between runs in the kernel).
function share(what, a, b,   r) {
    if (!((a "/" b) in ur)) return
    r = ur[a "/" b]
    printf "| %s | %.3f× (medians %s vs %s ms) | ≤ 0.25× | %s |\n", what, r, ms(um[a]), ms(um[b]), yes(r <= 0.25)
}
function procs(j) { return (j ~ /(xdp_(cls|count)(_ucore)?|xdp_plain|tc_plain)$/ && j ~ /^rbpf/) ? 2 : 1 }
# A goal row: the ratio a/b of the same run against a target (only when both jobs ran).
function goal(what, a, b, target,   r) {
    if (!((a "/" b) in rr)) return
    r = rr[a "/" b]
    printf "| %s | %.2f× | ≤ %s× | %s |\n", what, r, target, yes(r <= target)
}
END {
    printf "Run %s, kernel %s, %d cores shared with other work (medians; IQR = quartiles).\n\n", date, kernel, cores
    print "### Single operations (each a fresh process, as a user runs it)\n"
    print "| job | median ms | IQR ms | kernel ms (bpf+netlink) | calls | user-space ms (IQR) | peak RSS MB | rounds |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nj; i++) {
        j = order[i]
        if (j ~ /^(tc_batch|rbpf_lib|rbpf_cli|rbpf_multi)_/) continue
        k = (j in kt) ? ms(kt[j]) : "-"
        c = (j in kc) ? kc[j] : "-"
        u = (j in kt) ? sprintf("%s (%s-%s)", ms(um[j]), ms(uq1[j]), ms(uq3[j])) : "-"
        printf "| %s | %s | %s-%s | %s | %s | %s | %s | %d |\n", j, ms(med[j]), ms(q1[j]), ms(q3[j]), k, c, u, mb(rss[j]), n[j]
    }
    print "\n### Goals (ratios from the same run: median over rounds of ours / theirs)\n"
    print "| goal | measured | target | |"
    print "|---|---|---|---|"
    goal("load-only, CO-RE (vmlinux.h): xdp_classifier vs `bpftool prog loadall`", "rbpf_load_cls", "bpftool_load_cls", 0.8)
    goal("load-only, CO-RE (vmlinux.h): xdp_count vs `bpftool prog loadall`", "rbpf_load_count", "bpftool_load_count", 0.8)
    goal("load-only, CO-RE (core_task) vs `bpftool prog load`", "rbpf_core", "bpftool_core", 0.4)
    goal("load-only, CO-RE (core_task) vs aya", "rbpf_core", "aya_core", 0.4)
    if ("rbpf_load_count_ucore/bpftool_load_count" in rr) printf "| load-only, `--core user`: xdp_count vs bpftool / core_task vs bpftool / core_task vs aya | %.2f× / %.2f× / %.2f× | ≤ 0.8× / 0.4× / 0.4× | %s |\n", rr["rbpf_load_count_ucore/bpftool_load_count"], rr["rbpf_core_ucore/bpftool_core"], rr["rbpf_core_ucore/aya_core"], yes(rr["rbpf_load_count_ucore/bpftool_load_count"] <= 0.8 && rr["rbpf_core_ucore/bpftool_core"] <= 0.4 && rr["rbpf_core_ucore/aya_core"] <= 0.4)
    goal("tc attach vs `tc filter add ... bpf da obj`", "rbpf_tc", "tc_tc", 0.5)
    goal("plain (no CO-RE) load-only: plain_xdp vs `bpftool prog loadall`", "rbpf_load_plain", "bpftool_load_plain", 0.9)
    goal("plain tc attach + detach: plain_tc vs `tc qdisc add clsact` + `tc filter add ... bpf da obj` + `tc filter del` + `tc qdisc del`", "rbpf_tc_plain", "tc_tc_plain", 0.45)
    if ("rbpf_xdp_plain/bpftool_ip_xdp_plain" in rr) printf "| plain XDP load+attach+detach (plain_xdp, tail calls) vs `bpftool prog loadall` + `ip link set xdp pinned`: wall / user-space share (medians %s vs %s ms) | %.2f× / %.3f× | (for scale) | |\n", ms(um["rbpf_xdp_plain"]), ms(um["bpftool_ip_xdp_plain"]), rr["rbpf_xdp_plain/bpftool_ip_xdp_plain"], ur["rbpf_xdp_plain/bpftool_ip_xdp_plain"]
    share("XDP load+attach+detach, user-space share (wall - kernel) vs `ip link set xdp obj` (xdp_count)", "rbpf_xdp_count", "ip_xdp_count")
    share("XDP load+attach+detach, user-space share, `--core user` vs `ip link set xdp obj` (xdp_count)", "rbpf_xdp_count_ucore", "ip_xdp_count")
    share("XDP tail-call classifier, user-space share vs `bpftool prog loadall` + `ip link set xdp pinned`", "rbpf_xdp_cls", "bpftool_ip_xdp_cls")
    if ("rbpf_xdp_cls/bpftool_ip_xdp_cls" in rr) printf "| XDP wall time, classifier vs bpftool + ip / xdp_count vs ip | %.2f× / %.2f× | (for scale) | |\n", rr["rbpf_xdp_cls/bpftool_ip_xdp_cls"], rr["rbpf_xdp_count/ip_xdp_count"]
    # The plain load-only floor goal is tighter (≤ 1.15×): nothing but process start and the kernel.
    split("rbpf_xdp_cls rbpf_xdp_count rbpf_xdp_count_ucore rbpf_tc rbpf_load_cls rbpf_load_count rbpf_core rbpf_load_count_ucore rbpf_core_ucore rbpf_load_plain rbpf_xdp_plain rbpf_tc_plain", ours, " ")
    for (i = 1; i <= 12; i++) {
        j = ours[i]
        if (!(j in med) || !("noop" in med)) continue
        fl = procs(j) * med["noop"] + kt[j]; t = j == "rbpf_load_plain" ? 1.15 : 1.5
        printf "| %s wall vs floor (%d × no-op start %s ms + kernel %s ms = %s ms) | %.2f× | ≤ %s× | %s |\n", j, procs(j), ms(med["noop"]), ms(kt[j]), ms(fl), med[j] / fl, t, yes(med[j] / fl <= t)
    }
    # Applications (`--all`, N tracepoint programs): one process against its floor, and the
    # pair `--all` + `detach --pin` against a libbpf skeleton doing open, load, attach and destroy.
    split("3 10 30", apps, " ")
    for (i = 1; i <= 3; i++) {
        j = "rbpf_app_" apps[i]
        if (!(j in med) || !("noop" in med)) continue
        fl = med["noop"] + kt[j]
        printf "| `--all`, %d tracepoint programs, wall vs floor (no-op start %s ms + kernel %s ms = %s ms) | %.2f× | ≤ 1.3× | %s |\n", apps[i], ms(med["noop"]), ms(kt[j]), ms(fl), med[j] / fl, yes(med[j] / fl <= 1.3)
    }
    for (i = 1; i <= 3; i++) {
        a = "rbpf_app_pair_" apps[i]; b = "skel_app_" apps[i]
        if (!((a "/" b) in ur)) continue
        o = "rbpf_app_" apps[i]
        printf "| `--all` + `detach --pin`, %d tracepoint programs, user-space share vs a libbpf skeleton (medians %s vs %s ms; wall %s vs %s ms; `--all` alone: %s ms, %.3f×) | %.3f× | ≤ 0.3× | %s |\n", apps[i], ms(um[a]), ms(um[b]), ms(med[a]), ms(med[b]), ms(um[o]), ur[o "/" b], ur[a "/" b], yes(ur[a "/" b] <= 0.3)
    }
    for (k = 1; k <= 2 && (("rbpf", "drain:perf") in d); k++) {
        kind = k == 1 ? "perf" : "rb"
        o = med3(d["rbpf", "drain:" kind]); l = med3(d["libbpf", "drain:" kind])
        r = pairmed(d["rbpf", "drain:" kind], d["libbpf", "drain:" kind])
        printf "| event drain, %s: ours vs libbpf (medians %.1f vs %.1f M events/s; median of the pairs) | %.2f× | ≥ 1× | %s |\n", kind == "perf" ? "perf event array" : "ring buffer", o / 1e6, l / 1e6, r, yes(r >= 1)
    }
    if ("tc_batch_1" in med) printf "| scale: library, 1000 interfaces vs `tc -batch` | %s | ≤ 0.5× | %s |\n", ("rbpf_lib_1000/tc_batch_1000" in rr) ? sprintf("%.2f×", rr["rbpf_lib_1000/tc_batch_1000"]) : "-", yes(rr["rbpf_lib_1000/tc_batch_1000"] != "" && rr["rbpf_lib_1000/tc_batch_1000"] <= 0.5)
    if ("tc_batch_1" in med) printf "| scale: CLI (a process per interface), 1000 interfaces vs `tc -batch` | %s | ≤ 0.5× | %s |\n", ("rbpf_cli_1000/tc_batch_1000" in rr) ? sprintf("%.2f×", rr["rbpf_cli_1000/tc_batch_1000"]) : "-", yes(rr["rbpf_cli_1000/tc_batch_1000"] != "" && rr["rbpf_cli_1000/tc_batch_1000"] <= 0.5)
    if ("tc_batch_1" in med) printf "| scale: CLI, one process with 1000 `--dev`, vs `tc -batch` | %s | ≤ 0.5× | %s |\n", ("rbpf_multi_1000/tc_batch_1000" in rr) ? sprintf("%.2f×", rr["rbpf_multi_1000/tc_batch_1000"]) : "-", yes(rr["rbpf_multi_1000/tc_batch_1000"] != "" && rr["rbpf_multi_1000/tc_batch_1000"] <= 0.5)
    if ("rbpf_core" in rss) printf "| peak RSS, CO-RE load (default / `--core user`) | %s / %s MB | ≤ 16 MB | %s |\n", mb(rss["rbpf_core"]), mb(rss["rbpf_core_ucore"]), yes(rss["rbpf_core"] <= 16384 && rss["rbpf_core_ucore"] <= 16384)
    if ("tc_batch_1" in med) print "\n### Scale: one tc program on N veth interfaces (clsact + filter on each)\n"
    if ("tc_batch_1" in med) print "| N | `tc -batch` ms | library, one process ms | CLI, a process per interface ms | CLI, one process, N `--dev` ms | library / tc | CLI / tc | CLI N `--dev` / tc | per interface: tc / lib / CLI / CLI N `--dev` ms | peak RSS MB tc / lib / CLI / CLI N `--dev` |"
    if ("tc_batch_1" in med) print "|---|---|---|---|---|---|---|---|---|---|"
    split("1 10 100 1000", ns, " ")
    for (i = 1; i <= 4; i++) {
        m = ns[i]
        if (!(("tc_batch_" m) in med)) continue
        t = med["tc_batch_" m]; l = med["rbpf_lib_" m]; c = med["rbpf_cli_" m]; x = med["rbpf_multi_" m]
        printf "| %d | %s | %s | %s | %s | %.2f× | %.2f× | %.2f× | %s / %s / %s / %s | %s / %s / %s / %s |\n", m, ms(t), ms(l), ms(c), ms(x), rr["rbpf_lib_" m "/tc_batch_" m], rr["rbpf_cli_" m "/tc_batch_" m], rr["rbpf_multi_" m "/tc_batch_" m], ms(t / m), ms(l / m), ms(c / m), ms(x / m), mb(rss["tc_batch_" m]), mb(rss["rbpf_lib_" m]), mb(rss["rbpf_cli_" m]), mb(rss["rbpf_multi_" m])
    }
    if (!(("rbpf", "drain:perf") in d)) nodrain = 1
    if (!nodrain) print "\n### Event drain (4000 events per round made by BPF_PROG_TEST_RUN, drained with no loss; median of 200 rounds per run, medians of 9 runs, ratio: median over the 9 pairs)\n"
    if (!nodrain) print "| reader | ours M events/s | libbpf M events/s | ours / libbpf | peak RSS MB ours / libbpf |"
    if (!nodrain) print "|---|---|---|---|---|"
    for (k = 1; k <= 2 && !nodrain; k++) {
        kind = k == 1 ? "perf" : "rb"
        o = med3(d["rbpf", "drain:" kind]); l = med3(d["libbpf", "drain:" kind])
        printf "| %s | %.1f | %.1f | %.2f× | %s / %s |\n", kind == "perf" ? "perf event array (`perf_buffer`)" : "ring buffer (`ring_buffer`)", o / 1e6, l / 1e6, pairmed(d["rbpf", "drain:" kind], d["libbpf", "drain:" kind]), mb(drss["rbpf", "rss:" kind]), mb(drss["libbpf", "rss:" kind])
    }
    if (np == 0) exit
    print "\n### Parse-only (Object::from_file in one process, median of 200) and the kernel BTF\n"
    print "| object | µs |"
    print "|---|---|"
    for (i = 1; i <= np; i++) {
        j = po[i]
        if (j ~ /^parse:/) printf "| %s | %s |\n", substr(j, 7), p[j]
    }
    printf "\nParse-only through the CLI, a process each (`rbpf-load inspect`, in the runner above): xdp_classifier %s ms, core_task %s ms (no-op process %s ms).\n", ms(med["rbpf_inspect_cls"]), ms(med["rbpf_inspect_core"]), ms(med["noop"])
    printf "\nKernel BTF (/sys/kernel/btf/vmlinux, median of 15): decoded whole (`Btf::kernel`) %s ms + name index %s ms; as loading uses it (`Btf::kernel_lazy`) open %s ms + find `task_struct` and decode its members %s ms in a warm process, %s + %s ms in a fresh one (`rbpf-bench klazy`, what one load pays). Peak RSS of a process doing all of it: %s MB. Parsing every object once: peak RSS %s MB.\n", p["kbtf:parse"], p["kbtf:index"], p["kbtf:lazy_open"], p["kbtf:lazy_find"], p["kbtf:cold_open"], p["kbtf:cold_find"], mb(kbtfrss), mb(parserss)
}' "$D/.all"
rm -f "$D/.all"
