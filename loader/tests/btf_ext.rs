//! `.BTF.ext` of every object against independent sources: the ELF symbol table (where each
//! function starts), the C sources (the text of each line_info line), the ELF section sizes.

mod btf_support;
use btf_support::*;

use loader::btf::ext::BtfExt;
use loader::btf::{kind, Btf};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::collections::HashMap;

#[test]
fn ext_agrees_with_symbols_and_sources() {
    let (mut funcs, mut lines, mut relos) = (0, 0, 0);
    for path in bpf_objects() {
        let data = std::fs::read(&path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let (Some(b), Some(e)) = (
            file.section_by_name(".BTF"),
            file.section_by_name(".BTF.ext"),
        ) else {
            continue;
        };
        let btf = Btf::parse(b.data().unwrap()).unwrap();
        let ext = BtfExt::parse(e.data().unwrap(), &btf)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // (section, offset) -> function symbol, and section sizes.
        let mut starts = HashMap::new();
        let mut sizes = HashMap::new();
        for s in file.sections() {
            sizes.insert(s.name().unwrap().to_string(), s.size());
        }
        for sym in file.symbols().filter(|s| s.kind() == SymbolKind::Text) {
            let sec = file.section_by_index(sym.section_index().unwrap()).unwrap();
            starts.insert(
                (sec.name().unwrap().to_string(), sym.address()),
                sym.name().unwrap().to_string(),
            );
        }
        let at = |what: &str| format!("{}: {what}", path.display());
        for part in &ext.func_info {
            for f in &part.records {
                let sym = starts.get(&(part.section.clone(), f.insn_off as u64));
                assert_eq!(
                    btf.kind_of(f.type_id),
                    kind::FUNC,
                    "{}",
                    at("func_info type")
                );
                assert_eq!(
                    sym.map(String::as_str),
                    Some(btf.name(f.type_id)),
                    "{}",
                    at(&format!("func_info {}+{}", part.section, f.insn_off))
                );
                funcs += 1;
            }
        }
        for part in &ext.line_info {
            let size = sizes[&part.section];
            for l in &part.records {
                assert!(
                    l.insn_off % 8 == 0 && (l.insn_off as u64) < size,
                    "{}",
                    at("line_info offset")
                );
                let file_name = btf.str_at(l.file_name_off).unwrap();
                let text = btf.str_at(l.line_off).unwrap();
                let src = bpf_dir().join("../..").join(file_name);
                let Ok(src) = std::fs::read_to_string(&src) else {
                    continue; // a header outside the repository (bpf_helpers.h, vmlinux.h)
                };
                let line = src.lines().nth(l.line() as usize - 1).unwrap_or_default();
                assert_eq!(
                    line.trim(),
                    text.trim(),
                    "{}",
                    at(&format!("{file_name}:{}", l.line()))
                );
                lines += 1;
            }
        }
        for part in &ext.core_relos {
            let size = sizes[&part.section];
            for r in &part.records {
                assert!(
                    r.insn_off % 8 == 0 && (r.insn_off as u64) < size,
                    "{}",
                    at("core_relo offset")
                );
                let access = btf.str_at(r.access_str_off).unwrap();
                assert!(
                    access.split(':').all(|p| p.parse::<u32>().is_ok()),
                    "{}",
                    at(access)
                );
                assert!(r.kind <= 12 && r.type_id != 0 && (r.type_id as usize) < btf.types.len());
                relos += 1;
            }
        }
    }
    eprintln!("checked {funcs} func_info, {lines} line_info, {relos} CO-RE records");
    assert!(funcs > 0 && lines > 0 && relos > 0);
}
