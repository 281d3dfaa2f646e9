//! Writing BTF back to bytes (for BPF_BTF_LOAD), and growing it: strings and types.

use super::parse::{HDR_LEN, MAGIC};
use super::{Btf, BtfError, Kind, Result, Type};

/// `BTF_MAX_VLEN`: vlen is 16 bits of `info`.
const MAX_VLEN: usize = 0xffff;

fn info(kind: u8, kflag: bool, vlen: usize) -> u32 {
    ((kflag as u32) << 31) | ((kind as u32) << 24) | vlen as u32
}

impl Btf {
    /// The BTF blob: header, type section, string section (this blob's own part only, for
    /// split BTF). Fails only if an edited type no longer fits the format.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let first = self.own_ids().start as usize;
        let mut types: Vec<u8> =
            Vec::with_capacity((self.types.len() - first.min(self.types.len())) * 16);
        for (i, t) in self.types.iter().enumerate().skip(first) {
            encode(&mut types, i as u32, t)?;
        }
        let strings = self
            .strings
            .get(self.base_str_len as usize..)
            .ok_or(BtfError::Malformed(format!(
                "base string length {} exceeds the string section",
                self.base_str_len
            )))?;
        let too_big = |what: &str| BtfError::Malformed(format!("{what} exceeds 4 GiB"));
        let type_len = u32::try_from(types.len()).map_err(|_| too_big("type section"))?;
        let str_len = u32::try_from(strings.len()).map_err(|_| too_big("string section"))?;
        let mut out = Vec::with_capacity(HDR_LEN + types.len() + strings.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        for w in [HDR_LEN as u32, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        Ok(out)
    }

    /// Offset of `s` in the string section, appending it when it is not there yet.
    pub fn add_string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(off) = self.find_string(s) {
            return off;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Offset of an existing string equal to `s` (a whole string, not a suffix).
    pub fn find_string(&self, s: &str) -> Option<u32> {
        let own = (self.base_str_len as usize).min(self.strings.len());
        // Split BTF's own strings start at the boundary, not after a NUL of the base.
        for (lo, hi) in [(0, own), (own, self.strings.len())] {
            let mut start = lo;
            for i in lo..hi {
                if self.strings[i] == 0 {
                    if &self.strings[start..i] == s.as_bytes() {
                        return Some(start as u32);
                    }
                    start = i + 1;
                }
            }
        }
        None
    }

    /// Append a type; returns its id.
    pub fn add_type(&mut self, t: Type) -> u32 {
        self.types.push(t);
        (self.types.len() - 1) as u32
    }
}

fn put(out: &mut Vec<u8>, w: u32) {
    out.extend_from_slice(&w.to_le_bytes());
}

/// One type record: `struct btf_type` and its trailing data.
fn encode(out: &mut Vec<u8>, id: u32, t: &Type) -> Result<()> {
    let k = &t.kind;
    let kind = k.kind();
    let vlen_of = |n: usize| -> Result<usize> {
        if n > MAX_VLEN {
            return Err(BtfError::Malformed(format!(
                "type id {id} ({}) has {n} entries, more than BTF can encode ({MAX_VLEN})",
                k.kind_name()
            )));
        }
        Ok(n)
    };
    put(out, t.name_off);
    match k {
        Kind::Void => {
            return Err(BtfError::Malformed(format!(
                "type id {id} is void; only id 0 may be"
            )))
        }
        Kind::Int {
            size,
            encoding,
            offset,
            bits,
        } => {
            put(out, info(kind, false, 0));
            put(out, *size);
            put(
                out,
                ((*encoding as u32 & 0x0f) << 24) | ((*offset as u32) << 16) | *bits as u32,
            );
        }
        Kind::Ptr { ty }
        | Kind::Typedef { ty }
        | Kind::Volatile { ty }
        | Kind::Const { ty }
        | Kind::Restrict { ty } => {
            put(out, info(kind, false, 0));
            put(out, *ty);
        }
        Kind::TypeTag { ty, attr } => {
            put(out, info(kind, *attr, 0));
            put(out, *ty);
        }
        Kind::Array {
            elem,
            index,
            nelems,
        } => {
            put(out, info(kind, false, 0));
            put(out, 0);
            put(out, *elem);
            put(out, *index);
            put(out, *nelems);
        }
        Kind::Struct { size, members } | Kind::Union { size, members } => {
            // kind_flag=1 is the encoding that can carry bitfield sizes; use it only then.
            let kflag = members.iter().any(|m| m.bitfield_size != 0);
            put(out, info(kind, kflag, vlen_of(members.len())?));
            put(out, *size);
            for m in members {
                if kflag && (m.bit_offset > 0x00ff_ffff || m.bitfield_size > 0xff) {
                    return Err(BtfError::Malformed(format!(
                        "type id {id}: member at bit {} of {} bits cannot be encoded",
                        m.bit_offset, m.bitfield_size
                    )));
                }
                put(out, m.name_off);
                put(out, m.ty);
                put(
                    out,
                    if kflag {
                        (m.bitfield_size << 24) | m.bit_offset
                    } else {
                        m.bit_offset
                    },
                );
            }
        }
        Kind::Enum {
            size,
            signed,
            values,
        } => {
            put(out, info(kind, *signed, vlen_of(values.len())?));
            put(out, *size);
            for v in values {
                put(out, v.name_off);
                put(out, v.val as u32);
            }
        }
        Kind::Enum64 {
            size,
            signed,
            values,
        } => {
            put(out, info(kind, *signed, vlen_of(values.len())?));
            put(out, *size);
            for v in values {
                put(out, v.name_off);
                put(out, v.val as u64 as u32);
                put(out, (v.val as u64 >> 32) as u32);
            }
        }
        Kind::Fwd { union } => {
            put(out, info(kind, *union, 0));
            put(out, 0);
        }
        Kind::Func { proto, linkage } => {
            put(out, info(kind, false, vlen_of(*linkage as usize)?));
            put(out, *proto);
        }
        Kind::FuncProto { ret, params } => {
            put(out, info(kind, false, vlen_of(params.len())?));
            put(out, *ret);
            for p in params {
                put(out, p.name_off);
                put(out, p.ty);
            }
        }
        Kind::Var { ty, linkage } => {
            put(out, info(kind, false, 0));
            put(out, *ty);
            put(out, *linkage);
        }
        Kind::Datasec { size, vars } => {
            put(out, info(kind, false, vlen_of(vars.len())?));
            put(out, *size);
            for v in vars {
                put(out, v.ty);
                put(out, v.offset);
                put(out, v.size);
            }
        }
        Kind::Float { size } => {
            put(out, info(kind, false, 0));
            put(out, *size);
        }
        Kind::DeclTag {
            ty,
            component_idx,
            attr,
        } => {
            put(out, info(kind, *attr, 0));
            put(out, *ty);
            put(out, *component_idx as u32);
        }
    }
    Ok(())
}
