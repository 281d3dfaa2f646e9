//! CO-RE: rewrite the instructions clang marked with `bpf_core_relo` records so that they
//! use the target kernel's layout instead of the one in the program's own BTF.
//!
//! One record names a local root type, an access string ("0:1:2": root array index, then
//! member or array indices) and a kind. We find target types with the same essential name
//! (`task_struct___v1` -> `task_struct`), walk the same access by member *name* in each,
//! compute the value (offset, size, shift, existence, id, enum value) and patch the
//! instruction. When nothing matches, existence kinds become 0 and the others poison the
//! instruction with a call to helper 0xbad2310, which the verifier refuses only if the code
//! is reachable (the program is expected to guard it with an existence check).

use super::ext::CoreRelo;
use super::spec::{enum_spec, essential, field_spec, kind_compat, type_desc, FieldSpec, MAX_DEPTH};
use super::{int_encoding, kind, Btf, BtfError, Kind, Result};
use crate::insn::{
    Insn, BPF_ALU, BPF_ALU64, BPF_B, BPF_DW, BPF_H, BPF_K, BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_W,
    CALL, LD_IMM64,
};
use std::fmt;

/// `enum bpf_core_relo_kind`.
pub mod relo {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_ID_TARGET: u32 = 7;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
    pub const TYPE_MATCHES: u32 = 12;
}

/// The helper id of a poisoned instruction (libbpf and the kernel's verifier messages
/// both know it: "invalid func unknown#195896080").
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// Short name of a relocation kind, as libbpf prints it.
pub fn kind_name(k: u32) -> &'static str {
    const NAMES: [&str; 13] = [
        "byte_off",
        "byte_sz",
        "field_exists",
        "signed",
        "lshift_u64",
        "rshift_u64",
        "local_type_id",
        "target_type_id",
        "type_exists",
        "type_size",
        "enumval_exists",
        "enumval_value",
        "type_matches",
    ];
    NAMES.get(k as usize).copied().unwrap_or("unknown")
}

/// What one relocation did, for people (`--explain`, `inspect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreApplied {
    /// Instruction index in the slice given to [`apply`].
    pub insn_idx: usize,
    pub kind: u32,
    pub kind_name: &'static str,
    /// `struct task_struct::real_parent (0:58)`.
    pub local_spec: String,
    /// The matching target, same notation with the target's raw path; None when nothing
    /// in the target matched.
    pub target_spec: Option<String>,
    pub target_type_id: Option<u32>,
    /// The value the instruction held (clang's, from the local BTF).
    pub old: u64,
    /// The value for the target; None when the instruction was poisoned.
    pub new: Option<u64>,
    /// Target types with the right essential name and kind that were tried.
    pub candidates: usize,
    /// Set when a load's size was changed to the target field's size.
    pub size_change: Option<(u32, u32)>,
}

impl CoreApplied {
    pub fn poisoned(&self) -> bool {
        self.new.is_none()
    }
}

impl fmt::Display for CoreApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "insn #{} <{}> {}",
            self.insn_idx, self.kind_name, self.local_spec
        )?;
        match (&self.target_spec, self.new) {
            (Some(t), Some(new)) => write!(f, " => {t}: {} -> {new}", self.old)?,
            (None, Some(new)) if self.candidates == 0 => {
                write!(f, " => not in target: {} -> {new}", self.old)?
            }
            (None, Some(new)) => write!(
                f,
                " => no match among {} candidates: {} -> {new}",
                self.candidates, self.old
            )?,
            (Some(t), None) => write!(f, " => {t}: poisoned")?,
            (None, None) => write!(
                f,
                " => not in target ({} candidates): poisoned (call {POISON_HELPER:#x})",
                self.candidates
            )?,
        }
        if let Some((from, to)) = self.size_change {
            write!(f, ", load size {from} -> {to} bytes")?;
        }
        Ok(())
    }
}

