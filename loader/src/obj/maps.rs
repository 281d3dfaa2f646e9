//! Map definitions: BTF-defined (`.maps`), legacy (`maps`, `struct bpf_map_def`), and one
//! single-entry array per global-data section.

use super::{is_data_section, ObjError, Result, SymView};
use crate::btf::{kind, Btf, Kind};
use object::{Object as _, ObjectSection, RelocationTarget};
use std::collections::HashMap;

/// `BPF_MAP_TYPE_ARRAY`, `BPF_MAP_TYPE_PROG_ARRAY`, ... as the kernel numbers them.
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    pub const RINGBUF: u32 = 27;

    /// The kernel's name for a map type, as bpftool prints it.
    pub fn name(t: u32) -> &'static str {
        const NAMES: [&str; 34] = [
            "unspec",
            "hash",
            "array",
            "prog_array",
            "perf_event_array",
            "percpu_hash",
            "percpu_array",
            "stack_trace",
            "cgroup_array",
            "lru_hash",
            "lru_percpu_hash",
            "lpm_trie",
            "array_of_maps",
            "hash_of_maps",
            "devmap",
            "sockmap",
            "cpumap",
            "xskmap",
            "sockhash",
            "cgroup_storage",
            "reuseport_sockarray",
            "percpu_cgroup_storage",
            "queue",
            "stack",
            "sk_storage",
            "devmap_hash",
            "struct_ops",
            "ringbuf",
            "inode_storage",
            "task_storage",
            "bloom_filter",
            "user_ringbuf",
            "cgrp_storage",
            "arena",
        ];
        NAMES.get(t as usize).copied().unwrap_or("unknown")
    }

    /// Per-CPU maps hold one value per possible CPU.
    pub fn is_percpu(t: u32) -> bool {
        matches!(
            t,
            PERCPU_HASH | PERCPU_ARRAY | LRU_PERCPU_HASH | PERCPU_CGROUP_STORAGE
        )
    }
}

/// `BPF_F_RDONLY_PROG`: programs may only read the map (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`: user space may mmap the array (global data).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Where a map's definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapKind {
    /// A variable in `.maps` described by BTF.
    Btf,
    /// A `struct bpf_map_def` in the `maps` section.
    Legacy,
    /// The contents of a global-data section (`.data`, `.rodata`, `.bss`, ...).
    Data { section: String },
}

/// Whether and where a map is shared through bpffs: the next load that finds it pinned
/// there uses it instead of creating its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pinning {
    #[default]
    None,
    /// libbpf's `LIBBPF_PIN_BY_NAME` (BTF maps): `PIN_ROOT/NAME`, PIN_ROOT being
    /// `/sys/fs/bpf` unless the loader is told otherwise.
    ByName,
    /// iproute2's `PIN_OBJECT_NS` (`struct bpf_elf_map` maps): `/sys/fs/bpf/tc/OBJECT/NAME`,
    /// OBJECT the hex SHA-1 of the object file, as `tc` names it.
    ObjectNs { object: String },
    /// iproute2's `PIN_GLOBAL_NS`: `/sys/fs/bpf/tc/globals/NAME`.
    GlobalNs,
}

/// iproute2's `struct bpf_elf_map`: nine u32 (type, key and value size, max_elem, flags,
/// id, pinning, inner_id, inner_idx), pinning being the seventh.
const ELF_MAP_PINNING_FIELD: usize = 6;

/// The pinning of an iproute2 legacy map (`PIN_NONE` 0, `PIN_OBJECT_NS` 1, `PIN_GLOBAL_NS`
/// 2); the object's directory is named later ([`name_object_dirs`]).
fn elf_map_pinning(value: u32, map: &str) -> Result<Pinning> {
    match value {
        0 => Ok(Pinning::None),
        1 => Ok(Pinning::ObjectNs {
            object: String::new(),
        }),
        2 => Ok(Pinning::GlobalNs),
        n => Err(ObjError::Map {
            map: map.to_string(),
            reason: format!(
                "pinning {n} in its bpf_elf_map is not one iproute2 knows (0 none, 1 PIN_OBJECT_NS, 2 PIN_GLOBAL_NS)"
            ),
        }),
    }
}

