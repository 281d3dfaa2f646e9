//! sys_enter_dispatch (clang-built, loaded with bpftool) on the `sys_enter` raw tracepoint
//! through our attach: its tail-call table is filled with the getppid and sched_yield
//! handlers, its `target_tgid` global is set to this process through the pinned .bss map,
//! and the handlers' counts must equal the calls this process made. A binary of its own:
//! no other test thread of this process makes these syscalls meanwhile.

mod tracing_support;

use loader::attach::attach_raw_tracepoint;
use loader::btf::{Btf, Kind};
use loader::sys::{self, ObjKind, BPF_ANY};
use rbpf_tests::kernel::wait_prog_gone;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use tracing_support::bpftool::Loaded;
use tracing_support::*;

/// Offset of global `name` in a global-data map, from the map's own BTF (its DATASEC).
fn global_offset(map: &OwnedFd, name: &str) -> usize {
    let info = sys::map_info(map.as_fd()).unwrap();
    let btf_fd = sys::fd_by_id(ObjKind::Btf, info.btf_id).unwrap();
    let btf = Btf::parse(&sys::btf_data(btf_fd.as_fd()).unwrap()).unwrap();
    let Kind::Datasec { vars, .. } = &btf.get(info.btf_value_type_id).unwrap().kind else {
        panic!("value type of {} is not a DATASEC", info.name);
    };
    vars.iter()
        .find(|v| btf.name(v.ty) == name)
        .unwrap_or_else(|| panic!("no {name} in {}", info.name))
        .offset as usize
}

#[test]
fn sys_enter_dispatch_counts_this_process_getppid_and_sched_yield() {
    rbpf_tests::require_priv!();
    const PPID: u64 = 300;
    const YIELD: u64 = 120;
    const GETPID: u64 = 50;
    let obj = Loaded::new(&rbpf_tests::bpf_obj("sys_enter_dispatch"));
    let dispatch = obj.prog("sys_enter_dispatch");
    let table = obj.map("syscall_table");
    let counts = obj.map("syscall_counts");

    for (nr, handler) in [
        (NR_GETPPID, "handle_getppid"),
        (NR_SCHED_YIELD, "handle_sched_yield"),
    ] {
        let fd = obj.prog(handler);
        let value = (fd.as_raw_fd() as u32).to_ne_bytes();
        sys::map_update(table.as_fd(), &(nr as u32).to_ne_bytes(), &value, BPF_ANY).unwrap();
    }
    let bss = obj.map_ending("bss");
    let size = sys::map_info(bss.as_fd()).unwrap().value_size as usize;
    let off = global_offset(&bss, "target_tgid");
    let mut value = vec![0u8; size];
    value[off..off + 4].copy_from_slice(&std::process::id().to_ne_bytes());
    sys::map_update(bss.as_fd(), &0u32.to_ne_bytes(), &value, BPF_ANY).unwrap();

    let link = attach_raw_tracepoint(dispatch.as_fd(), "sys_enter").unwrap();
    for _ in 0..PPID {
        getppid_syscall();
    }
    for _ in 0..YIELD {
        sched_yield_syscall();
    }
    // getpid (39) has no handler in the table: while the dispatcher runs, its tail call
    // falls through and nothing is counted; one more getppid after them shows the
    // dispatcher was still attached all along.
    for _ in 0..GETPID {
        // glibc caches no pid since 2.25: each call enters the kernel.
        let _ = nix::unistd::getpid();
    }
    getppid_syscall();
    drop(link);

    let count = |nr: u64| {
        let mut v = [0u8; 8];
        sys::map_lookup(counts.as_fd(), &(nr as u32).to_ne_bytes(), &mut v).unwrap();
        u64::from_ne_bytes(v)
    };
    assert_eq!(count(NR_GETPPID), PPID + 1);
    assert_eq!(count(NR_SCHED_YIELD), YIELD);
    assert_eq!(
        count(libc::SYS_getpid as u64),
        0,
        "{GETPID} getpid calls fell through"
    );
    // Cross-check with bpftool: it reads the same count through the pin.
    let pin = obj.maps.join("syscall_counts");
    let shown = rbpf_tests::run(
        "bpftool",
        &[
            "-j",
            "map",
            "lookup",
            "pinned",
            pin.to_str().unwrap(),
            "key",
            "110",
            "0",
            "0",
            "0",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["formatted"]["value"], PPID + 1, "bpftool says {shown}");

    // Nothing stays: with the pins and our fds gone, the kernel frees the programs.
    let ids: Vec<u32> = ["sys_enter_dispatch", "handle_getppid", "handle_sched_yield"]
        .iter()
        .map(|p| prog_id(&obj.prog(p)))
        .collect();
    drop((dispatch, table, counts, bss, obj));
    for id in ids {
        assert!(wait_prog_gone(id), "prog id {id} still loaded");
    }
}
