//! The loader core against the real kernel: every object parses (and agrees with readelf),
//! loads, and its programs do what their C says when run with BPF_PROG_TEST_RUN.

use loader::attach::{self, Tracing};
use loader::load::{self, LoadError, LoadOptions, Loaded};
use loader::obj::Object;
use rbpf_tests::kernel::{
    array_u64, check_core_task, drop_and_check, frame, map_fd, prog_fd, test_run, value0,
};
use rbpf_tests::{all_bpf_objs, bpf_obj, require_priv, run};
use std::collections::BTreeSet;

fn open(name: &str) -> Object {
    Object::from_file(&bpf_obj(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load_all(obj: &Object) -> Loaded {
    load::load(obj, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", obj.name))
}

/// Programs (global functions in executable sections other than .text), with their sizes,
/// and map symbols, as readelf sees them.
fn readelf_view(path: &std::path::Path) -> (BTreeSet<(String, String, u64)>, BTreeSet<String>) {
    let p = path.to_str().expect("utf-8 path");
    let sections = run("readelf", &["-SW", p]);
    // "  [ 3] xdp   PROGBITS  0000 000040 0000a8 00  AX  0   0  8"
    let mut names = std::collections::HashMap::new();
    for line in sections.lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((idx, rest)) = rest.split_once(']') else {
            continue;
        };
        let cols: Vec<&str> = rest.split_whitespace().collect();
        if cols.len() >= 7 {
            let exec = cols[6..].iter().any(|c| c.contains('X'));
            names.insert(idx.trim().to_string(), (cols[0].to_string(), exec));
        }
    }
    let syms = run("readelf", &["-sW", p]);
    let mut progs = BTreeSet::new();
    let mut text = BTreeSet::new();
    let mut maps = BTreeSet::new();
    for line in syms.lines() {
        let c: Vec<&str> = line.split_whitespace().collect();
        // Num: Value Size Type Bind Vis Ndx Name
        if c.len() != 8 {
            continue;
        }
        let Some((sec, exec)) = names.get(c[6]) else {
            continue;
        };
        let size: u64 = c[2].parse().unwrap_or(0);
        if c[3] == "FUNC" && c[4] == "GLOBAL" && *exec {
            // Programs live outside .text; an object written without SEC() has them there.
            let set = if sec == ".text" {
                &mut text
            } else {
                &mut progs
            };
            set.insert((c[7].to_string(), sec.clone(), size / 8));
        }
        if c[3] == "OBJECT" && (sec == ".maps" || sec == "maps") {
            maps.insert(c[7].to_string());
        }
    }
    if progs.is_empty() {
        progs = text;
    }
    (progs, maps)
}

#[test]
fn every_object_parses_and_agrees_with_readelf() {
    for path in all_bpf_objs() {
        let obj = Object::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ours_progs: BTreeSet<(String, String, u64)> = obj
            .programs
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.section.clone(),
                    obj.functions[p.func].insns.len() as u64,
                )
            })
            .collect();
        let ours_maps: BTreeSet<String> = obj
            .maps
            .iter()
            .filter(|m| !matches!(m.kind, loader::obj::MapKind::Data { .. }))
            .map(|m| m.name.clone())
            .collect();
        let (progs, maps) = readelf_view(&path);
        assert_eq!(
            ours_progs,
            progs,
            "{}: programs differ from readelf",
            path.display()
        );
        assert_eq!(
            ours_maps,
            maps,
            "{}: maps differ from readelf",
            path.display()
        );
        assert_eq!(obj.license, "GPL", "{}", path.display());
    }
}

