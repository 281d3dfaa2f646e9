//! CO-RE end to end (privileged): core_fields.bpf.o relocated by our code against the
//! running kernel, loaded with its fixed BTF, func_info and line_info, run once through
//! BPF_PROG_TEST_RUN, and its `.bss` read back. The values it stored come from the kernel
//! reading its own structures at the offsets we computed.

mod btf_support;
use btf_support::*;

use loader::btf::core::apply;
use loader::btf::ext::{func_info_bytes, line_info_bytes, BtfExt, FuncInfo, LineInfo};
use loader::btf::{kind, Btf, Kind};
use loader::insn::{self, BPF_PSEUDO_MAP_VALUE};
use loader::section::prog_type;
use loader::sys;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

const SEC: &str = "raw_tp/sys_enter";
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// The u64 member `name` of `struct core_results` in the .bss bytes, located through BTF.
fn field(btf: &Btf, bss: &[u8], name: &str) -> u64 {
    let id = btf.find_by_name("core_results", kind::STRUCT).unwrap();
    let m = btf
        .members(id)
        .unwrap()
        .iter()
        .find(|m| btf.str_at(m.name_off).unwrap() == name)
        .unwrap_or_else(|| panic!("no member {name}"));
    let off = (m.bit_offset / 8) as usize;
    u64::from_le_bytes(bss[off..off + 8].try_into().unwrap())
}

