//! BTF: the type format of BPF objects and of the kernel. Parsed from scratch.
//!
//! CONTRACT (other modules rely on these names; the parser fills them in):
//! - [`Btf::parse`] reads a `.BTF` blob; [`Btf::to_bytes`] writes one back.
//! - `types[id]` is type `id`; `types[0]` is `void`.
//! - [`Btf::fixup_for_load`] sets DATASEC sizes and VAR offsets from the ELF.
//! - [`ext::BtfExt`] is `.BTF.ext` (func_info, line_info, CO-RE records).
//!
//! Stages, one file each: `parse.rs` (bytes -> types), `index.rs` (names -> ids),
//! `write.rs` (types -> bytes, adding strings and types), `fixup.rs` (what BTF_LOAD needs),
//! `ext.rs` (.BTF.ext), `spec.rs` + `core.rs` (CO-RE), `cdecl.rs` (C declarations).

mod cdecl;
pub mod core;
pub mod ext;
mod fixup;
mod header;
mod index;
mod layout;
mod lazy;
mod parse;
pub mod spec;
mod write;

use std::sync::{Arc, OnceLock};

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

    /// The kernel's spelling of a kind (`BTF_KIND_STRUCT` -> "STRUCT"), as bpftool prints it.
    pub fn name(k: u8) -> &'static str {
        const NAMES: [&str; 20] = [
            "UNKN",
            "INT",
            "PTR",
            "ARRAY",
            "STRUCT",
            "UNION",
            "ENUM",
            "FWD",
            "TYPEDEF",
            "VOLATILE",
            "CONST",
            "RESTRICT",
            "FUNC",
            "FUNC_PROTO",
            "VAR",
            "DATASEC",
            "FLOAT",
            "DECL_TAG",
            "TYPE_TAG",
            "ENUM64",
        ];
        NAMES.get(k as usize).copied().unwrap_or("?")
    }
}

/// `BTF_INT_*` encoding bits of an INT type.
pub mod int_encoding {
    pub const SIGNED: u8 = 1 << 0;
    pub const CHAR: u8 = 1 << 1;
    pub const BOOL: u8 = 1 << 2;
}

/// `BTF_VAR_*` and `BTF_FUNC_*` linkage values.
pub mod linkage {
    pub const STATIC: u32 = 0;
    pub const GLOBAL: u32 = 1;
    pub const EXTERN: u32 = 2;
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
    #[error("BTF: truncated {what}: needs {need} bytes at offset {offset}, the blob has {have}")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("BTF: bad magic {0:#06x} (expected 0xeb9f)")]
    BadMagic(u16),
    #[error("BTF: unsupported version {0} (expected 1)")]
    BadVersion(u8),
    #[error("BTF: type id {id}: unknown kind {kind}")]
    UnknownKind { id: u32, kind: u8 },
    #[error("BTF: type id {id} ({kind}) refers to type id {target}, which does not exist")]
    DanglingRef {
        id: u32,
        kind: &'static str,
        target: u32,
    },
    #[error("BTF: type id {id}: chain of references deeper than {depth} (a loop?)")]
    Loop { id: u32, depth: u32 },
    #[error("BTF: type id {id} ({kind}) has no size")]
    NoSize { id: u32, kind: &'static str },
    #[error("BTF: type id {id} ({kind}) is not a {expected}")]
    WrongKind {
        id: u32,
        kind: &'static str,
        expected: &'static str,
    },
    #[error("BTF: string at offset {0} is not NUL-terminated valid UTF-8")]
    BadStringBytes(u32),
    #[error("CO-RE relocation <{kind}> at insn #{insn}: {msg}")]
    CoreRelo {
        insn: usize,
        kind: &'static str,
        msg: String,
    },
    #[error("BTF: cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
    /// The value; for an unsigned ENUM64 above `i64::MAX` this holds the same 64 bits.
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
        /// kind_flag: the tag is a plain `__attribute__((...))`, not `btf_decl_tag`.
        attr: bool,
    },
    TypeTag {
        ty: u32,
        /// kind_flag: the tag is a plain `__attribute__((...))`, not `btf_type_tag`.
        attr: bool,
    },
    Enum64 {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
}

impl Kind {
    /// The `BTF_KIND_*` number.
    pub fn kind(&self) -> u8 {
        match self {
            Kind::Void => kind::UNKN,
            Kind::Int { .. } => kind::INT,
            Kind::Ptr { .. } => kind::PTR,
            Kind::Array { .. } => kind::ARRAY,
            Kind::Struct { .. } => kind::STRUCT,
            Kind::Union { .. } => kind::UNION,
            Kind::Enum { .. } => kind::ENUM,
            Kind::Fwd { .. } => kind::FWD,
            Kind::Typedef { .. } => kind::TYPEDEF,
            Kind::Volatile { .. } => kind::VOLATILE,
            Kind::Const { .. } => kind::CONST,
            Kind::Restrict { .. } => kind::RESTRICT,
            Kind::Func { .. } => kind::FUNC,
            Kind::FuncProto { .. } => kind::FUNC_PROTO,
            Kind::Var { .. } => kind::VAR,
            Kind::Datasec { .. } => kind::DATASEC,
            Kind::Float { .. } => kind::FLOAT,
            Kind::DeclTag { .. } => kind::DECL_TAG,
            Kind::TypeTag { .. } => kind::TYPE_TAG,
            Kind::Enum64 { .. } => kind::ENUM64,
        }
    }