#[test]
fn every_object_loads_and_leaves_nothing_behind() {
    require_priv!();
    let trampolines = rbpf_tests::vm::trampolines_required();
    let mut loaded_names = Vec::new();
    for path in all_bpf_objs() {
        let obj = Object::from_file(&path).expect("parse");
        // trace_tc's programs trace tc_flow_ingress: a loaded copy of it is their target.
        let mut target = None;
        match obj.name.as_str() {
            // Rejected on purpose; see verifier_rejection_names_reason_and_line.
            "bad_verifier" => continue,
            // This host refuses trampolines: see fentry_and_fexit_count_each_unlink_or_are_refused.
            "trace_kernel" | "trace_tc" | "trace_tc_events" if !trampolines => continue,
            "trace_tc" | "trace_tc_events" => target = Some(load_all(&open("tc_flow"))),
            // Maps shared through bpffs outlive the load by design: shared_maps.rs.
            _ if obj
                .maps
                .iter()
                .any(|m| m.pinning != loader::obj::Pinning::None) =>
            {
                continue
            }
            _ => {}
        }
        let mut opts = LoadOptions::default();
        if let Some(t) = &target {
            let tc = &t.programs[0];
            assert_eq!(tc.name, "tc_flow_ingress");
            let tracing = obj
                .programs
                .iter()
                .filter(|p| p.section.starts_with("fentry/") || p.section.starts_with("fexit/"));
            for p in tracing {
                let fd = tc.fd.try_clone().expect("dup");
                opts.targets
                    .insert(p.name.clone(), load::TargetProg::Fd(fd));
            }
        }
        let loaded = load::load(&obj, &opts).unwrap_or_else(|e| panic!("{}: {e}", obj.name));
        loaded_names.push(obj.name.clone());
        assert_eq!(loaded.programs.len(), obj.programs.len(), "{}", obj.name);
        for p in &loaded.programs {
            assert!(p.id > 0, "{}: {} has no id", obj.name, p.name);
            let info = loader::sys::prog_info(std::os::fd::AsFd::as_fd(&p.fd)).expect("info");
            assert_eq!(info.prog_type, p.def.prog_type, "{} type", p.name);
            assert_eq!(info.name, p.name.chars().take(15).collect::<String>());
        }
        assert_eq!(loaded.maps.len(), obj.maps.len(), "{}", obj.name);
        // Map ids come from the programs' info (matched by order of first use), not one
        // call per map: each must be the id the kernel gives that map's fd.
        for m in &loaded.maps {
            let info = loader::sys::map_info(std::os::fd::AsFd::as_fd(&m.fd)).expect("map info");
            assert_eq!(m.id, info.id, "{}: map {} id", obj.name, m.def.name);
        }
        drop_and_check(loaded);
        // opts holds copies of the target's fd: it goes first.
        drop(opts);
        if let Some(t) = target {
            drop_and_check(t);
        }
    }
    // In a guest whose kernel has trampolines, the fentry/fexit objects load too.
    let traced = loaded_names
        .iter()
        .filter(|n| n.starts_with("trace_"))
        .count();
    let objects = all_bpf_objs()
        .iter()
        .filter(|p| p.to_string_lossy().contains("/trace_"))
        .count();
    assert!(objects >= 3, "trace_kernel, trace_tc, trace_tc_events");
    assert_eq!(
        traced,
        if trampolines { objects } else { 0 },
        "{loaded_names:?}"
    );
}

#[test]
fn xdp_classifier_counts_each_protocol_through_tail_calls() {
    require_priv!();
    let obj = open("xdp_classifier");
    let prog = obj.program("xdp_classify").expect("entry");
    assert_eq!(
        prog.def, None,
        "xdp_classifier is not a standard section name"
    );
    assert_eq!(prog.ctx_struct.as_deref(), Some("xdp_md"));
    let map = obj.map("jmp_table").expect("jmp_table");
    let mut slots = map.values.clone();
    slots.sort();
    assert_eq!(
        slots,
        vec![
            (0, "handle_icmp".into()),
            (1, "handle_tcp".into()),
            (2, "handle_udp".into())
        ]
    );

    let l = load_all(&obj);
    let entry = prog_fd(&l, "xdp_classify");
    let frames: Vec<(Vec<u8>, usize)> = vec![
        (frame::ipv4(1, &frame::icmp_echo()), 0),
        (frame::ipv4(6, &frame::tcp_syn(1000, 80)), 1),
        (frame::ipv4(17, &frame::udp(1000, 53, b"q")), 2),
        (frame::ipv6(17, &frame::udp(1000, 53, b"q6")), 2),
        (frame::ipv6(58, &[128, 0, 0, 0, 0, 0, 0, 0]), 0),
        (frame::arp(), 4),
    ];
    let mut want = [0u64; 8];
    for (i, (f, slot)) in frames.iter().enumerate() {
        for _ in 0..=i {
            assert_eq!(test_run(entry, f), 2, "XDP_PASS");
            want[*slot] += 1;
            want[5] += 1;
        }
    }
    let counts = map_fd(&l, "counts");
    let got: Vec<u64> = (0..8).map(|k| array_u64(counts, k)).collect();
    assert_eq!(
        got,
        want.to_vec(),
        "counts by protocol (ICMP, TCP, UDP, other, non-IP, total, tail fail)"
    );

    // Empty the TCP slot: the tail call falls through and is counted as a failure.
    loader::sys::map_delete(map_fd(&l, "jmp_table"), &1u32.to_ne_bytes()).expect("delete slot");
    test_run(entry, &frames[1].0);
    assert_eq!(array_u64(counts, 6), 1, "COUNT_TAIL_FAIL");
    assert_eq!(array_u64(counts, 1), want[1], "TCP count unchanged");
    drop_and_check(l);
}

