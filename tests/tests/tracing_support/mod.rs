//! Shared by the tracing_* tests: a tiny assembler for hand-made BPF programs (used until
//! the object loader can load clang-built ones), maps, and loading through bpftool with
//! pins removed on drop.
#![allow(dead_code)]

pub mod asm;
pub mod bpftool;
pub mod progs;

use loader::sys::{self, MapCreate};
use std::os::fd::OwnedFd;

pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
pub const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// A map made for one test.
pub fn map(map_type: u32, key: u32, value: u32, entries: u32, name: &str) -> OwnedFd {
    sys::map_create(&MapCreate {
        map_type,
        key_size: key,
        value_size: value,
        max_entries: entries,
        name: name.into(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("create map {name}: {e}"))
}

/// Read u64 slot `idx` of an ARRAY map.
pub fn array_u64(map: &OwnedFd, idx: u32) -> u64 {
    use std::os::fd::AsFd;
    let mut v = [0u8; 8];
    assert!(sys::map_lookup(map.as_fd(), &idx.to_ne_bytes(), &mut v).unwrap());
    u64::from_ne_bytes(v)
}

/// The syscall numbers we provoke (x86_64).
pub const NR_GETPPID: u64 = 110;
pub const NR_SCHED_YIELD: u64 = 24;

/// getppid(2): glibc does not cache it, every call enters the kernel.
pub fn getppid_syscall() {
    let _ = nix::unistd::getppid();
}

pub fn sched_yield_syscall() {
    let _ = nix::sched::sched_yield();
}

/// Keep this thread on CPU `cpu` so that per-CPU accounting is exact.
pub fn pin_to_cpu(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
}

/// The kernel's thread id of the calling thread (what bpf_get_current_pid_tgid's low half is).
pub fn gettid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

/// The id of type `kind` `name` in the kernel's BTF, as bpftool reads it (an independent
/// cross-check for our own lookups, and the attach_btf_id of hand-made tracing programs).
pub fn bpftool_vmlinux_id(kind: &str, name: &str) -> u32 {
    bpftool_btf_id(&["file", "/sys/kernel/btf/vmlinux"], kind, name)
}

/// The id of type `kind` `name` in `bpftool btf dump SOURCE...` (`id N`, `file PATH`).
pub fn bpftool_btf_id(source: &[&str], kind: &str, name: &str) -> u32 {
    let mut args = vec!["btf", "dump"];
    args.extend_from_slice(source);
    let out = rbpf_tests::run("bpftool", &args);
    let needle = format!("] {kind} '{name}'");
    let line = out
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("bpftool: no {kind} '{name}' in BTF {source:?}"));
    line[1..line.find(']').unwrap()].parse().unwrap()
}

/// A fresh, unique path under bpffs for a pin.
pub fn pin_path(what: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    sys::ensure_bpffs(std::path::Path::new("/sys/fs/bpf")).unwrap();
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::path::PathBuf::from(format!(
        "/sys/fs/bpf/rbpf_t_{what}_{}_{n}",
        std::process::id()
    ))
}

/// Does the kernel still have bpf link `id`?
pub fn link_exists(id: u32) -> bool {
    sys::fd_by_id(sys::ObjKind::Link, id).is_ok()
}

/// Wait (up to 2 s) until link `id` is gone: the kernel frees links from a work queue.
pub fn wait_link_gone(id: u32) -> bool {
    for _ in 0..200 {
        if !link_exists(id) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// The kernel id of a loaded program.
pub fn prog_id(fd: &OwnedFd) -> u32 {
    use std::os::fd::AsFd;
    sys::prog_info(fd.as_fd()).unwrap().id
}
