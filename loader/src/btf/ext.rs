//! `.BTF.ext`: func_info, line_info and CO-RE relocation records, per ELF section.
//! (Contract types; the parser fills them.)

use super::{Btf, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub insn_off: u32,
    pub file_name_off: u32,
    pub line_off: u32,
    pub line_col: u32,
}

impl LineInfo {
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    pub fn col(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    pub insn_off: u32,
    pub type_id: u32,
    pub access_str_off: u32,
    pub kind: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecRecords<T> {
    pub section: String,
    pub records: Vec<T>,
}

#[derive(Debug, Clone, Default)]
pub struct BtfExt {
    pub func_info: Vec<SecRecords<FuncInfo>>,
    pub line_info: Vec<SecRecords<LineInfo>>,
    pub core_relos: Vec<SecRecords<CoreRelo>>,
    pub func_info_rec_size: u32,
    pub line_info_rec_size: u32,
}

impl BtfExt {
    pub fn parse(_data: &[u8], _btf: &Btf) -> Result<BtfExt> {
        Ok(BtfExt::default())
    }
}
