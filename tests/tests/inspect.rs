//! `rbpf-load inspect` run as a user would, on every object built from bpf-src/, checked
//! against independent tools: readelf (sections, symbols, relocations), llvm-objdump-19
//! (instruction indexes), bpftool (BTF type counts, kernel struct layouts), and the C
//! sources themselves (line_info text). No kernel objects are made: no privileges needed.

use rbpf_tests::bin::{rbpf_load, rbpf_load_json, rbpf_load_ok};
use rbpf_tests::{all_bpf_objs, bpf_obj, root, run};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// readelf -S: section index -> (name, executable).
fn readelf_sections(obj: &Path) -> HashMap<String, (String, bool)> {
    let mut names = HashMap::new();
    for line in run("readelf", &["-SW", s(obj)]).lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((idx, rest)) = rest.split_once(']') else {
            continue;
        };
        let cols: Vec<&str> = rest.split_whitespace().collect();
        if cols.len() >= 7 && idx.trim().parse::<u32>().is_ok_and(|i| i > 0) {
            let exec = cols[6..].iter().any(|c| c.contains('X'));
            names.insert(idx.trim().to_string(), (cols[0].to_string(), exec));
        }
    }
    names
}

/// Global functions outside .text (the programs) with their size in instructions; for an
/// object written without SEC(), the global functions of .text.
fn readelf_programs(obj: &Path) -> BTreeMap<String, u64> {
    let secs = readelf_sections(obj);
    let (mut out, mut text) = (BTreeMap::new(), BTreeMap::new());
    for line in run("readelf", &["-sW", s(obj)]).lines() {
        let c: Vec<&str> = line.split_whitespace().collect();
        if c.len() != 8 || c[3] != "FUNC" || c[4] != "GLOBAL" {
            continue;
        }
        if let Some((sec, true)) = secs.get(c[6]) {
            let size = c[2].parse::<u64>().expect("size") / 8;
            if sec != ".text" {
                out.insert(c[7].to_string(), size);
            } else {
                text.insert(c[7].to_string(), size);
            }
        }
    }
    if out.is_empty() {
        text
    } else {
        out
    }
}

/// readelf -r: (section, offset, symbol) of every relocation of an executable section.
fn readelf_relocs(obj: &Path) -> BTreeSet<(String, u64, String)> {
    let exec: BTreeSet<String> = readelf_sections(obj)
        .into_values()
        .filter(|(_, x)| *x)
        .map(|(n, _)| n)
        .collect();
    let mut out = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in run("readelf", &["-rW", s(obj)]).lines() {
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            let name = rest.split('\'').next().unwrap_or("");
            // '.relxdp' relocates 'xdp', '.rel.text' relocates '.text'.
            current = name
                .strip_prefix(".rel")
                .map(|t| t.to_string())
                .filter(|t| exec.contains(t));
            continue;
        }
        let Some(sec) = &current else { continue };
        let c: Vec<&str> = line.split_whitespace().collect();
        if c.len() == 5 {
            if let Ok(off) = u64::from_str_radix(c[0], 16) {
                out.insert((sec.clone(), off, c[4].to_string()));
            }
        }
    }
    out
}

/// llvm-objdump -d: function -> the instruction indexes it prints (one per line).
fn objdump_indexes(obj: &Path) -> HashMap<String, Vec<usize>> {
    let text = run("llvm-objdump-19", &["-d", "--no-show-raw-insn", s(obj)]);
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    let mut func = None;
    for line in text.lines() {
        if let Some(name) = line
            .strip_suffix(">:")
            .and_then(|l| l.split_once(" <"))
            .map(|(_, n)| n.to_string())
        {
            func = Some(name);
            continue;
        }
        let (Some(f), Some((idx, _))) = (&func, line.split_once(':')) else {
            continue;
        };
        if let Ok(i) = idx.trim().parse::<usize>() {
            out.entry(f.clone()).or_default().push(i);
        }
    }
    out
}

