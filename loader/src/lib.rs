//! rbpf-load's library: an ELF object that clang built from BPF C becomes running programs,
//! through our own ELF reader, BTF parser, relocator and raw `bpf(2)` calls. No libbpf.
//!
//! The pipeline, one module per stage:
//! - [`obj`]: ELF -> [`obj::Object`] (programs, maps, relocations, license, BTF blobs). No kernel.
//! - [`btf`]: BTF and .BTF.ext parsing, fix-ups before load, writing BTF back, kernel BTF.
//! - [`reloc`]: map references, BPF-to-BPF calls, CO-RE. No kernel.
//! - [`sys`]: the only door to the kernel (the only module with `unsafe`).
//! - [`attach`]: tracing attachments (raw tracepoints, tracepoints, fentry/fexit, kprobes).
//! - [`events`]: perf event array and ring buffer readers.
//! - [`load`]: orchestration: BTF_LOAD, MAP_CREATE, relocate, PROG_LOAD, tail-call slots.

pub mod attach;
pub mod btf;
pub mod cli;
pub mod disasm;
pub mod events;
pub mod insn;
pub mod load;
pub mod obj;
pub mod reloc;
pub mod section;
pub mod sys;
pub mod valuefmt;
