//! `rbpf-load gen vmlinux-h` against `bpftool btf dump ... format c`: the same types, a
//! header clang compiles, every struct laid out as the kernel's BTF says (checked by clang
//! itself, with `_Static_assert`s on sizes and offsets), and the project's own programs built
//! with it load. `rbpf-load build`: clang with the right flags, and a clear error without it.

use loader::btf::{Btf, Kind};
use rbpf_tests::cli::{fails, ok};
use rbpf_tests::{require_priv, root, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("rbpf-test-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn clang() -> String {
    std::env::var("CLANG").unwrap_or_else(|_| "clang-19".into())
}

/// The multiarch triplet (`x86_64-linux-gnu`), as `gcc -print-multiarch` says.
fn multiarch() -> String {
    Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "x86_64-linux-gnu".to_string())
}

/// `clang -target bpf` on `src` with the header in `inc`; panics with clang's words.
fn compile(src: &Path, inc: &Path, out: &Path, extra: &[&str]) {
    let o = Command::new(clang())
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Wno-unused-function",
        ])
        .arg("-I")
        .arg(inc)
        .args(extra)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("clang");
    assert!(
        o.status.success(),
        "{}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Names of the structs, unions and enums a header defines, `___N` suffixes dropped, counted.
fn defined(header: &str) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    for l in header.lines() {
        let mut w = l.split(' ');
        let (Some(kw), Some(name), Some("{"), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        if matches!(kw, "struct" | "union" | "enum") {
            let base = name.split("___").next().unwrap_or(name);
            *m.entry(format!("{kw} {base}")).or_insert(0) += 1;
        }
    }
    m
}

/// Does type `id` hold a `__builtin_va_list` by value? The compiler's own type has the
/// target's size (8 bytes for BPF, 24 for the kernel's x86), in bpftool's header as in ours.
fn holds_va_list(btf: &Btf, id: u32, depth: u32) -> bool {
    let Ok(t) = btf.get(id) else { return false };
    if depth > 40 {
        return false;
    }
    match &t.kind {
        Kind::Typedef { .. } if btf.name(id) == "__builtin_va_list" => true,
        Kind::Struct { members, .. } | Kind::Union { members, .. } => {
            members.iter().any(|m| holds_va_list(btf, m.ty, depth + 1))
        }
        Kind::Array { elem, .. } => holds_va_list(btf, *elem, depth + 1),
        Kind::Ptr { .. } | Kind::FuncProto { .. } => false,
        k => k
            .ref_type()
            .is_some_and(|r| holds_va_list(btf, r, depth + 1)),
    }
}

/// `_Static_assert`s on the size and member offsets of every struct and union whose tag is
/// used once (structs, unions and enums share C's tag names), from the kernel's BTF.
fn layout_asserts(btf: &Btf) -> String {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for id in 1..btf.len() as u32 {
        if matches!(
            btf.get(id).map(|t| &t.kind),
            Ok(Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. } | Kind::Enum64 { .. })
        ) {
            *seen.entry(btf.name(id)).or_insert(0) += 1;
        }
    }
    let mut s = String::from("#include \"vmlinux.h\"\n");
    for id in 1..btf.len() as u32 {
        let Ok(t) = btf.get(id) else { continue };
        let (kw, size, members) = match &t.kind {
            Kind::Struct { size, members } => ("struct", size, members),
            Kind::Union { size, members } => ("union", size, members),
            _ => continue,
        };
        let name = btf.name(id);
        if name.is_empty() || seen.get(name) != Some(&1) || holds_va_list(btf, id, 0) {
            continue;
        }
        s += &format!("_Static_assert(sizeof({kw} {name}) == {size}, \"{name}\");\n");
        for m in members
            .iter()
            .filter(|m| m.bitfield_size == 0 && m.name_off != 0)
        {
            let mname = btf.str_at(m.name_off).unwrap_or("");
            s += &format!(
                "_Static_assert(__builtin_offsetof({kw} {name}, {mname}) == {}, \"{name}.{mname}\");\n",
                m.bit_offset / 8
            );
        }
    }
    s
}

