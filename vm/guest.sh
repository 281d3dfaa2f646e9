#!/bin/sh
# Runs inside the test VM (busybox sh, outside the chroot): each line of /mnt/plan.tsv
# (LABEL DIR EXECUTABLE LINE ARGS, made by vm/plan.py) runs as `chroot /host` from DIR with
# RBPF_REQUIRE_PRIV=1 and RBPF_VM_KERNEL set. Prints per binary its libtest summary lines
# (and the failures when it failed), keeps the full output in /mnt/logs/KERNEL/, and exits
# non-zero when any binary failed, when none ran, or when the binaries of a line of
# vm/tests.list (LINE) ran no test between them (a mistyped name filter matches nothing,
# and libtest calls that a success).
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
kver=$(arg vmkernel)
per_binary=$(arg vmtesttimeout)
now() { cut -d' ' -f1 /proc/uptime; }
echo "VM: kernel $(uname -r) (expected ${kver:-?}), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB"
logs=/mnt/logs/$kver
mkdir -p "$logs"
tab=$(printf '\t')
n=0 failed=0
lines=
while IFS="$tab" read -r label dir exe line args; do
	n=$((n + 1))
	name=$label${args:+ $args}
	log=$logs/$n-$(echo "$label" | tr ':/' '__').log
	t0=$(now)
	# shellcheck disable=SC2086 # ARGS are words from tests.list
	timeout "${per_binary:-240}" chroot /host /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp \
		RBPF_REQUIRE_PRIV=1 RBPF_VM_KERNEL="$kver" CARGO_MANIFEST_DIR="$dir" \
		/bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$exe" $args </dev/null >"$log" 2>&1
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b - a}')
	if [ $rc = 0 ]; then
		echo "== $name: ok (${secs}s)"
	else
		failed=$((failed + 1))
		why="exit $rc"
		[ $rc = 143 ] && why="killed after ${per_binary:-240}s"
		echo "== $name: FAILED, $why (${secs}s); output:"
		if grep -q '^failures:$' "$log"; then sed -n '/^failures:$/,$p' "$log"; else tail -n 60 "$log"; fi |
			grep -Ev '^(running [0-9]+ tests?|test result:)'
	fi
	grep -E '^(running [0-9]+ tests?|test result:)' "$log"
	# Tests that ran (passed or failed; not ignored, not filtered out), per tests.list line.
	ran=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed;.*/\1 \2/p' "$log" |
		awk '{ n += $1 + $2 } END { print n + 0 }')
	case " $lines " in *" $line "*) ;; *) lines="$lines $line" ;; esac
	eval "ran_$line=\$(( \${ran_$line:-0} + ran ))"
	eval "what_$line=\$label\${args:+ \$args}"
done </mnt/plan.tsv
for line in $lines; do
	if [ "$(eval echo "\$ran_$line")" = 0 ]; then
		failed=$((failed + 1))
		echo "== vm/tests.list line $line ($(eval echo "\$what_$line")): FAILED, no test ran (a name filter that matches nothing?)"
	fi
done
echo "VM: kernel $(uname -r): $n test binaries run, $failed failed"
[ $n -gt 0 ] || exit 98
[ $failed = 0 ]
