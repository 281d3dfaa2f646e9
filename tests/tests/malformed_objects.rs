//! Malformed objects: real clang-built objects (xdp_classifier, globals, bpf2bpf,
//! legacy_maps), damaged one fault at a time right here in the test: truncated, section
//! header table corrupted, offsets past the end, wrong machine or byte order, relocations
//! against missing or wrong symbols, impossible BTF, programs of a size that is not whole
//! instructions. Each must give an `Err` whose message names the fault, never a panic,
//! within a time limit (each parse runs in its own thread) and within memory proportional
//! to the input (each parse runs again in a child process under an address-space limit).

use loader::btf::{kind, Btf, Kind};
use loader::obj::Object;
use object::{Object as _, ObjectSection, ObjectSymbol};
use rbpf_tests::bpf_obj;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

const EHDR: usize = 64;
const SHDR: usize = 64;
const SYM: usize = 24;
const REL: usize = 16;
const SHT_NOBITS: u32 = 8;
const EM_X86_64: u16 = 62;

/// Longest a parse may take: real objects parse in well under a millisecond.
const TIME_LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// The ELF patching helpers: the `object` crate's read side finds things, we patch bytes.

/// A little-endian ELF64 object, as bytes.
#[derive(Clone)]
struct Elf {
    b: Vec<u8>,
}

/// Where one section header and its data are in the file.
#[derive(Debug, Clone, Copy)]
struct Sec {
    idx: usize,
    /// File offset of the section header.
    hdr: usize,
    offset: usize,
    size: usize,
    nobits: bool,
}

/// One `Elf64_Rel` entry.
#[derive(Debug, Clone, Copy)]
struct Rel {
    /// File offset of the entry.
    at: usize,
    r_offset: u64,
    sym: u32,
    r_type: u32,
}

/// Where the records of a `.BTF` section are in the file.
struct BtfLoc {
    /// The parsed BTF, to find type ids by name and shape.
    btf: Btf,
    /// File offset of type record `id` (index 0, void, is unused).
    rec: Vec<usize>,
}

impl Elf {
    fn open(name: &str) -> Elf {
        Elf {
            b: std::fs::read(bpf_obj(name)).expect("read object"),
        }
    }