/// A map as the object defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDef {
    /// The symbol's name (`jmp_table`) or, for global data, the section's (`.rodata`).
    pub name: String,
    /// The name given to the kernel (at most 15 characters; `globals.rodata`).
    pub kernel_name: String,
    pub kind: MapKind,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub map_extra: u64,
    /// BTF ids of the key and value types (0 when unknown).
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub pinning: Pinning,
    /// Initial contents of a global-data map.
    pub data: Option<Vec<u8>>,
    /// Static initialisers of a PROG_ARRAY: (slot, program name).
    pub values: Vec<(u32, String)>,
}

impl MapDef {
    /// Data maps first (programs read them), then the rest in file order.
    pub(super) fn kind_order(&self) -> u8 {
        match self.kind {
            MapKind::Data { .. } => 0,
            _ => 1,
        }
    }

    pub fn is_rodata(&self) -> bool {
        matches!(&self.kind, MapKind::Data { section } if section.starts_with(".rodata"))
    }
}

pub(super) struct Found {
    pub maps: Vec<MapDef>,
    /// Symbol index -> map name, for relocations against map symbols.
    pub by_symbol: HashMap<usize, String>,
}

fn kernel_name(obj: &str, sec: &str) -> String {
    let room = 15usize.saturating_sub(sec.len()).min(8);
    let mut prefix: String = obj.chars().take(room).collect();
    prefix.push_str(sec);
    prefix.chars().take(15).collect()
}

