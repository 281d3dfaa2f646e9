#!/bin/bash
# usage: fetch-kernel.sh META_PACKAGE CACHE_DIR   (prints the kernel's directory)
# Resolves the current linux-image package behind a Debian meta-package (ABI-numbered names
# change with every update, so they are never pinned) and unpacks from it, with dpkg-deb,
# only the kernel, its config and the module trees the guest may need into CACHE_DIR/PACKAGE.
# Nothing is installed. A cached kernel is reused; a superseded one is removed.
set -euo pipefail
meta=$1 cache=$2
mkdir -p "$cache"
resolve() { apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
pkg=$(resolve)
[ -n "$pkg" ] || { apt-get update -qq >/dev/null 2>&1 || true; pkg=$(resolve); }
# offline, or apt lists gone: the kernel fetched last time for this meta-package
[ -n "$pkg" ] || pkg=$(cat "$cache/$meta.pkg" 2>/dev/null || true)
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve $meta (apt-cache depends $meta)" >&2; exit 1; }
old=$(cat "$cache/$meta.pkg" 2>/dev/null || true)
if [ ! -e "$cache/$pkg/.unpacked-v2" ]; then
	dl=$(mktemp -d "$cache/dl.XXXXXX")
	trap 'rm -rf "$dl"' EXIT
	get() { (cd "$dl" && apt-get download -q "$pkg") >"$dl/log" 2>&1; }
	get || { apt-get update -qq >/dev/null 2>&1 || true; get; } || {
		cat "$dl/log" >&2
		echo "fetch-kernel: cannot download $pkg" >&2
		exit 1
	}
	rm -rf "$cache/$pkg" && mkdir -p "$cache/$pkg"
	dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -x -C "$cache/$pkg" --wildcards \
		'./boot/vmlinuz-*' './boot/config-*' './lib/modules/*/modules.builtin' \
		'./lib/modules/*/kernel/net/*' './lib/modules/*/kernel/fs/*' \
		'./lib/modules/*/kernel/drivers/net/*' './lib/modules/*/kernel/drivers/virtio/*' \
		'./lib/modules/*/kernel/lib/*' './lib/modules/*/kernel/crypto/*'
	ls "$cache/$pkg"/boot/vmlinuz-* >/dev/null
	touch "$cache/$pkg/.unpacked-v2"
fi
echo "$pkg" >"$cache/$meta.pkg"
[ -n "$old" ] && [ "$old" != "$pkg" ] && rm -rf "${cache:?}/$old" "$cache/$old.cpio.gz"
echo "$cache/$pkg"
