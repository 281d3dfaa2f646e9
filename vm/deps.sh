#!/bin/bash
# What the VM tests need on the host: QEMU, a static busybox (the guest's /init and shell),
# cpio, python3 (module closure, test plan), xz/zstd (compressed modules). Installs quietly
# and only what is missing; apt can fail transiently (a lock, a mirror hiccup): retry once.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# the guest has no libraries: its busybox must be the static build
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3-minimal)
command -v zstd >/dev/null || need+=(zstd)
[ ${#need[@]} -eq 0 ] && exit 0
echo "vm deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
install() {
	apt-get update -qq >/dev/null 2>&1 || true
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1
}
install || { sleep 5; install; }
