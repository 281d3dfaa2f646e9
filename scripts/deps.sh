#!/usr/bin/env bash
# Install what the build and the tests need, quietly and only when missing (idempotent).
# apt can fail transiently (a lock, a mirror hiccup): retry once.
set -euo pipefail
need=()
command -v clang-19 >/dev/null || need+=(clang-19)
command -v llvm-objdump-19 >/dev/null || need+=(llvm-19)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
# The plain_* BPF programs include the uapi headers (<linux/bpf.h>, <asm/types.h>).
[ -e /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
[ ${#need[@]} -eq 0 ] && exit 0
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
install() {
	apt-get update -qq >/dev/null 2>&1 || true
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1
}
install || { sleep 5; install; }