    /// "STRUCT", "INT", ... as the kernel and bpftool name the kind.
    pub fn kind_name(&self) -> &'static str {
        kind::name(self.kind())
    }

    /// The one type this type refers to (modifiers, typedef, pointer, var, func, tags, array
    /// element), if it has exactly one.
    pub fn ref_type(&self) -> Option<u32> {
        match *self {
            Kind::Ptr { ty }
            | Kind::Typedef { ty }
            | Kind::Volatile { ty }
            | Kind::Const { ty }
            | Kind::Restrict { ty }
            | Kind::Var { ty, .. }
            | Kind::DeclTag { ty, .. }
            | Kind::TypeTag { ty, .. } => Some(ty),
            Kind::Func { proto, .. } => Some(proto),
            Kind::Array { elem, .. } => Some(elem),
            _ => None,
        }
    }

    /// The size stored in the type itself, for kinds that carry one.
    pub fn own_size(&self) -> Option<u32> {
        match *self {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Enum64 { size, .. }
            | Kind::Datasec { size, .. }
            | Kind::Float { size } => Some(size),
            _ => None,
        }
    }

    /// Members of a struct or union; empty for every other kind.
    pub fn members(&self) -> &[Member] {
        match self {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => members,
            _ => &[],
        }
    }

    /// Skipped by `skip_mods_and_typedefs`: typedef, volatile, const, restrict, type tag.
    pub fn is_mod_or_typedef(&self) -> bool {
        matches!(
            self,
            Kind::Typedef { .. }
                | Kind::Volatile { .. }
                | Kind::Const { .. }
                | Kind::Restrict { .. }
                | Kind::TypeTag { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name_off: u32,
    pub kind: Kind,
}

/// How deep a chain of typedefs/modifiers/arrays may go before we call it a loop
/// (the kernel's MAX_RESOLVE_DEPTH).
pub const MAX_RESOLVE_DEPTH: u32 = 32;

/// A parsed BTF blob.
///
/// For split BTF (kernel modules) `types` and `strings` hold the base's entries first, so
/// ids and string offsets mean the same thing as in the kernel; `base_types` and
/// `base_str_len` say where the split part begins.
#[derive(Debug, Clone, Default)]
pub struct Btf {
    pub types: Vec<Type>,
    pub strings: Vec<u8>,
    /// Number of types (void included) that belong to the base BTF; 0 when not split.
    pub base_types: u32,
    /// Bytes of `strings` that belong to the base BTF; 0 when not split.
    pub base_str_len: u32,
    /// Lazily built name index (see `index.rs`); rebuilt when `types` changed length.
    name_index: OnceLock<index::NameIndex>,
    /// Types decoded on first use ([`Btf::kernel_lazy`]); `types` and `strings` are then empty.
    lazy: Option<Arc<lazy::Lazy>>,
}

impl Btf {
    /// A BTF holding `types` (with `void` at 0) and `strings` (starting with a NUL).
    pub fn from_parts(types: Vec<Type>, strings: Vec<u8>) -> Btf {
        Btf {
            types,
            strings,
            ..Default::default()
        }
    }

    /// The running kernel's BTF, read from `/sys/kernel/btf/vmlinux` in one go and decoded
    /// whole (for walking every type; loading uses [`Btf::kernel_lazy`]).
    pub fn kernel() -> Result<Btf> {
        Self::from_file("/sys/kernel/btf/vmlinux")
    }

    /// A BTF file, e.g. `/sys/kernel/btf/vmlinux` (mapped in one call where sysfs allows).
    pub fn from_file(path: &str) -> Result<Btf> {
        let data =
            crate::sys::file::read_btf_file(std::path::Path::new(path)).map_err(|source| {
                BtfError::Io {
                    path: path.to_string(),
                    source,
                }
            })?;
        Btf::parse(&data)
    }

    /// A kernel module's split BTF (`/sys/kernel/btf/<module>`) on top of `base` (vmlinux).
    pub fn kernel_module(module: &str, base: &Btf) -> Result<Btf> {
        let path = format!("/sys/kernel/btf/{module}");
        let data = std::fs::read(&path).map_err(|source| BtfError::Io { path, source })?;
        Btf::parse_split(&data, base)
    }

    /// Number of type ids, void included (valid ids are `0..len()`).
    pub fn len(&self) -> usize {
        match &self.lazy {
            Some(l) => l.len(),
            None => self.types.len(),
        }
    }

    /// True when there is no type at all, not even void.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string section (of a lazy BTF too).
    pub fn string_bytes(&self) -> &[u8] {
        match &self.lazy {
            Some(l) => l.strings(),
            None => &self.strings,
        }
    }

    /// The NUL-terminated string at `off` in the string section.
    pub fn str_at(&self, off: u32) -> Result<&str> {
        let rest = self
            .string_bytes()
            .get(off as usize..)
            .ok_or(BtfError::BadString(off))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(BtfError::BadStringBytes(off))?;
        std::str::from_utf8(&rest[..end]).map_err(|_| BtfError::BadStringBytes(off))
    }

    /// The name of type `id`; "" when anonymous or when `id` / its name offset is invalid.
    pub fn name(&self, id: u32) -> &str {
        let off = match &self.lazy {
            Some(l) => l.name_off(id),
            None => self.types.get(id as usize).map(|t| t.name_off),
        };
        match off {
            Some(off) => self.str_at(off).unwrap_or(""),
            None => "",
        }
    }

    /// Type `id`.
    pub fn get(&self, id: u32) -> Result<&Type> {
        match &self.lazy {
            Some(l) => l.get(id),
            None => self.types.get(id as usize).ok_or(BtfError::NoSuchType(id)),
        }
    }

    /// Type `id`, for editing in place (a lazy BTF is decoded whole first).
    pub fn get_mut(&mut self, id: u32) -> Result<&mut Type> {
        self.materialize()?;
        self.types
            .get_mut(id as usize)
            .ok_or(BtfError::NoSuchType(id))
    }

    /// The `BTF_KIND_*` of type `id` (`kind::UNKN` for void or an invalid id).
    pub fn kind_of(&self, id: u32) -> u8 {
        if let Some(l) = &self.lazy {
            return l.kind(id);
        }
        self.types
            .get(id as usize)
            .map(|t| t.kind.kind())
            .unwrap_or(kind::UNKN)
    }

    /// The id of the first type named `name` of kind `kind` (`BTF_KIND_*`).
    pub fn find_by_name(&self, name: &str, kind: u8) -> Option<u32> {
        self.find_all_by_name(name)
            .find(|&id| self.kind_of(id) == kind)
    }

    /// Every type id named `name`, any kind, in increasing id order.
    pub fn find_all_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        // A lazy BTF searches its string section instead of indexing every name.
        let (lazy, eager) = match &self.lazy {
            Some(l) => (l.find_all(name), None),
            None => (Vec::new(), Some(self.find_indexed(name))),
        };
        lazy.into_iter().chain(eager.into_iter().flatten())
    }

    fn find_indexed<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let idx = self
            .name_index
            .get_or_init(|| index::NameIndex::build(self));
        // Types appended after the index was built are searched linearly.
        let fresh = idx.covered..self.types.len();
        idx.lookup(self, name).chain(
            fresh
                .map(|i| i as u32)
                .filter(move |&id| self.name(id) == name),
        )
    }

    /// Forget the name index (call after renaming types in place).
    pub fn invalidate_index(&mut self) {
        self.name_index = OnceLock::new();
    }

    /// Struct/union members of type `id` (typedefs and modifiers are not skipped).
    pub fn members(&self, id: u32) -> Result<&[Member]> {
        let t = self.get(id)?;
        match &t.kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => Ok(members),
            k => Err(BtfError::WrongKind {
                id,
                kind: k.kind_name(),
                expected: "struct or union",
            }),
        }
    }

