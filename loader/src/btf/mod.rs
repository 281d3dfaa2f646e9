//! BTF: the type format of BPF objects and of the kernel. Parsed from scratch.
//!
//! CONTRACT (other modules rely on these names; the parser fills them in):
//! - [`Btf::parse`] reads a `.BTF` blob; [`Btf::to_bytes`] writes one back.
//! - `types[id]` is type `id`; `types[0]` is `void`.
//! - [`Btf::fixup_for_load`] sets DATASEC sizes and VAR offsets from the ELF.
//! - [`ext::BtfExt`] is `.BTF.ext` (func_info, line_info, CO-RE records).

pub mod core;
pub mod ext;

/// `BTF_KIND_*` numbers.
pub mod kind {
    pub const UNKN: u8 = 0;
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("BTF: {0}")]
    Malformed(String),
    #[error("BTF: type id {0} does not exist")]
    NoSuchType(u32),
    #[error("BTF: string offset {0} is outside the string section")]
    BadString(u32),
    #[error("BTF: {0} not implemented yet")]
    Unimplemented(&'static str),
}

pub type Result<T> = std::result::Result<T, BtfError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name_off: u32,
    pub ty: u32,
    /// Offset in bits from the start of the struct.
    pub bit_offset: u32,
    /// Non-zero for a bitfield (from kind_flag encoding).
    pub bitfield_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    pub name_off: u32,
    pub val: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name_off: u32,
    pub ty: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSecinfo {
    pub ty: u32,
    pub offset: u32,
    pub size: u32,
}

/// One BTF type, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int {
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Ptr {
        ty: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
    Fwd {
        union: bool,
    },
    Typedef {
        ty: u32,
    },
    Volatile {
        ty: u32,
    },
    Const {
        ty: u32,
    },
    Restrict {
        ty: u32,
    },
    Func {
        proto: u32,
        linkage: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<Param>,
    },
    Var {
        ty: u32,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<VarSecinfo>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        ty: u32,
        component_idx: i32,
    },
    TypeTag {
        ty: u32,
    },
    Enum64 {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name_off: u32,
    pub kind: Kind,
}

/// A parsed BTF blob.
#[derive(Debug, Clone, Default)]
pub struct Btf {
    pub types: Vec<Type>,
    pub strings: Vec<u8>,
}

impl Btf {
    pub fn parse(_data: &[u8]) -> Result<Btf> {
        Err(BtfError::Unimplemented("parse"))
    }
}

// Contract stubs, replaced by the parser.
impl Btf {
    pub fn str_at(&self, off: u32) -> Result<&str> {
        let s = self
            .strings
            .get(off as usize..)
            .ok_or(BtfError::BadString(off))?;
        let end = s
            .iter()
            .position(|&c| c == 0)
            .ok_or(BtfError::BadString(off))?;
        std::str::from_utf8(&s[..end]).map_err(|_| BtfError::BadString(off))
    }
    pub fn name(&self, id: u32) -> &str {
        self.types
            .get(id as usize)
            .and_then(|t| self.str_at(t.name_off).ok())
            .unwrap_or("")
    }
    pub fn get(&self, id: u32) -> Result<&Type> {
        self.types.get(id as usize).ok_or(BtfError::NoSuchType(id))
    }
    pub fn find_by_name(&self, _name: &str, _kind: u8) -> Option<u32> {
        None
    }
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32> {
        Ok(id)
    }
    pub fn resolve_size(&self, _id: u32) -> Result<u64> {
        Err(BtfError::Unimplemented("resolve_size"))
    }
    pub fn kernel() -> Result<Btf> {
        Err(BtfError::Unimplemented("kernel"))
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
    pub fn fixup_for_load(
        &mut self,
        _sec_size: &dyn Fn(&str) -> Option<u32>,
        _sym_offset: &dyn Fn(&str, &str) -> Option<u32>,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
