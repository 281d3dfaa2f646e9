//! Our disassembler against LLVM's: every instruction of every program section of every
//! object in target/bpf, and of a hand-written assembly file that uses every instruction
//! class (assembled here with llvm-mc), must read the same as `llvm-objdump -d` once the
//! known differences of notation are normalised (see `normalise_llvm`).
//!
//! Needs `make bpf` (the objects) and llvm-19 (`llvm-objdump-19`, `llvm-mc-19`); it fails,
//! never skips, without them: `make test` provides both.

use loader::disasm::{disasm, disasm_insn};
use loader::insn::{decode, Insn};
use object::{Object, ObjectSection, SectionFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn tool(names: &[&str]) -> String {
    for n in names {
        if Command::new(n).arg("--version").output().is_ok() {
            return n.to_string();
        }
    }
    panic!("none of {names:?} is installed: run `make deps` (llvm-19)");
}

/// `llvm-objdump -d --no-show-raw-insn` of `obj`: section name -> index -> text.
fn objdump(obj: &Path, extra: &[&str]) -> BTreeMap<String, BTreeMap<usize, String>> {
    let out = Command::new(tool(&["llvm-objdump-19", "llvm-objdump"]))
        .args(["-d", "--no-show-raw-insn"])
        .args(extra)
        .arg(obj)
        .output()
        .expect("run llvm-objdump");
    assert!(
        out.status.success(),
        "llvm-objdump {}: {:?}",
        obj.display(),
        out
    );
    let mut sections: BTreeMap<String, BTreeMap<usize, String>> = BTreeMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = line.strip_prefix("Disassembly of section ") {
            let name = name.trim_end_matches(':').to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        // Instruction lines: "      12:\tr1 = 0x0 ll"; symbol lines: "0000000000000000 <f>:".
        let Some((idx, text)) = line.split_once(':') else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<usize>() else {
            continue;
        };
        if !line.starts_with(' ') {
            continue;
        }
        if let Some(sec) = current.as_ref().and_then(|c| sections.get_mut(c)) {
            sec.insert(idx, text.trim().to_string());
        }
    }
    sections
}

/// Program sections of an ELF object (executable, non-empty): name -> instructions.
fn program_sections(obj: &Path) -> Vec<(String, Vec<Insn>)> {
    let data = std::fs::read(obj).expect("read object");
    let file = object::File::parse(&*data).expect("parse ELF");
    let mut out = Vec::new();
    for sec in file.sections() {
        let exec = match sec.flags() {
            SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0,
            _ => false,
        };
        let bytes = sec.data().expect("section data");
        if !exec || bytes.is_empty() {
            continue;
        }
        let (insns, rest) = decode(bytes);
        assert_eq!(
            rest,
            0,
            "{}: section {} is not whole instructions",
            obj.display(),
            sec.name().unwrap_or("?")
        );
        out.push((sec.name().expect("section name").to_string(), insns));
    }
    out
}

/// Replace each hex number `0xH` (with the sign just before it, if any) by `f(sign, value)`.
fn map_hex(s: &str, f: &mut dyn FnMut(Option<char>, u64) -> String) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i] == b'0'
            && b.get(i + 1) == Some(&b'x')
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        let v = u64::from_str_radix(&s[i + 2..j], 16).expect("hex");
        let sign = match out.chars().last() {
            Some(c @ ('+' | '-')) => {
                out.pop();
                Some(c)
            }
            _ => None,
        };
        out.push_str(&f(sign, v));
        i = j;
    }
    out
}

fn signed(sign: Option<char>, v: u64) -> i64 {
    if sign == Some('-') {
        -(v as i64)
    } else {
        v as i64
    }
}

