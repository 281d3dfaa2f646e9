#!/usr/bin/env bash
# Run every fuzz target for SECS seconds each (libFuzzer through cargo-fuzz), one line of
# results per target; on a crash, the tail of its log and the input that crashed it, and
# a non-zero exit.
#   fuzz/run.sh SECS              all targets
#   TARGETS="obj_parse reloc" fuzz/run.sh SECS
# Stable Rust has no -Z flags, but cargo-fuzz needs -Zsanitizer and friends:
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them (there is no nightly here).
set -uo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
export RUSTC_BOOTSTRAP=1
# Allocation bounded by input size: inputs stay under ~64 KiB (the largest seed, an object
# without DWARF), so no single allocation may reach 64 MiB (1000 times that). The whole
# process stays under 2 GiB: ASan's quarantine and libFuzzer's corpus take most of the
# 400-750 MiB seen in 8-minute runs.
LIMITS=(-rss_limit_mb=2048 -malloc_limit_mb=64 -timeout=10)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked --quiet || exit 1
fi
./seed.sh >/dev/null || exit 1
mkdir -p logs
if ! cargo fuzz build >logs/build.log 2>&1; then
    tail -30 logs/build.log
    echo "fuzz: build failed (fuzz/logs/build.log)"
    exit 1
fi
status=0
for t in ${TARGETS:-$(cargo fuzz list)}; do
    log=logs/$t.log
    cargo fuzz run "$t" -- -max_total_time="$SECS" "${LIMITS[@]}" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    corpus=$(ls "corpus/$t" | wc -l)
    if [[ $rc -eq 0 ]]; then
        printf 'fuzz %-14s %4ss  %9s execs  %s  corpus %s  peak rss %s MiB  ok\n' \
            "$t" "$SECS" "${execs:-?}" "${cov:-cov: ?}" "$corpus" "${rss:-?}"
    else
        status=1
        tail -40 "$log"
        printf 'fuzz %-14s CRASH (exit %s): %s\n' "$t" "$rc" "$(grep -o 'artifacts/[^ ]*' "$log" | tail -1)"
    fi
done
exit $status