    /// Follow typedefs, const, volatile, restrict and type tags to the underlying type.
    pub fn skip_mods_and_typedefs(&self, mut id: u32) -> Result<u32> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.get(id)?;
            if !t.kind.is_mod_or_typedef() {
                return Ok(id);
            }
            id = t.kind.ref_type().unwrap_or(0);
        }
        Err(BtfError::Loop {
            id,
            depth: MAX_RESOLVE_DEPTH,
        })
    }

    /// Size in bytes of type `id`, through typedefs, modifiers, vars and arrays.
    pub fn resolve_size(&self, id: u32) -> Result<u64> {
        let start = id;
        let mut id = id;
        let mut mult: u64 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.get(id)?;
            if let Some(size) = t.kind.own_size() {
                return mult.checked_mul(size as u64).ok_or_else(|| {
                    BtfError::Malformed(format!("type id {start}: size overflows"))
                });
            }
            match t.kind {
                Kind::Ptr { .. } => {
                    return mult.checked_mul(8).ok_or_else(|| {
                        BtfError::Malformed(format!("type id {start}: size overflows"))
                    })
                }
                Kind::Array { elem, nelems, .. } => {
                    mult = mult.checked_mul(nelems as u64).ok_or_else(|| {
                        BtfError::Malformed(format!("type id {start}: size overflows"))
                    })?;
                    id = elem;
                }
                Kind::Typedef { ty }
                | Kind::Volatile { ty }
                | Kind::Const { ty }
                | Kind::Restrict { ty }
                | Kind::TypeTag { ty, .. }
                | Kind::Var { ty, .. } => id = ty,
                ref k => {
                    return Err(BtfError::NoSize {
                        id,
                        kind: k.kind_name(),
                    })
                }
            }
        }
        Err(BtfError::Loop {
            id: start,
            depth: MAX_RESOLVE_DEPTH,
        })
    }

    /// Every type id of this blob's own part (the split part for split BTF), void excluded.
    pub fn own_ids(&self) -> std::ops::Range<u32> {
        (self.base_types.max(1))..(self.len() as u32)
    }
}

#[cfg(test)]
mod tests;
