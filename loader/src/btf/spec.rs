//! CO-RE access specifications: an access string ("0:1:2") walked through a BTF, and the
//! same walk repeated by member *name* in another BTF.

use super::{kind, Btf, BtfError, Kind, Member, Result};

/// How deep type comparisons and anonymous-member searches may recurse.
pub const MAX_DEPTH: u32 = 32;

/// A type name without its `___flavour` suffix: `task_struct___v2` -> `task_struct`.
/// The suffix starts at the last `___` that follows a non-underscore and is followed by one.
pub fn essential(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() < 5 {
        return name;
    }
    for i in (0..=b.len() - 5).rev() {
        if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
            return &name[..i + 1];
        }
    }
    name
}

/// Kinds CO-RE treats as the same: equal, or both enums (32 or 64 bits).
pub fn kind_compat(a: u8, b: u8) -> bool {
    a == b || (matches!(a, kind::ENUM | kind::ENUM64) && matches!(b, kind::ENUM | kind::ENUM64))
}

fn is_composite(k: &Kind) -> bool {
    matches!(k, Kind::Struct { .. } | Kind::Union { .. })
}

/// "struct task_struct", "enum bpf_map_type", "typedef u32", "int".
pub fn type_desc(btf: &Btf, id: u32) -> String {
    let name = match btf.name(id) {
        "" => "(anon)",
        n => n,
    };
    let Ok(t) = btf.get(id) else {
        return format!("[{id}] (invalid)");
    };
    match t.kind {
        Kind::Struct { .. } | Kind::Fwd { union: false } => format!("struct {name}"),
        Kind::Union { .. } | Kind::Fwd { union: true } => format!("union {name}"),
        Kind::Enum { .. } | Kind::Enum64 { .. } => format!("enum {name}"),
        Kind::Typedef { .. } => format!("typedef {name}"),
        Kind::Int { .. } | Kind::Float { .. } => name.to_string(),
        ref k => format!("{} {name}", k.kind_name().to_lowercase()),
    }
}

/// One step of an access that matters for matching in another BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The first index: pointer arithmetic on the root (`p[i]`), almost always 0.
    Root(u32),
    /// A named member; `local_ty` is its type in the local BTF (for compatibility checks).
    Member { name: String, local_ty: u32 },
    /// An array element.
    Index(u32),
}

/// An access resolved in one BTF: where the field is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub root: u32,
    /// Every index walked, anonymous members included (the access string's notation).
    pub raw: Vec<u32>,
    pub access: Vec<Access>,
    pub bit_offset: u64,
    /// Type of the accessed field (member type, array element, or the root).
    pub field_ty: u32,
    /// Bits of a bitfield member; 0 for anything else.
    pub bitfield_size: u32,
}

fn malformed(msg: String) -> BtfError {
    BtfError::Malformed(msg)
}

fn add_bits(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| malformed("field offset overflows".to_string()))
}

fn mul_bits(i: u32, size: u64) -> Result<u64> {
    (i as u64)
        .checked_mul(size)
        .and_then(|b| b.checked_mul(8))
        .ok_or_else(|| malformed(format!("access index {i} overflows the offset")))
}

/// Parse "0:1:2" into indices.
pub fn parse_access(access: &str) -> Result<Vec<u32>> {
    let idx: std::result::Result<Vec<u32>, _> = access.split(':').map(str::parse).collect();
    match idx {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(malformed(format!("bad CO-RE access string '{access}'"))),
    }
}

