//! CO-RE resolved two ways, by us (`CoreMode::User`, against /sys/kernel/btf/vmlinux) and by
//! the kernel while it verifies the program (`CoreMode::Kernel`, BPF_PROG_LOAD's
//! `core_relos`): the kernel's own implementation is an independent check of ours. Every
//! program of every object with CO-RE records is loaded both ways and must come out as the
//! same instructions after the kernel's own rewrites (`xlated_prog_insns`).

use loader::load::{self, CoreMode, LoadOptions, Loaded};
use loader::obj::Object;
use loader::sys::{self, SentProgLoad};
use rbpf_tests::kernel::{check_core_task, drop_and_check};
use rbpf_tests::{all_bpf_objs, bpf_obj, require_priv, run};
use std::os::fd::AsFd;

/// Load, and see every BPF_PROG_LOAD as its attribute block went to the kernel.
fn load_watched(obj: &Object, core: CoreMode) -> (Loaded, Vec<SentProgLoad>) {
    load_watched_on(obj, core, None)
}

/// [`load_watched`], with `target`'s first program as the target of every fentry/fexit
/// program of `obj` (trace_tc* trace tc_flow_ingress).
fn load_watched_on(
    obj: &Object,
    core: CoreMode,
    target: Option<&Loaded>,
) -> (Loaded, Vec<SentProgLoad>) {
    let mut opts = LoadOptions {
        core,
        ..Default::default()
    };
    if let Some(t) = target {
        let tracing = obj
            .programs
            .iter()
            .filter(|p| p.section.starts_with("fentry/") || p.section.starts_with("fexit/"));
        for p in tracing {
            let fd = t.programs[0].fd.try_clone().expect("dup");
            opts.targets
                .insert(p.name.clone(), load::TargetProg::Fd(fd));
        }
    }
    let (l, sent) = sys::watch_prog_loads(|| load::load(obj, &opts));
    let l = l.unwrap_or_else(|e| panic!("{} ({core:?}): {e}", obj.name));
    (l, sent)
}

/// The CO-RE records that went to the kernel with program `prog` (every BPF_PROG_LOAD of
/// it: a refused load and its retry with a log must carry the same).
fn sent_relos(sent: &[SentProgLoad], prog: &str) -> u32 {
    let name: String = prog.chars().take(15).collect();
    let mine: Vec<&SentProgLoad> = sent.iter().filter(|s| s.name == name).collect();
    assert!(!mine.is_empty(), "no BPF_PROG_LOAD of {prog}");
    let n = mine[0].core_relo_cnt;
    for s in &mine {
        assert_eq!(s.core_relo_cnt, n, "{prog}: loads carry different records");
        assert_eq!(s.core_relos.len(), 16 * n as usize, "{prog}: record bytes");
        assert_eq!(s.core_relo_rec_size, if n > 0 { 16 } else { 0 }, "{prog}");
    }
    n
}