/// bpftool btf dump file: kind -> count.
fn bpftool_kinds(path: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in run("bpftool", &["btf", "dump", "file", path]).lines() {
        if line.starts_with('[') {
            if let Some(kind) = line.split_whitespace().nth(1) {
                *out.entry(kind.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("'{key}' is not an array in {v}"))
}

fn program<'a>(r: &'a Value, name: &str) -> &'a Value {
    arr(r, "programs")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no program {name}"))
}

#[test]
fn programs_and_instruction_counts_agree_with_readelf() {
    for obj in all_bpf_objs() {
        let r = rbpf_load_json(&["inspect", s(&obj)]);
        let ours: BTreeMap<String, u64> = arr(&r, "programs")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().expect("name").to_string(),
                    p["insns"].as_u64().expect("insns"),
                )
            })
            .collect();
        assert_eq!(ours, readelf_programs(&obj), "{}", obj.display());
    }
}

#[test]
fn relocations_agree_with_readelf() {
    for obj in all_bpf_objs() {
        let r = rbpf_load_json(&["inspect", s(&obj)]);
        let ours: BTreeSet<(String, u64, String)> = arr(&r, "relocations")
            .iter()
            .filter(|x| x["from_elf"] == true)
            .map(|x| {
                let off = x["offset"].as_u64().expect("offset");
                assert_eq!(x["insn"].as_u64(), Some(off / 8), "insn index is offset/8");
                (
                    x["section"].as_str().expect("section").to_string(),
                    off,
                    x["symbol"].as_str().expect("symbol").to_string(),
                )
            })
            .collect();
        assert_eq!(ours, readelf_relocs(&obj), "{}", obj.display());
    }
}

#[test]
fn relocations_say_what_they_become() {
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("globals"))]);
    let rel = arr(&r, "relocations");
    let find = |sym: &str| {
        rel.iter()
            .find(|x| x["symbol"] == sym)
            .unwrap_or_else(|| panic!("no relocation against {sym}"))
    };
    // `bss_last_len` is the second variable of .bss: readelf gives its offset.
    let syms = run("readelf", &["-sW", s(&bpf_obj("globals"))]);
    let off = syms
        .lines()
        .find(|l| l.trim_end().ends_with(" bss_last_len"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .expect("bss_last_len in readelf");
    let x = find("bss_last_len");
    assert_eq!(x["kind"], "data");
    assert!(
        x["becomes"]
            .as_str()
            .unwrap()
            .contains(&format!("'.bss' value + {off}")),
        "{x}"
    );
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    for x in arr(&r, "relocations") {
        assert_eq!(x["kind"], "map");
        let sym = x["symbol"].as_str().unwrap();
        assert!(x["becomes"]
            .as_str()
            .unwrap()
            .contains(&format!("map '{sym}'")));
    }
}

#[test]
fn sub_programs_come_from_the_link_layout() {
    let obj = bpf_obj("bpf2bpf");
    let r = rbpf_load_json(&["inspect", s(&obj)]);
    let p = program(&r, "xdp_bpf2bpf");
    let subs: BTreeSet<String> = arr(p, "subprograms")
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    // readelf: every function in .text (the program calls all of them, directly or not).
    let text_funcs: BTreeSet<String> = run("readelf", &["-sW", s(&obj)])
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() == 8 && c[3] == "FUNC" && c[6] == "2").then(|| c[7].to_string())
        })
        .collect();
    assert_eq!(subs, text_funcs);
    let total: u64 = p["insns"].as_u64().unwrap()
        + arr(p, "subprograms")
            .iter()
            .map(|x| x["insns"].as_u64().unwrap())
            .sum::<u64>();
    assert_eq!(p["linked_insns"].as_u64(), Some(total));
    // And the calls into .text that clang resolved itself are listed, marked as such.
    assert!(arr(&r, "relocations")
        .iter()
        .any(|x| x["kind"] == "call" && x["from_elf"] == false));
}

