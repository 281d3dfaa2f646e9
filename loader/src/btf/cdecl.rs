//! BTF types as C declarations, for `rbpf-load inspect --btf`: struct, union and enum
//! bodies and typedefs in the layout `bpftool btf dump ... format c` uses, plus functions,
//! variables and data sections, which bpftool leaves out.

use super::layout::{padding, Walk};
use super::spec::MAX_DEPTH;
use super::{linkage, Btf, Kind};
use std::fmt::Write;

/// Types printed for one declaration at most (inlined anonymous members included).
const MAX_NODES: u32 = 20_000;

fn tabs(n: usize) -> String {
    "\t".repeat(n)
}

impl Btf {
    /// Type `id` as a C declaration: a definition for named structs, unions and enums
    /// (`struct x {...};`), `typedef ...;`, `static int f(void *ctx);`, `int v;`, a comment
    /// for a DATASEC, and the bare type (`char *`) for anonymous ones.
    pub fn c_decl(&self, id: u32) -> String {
        self.c_decl_with(id, &Walk::new(MAX_NODES))
    }

    /// [`Btf::c_decl`] within a walk shared by many declarations.
    pub(super) fn c_decl_with(&self, id: u32, budget: &Walk) -> String {
        let Ok(t) = self.get(id) else {
            return format!("/* no type id {id} */");
        };
        let name = self.name(id);
        match &t.kind {
            Kind::Struct { members, size } | Kind::Union { members, size } if !name.is_empty() => {
                let kw = if matches!(t.kind, Kind::Struct { .. }) {
                    "struct"
                } else {
                    "union"
                };
                if members.is_empty() {
                    // An opaque type with a size (6.1's `struct bpf_timer`): keep its size
                    // with nameless padding, as bpftool does.
                    let pad: String = std::iter::repeat_n("\tlong: 64;\n", (*size / 8) as usize)
                        .chain(std::iter::repeat_n("\tchar: 8;\n", (*size % 8) as usize))
                        .collect();
                    return if pad.is_empty() {
                        format!("{kw} {name} {{}};")
                    } else {
                        format!("{kw} {name} {{\n{pad}}};")
                    };
                }
                format!(
                    "{kw} {name} {{\n{}}}{};",
                    self.body(id, 1, 0, budget),
                    self.packed_attr(id, budget)
                )
            }
            // An enum without values is a forward declaration (C has no empty enums).
            Kind::Enum { values, .. } if !name.is_empty() && values.is_empty() => {
                format!("enum {name};")
            }
            Kind::Enum64 { values, .. } if !name.is_empty() && values.is_empty() => {
                format!("enum {name};")
            }
            Kind::Enum { .. } | Kind::Enum64 { .. } if !name.is_empty() => {
                format!(
                    "enum {name} {{\n{}}}{};",
                    self.enum_body(id, 1),
                    enum_size_attr(&t.kind)
                )
            }
            Kind::Fwd { union } => {
                format!("{} {name};", if *union { "union" } else { "struct" })
            }
            Kind::Typedef { ty } => format!("typedef {};", self.decl(*ty, name, 0, 0, budget)),
            Kind::Func { proto, linkage: l } => {
                format!(
                    "{}{};",
                    linkage_prefix(*l),
                    self.decl(*proto, name, 0, 0, budget)
                )
            }
            Kind::Var { ty, linkage: l } => {
                format!(
                    "{}{};",
                    linkage_prefix(*l),
                    self.decl(*ty, name, 0, 0, budget)
                )
            }
            Kind::Datasec { size, vars } => {
                let mut s = format!("/* section \"{name}\", {size} bytes */");
                for v in vars {
                    let _ = write!(
                        s,
                        "\n/*   {} at offset {}, {} bytes */",
                        self.name(v.ty),
                        v.offset,
                        v.size
                    );
                }
                s
            }
            Kind::DeclTag {
                ty, component_idx, ..
            } => format!(
                "/* decl_tag \"{name}\" on {} {}*/",
                self.name(*ty),
                if *component_idx >= 0 {
                    format!("(component {component_idx}) ")
                } else {
                    String::new()
                }
            ),
            _ => self.decl(id, "", 0, 0, budget),
        }
    }