/// Turn one line of llvm-objdump's BPF syntax into the kernel verifier's, using the raw
/// instruction only where LLVM's text does not say (the src_reg of a call). The rules, one
/// for each known difference of notation:
/// 1. LLVM annotates jump targets (`<f+0x40>`) and marks ld_imm64 with ` ll`: dropped.
/// 2. Offsets and immediates are hex in LLVM, decimal in the kernel (`(r10 - 0x8)` ->
///    `(r10 -8)`, `r1 += -0x8` -> `r1 += -8`), except the 64-bit immediate of ld_imm64 (hex
///    in both) and the immediate of a conditional jump, which the kernel prints as the
///    unsigned 32-bit hex of the value (`-0x1` -> `0xffffffff`).
/// 3. Jump targets: `goto +0x3` -> `goto pc+3`, `gotol` likewise.
/// 4. Calls: LLVM prints `call 0x1` for helpers and BPF-to-BPF calls alike. A helper call
///    becomes `call #1` (our side drops the helper name, checked against the uapi header
///    in the library's unit tests); a BPF-to-BPF call (src_reg 1) becomes `call pc+1`.
/// 5. Loads, stores and atomics use 32-bit register names (`w1`) under cpu v3+ in LLVM; the
///    kernel always writes `r1`.
/// 6. Atomics: `atomic_fetch_add((u64 *)...)` -> `atomic64_fetch_add(...)`,
///    `xchg_64(r1 + 0x0, r2)` -> `atomic64_xchg((u64 *)(r1 +0), r2)`, `xchg32_32` ->
///    `atomic_xchg((u32 *)...)`, `cmpxchg_64` / `cmpxchg32_32` likewise.
/// 7. `skb[r1]` (LLVM omits a zero immediate of BPF_IND) -> `skb[r1 + 0]`.
///
/// Nothing else is touched: any other difference stays and fails the comparison.
fn normalise_llvm(text: &str, insn: Insn) -> String {
    let mut t = text.trim().to_string();
    if t.ends_with('>') {
        if let Some(p) = t.rfind(" <") {
            t.truncate(p);
        }
    }
    if let Some(s) = t.strip_suffix(" ll") {
        t = s.to_string();
    }
    let class = insn.code & 0x07;
    match class {
        0x05 | 0x06 => {
            if t.starts_with("goto ") || t.starts_with("gotol ") {
                t = t.replacen(' ', " pc", 1);
                return map_hex(&t, &mut |s, v| format!("{:+}", signed(s, v)));
            }
            if t.starts_with("call ") {
                return map_hex(&t, &mut |s, v| {
                    if insn.src == 1 {
                        format!("pc{:+}", signed(s, v))
                    } else {
                        format!("#{}", signed(s, v))
                    }
                });
            }
            if let Some((cond, target)) = t.split_once(" goto ") {
                let cond = map_hex(cond, &mut |s, v| {
                    format!("0x{:x}", signed(s, v) as i32 as u32)
                });
                let target = map_hex(target, &mut |s, v| format!("pc{:+}", signed(s, v)));
                return format!("{cond} goto {target}");
            }
            t
        }
        // ld_imm64: hex in both; LLVM may write a negative value, the kernel its u64 bits.
        0x00 if insn.code == 0x18 => {
            map_hex(&t, &mut |s, v| format!("0x{:x}", signed(s, v) as u64))
        }
        _ => {
            t = t.replace(" + 0x", " +0x").replace(" - 0x", " -0x");
            t = map_hex(&t, &mut |s, v| match s {
                Some('+') => format!("+{v}"),
                _ => format!("{}", signed(s, v)),
            });
            if matches!(class, 0x01..=0x03) {
                t = w_to_r(&t);
            }
            for (llvm, kernel) in [
                ("cmpxchg_64(", "atomic64_cmpxchg((u64 *)("),
                ("cmpxchg32_32(", "atomic_cmpxchg((u32 *)("),
                ("xchg_64(", "atomic64_xchg((u64 *)("),
                ("xchg32_32(", "atomic_xchg((u32 *)("),
            ] {
                if let Some(p) = t.find(llvm) {
                    if llvm.starts_with('x') && t[..p].ends_with("cmp") {
                        continue;
                    }
                    let rest = t[p + llvm.len()..].replacen(", ", "), ", 1);
                    t = format!("{}{kernel}{rest}", &t[..p]);
                    break;
                }
            }
            if t.contains("atomic_fetch_") && t.contains("(u64 *)") {
                t = t.replace("atomic_fetch_", "atomic64_fetch_");
            }
            if t.ends_with(']') && t.contains("skb[r") && !t.contains(" + ") {
                t = t.replace(']', " + 0]");
            }
            t
        }
    }
}

/// `w3` -> `r3` (register names only, not inside words).
fn w_to_r(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        let reg = c == b'w'
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        out.push(if reg { 'r' } else { c as char });
    }
    out
}

/// Our side: only the helper name goes (`call bpf_map_lookup_elem#1` -> `call #1`).
fn normalise_ours(text: &str) -> String {
    match (text.strip_prefix("call "), text.rfind('#')) {
        (Some(rest), Some(p)) if !rest.starts_with("pc") => format!("call {}", &text[p..]),
        _ => text.to_string(),
    }
}

