//! The VM pipeline's own proof (`make test-vm`, see docs/vm.md): inside a guest, vm/run.sh
//! sets `RBPF_VM_KERNEL` to the release of the kernel it booted. These tests check that the
//! test binary really runs on that kernel, that bpf(2) works there, and that the guest offers
//! what the other tests rely on (named netns, veth, clsact, ping, tracefs, bpftool).
//! Outside the VM each test prints one line saying so and does nothing.

use loader::sys::{self, MapCreate};
use rbpf_tests::lab::Lab;
use std::os::fd::AsFd;

/// BPF_MAP_TYPE_ARRAY
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// BPF_PROG_TYPE_XDP
const BPF_PROG_TYPE_XDP: u32 = 6;
/// XDP_PASS
const XDP_PASS: i32 = 2;

/// The kernel release the VM runner booted, or None (after one line) outside the VM.
fn vm_kernel(test: &str) -> Option<String> {
    let k = rbpf_tests::vm::kernel();
    if k.is_none() {
        println!("{test}: only runs in the VM (`make test-vm` sets RBPF_VM_KERNEL)");
    }
    k
}

#[test]
fn vm_runs_on_the_kernel_it_booted() {
    let Some(want) = vm_kernel("vm_runs_on_the_kernel_it_booted") else {
        return;
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(release.trim(), want, "the guest runs another kernel");
    let uname = rbpf_tests::run("uname", &["-r"]);
    assert_eq!(uname.trim(), want);
}

#[test]
fn vm_array_map_round_trip() {
    if vm_kernel("vm_array_map_round_trip").is_none() {
        return;
    }
    rbpf_tests::require_priv!();
    let name = format!("vm_smoke{}", std::process::id() % 100_000);
    let map = sys::map_create(&MapCreate {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        name: name.clone(),
        ..Default::default()
    })
    .unwrap();
    for i in 0u32..4 {
        let v = u64::from(i) * 1000 + 7;
        sys::map_update(
            map.as_fd(),
            &i.to_ne_bytes(),
            &v.to_ne_bytes(),
            sys::BPF_ANY,
        )
        .unwrap();
    }
    for i in 0u32..4 {
        let mut v = [0u8; 8];
        assert!(sys::map_lookup(map.as_fd(), &i.to_ne_bytes(), &mut v).unwrap());
        assert_eq!(u64::from_ne_bytes(v), u64::from(i) * 1000 + 7, "slot {i}");
    }
    let mut v = [0u8; 8];
    assert!(!sys::map_lookup(map.as_fd(), &4u32.to_ne_bytes(), &mut v).unwrap());

    // bpftool (the host's, through the chroot) sees the same map.
    let info = sys::map_info(map.as_fd()).unwrap();
    let out = rbpf_tests::run(
        "bpftool",
        &["-j", "map", "show", "id", &info.id.to_string()],
    );
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["name"], name.as_str());
    assert_eq!(shown["type"], "array");
    assert_eq!(shown["max_entries"], 4);
}

#[test]
fn vm_xdp_prog_load_and_test_run() {
    if vm_kernel("vm_xdp_prog_load_and_test_run").is_none() {
        return;
    }
    rbpf_tests::require_priv!();
    use loader::insn::{encode, Insn, BPF_ALU64, BPF_EXIT, BPF_JMP, BPF_K, BPF_MOV};
    // r0 = XDP_PASS; exit
    let insns = encode(&[
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS),
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    ]);
    let prog = sys::prog_load(
        &sys::ProgLoad {
            prog_type: BPF_PROG_TYPE_XDP,
            name: "vm_smoke_pass".into(),
            insns: &insns,
            license: "GPL",
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let run = sys::prog_test_run(prog.as_fd(), &[0u8; 64], &[], 1).unwrap();
    assert_eq!(run.retval, XDP_PASS as u32);
}

#[test]
fn vm_guest_has_netns_veth_clsact_tracefs() {
    if vm_kernel("vm_guest_has_netns_veth_clsact_tracefs").is_none() {
        return;
    }
    rbpf_tests::require_priv!();
    // kprobes and trace events, for the tracing tests
    for f in ["available_events", "kprobe_events", "trace_pipe"] {
        let p = std::path::Path::new("/sys/kernel/tracing").join(f);
        assert!(p.exists(), "{} is missing", p.display());
    }
    let lab = Lab::new();
    let out = rbpf_tests::run(
        "tc",
        &[
            "-n",
            &lab.ns_a,
            "qdisc",
            "add",
            "dev",
            &lab.veth_a,
            "clsact",
        ],
    );
    assert!(out.is_empty(), "{out}");
    let shown = rbpf_tests::run(
        "tc",
        &["-n", &lab.ns_a, "qdisc", "show", "dev", &lab.veth_a],
    );
    assert!(shown.contains("clsact"), "{shown}");
    assert_eq!(lab.ping_a_from_b(3), 3);
}
