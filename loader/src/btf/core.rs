//! CO-RE: relocate field offsets, sizes, existence, type and enum facts against the
//! target kernel's BTF. (Contract; the implementation fills it.)

use super::ext::CoreRelo;
use super::{Btf, BtfError, Result};
use crate::insn::Insn;

/// One applied CO-RE relocation, for humans (--explain, inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreApplied {
    pub kind: &'static str,
    pub local: String,
    pub target: String,
    pub old: u64,
    pub new: u64,
}

pub fn apply(
    _insns: &mut [Insn],
    _idx: usize,
    _relo: &CoreRelo,
    _local: &Btf,
    _target: &Btf,
) -> Result<CoreApplied> {
    Err(BtfError::Unimplemented("CO-RE"))
}