#[test]
fn globals_follow_the_c() {
    require_priv!();
    let obj = open("globals");
    let names: BTreeSet<&str> = obj.maps.iter().map(|m| m.name.as_str()).collect();
    for s in [".data", ".rodata", ".bss", ".rodata.str1.1"] {
        assert!(names.contains(s), "no map for {s}: {names:?}");
    }
    let l = load_all(&obj);
    let p = prog_fd(&l, "xdp_globals");
    let mut f = b"rbpf".to_vec();
    f.resize(14, 0);
    assert_eq!(test_run(p, &f), 2);
    assert_eq!(test_run(p, &f), 2);
    let bss = value0(map_fd(&l, ".bss"));
    let data = value0(map_fd(&l, ".data"));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
    assert_eq!(u64_at(&bss, 0), 2, "bss_runs");
    assert_eq!(
        u32::from_le_bytes(bss[8..12].try_into().expect("4")),
        14,
        "bss_last_len"
    );
    assert_eq!(u64_at(&bss, 16), 2, "bss_matches");
    assert_eq!(u64_at(&data, 0), 106, "data_counter = 100 + 2 * cfg_step");
    assert_eq!(&data[8..15], b"globals");
    // .rodata is frozen: user space cannot change it after load (the kernel says EPERM to
    // a write into a frozen map), while .data, not frozen, takes the same write.
    let ro = map_fd(&l, ".rodata");
    let e = loader::sys::map_update(ro, &0u32.to_ne_bytes(), &value0(ro), 0)
        .expect_err("a write into the frozen .rodata");
    assert_eq!(e.errno(), Some(libc::EPERM), "{e}");
    let rw = map_fd(&l, ".data");
    loader::sys::map_update(rw, &0u32.to_ne_bytes(), &value0(rw), 0).expect(".data is writable");
    drop_and_check(l);

    // Configuration before load: the program obeys the new .rodata.
    let mut obj = open("globals");
    obj.set_global("cfg_verdict", &1u32.to_le_bytes())
        .expect("set");
    obj.set_global("cfg_step", &10u32.to_le_bytes())
        .expect("set");
    let l = load_all(&obj);
    assert_eq!(
        test_run(prog_fd(&l, "xdp_globals"), &f),
        1,
        "XDP_DROP from .rodata"
    );
    assert_eq!(u64_at(&value0(map_fd(&l, ".data")), 0), 110);
    drop_and_check(l);
    assert!(open("globals").set_global("no_such_var", &[0]).is_err());
}

#[test]
fn bpf_to_bpf_calls_compute_what_the_c_says() {
    require_priv!();
    let obj = open("bpf2bpf");
    let entry = obj.program("xdp_bpf2bpf").expect("entry");
    let calls = obj.functions[entry.func]
        .relocs
        .iter()
        .filter(|r| matches!(r.target, loader::obj::RelocTarget::Call { .. }))
        .count();
    assert!(calls >= 2, "expected BPF-to-BPF calls, found {calls}");
    let l = load_all(&obj);
    let p = prog_fd(&l, "xdp_bpf2bpf");
    for n in [14usize, 20, 64] {
        assert_eq!(test_run(p, &vec![0u8; n]), 2);
        let r = map_fd(&l, "results");
        let n = n as u64;
        assert_eq!(array_u64(r, 0), n * n + 4, "add_square({n}, 4)");
        assert_eq!(array_u64(r, 1), (n + 1) * (n + 1) + n, "global_mix({n})");
    }
    assert_eq!(array_u64(map_fd(&l, "results"), 2), 3, "runs");
    drop_and_check(l);
}