fn relo_err(idx: usize, relo: &CoreRelo, msg: impl Into<String>) -> BtfError {
    BtfError::CoreRelo {
        insn: idx,
        kind: kind_name(relo.kind),
        msg: msg.into(),
    }
}

/// The result of resolving a relocation against the target, before patching.
struct Resolved {
    old: u64,
    new: Option<u64>,
    /// Whether the instruction must hold `old` (not for bitfields: clang and we may pick
    /// different but equally correct load windows).
    validate: bool,
    /// Field sizes (local, target) for a memory access whose width may need to change, and
    /// whether changing it is safe.
    sizes: Option<(u64, u64, bool)>,
    local_spec: String,
    target_spec: Option<String>,
    target_type_id: Option<u32>,
    candidates: usize,
}

/// Apply CO-RE record `relo` to `insns[idx]` (idx: the instruction the record's insn_off
/// points at, mapped by the caller), resolving `local` (the object's BTF) against `target`
/// (the kernel's).
pub fn apply(
    insns: &mut [Insn],
    idx: usize,
    relo: &CoreRelo,
    local: &Btf,
    target: &Btf,
) -> Result<CoreApplied> {
    if idx >= insns.len() {
        return Err(relo_err(
            idx,
            relo,
            format!(
                "instruction index past the end ({} instructions)",
                insns.len()
            ),
        ));
    }
    let r = resolve(relo, local, target).map_err(|e| match e {
        BtfError::CoreRelo { .. } => e,
        e => relo_err(idx, relo, e.to_string()),
    })?;
    let old = current_value(insns, idx);
    let patched = patch(insns, idx, relo, &r)?;
    Ok(CoreApplied {
        insn_idx: idx,
        kind: relo.kind,
        kind_name: kind_name(relo.kind),
        local_spec: r.local_spec,
        target_spec: r.target_spec,
        target_type_id: r.target_type_id,
        old: old.unwrap_or(r.old),
        new: if patched == Patched::Poisoned {
            None
        } else {
            r.new
        },
        candidates: r.candidates,
        size_change: match patched {
            Patched::Resized(a, b) => Some((a, b)),
            _ => None,
        },
    })
}

/// Target types that may correspond to local type `local_id`: same essential name,
/// compatible kind.
fn candidates(local: &Btf, local_id: u32, target: &Btf) -> Result<Vec<u32>> {
    let name = essential(local.name(local_id));
    if name.is_empty() {
        return Err(BtfError::Malformed(format!(
            "CO-RE root type id {local_id} ({}) has no name to look for in the target",
            local.get(local_id)?.kind.kind_name()
        )));
    }
    let lk = local.kind_of(local_id);
    Ok(target
        .find_all_by_name(name)
        .filter(|&id| kind_compat(lk, target.kind_of(id)))
        .collect())
}

fn resolve(relo: &CoreRelo, local: &Btf, target: &Btf) -> Result<Resolved> {
    let access = local.str_at(relo.access_str_off)?;
    let root = relo.type_id;
    local.get(root)?;
    match relo.kind {
        relo::FIELD_BYTE_OFFSET..=relo::FIELD_RSHIFT_U64 => {
            resolve_field(relo.kind, access, root, local, target)
        }
        relo::TYPE_ID_LOCAL..=relo::TYPE_SIZE | relo::TYPE_MATCHES => {
            if access != "0" {
                return Err(BtfError::Malformed(format!(
                    "type relocation with access string '{access}' (expected '0')"
                )));
            }
            resolve_type(relo.kind, root, local, target)
        }
        relo::ENUMVAL_EXISTS | relo::ENUMVAL_VALUE => {
            resolve_enumval(relo.kind, access, root, local, target)
        }
        k => Err(BtfError::Malformed(format!(
            "unknown CO-RE relocation kind {k}"
        ))),
    }
}

