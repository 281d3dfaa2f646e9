//! Reading the kernel's state back in tests: map values, program ids, packets to feed
//! BPF_PROG_TEST_RUN.

use loader::sys;
use std::os::fd::{AsFd, BorrowedFd};

/// Value `key` (u32) of an array map as a u64 (the first 8 bytes of the value).
pub fn array_u64(map: BorrowedFd, key: u32) -> u64 {
    let info = sys::map_info(map).expect("map info");
    let mut v = vec![0u8; info.value_size.max(8) as usize];
    assert!(
        sys::map_lookup(map, &key.to_ne_bytes(), &mut v).expect("lookup"),
        "key {key} missing"
    );
    u64::from_ne_bytes(v[..8].try_into().expect("8 bytes"))
}

/// The whole value of key 0 of a single-entry array (global data maps).
pub fn value0(map: BorrowedFd) -> Vec<u8> {
    let info = sys::map_info(map).expect("map info");
    let mut v = vec![0u8; info.value_size as usize];
    assert!(sys::map_lookup(map, &0u32.to_ne_bytes(), &mut v).expect("lookup"));
    v
}

/// True when no program or map with this id exists any more. Asked through the id lists
/// (GET_NEXT_ID), never by opening the object: opening a PROG_ARRAY by id while the kernel
/// is still emptying it after its last fd closed, then closing it, makes the kernel lose a
/// reference and the map is never freed (tests/tests/inject_failures.rs tells the story).
pub fn prog_gone(id: u32) -> bool {
    !sys::all_ids(sys::ObjKind::Prog)
        .map(|ids| ids.contains(&id))
        .unwrap_or(true)
}

/// Wait (up to 2 s) until program `id` is gone from the kernel: nothing a test loaded may
/// stay after it (the kernel frees programs after an RCU grace period).
pub fn wait_prog_gone(id: u32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !prog_gone(id) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

pub fn map_gone(id: u32) -> bool {
    !sys::all_ids(sys::ObjKind::Map)
        .map(|ids| ids.contains(&id))
        .unwrap_or(true)
}

/// Assert that everything `loaded` put in the kernel is gone once it is dropped.
pub fn drop_and_check(loaded: loader::load::Loaded) {
    let progs: Vec<u32> = loaded.programs.iter().map(|p| p.id).collect();
    let maps: Vec<u32> = loaded.maps.iter().map(|m| m.id).collect();
    let name = loaded.name.clone();
    drop(loaded);
    // The kernel frees programs and maps after an RCU grace period.
    let secs = 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if progs.iter().all(|&id| prog_gone(id)) && maps.iter().all(|&id| map_gone(id)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let progs: Vec<u32> = progs.into_iter().filter(|&id| !prog_gone(id)).collect();
    let maps: Vec<u32> = maps.into_iter().filter(|&id| !map_gone(id)).collect();
    panic!("{name}: still in the kernel {secs} s after drop: progs {progs:?} maps {maps:?}");
}

/// Frame builders for BPF_PROG_TEST_RUN.
pub mod frame {
    const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
    const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn checksum(b: &[u8]) -> u16 {
        let mut s: u32 = b
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// An IPv4 packet with protocol `proto` and `l4` as payload.
    pub fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        let total = (20 + l4.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(l4);
        eth(0x0800, &ip)
    }

    /// An IPv6 packet with next header `nh` and `l4` as payload.
    pub fn ipv6(nh: u8, l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        ip.push(nh);
        ip.push(64);
        ip.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        ip.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(l4);
        eth(0x86dd, &ip)
    }

    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    pub fn tcp_syn(sport: u16, dport: u16) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        t
    }

    pub fn icmp_echo() -> Vec<u8> {
        vec![8, 0, 0xf7, 0xff, 0, 0, 0, 0]
    }

    /// An ARP request (not IP).
    pub fn arp() -> Vec<u8> {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend_from_slice(&SRC_MAC);
        a.extend_from_slice(&[10, 0, 0, 2]);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&[10, 0, 0, 1]);
        eth(0x0806, &a)
    }
}

/// Run a program once with `data` and return its return value.
pub fn test_run(prog: BorrowedFd, data: &[u8]) -> u32 {
    sys::prog_test_run(prog, data, &[], 1)
        .expect("BPF_PROG_TEST_RUN")
        .retval
}

/// The fd of a loaded program by name.
pub fn prog_fd<'a>(l: &'a loader::load::Loaded, name: &str) -> BorrowedFd<'a> {
    l.program(name)
        .unwrap_or_else(|| panic!("prog {name} not loaded"))
        .fd
        .as_fd()
}

/// The fd of a loaded map by name.
pub fn map_fd<'a>(l: &'a loader::load::Loaded, name: &str) -> BorrowedFd<'a> {
    l.map(name)
        .unwrap_or_else(|| panic!("map {name} not loaded"))
        .fd
        .as_fd()
}

/// Run core_task (bpf-src/core_task.bpf.c) once on this thread and check what it read
/// through its CO-RE relocations: this thread's id, the process's, the parent's, the
/// thread's name.
pub fn check_core_task(l: &loader::load::Loaded) {
    // raw_tp programs run with an args array as context and no packet.
    let ctx = [0u8; 16];
    let tid = nix::unistd::gettid().as_raw() as u32;
    sys::prog_test_run(prog_fd(l, "core_task"), &[], &ctx, 0).expect("test run");
    let seen = value0(map_fd(l, ".bss"));
    let u32_at = |o: usize| u32::from_le_bytes(seen[o..o + 4].try_into().expect("4"));
    assert_eq!(u32_at(0), tid, "pid (thread id)");
    assert_eq!(u32_at(4), std::process::id(), "tgid");
    assert_eq!(
        u32_at(8),
        nix::unistd::getppid().as_raw() as u32,
        "real_parent->tgid"
    );
    let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).expect("comm");
    let got = &seen[12..28];
    let end = got.iter().position(|&c| c == 0).unwrap_or(16);
    assert_eq!(String::from_utf8_lossy(&got[..end]), comm.trim_end());
}

/// Does the running kernel have tcx (Linux 6.6+)? The host's 6.18 and the 6.12 guest do,
/// the 6.1 guest does not: there tcx tests check the refusal and the fallback instead.
pub fn has_tcx() -> bool {
    let Ok(u) = nix::sys::utsname::uname() else {
        return false;
    };
    let release = u.release().to_string_lossy().into_owned();
    let mut v = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 6)
}