#[test]
fn core_fields_runs_with_kernel_offsets() {
    if !privileged("core_fields_runs_with_kernel_offsets") {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bpf/core_fields.bpf.o");
    let data = std::fs::read(&path).expect("run `make bpf`");
    let file = object::File::parse(&*data).unwrap();
    let sec = |n: &str| file.section_by_name(n).unwrap();
    let mut btf = Btf::parse(sec(".BTF").data().unwrap()).unwrap();
    let ext = BtfExt::parse(sec(".BTF.ext").data().unwrap(), &btf).unwrap();
    let kernel = Btf::kernel().unwrap();
    let bss_size = sec(".bss").size() as u32;

    // CO-RE first, with the object's own BTF as clang wrote it.
    let text = sec(SEC);
    let (mut insns, _) = insn::decode(text.data().unwrap());
    let mut applied = Vec::new();
    for r in ext.core_relos_of(SEC) {
        let a = apply(&mut insns, (r.insn_off / 8) as usize, r, &btf, &kernel).unwrap();
        eprintln!("{a}");
        applied.push(a);
    }

    // BTF for the kernel.
    let sizes = |s: &str| file.section_by_name(s).map(|x| x.size() as u32);
    let syms = |s: &str, v: &str| {
        file.symbols()
            .find(|y| {
                y.name() == Ok(v)
                    && y.section_index()
                        .and_then(|i| file.section_by_index(i).ok())
                        .is_some_and(|x| x.name() == Ok(s))
            })
            .map(|y| y.address() as u32)
    };
    btf.fixup_for_load(&sizes, &syms).unwrap();
    let btf_fd = sys::btf_load(&btf.to_bytes().unwrap(), None).unwrap();

    // The .bss map, and the instructions that address it.
    let bss = sys::map_create(&sys::MapCreate {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: bss_size,
        max_entries: 1,
        name: "core_bss".into(),
        ..Default::default()
    })
    .unwrap();
    for (off, rel) in text.relocations() {
        let RelocationTarget::Symbol(si) = rel.target() else {
            continue;
        };
        let sym = file.symbol_by_index(si).unwrap();
        let in_sec = file.section_by_index(sym.section_index().unwrap()).unwrap();
        assert_eq!(in_sec.name().unwrap(), ".bss", "only .bss is referenced");
        let i = (off / 8) as usize;
        assert!(insns[i].is_ld_imm64());
        let addend = insns[i].imm as u32 + sym.address() as u32;
        insns[i].src = BPF_PSEUDO_MAP_VALUE;
        insns[i].imm = bss.as_raw_fd();
        insns[i + 1].imm = addend as i32;
    }

    // func_info / line_info: byte offsets in the section -> instruction indexes.
    let fi: Vec<FuncInfo> = ext
        .func_info_of(SEC)
        .iter()
        .map(|f| FuncInfo {
            insn_off: f.insn_off / 8,
            ..*f
        })
        .collect();
    let li: Vec<LineInfo> = ext
        .line_info_of(SEC)
        .iter()
        .map(|l| LineInfo {
            insn_off: l.insn_off / 8,
            ..*l
        })
        .collect();
    let (fib, lib) = (func_info_bytes(&fi), line_info_bytes(&li));
    let code = insn::encode(&insns);
    let load = sys::ProgLoad {
        prog_type: prog_type::RAW_TRACEPOINT,
        name: "core_fields".into(),
        insns: &code,
        license: "GPL",
        prog_btf_fd: Some(btf_fd.as_raw_fd()),
        func_info_rec_size: 8,
        func_info: &fib,
        line_info_rec_size: 16,
        line_info: &lib,
        ..Default::default()
    };
    let prog = match sys::prog_load(&load, None) {
        Ok(p) => p,
        Err(e) => {
            let mut log = Vec::new();
            let _ = sys::prog_load(&load, Some((&mut log, 1)));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!("{e}\n{}", String::from_utf8_lossy(&log[..end]));
        }
    };
    // raw_tp test runs refuse ctx_out and repeat; the program reads no context.
    let run = sys::prog_test_run(prog.as_fd(), &[], &[], 0).unwrap();
    assert_eq!(run.retval, 0);

    let mut out = vec![0u8; bss_size as usize];
    assert!(sys::map_lookup(bss.as_fd(), &0u32.to_le_bytes(), &mut out).unwrap());
    let f = |n: &str| field(&btf, &out, n);

    // What the program read through our offsets is the truth about this thread.
    assert_eq!(f("runs"), 1);
    assert_eq!(f("pid"), nix::unistd::gettid().as_raw() as u64);
    assert_eq!(f("tgid"), std::process::id() as u64);
    assert_eq!(f("in_execve_value"), 0, "this thread is not in execve");
    // The relocated constants reached the kernel unchanged.
    let new_of = |spec: &str, k: &str| {
        applied
            .iter()
            .find(|a| a.local_spec.starts_with(spec) && a.kind_name == k)
            .and_then(|a| a.new)
            .unwrap()
    };
    assert_eq!(f("pid_off"), new_of("struct task_struct::pid ", "byte_off"));
    assert_eq!(
        f("real_parent_off"),
        new_of("struct task_struct::real_parent", "byte_off")
    );
    assert_eq!(
        f("pkt_type_off"),
        new_of("struct sk_buff::pkt_type", "byte_off")
    );
    let task = kernel.find_by_name("task_struct", kind::STRUCT).unwrap();
    assert_eq!(f("task_id_kernel"), task as u64);
    assert_eq!(f("task_size"), kernel.resolve_size(task).unwrap());
    assert_eq!((f("task_exists"), f("no_such_type_exists")), (1, 0));
    assert_eq!(
        (f("list_head_matches"), f("list_head_flavour_matches")),
        (1, 0)
    );
    assert_eq!((f("ringbuf_exists"), f("ringbuf_value")), (1, 27));
    // The made-up member: exists 0, and the guarded, poisoned read never ran.
    assert_eq!((f("made_up_exists"), f("made_up_value")), (0, 0));
    assert_eq!((f("made_up_enum_exists"), f("made_up_enum_value")), (0, 0));
    assert!(applied.iter().filter(|a| a.poisoned()).count() >= 2);
    // The local id is the object's own.
    let local_task = btf.find_by_name("task_struct", kind::STRUCT).unwrap();
    assert_eq!(f("task_id_local"), local_task as u64);
    assert!(matches!(
        btf.types[local_task as usize].kind,
        Kind::Struct { .. }
    ));
}