#[test]
fn program_types_say_how_they_were_decided() {
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    let p = program(&r, "xdp_classify");
    assert_eq!(p["section"], "xdp_classifier");
    assert_eq!(p["prog_type"], "xdp");
    assert_eq!(p["type_source"], "context type 'struct xdp_md *'");
    let h = program(&r, "handle_tcp");
    assert_eq!(h["type_source"], "section name 'xdp'");
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("tc_count"))]);
    assert_eq!(program(&r, "count_egress")["prog_type"], "sched_cls");
    assert!(program(&r, "count_egress")["attach"]
        .as_str()
        .unwrap()
        .contains("egress"));
}

#[test]
fn tail_call_graph_of_the_classifier() {
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    let edges: Vec<(String, String, u64, String)> = arr(&r, "tail_call_edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["map"].as_str().unwrap().to_string(),
                e["slot"].as_u64().unwrap(),
                e["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64, String)> =
        [(0, "handle_icmp"), (1, "handle_tcp"), (2, "handle_udp")]
            .iter()
            .map(|(i, p)| ("xdp_classify".into(), "jmp_table".into(), *i, p.to_string()))
            .collect();
    assert_eq!(edges, want);
    // The call site: llvm-objdump shows `call 0xc` (helper 12) right where we say.
    let sites = arr(&r, "tail_calls");
    assert_eq!(sites.len(), 1);
    let at = sites[0]["insn"].as_u64().unwrap();
    let dump = run(
        "llvm-objdump-19",
        &["-d", "--no-show-raw-insn", s(&bpf_obj("xdp_classifier"))],
    );
    let mut in_classify = false;
    let mut found = false;
    for line in dump.lines() {
        if line.ends_with(">:") {
            in_classify = line.contains("<xdp_classify>");
        }
        if in_classify && line.trim_start().starts_with(&format!("{at}:")) {
            found = line.trim_end().ends_with("call 0xc");
        }
    }
    assert!(
        found,
        "insn {at} of xdp_classify is not `call 0xc`:\n{dump}"
    );
    // The text form shows the same graph.
    let text = rbpf_load_ok(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    assert!(text.contains(
        "xdp_classify -> jmp_table[computed] -> handle_icmp [0], handle_tcp [1], handle_udp [2]"
    ));
    // The dispatcher's table is filled at run time: a call site, no static edge.
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("sys_enter_dispatch"))]);
    assert_eq!(arr(&r, "tail_calls")[0]["map"], "syscall_table");
    assert!(arr(&r, "tail_call_edges").is_empty());
}

#[test]
fn maps_with_definitions_and_initial_values() {
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    let maps = arr(&r, "maps");
    let counts = maps.iter().find(|m| m["name"] == "counts").unwrap();
    assert_eq!(counts["map_type"], "array");
    assert_eq!(counts["key_size"], 4);
    assert_eq!(counts["value_size"], 8);
    assert_eq!(counts["value_type"], "__u64");
    assert_eq!(counts["max_entries"], 8);
    let jt = maps.iter().find(|m| m["name"] == "jmp_table").unwrap();
    assert_eq!(jt["map_type"], "prog_array");
    assert_eq!(arr(jt, "values").len(), 3);
    // globals.bpf.c initialises cfg_verdict = 2 (XDP_PASS) and data_greeting = "globals".
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("globals"))]);
    let maps = arr(&r, "maps");
    let rodata = maps.iter().find(|m| m["name"] == ".rodata").unwrap();
    assert!(rodata["flag_names"]
        .as_array()
        .unwrap()
        .contains(&Value::from("BPF_F_RDONLY_PROG")));
    let var = |m: &Value, n: &str| {
        arr(m, "variables")
            .iter()
            .find(|v| v["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no variable {n} in {m}"))
    };
    let src = std::fs::read_to_string(root().join("bpf-src/globals.bpf.c")).unwrap();
    assert!(src.contains("cfg_verdict = XDP_PASS") || src.contains("cfg_verdict = 2"));
    assert_eq!(var(rodata, "cfg_verdict")["initial"], 2);
    let data = maps.iter().find(|m| m["name"] == ".data").unwrap();
    assert_eq!(var(data, "data_greeting")["initial"], "globals");
    let bss = maps.iter().find(|m| m["name"] == ".bss").unwrap();
    assert_eq!(var(bss, "bss_runs")["initial"], Value::Null);
    // Legacy maps are read from `struct bpf_map_def`.
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("legacy_maps"))]);
    let h = arr(&r, "maps")
        .iter()
        .find(|m| m["name"] == "legacy_hash")
        .unwrap()
        .clone();
    assert_eq!(h["defined_in"], "legacy");
    assert_eq!(h["map_type"], "hash");
}

