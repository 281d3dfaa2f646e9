//! Relocation: one entry program plus every sub-program it reaches becomes one instruction
//! stream; map references get fds, global data gets map value + offset, calls get their
//! relative targets, CO-RE records are resolved against the target kernel's BTF, and
//! func_info / line_info move with their functions. No kernel calls here: map fds come in
//! through a lookup function.

use crate::btf::ext::LineInfo;
use crate::btf::{core, Btf};
use crate::insn::{self, Insn};
use crate::obj::{Object, Program, RelocTarget};

#[derive(Debug, thiserror::Error)]
pub enum RelocError {
    #[error("prog '{prog}': instruction {insn} ('{func}'+{local}): relocation against '{symbol}': {reason}")]
    Insn {
        prog: String,
        func: String,
        insn: usize,
        local: usize,
        symbol: String,
        reason: String,
    },
    #[error("prog '{prog}': CO-RE relocation at instruction {insn}: {source}")]
    Core {
        prog: String,
        insn: usize,
        #[source]
        source: crate::btf::BtfError,
    },
    #[error("prog '{prog}': CO-RE relocations need BTF in the object and the kernel's BTF")]
    CoreWithoutBtf { prog: String },
}

/// What an instruction was and became (for --explain and inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub insn: usize,
    pub what: String,
    pub before: Insn,
    pub after: Insn,
}

/// A program ready for BPF_PROG_LOAD.
#[derive(Debug, Clone, Default)]
pub struct Linked {
    pub insns: Vec<Insn>,
    /// (function index in the object, first instruction in `insns`), entry first.
    pub layout: Vec<(usize, usize)>,
    /// Kernel-format `struct bpf_func_info` records (insn_off is an instruction index).
    pub func_info: Vec<u8>,
    /// Kernel-format `struct bpf_line_info` records.
    pub line_info: Vec<u8>,
    /// The same line records, decoded, for mapping a failing instruction to its source.
    pub lines: Vec<(usize, LineInfo)>,
    pub patches: Vec<Patch>,
    pub core: Vec<(usize, core::CoreApplied)>,
    /// CO-RE records left for the kernel to resolve ([`CoreBy::Kernel`]): kernel-format
    /// `struct bpf_core_relo` (insn_off in bytes from the start of `insns`, the local type
    /// id, the access string's offset, the kind), 16 bytes each.
    pub kernel_core: Vec<u8>,
}

/// Who resolves a program's CO-RE records.
#[derive(Debug, Clone, Copy)]
pub enum CoreBy<'a> {
    /// We do, against this BTF (the running kernel's); `None` when the caller has none,
    /// which is an error only if the program has CO-RE records.
    Us(Option<&'a Btf>),
    /// The kernel does, while it verifies the program (`BPF_PROG_LOAD`'s `core_relos`,
    /// Linux 5.17+): the records are moved to the linked program's coordinates and the
    /// instructions are left as clang wrote them.
    Kernel,
}

/// Link `prog` of `obj`. `map_fd` gives the fd of a map by its name in the object
/// (`jmp_table`, `.rodata`); `kernel_btf` is needed only when the program has CO-RE records.
pub fn link(
    obj: &Object,
    prog: &Program,
    map_fd: &dyn Fn(&str) -> Option<i32>,
    kernel_btf: Option<&Btf>,
) -> Result<Linked, RelocError> {
    link_with(obj, prog, map_fd, CoreBy::Us(kernel_btf))
}

