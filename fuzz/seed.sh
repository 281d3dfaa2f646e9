#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the clang-built objects in target/bpf (`make bpf`).
# Nothing here is committed: the seeds are regenerated from the objects on every run.
#   fuzz/seed.sh            write fuzz/corpus/<target>/seed-*
set -euo pipefail
cd "$(dirname "$0")"
OBJS=(../target/bpf/*.bpf.o)
OBJCOPY=${OBJCOPY:-$(command -v llvm-objcopy-19 || command -v llvm-objcopy)}
if [[ ! -e ${OBJS[0]} ]]; then
    echo "seed.sh: no objects in target/bpf: run 'make bpf' first" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p corpus/obj_parse corpus/reloc corpus/btf_parse corpus/disasm corpus/netlink_parse
for o in "${OBJS[@]}"; do
    n=$(basename "$o" .bpf.o)
    # Without DWARF (BTF stays): a tenth of the size, so ten times the executions.
    "$OBJCOPY" --strip-debug "$o" "corpus/obj_parse/seed-$n"
    cp "corpus/obj_parse/seed-$n" "corpus/reloc/seed-$n"
    # .BTF alone (starts with the BTF magic), and [u32 len][.BTF][.BTF.ext] when there is one.
    if "$OBJCOPY" --dump-section ".BTF=$tmp/btf" "$o" "$tmp/out" 2>/dev/null; then
        cp "$tmp/btf" "corpus/btf_parse/seed-$n.btf"
        if "$OBJCOPY" --dump-section ".BTF.ext=$tmp/ext" "$o" "$tmp/out" 2>/dev/null; then
            python3 - "$tmp/btf" "$tmp/ext" "corpus/btf_parse/seed-$n.btf+ext" <<'PY'
import struct, sys
btf = open(sys.argv[1], "rb").read()
ext = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(struct.pack("<I", len(btf)) + btf + ext)
PY
        fi
        rm -f "$tmp/btf" "$tmp/ext"
    fi
done
# Instructions: every executable section (flags AX) with bytes in it.
for o in "${OBJS[@]}"; do
    n=$(basename "$o" .bpf.o)
    readelf -SW "$o" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) *PROGBITS *[0-9a-f]* [0-9a-f]* \([0-9a-f]*\) [0-9a-f]* *AX.*/\1 \2/p' |
    while read -r sec size; do
        [[ $size == 000000 ]] && continue
        "$OBJCOPY" --dump-section "$sec=$tmp/insns" "$o" "$tmp/out" 2>/dev/null &&
            mv "$tmp/insns" "corpus/disasm/seed-$n-${sec//\//_}"
    done
done

# Netlink replies as the kernel sends them: an ack, an error with an extended ack, a dump
# of two messages and its NLMSG_DONE, a failed dump.
python3 - corpus/netlink_parse <<'PY'
import struct, sys, os
d = sys.argv[1]
def msg(mtype, flags, body, seq=7, port=0):
    m = struct.pack("<IHHII", 16 + len(body), mtype, flags, seq, port) + body
    return m + b"\0" * (-len(m) % 4)
def tlv(t, v):
    a = struct.pack("<HH", 4 + len(v), t) + v
    return a + b"\0" * (-len(a) % 4)
req = struct.pack("<IHHII", 36, 44, 0x605, 7, 0)
seeds = {
    "ack": msg(2, 0x100, struct.pack("<i", 0) + req[:16]),
    "error-extack": msg(2, 0x300, struct.pack("<i", -22) + req[:16]
                        + tlv(1, b"Parent Qdisc doesn't exists\0") + tlv(2, struct.pack("<I", 20))),
    "error-full-request": msg(2, 0x200, struct.pack("<i", -17) + req + b"\0" * 20
                              + tlv(1, b"Exclusivity flag on, cannot modify\0")),
    "dump": msg(16, 2, b"\0" * 16 + tlv(3, b"veth_a\0")) + msg(16, 2, b"\1" * 16 + tlv(3, b"lo\0"))
            + msg(3, 2, struct.pack("<i", 0)),
    "dump-failed": msg(3, 0x202, struct.pack("<i", -95) + tlv(1, b"not supported\0")),
}
for name, b in seeds.items():
    open(os.path.join(d, "seed-" + name), "wb").write(b)
PY
echo "seed.sh: $(ls corpus/obj_parse | grep -c ^seed-) objects, $(ls corpus/btf_parse | grep -c ^seed-) BTF," \
    "$(ls corpus/disasm | grep -c ^seed-) instruction, $(ls corpus/netlink_parse | grep -c ^seed-) netlink seeds"