    /// Every declaration of this blob (named types, functions, variables, sections), one
    /// per paragraph, each preceded by its id; anonymous types appear inline where used.
    pub fn c_dump(&self) -> String {
        let mut out = String::new();
        for id in self.own_ids() {
            let t = &self.types[id as usize];
            let top = match t.kind {
                Kind::Struct { .. }
                | Kind::Union { .. }
                | Kind::Enum { .. }
                | Kind::Enum64 { .. }
                | Kind::Fwd { .. } => t.name_off != 0,
                Kind::Typedef { .. }
                | Kind::Func { .. }
                | Kind::Var { .. }
                | Kind::Datasec { .. }
                | Kind::DeclTag { .. } => true,
                _ => false,
            };
            if top {
                let _ = writeln!(out, "/* [{id}] */\n{}\n", self.c_decl(id));
            }
        }
        out
    }

    /// ` __attribute__((packed))` for a packed struct.
    fn packed_attr(&self, id: u32, w: &Walk) -> &'static str {
        if self.is_packed(id, w) {
            " __attribute__((packed))"
        } else {
            ""
        }
    }

    /// Members of struct/union `id`, one per line at `indent` tabs; in a struct, unnamed
    /// bit-fields where C alone would not leave the gaps BTF has.
    fn body(&self, id: u32, indent: usize, depth: u32, budget: &Walk) -> String {
        let mut s = String::new();
        let t = &self.types[id as usize];
        let is_struct = matches!(t.kind, Kind::Struct { .. });
        let packed = is_struct && self.is_packed(id, budget);
        let mut cur = 0u32;
        for m in t.kind.members() {
            let name = self.str_at(m.name_off).unwrap_or("?");
            if is_struct {
                if self.natural_bit_offset(cur, m, packed, budget) != m.bit_offset {
                    s.push_str(&padding(cur, m.bit_offset, &tabs(indent)));
                }
                let bits = match m.bitfield_size {
                    0 => (self.resolve_size(m.ty).unwrap_or(0) as u32).saturating_mul(8),
                    b => b,
                };
                cur = m.bit_offset.saturating_add(bits);
            }
            let _ = write!(
                s,
                "{}{}",
                tabs(indent),
                self.decl(m.ty, name, indent, depth + 1, budget)
            );
            if m.bitfield_size != 0 {
                let _ = write!(s, ": {}", m.bitfield_size);
            }
            s.push_str(";\n");
        }
        let end = t.kind.own_size().unwrap_or(0).saturating_mul(8);
        if is_struct && cur < end && self.natural_end(id, cur, budget) != end {
            s.push_str(&padding(cur, end, &tabs(indent)));
        }
        s
    }

    pub(super) fn enum_body(&self, id: u32, indent: usize) -> String {
        let mut s = String::new();
        let (values, signed, wide) = match &self.types[id as usize].kind {
            Kind::Enum { values, signed, .. } => (values, *signed, false),
            Kind::Enum64 { values, signed, .. } => (values, *signed, true),
            _ => return s,
        };
        for v in values {
            let name = self.str_at(v.name_off).unwrap_or("?");
            let val = match (signed, wide) {
                (true, false) => v.val.to_string(),
                (false, false) => (v.val as u64 as u32).to_string(),
                (true, true) => format!("{}LL", v.val),
                (false, true) => format!("{}ULL", v.val as u64),
            };
            let _ = writeln!(s, "{}{name} = {val},", tabs(indent));
        }
        s
    }

    /// Type `id` declaring `inner` (a name, possibly already wrapped in `*`, `[n]`, `(...)`):
    /// C's inside-out declarator syntax.
    fn decl(&self, id: u32, inner: &str, indent: usize, depth: u32, budget: &Walk) -> String {
        let with = |base: &str| {
            if inner.is_empty() {
                base.to_string()
            } else {
                format!("{base} {inner}")
            }
        };
        if depth > MAX_DEPTH {
            return with("/* too deep */");
        }
        // Hostile BTF can share anonymous types so that inlining them grows exponentially.
        if budget.get() == 0 {
            return with("/* too large */");
        }
        budget.set(budget.get() - 1);
        let Ok(t) = self.get(id) else {
            return with(&format!("/* bad type id {id} */"));
        };
        let name = self.name(id);
        match &t.kind {
            Kind::Void => with("void"),
            Kind::Int { .. } | Kind::Float { .. } | Kind::Typedef { .. } => with(name),
            Kind::Struct { .. } | Kind::Union { .. } => {
                let kw = if matches!(t.kind, Kind::Struct { .. }) {
                    "struct"
                } else {
                    "union"
                };
                if !name.is_empty() {
                    with(&format!("{kw} {name}"))
                } else if t.kind.members().is_empty() {
                    with(&format!("{kw} {{}}"))
                } else {
                    let body = self.body(id, indent + 1, depth, budget);
                    let attr = self.packed_attr(id, budget);
                    with(&format!("{kw} {{\n{body}{}}}{attr}", tabs(indent)))
                }
            }
            Kind::Enum { .. } | Kind::Enum64 { .. } => {
                if !name.is_empty() {
                    with(&format!("enum {name}"))
                } else {
                    let body = self.enum_body(id, indent + 1);
                    let attr = enum_size_attr(&t.kind);
                    with(&format!("enum {{\n{body}{}}}{attr}", tabs(indent)))
                }
            }
            Kind::Fwd { union } => with(&format!(
                "{} {name}",
                if *union { "union" } else { "struct" }
            )),
            Kind::Ptr { ty } => {
                // A pointer to an array or function needs parentheses: int (*p)[4].
                let wrap = matches!(
                    self.get(*ty).map(|t| &t.kind),
                    Ok(Kind::Array { .. } | Kind::FuncProto { .. })
                );
                // Like bpftool: a space after the star before a parenthesis or qualifier.
                let qualified = ["const ", "volatile ", "restrict "]
                    .iter()
                    .any(|q| inner.starts_with(q) || inner == q.trim_end());
                let spaced = qualified || inner.starts_with('(');
                let inner = if wrap {
                    format!("(*{}{inner})", if qualified { " " } else { "" })
                } else if spaced {
                    format!("* {inner}")
                } else {
                    format!("*{inner}")
                };
                self.decl(*ty, &inner, indent, depth + 1, budget)
            }
            Kind::Const { ty } | Kind::Volatile { ty } | Kind::Restrict { ty } => {
                let q = match t.kind {
                    Kind::Const { .. } => "const",
                    Kind::Volatile { .. } => "volatile",
                    _ => "restrict",
                };
                if matches!(self.get(*ty).map(|t| &t.kind), Ok(Kind::Ptr { .. })) {
                    // A qualified pointer: the qualifier goes after the star.
                    let inner = if inner.is_empty() {
                        q.to_string()
                    } else {
                        format!("{q} {inner}")
                    };
                    self.decl(*ty, &inner, indent, depth + 1, budget)
                } else {
                    // `const` on an array of `const` elements is said once.
                    let rest = self.decl(*ty, inner, indent, depth + 1, budget);
                    if rest.starts_with(&format!("{q} ")) {
                        rest
                    } else {
                        format!("{q} {rest}")
                    }
                }
            }
            Kind::Array { elem, nelems, .. } => self.decl(
                *elem,
                &format!("{inner}[{nelems}]"),
                indent,
                depth + 1,
                budget,
            ),
            Kind::FuncProto { ret, params } => {
                let ps: Vec<String> = if params.is_empty() {
                    vec!["void".to_string()]
                } else {
                    params
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            if p.ty == 0 && i + 1 == params.len() {
                                "...".to_string()
                            } else {
                                let pname = self.str_at(p.name_off).unwrap_or("");
                                self.decl(p.ty, pname, indent, depth + 1, budget)
                            }
                        })
                        .collect()
                };
                self.decl(
                    *ret,
                    &format!("{inner}({})", ps.join(", ")),
                    indent,
                    depth + 1,
                    budget,
                )
            }
            Kind::TypeTag { ty, .. } => self.decl(*ty, inner, indent, depth + 1, budget),
            Kind::Func { .. } | Kind::Var { .. } | Kind::Datasec { .. } | Kind::DeclTag { .. } => {
                with(name)
            }
        }
    }
}

/// An enum of another size than C gives it (a `__packed` one of 1 byte) says its size.
pub(super) fn enum_size_attr(k: &Kind) -> &'static str {
    let (size, natural) = match k {
        Kind::Enum { size, .. } => (*size, 4),
        Kind::Enum64 { size, .. } => (*size, 8),
        _ => return "",
    };
    match size {
        s if s == natural => "",
        1 => " __attribute__((mode(QI)))",
        2 => " __attribute__((mode(HI)))",
        4 => " __attribute__((mode(SI)))",
        8 => " __attribute__((mode(DI)))",
        _ => "",
    }
}

fn linkage_prefix(l: u32) -> &'static str {
    match l {
        linkage::STATIC => "static ",
        linkage::EXTERN => "extern ",
        _ => "",
    }
}
