//! One BPF instruction (`struct bpf_insn`) and the opcode constants we need by name.

/// `struct bpf_insn`: 8 bytes, little-endian on the machines we target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    /// Destination register (low nibble of byte 1).
    pub dst: u8,
    /// Source register (high nibble of byte 1); also carries BPF_PSEUDO_* markers.
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

pub const INSN_SIZE: usize = 8;

// Instruction classes.
pub const BPF_LD: u8 = 0x00;
pub const BPF_LDX: u8 = 0x01;
pub const BPF_ST: u8 = 0x02;
pub const BPF_STX: u8 = 0x03;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_JMP: u8 = 0x05;
pub const BPF_JMP32: u8 = 0x06;
pub const BPF_ALU64: u8 = 0x07;
// Sizes and modes.
pub const BPF_W: u8 = 0x00;
pub const BPF_H: u8 = 0x08;
pub const BPF_B: u8 = 0x10;
pub const BPF_DW: u8 = 0x18;
pub const BPF_IMM: u8 = 0x00;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_K: u8 = 0x00;
pub const BPF_X: u8 = 0x08;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_ADD: u8 = 0x00;
pub const BPF_CALL: u8 = 0x80;
pub const BPF_EXIT: u8 = 0x90;
pub const BPF_JA: u8 = 0x00;

/// `BPF_LD | BPF_IMM | BPF_DW`: the two-slot 64-bit immediate load.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;
/// `BPF_JMP | BPF_CALL`.
pub const CALL: u8 = BPF_JMP | BPF_CALL;

// src_reg markers (include/uapi/linux/bpf.h).
/// ld_imm64: imm is a map fd.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// ld_imm64: imm is a map fd, the second imm an offset into its value.
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// ld_imm64: imm is a BTF id of a kernel variable.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// ld_imm64: imm is the relative offset of a BPF function (address of a callback).
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// call: imm is the relative offset of a BPF function (BPF-to-BPF call).
pub const BPF_PSEUDO_CALL: u8 = 1;
/// call: imm is a kernel function's BTF id (kfunc).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

impl Insn {
    pub fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Decode one instruction from 8 bytes (little-endian).
    pub fn from_bytes(b: [u8; 8]) -> Self {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.code,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }

    /// The instruction as the u64 the kernel reads from memory.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    pub fn is_ld_imm64(self) -> bool {
        self.code == LD_IMM64
    }

    /// A call to another BPF function of the same object.
    pub fn is_pseudo_call(self) -> bool {
        self.code == CALL && self.src == BPF_PSEUDO_CALL
    }

    pub fn is_helper_call(self) -> bool {
        self.code == CALL && self.src == 0
    }
}

/// Decode a whole instruction stream. Trailing bytes that do not make an instruction are
/// an error for the caller to report; here they are ignored and counted.
pub fn decode(bytes: &[u8]) -> (Vec<Insn>, usize) {
    let chunks = bytes.chunks_exact(INSN_SIZE);
    let rest = chunks.remainder().len();
    let insns = chunks
        .map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    (insns, rest)
}

pub fn encode(insns: &[Insn]) -> Vec<u64> {
    insns.iter().map(|i| i.to_u64()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let i = Insn::new(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, -3, 0x1234_5678);
        assert_eq!(Insn::from_bytes(i.to_bytes()), i);
        assert_eq!(i.to_bytes()[1], 0x11);
    }
}