/// Walk `access` from local type `root`.
pub fn field_spec(btf: &Btf, root: u32, access: &str) -> Result<FieldSpec> {
    let idx = parse_access(access)?;
    let first = idx[0];
    let mut spec = FieldSpec {
        root,
        raw: idx.clone(),
        access: vec![Access::Root(first)],
        bit_offset: if first == 0 {
            0
        } else {
            mul_bits(first, btf.resolve_size(root)?)?
        },
        field_ty: root,
        bitfield_size: 0,
    };
    let mut cur = root;
    for &i in &idx[1..] {
        let id = btf.skip_mods_and_typedefs(cur)?;
        match &btf.get(id)?.kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                let m = members.get(i as usize).ok_or_else(|| {
                    malformed(format!(
                        "access '{access}': member #{i} of {} (it has {})",
                        type_desc(btf, id),
                        members.len()
                    ))
                })?;
                spec.bit_offset = add_bits(spec.bit_offset, m.bit_offset as u64)?;
                let name = btf.str_at(m.name_off)?;
                if !name.is_empty() {
                    spec.access.push(Access::Member {
                        name: name.to_string(),
                        local_ty: m.ty,
                    });
                }
                cur = m.ty;
                spec.bitfield_size = m.bitfield_size;
            }
            Kind::Array { elem, nelems, .. } => {
                if *nelems != 0 && i >= *nelems {
                    return Err(malformed(format!(
                        "access '{access}': index {i} of a {nelems}-element array"
                    )));
                }
                spec.bit_offset =
                    add_bits(spec.bit_offset, mul_bits(i, btf.resolve_size(*elem)?)?)?;
                spec.access.push(Access::Index(i));
                cur = *elem;
                spec.bitfield_size = 0;
            }
            k => {
                return Err(malformed(format!(
                    "access '{access}': index {i} into {} type id {id}, which has no members",
                    k.kind_name()
                )))
            }
        }
        spec.field_ty = cur;
    }
    Ok(spec)
}

/// The enumerator an ENUMVAL relocation points at: (name, value).
pub fn enum_spec(btf: &Btf, root: u32, access: &str) -> Result<(String, i64)> {
    let idx = parse_access(access)?;
    let id = btf.skip_mods_and_typedefs(root)?;
    let values = match &btf.get(id)?.kind {
        Kind::Enum { values, .. } | Kind::Enum64 { values, .. } => values,
        k => {
            return Err(malformed(format!(
                "enum value relocation on a {} (type id {id})",
                k.kind_name()
            )))
        }
    };
    match (
        idx.as_slice(),
        idx.first().and_then(|&i| values.get(i as usize)),
    ) {
        ([_], Some(v)) => Ok((btf.str_at(v.name_off)?.to_string(), v.val)),
        _ => Err(malformed(format!(
            "access '{access}' does not name one of the {} enumerators of {}",
            values.len(),
            type_desc(btf, id)
        ))),
    }
}

impl FieldSpec {
    /// `struct task_struct::real_parent (0:58)`.
    pub fn describe(&self, btf: &Btf) -> String {
        let mut s = type_desc(btf, self.root);
        let mut first_member = true;
        for a in &self.access {
            match a {
                Access::Root(0) => {}
                Access::Root(i) | Access::Index(i) => s.push_str(&format!("[{i}]")),
                Access::Member { name, .. } => {
                    s.push_str(if first_member { "::" } else { "." });
                    s.push_str(name);
                    first_member = false;
                }
            }
        }
        let raw: Vec<String> = self.raw.iter().map(u32::to_string).collect();
        format!("{s} ({})", raw.join(":"))
    }

    pub fn is_bitfield(&self, _btf: &Btf) -> Result<bool> {
        Ok(self.bitfield_size != 0)
    }

    /// May a load of this field change width? Only for zero-extended values: unsigned
    /// integers, unsigned enums, pointers.
    pub fn resizable(&self, btf: &Btf) -> Result<bool> {
        let id = btf.skip_mods_and_typedefs(self.field_ty)?;
        Ok(match btf.get(id)?.kind {
            Kind::Int { encoding, .. } => encoding & super::int_encoding::SIGNED == 0,
            Kind::Enum { signed, .. } | Kind::Enum64 { signed, .. } => !signed,
            Kind::Ptr { .. } => true,
            _ => false,
        })
    }

