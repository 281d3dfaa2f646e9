#!/usr/bin/env python3
"""Unpack the ELF kernel (vmlinux) from a compressed bzImage (vmlinuz).
usage: vmlinux.py VMLINUZ OUT
Why: under TCG the kernel's own decompressor (xz for Debian's 6.1) takes many seconds of
emulated time; QEMU boots the ELF directly through its PVH entry (CONFIG_PVH) instead.
Exits non-zero when no known payload is found; the caller then boots the bzImage."""
import lzma, os, subprocess, sys, zlib

data = open(sys.argv[1], "rb").read()


def xz(blob):
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)


def zstd(blob):
    # the payload is followed by other bytes of the image: zstd reports them, the frame is whole
    return subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True).stdout


def gz(blob):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)


for magic, unpack in ((b"\xfd7zXZ\x00", xz), (b"\x28\xb5\x2f\xfd", zstd), (b"\x1f\x8b\x08", gz)):
    at = data.find(magic)
    while at >= 0:
        try:
            raw = unpack(data[at:])
        except (lzma.LZMAError, zlib.error, OSError):
            raw = b""
        if raw[:4] == b"\x7fELF":
            with open(sys.argv[2] + ".tmp", "wb") as out:
                out.write(raw)
            os.replace(sys.argv[2] + ".tmp", sys.argv[2])
            sys.exit(0)
        at = data.find(magic, at + 1)
sys.exit(f"vmlinux.py: no compressed ELF kernel found in {sys.argv[1]}")