pub(super) fn collect(
    obj: &str,
    file: &object::File,
    names: &super::names::ElfNames,
    sec_names: &HashMap<usize, String>,
    btf: Option<&Btf>,
    syms: &SymView,
) -> Result<Found> {
    let mut maps = Vec::new();
    let mut by_symbol = HashMap::new();
    let sec_idx = |name: &str| sec_names.iter().find(|(_, n)| *n == name).map(|(i, _)| *i);

    // BTF-defined maps.
    if let Some(midx) = sec_idx(".maps") {
        let btf = btf.ok_or_else(|| ObjError::Section {
            section: ".maps".into(),
            reason: "BTF-defined maps need a .BTF section, and there is none (build with clang -g)"
                .into(),
        })?;
        let datasec =
            btf.find_by_name(".maps", kind::DATASEC)
                .ok_or_else(|| ObjError::Section {
                    section: ".maps".into(),
                    reason: "no DATASEC '.maps' in BTF".into(),
                })?;
        let vars = match &btf.get(datasec)?.kind {
            Kind::Datasec { vars, .. } => vars.clone(),
            _ => Vec::new(),
        };
        let mut values_off: HashMap<String, u64> = HashMap::new();
        for v in &vars {
            let name = btf.name(v.ty).to_string();
            let (def, voff) = btf_map_def(btf, v.ty, &name)?;
            if let Some(o) = voff {
                values_off.insert(name.clone(), o);
            }
            if maps.iter().any(|m: &MapDef| m.name == name) {
                return Err(ObjError::Map {
                    map: name,
                    reason: "defined twice".into(),
                });
            }
            maps.push(def);
        }
        for (idx, sname, ssec, _, _) in &syms.syms {
            if *ssec == Some(midx) {
                if !maps.iter().any(|m| m.name == *sname) {
                    return Err(ObjError::Map {
                        map: sname.to_string(),
                        reason: "symbol in .maps without a BTF definition".into(),
                    });
                }
                by_symbol.insert(*idx, sname.to_string());
            }
        }
        // `.values = { [i] = &prog }`: relocations in .rel.maps against program symbols.
        let sec = file.section_by_index(object::SectionIndex(midx))?;
        for (off, rel) in sec.relocations() {
            let err = |reason: String| ObjError::Reloc {
                section: ".maps".into(),
                offset: off,
                reason,
            };
            let map_sym = syms
                .syms
                .iter()
                .find(|s| s.2 == Some(midx) && off >= s.3 && off < s.3.saturating_add(s.4.max(1)))
                .ok_or_else(|| err("not inside any map definition".into()))?;
            let map_name = map_sym.1.to_string();
            let base = values_off.get(&map_name).copied().ok_or_else(|| {
                err(format!(
                    "map '{map_name}' has no `values` member to initialise"
                ))
            })?;
            let rel_in_map = off - map_sym.3;
            if rel_in_map < base || (rel_in_map - base) % 8 != 0 {
                return Err(err(format!(
                    "offset {rel_in_map} in map '{map_name}' is not a `values` slot"
                )));
            }
            let slot = ((rel_in_map - base) / 8) as u32;
            let target = match rel.target() {
                RelocationTarget::Symbol(s) => file.symbol_by_index(s).ok(),
                _ => None,
            };
            let prog = target
                .as_ref()
                .and_then(|s| {
                    names
                        .symbol(object::ObjectSymbol::index(s).0)
                        .ok()
                        .map(str::to_string)
                })
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    err(format!(
                        "slot {slot} of '{map_name}' points at no named program"
                    ))
                })?;
            // Only a function can sit in a tail-call slot.
            if target.as_ref().map(object::ObjectSymbol::kind) != Some(object::SymbolKind::Text) {
                return Err(err(format!(
                    "slot {slot} of '{map_name}' points at '{prog}', which is not a program"
                )));
            }
            let map = maps
                .iter_mut()
                .find(|m| m.name == map_name)
                .ok_or_else(|| err(format!("map '{map_name}' not found")))?;
            if slot >= map.max_entries {
                return Err(ObjError::Map {
                    map: map_name,
                    reason: format!(
                        "`values` slot {slot} is past max_entries {}",
                        map.max_entries
                    ),
                });
            }
            map.values.push((slot, prog));
        }
    }

    // Legacy `struct bpf_map_def` maps.
    if let Some(lidx) = sec_idx("maps") {
        let sec = file.section_by_index(object::SectionIndex(lidx))?;
        let data = sec.data().map_err(|e| ObjError::Section {
            section: "maps".into(),
            reason: e.to_string(),
        })?;
        let in_sec: Vec<_> = syms.syms.iter().filter(|s| s.2 == Some(lidx)).collect();
        if !in_sec.is_empty() {
            let def_size = data.len() / in_sec.len();
            if def_size < 20 || data.len() % in_sec.len() != 0 {
                return Err(ObjError::Section {
                    section: "maps".into(),
                    reason: format!(
                        "{} bytes for {} map symbols: not a whole number of bpf_map_def (at least 20 bytes each)",
                        data.len(),
                        in_sec.len()
                    ),
                });
            }
            for (idx, name, _, off, _) in in_sec {
                let off = *off as usize;
                let field = |i: usize| -> Result<u32> {
                    off.checked_add(4 * i)
                        .and_then(|a| data.get(a..a.checked_add(4)?))
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .ok_or_else(|| ObjError::Map {
                            map: name.to_string(),
                            reason: format!("definition at offset {off} runs past the section"),
                        })
                };
                // iproute2's bpf_elf_map carries a pinning field; libbpf's bpf_map_def not.
                let pinning = if def_size > 4 * ELF_MAP_PINNING_FIELD {
                    elf_map_pinning(field(ELF_MAP_PINNING_FIELD)?, name)?
                } else {
                    Pinning::None
                };
                maps.push(MapDef {
                    name: name.to_string(),
                    kernel_name: name.to_string(),
                    kind: MapKind::Legacy,
                    map_type: field(0)?,
                    key_size: field(1)?,
                    value_size: field(2)?,
                    max_entries: field(3)?,
                    map_flags: field(4)?,
                    map_extra: 0,
                    btf_key_type_id: 0,
                    btf_value_type_id: 0,
                    pinning,
                    data: None,
                    values: Vec::new(),
                });
                by_symbol.insert(*idx, name.to_string());
            }
        }
    }

    // Global data.
    for sec in file.sections() {
        let sname = sec_names
            .get(&sec.index().0)
            .map(String::as_str)
            .unwrap_or("");
        if !is_data_section(sname) || sec.size() == 0 {
            continue;
        }
        // The kernel refuses array values this large anyway; refusing here keeps a tiny
        // file from making us allocate gigabytes for a `.bss` it only claims.
        const MAX_DATA: u64 = 64 << 20;
        if sec.size() > MAX_DATA {
            return Err(ObjError::Section {
                section: sname.into(),
                reason: format!(
                    "{} bytes of global data: more than the {} MiB we accept",
                    sec.size(),
                    MAX_DATA >> 20
                ),
            });
        }
        let size = sec.size() as u32;
        let data = if sec.kind() == object::SectionKind::UninitializedData {
            None
        } else {
            Some(
                sec.data()
                    .map_err(|e| ObjError::Section {
                        section: sname.into(),
                        reason: e.to_string(),
                    })?
                    .to_vec(),
            )
        };
        let value_type = btf
            .and_then(|b| b.find_by_name(sname, kind::DATASEC))
            .unwrap_or(0);
        let mut flags = BPF_F_MMAPABLE;
        if sname.starts_with(".rodata") {
            flags |= BPF_F_RDONLY_PROG;
        }
        maps.push(MapDef {
            name: sname.to_string(),
            kernel_name: kernel_name(obj, sname),
            kind: MapKind::Data {
                section: sname.to_string(),
            },
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: size,
            max_entries: 1,
            map_flags: flags,
            map_extra: 0,
            btf_key_type_id: 0,
            btf_value_type_id: value_type,
            pinning: Pinning::None,
            data,
            values: Vec::new(),
        });
    }
    // Relocations and load find maps by name: two of one name would be one map.
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = maps.iter().find(|m| !seen.insert(m.name.as_str())) {
        return Err(ObjError::Map {
            map: dup.name.clone(),
            reason: "defined twice".into(),
        });
    }
    Ok(Found { maps, by_symbol })
}