/// Compare one section: our disassembly of `insns` against LLVM's of `raw` (the same
/// bytes, except in the test that changes one on purpose). Returns the number of our lines
/// and the mismatches (index, ours, llvm, llvm normalised).
fn compare(
    insns: &[Insn],
    raw: &[Insn],
    llvm: &BTreeMap<usize, String>,
) -> (usize, Vec<(usize, String, String, String)>) {
    let ours = disasm(insns);
    let mut bad = Vec::new();
    let ours_idx: Vec<usize> = ours.iter().map(|(i, _)| *i).collect();
    let llvm_idx: Vec<usize> = llvm.keys().copied().collect();
    if ours_idx != llvm_idx {
        bad.push((
            usize::MAX,
            format!("indexes {ours_idx:?}"),
            format!("indexes {llvm_idx:?}"),
            String::new(),
        ));
    }
    for (idx, text) in &ours {
        let Some(l) = llvm.get(idx) else { continue };
        let want = normalise_llvm(l, raw[*idx]);
        if normalise_ours(text) != want {
            bad.push((*idx, text.clone(), l.clone(), want));
        }
    }
    (ours.len(), bad)
}

fn report(what: &str, bad: &[(usize, String, String, String)]) -> String {
    bad.iter()
        .map(|(i, o, l, n)| format!("{what} #{i}: ours `{o}` | llvm `{l}` (normalised `{n}`)\n"))
        .collect()
}

#[test]
fn every_built_object_matches_llvm_objdump() {
    let dir = root().join("target/bpf");
    let mut objs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `make bpf` first", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    objs.sort();
    assert!(
        objs.len() >= 10,
        "only {} objects in {}: run `make bpf`",
        objs.len(),
        dir.display()
    );
    let mut failures = String::new();
    let mut compared = 0;
    for obj in &objs {
        let llvm = objdump(obj, &[]);
        let secs = program_sections(obj);
        assert!(!secs.is_empty(), "{}: no program section", obj.display());
        for (name, insns) in secs {
            let Some(l) = llvm.get(&name) else {
                failures.push_str(&format!(
                    "{}: llvm-objdump shows no section {name}\n",
                    obj.display()
                ));
                continue;
            };
            let (n, bad) = compare(&insns, &insns, l);
            compared += n;
            failures.push_str(&report(&format!("{} {name}", obj.display()), &bad));
        }
    }
    assert!(
        failures.is_empty(),
        "differences from llvm-objdump:\n{failures}"
    );
    assert!(compared > 1000, "only {compared} instructions compared");
}

