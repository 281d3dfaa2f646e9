//! What clang's BTF needs before BPF_BTF_LOAD will take it.
//!
//! clang cannot know where the linker-less object's variables end up, so DATASEC sizes are
//! left at 0 and non-static VAR offsets are relocations the ELF symbol table resolves.
//! Extern things (`.kconfig`, `.ksyms`) have no ELF section at all and use linkage the
//! kernel refuses (BTF_VAR_GLOBAL_EXTERN, BTF_FUNC_EXTERN).

use super::{kind, linkage, Btf, BtfError, Kind, Result, Type, VarSecinfo};

/// Sections made of extern declarations: laid out here, not by the ELF.
const KCONFIG: &str = ".kconfig";
const KSYMS: &str = ".ksyms";

impl Btf {
    /// Make clang's BTF loadable: DATASEC sizes from `sec_size(section)`, VAR offsets from
    /// `sym_offset(section, var)` (the ELF symbol's value), extern sections laid out,
    /// DATASEC entries sorted by offset, extern linkage replaced. Returns one sentence per
    /// change, for `--explain`.
    pub fn fixup_for_load(
        &mut self,
        sec_size: &dyn Fn(&str) -> Option<u32>,
        sym_offset: &dyn Fn(&str, &str) -> Option<u32>,
    ) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        for id in self.own_ids() {
            match self.kind_of(id) {
                kind::DATASEC => self.fix_datasec(id, sec_size, sym_offset, &mut notes)?,
                kind::FUNC => self.fix_func(id, &mut notes)?,
                _ => {}
            }
        }
        Ok(notes)
    }

    fn fix_func(&mut self, id: u32, notes: &mut Vec<String>) -> Result<()> {
        let name = self.name(id).to_string();
        if let Kind::Func { linkage: l, .. } = &mut self.get_mut(id)?.kind {
            if *l == linkage::EXTERN {
                // BTF_FUNC_EXTERN is how clang marks a kfunc declaration; the kernel wants
                // static or global only.
                *l = linkage::GLOBAL;
                notes.push(format!(
                    "FUNC '{name}' (type id {id}): extern linkage -> global (the kernel refuses extern)"
                ));
            } else if *l > linkage::EXTERN {
                return Err(BtfError::Malformed(format!(
                    "FUNC '{name}' (type id {id}): unknown linkage {l}"
                )));
            }
        }
        Ok(())
    }

    fn fix_datasec(
        &mut self,
        id: u32,
        sec_size: &dyn Fn(&str) -> Option<u32>,
        sym_offset: &dyn Fn(&str, &str) -> Option<u32>,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let sec = self.str_at(self.get(id)?.name_off)?.to_string();
        let (size, mut vars) = match &self.get(id)?.kind {
            Kind::Datasec { size, vars } => (*size, vars.clone()),
            _ => return Ok(()),
        };
        let new_size = if sec == KCONFIG || sec == KSYMS {
            self.layout_externs(&sec, &mut vars, notes)?
        } else {
            self.place_vars(&sec, size, &mut vars, sec_size, sym_offset, notes)?
        };
        if new_size != size {
            notes.push(format!(
                "DATASEC '{sec}' (type id {id}): size {size} -> {new_size}"
            ));
        }
        let sorted = vars.windows(2).all(|w| w[0].offset <= w[1].offset);
        if !sorted {
            vars.sort_by_key(|v| v.offset);
            notes.push(format!(
                "DATASEC '{sec}' (type id {id}): entries sorted by offset"
            ));
        }
        // The kernel checks the same: entries inside the section and not overlapping.
        let mut end = 0u64;
        for v in &vars {
            let (off, sz) = (v.offset as u64, v.size as u64);
            if off < end || off + sz > new_size as u64 {
                return Err(BtfError::Malformed(format!(
                    "DATASEC '{sec}': VAR '{}' at offset {off} of {sz} bytes overlaps or leaves the {new_size}-byte section",
                    self.name(v.ty)
                )));
            }
            end = off + sz;
        }
        if let Kind::Datasec { size, vars: v } = &mut self.get_mut(id)?.kind {
            *size = new_size;
            *v = vars;
        }
        Ok(())
    }

    /// An ordinary data section: size from the ELF section, offsets from the symbols.
    fn place_vars(
        &mut self,
        sec: &str,
        size: u32,
        vars: &mut [VarSecinfo],
        sec_size: &dyn Fn(&str) -> Option<u32>,
        sym_offset: &dyn Fn(&str, &str) -> Option<u32>,
        notes: &mut Vec<String>,
    ) -> Result<u32> {
        let size = if size == 0 {
            match sec_size(sec) {
                Some(s) if s > 0 => s,
                _ => {
                    return Err(BtfError::Malformed(format!(
                    "DATASEC '{sec}' has size 0 and the ELF has no non-empty section of that name"
                )))
                }
            }
        } else {
            size
        };
        for v in vars.iter_mut() {
            let (var_name, var_linkage) = self.var_of(sec, v.ty)?;
            if var_linkage == linkage::EXTERN {
                continue;
            }
            // clang writes static variables' offsets in place (a section-relative
            // relocation); global ones are left 0 for the symbol table to say.
            let off = match sym_offset(sec, &var_name) {
                Some(off) => off,
                None if var_linkage == linkage::STATIC => v.offset,
                None => {
                    return Err(BtfError::Malformed(format!(
                        "DATASEC '{sec}': no ELF symbol for VAR '{var_name}'"
                    )))
                }
            };
            if off != v.offset {
                notes.push(format!(
                    "DATASEC '{sec}': VAR '{var_name}' offset {} -> {off} (ELF symbol value)",
                    v.offset
                ));
                v.offset = off;
            }
        }
        Ok(size)
    }

    /// `.kconfig` / `.ksyms`: no ELF section. Lay the externs out one after another at their
    /// natural alignment, make them ordinary globals, and replace kfunc entries (FUNC, which
    /// a DATASEC may not hold for the kernel) with int-sized VARs of the same name.
    fn layout_externs(
        &mut self,
        sec: &str,
        vars: &mut [VarSecinfo],
        notes: &mut Vec<String>,
    ) -> Result<u32> {
        let mut off: u64 = 0;
        for v in vars.iter_mut() {
            if self.kind_of(v.ty) == kind::FUNC {
                let name_off = self.get(v.ty)?.name_off;
                let fname = self.name(v.ty).to_string();
                let int = self.int_type();
                v.ty = self.add_type(Type {
                    name_off,
                    kind: Kind::Var {
                        ty: int,
                        linkage: linkage::GLOBAL,
                    },
                });
                notes.push(format!(
                    "DATASEC '{sec}': kfunc '{fname}' entry replaced by an int VAR (type id {})",
                    v.ty
                ));
            }
            let (var_name, _) = self.var_of(sec, v.ty)?;
            let vty = match self.get(v.ty)?.kind {
                Kind::Var { ty, .. } => ty,
                _ => unreachable_var(sec, v.ty)?,
            };
            let size = self.resolve_size(vty)?;
            let align = size.clamp(1, 8).next_power_of_two().min(8);
            off = off.div_ceil(align) * align;
            let new_off = u32::try_from(off)
                .map_err(|_| BtfError::Malformed(format!("DATASEC '{sec}' exceeds 4 GiB")))?;
            let new_size = u32::try_from(size)
                .map_err(|_| BtfError::Malformed(format!("VAR '{var_name}' exceeds 4 GiB")))?;
            if (v.offset, v.size) != (new_off, new_size) {
                notes.push(format!(
                    "DATASEC '{sec}': extern '{var_name}' placed at offset {new_off}, {new_size} bytes"
                ));
            }
            v.offset = new_off;
            v.size = new_size;
            off += size;
            if let Kind::Var { linkage: l, .. } = &mut self.get_mut(v.ty)?.kind {
                if *l == linkage::EXTERN {
                    *l = linkage::GLOBAL;
                    notes.push(format!(
                        "VAR '{var_name}': extern linkage -> global (the kernel refuses extern)"
                    ));
                }
            }
        }
        let end = off.div_ceil(8) * 8;
        u32::try_from(end.max(1))
            .map_err(|_| BtfError::Malformed(format!("DATASEC '{sec}' exceeds 4 GiB")))
    }

    /// Name and linkage of the VAR a DATASEC entry points at.
    fn var_of(&self, sec: &str, ty: u32) -> Result<(String, u32)> {
        match self.get(ty)?.kind {
            Kind::Var { linkage, .. } => {
                Ok((self.str_at(self.get(ty)?.name_off)?.to_string(), linkage))
            }
            ref k => Err(BtfError::Malformed(format!(
                "DATASEC '{sec}': entry type id {ty} is a {}, not a VAR",
                k.kind_name()
            ))),
        }
    }

    /// A 4-byte signed int type, added when the blob has none.
    fn int_type(&mut self) -> u32 {
        let found = self.own_ids().find(|&id| {
            matches!(
                self.types[id as usize].kind,
                Kind::Int {
                    size: 4,
                    encoding: super::int_encoding::SIGNED,
                    offset: 0,
                    bits: 32
                }
            )
        });
        if let Some(id) = found {
            return id;
        }
        let name_off = self.add_string("int");
        self.add_type(Type {
            name_off,
            kind: Kind::Int {
                size: 4,
                encoding: super::int_encoding::SIGNED,
                offset: 0,
                bits: 32,
            },
        })
    }
}

fn unreachable_var(sec: &str, ty: u32) -> Result<u32> {
    Err(BtfError::Malformed(format!(
        "DATASEC '{sec}': entry type id {ty} is not a VAR"
    )))
}
