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

mkdir -p corpus/obj_parse corpus/reloc corpus/btf_parse
for o in "${OBJS[@]}"; do
    n=$(basename "$o" .bpf.o)
    cp "$o" "corpus/obj_parse/seed-$n"
    cp "$o" "corpus/reloc/seed-$n"
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
echo "seed.sh: $(ls corpus/obj_parse | wc -l) objects, $(ls corpus/btf_parse | wc -l) BTF seeds"