/// One of each instruction form, in LLVM's assembly syntax (cpu v4).
const EVERY_FORM: &str = "
    r1 = r2
    w1 = w2
    r1 = 5
    w1 = -3
    r1 += -8
    w1 += 3
    r1 -= r2
    w1 -= 7
    r1 *= 7
    w1 *= w2
    r1 /= r2
    w1 /= 4
    r1 %= r2
    w1 %= 9
    r1 |= 0x10
    w1 |= w2
    r1 &= r2
    w1 &= 255
    r1 <<= 3
    w1 <<= w2
    r1 >>= r2
    w1 >>= 1
    r1 s>>= 2
    w1 s>>= w2
    r1 ^= -1
    w1 ^= w3
    r1 = -r1
    w1 = -w1
    r1 s/= r2
    r1 s/= 5
    w1 s/= w2
    w1 s%= w2
    r1 s%= -3
    r1 = (s8)r2
    r1 = (s16)r2
    r1 = (s32)r2
    w1 = (s8)w2
    w1 = (s16)w2
    r1 = be16 r1
    r1 = be32 r1
    r1 = be64 r1
    r1 = le16 r1
    r1 = le32 r1
    r1 = le64 r1
    r1 = bswap16 r1
    r1 = bswap32 r1
    r1 = bswap64 r1
    r1 = *(u8 *)(r2 + 3)
    r1 = *(u16 *)(r2 - 4)
    r1 = *(u32 *)(r10 - 8)
    r1 = *(u64 *)(r1 + 0)
    r1 = *(s8 *)(r2 + 1)
    r1 = *(s16 *)(r2 + 2)
    r1 = *(s32 *)(r2 - 4)
    *(u8 *)(r10 - 1) = r1
    *(u16 *)(r10 - 2) = r1
    *(u32 *)(r10 - 4) = r1
    *(u64 *)(r10 - 8) = r1
    *(u8 *)(r10 - 1) = 7
    *(u16 *)(r10 - 2) = -2
    *(u32 *)(r10 - 4) = -1
    *(u64 *)(r10 - 8) = 0x1234
    lock *(u64 *)(r1 + 8) += r2
    lock *(u32 *)(r1 + 0) += w2
    lock *(u64 *)(r1 + 0) &= r2
    lock *(u32 *)(r1 + 4) |= w2
    lock *(u64 *)(r1 + 0) ^= r2
    r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)
    w2 = atomic_fetch_add((u32 *)(r1 - 8), w2)
    w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)
    r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)
    r2 = atomic_fetch_xor((u64 *)(r1 + 0), r2)
    r2 = xchg_64(r1 + 0, r2)
    w2 = xchg32_32(r1 + 16, w2)
    r0 = cmpxchg_64(r1 + 0, r0, r2)
    w0 = cmpxchg32_32(r1 - 4, w0, w2)
    r1 = 0x123456789 ll
    r9 = -1 ll
    r0 = *(u8 *)skb[23]
    r0 = *(u16 *)skb[r1]
    r0 = *(u32 *)skb[0]
    if r1 == 5 goto +3
    if r1 > r2 goto -2
    if r1 s< -1 goto +0
    if r1 & 0x8 goto +1
    if r1 s>= r2 goto +1
    if r1 <= 9 goto +1
    if r1 != r3 goto +1
    if r1 >= 4 goto +1
    if r1 s> r2 goto +1
    if r1 s<= 4 goto +1
    if r1 < r2 goto +1
    if w1 == 5 goto +3
    if w1 != w2 goto +1
    if w1 s<= -7 goto +1
    if w1 < 0x10 goto +1
    if w1 > w2 goto +1
    if w1 & w2 goto +1
    goto +2
    goto -1
    gotol +1
    call 1
    call 12
    call 131
    call -1
    callx r1
    exit
";

