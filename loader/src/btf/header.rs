//! A BTF blob as one C header, as `bpftool btf dump file /sys/kernel/btf/vmlinux format c`
//! makes `vmlinux.h`: every named struct, union, enum and typedef, each after what it needs
//! by value, duplicate names made unique with `___2`, `___3`..., and CO-RE's
//! `preserve_access_index` on every record.

use super::layout::Walk;
use super::{Btf, Kind, Type};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

const PRELUDE: &str = "#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

";

const EPILOGUE: &str = "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
";

/// The compiler's own type: declaring it again is an error.
const BUILTIN_VA_LIST: &str = "__builtin_va_list";

/// Tags (struct, union, enum) and ordinary identifiers (typedefs, enumerators) are C's two
/// name spaces: a name is made unique within its own.
fn namespace(t: &Type) -> Option<u8> {
    match t.kind {
        Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. } | Kind::Enum64 { .. } => {
            Some(0)
        }
        Kind::Typedef { .. } => Some(1),
        _ => None,
    }
}

impl Btf {
    /// This BTF with names made unique: a second `struct foo` becomes `foo___2`, and so do
    /// typedefs and enumerators that repeat a name.
    fn with_unique_names(&self) -> Btf {
        let mut out = Btf::from_parts(self.types.clone(), self.strings.clone());
        let mut seen: HashMap<(u8, String), u32> = HashMap::new();
        let mut rename = |name: &str, ns: u8, strings: &mut Vec<u8>| -> Option<u32> {
            let n = seen.entry((ns, name.to_string())).or_insert(0);
            *n += 1;
            (*n > 1).then(|| {
                let off = strings.len() as u32;
                strings.extend_from_slice(format!("{name}___{n}").as_bytes());
                strings.push(0);
                off
            })
        };
        for id in 1..out.types.len() {
            let name = self.name(id as u32).to_string();
            let t = &self.types[id];
            if let (Some(ns), false) = (namespace(t), name.is_empty()) {
                if let Some(off) = rename(&name, ns, &mut out.strings) {
                    out.types[id].name_off = off;
                }
            }
            if let Kind::Enum { values, .. } | Kind::Enum64 { values, .. } = &t.kind {
                for (i, v) in values.iter().enumerate() {
                    let vname = self.str_at(v.name_off).unwrap_or("").to_string();
                    if let Some(off) = rename(&vname, 1, &mut out.strings) {
                        if let Kind::Enum { values, .. } | Kind::Enum64 { values, .. } =
                            &mut out.types[id].kind
                        {
                            values[i].name_off = off;
                        }
                    }
                }
            }
        }
        out
    }