    fn u16(&self, o: usize) -> u16 {
        u16::from_le_bytes(self.b[o..o + 2].try_into().expect("2"))
    }
    fn u32(&self, o: usize) -> u32 {
        u32::from_le_bytes(self.b[o..o + 4].try_into().expect("4"))
    }
    fn u64(&self, o: usize) -> u64 {
        u64::from_le_bytes(self.b[o..o + 8].try_into().expect("8"))
    }
    fn set16(mut self, o: usize, v: u16) -> Self {
        self.b[o..o + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn set32(mut self, o: usize, v: u32) -> Self {
        self.b[o..o + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn set64(mut self, o: usize, v: u64) -> Self {
        self.b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        self
    }

    fn shoff(&self) -> usize {
        self.u64(40) as usize
    }
    fn shnum(&self) -> usize {
        self.u16(60) as usize
    }

    fn sec_at(&self, idx: usize) -> Sec {
        let hdr = self.shoff() + idx * SHDR;
        Sec {
            idx,
            hdr,
            offset: self.u64(hdr + 24) as usize,
            size: self.u64(hdr + 32) as usize,
            nobits: self.u32(hdr + 4) == SHT_NOBITS,
        }
    }

    /// Every section with its name.
    fn sections(&self) -> Vec<(String, Sec)> {
        let f = object::File::parse(&*self.b).expect("the original parses");
        f.sections()
            .map(|s| {
                (
                    s.name().expect("name").to_string(),
                    self.sec_at(s.index().0),
                )
            })
            .collect()
    }

    fn sec(&self, name: &str) -> Sec {
        self.sections()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    /// Symbol `name`: its index and the file offset of its `Elf64_Sym`.
    fn symbol(&self, name: &str) -> (u32, usize) {
        let f = object::File::parse(&*self.b).expect("parse");
        let s = f
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no symbol {name}"));
        let idx = s.index().0;
        (idx as u32, self.sec(".symtab").offset + idx * SYM)
    }

    /// The index of the STT_SECTION symbol of section `sec` (those have no name of their own).
    fn section_symbol(&self, sec: &str) -> u32 {
        let idx = self.sec(sec).idx;
        let f = object::File::parse(&*self.b).expect("parse");
        let s = f
            .symbols()
            .find(|s| {
                s.kind() == object::SymbolKind::Section
                    && s.section_index().map(|i| i.0) == Some(idx)
            })
            .unwrap_or_else(|| panic!("no section symbol for {sec}"));
        s.index().0 as u32
    }

    /// The entries of relocation section `relsec` (`.relxdp`, `.rel.maps`).
    fn rels(&self, relsec: &str) -> Vec<Rel> {
        let s = self.sec(relsec);
        (0..s.size / REL)
            .map(|i| {
                let at = s.offset + i * REL;
                let info = self.u64(at + 8);
                Rel {
                    at,
                    r_offset: self.u64(at),
                    sym: (info >> 32) as u32,
                    r_type: info as u32,
                }
            })
            .collect()
    }

    /// The relocation of `relsec` against symbol `name` (the first one).
    fn rel_against(&self, relsec: &str, name: &str) -> Rel {
        let (idx, _) = self.symbol(name);
        self.rels(relsec)
            .into_iter()
            .find(|r| r.sym == idx)
            .unwrap_or_else(|| panic!("no relocation against {name} in {relsec}"))
    }

    fn set_rel_sym(self, r: Rel, sym: u32) -> Self {
        let info = ((sym as u64) << 32) | r.r_type as u64;
        self.set64(r.at + 8, info)
    }

    /// The same object with the section header table moved to just after the ELF header,
    /// so that truncating the file cuts section data while the headers stay readable.
    fn sht_first(&self) -> Elf {
        let (shoff, n) = (self.shoff(), self.shnum());
        let table = self.b[shoff..shoff + n * SHDR].to_vec();
        let shift = table.len();
        let mut b = self.b[..EHDR].to_vec();
        b.extend_from_slice(&table);
        b.extend_from_slice(&self.b[EHDR..shoff]);
        b.extend_from_slice(&self.b[shoff + n * SHDR..]);
        let mut e = Elf { b }.set64(40, EHDR as u64);
        for i in 1..n {
            let s = e.sec_at(i);
            if s.offset >= EHDR {
                e = e.set64(s.hdr + 24, (s.offset + shift) as u64);
            }
        }
        e
    }

    /// Record offsets and the parsed form of `.BTF`.
    fn btf(&self) -> BtfLoc {
        let s = self.sec(".BTF");
        let btf = Btf::parse(&self.b[s.offset..s.offset + s.size]).expect("object BTF parses");
        let hdr_len = self.u32(s.offset + 4) as usize;
        let (type_off, type_len) = (
            self.u32(s.offset + 8) as usize,
            self.u32(s.offset + 12) as usize,
        );
        let start = s.offset + hdr_len + type_off;
        let mut rec = vec![0];
        let mut p = start;
        while p < start + type_len {
            rec.push(p);
            let info = self.u32(p + 4);
            let vlen = (info & 0xffff) as usize;
            p += 12
                + match ((info >> 24) & 0x1f) as u8 {
                    kind::INT | kind::VAR | kind::DECL_TAG => 4,
                    kind::ARRAY => 12,
                    kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
                    kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
                    _ => 0,
                };
        }
        assert_eq!(
            rec.len(),
            btf.len(),
            "our record walk agrees with the parser"
        );
        BtfLoc { btf, rec }
    }
}

impl BtfLoc {
    /// The id of the member `member` of BTF map `map`'s definition struct.
    fn map_member(&self, map: &str, member: &str) -> u32 {
        let var = self.btf.find_by_name(map, kind::VAR).expect("map VAR");
        let Kind::Var { ty, .. } = self.btf.get(var).expect("var").kind else {
            panic!("not a VAR")
        };
        self.btf
            .members(ty)
            .expect("struct")
            .iter()
            .find(|m| self.btf.str_at(m.name_off).ok() == Some(member))
            .map(|m| m.ty)
            .unwrap_or_else(|| panic!("{map} has no member {member}"))
    }

    /// What a pointer type points to.
    fn pointee(&self, ptr: u32) -> u32 {
        match self.btf.get(ptr).expect("type").kind {
            Kind::Ptr { ty } => ty,
            ref k => panic!("type {ptr} is {k:?}, not a PTR"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running one case: an error, in time, naming the fault, in bounded memory.

/// Parse in a thread: the error message, or a test failure if it parsed, panicked or hung.
fn parse_err(case: &str, bytes: Vec<u8>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(case.to_string())
        .spawn(move || {
            let r = Object::parse("malformed", &bytes)
                .map(|o| o.programs.len())
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
        })
        .expect("spawn");
    match rx.recv_timeout(TIME_LIMIT) {
        Ok(Ok(n)) => panic!("{case}: parsed ({n} programs) instead of failing"),
        Ok(Err(msg)) => msg,
        Err(RecvTimeoutError::Timeout) => panic!("{case}: no answer within {TIME_LIMIT:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{case}: Object::parse panicked"),
    }
}

/// Memory allowed to parse `len` bytes: a fixed floor for the process plus a multiple of
/// the input (never anything sized by a count read from it).
fn mem_limit_mb(len: usize) -> u64 {
    64 + (64 * len as u64).div_ceil(1 << 20)
}

/// Parse again in a child process under RLIMIT_AS; return its first output line. An
/// allocation past the limit or a panic makes it exit abnormally, and the test fail.
fn bounded(case: &str, bytes: &[u8]) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "rbpf-malformed-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).expect("write case");
    let limit = mem_limit_mb(bytes.len());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbpf-parse-bounded"))
        .arg(&path)
        .arg(limit.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn rbpf-parse-bounded");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&path);
            panic!("{case}: the bounded parse did not finish within {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = std::fs::remove_file(&path);
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.success(),
        "{case}: the parse under a {limit} MiB address-space limit ended abnormally ({status}): {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak_kb: "))
        .and_then(|v| v.parse().ok())
        .expect("peak_kb line");
    // The whole process (about 3 MiB before parsing) within 8 MiB plus 16 bytes per input byte.
    let rss_bound_kb = 8 * 1024 + (16 * bytes.len() as u64).div_ceil(1024);
    assert!(
        peak <= rss_bound_kb,
        "{case}: peak RSS {peak} kB over the {rss_bound_kb} kB bound"
    );
    stdout.lines().next().unwrap_or("").to_string()
}

/// The case must fail with a message containing one of `any_of`, in time and memory.
fn expect_err(case: &str, bytes: Vec<u8>, any_of: &[&str]) -> String {
    let msg = parse_err(case, bytes.clone());
    assert!(
        any_of.iter().any(|k| msg.contains(k)),
        "{case}: the error does not name the fault (expected one of {any_of:?}): {msg}"
    );
    let child = bounded(case, &bytes);
    assert_eq!(
        child,
        format!("err: {msg}"),
        "{case}: same answer in the child"
    );
    msg
}

/// The objects the cases start from.
const OBJECTS: [&str; 3] = ["xdp_classifier", "globals", "bpf2bpf"];

// ---------------------------------------------------------------------------------------
// The cases.

#[test]
fn the_originals_parse_within_the_same_bounds() {
    for name in OBJECTS.iter().chain(&["legacy_maps"]) {
        let e = Elf::open(name);
        let obj = Object::parse(name, &e.b).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!obj.programs.is_empty());
        assert_eq!(bounded(name, &e.b), "ok", "{name}");
        // The SHT-first layout the truncation cases use is the same object.
        let moved = Object::parse(name, &e.sht_first().b).expect("rearranged parses");
        assert_eq!(moved.programs.len(), obj.programs.len(), "{name}");
        assert_eq!(moved.maps, obj.maps, "{name}");
    }
}

/// Every offset where one ELF structure ends and another begins.
fn boundaries(e: &Elf) -> Vec<usize> {
    let mut cuts: Vec<usize> = vec![0, 1, 4, 5, 6, 16, 18, 20, 24, 32, 40, 48, 52, 58, 60, 62];
    cuts.push(EHDR);
    for i in 0..=e.shnum() {
        cuts.push(e.shoff() + i * SHDR);
    }
    for (_, s) in e.sections() {
        if !s.nobits {
            cuts.extend([s.offset, s.offset + s.size / 2, s.offset + s.size]);
        }
    }
    // Past the last header or section byte there is only alignment padding to lose.
    let end = e
        .sections()
        .iter()
        .filter(|(_, s)| !s.nobits)
        .map(|(_, s)| s.offset + s.size)
        .chain([e.shoff() + e.shnum() * SHDR])
        .max()
        .unwrap_or(0);
    cuts.retain(|&c| c < end);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn truncated_at_every_header_and_section_boundary() {
    for name in OBJECTS {
        for (layout, e) in [
            ("clang", Elf::open(name)),
            ("sht-first", Elf::open(name).sht_first()),
        ] {
            for cut in boundaries(&e) {
                expect_err(
                    &format!("{name} ({layout} layout) cut at {cut}"),
                    e.b[..cut].to_vec(),
                    &["ELF", "section", "symbol", "string"],
                );
            }
        }
    }
}

/// Every section but the null one at index 0.
fn all_sections(e: &Elf) -> Vec<String> {
    e.sections()
        .into_iter()
        .filter(|(_, s)| s.idx != 0)
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn sections_past_the_end_of_the_file_are_named() {
    for name in OBJECTS {
        let e = Elf::open(name);
        let len = e.b.len();
        for sname in all_sections(&e) {
            let s = e.sec(&sname);
            if s.nobits {
                continue;
            }
            // The symbol and string tables are named by what they hold.
            let named: Vec<&str> = match sname.as_str() {
                ".symtab" => vec![".symtab", "symbol"],
                ".strtab" => vec!["string table", "shstrtab"],
                _ => vec![sname.as_str()],
            };
            expect_err(
                &format!("{name}: '{sname}' size runs past the end"),
                e.clone().set64(s.hdr + 32, (len - s.offset + 8) as u64).b,
                &named,
            );
            expect_err(
                &format!("{name}: '{sname}' offset past the end"),
                e.clone().set64(s.hdr + 24, (len + 64) as u64).b,
                &named,
            );
            expect_err(
                &format!("{name}: '{sname}' offset + size wraps around"),
                e.clone().set64(s.hdr + 24, u64::MAX - 4).b,
                &named,
            );
        }
    }
}

#[test]
fn corrupted_section_header_table() {
    let e = Elf::open("xdp_classifier");
    let len = e.b.len() as u64;
    let n = e.shnum() as u16;
    let cases: Vec<(&str, Elf)> = vec![
        ("e_shoff past the end", e.clone().set64(40, len + 8)),
        ("e_shoff wraps around", e.clone().set64(40, u64::MAX - 100)),
        (
            "e_shoff misaligned",
            e.clone().set64(40, e.shoff() as u64 + 3),
        ),
        ("e_shnum past the end", e.clone().set16(60, n + 100)),
        ("e_shnum 0xffff", e.clone().set16(60, 0xffff)),
        ("e_shstrndx past e_shnum", e.clone().set16(62, n + 5)),
        (
            "e_shstrndx SHN_XINDEX without a section 0 link",
            e.clone().set16(62, 0xffff),
        ),
        ("e_shentsize 32", e.clone().set16(58, 32)),
    ];
    for (case, e) in cases {
        expect_err(case, e.b, &["ELF", "section header", "e_sh"]);
    }
    // No sections at all: nothing to load, and the message says so.
    expect_err(
        "e_shnum 0",
        e.clone().set16(60, 0).set64(40, 0).b,
        &["no programs", "section"],
    );
}

#[test]
fn string_offsets_past_the_end() {
    let e = Elf::open("xdp_classifier");
    let strtab = e.sec(".strtab");
    // A program section whose name is past the string table.
    let xdp = e.sec("xdp_classifier");
    expect_err(
        "section name offset past .strtab",
        e.clone().set32(xdp.hdr, strtab.size as u32 + 10).b,
        &[
            &format!("section {}", xdp.idx),
            &format!("#{}", xdp.idx),
            "name",
        ],
    );
    // A program symbol whose name is past the string table.
    let (idx, at) = e.symbol("xdp_classify");
    expect_err(
        "program symbol name offset past .strtab",
        e.clone().set32(at, strtab.size as u32 + 10).b,
        &[&format!("symbol {idx}"), &format!("#{idx}")],
    );
    // A map symbol likewise.
    let (idx, at) = e.symbol("jmp_table");
    expect_err(
        "map symbol name offset past .strtab",
        e.clone().set32(at, u32::MAX).b,
        &[&format!("symbol {idx}"), &format!("#{idx}")],
    );
    // A BTF type name past the BTF string section.
    let b = e.btf();
    let var = b.btf.find_by_name("counts", kind::VAR).expect("counts");
    expect_err(
        "BTF type name offset past the BTF strings",
        e.clone().set32(b.rec[var as usize], 0x00ff_ffff).b,
        &[&format!("type id {var}")],
    );
    // A BTF header whose string section runs past the blob.
    let s = e.sec(".BTF");
    expect_err(
        "BTF str_len past the section",
        e.clone().set32(s.offset + 20, s.size as u32).b,
        &["BTF"],
    );
}

#[test]
fn wrong_machine_class_and_byte_order() {
    for name in OBJECTS {
        let e = Elf::open(name);
        expect_err(
            &format!("{name}: e_machine x86-64"),
            e.clone().set16(18, EM_X86_64).b,
            &["machine"],
        );
        let mut be = e.clone();
        be.b[5] = 2; // EI_DATA = ELFDATA2MSB
        expect_err(&format!("{name}: big-endian flag"), be.b, &["big-endian"]);
        let mut c32 = e.clone();
        c32.b[4] = 1; // EI_CLASS = ELFCLASS32
        expect_err(
            &format!("{name}: 32-bit class"),
            c32.b,
            &["ELF", "machine", "32"],
        );
        let mut bad = e.clone();
        bad.b[0] = 0x7e;
        expect_err(&format!("{name}: bad magic"), bad.b, &["ELF", "magic"]);
    }
}

#[test]
fn relocation_against_a_missing_symbol_index() {
    let e = Elf::open("xdp_classifier");
    let r = e.rel_against(".relxdp_classifier", "jmp_table");
    expect_err(
        "map relocation against symbol 9999",
        e.clone().set_rel_sym(r, 9999).b,
        &["9999"],
    );
    let e = Elf::open("bpf2bpf");
    let relsec = e
        .sections()
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| n == ".relxdp")
        .expect(".relxdp");
    let r = e.rels(&relsec)[0];
    expect_err(
        "bpf2bpf relocation against symbol 0xffffff",
        e.clone().set_rel_sym(r, 0xff_ffff).b,
        &["16777215"],
    );
}

#[test]
fn relocation_against_the_wrong_kind_of_symbol() {
    let e = Elf::open("xdp_classifier");
    let r = e.rel_against(".relxdp_classifier", "jmp_table");
    // A map load pointing at a DWARF section symbol.
    let dbg = e.section_symbol(".debug_abbrev");
    expect_err(
        "ld_imm64 against .debug_abbrev",
        e.clone().set_rel_sym(r, dbg).b,
        &[".debug_abbrev"],
    );
    // A map load pointing at the license string.
    let (lic, _) = e.symbol("LICENSE");
    expect_err(
        "ld_imm64 against LICENSE",
        e.clone().set_rel_sym(r, lic).b,
        &["LICENSE"],
    );
    // A `.values` slot pointing at a map instead of a program.
    let v = e.rel_against(".rel.maps", "handle_tcp");
    let (counts, _) = e.symbol("counts");
    expect_err(
        ".values slot against the map 'counts'",
        e.clone().set_rel_sym(v, counts).b,
        &["counts"],
    );
    // A BPF-to-BPF call pointing at a map.
    let e = Elf::open("bpf2bpf");
    let call = e
        .rels(".relxdp")
        .into_iter()
        .find(|r| r.r_type == 10)
        .expect("a call relocation (R_BPF_64_32) in bpf2bpf");
    let (results, _) = e.symbol("results");
    expect_err(
        "call against the map 'results'",
        e.clone().set_rel_sym(call, results).b,
        &["results"],
    );
}

#[test]
fn relocation_offsets_and_types_that_do_not_fit() {
    let e = Elf::open("xdp_classifier");
    let prog = e.sec("xdp_classifier");
    let r = e.rel_against(".relxdp_classifier", "jmp_table");
    expect_err(
        "relocation offset past the program section",
        e.clone().set64(r.at, prog.size as u64 + 64).b,
        &["offset"],
    );
    expect_err(
        "relocation offset not on an instruction",
        e.clone().set64(r.at, r.r_offset + 3).b,
        &["offset", "instruction", "align"],
    );
    expect_err(
        "map relocation on an instruction that is not ld_imm64",
        e.clone().set64(r.at, r.r_offset + 16).b,
        &["instruction", "opcode"],
    );
    expect_err(
        "unknown relocation type",
        e.clone().set64(r.at + 8, ((r.sym as u64) << 32) | 99).b,
        &["type 99"],
    );
    // `.values` relocations: before the `values` member, and past the map's symbol.
    let v = e.rel_against(".rel.maps", "handle_icmp");
    expect_err(
        ".values relocation inside the map header",
        e.clone().set64(v.at, v.r_offset - 16).b,
        &["values", "slot"],
    );
    expect_err(
        ".values relocation past the map",
        e.clone().set64(v.at, v.r_offset + 8 * 100).b,
        &["not inside any map", "offset"],
    );
}

#[test]
fn values_slot_past_max_entries() {
    let e = Elf::open("xdp_classifier");
    let b = e.btf();
    // `__uint(max_entries, 8)` is `int (*max_entries)[8]`: patch the array's nelems to 2,
    // so `.values = { [2] = &handle_udp }` is past the end.
    let arr = b.pointee(b.map_member("jmp_table", "max_entries"));
    assert_eq!(b.btf.kind_of(arr), kind::ARRAY);
    let msg = expect_err(
        "jmp_table max_entries 2",
        e.clone().set32(b.rec[arr as usize] + 12 + 8, 2).b,
        &["jmp_table"],
    );
    assert!(
        msg.contains("slot 2") && msg.contains("max_entries 2"),
        "{msg}"
    );
}

#[test]
fn duplicate_map_names() {
    // BTF-defined: the VAR of `jmp_table` renamed to `counts`.
    let e = Elf::open("xdp_classifier");
    let b = e.btf();
    let counts = b.btf.find_by_name("counts", kind::VAR).expect("counts");
    let jmp = b
        .btf
        .find_by_name("jmp_table", kind::VAR)
        .expect("jmp_table");
    let name_off = e.u32(b.rec[counts as usize]);
    expect_err(
        "two BTF maps named counts",
        e.clone().set32(b.rec[jmp as usize], name_off).b,
        &["counts"],
    );
    // Legacy: the symbol `legacy_hash` renamed to `legacy_counts`.
    let e = Elf::open("legacy_maps");
    let (_, a) = e.symbol("legacy_counts");
    let (_, h) = e.symbol("legacy_hash");
    let msg = expect_err(
        "two legacy maps named legacy_counts",
        e.clone().set32(h, e.u32(a)).b,
        &["legacy_counts"],
    );
    assert!(msg.contains("twice") || msg.contains("duplicate"), "{msg}");
}

#[test]
fn btf_type_loops() {
    let e = Elf::open("xdp_classifier");
    let b = e.btf();
    // `__type(key, __u32)`: the typedef __u32 made to name itself.
    let td = b.pointee(b.map_member("counts", "key"));
    assert_eq!(b.btf.kind_of(td), kind::TYPEDEF);
    expect_err(
        "typedef __u32 -> itself",
        e.clone().set32(b.rec[td as usize] + 8, td).b,
        &["loop", &format!("type id {td}")],
    );
    // The value typedef __u64 -> the max_entries array, whose element is itself.
    let val = b.pointee(b.map_member("counts", "value"));
    let arr = b.pointee(b.map_member("counts", "max_entries"));
    expect_err(
        "value -> array of itself",
        e.clone()
            .set32(b.rec[val as usize] + 8, arr)
            .set32(b.rec[arr as usize] + 12, arr)
            .b,
        &["loop", "overflow", &format!("type id {arr}")],
    );
    // A map definition VAR that points at itself.
    let var = b.btf.find_by_name("counts", kind::VAR).expect("counts");
    expect_err(
        "VAR counts -> itself",
        e.clone().set32(b.rec[var as usize] + 8, var).b,
        &["counts"],
    );
}

#[test]
fn btf_impossible_sizes() {
    let e = Elf::open("xdp_classifier");
    let b = e.btf();
    let val = b.pointee(b.map_member("counts", "value"));
    let arr = b.pointee(b.map_member("counts", "max_entries"));
    let Kind::Array { elem, .. } = b.btf.get(arr).expect("array").kind else {
        panic!("not an array")
    };
    // value = int[0xffffffff]: 16 GiB, more than a map value can be.
    let msg = expect_err(
        "value type of 16 GiB",
        e.clone()
            .set32(b.rec[val as usize] + 8, arr)
            .set32(b.rec[arr as usize] + 12 + 8, u32::MAX)
            .b,
        &["counts"],
    );
    assert!(
        msg.contains("too large") || msg.contains("overflow"),
        "{msg}"
    );
    // value = int[0xffffffff] with int of 0xffffffff bytes inside another such array: the
    // size overflows 64 bits.
    let outer = b.pointee(b.map_member("counts", "type"));
    assert_eq!(b.btf.kind_of(outer), kind::ARRAY);
    let msg = expect_err(
        "value type whose size overflows u64",
        e.clone()
            .set32(b.rec[val as usize] + 8, outer)
            .set32(b.rec[outer as usize] + 12, arr)
            .set32(b.rec[outer as usize] + 12 + 8, u32::MAX)
            .set32(b.rec[arr as usize] + 12 + 8, u32::MAX)
            .set32(b.rec[elem as usize] + 8, u32::MAX)
            .b,
        &["counts", &format!("type id {outer}")],
    );
    assert!(
        msg.contains("overflow") || msg.contains("too large"),
        "{msg}"
    );
    // A type section whose vlen promises more members than there are bytes.
    let st = b.btf.find_by_name("xdp_md", kind::STRUCT).expect("xdp_md");
    let info = e.u32(b.rec[st as usize] + 4);
    expect_err(
        "struct with 65535 members",
        e.clone()
            .set32(b.rec[st as usize] + 4, (info & !0xffff) | 0xffff)
            .b,
        &[&format!("type id {st}")],
    );
}

#[test]
fn program_section_size_not_a_multiple_of_8() {
    for (name, sec) in [
        ("xdp_classifier", "xdp_classifier"),
        ("globals", "xdp"),
        ("bpf2bpf", "xdp"),
    ] {
        let e = Elf::open(name);
        let s = e.sec(sec);
        let msg = expect_err(
            &format!("{name}: '{sec}' size - 1"),
            e.clone().set64(s.hdr + 32, s.size as u64 - 1).b,
            &[sec],
        );
        assert!(msg.contains("multiple of 8"), "{msg}");
    }
}

#[test]
fn btf_ext_damaged() {
    for name in OBJECTS {
        let e = Elf::open(name);
        let s = e.sec(".BTF.ext");
        let hdr_len = e.u32(s.offset + 4) as usize;
        let func_off = s.offset + hdr_len + e.u32(s.offset + 8) as usize;
        let cases: Vec<(&str, Elf)> = vec![
            (
                "header length past the section",
                e.clone().set32(s.offset + 4, s.size as u32 + 4),
            ),
            (
                "header length shorter than the header",
                e.clone().set32(s.offset + 4, 8),
            ),
            (
                "func_info offset past the end",
                e.clone().set32(s.offset + 8, 0xffff_fff0),
            ),
            (
                "line_info length past the end",
                e.clone().set32(s.offset + 20, 0x7fff_ffff),
            ),
            ("func_info record size 0", e.clone().set32(func_off, 0)),
            (
                "func_info section name past the BTF strings",
                e.clone().set32(func_off + 4, 0x00ff_ffff),
            ),
            (
                "func_info count of 2^32-1 records",
                e.clone().set32(func_off + 8, u32::MAX),
            ),
        ];
        for (case, bad) in cases {
            expect_err(&format!("{name}: .BTF.ext {case}"), bad.b, &[".BTF.ext"]);
        }
    }
}