/// Name the directory of `PIN_OBJECT_NS` maps after the SHA-1 of the whole object `file`,
/// as `tc` does; hashed only when some map asks.
pub(super) fn name_object_dirs(maps: &mut [MapDef], file: &[u8]) {
    let mut hex = None;
    for m in maps {
        if let Pinning::ObjectNs { object } = &mut m.pinning {
            *object = hex
                .get_or_insert_with(|| sha1_smol::Sha1::from(file).digest().to_string())
                .clone();
        }
    }
}

/// Read one BTF map definition: `struct { __uint(type, ..); __type(key, ..); ... } name`.
/// Returns the definition and the byte offset of its `values` member, if any.
fn btf_map_def(btf: &Btf, var: u32, name: &str) -> Result<(MapDef, Option<u64>)> {
    // A BTF fault met while reading a map's definition names the map too.
    btf_map_def_inner(btf, var, name).map_err(|e| match e {
        ObjError::Btf(e) => ObjError::Map {
            map: name.to_string(),
            reason: e.to_string(),
        },
        e => e,
    })
}

fn btf_map_def_inner(btf: &Btf, var: u32, name: &str) -> Result<(MapDef, Option<u64>)> {
    let bad = |reason: String| ObjError::Map {
        map: name.to_string(),
        reason,
    };
    let ty = match &btf.get(var)?.kind {
        Kind::Var { ty, .. } => *ty,
        _ => return Err(bad(format!("BTF type {var} in .maps is not a VAR"))),
    };
    let sid = btf.skip_mods_and_typedefs(ty)?;
    let members = match &btf.get(sid)?.kind {
        Kind::Struct { members, .. } => members.clone(),
        _ => return Err(bad("definition is not a struct".into())),
    };
    let mut def = MapDef {
        name: name.to_string(),
        kernel_name: name.to_string(),
        kind: MapKind::Btf,
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        map_flags: 0,
        map_extra: 0,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        pinning: Pinning::None,
        data: None,
        values: Vec::new(),
    };
    let mut values_off = None;
    // `__uint(name, N)` is `int (*name)[N]`: N is the array's element count.
    let uint = |m: &crate::btf::Member, what: &str| -> Result<u32> {
        let p = btf.skip_mods_and_typedefs(m.ty)?;
        let arr = match &btf.get(p)?.kind {
            Kind::Ptr { ty } => btf.skip_mods_and_typedefs(*ty)?,
            _ => return Err(bad(format!("`{what}` is not declared with __uint()"))),
        };
        match &btf.get(arr)?.kind {
            Kind::Array { nelems, .. } => Ok(*nelems),
            _ => Err(bad(format!("`{what}` is not declared with __uint()"))),
        }
    };
    // `__type(name, T)` is `T *name`.
    let typed = |m: &crate::btf::Member, what: &str| -> Result<(u32, u32)> {
        let p = btf.skip_mods_and_typedefs(m.ty)?;
        let t = match &btf.get(p)?.kind {
            Kind::Ptr { ty } => *ty,
            _ => return Err(bad(format!("`{what}` is not declared with __type()"))),
        };
        let size = btf.resolve_size(t)?;
        let size = u32::try_from(size).map_err(|_| bad(format!("`{what}` type is too large")))?;
        Ok((t, size))
    };
    let mut explicit_key = None;
    let mut explicit_value = None;
    for m in &members {
        let mname = btf.str_at(m.name_off).unwrap_or("");
        match mname {
            "type" => def.map_type = uint(m, mname)?,
            "max_entries" => def.max_entries = uint(m, mname)?,
            "map_flags" => def.map_flags = uint(m, mname)?,
            "numa_node" => {}
            "map_extra" => def.map_extra = uint(m, mname)? as u64,
            "key_size" => explicit_key = Some(uint(m, mname)?),
            "value_size" => explicit_value = Some(uint(m, mname)?),
            "pinning" => {
                def.pinning = match uint(m, mname)? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    n => {
                        return Err(bad(format!(
                            "pinning value {n} is not supported (0 none, 1 by name)"
                        )))
                    }
                }
            }
            "key" => {
                let (t, s) = typed(m, mname)?;
                def.btf_key_type_id = t;
                def.key_size = s;
            }
            "value" => {
                let (t, s) = typed(m, mname)?;
                def.btf_value_type_id = t;
                def.value_size = s;
            }
            "values" => values_off = Some(m.bit_offset as u64 / 8),
            other => return Err(bad(format!("unknown map attribute `{other}`"))),
        }
    }
    if let Some(k) = explicit_key {
        if def.btf_key_type_id != 0 && k != def.key_size {
            return Err(bad(format!(
                "key_size {k} disagrees with the key type's size {}",
                def.key_size
            )));
        }
        def.key_size = k;
    }
    if let Some(v) = explicit_value {
        if def.btf_value_type_id != 0 && v != def.value_size {
            return Err(bad(format!(
                "value_size {v} disagrees with the value type's size {}",
                def.value_size
            )));
        }
        def.value_size = v;
    }
    if def.map_type == 0 {
        return Err(bad("no map type (`__uint(type, ...)`)".into()));
    }
    // Prog arrays with `values` have their value size implied: a u32 fd.
    if values_off.is_some() && def.value_size == 0 && def.key_size == 0 {
        def.key_size = 4;
        def.value_size = 4;
    }
    Ok((def, values_off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_fit() {
        assert_eq!(kernel_name("globals", ".rodata"), "globals.rodata");
        assert_eq!(kernel_name("xdp_classifier", ".bss"), "xdp_clas.bss");
        assert!(kernel_name("x", ".rodata.str1.1").len() <= 15);
    }
}
