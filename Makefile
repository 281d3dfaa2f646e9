# rbpf-load: build the BPF objects with clang, the Rust workspace with cargo.
#   make          build everything
#   make demo     the built-in lab: load, attach, send traffic, show counters, clean up
#   make test     every test (installs what it needs first)
#   make bench    rbpf-load against bpftool, iproute2, aya and libbpf (docs/performance.md)
CLANG    ?= $(shell command -v clang-19 || command -v clang)
BPFTOOL  ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
CARGO    ?= cargo
OUT      := target/bpf
ARCH_DEF := -D__TARGET_ARCH_x86
BPF_SRC  := $(wildcard bpf-src/*.bpf.c)
BPF_OBJ  := $(patsubst bpf-src/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRC))
BPF_HDR  := $(wildcard bpf-src/*.h)
# <asm/types.h> for the plain_* programs, which include the uapi headers (<linux/bpf.h>)
# instead of vmlinux.h; clang -target bpf does not look in the multiarch directory itself.
UAPI_INC := /usr/include/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SHELL    := /bin/bash

.PHONY: all deps bpf build test test-unit test-vm demo clean fmt lint fuzz fuzz-smoke bench

all: bpf build

deps:
	@scripts/deps.sh

bpf: $(BPF_OBJ)

# vmlinux.h comes from the running kernel's BTF at build time; it is never committed.
$(OUT)/vmlinux.h:
	@mkdir -p $(OUT)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf-src/%.bpf.c $(BPF_HDR) $(OUT)/vmlinux.h
	@mkdir -p $(OUT)
	$(CLANG) -O2 -g -target bpf $(ARCH_DEF) -Wall -Wno-unused-function \
		-I$(OUT) -Ibpf-src -idirafter $(UAPI_INC) -c $< -o $@

build:
	$(CARGO) build --workspace --all-targets --quiet

# The host kernel first, then the same privileged tests in Debian's 6.1 and 6.12 under QEMU
# (fentry/fexit and kprobes work there, not on the host), then a short run of every fuzzer.
test: deps all
	$(CARGO) test --workspace --no-fail-fast 2>&1 | tee target/test.log; exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory test-vm
	$(MAKE) --no-print-directory fuzz-smoke

# The privileged tests inside Debian's stock 6.1 and 6.12 kernels under QEMU (docs/vm.md);
# which test binaries run there: vm/tests.list. Kernels are cached under target/vm/.
# Under TCG a guest's run takes 11-13 minutes, gen_build (clang on every object with the
# guest kernel's vmlinux.h) about 3 of them: the caps leave room for a slower machine.
VM_KERNELS      ?= linux-image-amd64 linux-image-6.12-amd64
VM_TIMEOUT      ?= 1500
VM_TEST_TIMEOUT ?= 480
VM_MEM          ?= 1G
VM_SMP          ?= 2
VM_TESTS_LIST   ?=

test-vm: deps bpf
	VM_KERNELS="$(VM_KERNELS)" VM_TESTS_LIST="$(VM_TESTS_LIST)" VM_TIMEOUT=$(VM_TIMEOUT) VM_TEST_TIMEOUT=$(VM_TEST_TIMEOUT) \
		VM_MEM=$(VM_MEM) VM_SMP=$(VM_SMP) CARGO="$(CARGO)" vm/run.sh

demo: deps all
	@scripts/demo.sh

# Fuzzing (libFuzzer through cargo-fuzz, on stable with RUSTC_BOOTSTRAP=1; see
# docs/reliability.md): every target SECS seconds, or about 20 s each for fuzz-smoke.
SECS ?= 60
fuzz: bpf
	@fuzz/run.sh $(SECS)

fuzz-smoke: bpf
	@fuzz/run.sh 20

# Not part of `make test`: speed is measured here, never asserted in a test.
bench: deps bpf
	@bench/run.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf $(OUT)
	$(CARGO) clean
