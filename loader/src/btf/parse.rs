//! Reading a `.BTF` blob: header, type section, string section. Every offset and count is
//! checked against the bytes that are there before anything is allocated.

use super::{kind, Btf, BtfError, EnumValue, Kind, Member, Param, Result, Type, VarSecinfo};

pub(super) const MAGIC: u16 = 0xeb9f;
/// `struct btf_header` as clang and the kernel write it (the version-1 layout).
pub(super) const HDR_LEN: usize = 24;

/// `struct btf_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub magic: u16,
    pub version: u8,
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

/// A little-endian reader over a slice that names what it was reading when it ran out.
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// A reader over `data` starting at byte `pos` (offsets in errors stay `data`'s).
    pub(super) fn at(data: &'a [u8], pos: usize) -> Self {
        Reader {
            data,
            pos: pos.min(data.len()),
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Fail unless `n` more bytes are there.
    pub(super) fn need(&self, what: &'static str, n: usize) -> Result<()> {
        if self.remaining() < n {
            return Err(BtfError::Truncated {
                what,
                offset: self.pos,
                need: n,
                have: self.remaining(),
            });
        }
        Ok(())
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32> {
        match self.data.get(self.pos..self.pos + 4) {
            Some(&[a, b, c, d]) => {
                self.pos += 4;
                Ok(u32::from_le_bytes([a, b, c, d]))
            }
            _ => Err(BtfError::Truncated {
                what,
                offset: self.pos,
                need: 4,
                have: self.remaining(),
            }),
        }
    }
}

/// Read and check the header; returns it with the type and string sections.
pub(super) fn header(data: &[u8]) -> Result<(Header, &[u8], &[u8])> {
    if data.len() < 8 {
        return Err(BtfError::Truncated {
            what: "header",
            offset: 0,
            need: 8,
            have: data.len(),
        });
    }
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != MAGIC {
        if magic == MAGIC.swap_bytes() {
            return Err(BtfError::Malformed(
                "big-endian BTF is not supported".to_string(),
            ));
        }
        return Err(BtfError::BadMagic(magic));
    }
    let version = data[2];
    if version != 1 {
        return Err(BtfError::BadVersion(version));
    }
    let flags = data[3];
    let hdr_len = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    if (hdr_len as usize) < HDR_LEN {
        return Err(BtfError::Malformed(format!(
            "header length {hdr_len} is shorter than the {HDR_LEN} bytes of struct btf_header"
        )));
    }
    if hdr_len as usize > data.len() {
        return Err(BtfError::Truncated {
            what: "header",
            offset: 0,
            need: hdr_len as usize,
            have: data.len(),
        });
    }
    // A longer header from a newer writer is fine if the part we do not know is zero.
    if data[HDR_LEN..hdr_len as usize].iter().any(|&b| b != 0) {
        return Err(BtfError::Malformed(format!(
            "header of {hdr_len} bytes has non-zero fields past byte {HDR_LEN}"
        )));
    }
    let mut r = Reader::new(&data[8..HDR_LEN]);
    let h = Header {
        magic,
        version,
        flags,
        hdr_len,
        type_off: r.u32("header")?,
        type_len: r.u32("header")?,
        str_off: r.u32("header")?,
        str_len: r.u32("header")?,
    };
    let body = &data[hdr_len as usize..];
    let section = |what: &'static str, off: u32, len: u32| -> Result<&[u8]> {
        let end = (off as usize).checked_add(len as usize);
        match end {
            Some(end) if end <= body.len() => Ok(&body[off as usize..end]),
            _ => Err(BtfError::Truncated {
                what,
                offset: hdr_len as usize + off as usize,
                need: len as usize,
                have: body.len().saturating_sub(off as usize),
            }),
        }
    };
    let types = section("type section", h.type_off, h.type_len)?;
    let strs = section("string section", h.str_off, h.str_len)?;
    if h.type_off & 3 != 0 {
        return Err(BtfError::Malformed(format!(
            "type section offset {} is not 4-byte aligned",
            h.type_off
        )));
    }
    let (t0, t1) = (h.type_off as u64, h.type_off as u64 + h.type_len as u64);
    let (s0, s1) = (h.str_off as u64, h.str_off as u64 + h.str_len as u64);
    if t0 < s1 && s0 < t1 {
        return Err(BtfError::Malformed(
            "type and string sections overlap".to_string(),
        ));
    }
    Ok((h, types, strs))
}

impl Btf {
    /// Parse a `.BTF` blob (an object's `.BTF` section or `/sys/kernel/btf/vmlinux`).
    pub fn parse(data: &[u8]) -> Result<Btf> {
        let (_, type_sec, str_sec) = header(data)?;
        if str_sec.first() != Some(&0) {
            return Err(BtfError::Malformed(
                "string section must begin with an empty string (a NUL byte)".to_string(),
            ));
        }
        let mut btf = Btf {
            types: Vec::new(),
            strings: str_sec.to_vec(),
            ..Default::default()
        };
        btf.types.push(Type {
            name_off: 0,
            kind: Kind::Void,
        });
        parse_types(&mut btf, type_sec)?;
        btf.validate(1)?;
        Ok(btf)
    }

    /// Parse split BTF (a kernel module's) whose ids and string offsets continue `base`'s.
    pub fn parse_split(data: &[u8], base: &Btf) -> Result<Btf> {
        if base.is_lazy() {
            return Err(BtfError::Malformed(
                "split BTF needs a decoded base (Btf::kernel, not Btf::kernel_lazy)".to_string(),
            ));
        }
        let (_, type_sec, str_sec) = header(data)?;
        let mut btf = Btf {
            types: Vec::with_capacity(base.types.len()),
            strings: Vec::with_capacity(base.strings.len() + str_sec.len()),
            base_types: base.types.len() as u32,
            base_str_len: base.strings.len() as u32,
            ..Default::default()
        };
        btf.types.extend_from_slice(&base.types);
        btf.strings.extend_from_slice(&base.strings);
        btf.strings.extend_from_slice(str_sec);
        parse_types(&mut btf, type_sec)?;
        btf.validate(base.types.len() as u32)?;
        Ok(btf)
    }

    /// Check what parsing alone cannot: references point at existing types, names at
    /// strings. Only types `from..` are checked.
    fn validate(&self, from: u32) -> Result<()> {
        if self.strings.last().is_some_and(|&b| b != 0) {
            return Err(BtfError::Malformed(
                "string section does not end with a NUL byte".to_string(),
            ));
        }
        let n = self.types.len() as u32;
        let str_len = self.strings.len() as u32;
        for id in from.max(1)..n {
            check_type(id, &self.types[id as usize], n, str_len)?;
        }
        Ok(())
    }
}

/// Check one decoded type: its references point at ids below `n`, its names at offsets
/// inside a string section of `str_len` bytes.
pub(super) fn check_type(id: u32, t: &Type, n: u32, str_len: u32) -> Result<()> {
    let check_str = |off: u32| -> Result<()> {
        if off >= str_len && off != 0 {
            return Err(BtfError::BadString(off));
        }
        Ok(())
    };
    let k = &t.kind;
    check_str(t.name_off).map_err(|_| {
        BtfError::Malformed(format!(
            "type id {id} ({}): name offset {} is outside the string section ({} bytes)",
            k.kind_name(),
            t.name_off,
            str_len
        ))
    })?;
    let check_ref = |target: u32| -> Result<()> {
        if target >= n {
            return Err(BtfError::DanglingRef {
                id,
                kind: k.kind_name(),
                target,
            });
        }
        Ok(())
    };
    let check_name = |what: &str, off: u32| -> Result<()> {
        check_str(off).map_err(|_| {
            BtfError::Malformed(format!(
                "type id {id} ({}): {what} name offset {off} is outside the string section",
                k.kind_name()
            ))
        })
    };
    if let Some(r) = k.ref_type() {
        check_ref(r)?;
    }
    match k {
        Kind::Array { index, .. } => check_ref(*index)?,
        Kind::Struct { members, .. } | Kind::Union { members, .. } => {
            for m in members {
                check_ref(m.ty)?;
                check_name("member", m.name_off)?;
            }
        }
        Kind::Enum { values, .. } | Kind::Enum64 { values, .. } => {
            for v in values {
                check_name("enumerator", v.name_off)?;
            }
        }
        Kind::FuncProto { ret, params } => {
            check_ref(*ret)?;
            for p in params {
                check_ref(p.ty)?;
                check_name("parameter", p.name_off)?;
            }
        }
        Kind::Datasec { vars, .. } => {
            for v in vars {
                check_ref(v.ty)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Decode every type record of the type section, appending to `btf.types`.
fn parse_types(btf: &mut Btf, sec: &[u8]) -> Result<()> {
    let mut r = Reader::new(sec);
    // The smallest record is 12 bytes: an upper bound on the count, checked, for one reserve.
    btf.types.reserve(sec.len() / 12);
    while r.remaining() > 0 {
        let id = btf.types.len() as u32;
        let t = decode_one(&mut r, id)?;
        btf.types.push(t);
    }
    Ok(())
}

/// Decode the type record at the reader's position as type `id`.
pub(super) fn decode_one(r: &mut Reader, id: u32) -> Result<Type> {
    let name_off = r.u32("type record")?;
    let info = r.u32("type record")?;
    let size_or_type = r.u32("type record")?;
    let vlen = (info & 0xffff) as usize;
    let kind_num = ((info >> 24) & 0x1f) as u8;
    let kflag = info >> 31 == 1;
    // Each vlen-sized trailer is checked against the bytes left before allocating.
    let trailer = |r: &Reader, rec: usize| -> Result<()> {
        r.need(kind::name(kind_num), vlen * rec).map_err(|e| match e {
            BtfError::Truncated { offset, need, have, .. } => BtfError::Malformed(format!(
                "type id {id} ({}): {vlen} entries need {need} bytes at type-section offset {offset}, {have} left",
                kind::name(kind_num)
            )),
            e => e,
        })
    };
    let kind = match kind_num {
        kind::INT => {
            let v = r.u32("INT encoding")?;
            Kind::Int {
                size: size_or_type,
                encoding: ((v >> 24) & 0x0f) as u8,
                offset: ((v >> 16) & 0xff) as u8,
                bits: (v & 0xff) as u8,
            }
        }
        kind::PTR => Kind::Ptr { ty: size_or_type },
        kind::ARRAY => Kind::Array {
            elem: r.u32("ARRAY record")?,
            index: r.u32("ARRAY record")?,
            nelems: r.u32("ARRAY record")?,
        },
        kind::STRUCT | kind::UNION => {
            trailer(r, 12)?;
            let mut members = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = r.u32("member")?;
                let ty = r.u32("member")?;
                let off = r.u32("member")?;
                let (bit_offset, bitfield_size) = if kflag {
                    (off & 0x00ff_ffff, off >> 24)
                } else {
                    (off, 0)
                };
                members.push(Member {
                    name_off,
                    ty,
                    bit_offset,
                    bitfield_size,
                });
            }
            if kind_num == kind::STRUCT {
                Kind::Struct {
                    size: size_or_type,
                    members,
                }
            } else {
                Kind::Union {
                    size: size_or_type,
                    members,
                }
            }
        }
        kind::ENUM => {
            trailer(r, 8)?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = r.u32("enumerator")?;
                let raw = r.u32("enumerator")?;
                let val = if kflag { raw as i32 as i64 } else { raw as i64 };
                values.push(EnumValue { name_off, val });
            }
            Kind::Enum {
                size: size_or_type,
                signed: kflag,
                values,
            }
        }
        kind::ENUM64 => {
            trailer(r, 12)?;
            let mut values = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                let name_off = r.u32("enumerator")?;
                let lo = r.u32("enumerator")? as u64;
                let hi = r.u32("enumerator")? as u64;
                values.push(EnumValue {
                    name_off,
                    val: ((hi << 32) | lo) as i64,
                });
            }
            Kind::Enum64 {
                size: size_or_type,
                signed: kflag,
                values,
            }
        }
        kind::FWD => Kind::Fwd { union: kflag },
        kind::TYPEDEF => Kind::Typedef { ty: size_or_type },
        kind::VOLATILE => Kind::Volatile { ty: size_or_type },
        kind::CONST => Kind::Const { ty: size_or_type },
        kind::RESTRICT => Kind::Restrict { ty: size_or_type },
        kind::FUNC => Kind::Func {
            proto: size_or_type,
            linkage: vlen as u32,
        },
        kind::FUNC_PROTO => {
            trailer(r, 8)?;
            let mut params = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                params.push(Param {
                    name_off: r.u32("parameter")?,
                    ty: r.u32("parameter")?,
                });
            }
            Kind::FuncProto {
                ret: size_or_type,
                params,
            }
        }
        kind::VAR => Kind::Var {
            ty: size_or_type,
            linkage: r.u32("VAR linkage")?,
        },
        kind::DATASEC => {
            trailer(r, 12)?;
            let mut vars = Vec::with_capacity(vlen);
            for _ in 0..vlen {
                vars.push(VarSecinfo {
                    ty: r.u32("DATASEC entry")?,
                    offset: r.u32("DATASEC entry")?,
                    size: r.u32("DATASEC entry")?,
                });
            }
            Kind::Datasec {
                size: size_or_type,
                vars,
            }
        }
        kind::FLOAT => Kind::Float { size: size_or_type },
        kind::DECL_TAG => Kind::DeclTag {
            ty: size_or_type,
            component_idx: r.u32("DECL_TAG component index")? as i32,
            attr: kflag,
        },
        kind::TYPE_TAG => Kind::TypeTag {
            ty: size_or_type,
            attr: kflag,
        },
        k => return Err(BtfError::UnknownKind { id, kind: k }),
    };
    Ok(Type { name_off, kind })
}
