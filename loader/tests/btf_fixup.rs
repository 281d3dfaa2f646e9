//! Every object's BTF, fixed up from its ELF section and symbol tables, is taken by the
//! kernel's BPF_BTF_LOAD (privileged), and the fix-ups agree with the ELF (not privileged).

mod btf_support;
use btf_support::*;

use loader::btf::{Btf, Kind};
use object::{Object, ObjectSection, ObjectSymbol, SectionIndex};
use std::collections::HashMap;
use std::path::Path;

/// Section sizes and (section, symbol) -> value, straight from the ELF.
struct Elf {
    btf: Option<Vec<u8>>,
    sizes: HashMap<String, u32>,
    syms: HashMap<(String, String), u32>,
}

fn read_elf(path: &Path) -> Elf {
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let mut names: HashMap<SectionIndex, String> = HashMap::new();
    let mut sizes = HashMap::new();
    for s in file.sections() {
        let name = s.name().unwrap().to_string();
        names.insert(s.index(), name.clone());
        sizes.insert(name, s.size() as u32);
    }
    let mut syms = HashMap::new();
    for sym in file.symbols() {
        if let Some(idx) = sym.section_index() {
            if let (Some(sec), Ok(name)) = (names.get(&idx), sym.name()) {
                syms.insert((sec.clone(), name.to_string()), sym.address() as u32);
            }
        }
    }
    let btf = file
        .section_by_name(".BTF")
        .map(|s| s.data().unwrap().to_vec());
    Elf { btf, sizes, syms }
}

fn fixed(path: &Path) -> Option<(Btf, Vec<String>, Elf)> {
    let elf = read_elf(path);
    let mut btf = Btf::parse(elf.btf.as_ref()?).unwrap();
    let notes = btf
        .fixup_for_load(&|s| elf.sizes.get(s).copied(), &|s, v| {
            elf.syms.get(&(s.to_string(), v.to_string())).copied()
        })
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some((btf, notes, elf))
}

#[test]
fn fixed_datasecs_agree_with_the_elf() {
    let mut seen = 0;
    for path in bpf_objects() {
        let Some((btf, notes, elf)) = fixed(&path) else {
            continue;
        };
        eprintln!("{}:\n  {}", path.display(), notes.join("\n  "));
        for id in btf.own_ids() {
            let Kind::Datasec { size, vars } = &btf.types[id as usize].kind else {
                continue;
            };
            let sec = btf.name(id);
            if sec == ".kconfig" || sec == ".ksyms" {
                continue;
            }
            seen += 1;
            assert_eq!(Some(size), elf.sizes.get(sec), "{}: {sec}", path.display());
            for v in vars {
                let var = btf.name(v.ty);
                if let Some(&off) = elf.syms.get(&(sec.to_string(), var.to_string())) {
                    assert_eq!(v.offset, off, "{}: {sec}::{var}", path.display());
                }
            }
            assert!(vars.windows(2).all(|w| w[0].offset < w[1].offset));
        }
    }
    assert!(seen > 0, "no DATASEC in any object");
}

#[test]
fn kernel_accepts_every_fixed_btf() {
    if !privileged("kernel_accepts_every_fixed_btf") {
        return;
    }
    let mut loaded = 0;
    for path in bpf_objects() {
        let Some((btf, _, _)) = fixed(&path) else {
            continue;
        };
        let bytes = btf.to_bytes().unwrap();
        if let Err(e) = loader::sys::btf_load(&bytes, None) {
            let mut log = Vec::new();
            let again = loader::sys::btf_load(&bytes, Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!(
                "{}: BTF_LOAD refused: {e} (again: {:?})\n{}",
                path.display(),
                again.err(),
                String::from_utf8_lossy(&log[..end])
            );
        }
        loaded += 1;
    }
    assert!(loaded > 0);
}

#[test]
fn unfixed_btf_is_refused_by_the_kernel() {
    if !privileged("unfixed_btf_is_refused_by_the_kernel") {
        return;
    }
    // Shows the fix-up is needed at all: clang's raw .BTF with DATASEC size 0.
    let path = bpf_objects()
        .into_iter()
        .find(|p| p.ends_with("core_fields.bpf.o"))
        .unwrap();
    let raw = read_elf(&path).btf.unwrap();
    let e = loader::sys::btf_load(&raw, None).expect_err("clang's raw .BTF");
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    // The kernel's log names the fault: a DATASEC of size 0.
    let mut log = vec![0u8; 1 << 20];
    assert!(loader::sys::btf_load(&raw, Some(&mut log)).is_err());
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let log = String::from_utf8_lossy(&log[..end]);
    let last = log
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(
        last.contains("DATASEC .bss size=0") && last.ends_with("size == 0"),
        "the kernel's last word: {last}"
    );
    // Fixed up, the same types load.
    let (btf, _, _) = fixed(&path).unwrap();
    loader::sys::btf_load(&btf.to_bytes().unwrap(), None).expect("fixed BTF loads");
}
