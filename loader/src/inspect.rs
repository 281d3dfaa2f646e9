//! What an object holds, as plain data for `rbpf-load inspect` (text or JSON). No kernel:
//! only the ELF, its BTF, and, when asked, the running kernel's BTF file for CO-RE.
//!
//! Every part is computed by the same code the loader uses (section table, map parser,
//! `reloc::link`), so what inspect says is what load will do.

use crate::btf::core::{self as core_relo, relo};
use crate::btf::spec::{enum_spec, field_spec, type_desc};
use crate::btf::{kind, Btf, Kind};
use crate::disasm;
use crate::insn::{Insn, CALL};
use crate::load;
use crate::obj::{map_type, MapKind, ObjError, Object, Pinning, Program, RelocTarget};
use crate::reloc::{self, Linked};
use crate::section::{AttachKind, TcDirection};
use crate::valuefmt;
use object::{Object as _, ObjectSection};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// `BPF_FUNC_tail_call`: the helper whose r2 is a PROG_ARRAY and r3 the slot.
pub const HELPER_TAIL_CALL: i32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Obj(#[from] ObjError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("kernel BTF (needed by --kernel): {0}")]
    KernelBtf(String),
}

/// What to include besides the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct InspectOptions {
    /// Each program's instructions, with source lines.
    pub disasm: bool,
    /// Every BTF type in C form.
    pub btf_types: bool,
    /// Resolve CO-RE records against the running kernel's BTF.
    pub kernel: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub object: String,
    pub license: String,
    pub kern_version: u32,
    pub sections: Vec<SectionInfo>,
    pub programs: Vec<ProgramInfo>,
    pub maps: Vec<MapInfo>,
    pub relocations: Vec<RelocInfo>,
    pub core: Vec<CoreInfo>,
    pub btf: Option<BtfSummary>,
    pub tail_calls: Vec<TailCallSite>,
    /// Static PROG_ARRAY slots and call sites as edges: program -> program.
    pub tail_call_edges: Vec<TailCallEdge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btf_types: Option<Vec<BtfTypeInfo>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionInfo {
    pub index: usize,
    pub name: String,
    /// What the loader makes of it: program, maps, data, btf, license, relocations, other.
    pub role: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgramInfo {
    pub name: String,
    pub section: String,
    /// `xdp`, `sched_cls`, ...; None when nothing decides it.
    pub prog_type: Option<String>,
    /// How the type was decided (section name, context type) or why it could not be.
    pub type_source: String,
    pub attach: Option<String>,
    pub attach_arg: Option<String>,
    pub ctx_struct: Option<String>,
    /// Instructions of the entry function alone.
    pub insns: usize,
    /// Instructions after linking (entry plus every sub-program it reaches).
    pub linked_insns: usize,
    /// Sub-programs appended, with their first instruction in the linked program.
    pub subprograms: Vec<SubprogInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disasm: Option<Vec<DisasmLine>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubprogInfo {
    pub name: String,
    pub section: String,
    pub start: usize,
    pub insns: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DisasmLine {
    /// Index in the linked program.
    pub insn: usize,
    pub text: String,
    /// The function that starts here, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The C line that starts here (from BTF line_info).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceLine {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MapInfo {
    pub name: String,
    pub kernel_name: String,
    /// btf (`.maps`), legacy (`maps`) or data (global variables).
    pub defined_in: String,
    pub map_type: String,
    pub map_type_id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub key_type: Option<String>,
    pub value_type: Option<String>,
    pub max_entries: u32,
    pub flags: u32,
    pub flag_names: Vec<String>,
    pub pinning: String,
    /// Where a shared map is pinned and looked for (default pin root), if it is shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_path: Option<String>,
    /// Global data: the variables in it and their initial bytes (hex).
    pub variables: Vec<VarInfo>,
    pub initial_bytes: Option<usize>,
    /// Static PROG_ARRAY initialisers.
    pub values: Vec<SlotInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VarInfo {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub c_type: String,
    /// Initial value, shown through its BTF type; None for `.bss` (zeroes).
    pub initial: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotInfo {
    pub slot: u32,
    pub program: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelocInfo {
    pub section: String,
    pub function: String,
    /// Instruction index in the section (byte offset / 8), as llvm-objdump counts.
    pub insn: usize,
    /// Instruction index within the function.
    pub func_insn: usize,
    pub offset: u64,
    pub symbol: String,
    /// map, data, call, func_addr.
    pub kind: String,
    /// What the instruction becomes at load time.
    pub becomes: String,
    /// False for calls clang resolved itself (no ELF relocation).
    pub from_elf: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoreInfo {
    pub section: String,
    pub function: String,
    pub insn: usize,
    pub func_insn: usize,
    pub kind: String,
    pub type_id: u32,
    pub type_name: String,
    pub access: String,
    /// The access walked in the object's own BTF (`struct task_struct::pid (0:..)`).
    pub local: String,
    /// With --kernel: what it resolves to in the running kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<CoreKernel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoreKernel {
    pub target: Option<String>,
    pub target_type_id: Option<u32>,
    pub old: u64,
    pub new: Option<u64>,
    pub candidates: usize,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BtfSummary {
    pub types: usize,
    pub strings_bytes: usize,
    /// Kind name (as bpftool prints it) -> count.
    pub kinds: BTreeMap<String, usize>,
    pub func_info: usize,
    pub line_info: usize,
    pub core_relos: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BtfTypeInfo {
    pub id: u32,
    pub kind: String,
    pub name: String,
    pub c: String,
}

/// One `bpf_tail_call` call site.
#[derive(Debug, Clone, Serialize)]
pub struct TailCallSite {
    pub program: String,
    pub function: String,
    /// Index in the linked program.
    pub insn: usize,
    /// The map loaded into r2 before the call, if we can tell.
    pub map: Option<String>,
    /// The slot, when r3 is a constant set in the same straight-line block.
    pub slot: Option<u32>,
    /// Programs it can jump to (from the map's `.values`; empty when filled at run time).
    pub targets: Vec<SlotInfo>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct TailCallEdge {
    pub from: String,
    pub map: String,
    pub slot: u32,
    pub to: String,
}

fn io(path: &Path, source: std::io::Error) -> InspectError {
    InspectError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Inspect the object file at `path`.
pub fn inspect_file(path: &Path, opts: InspectOptions) -> Result<Report, InspectError> {
    let data = std::fs::read(path).map_err(|e| io(path, e))?;
    let obj = Object::from_file(path)?;
    inspect(&obj, &data, opts)
}

/// Inspect a parsed object; `data` is its ELF bytes (for the section table).
pub fn inspect(obj: &Object, data: &[u8], opts: InspectOptions) -> Result<Report, InspectError> {
    let kbtf = if opts.kernel {
        Some(load::kernel_btf().map_err(|e| InspectError::KernelBtf(e.to_string()))?)
    } else {
        None
    };
    let elf = object::File::parse(data).map_err(ObjError::Elf)?;
    let elf_relocs = elf_reloc_offsets(&elf);
    let sections = sections(&elf, obj);
    let maps = obj.maps.iter().map(|m| map_info(obj, m)).collect();
    let relocations = relocations(obj, &elf_relocs);
    let core = core_records(obj, kbtf.as_deref());
    let mut programs = Vec::new();
    let mut tail_calls = Vec::new();
    for p in &obj.programs {
        let linked = link_for_inspect(obj, p, kbtf.as_deref());
        tail_calls.extend(tail_call_sites(obj, p, &linked));
        programs.push(program_info(obj, p, &linked, opts.disasm));
    }
    let mut edges = BTreeSet::new();
    for site in &tail_calls {
        if let Some(map) = &site.map {
            for t in &site.targets {
                edges.insert(TailCallEdge {
                    from: site.program.clone(),
                    map: map.clone(),
                    slot: t.slot,
                    to: t.program.clone(),
                });
            }
        }
    }
    let btf = obj.btf.as_ref().map(|b| btf_summary(obj, b));
    let btf_types = match (&obj.btf, opts.btf_types) {
        (Some(b), true) => Some(
            b.own_ids()
                .filter_map(|id| {
                    let t = b.get(id).ok()?;
                    Some(BtfTypeInfo {
                        id,
                        kind: kind::name(t.kind.kind()).to_string(),
                        name: b.name(id).to_string(),
                        c: b.c_decl(id),
                    })
                })
                .collect(),
        ),
        _ => None,
    };
    Ok(Report {
        object: obj.name.clone(),
        license: obj.license.clone(),
        kern_version: obj.kern_version,
        sections,
        programs,
        maps,
        relocations,
        core,
        btf,
        tail_calls,
        tail_call_edges: edges.into_iter().collect(),
        btf_types,
    })
}

/// (section name, byte offset) of every ELF relocation in an executable section.
fn elf_reloc_offsets(elf: &object::File) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for sec in elf.sections() {
        if sec.kind() != object::SectionKind::Text {
            continue;
        }
        let name = sec.name().unwrap_or("").to_string();
        for (off, _) in sec.relocations() {
            out.insert((name.clone(), off));
        }
    }
    out
}

fn sections(elf: &object::File, obj: &Object) -> Vec<SectionInfo> {
    let mut out = Vec::new();
    for sec in elf.sections() {
        let name = sec.name().unwrap_or("").to_string();
        if name.is_empty() {
            continue;
        }
        let role = if sec.size() == 0 {
            "empty"
        } else if obj.functions.iter().any(|f| f.section == name) {
            if name == ".text" && obj.programs.iter().any(|p| p.section == name) {
                "programs (functions written without SEC())"
            } else if name == ".text" {
                "sub-programs"
            } else {
                "program"
            }
        } else if name == ".maps" {
            "maps (BTF-defined)"
        } else if name == "maps" {
            "maps (legacy bpf_map_def)"
        } else if obj.maps.iter().any(|m| m.name == name) {
            "global data (a map)"
        } else if name == ".BTF" {
            "BTF types"
        } else if name == ".BTF.ext" {
            "BTF func/line info, CO-RE"
        } else if name == "license" {
            "license"
        } else if name == "version" {
            "kernel version"
        } else if name.starts_with(".rel") {
            "relocations"
        } else if name.starts_with(".debug") {
            "DWARF (not loaded)"
        } else if name == ".symtab" || name == ".strtab" {
            "symbols"
        } else {
            "other"
        };
        out.push(SectionInfo {
            index: sec.index().0,
            name,
            role: role.to_string(),
            size: sec.size(),
        });
    }
    out
}

fn attach_text(k: AttachKind) -> &'static str {
    match k {
        AttachKind::Xdp => "XDP on a device (netlink IFLA_XDP)",
        AttachKind::Tc(Some(TcDirection::Ingress)) => {
            "tc clsact ingress (bpf filter, direct-action)"
        }
        AttachKind::Tc(Some(TcDirection::Egress)) => "tc clsact egress (bpf filter, direct-action)",
        AttachKind::Tc(None) => "tc clsact ingress or egress (bpf filter, direct-action)",
        AttachKind::RawTracepoint => "raw tracepoint (BPF_RAW_TRACEPOINT_OPEN)",
        AttachKind::Tracepoint => "tracepoint (perf event + link)",
        AttachKind::TpBtf => "BTF raw tracepoint (bpf link)",
        AttachKind::Trampoline => "fentry/fexit trampoline (bpf link)",
        AttachKind::Kprobe { ret: false } => "kprobe (perf event)",
        AttachKind::Kprobe { ret: true } => "kretprobe (perf event)",
        AttachKind::Uprobe { ret: false } => "uprobe (perf event)",
        AttachKind::Uprobe { ret: true } => "uretprobe (perf event)",
        AttachKind::Manual => "not attached by rbpf-load",
    }
}

/// Link as the loader would, with a placeholder fd for every map. Without kernel BTF the
/// CO-RE records are left out (the instructions keep clang's values).
fn link_for_inspect(obj: &Object, p: &Program, kbtf: Option<&Btf>) -> Linked {
    let dummy = |_: &str| Some(0);
    if let Ok(l) = reloc::link(obj, p, &dummy, kbtf) {
        return l;
    }
    let mut stripped = obj.clone();
    if let Some(e) = stripped.btf_ext.as_mut() {
        e.core_relos.clear();
    }
    reloc::link(&stripped, p, &dummy, None).unwrap_or_default()
}

fn program_info(obj: &Object, p: &Program, linked: &Linked, with_disasm: bool) -> ProgramInfo {
    let (prog_type, type_source, attach) = match load::program_def(p, None) {
        Ok((d, why)) => (
            Some(load::type_name(&d).to_string()),
            why,
            Some(attach_text(d.attach).to_string()),
        ),
        Err(e) => (None, e.to_string(), None),
    };
    let subprograms = linked
        .layout
        .iter()
        .skip(1)
        .filter_map(|(fidx, start)| {
            let f = obj.functions.get(*fidx)?;
            Some(SubprogInfo {
                name: f.name.clone(),
                section: f.section.clone(),
                start: *start,
                insns: f.insns.len(),
            })
        })
        .collect();
    ProgramInfo {
        name: p.name.clone(),
        section: p.section.clone(),
        prog_type,
        type_source,
        attach,
        attach_arg: p.attach_arg.clone(),
        ctx_struct: p.ctx_struct.clone(),
        insns: obj
            .functions
            .get(p.func)
            .map(|f| f.insns.len())
            .unwrap_or(0),
        linked_insns: linked.insns.len(),
        subprograms,
        disasm: with_disasm.then(|| disasm_program(obj, linked)),
    }
}

/// Relocation symbols by linked instruction index, for the disassembler.
fn symbols_at(obj: &Object, linked: &Linked) -> HashMap<usize, String> {
    let mut syms = HashMap::new();
    for (fidx, start) in &linked.layout {
        let Some(f) = obj.functions.get(*fidx) else {
            continue;
        };
        for r in &f.relocs {
            let s = match &r.target {
                RelocTarget::Map { map } | RelocTarget::Data { map, .. } => map.clone(),
                RelocTarget::Call { func } | RelocTarget::FuncAddr { func } => obj
                    .functions
                    .get(*func)
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| r.symbol.clone()),
            };
            syms.insert(start + r.insn, s);
        }
    }
    syms
}

fn disasm_program(obj: &Object, linked: &Linked) -> Vec<DisasmLine> {
    let syms = symbols_at(obj, linked);
    let starts: HashMap<usize, String> = linked
        .layout
        .iter()
        .filter_map(|(f, s)| obj.functions.get(*f).map(|f| (*s, f.name.clone())))
        .collect();
    let lines: HashMap<usize, SourceLine> = match &obj.btf {
        Some(btf) => linked
            .lines
            .iter()
            .filter_map(|(at, l)| {
                Some((
                    *at,
                    SourceLine {
                        file: btf.str_at(l.file_name_off).ok()?.to_string(),
                        line: l.line(),
                        col: l.col(),
                        text: btf.str_at(l.line_off).ok()?.trim().to_string(),
                    },
                ))
            })
            .collect(),
        None => HashMap::new(),
    };
    disasm::disasm_with(&linked.insns, |i| syms.get(&i).cloned())
        .into_iter()
        .map(|(insn, text)| DisasmLine {
            insn,
            text,
            function: starts.get(&insn).cloned(),
            source: lines.get(&insn).cloned(),
        })
        .collect()
}

fn btf_type_name(obj: &Object, id: u32) -> Option<String> {
    if id == 0 {
        return None;
    }
    let b = obj.btf.as_ref()?;
    let t = b.get(id).ok()?;
    Some(match &t.kind {
        Kind::Datasec { .. } => format!("section {}", b.name(id)),
        _ => short_name(b, id),
    })
}

/// `__u32`, `struct flow_event`, `int *`: how C would name the type in a declaration.
fn short_name(b: &Btf, id: u32) -> String {
    let name = b.name(id);
    match b.get(id).map(|t| &t.kind) {
        Ok(Kind::Struct { .. }) if !name.is_empty() => format!("struct {name}"),
        Ok(Kind::Union { .. }) if !name.is_empty() => format!("union {name}"),
        Ok(Kind::Enum { .. } | Kind::Enum64 { .. }) if !name.is_empty() => format!("enum {name}"),
        Ok(Kind::Typedef { .. } | Kind::Int { .. } | Kind::Float { .. }) => name.to_string(),
        _ => b.c_decl(id),
    }
}

fn flag_names(flags: u32) -> Vec<String> {
    const NAMES: [(u32, &str); 7] = [
        (1 << 0, "BPF_F_NO_PREALLOC"),
        (1 << 3, "BPF_F_RDONLY"),
        (1 << 4, "BPF_F_WRONLY"),
        (1 << 7, "BPF_F_RDONLY_PROG"),
        (1 << 8, "BPF_F_WRONLY_PROG"),
        (1 << 10, "BPF_F_MMAPABLE"),
        (1 << 11, "BPF_F_PRESERVE_ELEMS"),
    ];
    NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn map_info(obj: &Object, m: &crate::obj::MapDef) -> MapInfo {
    let mut variables = Vec::new();
    if let (MapKind::Data { section }, Some(b)) = (&m.kind, &obj.btf) {
        let vars = b
            .find_by_name(section, kind::DATASEC)
            .and_then(|id| match &b.get(id).ok()?.kind {
                Kind::Datasec { vars, .. } => Some(vars.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for v in vars {
            let name = b.name(v.ty).to_string();
            // DATASEC offsets are 0 in clang's output: the symbol table has the truth.
            let offset = obj
                .symbol_offsets
                .get(&(section.clone(), name.clone()))
                .and_then(|o| u32::try_from(*o).ok())
                .unwrap_or(v.offset);
            let (size, c_type, ty) = match &b.get(v.ty).map(|t| &t.kind) {
                Ok(Kind::Var { ty, .. }) => (
                    b.resolve_size(*ty)
                        .ok()
                        .and_then(|s| u32::try_from(s).ok())
                        .unwrap_or(v.size),
                    b.c_decl(v.ty),
                    *ty,
                ),
                _ => (v.size, String::new(), 0),
            };
            let initial = m.data.as_ref().and_then(|d| {
                d.get(offset as usize..(offset as usize).checked_add(size as usize)?)
                    .map(|bytes| valuefmt::to_json(b, ty, bytes))
            });
            variables.push(VarInfo {
                name,
                offset,
                size,
                c_type,
                initial,
            });
        }
        variables.sort_by_key(|v| v.offset);
    }
    // The sizes the loader gives the kernel (load::create_map decides the same way).
    let (key_size, value_size) = match m.map_type {
        map_type::PROG_ARRAY | map_type::PERF_EVENT_ARRAY => (4, 4),
        map_type::RINGBUF => (0, 0),
        _ => (m.key_size, m.value_size),
    };
    MapInfo {
        name: m.name.clone(),
        kernel_name: m.kernel_name.clone(),
        defined_in: match &m.kind {
            MapKind::Btf => "btf".into(),
            MapKind::Legacy => "legacy".into(),
            MapKind::Data { .. } => "data".into(),
        },
        map_type: map_type::name(m.map_type).to_string(),
        map_type_id: m.map_type,
        key_size,
        value_size,
        key_type: btf_type_name(obj, m.btf_key_type_id),
        value_type: btf_type_name(obj, m.btf_value_type_id),
        max_entries: m.max_entries,
        flags: m.map_flags,
        flag_names: flag_names(m.map_flags),
        pinning: match &m.pinning {
            Pinning::None => "none".into(),
            Pinning::ByName => "by name".into(),
            Pinning::ObjectNs { .. } => "PIN_OBJECT_NS".into(),
            Pinning::GlobalNs => "PIN_GLOBAL_NS".into(),
        },
        pin_path: crate::share::shared_path(m, &Default::default(), None)
            .map(|p| p.display().to_string()),
        variables,
        initial_bytes: m.data.as_ref().map(|d| d.len()),
        values: m
            .values
            .iter()
            .map(|(slot, p)| SlotInfo {
                slot: *slot,
                program: p.clone(),
            })
            .collect(),
    }
}

fn relocations(obj: &Object, elf: &BTreeSet<(String, u64)>) -> Vec<RelocInfo> {
    let mut out = Vec::new();
    for f in &obj.functions {
        for r in &f.relocs {
            let offset = f.offset + 8 * r.insn as u64;
            let fname = |i: usize| {
                obj.functions
                    .get(i)
                    .map(|g| g.name.clone())
                    .unwrap_or_default()
            };
            let (kind, becomes) = match &r.target {
                RelocTarget::Map { map } => (
                    "map",
                    format!("ld_imm64 of map '{map}' (its fd, BPF_PSEUDO_MAP_FD)"),
                ),
                RelocTarget::Data { map, offset } => (
                    "data",
                    format!(
                        "address of '{map}' value + {offset} (BPF_PSEUDO_MAP_VALUE){}",
                        var_at(obj, map, *offset)
                            .map(|v| format!(": {v}"))
                            .unwrap_or_default()
                    ),
                ),
                RelocTarget::Call { func } => (
                    "call",
                    format!("call '{}' (BPF-to-BPF, pc-relative)", fname(*func)),
                ),
                RelocTarget::FuncAddr { func } => (
                    "func_addr",
                    format!("address of '{}' (BPF_PSEUDO_FUNC)", fname(*func)),
                ),
            };
            out.push(RelocInfo {
                section: f.section.clone(),
                function: f.name.clone(),
                insn: (offset / 8) as usize,
                func_insn: r.insn,
                offset,
                symbol: r.symbol.clone(),
                kind: kind.into(),
                becomes,
                from_elf: elf.contains(&(f.section.clone(), offset)),
            });
        }
    }
    out.sort_by(|a, b| (&a.section, a.offset).cmp(&(&b.section, b.offset)));
    out
}

/// The global variable at `offset` of data section `map`.
fn var_at(obj: &Object, map: &str, offset: u32) -> Option<String> {
    let mut best: Option<(&str, u64)> = None;
    for ((sec, name), off) in &obj.symbol_offsets {
        if sec == map && *off <= offset as u64 && best.is_none_or(|(_, b)| *off > b) {
            best = Some((name, *off));
        }
    }
    best.map(|(n, o)| {
        if o == offset as u64 {
            n.to_string()
        } else {
            format!("{n} + {}", offset as u64 - o)
        }
    })
}

fn local_spec(btf: &Btf, rec: &crate::btf::ext::CoreRelo, access: &str) -> String {
    let r = match rec.kind {
        relo::FIELD_BYTE_OFFSET..=relo::FIELD_RSHIFT_U64 => {
            field_spec(btf, rec.type_id, access).map(|s| s.describe(btf))
        }
        relo::ENUMVAL_EXISTS | relo::ENUMVAL_VALUE => enum_spec(btf, rec.type_id, access)
            .map(|(n, v)| format!("{}::{n} = {v}", type_desc(btf, rec.type_id))),
        _ => Ok(type_desc(btf, rec.type_id)),
    };
    r.unwrap_or_else(|e| format!("(cannot walk: {e})"))
}

fn core_records(obj: &Object, kbtf: Option<&Btf>) -> Vec<CoreInfo> {
    let (Some(ext), Some(btf)) = (&obj.btf_ext, &obj.btf) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for sec in &ext.core_relos {
        for rec in &sec.records {
            let off = rec.insn_off as u64;
            let f = obj.functions.iter().find(|f| {
                f.section == sec.section
                    && off >= f.offset
                    && off < f.offset + 8 * f.insns.len() as u64
            });
            let func_insn = f.map(|f| ((off - f.offset) / 8) as usize).unwrap_or(0);
            let access = btf.str_at(rec.access_str_off).unwrap_or("?").to_string();
            let kernel = match (kbtf, f) {
                (Some(k), Some(f)) => {
                    let mut insns: Vec<Insn> = f.insns.clone();
                    Some(match core_relo::apply(&mut insns, func_insn, rec, btf, k) {
                        Ok(a) => CoreKernel {
                            target: a.target_spec.clone(),
                            target_type_id: a.target_type_id,
                            old: a.old,
                            new: a.new,
                            candidates: a.candidates,
                            summary: a.to_string(),
                        },
                        Err(e) => CoreKernel {
                            target: None,
                            target_type_id: None,
                            old: 0,
                            new: None,
                            candidates: 0,
                            summary: format!("error: {e}"),
                        },
                    })
                }
                _ => None,
            };
            out.push(CoreInfo {
                section: sec.section.clone(),
                function: f.map(|f| f.name.clone()).unwrap_or_default(),
                insn: (off / 8) as usize,
                func_insn,
                kind: core_relo::kind_name(rec.kind).to_string(),
                type_id: rec.type_id,
                type_name: type_desc(btf, rec.type_id),
                access: access.clone(),
                local: local_spec(btf, rec, &access),
                kernel,
            });
        }
    }
    out
}

fn btf_summary(obj: &Object, b: &Btf) -> BtfSummary {
    let mut kinds = BTreeMap::new();
    for id in b.own_ids() {
        if let Ok(t) = b.get(id) {
            *kinds
                .entry(kind::name(t.kind.kind()).to_string())
                .or_insert(0) += 1;
        }
    }
    let count = |v: Option<usize>| v.unwrap_or(0);
    let ext = obj.btf_ext.as_ref();
    BtfSummary {
        types: b.own_ids().len(),
        strings_bytes: b.strings.len(),
        kinds,
        func_info: count(ext.map(|e| e.func_info.iter().map(|s| s.records.len()).sum())),
        line_info: count(ext.map(|e| e.line_info.iter().map(|s| s.records.len()).sum())),
        core_relos: count(ext.map(|e| e.core_relos.iter().map(|s| s.records.len()).sum())),
    }
}

/// Does instruction `i` write register `reg`? Returns the instruction when it does.
fn writes(i: &Insn, reg: u8) -> bool {
    use crate::insn::{BPF_ALU, BPF_ALU64, BPF_LD, BPF_LDX};
    let class = i.class();
    (matches!(class, BPF_ALU | BPF_ALU64 | BPF_LDX | BPF_LD) && i.dst == reg)
        // A call clobbers r0-r5.
        || (i.code == CALL && reg <= 5)
}

/// Indexes that some jump in `insns` lands on.
fn jump_targets(insns: &[Insn]) -> BTreeSet<usize> {
    use crate::insn::{BPF_JMP, BPF_JMP32};
    let mut t = BTreeSet::new();
    for (idx, i) in insns.iter().enumerate() {
        let class = i.class();
        let op = i.code & 0xf0;
        if !matches!(class, BPF_JMP | BPF_JMP32) || op == 0x80 || op == 0x90 {
            continue;
        }
        // JA in JMP32 class (gotol) keeps its offset in imm.
        let off = if class == BPF_JMP32 && op == 0 {
            i.imm as i64
        } else {
            i.off as i64
        };
        if let Ok(to) = usize::try_from(idx as i64 + 1 + off) {
            t.insert(to);
        }
    }
    t
}

/// Every `bpf_tail_call` in `p` (after linking): the map in r2 and, when constant, r3.
fn tail_call_sites(obj: &Object, p: &Program, linked: &Linked) -> Vec<TailCallSite> {
    let maps_at: HashMap<usize, String> = linked
        .layout
        .iter()
        .filter_map(|(f, s)| obj.functions.get(*f).map(|f| (f, *s)))
        .flat_map(|(f, s)| {
            f.relocs.iter().filter_map(move |r| match &r.target {
                RelocTarget::Map { map } => Some((s + r.insn, map.clone())),
                _ => None,
            })
        })
        .collect();
    let targets = jump_targets(&linked.insns);
    let mut out = Vec::new();
    for (fi, (fidx, start)) in linked.layout.iter().enumerate() {
        let end = linked
            .layout
            .get(fi + 1)
            .map(|(_, s)| *s)
            .unwrap_or(linked.insns.len());
        let fname = obj
            .functions
            .get(*fidx)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        for at in *start..end {
            let Some(i) = linked.insns.get(at) else {
                continue;
            };
            if !(i.is_helper_call() && i.imm == HELPER_TAIL_CALL) {
                continue;
            }
            // Walk back inside the function to the last write of r2 and of r3.
            let last_write = |reg: u8| {
                (*start..at)
                    .rev()
                    .find(|&j| linked.insns.get(j).is_some_and(|x| writes(x, reg)))
            };
            let map = last_write(2).and_then(|j| maps_at.get(&j).cloned());
            let slot = last_write(3).and_then(|j| {
                let x = linked.insns.get(j)?;
                // `r3 = K` (mov, immediate), with no jump landing between it and the call.
                let is_mov_k = matches!(x.code, 0xb7 | 0xb4);
                let straight = !targets.range(j + 1..=at).any(|_| true);
                (is_mov_k && straight)
                    .then(|| u32::try_from(x.imm).ok())
                    .flatten()
            });
            let tgts = map
                .as_ref()
                .and_then(|m| obj.map(m))
                .map(|m| {
                    m.values
                        .iter()
                        .filter(|(s, _)| slot.is_none_or(|k| k == *s))
                        .map(|(s, p)| SlotInfo {
                            slot: *s,
                            program: p.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(TailCallSite {
                program: p.name.clone(),
                function: fname.clone(),
                insn: at,
                map,
                slot,
                targets: tgts,
            });
        }
    }
    out
}
