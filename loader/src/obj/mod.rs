//! ELF -> [`Object`]: what clang wrote, as plain data. No kernel, no syscalls.
//!
//! An object holds *functions* (every `STT_FUNC` symbol in an executable section, with its
//! instructions and relocations), *programs* (the entry points: global functions outside
//! `.text`), *maps* (BTF-defined in `.maps`, legacy `struct bpf_map_def` in `maps`, and one
//! single-entry array per global-data section), the license and version, and the BTF
//! blobs. References stay symbolic (map names, function indexes) until load time.

mod maps;
mod names;

pub use maps::{map_type, MapDef, MapKind, Pinning, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};

use crate::btf::{ext::BtfExt, Btf};
use crate::insn::{self, Insn};
use crate::section::{self, SectionDef};
use object::{Object as _, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget};
use std::collections::HashMap;
use std::path::Path;

/// Everything that can be wrong with an object file, naming the thing at fault.
#[derive(Debug, thiserror::Error)]
pub enum ObjError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a valid ELF object: {0}")]
    Elf(#[from] object::Error),
    #[error("not a BPF object: machine is {0:?}, expected BPF (EM_BPF)")]
    WrongMachine(object::Architecture),
    #[error("big-endian BPF objects are not supported")]
    BigEndian,
    #[error("not a BPF object: 32-bit ELF (ELFCLASS32); BPF objects are ELFCLASS64")]
    Elf32,
    #[error("section '{section}': {reason}")]
    Section { section: String, reason: String },
    #[error(
        "section '{section}': size {size} is not a multiple of 8 (BPF instructions are 8 bytes)"
    )]
    InsnSize { section: String, size: u64 },
    #[error("section '{section}', relocation at offset {offset}: {reason}")]
    Reloc {
        section: String,
        offset: u64,
        reason: String,
    },
    #[error("map '{map}': {reason}")]
    Map { map: String, reason: String },
    #[error("BTF: {0}")]
    Btf(#[from] crate::btf::BtfError),
    #[error("symbol '{symbol}': {reason}")]
    Symbol { symbol: String, reason: String },
}

pub type Result<T> = std::result::Result<T, ObjError>;

/// A BPF function: an entry program or a sub-program.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// The ELF section it lives in.
    pub section: String,
    /// Byte offset of its first instruction in that section.
    pub offset: u64,
    pub insns: Vec<Insn>,
    /// Relocations and intra-section calls, by instruction index within this function.
    pub relocs: Vec<Reloc>,
    pub global: bool,
}

/// What an instruction refers to, to be patched at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// ld_imm64 of a map (BTF-defined or legacy): becomes the map's fd.
    Map { map: String },
    /// ld_imm64 of an address in a global-data section: map value + offset.
    Data { map: String, offset: u32 },
    /// A BPF-to-BPF call to another function (index into [`Object::functions`]).
    Call { func: usize },
    /// ld_imm64 of a function's address (callbacks such as bpf_loop's).
    FuncAddr { func: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloc {
    /// Instruction index within the function.
    pub insn: usize,
    /// The ELF symbol the relocation names (for humans).
    pub symbol: String,
    pub target: RelocTarget,
}

/// An entry point: a program the kernel can load.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    pub section: String,
    /// Index into [`Object::functions`].
    pub func: usize,
    /// The section table's row, when the section name is a known one.
    pub def: Option<SectionDef>,
    /// The part after the prefix (`sys_enter` in `raw_tp/sys_enter`).
    pub attach_arg: Option<String>,
    /// The struct the context argument points to, from BTF (`xdp_md`, `__sk_buff`).
    pub ctx_struct: Option<String>,
}

/// A parsed object file.
#[derive(Debug, Clone)]
pub struct Object {
    /// File stem (`xdp_classifier` for `xdp_classifier.bpf.o`).
    pub name: String,
    pub license: String,
    pub kern_version: u32,
    pub functions: Vec<Function>,
    pub programs: Vec<Program>,
    pub maps: Vec<MapDef>,
    pub btf: Option<Btf>,
    pub btf_ext: Option<BtfExt>,
    /// Sizes of every section by name (for BTF fix-ups).
    pub section_sizes: HashMap<String, u64>,
    /// Offsets of named data symbols: (section, symbol) -> offset.
    pub symbol_offsets: HashMap<(String, String), u64>,
}

/// Global-data sections become maps: `.data`, `.rodata`, `.bss` and their `.name` variants.
fn is_data_section(name: &str) -> bool {
    [".data", ".rodata", ".bss"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}.")))
}