    /// The same access in `target`, starting at candidate root `cand`, members found by
    /// name (looking inside anonymous members). None when it does not exist there.
    pub fn match_in(&self, local: &Btf, target: &Btf, cand: u32) -> Result<Option<FieldSpec>> {
        let mut t = FieldSpec {
            root: cand,
            raw: Vec::with_capacity(self.raw.len()),
            access: self.access.clone(),
            bit_offset: 0,
            field_ty: cand,
            bitfield_size: 0,
        };
        let mut cur = cand;
        for a in &self.access {
            match a {
                Access::Root(i) => {
                    if *i != 0 {
                        t.bit_offset = mul_bits(*i, target.resolve_size(cand)?)?;
                    }
                    t.raw.push(*i);
                }
                Access::Member { name, local_ty } => {
                    let id = target.skip_mods_and_typedefs(cur)?;
                    if !is_composite(&target.get(id)?.kind) {
                        return Ok(None);
                    }
                    let Some((off, m)) = find_member(target, id, name, &mut t.raw, 0)? else {
                        return Ok(None);
                    };
                    if !fields_compat(local, *local_ty, target, m.ty, 0)? {
                        return Ok(None);
                    }
                    t.bit_offset = add_bits(t.bit_offset, off)?;
                    cur = m.ty;
                    t.bitfield_size = m.bitfield_size;
                }
                Access::Index(i) => {
                    let id = target.skip_mods_and_typedefs(cur)?;
                    let Kind::Array { elem, nelems, .. } = target.get(id)?.kind else {
                        return Ok(None);
                    };
                    if nelems != 0 && *i >= nelems {
                        return Ok(None);
                    }
                    t.bit_offset =
                        add_bits(t.bit_offset, mul_bits(*i, target.resolve_size(elem)?)?)?;
                    t.raw.push(*i);
                    cur = elem;
                    t.bitfield_size = 0;
                }
            }
            t.field_ty = cur;
        }
        Ok(Some(t))
    }
}

/// Member `name` of composite `comp`, also inside anonymous struct/union members; returns
/// its bit offset from the start of `comp` and pushes the indices walked onto `raw`.
fn find_member(
    btf: &Btf,
    comp: u32,
    name: &str,
    raw: &mut Vec<u32>,
    depth: u32,
) -> Result<Option<(u64, Member)>> {
    if depth > MAX_DEPTH {
        return Err(BtfError::Loop {
            id: comp,
            depth: MAX_DEPTH,
        });
    }
    for (i, m) in btf.members(comp)?.iter().enumerate() {
        let mname = btf.str_at(m.name_off)?;
        if mname == name {
            raw.push(i as u32);
            return Ok(Some((m.bit_offset as u64, m.clone())));
        }
        if mname.is_empty() {
            let inner = btf.skip_mods_and_typedefs(m.ty)?;
            if is_composite(&btf.get(inner)?.kind) {
                raw.push(i as u32);
                if let Some((off, found)) = find_member(btf, inner, name, raw, depth + 1)? {
                    return Ok(Some((add_bits(m.bit_offset as u64, off)?, found)));
                }
                raw.pop();
            }
        }
    }
    Ok(None)
}

/// Can a field of local type `lid` be read as target type `tid`? Composites always (their
/// members are matched by name on the next step), scalars by kind, enums and forward
/// declarations by name, arrays by element.
pub fn fields_compat(local: &Btf, lid: u32, target: &Btf, tid: u32, depth: u32) -> Result<bool> {
    if depth > MAX_DEPTH {
        return Err(BtfError::Loop {
            id: lid,
            depth: MAX_DEPTH,
        });
    }
    let lid = local.skip_mods_and_typedefs(lid)?;
    let tid = target.skip_mods_and_typedefs(tid)?;
    let (l, t) = (&local.get(lid)?.kind, &target.get(tid)?.kind);
    if is_composite(l) && is_composite(t) {
        return Ok(true);
    }
    if !kind_compat(l.kind(), t.kind()) {
        return Ok(false);
    }
    Ok(match (l, t) {
        (Kind::Ptr { .. }, _) | (Kind::Float { .. }, _) => true,
        (Kind::Fwd { .. } | Kind::Enum { .. } | Kind::Enum64 { .. }, _) => {
            essential(local.name(lid)) == essential(target.name(tid))
        }
        (Kind::Int { offset: a, .. }, Kind::Int { offset: b, .. }) => *a == 0 && *b == 0,
        (Kind::Array { elem: a, .. }, Kind::Array { elem: b, .. }) => {
            fields_compat(local, *a, target, *b, depth + 1)?
        }
        _ => false,
    })
}