/// [`link`], saying who resolves the CO-RE records.
pub fn link_with(
    obj: &Object,
    prog: &Program,
    map_fd: &dyn Fn(&str) -> Option<i32>,
    core_by: CoreBy<'_>,
) -> Result<Linked, RelocError> {
    // Lay out the entry function, then every function it reaches, in discovery order.
    let mut layout: Vec<(usize, usize)> = vec![(prog.func, 0)];
    let mut next = obj
        .functions
        .get(prog.func)
        .map(|f| f.insns.len())
        .unwrap_or(0);
    let mut i = 0;
    while i < layout.len() {
        let fidx = layout[i].0;
        if let Some(f) = obj.functions.get(fidx) {
            for r in &f.relocs {
                if let RelocTarget::Call { func } | RelocTarget::FuncAddr { func } = r.target {
                    if !layout.iter().any(|(g, _)| *g == func) {
                        layout.push((func, next));
                        next += obj.functions.get(func).map(|f| f.insns.len()).unwrap_or(0);
                    }
                }
            }
        }
        i += 1;
    }
    let mut insns = Vec::with_capacity(next);
    for (fidx, _) in &layout {
        if let Some(f) = obj.functions.get(*fidx) {
            insns.extend_from_slice(&f.insns);
        }
    }
    let start_of = |func: usize| layout.iter().find(|(g, _)| *g == func).map(|(_, s)| *s);

    let mut out = Linked::default();
    for (fidx, start) in &layout {
        let Some(f) = obj.functions.get(*fidx) else {
            continue;
        };
        for r in &f.relocs {
            let at = start + r.insn;
            let err = |reason: String| RelocError::Insn {
                prog: prog.name.clone(),
                func: f.name.clone(),
                insn: at,
                local: r.insn,
                symbol: r.symbol.clone(),
                reason,
            };
            let before = insns
                .get(at)
                .copied()
                .ok_or_else(|| err("instruction index out of range".into()))?;
            let what;
            match &r.target {
                RelocTarget::Map { map } | RelocTarget::Data { map, .. } => {
                    let fd =
                        map_fd(map).ok_or_else(|| err(format!("map '{map}' was not created")))?;
                    if !before.is_ld_imm64() || insns.get(at + 1).is_none() {
                        return Err(err(format!(
                            "expected a 64-bit immediate load, found opcode {:#04x}",
                            before.code
                        )));
                    }
                    let (src, off) = match &r.target {
                        RelocTarget::Data { offset, .. } => {
                            (insn::BPF_PSEUDO_MAP_VALUE, *offset as i32)
                        }
                        _ => (insn::BPF_PSEUDO_MAP_FD, 0),
                    };
                    insns[at].src = src;
                    insns[at].imm = fd;
                    insns[at + 1].imm = off;
                    what = if src == insn::BPF_PSEUDO_MAP_VALUE {
                        format!("map '{map}' value + {off} (fd {fd})")
                    } else {
                        format!("map '{map}' (fd {fd})")
                    };
                }
                RelocTarget::Call { func } | RelocTarget::FuncAddr { func } => {
                    let t = start_of(*func)
                        .ok_or_else(|| err("call target was not laid out".into()))?;
                    let rel = t as i64 - at as i64 - 1;
                    insns[at].imm =
                        i32::try_from(rel).map_err(|_| err("call distance too large".into()))?;
                    let tname = obj
                        .functions
                        .get(*func)
                        .map(|g| g.name.as_str())
                        .unwrap_or("?");
                    if matches!(r.target, RelocTarget::FuncAddr { .. }) {
                        insns[at].src = insn::BPF_PSEUDO_FUNC;
                        if let Some(n) = insns.get_mut(at + 1) {
                            n.imm = 0;
                        }
                        what = format!("address of '{tname}' (pc{rel:+})");
                    } else {
                        what = format!("call '{tname}' (pc{rel:+})");
                    }
                }
            }
            out.patches.push(Patch {
                insn: at,
                what,
                before,
                after: insns[at],
            });
        }
    }

    // CO-RE, BTF.ext func_info and line_info: by section-relative byte offsets.
    if let (Some(ext), Some(btf)) = (&obj.btf_ext, &obj.btf) {
        let span = |fidx: usize| {
            obj.functions.get(fidx).map(|f| {
                (
                    f.section.as_str(),
                    f.offset,
                    f.offset + 8 * f.insns.len() as u64,
                )
            })
        };
        for (fidx, start) in &layout {
            let Some((sec, lo, hi)) = span(*fidx) else {
                continue;
            };
            for recs in ext.core_relos.iter().filter(|r| r.section == sec) {
                for rec in recs
                    .records
                    .iter()
                    .filter(|r| (lo..hi).contains(&(r.insn_off as u64)))
                {
                    let at = start + ((rec.insn_off as u64 - lo) / 8) as usize;
                    let target = match core_by {
                        CoreBy::Kernel => {
                            let off = u32::try_from(at * 8).map_err(|_| RelocError::Core {
                                prog: prog.name.clone(),
                                insn: at,
                                source: crate::btf::BtfError::Malformed(
                                    "program too large for a CO-RE record".into(),
                                ),
                            })?;
                            for v in [off, rec.type_id, rec.access_str_off, rec.kind] {
                                out.kernel_core.extend_from_slice(&v.to_ne_bytes());
                            }
                            continue;
                        }
                        CoreBy::Us(k) => k.ok_or_else(|| RelocError::CoreWithoutBtf {
                            prog: prog.name.clone(),
                        })?,
                    };
                    let applied =
                        core::apply(&mut insns, at, rec, btf, target).map_err(|source| {
                            RelocError::Core {
                                prog: prog.name.clone(),
                                insn: at,
                                source,
                            }
                        })?;
                    out.core.push((at, applied));
                }
            }
        }
        let mut fi = Vec::new();
        let mut complete = true;
        for (fidx, start) in &layout {
            let Some((sec, lo, _)) = span(*fidx) else {
                continue;
            };
            let rec = ext
                .func_info
                .iter()
                .filter(|r| r.section == sec)
                .flat_map(|r| r.records.iter())
                .find(|r| r.insn_off as u64 == lo);
            match rec {
                Some(r) => fi.push((*start as u32, r.type_id)),
                None => complete = false,
            }
        }
        // The kernel wants func_info for every function or none at all.
        if complete && !fi.is_empty() {
            for (off, ty) in &fi {
                out.func_info.extend_from_slice(&off.to_ne_bytes());
                out.func_info.extend_from_slice(&ty.to_ne_bytes());
            }
            for (fidx, start) in &layout {
                let Some((sec, lo, hi)) = span(*fidx) else {
                    continue;
                };
                for recs in ext.line_info.iter().filter(|r| r.section == sec) {
                    for l in recs
                        .records
                        .iter()
                        .filter(|r| (lo..hi).contains(&(r.insn_off as u64)))
                    {
                        let at = start + ((l.insn_off as u64 - lo) / 8) as usize;
                        out.lines.push((at, *l));
                    }
                }
            }
            out.lines.sort_by_key(|(at, _)| *at);
            for (at, l) in &out.lines {
                for v in [*at as u32, l.file_name_off, l.line_off, l.line_col] {
                    out.line_info.extend_from_slice(&v.to_ne_bytes());
                }
            }
        }
    }
    out.insns = insns;
    out.layout = layout;
    Ok(out)
}

impl Linked {
    /// The source line (file, line number, text) nearest before instruction `insn`.
    pub fn source_line(&self, btf: &Btf, insn: usize) -> Option<(String, u32, String)> {
        let (_, l) = self.lines.iter().rev().find(|(at, _)| *at <= insn)?;
        let file = btf.str_at(l.file_name_off).ok()?.to_string();
        let text = btf.str_at(l.line_off).ok()?.trim().to_string();
        Some((file, l.line(), text))
    }
}