#[test]
fn btf_kind_counts_agree_with_bpftool() {
    for obj in all_bpf_objs() {
        let r = rbpf_load_json(&["inspect", s(&obj)]);
        let ours: BTreeMap<String, u64> = r["btf"]["kinds"]
            .as_object()
            .expect("btf kinds")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(ours, bpftool_kinds(s(&obj)), "{}", obj.display());
    }
}

#[test]
fn btf_types_in_c() {
    let obj = bpf_obj("tc_flow");
    let r = rbpf_load_json(&["inspect", s(&obj), "--btf"]);
    let types = arr(&r, "btf_types");
    let total: u64 = bpftool_kinds(s(&obj)).values().sum();
    assert_eq!(types.len() as u64, total);
    // Every line of bpftool's C for these structs is in ours.
    let c = run("bpftool", &["btf", "dump", "file", s(&obj), "format", "c"]);
    for name in ["iphdr", "tcphdr", "ethhdr"] {
        let t = types
            .iter()
            .find(|t| t["name"] == name && t["kind"] == "STRUCT")
            .unwrap_or_else(|| panic!("struct {name}"));
        let ours = t["c"].as_str().unwrap();
        let theirs = c
            .split(&format!("struct {name} {{\n"))
            .nth(1)
            .and_then(|t| t.split("\n};").next())
            .unwrap_or_else(|| panic!("{name} in bpftool's C"));
        for l in theirs.lines().filter(|l| !l.trim().is_empty()) {
            assert!(ours.contains(l.trim()), "missing `{}` in\n{ours}", l.trim());
        }
    }
}

#[test]
fn disassembly_indexes_match_objdump_and_source_lines_match_the_c() {
    for name in ["xdp_classifier", "bpf2bpf", "globals"] {
        let obj = bpf_obj(name);
        let r = rbpf_load_json(&["inspect", s(&obj), "--disasm"]);
        let od = objdump_indexes(&obj);
        for p in arr(&r, "programs") {
            let pname = p["name"].as_str().unwrap();
            let n = p["insns"].as_u64().unwrap() as usize;
            let ours: Vec<usize> = arr(p, "disasm")
                .iter()
                .map(|l| l["insn"].as_u64().unwrap() as usize)
                .filter(|i| *i < n)
                .collect();
            // objdump counts from the start of the section: shift to the function's start.
            let theirs: Vec<usize> = od
                .get(pname)
                .map(|v| v.iter().map(|i| i - v[0]).collect())
                .unwrap_or_default();
            assert_eq!(ours, theirs, "{name}: {pname}");
            // Each source line is the line of the file it names.
            let mut seen = 0;
            for l in arr(p, "disasm") {
                let Some(src) = l.get("source") else { continue };
                let file = src["file"].as_str().unwrap();
                let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
                let line = src["line"].as_u64().unwrap() as usize;
                let want = text.lines().nth(line - 1).unwrap_or("").trim();
                assert_eq!(src["text"].as_str().unwrap(), want, "{file}:{line}");
                seen += 1;
            }
            assert!(seen > 0, "{pname}: no source lines");
        }
    }
    // Text form: the `; C line  (file:line)` comments between instructions.
    let text = rbpf_load_ok(&["inspect", s(&bpf_obj("xdp_classifier")), "--disasm"]);
    assert!(text.contains("  ; int xdp_classify(struct xdp_md *ctx)  (xdp_classifier.bpf.c:"));
    assert!(text.contains("call bpf_tail_call#12"));
    assert!(text.contains("r2 = map[jmp_table]"));
}

