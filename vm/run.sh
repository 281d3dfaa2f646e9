#!/bin/bash
# `make test-vm`: run the privileged test binaries inside Debian's stock kernels under QEMU.
# 1. install QEMU & co (deps.sh); 2. build the test binaries on the host (cargo test
# --no-run) and pick them with tests.list (plan.py); 3. per kernel: fetch it (cached under
# target/vm/), build its initramfs (cached), boot it with the host's root shared read-only
# and run guest.sh there. Exits non-zero when any test fails in any kernel.
# env: VM_KERNELS (meta-packages), VM_TIMEOUT (per kernel, s), VM_TEST_TIMEOUT (per test
#      binary, s), VM_MEM, VM_SMP, CARGO, VM_TESTS_LIST (a list in tests.list's format to
#      run instead of vm/tests.list, to iterate on a few tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$root/target/vm
share=$work/share
kernels=${VM_KERNELS:-linux-image-amd64 linux-image-6.12-amd64}
start=${EPOCHREALTIME/./}
secs() { local us=$((${EPOCHREALTIME/./} - $1)); printf '%d.%01d' $((us / 1000000)) $((us / 100000 % 10)); }
lap() { printf '[vm %6ss] %s\n' "$(secs "$start")" "$*"; }
cd "$root"
mkdir -p "$work"

"$here/deps.sh"
lap "host tools ready"

# The tests run from the host's filesystem: build them (and the CLI they may call) here.
${CARGO:-cargo} test --no-run --workspace --message-format=json-render-diagnostics >"$work/cargo.json"
${CARGO:-cargo} build -p rbpf-loader --bin rbpf-load --quiet
rm -rf "$share" && mkdir -p "$share"
python3 "$here/plan.py" "${VM_TESTS_LIST:-$here/tests.list}" <"$work/cargo.json" >"$share/plan.tsv"
cp "$here/guest.sh" "$share/guest.sh"
# The guest sees the host's files read-only and covers /tmp, /run and /dev/shm with its own
# tmpfs; a workspace there is put back at its path (init.sh, wspath=). Anything else there
# (a target dir elsewhere under /tmp) would be hidden.
root=$(cd "$here/.." && pwd)
wspath=
grep -Eq '^/(tmp|run|dev/shm)(/|$)' <<<"$root" && wspath=$root
if cut -f2,3 "$share/plan.tsv" | tr '\t' '\n' | grep -E '^/(tmp|run|dev/shm)(/|$)' | grep -v "^$root/" ||
	{ grep -Eq '^/(tmp|run|dev/shm)(/|$)' <<<"$share" && [ "${share#"$root"/}" = "$share" ]; }; then
	echo "vm: test binaries or the share outside the workspace are under /tmp, /run or /dev/shm" >&2
	exit 1
fi
lap "test binaries built: $(wc -l <"$share/plan.tsv") runs per kernel (${VM_TESTS_LIST:-vm/tests.list})"

rc=0 summary=()
for meta in $kernels; do
	kdir=$("$here/fetch-kernel.sh" "$meta" "$work")
	kver=$(ls "$kdir/lib/modules")
	initrd=$kdir.cpio.gz
	if [ ! -e "$initrd" ] || [ -n "$(find "$here/init.sh" "$here/modules.list" "$here/build-initramfs.sh" \
		"$here/modclosure.py" /bin/busybox -newer "$initrd")" ]; then
		"$here/build-initramfs.sh" "$kdir" "$initrd"
	fi
	# the ELF kernel boots seconds faster under TCG than the bzImage (vmlinux.py says why)
	kernel=$(echo "$kdir"/boot/vmlinuz-*)
	if grep -qs '^CONFIG_PVH=y' "$kdir"/boot/config-*; then
		[ -e "$kdir/vmlinux" ] || "$here/vmlinux.py" "$kernel" "$kdir/vmlinux" || true
		[ -e "$kdir/vmlinux" ] && kernel=$kdir/vmlinux
	fi
	lap "$meta: $kver ready"
	t0=${EPOCHREALTIME/./}
	krc=0
	HOSTROOT=1 VM_APPEND="vmkernel=$kver vmtesttimeout=${VM_TEST_TIMEOUT:-240}${wspath:+ wspath=$wspath}" \
		"$here/run-vm.sh" "$kernel" "$initrd" /mnt/guest.sh "$share" | sed -u "s/^/[$kver] /" ||
		krc=$?
	[ "$krc" = 0 ] && verdict=ok || { verdict="FAILED (rc $krc)"; rc=1; }
	summary+=("$(printf '%-26s %-12s %6ss' "$kver" "$verdict" "$(secs "$t0")")")
	lap "$kver done: $verdict"
done
echo "VM test summary (full logs: target/vm/share/logs/KERNEL/):"
printf '  %s\n' "${summary[@]}"
lap "total"
exit $rc
