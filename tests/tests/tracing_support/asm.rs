//! Just enough of a BPF assembler to write small test programs by hand.

use loader::insn::*;
use std::os::fd::{AsRawFd, OwnedFd};

pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R5: u8 = 5;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
pub const R8: u8 = 8;
pub const R10: u8 = 10;

/// Helper ids (enum bpf_func_id).
pub const MAP_LOOKUP_ELEM: i32 = 1;
pub const GET_CURRENT_PID_TGID: i32 = 14;
pub const PERF_EVENT_OUTPUT: i32 = 25;
pub const RINGBUF_OUTPUT: i32 = 130;
/// BPF_F_CURRENT_CPU.
pub const CURRENT_CPU: i32 = -1;

/// A program under construction.
#[derive(Default)]
pub struct Asm(pub Vec<Insn>);

impl Asm {
    pub fn new() -> Self {
        Asm(Vec::new())
    }
    fn push(&mut self, i: Insn) -> &mut Self {
        self.0.push(i);
        self
    }
    pub fn mov(&mut self, dst: u8, src: u8) -> &mut Self {
        self.push(Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0))
    }
    pub fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm))
    }
    pub fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm))
    }
    pub fn rsh_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ALU64 | 0x70 | BPF_K, dst, 0, 0, imm))
    }
    pub fn and_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ALU64 | 0x50 | BPF_K, dst, 0, 0, imm))
    }
    pub fn ldx_dw(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(Insn::new(BPF_LDX | BPF_MEM | BPF_DW, dst, src, off, 0))
    }
    pub fn ldx_w(&mut self, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(Insn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0))
    }
    pub fn stx_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(Insn::new(BPF_STX | BPF_MEM | BPF_DW, dst, src, off, 0))
    }
    pub fn st_dw(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ST | BPF_MEM | BPF_DW, dst, 0, off, imm))
    }
    pub fn st_w(&mut self, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ST | BPF_MEM | BPF_W, dst, 0, off, imm))
    }
    /// Atomic `*(u64 *)(dst + off) += src`.
    pub fn atomic_add_dw(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(Insn::new(BPF_STX | 0xc0 | BPF_DW, dst, src, off, 0))
    }
    /// `if dst != imm goto +off`.
    pub fn jne_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Self {
        self.push(Insn::new(BPF_JMP | 0x50 | BPF_K, dst, 0, off, imm))
    }
    /// `if dst == imm goto +off`.
    pub fn jeq_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Self {
        self.push(Insn::new(BPF_JMP | 0x10 | BPF_K, dst, 0, off, imm))
    }
    /// `if (u32)dst != imm goto +off` (BPF_JMP32).
    pub fn jne32_imm(&mut self, dst: u8, imm: i32, off: i16) -> &mut Self {
        self.push(Insn::new(BPF_JMP32 | 0x50 | BPF_K, dst, 0, off, imm))
    }
    /// `dst = (u32)imm` (zero-extended, unlike [`Asm::mov_imm`]).
    pub fn mov32_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(Insn::new(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm))
    }
    /// Append another program fragment.
    pub fn extend(&mut self, other: &Asm) -> &mut Self {
        self.0.extend_from_slice(&other.0);
        self
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn call(&mut self, helper: i32) -> &mut Self {
        self.push(Insn::new(CALL, 0, 0, 0, helper))
    }
    pub fn exit(&mut self) -> &mut Self {
        self.push(Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0))
    }
    /// `dst = map` (ld_imm64 with BPF_PSEUDO_MAP_FD).
    pub fn ld_map(&mut self, dst: u8, map: &OwnedFd) -> &mut Self {
        self.push(Insn::new(
            LD_IMM64,
            dst,
            BPF_PSEUDO_MAP_FD,
            0,
            map.as_raw_fd(),
        ));
        self.push(Insn::new(0, 0, 0, 0, 0))
    }
    /// The index the next instruction will have.
    pub fn here(&self) -> usize {
        self.0.len()
    }
    pub fn words(&self) -> Vec<u64> {
        encode(&self.0)
    }
}

/// Load a program; panics with the verifier log when the kernel refuses it.
pub fn load(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    name: &str,
    asm: &Asm,
) -> OwnedFd {
    let words = asm.words();
    let p = loader::sys::ProgLoad {
        prog_type,
        expected_attach_type,
        attach_btf_id,
        name: name.into(),
        insns: &words,
        license: "GPL",
        ..Default::default()
    };
    match loader::sys::prog_load(&p, None) {
        Ok(fd) => fd,
        Err(e) => {
            let mut log = Vec::new();
            let again = loader::sys::prog_load(&p, Some((&mut log, 1)));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!(
                "load {name}: {e}; retry: {:?}\n{}",
                again.err(),
                String::from_utf8_lossy(&log[..end])
            );
        }
    }
}
