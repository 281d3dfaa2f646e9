//! rbpf-load's library: an ELF object that clang built from BPF C becomes running programs,
//! through our own ELF reader, BTF parser, relocator and raw `bpf(2)` calls. No libbpf.
//!
//! The pipeline, one module per stage:
//! - [`obj`]: ELF -> [`obj::Object`] (programs, maps, relocations, license, BTF blobs). No kernel.
//! - [`btf`]: BTF and .BTF.ext parsing, fix-ups before load, writing BTF back, kernel BTF.
//! - [`reloc`]: map references, BPF-to-BPF calls, CO-RE. No kernel.
//! - [`sys`]: the only door to the kernel (raw system calls live there and nowhere else).
//! - [`attach`]: tracing attachments (raw tracepoints, tracepoints, fentry/fexit, kprobes).
//! - [`events`]: perf event array and ring buffer readers.
//! - [`load`]: orchestration: BTF_LOAD, MAP_CREATE, relocate, PROG_LOAD, tail-call slots.

//!
//! # Using the library
//!
//! ```no_run
//! use loader::load::{load, LoadOptions};
//! use loader::obj::Object;
//! use std::os::fd::AsFd;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What the ELF says: programs, maps, relocations, BTF. No kernel yet.
//! let mut obj = Object::from_file("target/bpf/globals.bpf.o".as_ref())?;
//! // Configure before load: `.rodata` is frozen afterwards, so the verifier sees a constant.
//! obj.set_global("cfg_step", &5u32.to_le_bytes())?;
//!
//! // BTF, maps, relocation, PROG_LOAD. Dropping `loaded` unloads everything not pinned
//! // or attached.
//! let loaded = load(&obj, &LoadOptions::default())?;
//! let prog = loaded.program("xdp_globals").expect("loaded");
//! let run = loader::sys::prog_test_run(prog.fd.as_fd(), &[0u8; 14], &[], 1)?;
//! println!("returned {}", run.retval);
//!
//! // Tail calls: slots can be filled by program name (static `.values` are filled already).
//! let cls = load(&Object::from_file("target/bpf/xdp_classifier.bpf.o".as_ref())?, &LoadOptions::default())?;
//! cls.set_tail_call("jmp_table", 1, "handle_tcp")?;
//! // Keep it all after this process exits.
//! cls.pin_all("/sys/fs/bpf/my_classifier".as_ref())?;
//! # Ok(())
//! # }
//! ```

pub mod attach;
pub mod btf;
pub mod cli;
pub mod disasm;
pub mod events;
pub mod explain;
pub mod insn;
pub mod inspect;
pub mod load;
pub mod obj;
pub mod reloc;
pub mod section;
pub mod share;
pub mod sys;
#[cfg(test)]
mod test_env;
pub mod valuefmt;
pub mod valueparse;