fn resolve_field(k: u32, access: &str, root: u32, local: &Btf, target: &Btf) -> Result<Resolved> {
    let lspec = field_spec(local, root, access)?;
    let lval = field_value(local, &lspec, k)?;
    let cands = candidates(local, root, target)?;
    let mut found: Option<(FieldSpec, u64)> = None;
    for &c in &cands {
        let Some(tspec) = lspec.match_in(local, target, c)? else {
            continue;
        };
        let v = field_value(target, &tspec, k)?;
        match &found {
            Some((prev, pv)) if *pv != v => {
                return Err(BtfError::Malformed(format!(
                    "ambiguous: {} gives {pv}, {} gives {v}",
                    prev.describe(target),
                    tspec.describe(target)
                )))
            }
            Some(_) => {}
            None => found = Some((tspec, v)),
        }
    }
    let validate = !lspec.is_bitfield(local)?;
    let sizes = match &found {
        Some((t, _)) if k == relo::FIELD_BYTE_OFFSET && validate && !t.is_bitfield(target)? => {
            let ls = local.resolve_size(lspec.field_ty)?;
            let ts = target.resolve_size(t.field_ty)?;
            Some((ls, ts, lspec.resizable(local)?))
        }
        _ => None,
    };
    let new = match &found {
        Some((_, v)) => Some(*v),
        None if k == relo::FIELD_EXISTS => Some(0),
        None => None,
    };
    Ok(Resolved {
        old: lval,
        new,
        validate,
        sizes,
        local_spec: lspec.describe(local),
        target_type_id: found.as_ref().map(|(t, _)| t.root),
        target_spec: found.map(|(t, _)| t.describe(target)),
        candidates: cands.len(),
    })
}