const R_BPF_64_64: u32 = 1;
const R_BPF_64_ABS64: u32 = 2;
const R_BPF_64_ABS32: u32 = 3;
const R_BPF_64_32: u32 = 10;

/// Collected while walking the ELF, before BTF is available to map parsing.
struct SymInfo {
    name: String,
    section: Option<usize>,
    value: u64,
    size: u64,
    is_func: bool,
    is_section: bool,
    global: bool,
}

impl Object {
    /// Read and parse an object file.
    pub fn from_file(path: &Path) -> Result<Object> {
        let data = crate::sys::file::read_file(path).map_err(|source| ObjError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.split('.').next().unwrap_or(n).to_string())
            .unwrap_or_else(|| "obj".into());
        Object::parse(&stem, &data)
    }

    /// Parse an object from its bytes. `name` names it in messages and map names.
    pub fn parse(name: &str, data: &[u8]) -> Result<Object> {
        // EI_DATA says the byte order before any multi-byte field is read in it.
        if data.starts_with(b"\x7fELF") && data.get(5) == Some(&2) {
            return Err(ObjError::BigEndian);
        }
        let file = object::File::parse(data)?;
        if file.architecture() != object::Architecture::Bpf {
            return Err(ObjError::WrongMachine(file.architecture()));
        }
        if !file.is_little_endian() {
            return Err(ObjError::BigEndian);
        }
        if !file.is_64() {
            return Err(ObjError::Elf32);
        }
        check_string_tables(&file, data)?;
        let names = names::ElfNames::new(&file, data).ok_or(ObjError::Elf32)?;

        let mut sec_names: HashMap<usize, String> = HashMap::new();
        let mut section_sizes = HashMap::new();
        let mut exec_sections = Vec::new();
        let mut license = String::new();
        let mut kern_version = 0;
        let mut btf_bytes = None;
        let mut btf_ext_bytes = None;
        for sec in file.sections() {
            let idx = sec.index().0;
            // A name past the string table is a damaged file, not an anonymous section.
            let sname = names
                .section(idx)
                .map_err(|e| ObjError::Section {
                    section: format!("#{idx}"),
                    reason: format!("name: {e}"),
                })?
                .to_string();
            sec_names.insert(idx, sname.clone());
            section_sizes.insert(sname.clone(), sec.size());
            let bad = |reason: String| ObjError::Section {
                section: sname.clone(),
                reason,
            };
            // Every section's bytes must be in the file, whether we use them or not.
            sec.data().map_err(|e| bad(e.to_string()))?;
            match sname.as_str() {
                "license" => {
                    let d = sec.data().map_err(|e| bad(e.to_string()))?;
                    let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
                    license = String::from_utf8_lossy(&d[..end]).into_owned();
                }
                "version" => {
                    let d = sec.data().map_err(|e| bad(e.to_string()))?;
                    if d.len() != 4 {
                        return Err(bad(format!("expected 4 bytes, found {}", d.len())));
                    }
                    kern_version = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                }
                ".BTF" => btf_bytes = Some(sec.data().map_err(|e| bad(e.to_string()))?),
                ".BTF.ext" => btf_ext_bytes = Some(sec.data().map_err(|e| bad(e.to_string()))?),
                _ => {}
            }
            if sec.kind() == object::SectionKind::Text && sec.size() > 0 {
                exec_sections.push(idx);
            }
        }

        check_relocation_sections(&file, data, &names)?;

        let btf = btf_bytes.map(Btf::parse).transpose()?;
        let btf_ext = match (&btf, btf_ext_bytes) {
            (Some(b), Some(e)) => Some(BtfExt::parse(e, b)?),
            _ => None,
        };

        // Symbols, by index.
        let mut syms: HashMap<usize, SymInfo> = HashMap::new();
        let mut symbol_offsets = HashMap::new();
        for s in file.symbols() {
            let section = s.section_index().map(|i| i.0);
            let name = names.symbol(s.index().0).map_err(|e| ObjError::Symbol {
                symbol: format!("#{}", s.index().0),
                reason: format!("name: {e}"),
            })?;
            let info = SymInfo {
                name: name.to_string(),
                section,
                value: s.address(),
                size: s.size(),
                is_func: s.kind() == object::SymbolKind::Text,
                is_section: s.kind() == object::SymbolKind::Section,
                global: s.is_global(),
            };
            if let Some(sn) = section.and_then(|i| sec_names.get(&i)) {
                if !info.name.is_empty() && !info.is_section {
                    symbol_offsets.insert((sn.clone(), info.name.clone()), info.value);
                }
            }
            syms.insert(s.index().0, info);
        }

        // Functions: every FUNC symbol in an executable section.
        let mut functions: Vec<Function> = Vec::new();
        let mut func_at: HashMap<(usize, u64), usize> = HashMap::new();
        for &sidx in &exec_sections {
            let sec = file
                .section_by_index(object::SectionIndex(sidx))
                .map_err(ObjError::Elf)?;
            let sname = sec_names.get(&sidx).cloned().unwrap_or_default();
            let bytes = sec.data().map_err(|e| ObjError::Section {
                section: sname.clone(),
                reason: e.to_string(),
            })?;
            if bytes.len() % insn::INSN_SIZE != 0 {
                return Err(ObjError::InsnSize {
                    section: sname,
                    size: bytes.len() as u64,
                });
            }
            let mut funcs: Vec<&SymInfo> = syms
                .values()
                .filter(|s| s.section == Some(sidx) && s.is_func)
                .collect();
            funcs.sort_by_key(|s| s.value);
            if funcs.is_empty() {
                return Err(ObjError::Section {
                    section: sname,
                    reason: "executable section without any function symbol".into(),
                });
            }
            for (i, f) in funcs.iter().enumerate() {
                // A function ends where its size says, or at the next function.
                let end = if f.size > 0 {
                    f.value.saturating_add(f.size)
                } else {
                    funcs
                        .get(i + 1)
                        .map(|n| n.value)
                        .unwrap_or(bytes.len() as u64)
                };
                let range = usize::try_from(f.value).ok().zip(usize::try_from(end).ok());
                let code = range
                    .filter(|(a, b)| a <= b && *b <= bytes.len() && a % 8 == 0 && b % 8 == 0)
                    .map(|(a, b)| &bytes[a..b])
                    .ok_or_else(|| ObjError::Symbol {
                        symbol: f.name.clone(),
                        reason: format!(
                            "function at offset {} size {} lies outside section '{}' ({} bytes) or is misaligned",
                            f.value,
                            f.size,
                            sname,
                            bytes.len()
                        ),
                    })?;
                let (insns, _) = insn::decode(code);
                func_at.insert((sidx, f.value), functions.len());
                functions.push(Function {
                    name: f.name.clone(),
                    section: sname.clone(),
                    offset: f.value,
                    insns,
                    relocs: Vec::new(),
                    global: f.global,
                });
            }
        }

        // Which function holds byte offset `off` of section `sidx`.
        let func_containing = |functions: &[Function], sidx: usize, off: u64| -> Option<usize> {
            let sname = sec_names.get(&sidx)?;
            functions.iter().position(|f| {
                &f.section == sname
                    && off >= f.offset
                    && off < f.offset + (f.insns.len() * insn::INSN_SIZE) as u64
            })
        };

        // Maps (needs BTF for `.maps`), then relocations that refer to them.
        let maps_found = maps::collect(
            name,
            &file,
            &names,
            &sec_names,
            btf.as_ref(),
            &syms_view(&syms),
        )?;
        let mut maps = maps_found.maps;
        maps::name_object_dirs(&mut maps, data);
        let map_by_sym = maps_found.by_symbol;

        for &sidx in &exec_sections {
            let sec = file
                .section_by_index(object::SectionIndex(sidx))
                .map_err(ObjError::Elf)?;
            let sname = sec_names.get(&sidx).cloned().unwrap_or_default();
            for (offset, rel) in sec.relocations() {
                let err = |reason: String| ObjError::Reloc {
                    section: sname.clone(),
                    offset,
                    reason,
                };
                if offset % insn::INSN_SIZE as u64 != 0 {
                    return Err(err("offset is not on an instruction boundary".into()));
                }
                let r_type = match rel.flags() {
                    RelocationFlags::Elf { r_type } => r_type,
                    _ => return Err(err("not an ELF relocation".into())),
                };
                let sym_idx = match rel.target() {
                    RelocationTarget::Symbol(s) => s.0,
                    _ => return Err(err("relocation without a symbol".into())),
                };
                let sym = syms
                    .get(&sym_idx)
                    .ok_or_else(|| err(format!("symbol index {sym_idx} does not exist")))?;
                let fidx = func_containing(&functions, sidx, offset)
                    .ok_or_else(|| err("offset is not inside any function".into()))?;
                let f = &functions[fidx];
                let ins_idx = ((offset - f.offset) / 8) as usize;
                let ins = f
                    .insns
                    .get(ins_idx)
                    .copied()
                    .ok_or_else(|| err("offset past the end".into()))?;
                let sym_name = if sym.name.is_empty() {
                    sym.section
                        .and_then(|i| sec_names.get(&i))
                        .cloned()
                        .unwrap_or_default()
                } else {
                    sym.name.clone()
                };
                let target_sec = sym.section.and_then(|i| sec_names.get(&i).cloned());
                let target = match (r_type, target_sec) {
                    (_, None) => {
                        return Err(err(format!(
                            "symbol '{sym_name}' is undefined (extern): externs (.kconfig, .ksyms) are not supported"
                        )))
                    }
                    (R_BPF_64_32, Some(_)) if ins.is_pseudo_call() => {
                        let tsec = sym.section.unwrap_or(0);
                        // i128: a symbol value and an immediate from the file cannot overflow it.
                        let toff = sym.value as i128 + (ins.imm as i128 + 1) * 8;
                        let func = u64::try_from(toff)
                            .ok()
                            .and_then(|o| func_at.get(&(tsec, o)).copied())
                            .ok_or_else(|| err(format!("call target '{sym_name}'+{toff} is not the start of a function")))?;
                        RelocTarget::Call { func }
                    }
                    (R_BPF_64_64, Some(tsec_name)) if ins.is_ld_imm64() => {
                        let tsec = sym.section.unwrap_or(0);
                        if let Some(map) = map_by_sym.get(&sym_idx) {
                            RelocTarget::Map { map: map.clone() }
                        } else if is_data_section(&tsec_name) {
                            let off = sym.value as i128 + ins.imm as i128;
                            let off = u32::try_from(off).map_err(|_| err(format!("data offset '{sym_name}'+{} = {off} is out of range", ins.imm)))?;
                            if !maps.iter().any(|m| m.name == tsec_name) {
                                return Err(err(format!("data section '{tsec_name}' has no map")));
                            }
                            RelocTarget::Data { map: tsec_name, offset: off }
                        } else if exec_sections.contains(&tsec) {
                            let toff = sym.value as i128 + ins.imm as i128;
                            let func = u64::try_from(toff)
                                .ok()
                                .and_then(|o| func_at.get(&(tsec, o)).copied())
                                .ok_or_else(|| err(format!("'{sym_name}'+{toff} is not the start of a function")))?;
                            RelocTarget::FuncAddr { func }
                        } else if tsec_name == ".maps" || tsec_name == "maps" {
                            return Err(err(format!("'{sym_name}' in {tsec_name} is not a map definition")));
                        } else {
                            return Err(err(format!(
                                "ld_imm64 refers to '{sym_name}' in section '{tsec_name}', which is neither a map nor global data"
                            )));
                        }
                    }
                    (R_BPF_64_ABS64 | R_BPF_64_ABS32, _) => continue,
                    (t, _) => {
                        return Err(err(format!(
                            "relocation type {t} against '{sym_name}' on instruction {ins_idx} (opcode {:#04x}) of '{}' is not supported",
                            ins.code, f.name
                        )))
                    }
                };
                functions[fidx].relocs.push(Reloc {
                    insn: ins_idx,
                    symbol: sym_name,
                    target,
                });
            }
        }

        // Calls inside one section that clang resolved itself (no relocation).
        for fidx in 0..functions.len() {
            let f = &functions[fidx];
            let sidx = match sec_names.iter().find(|(_, n)| **n == f.section) {
                Some((i, _)) => *i,
                None => continue,
            };
            let mut extra = Vec::new();
            for (i, ins) in f.insns.iter().enumerate() {
                if !ins.is_pseudo_call() || f.relocs.iter().any(|r| r.insn == i) {
                    continue;
                }
                let toff = f.offset as i64 + (i as i64 + 1 + ins.imm as i64) * 8;
                let func = u64::try_from(toff)
                    .ok()
                    .and_then(|o| func_at.get(&(sidx, o)).copied())
                    .ok_or_else(|| ObjError::Reloc {
                        section: f.section.clone(),
                        offset: f.offset + i as u64 * 8,
                        reason: format!(
                            "call in '{}' to offset {toff}, which is not the start of a function",
                            f.name
                        ),
                    })?;
                extra.push(Reloc {
                    insn: i,
                    symbol: functions[func].name.clone(),
                    target: RelocTarget::Call { func },
                });
            }
            functions[fidx].relocs.extend(extra);
            functions[fidx].relocs.sort_by_key(|r| r.insn);
        }

        // Programs: global functions outside .text; an object written without SEC() has
        // them all in .text, and those are its programs (as `ip ... sec .text` loads them).
        let mut programs: Vec<Program> = (0..functions.len())
            .filter(|&i| functions[i].global && functions[i].section != ".text")
            .map(|i| program_of(&functions, i, btf.as_ref()))
            .collect();
        if programs.is_empty() {
            programs = (0..functions.len())
                .filter(|&i| functions[i].global && functions[i].section == ".text")
                .map(|i| program_of(&functions, i, btf.as_ref()))
                .collect();
        }
        if programs.is_empty() {
            return Err(ObjError::Section {
                section: "(all)".into(),
                reason: "the object has no programs (no global function)".into(),
            });
        }

        maps.sort_by_key(|m| m.kind_order());
        Ok(Object {
            name: name.to_string(),
            license,
            kern_version,
            functions,
            programs,
            maps,
            btf,
            btf_ext,
            section_sizes,
            symbol_offsets,
        })
    }