#[test]
fn legacy_maps_and_several_programs_per_section() {
    require_priv!();
    let obj = open("legacy_maps");
    assert!(obj
        .maps
        .iter()
        .any(|m| m.kind == loader::obj::MapKind::Legacy));
    drop_and_check(load_all(&obj));
    let obj = open("multi_prog");
    assert!(obj.programs_in("xdp").len() >= 2);
    assert!(obj.programs_in("tc").len() >= 2);
    drop_and_check(load_all(&obj));
}

#[test]
fn core_reads_the_calling_task() {
    require_priv!();
    let obj = open("core_task");
    let l = load_all(&obj);
    check_core_task(&l);
    drop_and_check(l);
}

#[test]
fn verifier_rejection_names_reason_and_line() {
    require_priv!();
    let obj = open("bad_verifier");
    match load::load(&obj, &LoadOptions::default()) {
        Err(LoadError::Verifier(v)) => {
            let load::VerifierError {
                prog,
                reason,
                log,
                line,
                ..
            } = *v;
            assert_eq!(prog, "xdp_bad");
            assert!(
                reason.contains("outside of the packet")
                    || reason.contains("invalid access to packet"),
                "{reason}"
            );
            assert!(
                log.contains("processed") || log.contains("invalid"),
                "{log}"
            );
            let line = line.expect("source line from line_info");
            assert!(line.contains("bad_verifier.bpf.c"), "{line}");
        }
        Err(e) => panic!("expected a verifier error, got: {e}"),
        Ok(_) => panic!("bad_verifier loaded"),
    }
}

/// fentry and fexit through the loader: where the kernel refuses trampolines (this host),
/// a clear EPERM message naming the program; in the `make test-vm` guests they must load,
/// attach, count each call of do_unlinkat exactly, and fexit must see what it returned.
#[test]
fn fentry_and_fexit_count_each_unlink_or_are_refused() {
    require_priv!();
    let mut obj = open("trace_kernel");
    obj.set_global("target_tgid", &std::process::id().to_le_bytes())
        .expect("set");
    let opts = LoadOptions {
        only: Some(vec!["fentry_unlinkat".into(), "fexit_unlinkat".into()]),
        ..Default::default()
    };
    let l = match load::load(&obj, &opts) {
        Ok(l) => l,
        Err(LoadError::Prog { prog, source, .. }) if !rbpf_tests::vm::trampolines_required() => {
            assert_eq!(prog, "fentry_unlinkat");
            assert_eq!(source.errno(), Some(libc::EPERM), "{source}");
            let msg = load::load(&obj, &opts).err().map(|e| e.to_string());
            let msg = msg.unwrap_or_default();
            assert!(msg.contains("does not allow BPF trampolines"), "{msg}");
            return;
        }
        Err(e) => panic!(
            "trace_kernel on a kernel with trampolines (RBPF_VM_KERNEL={:?}): {e}",
            rbpf_tests::vm::kernel()
        ),
    };
    let links: Vec<_> = [
        ("fentry_unlinkat", Tracing::Fentry),
        ("fexit_unlinkat", Tracing::Fexit),
    ]
    .into_iter()
    .map(|(name, kind)| {
        attach::attach_tracing(prog_fd(&l, name), kind).unwrap_or_else(|e| panic!("{name}: {e}"))
    })
    .collect();
    // Two files deleted, one that was not there: three calls, the last returning -ENOENT.
    let base = std::env::temp_dir().join(format!("rbpf_core_unlink_{}", std::process::id()));
    for i in 0..2 {
        let f = base.with_extension(i.to_string());
        std::fs::write(&f, b"x").expect("write");
        std::fs::remove_file(&f).expect("unlink");
    }
    assert!(std::fs::remove_file(base.with_extension("missing")).is_err());
    drop(links);
    let counts = map_fd(&l, "unlink_counts");
    let got: Vec<u64> = (0..4).map(|k| array_u64(counts, k)).collect();
    assert_eq!(got, [3, 3, 0, 0], "fentry, fexit, kprobe, kretprobe");
    let ret = i64::from_ne_bytes(value0(map_fd(&l, "unlink_ret"))[..8].try_into().expect("8"));
    assert_eq!(
        ret,
        -i64::from(libc::ENOENT),
        "fexit saw do_unlinkat's return"
    );
    drop_and_check(l);
}