/// Value of a field relocation for a resolved spec.
fn field_value(btf: &Btf, spec: &FieldSpec, k: u32) -> Result<u64> {
    if k == relo::FIELD_EXISTS {
        return Ok(1);
    }
    let mt_id = btf.skip_mods_and_typedefs(spec.field_ty)?;
    let mt = &btf.get(mt_id)?.kind;
    if k == relo::FIELD_SIGNED {
        let signed = match *mt {
            Kind::Int { encoding, .. } => encoding & int_encoding::SIGNED != 0,
            Kind::Enum { signed, .. } | Kind::Enum64 { signed, .. } => signed,
            _ => false,
        };
        return Ok(signed as u64);
    }
    let bit_off = spec.bit_offset;
    let (byte_off, byte_sz, bit_sz) = if spec.bitfield_size == 0 {
        let sz = btf.resolve_size(spec.field_ty)?;
        let bits = sz.checked_mul(8).ok_or_else(|| {
            BtfError::Malformed(format!("{}: size {sz} overflows", spec.describe(btf)))
        })?;
        (bit_off / 8, sz, bits)
    } else {
        // Smallest naturally aligned load, starting at the member type's size, that holds
        // every bit of the field.
        let bit_sz = spec.bitfield_size as u64;
        let mut sz = btf.resolve_size(mt_id)?.max(1);
        let mut off = bit_off / 8 / sz * sz;
        while (bit_off - off * 8).saturating_add(bit_sz) > sz.saturating_mul(8) {
            if sz >= 8 {
                return Err(BtfError::Malformed(format!(
                    "bitfield {} does not fit in a 64-bit load",
                    spec.describe(btf)
                )));
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        (off, sz, bit_sz)
    };
    let shift_err = || {
        BtfError::Malformed(format!(
            "{}: field of {bit_sz} bits cannot be shifted within 64 bits",
            spec.describe(btf)
        ))
    };
    match k {
        relo::FIELD_BYTE_OFFSET => Ok(byte_off),
        relo::FIELD_BYTE_SIZE => Ok(byte_sz),
        // Little-endian: the field's top bit goes to bit 63, then down to bit 0.
        relo::FIELD_LSHIFT_U64 => (bit_off - byte_off * 8)
            .checked_add(bit_sz)
            .and_then(|end| 64u64.checked_sub(end))
            .ok_or_else(shift_err),
        relo::FIELD_RSHIFT_U64 => 64u64.checked_sub(bit_sz).ok_or_else(shift_err),
        _ => Err(BtfError::Malformed(format!(
            "kind {k} is not a field relocation"
        ))),
    }
}

fn resolve_type(k: u32, root: u32, local: &Btf, target: &Btf) -> Result<Resolved> {
    let local_spec = format!("{} ({root})", type_desc(local, root));
    let old = match k {
        relo::TYPE_ID_LOCAL | relo::TYPE_ID_TARGET => root as u64,
        relo::TYPE_SIZE => local.resolve_size(root)?,
        _ => 1,
    };
    if k == relo::TYPE_ID_LOCAL {
        return Ok(Resolved {
            old,
            new: Some(old),
            validate: true,
            sizes: None,
            local_spec: local_spec.clone(),
            target_spec: Some(local_spec),
            target_type_id: None,
            candidates: 0,
        });
    }
    let cands = candidates(local, root, target)?;
    let mut hit: Option<(u32, u64)> = None;
    for &c in &cands {
        let ok = if k == relo::TYPE_MATCHES {
            types_match(local, root, target, c)?
        } else {
            types_compat(local, root, target, c)?
        };
        if !ok {
            continue;
        }
        let v = match k {
            relo::TYPE_ID_TARGET => c as u64,
            relo::TYPE_SIZE => target.resolve_size(c)?,
            _ => 1,
        };
        match hit {
            Some((prev, pv)) if pv != v && k != relo::TYPE_MATCHES => {
                return Err(BtfError::Malformed(format!(
                    "ambiguous: target types {prev} and {c} both match {local_spec}, giving {pv} and {v}"
                )))
            }
            Some(_) => {}
            None => hit = Some((c, v)),
        }
    }
    let new = match hit {
        Some((_, v)) => Some(v),
        None if k == relo::TYPE_EXISTS || k == relo::TYPE_MATCHES => Some(0),
        None => None,
    };
    Ok(Resolved {
        old,
        new,
        validate: true,
        sizes: None,
        local_spec,
        target_spec: hit.map(|(c, _)| format!("{} ({c})", type_desc(target, c))),
        target_type_id: hit.map(|(c, _)| c),
        candidates: cands.len(),
    })
}

fn resolve_enumval(k: u32, access: &str, root: u32, local: &Btf, target: &Btf) -> Result<Resolved> {
    let (lname, lval) = enum_spec(local, root, access)?;
    let local_spec = format!("{}::{lname} = {lval} ({access})", type_desc(local, root));
    let old = if k == relo::ENUMVAL_EXISTS {
        1
    } else {
        lval as u64
    };
    let cands = candidates(local, root, target)?;
    let mut hit: Option<(u32, String, i64)> = None;
    for &c in &cands {
        let id = target.skip_mods_and_typedefs(c)?;
        let values = match &target.get(id)?.kind {
            Kind::Enum { values, .. } | Kind::Enum64 { values, .. } => values,
            _ => continue,
        };
        let ess = essential(&lname);
        let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| essential(target.str_at(v.name_off).unwrap_or("")) == ess)
        else {
            continue;
        };
        match &hit {
            Some((prev, _, pv)) if *pv != v.val && k == relo::ENUMVAL_VALUE => {
                return Err(BtfError::Malformed(format!(
                    "ambiguous: enums {prev} and {c} give {pv} and {} for {lname}",
                    v.val
                )))
            }
            Some(_) => {}
            None => {
                let tname = target.str_at(v.name_off).unwrap_or("").to_string();
                hit = Some((c, format!("{tname} ({i})"), v.val));
            }
        }
    }
    let new = match &hit {
        Some((_, _, v)) => Some(if k == relo::ENUMVAL_EXISTS {
            1
        } else {
            *v as u64
        }),
        None if k == relo::ENUMVAL_EXISTS => Some(0),
        None => None,
    };
    Ok(Resolved {
        old,
        new,
        validate: true,
        sizes: None,
        local_spec,
        target_spec: hit
            .as_ref()
            .map(|(c, n, v)| format!("{}::{n} = {v}", type_desc(target, *c))),
        target_type_id: hit.map(|(c, _, _)| c),
        candidates: cands.len(),
    })
}

/// Are local type `lid` and target type `tid` the same shape, for the type-based kinds?
/// Names were matched at the root; below it pointers, arrays and prototypes are compared
/// structurally, composites and enums by kind only.
pub fn types_compat(local: &Btf, lid: u32, target: &Btf, tid: u32) -> Result<bool> {
    compat_rec(local, lid, target, tid, 0, &mut 0)
}

/// Work allowed for one comparison: deep enough for any real type, bounded for hostile
/// BTF whose shared sub-types would make a naive walk exponential.
const MAX_STEPS: u32 = 200_000;

fn step(steps: &mut u32, depth: u32, lid: u32, tid: u32) -> Result<()> {
    *steps += 1;
    if depth > MAX_DEPTH {
        return Err(BtfError::Loop {
            id: lid,
            depth: MAX_DEPTH,
        });
    }
    if *steps > MAX_STEPS {
        return Err(BtfError::Malformed(format!(
            "comparing local type {lid} with target type {tid} takes more than {MAX_STEPS} steps"
        )));
    }
    Ok(())
}

fn compat_rec(
    local: &Btf,
    lid: u32,
    target: &Btf,
    tid: u32,
    depth: u32,
    steps: &mut u32,
) -> Result<bool> {
    step(steps, depth, lid, tid)?;
    let lid = local.skip_mods_and_typedefs(lid)?;
    let tid = target.skip_mods_and_typedefs(tid)?;
    let (l, t) = (&local.get(lid)?.kind, &target.get(tid)?.kind);
    if !kind_compat(l.kind(), t.kind()) {
        return Ok(false);
    }
    Ok(match (l, t) {
        (Kind::Int { offset: lo, .. }, Kind::Int { offset: to, .. }) => *lo == 0 && *to == 0,
        (Kind::Ptr { ty: a }, Kind::Ptr { ty: b }) => {
            compat_rec(local, *a, target, *b, depth + 1, steps)?
        }
        (Kind::Array { elem: a, .. }, Kind::Array { elem: b, .. }) => {
            compat_rec(local, *a, target, *b, depth + 1, steps)?
        }
        (
            Kind::FuncProto {
                ret: lr,
                params: lp,
            },
            Kind::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() || !compat_rec(local, *lr, target, *tr, depth + 1, steps)? {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !compat_rec(local, a.ty, target, b.ty, depth + 1, steps)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => matches!(
            l.kind(),
            kind::UNKN
                | kind::STRUCT
                | kind::UNION
                | kind::ENUM
                | kind::ENUM64
                | kind::FWD
                | kind::FLOAT
        ),
    })
}

/// The stricter relation of `bpf_core_type_matches()`: names agree at every named type,
/// every local member and enumerator exists in the target with a matching type, integers
/// agree in size and signedness, arrays in length. Behind a pointer, a named composite
/// matches by name alone (a forward declaration is enough).
pub fn types_match(local: &Btf, lid: u32, target: &Btf, tid: u32) -> Result<bool> {
    match_rec(local, lid, target, tid, false, 0, &mut 0)
}

fn match_rec(
    local: &Btf,
    lid: u32,
    target: &Btf,
    tid: u32,
    behind_ptr: bool,
    depth: u32,
    steps: &mut u32,
) -> Result<bool> {
    step(steps, depth, lid, tid)?;
    let lid = local.skip_mods_and_typedefs(lid)?;
    let tid = target.skip_mods_and_typedefs(tid)?;
    let (l, t) = (&local.get(lid)?.kind, &target.get(tid)?.kind);
    let (ln, tn) = (essential(local.name(lid)), essential(target.name(tid)));
    let named = matches!(
        l.kind(),
        kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 | kind::FWD
    );
    if named && !ln.is_empty() && ln != tn {
        return Ok(false);
    }
    // A forward declaration (either side) stands for any composite of its flavour.
    let union_flavour = |k: &Kind| match k {
        Kind::Union { .. } => Some(true),
        Kind::Struct { .. } => Some(false),
        Kind::Fwd { union } => Some(*union),
        _ => None,
    };
    if matches!(l, Kind::Fwd { .. }) || matches!(t, Kind::Fwd { .. }) {
        return Ok(union_flavour(l).is_some() && union_flavour(l) == union_flavour(t));
    }
    if !kind_compat(l.kind(), t.kind()) {
        return Ok(false);
    }
    Ok(match (l, t) {
        (Kind::Void, Kind::Void) => true,
        (Kind::Struct { members: lm, .. }, Kind::Struct { members: tm, .. })
        | (Kind::Union { members: lm, .. }, Kind::Union { members: tm, .. }) => {
            if behind_ptr && !ln.is_empty() {
                return Ok(true);
            }
            if lm.len() > tm.len() {
                return Ok(false);
            }
            for m in lm {
                let name = local.str_at(m.name_off)?;
                let Some(tmem) = tm
                    .iter()
                    .find(|x| target.str_at(x.name_off).ok() == Some(name))
                else {
                    return Ok(false);
                };
                if m.bitfield_size != tmem.bitfield_size
                    || !match_rec(local, m.ty, target, tmem.ty, false, depth + 1, steps)?
                {
                    return Ok(false);
                }
            }
            true
        }
        (
            Kind::Enum { values: lv, .. } | Kind::Enum64 { values: lv, .. },
            Kind::Enum { values: tv, .. } | Kind::Enum64 { values: tv, .. },
        ) => lv.iter().all(|v| {
            let n = essential(local.str_at(v.name_off).unwrap_or(""));
            tv.iter()
                .any(|w| essential(target.str_at(w.name_off).unwrap_or("")) == n)
        }),
        (
            Kind::Int {
                size: ls,
                encoding: le,
                ..
            },
            Kind::Int {
                size: ts,
                encoding: te,
                ..
            },
        ) => ls == ts && (le & int_encoding::SIGNED) == (te & int_encoding::SIGNED),
        (Kind::Float { size: a }, Kind::Float { size: b }) => a == b,
        (Kind::Ptr { ty: a }, Kind::Ptr { ty: b }) => {
            match_rec(local, *a, target, *b, true, depth + 1, steps)?
        }
        (
            Kind::Array {
                elem: a,
                nelems: na,
                ..
            },
            Kind::Array {
                elem: b,
                nelems: nb,
                ..
            },
        ) => na == nb && match_rec(local, *a, target, *b, false, depth + 1, steps)?,
        (
            Kind::FuncProto {
                ret: lr,
                params: lp,
            },
            Kind::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() || !match_rec(local, *lr, target, *tr, false, depth + 1, steps)?
            {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !match_rec(local, a.ty, target, b.ty, false, depth + 1, steps)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

/// The value an instruction carries where CO-RE would patch it (imm, offset, imm64).
fn current_value(insns: &[Insn], idx: usize) -> Option<u64> {
    let i = insns.get(idx)?;
    match i.class() {
        BPF_ALU | BPF_ALU64 => Some(i.imm as u32 as u64),
        BPF_LDX | BPF_ST | BPF_STX => Some(i.off as i64 as u64),
        BPF_LD if i.code == LD_IMM64 => {
            let hi = insns.get(idx + 1)?;
            Some((i.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32))
        }
        _ => None,
    }
}

fn mem_size_bytes(code: u8) -> u64 {
    match code & 0x18 {
        BPF_W => 4,
        BPF_H => 2,
        BPF_B => 1,
        _ => 8,
    }
}

fn mem_size_code(bytes: u64) -> Option<u8> {
    match bytes {
        1 => Some(BPF_B),
        2 => Some(BPF_H),
        4 => Some(BPF_W),
        8 => Some(BPF_DW),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Patched {
    Value,
    /// Offset patched and the load's width changed (local bytes, target bytes).
    Resized(u32, u32),
    Poisoned,
}

fn poison(insns: &mut [Insn], idx: usize) -> Patched {
    let wide = insns[idx].is_ld_imm64();
    insns[idx] = Insn::new(CALL, 0, 0, 0, POISON_HELPER);
    if wide {
        if let Some(next) = insns.get_mut(idx + 1) {
            *next = Insn::new(CALL, 0, 0, 0, POISON_HELPER);
        }
    }
    Patched::Poisoned
}

/// Write the new value into the instruction, or poison it.
fn patch(insns: &mut [Insn], idx: usize, relo: &CoreRelo, r: &Resolved) -> Result<Patched> {
    let insn = insns[idx];
    let bad = |msg: String| relo_err(idx, relo, msg);
    let class = insn.class();
    match class {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & 0x08 != BPF_K {
                return Err(bad(format!(
                    "ALU instruction (opcode {:#04x}) has no immediate to relocate",
                    insn.code
                )));
            }
            if r.validate && insn.imm as u32 as u64 != r.old & 0xffff_ffff {
                return Err(bad(format!(
                    "instruction holds {}, expected the local value {}",
                    insn.imm, r.old
                )));
            }
            let Some(v) = r.new else {
                return Ok(poison(insns, idx));
            };
            let imm = i32::try_from(v)
                .or_else(|_| u32::try_from(v).map(|u| u as i32))
                .map_err(|_| bad(format!("value {v} does not fit a 32-bit immediate")))?;
            insns[idx].imm = imm;
            Ok(Patched::Value)
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            if relo.kind != relo::FIELD_BYTE_OFFSET {
                return Err(bad(format!(
                    "memory instruction (opcode {:#04x}) for a {} relocation",
                    insn.code,
                    kind_name(relo.kind)
                )));
            }
            if r.validate && insn.off as i64 as u64 != r.old {
                return Err(bad(format!(
                    "instruction offset is {}, expected the local value {}",
                    insn.off, r.old
                )));
            }
            let Some(v) = r.new else {
                return Ok(poison(insns, idx));
            };
            let off = i16::try_from(v)
                .map_err(|_| bad(format!("offset {v} does not fit the 16-bit offset field")))?;
            let mut done = Patched::Value;
            if let Some((ls, ts, resizable)) = r.sizes {
                if ls != ts {
                    let cur = mem_size_bytes(insn.code);
                    if cur != ls {
                        return Err(bad(format!(
                            "{cur}-byte access to a {ls}-byte field cannot be resized"
                        )));
                    }
                    let code = mem_size_code(ts).filter(|_| resizable);
                    let Some(code) = code else {
                        // A signed or non-scalar field cannot be widened by a plain load.
                        return Ok(poison(insns, idx));
                    };
                    insns[idx].code = (insn.code & !0x18) | code;
                    done = Patched::Resized(ls as u32, ts as u32);
                }
            }
            insns[idx].off = off;
            Ok(done)
        }
        BPF_LD if insn.code == LD_IMM64 => {
            let Some(hi) = insns.get(idx + 1).copied() else {
                return Err(bad("ld_imm64 is the last instruction".to_string()));
            };
            let cur = (insn.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32);
            if r.validate && cur != r.old {
                return Err(bad(format!(
                    "instruction holds {cur}, expected the local value {}",
                    r.old
                )));
            }
            let Some(v) = r.new else {
                return Ok(poison(insns, idx));
            };
            insns[idx].imm = v as u32 as i32;
            insns[idx + 1].imm = (v >> 32) as u32 as i32;
            Ok(Patched::Value)
        }
        _ => Err(bad(format!(
            "cannot relocate an instruction with opcode {:#04x}",
            insn.code
        ))),
    }
}

#[cfg(test)]
mod tests;