    /// The object's BTF as the kernel wants it (DATASEC sizes and VAR offsets from the ELF
    /// tables), with one note per fix-up; None when the object has no BTF.
    pub fn btf_for_load(&self) -> crate::btf::Result<Option<(Btf, Vec<String>)>> {
        let Some(btf) = &self.btf else {
            return Ok(None);
        };
        let mut btf = btf.clone();
        let notes = btf.fixup_for_load(
            &|sec| {
                self.section_sizes
                    .get(sec)
                    .and_then(|s| u32::try_from(*s).ok())
            },
            &|sec, var| {
                self.symbol_offsets
                    .get(&(sec.to_string(), var.to_string()))
                    .and_then(|o| u32::try_from(*o).ok())
            },
        )?;
        Ok(Some((btf, notes)))
    }

    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    pub fn map(&self, name: &str) -> Option<&MapDef> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Programs whose section is `sec` (several may share one).
    pub fn programs_in(&self, sec: &str) -> Vec<&Program> {
        self.programs.iter().filter(|p| p.section == sec).collect()
    }

    /// Make the global functions of `.text` programs too (an object with `SEC()` programs
    /// keeps its global subprograms there): for `--sec .text`, as iproute2's `sec .text`.
    pub fn add_text_programs(&mut self) {
        for i in 0..self.functions.len() {
            let f = &self.functions[i];
            if f.global && f.section == ".text" && self.program(&f.name).is_none() {
                let p = program_of(&self.functions, i, self.btf.as_ref());
                self.programs.push(p);
            }
        }
    }