    /// Named types `id` needs declared before it: typedefs it names anywhere, and structs and
    /// unions it holds by value (through arrays, modifiers, typedefs, anonymous members); a
    /// pointer needs only the forward declaration every struct gets first.
    fn needs(&self, id: u32, by_value: bool, out: &mut Vec<u32>, depth: u32) {
        let Ok(t) = self.get(id) else { return };
        if depth > 64 {
            return;
        }
        let named = t.name_off != 0;
        match &t.kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                if named {
                    if by_value {
                        out.push(id);
                    }
                } else {
                    for m in members {
                        self.needs(m.ty, true, out, depth + 1);
                    }
                }
            }
            Kind::Typedef { ty } => {
                if self.name(id) != BUILTIN_VA_LIST {
                    out.push(id);
                }
                if by_value {
                    self.needs(*ty, true, out, depth + 1);
                }
            }
            Kind::Ptr { ty } => self.needs(*ty, false, out, depth + 1),
            Kind::Array { elem, .. } => self.needs(*elem, by_value, out, depth + 1),
            Kind::FuncProto { ret, params } => {
                self.needs(*ret, false, out, depth + 1);
                for p in params {
                    self.needs(p.ty, false, out, depth + 1);
                }
            }
            k if k.is_mod_or_typedef() => {
                if let Some(r) = k.ref_type() {
                    self.needs(r, by_value, out, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// What a named struct, union or typedef needs before it (see [`Btf::needs`]).
    fn deps_of(&self, id: u32) -> Vec<u32> {
        let mut out = Vec::new();
        match &self.types[id as usize].kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                for m in members {
                    self.needs(m.ty, true, &mut out, 0);
                }
            }
            // `typedef struct foo foo_t;` needs only the forward declaration.
            Kind::Typedef { ty } => {
                let target = self.get(*ty).map(|t| (t.name_off, t.kind.kind()));
                let named_record = matches!(target, Ok((n, k)) if n != 0 && (k == super::kind::STRUCT || k == super::kind::UNION));
                if !named_record {
                    self.needs(*ty, true, &mut out, 0);
                }
            }
            _ => {}
        }
        out
    }

    /// Named structs, unions and typedefs in an order where each follows what it needs.
    fn definition_order(&self) -> Vec<u32> {
        let mut order = Vec::new();
        let mut state: HashMap<u32, bool> = HashMap::new(); // false: in progress
        for id in 1..self.types.len() as u32 {
            let t = &self.types[id as usize];
            let wanted = matches!(
                t.kind,
                Kind::Struct { .. } | Kind::Union { .. } | Kind::Typedef { .. }
            ) && t.name_off != 0
                && self.name(id) != BUILTIN_VA_LIST;
            if !wanted || state.contains_key(&id) {
                continue;
            }
            // Depth-first, without recursion: (id, its dependencies pushed yet?).
            let mut stack = vec![(id, false)];
            while let Some((cur, expanded)) = stack.pop() {
                if expanded {
                    state.insert(cur, true);
                    order.push(cur);
                    continue;
                }
                if state.contains_key(&cur) {
                    continue;
                }
                state.insert(cur, false);
                stack.push((cur, true));
                for d in self.deps_of(cur).into_iter().rev() {
                    if !state.contains_key(&d) {
                        stack.push((d, false));
                    }
                }
            }
        }
        order
    }

    /// Ids some other type refers to (an anonymous enum nobody uses is printed on its own).
    fn referenced(&self) -> HashSet<u32> {
        let mut r = HashSet::new();
        for t in &self.types {
            match &t.kind {
                Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                    r.extend(members.iter().map(|m| m.ty))
                }
                Kind::FuncProto { ret, params } => {
                    r.insert(*ret);
                    r.extend(params.iter().map(|p| p.ty));
                }
                k => r.extend(k.ref_type()),
            }
        }
        r
    }

    /// The whole blob as a C header (`vmlinux.h` for the kernel's BTF).
    pub fn c_header(&self) -> String {
        let b = self.with_unique_names();
        let mut out = String::from(PRELUDE);
        let used = b.referenced();
        for id in 1..b.types.len() as u32 {
            let t = &b.types[id as usize];
            let is_enum = matches!(t.kind, Kind::Enum { .. } | Kind::Enum64 { .. });
            if is_enum && (t.name_off != 0 || !used.contains(&id)) {
                let _ = write!(out, "{}\n\n", b.enum_decl(id));
            }
        }
        for id in 1..b.types.len() as u32 {
            let t = &b.types[id as usize];
            let kw = match t.kind {
                Kind::Struct { .. } | Kind::Fwd { union: false } => "struct",
                Kind::Union { .. } | Kind::Fwd { union: true } => "union",
                _ => continue,
            };
            if t.name_off != 0 {
                let _ = writeln!(out, "{kw} {};", b.name(id));
            }
        }
        out.push('\n');
        let walk = Walk::new(u32::MAX);
        for id in b.definition_order() {
            let _ = write!(out, "{}\n\n", b.c_decl_with(id, &walk));
        }
        out.push_str(EPILOGUE);
        out
    }

    /// `enum x {...};`, or `enum {...};` for an anonymous one.
    fn enum_decl(&self, id: u32) -> String {
        let name = self.name(id);
        if name.is_empty() {
            format!(
                "enum {{\n{}}}{};",
                self.enum_body(id, 1),
                super::cdecl::enum_size_attr(&self.types[id as usize].kind)
            )
        } else {
            self.c_decl(id)
        }
    }
}
