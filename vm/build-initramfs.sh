#!/bin/bash
# usage: build-initramfs.sh KERNEL_ROOT OUT.cpio.gz
# KERNEL_ROOT: a dir holding what `dpkg-deb` unpacked of a linux-image package (boot/ and
# lib/modules/VERSION/). The image: busybox, vm/init.sh as /init, and the modules of
# vm/modules.list with their dependencies (decompressed) plus their load order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kroot=$1 out=$2
kver=$(ls "$kroot/lib/modules")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,lib/modules}
cp /bin/busybox "$stage/bin/busybox"
cp "$here/init.sh" "$stage/init"
chmod +x "$stage/init"
mapfile -t mods < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/modules.list")
python3 "$here/modclosure.py" "$kroot/lib/modules/$kver" "$stage/lib/modules" "${mods[@]}" >/dev/null
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