#[test]
fn every_instruction_form_matches_llvm_objdump() {
    let dir = std::env::temp_dir().join(format!("rbpf-disasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("every_form.s");
    let obj = dir.join("every_form.o");
    std::fs::write(&src, format!("\t.text\n\t.globl f\nf:\n{EVERY_FORM}")).expect("write .s");
    let out = Command::new(tool(&["llvm-mc-19", "llvm-mc"]))
        .args(["-triple", "bpfel", "-mcpu=v4", "-filetype=obj", "-o"])
        .arg(&obj)
        .arg(&src)
        .output()
        .expect("run llvm-mc");
    assert!(
        out.status.success(),
        "llvm-mc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let llvm = objdump(&obj, &["--mcpu=v4"]);
    let secs = program_sections(&obj);
    let _ = std::fs::remove_dir_all(&dir);

    let (name, insns) = secs.first().expect(".text");
    let l = llvm.get(name).expect("objdump of .text");
    let (n, bad) = compare(insns, insns, l);
    assert!(
        bad.is_empty(),
        "differences from llvm-objdump:\n{}",
        report(name, &bad)
    );
    let lines = EVERY_FORM.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(
        n, lines,
        "every line of the assembly must be one instruction"
    );
    // The call to a BPF function is the one place LLVM's text needs the raw src_reg.
    assert!(disasm(insns)
        .iter()
        .any(|(_, s)| s == "call bpf_ringbuf_reserve#131"));
}

/// A named change to one instruction: which instruction to pick, what to do to it.
type Change = (&'static str, fn(&Insn) -> bool, fn(&mut Insn));

/// The comparison must catch a real difference: change one instruction of a real program
/// and the same llvm-objdump output no longer matches, at that index only.
#[test]
fn a_changed_instruction_is_caught() {
    let obj = root().join("target/bpf/xdp_count.bpf.o");
    assert!(obj.exists(), "{}: run `make bpf`", obj.display());
    let llvm = objdump(&obj, &[]);
    let (name, insns) = program_sections(&obj)
        .into_iter()
        .find(|(n, _)| n == "xdp")
        .expect("section xdp");
    let l = &llvm["xdp"];
    assert!(
        compare(&insns, &insns, l).1.is_empty(),
        "{name} must match before the change"
    );

    // Each kind of change: an immediate, a register, an offset, a jump op, a call kind.
    let changes: [Change; 5] = [
        ("imm of a mov", |i| i.code == 0xb7, |i| i.imm += 1),
        ("dst of a load", |i| i.code & 0x07 == 0x01, |i| i.dst ^= 1),
        (
            "offset of a load",
            |i| i.code & 0x07 == 0x01,
            |i| i.off += 2,
        ),
        ("jump op", |i| i.code == 0x15, |i| i.code = 0x55),
        ("helper -> bpf call", |i| i.code == 0x85, |i| i.src = 1),
    ];
    for (what, pick, change) in changes {
        let at = insns
            .iter()
            .position(pick)
            .unwrap_or_else(|| panic!("no insn for {what}"));
        let mut changed = insns.clone();
        change(&mut changed[at]);
        let (_, bad) = compare(&changed, &insns, l);
        assert_eq!(bad.len(), 1, "{what} at #{at}: {bad:?}");
        assert_eq!(bad[0].0, at, "{what}");
    }
    // And a mismatch of a single character in the texts themselves.
    assert_ne!(
        normalise_ours("r1 += 3"),
        normalise_llvm("r1 += 0x4", Insn::new(0x07, 1, 0, 0, 3))
    );
    assert_ne!(
        normalise_ours("if r1 > 0x5 goto pc+3"),
        normalise_llvm(
            "if r1 >= 0x5 goto +0x3 <f+0x20>",
            Insn::new(0x25, 1, 0, 3, 5)
        )
    );
    // disasm_insn agrees with disasm on the first instruction.
    assert_eq!(disasm_insn(&insns, 0).0, disasm(&insns)[0].1);
}

#[test]
fn the_normaliser_itself() {
    let i = |code, src| Insn::new(code, 0, src, 0, 0);
    let cases = [
        (
            "r2 = *(u32 *)(r1 + 0x0)",
            i(0x61, 0),
            "r2 = *(u32 *)(r1 +0)",
        ),
        (
            "*(u32 *)(r10 - 0xc) = r1",
            i(0x63, 0),
            "*(u32 *)(r10 -12) = r1",
        ),
        ("r1 += -0x4", i(0x07, 0), "r1 += -4"),
        ("r1 = 0x0 ll", i(0x18, 0), "r1 = 0x0"),
        (
            "if r7 == 0x0 goto +0x4 <f+0xa0>",
            i(0x15, 0),
            "if r7 == 0x0 goto pc+4",
        ),
        (
            "if r1 s< -0x1 goto -0x2 <f>",
            i(0xc5, 0),
            "if r1 s< 0xffffffff goto pc-2",
        ),
        ("goto -0x1 <f+0x8>", i(0x05, 0), "goto pc-1"),
        ("call 0x1", i(0x85, 0), "call #1"),
        ("call -0x1", i(0x85, 1), "call pc-1"),
        ("w1 = *(u8 *)(r2 + 0x3)", i(0x71, 0), "r1 = *(u8 *)(r2 +3)"),
        (
            "lock *(u32 *)(r1 + 0x0) += w2",
            i(0xc3, 0),
            "lock *(u32 *)(r1 +0) += r2",
        ),
        (
            "r2 = xchg_64(r1 + 0x0, r2)",
            i(0xdb, 0),
            "r2 = atomic64_xchg((u64 *)(r1 +0), r2)",
        ),
        (
            "w0 = cmpxchg32_32(r1 - 0x4, w0, w2)",
            i(0xc3, 0),
            "r0 = atomic_cmpxchg((u32 *)(r1 -4), r0, r2)",
        ),
        (
            "r2 = atomic_fetch_add((u64 *)(r1 + 0x0), r2)",
            i(0xdb, 0),
            "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)",
        ),
        (
            "r0 = *(u16 *)skb[r1]",
            i(0x48, 0),
            "r0 = *(u16 *)skb[r1 + 0]",
        ),
        ("r0 = *(u8 *)skb[0x17]", i(0x30, 0), "r0 = *(u8 *)skb[23]"),
    ];
    for (llvm, insn, want) in cases {
        assert_eq!(normalise_llvm(llvm, insn), want, "{llvm}");
    }
    assert_eq!(normalise_ours("call bpf_map_lookup_elem#1"), "call #1");
    assert_eq!(normalise_ours("call pc+5"), "call pc+5");
}