    /// Set a global variable's initial value before load (`.rodata` config, `.data`).
    /// `value` must have the variable's size.
    pub fn set_global(&mut self, var: &str, value: &[u8]) -> Result<()> {
        let (sec, off) = self
            .symbol_offsets
            .iter()
            .find(|((s, n), _)| n == var && is_data_section(s))
            .map(|((s, _), o)| (s.clone(), *o))
            .ok_or_else(|| ObjError::Symbol {
                symbol: var.into(),
                reason: "no global variable of that name in .data/.rodata/.bss".into(),
            })?;
        let map = self
            .maps
            .iter_mut()
            .find(|m| m.name == sec)
            .ok_or_else(|| ObjError::Map {
                map: sec.clone(),
                reason: "no map for this section".into(),
            })?;
        let size = map.value_size as usize;
        let data = map.data.get_or_insert_with(|| vec![0; size]);
        let off = off as usize;
        let end = off.checked_add(value.len()).filter(|e| *e <= data.len());
        match end {
            Some(end) => {
                data[off..end].copy_from_slice(value);
                Ok(())
            }
            None => Err(ObjError::Symbol {
                symbol: var.into(),
                reason: format!(
                    "{} bytes at offset {off} do not fit in '{sec}' ({} bytes)",
                    value.len(),
                    data.len()
                ),
            }),
        }
    }
}