/// The xlated program with map ids blanked (each load makes its own maps).
fn xlated(l: &Loaded, prog: &str) -> Vec<u64> {
    let p = l
        .programs
        .iter()
        .find(|p| p.name == prog)
        .unwrap_or_else(|| panic!("no program {prog}"));
    let mut insns = loader::sys::prog_xlated(p.fd.as_fd()).expect("xlated insns");
    assert!(
        insns.len() >= p.insn_count / 2,
        "{prog}: {} xlated instructions for {} loaded",
        insns.len(),
        p.insn_count
    );
    let mut i = 0;
    while i < insns.len() {
        let code = insns[i] as u8;
        let src = (insns[i] >> 12) as u8 & 0xf;
        if code == 0x18 {
            // BPF_PSEUDO_MAP_FD / MAP_VALUE / MAP_IDX / MAP_IDX_VALUE: imm is a map id.
            if matches!(src, 1 | 2 | 5 | 6) {
                insns[i] &= 0x0000_0000_ffff_ffff;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    insns
}

#[test]
fn kernel_and_user_core_give_the_same_instructions() {
    require_priv!();
    let mut compared_relos = 0;
    let mut objects = Vec::new();
    for path in all_bpf_objs() {
        let obj = Object::from_file(&path).expect("parse");
        let has_core = obj
            .btf_ext
            .as_ref()
            .is_some_and(|e| e.core_relos.iter().any(|r| !r.records.is_empty()));
        match obj.name.as_str() {
            // Rejected by the verifier on purpose.
            "bad_verifier" => continue,
            _ if !has_core => continue,
            // fentry/fexit: refused by this host's kernel (EPERM); in the guests they load.
            "trace_kernel" | "trace_tc" | "trace_tc_events"
                if !rbpf_tests::vm::trampolines_required() =>
            {
                continue
            }
            _ => {}
        }
        // fentry/fexit on another program (guests only): tc_flow_ingress is the target.
        let target = obj.name.starts_with("trace_tc").then(|| {
            load_watched(
                &Object::from_file(&bpf_obj("tc_flow")).expect("parse"),
                CoreMode::User,
            )
            .0
        });
        let (ours, ours_sent) = load_watched_on(&obj, CoreMode::User, target.as_ref());
        let (kernel, kernel_sent) = load_watched_on(&obj, CoreMode::Kernel, target.as_ref());
        for (a, b) in ours.programs.iter().zip(&kernel.programs) {
            assert_eq!(a.name, b.name);
            assert_eq!(
                a.core_relos, b.core_relos,
                "{}/{}: CO-RE records counted alike",
                obj.name, a.name
            );
            // Who resolved is read from what went to the kernel, not from the loader's
            // word: User mode sends no record, Kernel mode every one it counted.
            assert_eq!(
                sent_relos(&ours_sent, &a.name),
                0,
                "{}/{}: User mode resolves here and sends no record",
                obj.name,
                a.name
            );
            assert_eq!(
                sent_relos(&kernel_sent, &b.name) as usize,
                a.core_relos,
                "{}/{}: Kernel mode hands every record to the kernel",
                obj.name,
                b.name
            );
            assert_eq!(
                xlated(&ours, &a.name),
                xlated(&kernel, &b.name),
                "{}/{}: the kernel resolved CO-RE differently from us",
                obj.name,
                a.name
            );
            assert_eq!(a.tag, b.tag, "{}/{}: tags", obj.name, a.name);
            compared_relos += a.core_relos;
        }
        objects.push(obj.name.clone());
        drop_and_check(ours);
        drop_and_check(kernel);
        if let Some(t) = target {
            drop_and_check(t);
        }
    }
    // xdp_count alone has 7; every packet program relocates its header reads.
    assert!(
        compared_relos >= 50 && objects.len() >= 8,
        "too little compared: {compared_relos} records in {objects:?}"
    );
}

#[test]
fn kernel_core_reads_the_calling_task() {
    require_priv!();
    let obj = Object::from_file(&bpf_obj("core_task")).expect("parse");
    let (l, sent) = load_watched(&obj, CoreMode::Kernel);
    // core_task's four records went to the kernel, and the instructions went as clang
    // wrote them, with only the map address patched: nothing was resolved here.
    assert_eq!(sent_relos(&sent, "core_task"), 4);
    let elf = &obj.functions[obj.program("core_task").expect("prog").func].insns;
    let sent_insns = &sent[0].insns;
    assert_eq!(sent_insns.len(), elf.len());
    let differ: Vec<usize> = (0..elf.len())
        .filter(|&i| elf[i].to_u64() != sent_insns[i])
        .collect();
    assert!(!differ.is_empty(), "the .bss address is patched in");
    assert!(
        differ.iter().all(|&i| elf[i].code == 0x18),
        "only map addresses (ld_imm64) changed, at {differ:?}"
    );
    check_core_task(&l);
    drop_and_check(l);
}

#[test]
fn cli_core_kernel_says_who_resolved() {
    require_priv!();
    let bin = rbpf_tests::cli::bin_path();
    let bin = bin.to_str().expect("utf-8 path");
    let obj = bpf_obj("core_task");
    let obj = obj.to_str().expect("utf-8 path");
    let out = run(bin, &["load", obj, "--core", "kernel", "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let p = &v["programs"][0];
    assert_eq!(p["core_by"], "kernel", "{out}");
    assert!(p["core_relos"].as_u64().unwrap_or(0) > 0, "{out}");
    let out = run(bin, &["load", obj, "--core", "user", "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["programs"][0]["core_by"], "user", "{out}");
    // The default (auto) asks the kernel, which can here (5.17+)...
    let out = run(bin, &["load", obj, "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["programs"][0]["core_by"], "kernel", "{out}");
    // ...unless --explain wants to show each record resolved.
    let out = run(bin, &["load", obj, "--explain"]);
    assert!(
        out.contains("4 CO-RE relocations resolved by rbpf-load"),
        "{out}"
    );
    let text = run(bin, &["load", obj, "--core", "kernel"]);
    assert!(
        text.contains("4 CO-RE relocations resolved by the kernel"),
        "{text}"
    );
    // What went to the kernel: --explain prints BPF_PROG_LOAD's attributes as they are
    // handed to bpf(2). --core kernel sends the four records; --core user none.
    let prog_load = |out: &str| {
        out.lines()
            .find(|l| l.contains("bpf(BPF_PROG_LOAD, "))
            .unwrap_or_else(|| panic!("no BPF_PROG_LOAD line in:\n{out}"))
            .to_string()
    };
    let out = run(bin, &["load", obj, "--core", "kernel", "--explain"]);
    let line = prog_load(&out);
    assert!(line.contains(", core_relo_cnt=4)"), "{line}");
    let out = run(bin, &["load", obj, "--core", "user", "--explain"]);
    let line = prog_load(&out);
    assert!(!line.contains("core_relo_cnt"), "{line}");
}