#[test]
fn gen_vmlinux_h_has_bpftools_types_and_the_kernels_layout() {
    let dir = Scratch::new("vmlinux-h");
    let ours_path = dir.0.join("vmlinux.h");
    let out = ok(&["gen", "vmlinux-h", "-o", &ours_path.display().to_string()]);
    assert!(out.is_empty(), "{out}");
    let ours = std::fs::read_to_string(&ours_path).expect("our vmlinux.h");
    let theirs = run(
        "bpftool",
        &[
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ],
    );
    let (a, b) = (defined(&ours), defined(&theirs));
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, n)| b.get(*k) != Some(n))
        .chain(b.iter().filter(|(k, _)| !a.contains_key(*k)))
        .take(20)
        .collect();
    assert!(
        differ.is_empty(),
        "definitions differ from bpftool's: {differ:?}"
    );
    assert!(a.len() > 5000, "{} definitions", a.len());
    assert!(ours.contains(
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"
    ));

    // clang checks every size and offset against the kernel's BTF.
    let btf = Btf::kernel().expect("kernel BTF");
    let asserts = dir.0.join("layout.c");
    std::fs::write(&asserts, layout_asserts(&btf)).expect("write layout.c");
    compile(
        &asserts,
        &dir.0,
        &dir.0.join("layout.o"),
        &["-fsyntax-only"],
    );
}

#[test]
fn the_projects_programs_build_with_our_vmlinux_h_and_load() {
    require_priv!();
    let dir = Scratch::new("build-all");
    ok(&[
        "gen",
        "vmlinux-h",
        "-o",
        &dir.0.join("vmlinux.h").display().to_string(),
    ]);
    let src = root().join("bpf-src");
    let mut built = Vec::new();
    for e in std::fs::read_dir(&src).expect("bpf-src").flatten() {
        let p = e.path();
        let Some(name) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".bpf.c"))
        else {
            continue;
        };
        let o = dir.0.join(format!("{name}.bpf.o"));
        // As the Makefile: the objects written against the uapi headers (plain_*) need the
        // multiarch directory for <asm/types.h>.
        let multiarch = format!("/usr/include/{}", multiarch());
        compile(
            &p,
            &dir.0,
            &o,
            &["-I", &src.display().to_string(), "-idirafter", &multiarch],
        );
        built.push(o);
    }
    assert!(built.len() >= 20, "{} programs", built.len());
    for name in [
        "xdp_classifier",
        "tc_flow",
        "core_task",
        "globals",
        "proc_events",
    ] {
        let o = dir.0.join(format!("{name}.bpf.o"));
        let out = ok(&["load", &o.display().to_string()]);
        assert!(out.contains("the kernel accepts it"), "{name}: {out}");
    }
}

#[test]
fn build_runs_clang_with_the_flags_a_bpf_program_needs() {
    require_priv!();
    let dir = Scratch::new("build");
    let src = dir.0.join("hello.bpf.c");
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n\nSEC(\"xdp\")\nint hello(struct xdp_md *ctx)\n{\n\treturn XDP_PASS;\n}\n\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )
    .expect("write hello");
    let s = src.display().to_string();
    let out = ok(&["build", &s, "-v"]);
    assert!(
        out.contains("\"-target\" \"bpf\"") && out.contains("\"-g\"") && out.contains("\"-O2\""),
        "{out}"
    );
    let obj = dir.0.join("hello.bpf.o");
    assert!(
        out.contains(&format!("{}: built from {s}", obj.display())),
        "{out}"
    );
    let out = ok(&["inspect", &obj.display().to_string()]);
    assert!(out.contains("hello"), "{out}");
    let out = ok(&["load", &obj.display().to_string()]);
    assert!(out.contains("prog hello (xdp, section xdp)"), "{out}");

    // <linux/bpf.h> needs <asm/types.h> from the multiarch directory: build adds it.
    let linux = dir.0.join("linux.bpf.c");
    std::fs::write(&linux, "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC(\"xdp\") int l(struct xdp_md *c) { return XDP_PASS; }\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n").expect("write");
    ok(&[
        "build",
        &linux.display().to_string(),
        "-o",
        &dir.0.join("l.o").display().to_string(),
    ]);

    // A C error: clang's message, then ours.
    let bad = dir.0.join("bad.bpf.c");
    std::fs::write(
        &bad,
        "#include \"vmlinux.h\"\nint f(struct xdp_md *c) { return nope; }\n",
    )
    .expect("write");
    let out = fails(&["build", &bad.display().to_string()]);
    assert!(out.contains("use of undeclared identifier 'nope'"), "{out}");
    assert!(out.contains("clang could not build"), "{out}");
}

#[test]
fn build_without_clang_says_so() {
    let o = Command::new(rbpf_tests::cli::bin_path())
        .args(["build", "/nonexistent/x.bpf.c"])
        .env("PATH", "/nonexistent")
        .env_remove("CLANG")
        .output()
        .expect("rbpf-load");
    let text = rbpf_tests::cli::text(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("clang not found (tried $CLANG, clang-19 and clang in PATH)"),
        "{text}"
    );
    assert!(text.contains("apt-get install clang-19"), "{text}");
}