/// Names are read lazily: an unreadable string table would otherwise surface as a bad
/// name on some section or symbol. Say which table it is.
fn check_string_tables(file: &object::File, data: &[u8]) -> Result<()> {
    use object::read::elf::{FileHeader as _, SectionHeader as _};
    let object::File::Elf64(elf) = file else {
        return Ok(());
    };
    let endian = elf.endian();
    let table = elf.elf_section_table();
    let shstrndx = elf
        .elf_header()
        .shstrndx(endian, data)
        .map_err(ObjError::Elf)? as usize;
    let symtab = elf.elf_symbol_table().section().0;
    let symtab_link = table
        .section(object::SectionIndex(symtab))
        .map(|s| s.sh_link(endian) as usize)
        .unwrap_or(0);
    for (what, idx) in [("section name", shstrndx), ("symbol name", symtab_link)] {
        if idx == 0 {
            continue;
        }
        let bad = |reason: String| ObjError::Section {
            section: format!("#{idx}"),
            reason: format!("the {what} string table cannot be read: {reason}"),
        };
        let sh = table
            .section(object::SectionIndex(idx))
            .map_err(|e| bad(e.to_string()))?;
        sh.data(endian, data).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// The `object` crate skips a relocation section it cannot read, or one tied to another
/// symbol table, without a word: a program would then load with unpatched instructions.
/// Check every `SHT_REL`/`SHT_RELA` section up front instead.
fn check_relocation_sections(
    file: &object::File,
    data: &[u8],
    names: &names::ElfNames,
) -> Result<()> {
    use object::elf::{SHT_REL, SHT_RELA};
    use object::read::elf::SectionHeader as _;
    let object::File::Elf64(elf) = file else {
        return Ok(());
    };
    let endian = elf.endian();
    let table = elf.elf_section_table();
    let symtab = elf.elf_symbol_table().section().0;
    for (i, sh) in table.iter().enumerate() {
        let t = sh.sh_type(endian);
        if t != SHT_REL && t != SHT_RELA {
            continue;
        }
        let name = names
            .section(i)
            .map(str::to_string)
            .unwrap_or_else(|_| format!("#{i}"));
        let bad = |reason: String| ObjError::Section {
            section: name.clone(),
            reason,
        };
        let bytes = sh.data(endian, data).map_err(|e| bad(e.to_string()))?;
        let entry = if t == SHT_REL { 16 } else { 24 };
        if bytes.len() % entry != 0 {
            return Err(bad(format!(
                "size {} is not a whole number of {entry}-byte relocations",
                bytes.len()
            )));
        }
        let link = sh.sh_link(endian) as usize;
        if link != symtab {
            return Err(bad(format!(
                "linked to section #{link}, not to the symbol table (#{symtab})"
            )));
        }
    }
    Ok(())
}

/// Function `i` as a program: its section decides the type when the table knows the name.
fn program_of(functions: &[Function], i: usize, btf: Option<&Btf>) -> Program {
    let f = &functions[i];
    let matched = section::lookup(&f.section);
    Program {
        name: f.name.clone(),
        section: f.section.clone(),
        func: i,
        def: matched.as_ref().map(|m| m.def),
        attach_arg: matched.and_then(|m| m.arg),
        ctx_struct: btf.and_then(|b| ctx_struct_of(b, &f.name)),
    }
}

/// The name of the struct a function's first argument points to, from BTF.
fn ctx_struct_of(btf: &Btf, func: &str) -> Option<String> {
    use crate::btf::{kind, Kind};
    let fid = btf.find_by_name(func, kind::FUNC)?;
    let proto = match &btf.get(fid).ok()?.kind {
        Kind::Func { proto, .. } => *proto,
        _ => return None,
    };
    let p0 = match &btf.get(proto).ok()?.kind {
        Kind::FuncProto { params, .. } => params.first()?.ty,
        _ => return None,
    };
    let ptr = btf.skip_mods_and_typedefs(p0).ok()?;
    let target = match &btf.get(ptr).ok()?.kind {
        Kind::Ptr { ty } => *ty,
        _ => return None,
    };
    let s = btf.skip_mods_and_typedefs(target).ok()?;
    let name = btf.name(s);
    (!name.is_empty()).then(|| name.to_string())
}

/// A read-only view of the symbol table for the map collector.
pub(crate) struct SymView<'a> {
    pub syms: Vec<(usize, &'a str, Option<usize>, u64, u64)>,
}

fn syms_view(syms: &HashMap<usize, SymInfo>) -> SymView<'_> {
    let mut v: Vec<_> = syms
        .iter()
        .filter(|(_, s)| !s.is_section && !s.is_func && !s.name.is_empty())
        .map(|(i, s)| (*i, s.name.as_str(), s.section, s.value, s.size))
        .collect();
    v.sort_by_key(|s| (s.2, s.3));
    SymView { syms: v }
}