/// The kernel's offset of `member` in struct `st`, from bpftool's dump of vmlinux.
fn vmlinux_member_offset(dump: &str, st: &str, member: &str) -> u64 {
    let head = format!(" STRUCT '{st}' ");
    let mut lines = dump.lines().skip_while(|l| !l.contains(&head));
    lines.next().unwrap_or_else(|| panic!("no struct {st}"));
    let m = format!("'{member}' ");
    let l = lines
        .take_while(|l| l.starts_with('\t'))
        .find(|l| l.trim_start().starts_with(&m))
        .unwrap_or_else(|| panic!("no {st}::{member}"));
    let bits: u64 = l
        .split("bits_offset=")
        .nth(1)
        .and_then(|b| b.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .expect("bits_offset");
    bits / 8
}

#[test]
fn core_records_resolve_against_the_kernel() {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        panic!("this test needs /sys/kernel/btf/vmlinux");
    }
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("core_task")), "--kernel"]);
    let dump = run(
        "bpftool",
        &["btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
    );
    let core = arr(&r, "core");
    assert!(!core.is_empty());
    for member in ["pid", "tgid", "real_parent", "comm"] {
        let rec = core
            .iter()
            .find(|c| {
                c["kind"] == "byte_off"
                    && c["local"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("struct task_struct::{member} "))
            })
            .unwrap_or_else(|| panic!("no CO-RE record for task_struct::{member}"));
        assert_eq!(rec["type_name"], "struct task_struct");
        assert_eq!(
            rec["kernel"]["new"].as_u64(),
            Some(vmlinux_member_offset(&dump, "task_struct", member)),
            "{rec}"
        );
    }
    // Without --kernel there is no kernel part.
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("core_task"))]);
    assert!(arr(&r, "core").iter().all(|c| c.get("kernel").is_none()));
}

#[test]
fn json_shape() {
    let r = rbpf_load_json(&["inspect", s(&bpf_obj("xdp_classifier"))]);
    for key in [
        "object",
        "license",
        "sections",
        "programs",
        "maps",
        "relocations",
        "core",
        "btf",
        "tail_calls",
        "tail_call_edges",
    ] {
        assert!(r.get(key).is_some(), "missing '{key}'");
    }
    assert_eq!(r["object"], "xdp_classifier");
    assert_eq!(r["license"], "GPL");
    let p = program(&r, "handle_icmp");
    for key in [
        "name",
        "section",
        "prog_type",
        "type_source",
        "attach",
        "insns",
        "linked_insns",
        "subprograms",
    ] {
        assert!(p.get(key).is_some(), "program: missing '{key}'");
    }
    assert!(p.get("disasm").is_none(), "disasm only with --disasm");
    assert!(r.get("btf_types").is_none(), "types only with --btf");
    // Section names and sizes as readelf has them.
    let secs: BTreeSet<String> = readelf_sections(&bpf_obj("xdp_classifier"))
        .into_values()
        .map(|(n, _)| n)
        .filter(|n| !n.is_empty())
        .collect();
    let ours: BTreeSet<String> = arr(&r, "sections")
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours, secs);
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = rbpf_load(&["inspect", "/nonexistent/x.bpf.o"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.bpf.o"), "{err}");
    let out = rbpf_load(&["inspect", "/bin/true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a BPF object"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
