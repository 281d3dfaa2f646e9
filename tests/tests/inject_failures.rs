//! Injected failures: every bpf(2) step of a load fails in turn (`loader::sys::inject_failure`)
//! and the kernel must be left exactly as it was found: no program, map or BTF object of
//! ours in the kernel, no bpf fd left open in this process, no pin left in bpffs. Then the
//! kernel's own refusals (a map type it does not know, a program type it rejects) must be
//! cleaned up the same way.
//!
//! The injection hook is process-wide, so every test here holds `SERIAL` (other test
//! binaries are other processes and never see it). Programs and maps get names unique to
//! this process and case, so objects that other tests load at the same time from the same
//! files are never mistaken for ours.

use loader::load::{self, LoadOptions};
use loader::obj::Object;
use loader::sys::{self, Cmd, ObjKind};
use rbpf_tests::kernel::{check_core_task, frame, test_run};
use rbpf_tests::{bpf_obj, require_priv};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

/// Hold the injection hook for one test; a failed test must not poison the others.
fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    sys::clear_injected();
    g
}

/// A short name prefix for one case: `q` + pid + counter, in hex (kernel names hold 15).
fn unique_tag() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "q{:x}{:x}",
        std::process::id() & 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `name` with every program and map renamed `TAG_N` in the kernel (the object's own
/// names, which relocations use, stay as they are).
fn open_tagged(name: &str, tag: &str) -> Object {
    let mut obj = Object::from_file(&bpf_obj(name)).expect("parse");
    let renames: Vec<(String, String)> = obj
        .programs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), format!("{tag}_p{i}")))
        .collect();
    for (p, (_, new)) in obj.programs.iter_mut().zip(&renames) {
        p.name = new.clone();
    }
    for (i, m) in obj.maps.iter_mut().enumerate() {
        m.kernel_name = format!("{tag}_m{i}");
        for (_, prog) in m.values.iter_mut() {
            if let Some((_, new)) = renames.iter().find(|(old, _)| old == prog) {
                *prog = new.clone();
            }
        }
    }
    obj
}

/// Programs in the kernel whose names carry `tag`. Programs are safe to open by id; maps
/// are not (see `map_ids_gone`).
fn tagged_progs(tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    for id in sys::all_ids(ObjKind::Prog).expect("prog ids") {
        if let Ok(fd) = sys::fd_by_id(ObjKind::Prog, id) {
            if let Ok(i) = sys::prog_info(fd.as_fd()) {
                if i.name.starts_with(tag) {
                    found.push(format!("prog '{}' id {id}", i.name));
                }
            }
        }
    }
    found
}

/// Which of `ids` are still maps in the kernel. Asked with BPF_MAP_GET_NEXT_ID only: opening
/// a PROG_ARRAY by id while the kernel is still emptying it (deferred work after its last
/// user reference closed) and closing it again makes the kernel lose a reference, and the
/// map then stays forever (seen on 6.18). The id leaves the list when the map is freed.
fn maps_still_there(ids: &[u32]) -> Vec<u32> {
    let all = sys::all_ids(ObjKind::Map).expect("map ids");
    ids.iter().copied().filter(|id| all.contains(id)).collect()
}

/// Map ids from the load's narration ("BPF_MAP_CREATE '...': ... -> fd N, id M ...").
fn narrated_map_ids(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter(|l| l.contains("bpf(BPF_MAP_CREATE") && l.contains(") = fd "))
        .filter_map(|l| {
            let rest = &l[l.find(", id ")? + 5..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// Load options that record the narration.
fn narrated() -> (LoadOptions, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    let opts = LoadOptions {
        explain: Some(Box::new(move |l: &str| {
            l2.lock().expect("narration").push(l.to_string())
        })),
        ..Default::default()
    };
    (opts, lines)
}

/// The bpf objects (programs, maps, BTF, links) this process holds fds to.
fn bpf_fds() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let t = target.to_string_lossy().into_owned();
            let bpf = ["anon_inode:bpf", "anon_inode:btf"]
                .iter()
                .any(|k| t.starts_with(k));
            bpf.then(|| format!("fd {} -> {t}", e.file_name().to_string_lossy()))
        })
        .collect();
    v.sort();
    v
}

/// Nothing of ours may stay: no bpf fd this process did not hold before, no program with
/// our tag, none of the maps we saw created. The kernel frees programs and maps after an
/// RCU grace period (and PROG_ARRAYs after deferred work): wait for ours to go.
fn assert_nothing_left(case: &str, tag: &str, fds_before: &[String], map_ids: &[u32]) {
    assert_eq!(bpf_fds(), fds_before, "{case}: bpf fds left open");
    for _ in 0..300 {
        if tagged_progs(tag).is_empty() && maps_still_there(map_ids).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "{case}: still in the kernel: {:?}, maps {:?}",
        tagged_progs(tag),
        maps_still_there(map_ids)
    );
}

/// Fail the `nth` call of `cmd` (and, `times` > 1, the calls right after it too).
fn inject(cmd: Cmd, nth: u32, times: u32, errno: i32) {
    for _ in 0..times {
        sys::inject_failure(cmd, nth, errno);
    }
}

/// Fail the 1st, 2nd, ... call of `cmd` while loading `name`, until a load makes fewer
/// calls than that and succeeds. Each failed load must name the command and leave nothing.
/// Returns how many calls of `cmd` a whole load makes.
fn fail_each(name: &str, cmd: Cmd, times: u32, errno: i32) -> u32 {
    for nth in 0..64 {
        let tag = unique_tag();
        let obj = open_tagged(name, &tag);
        let fds = bpf_fds();
        let (opts, narration) = narrated();
        inject(cmd, nth, times, errno);
        let r = load::load(&obj, &opts);
        sys::clear_injected();
        let made = narrated_map_ids(&narration.lock().expect("narration"));
        let case = format!("{name}: {} #{nth} fails", cmd.name());
        match r {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(cmd.name()) && msg.contains("(injected)"),
                    "{case}: the error does not say which step failed: {msg}"
                );
                assert_nothing_left(&case, &tag, &fds, &made);
            }
            Ok(l) => {
                // Past the last call: a whole load. Ours are visible while it lives, so
                // the checks above can see a leak.
                let ids: Vec<u32> = l.maps.iter().map(|m| m.id).collect();
                assert_eq!(ids, made, "{case}: the narration names every map");
                assert_eq!(maps_still_there(&ids), ids, "{case}");
                assert_eq!(tagged_progs(&tag).len(), l.programs.len(), "{case}");
                drop(l);
                assert_nothing_left(&case, &tag, &fds, &ids);
                return nth;
            }
        }
    }
    panic!("{name}: {} still failing after 64 calls", cmd.name());
}

#[test]
fn each_map_create_fails_in_turn() {
    require_priv!();
    let _g = serial();
    // A map refused with BTF is tried once more without it: fail both tries.
    // xdp_classifier: counts, jmp_table; globals: .rodata, .data, .bss, .rodata.str1.1.
    assert_eq!(
        fail_each("xdp_classifier", Cmd::BPF_MAP_CREATE, 2, libc::ENOMEM),
        2
    );
    assert_eq!(
        fail_each("globals", Cmd::BPF_MAP_CREATE, 2, libc::ENOMEM),
        4
    );
}

#[test]
fn each_map_update_fails_in_turn() {
    require_priv!();
    let _g = serial();
    // Tail-call slots from `.values`: handle_icmp, handle_tcp, handle_udp.
    assert_eq!(
        fail_each("xdp_classifier", Cmd::BPF_MAP_UPDATE_ELEM, 1, libc::E2BIG),
        3
    );
    // Initial data of .rodata, .data, .rodata.str1.1 (.bss starts zeroed).
    assert_eq!(
        fail_each("globals", Cmd::BPF_MAP_UPDATE_ELEM, 1, libc::EFAULT),
        3
    );
}

#[test]
fn map_freeze_fails() {
    require_priv!();
    let _g = serial();
    // .rodata and .rodata.str1.1 are frozen after their data is written.
    assert_eq!(fail_each("globals", Cmd::BPF_MAP_FREEZE, 1, libc::EBUSY), 2);
}

#[test]
fn each_prog_load_fails_in_turn() {
    require_priv!();
    let _g = serial();
    // A refused load is tried again with a verifier log: fail both tries of each program.
    // xdp_classify, handle_icmp, handle_tcp, handle_udp; bpf2bpf has one entry point.
    assert_eq!(
        fail_each("xdp_classifier", Cmd::BPF_PROG_LOAD, 2, libc::EACCES),
        4
    );
    assert_eq!(fail_each("bpf2bpf", Cmd::BPF_PROG_LOAD, 2, libc::EINVAL), 1);
}

#[test]
fn each_object_info_fails_in_turn() {
    require_priv!();
    let _g = serial();
    // The narration (--explain) names each map's id as it is made: 2 maps; then 4
    // programs, one info call each, their map ids in the same call. (Without --explain the
    // maps ask nothing: their ids come from the programs' info.)
    assert_eq!(
        fail_each(
            "xdp_classifier",
            Cmd::BPF_OBJ_GET_INFO_BY_FD,
            1,
            libc::EFAULT
        ),
        2 + 4
    );
}

#[test]
fn btf_load_failure_loads_without_btf() {
    require_priv!();
    let _g = serial();
    let tag = unique_tag();
    let obj = open_tagged("xdp_classifier", &tag);
    let fds = bpf_fds();
    // Both tries: without a log, then with one to explain the refusal.
    inject(Cmd::BPF_BTF_LOAD, 0, 2, libc::EINVAL);
    let (opts, narration) = narrated();
    let l = load::load(&obj, &opts).expect("loads without BTF");
    sys::clear_injected();
    let said = narration.lock().expect("narration").join("\n");
    assert!(
        said.contains("BPF_BTF_LOAD) failed, going on without BTF"),
        "{said}"
    );
    assert!(l.btf_fd.is_none());
    for m in &l.maps {
        let info = sys::map_info(m.fd.as_fd()).expect("map info");
        assert_eq!(info.btf_id, 0, "map '{}' has no BTF", m.def.name);
    }
    // And it works: an ARP frame is counted as non-IP through the classifier.
    let entry = l
        .programs
        .iter()
        .find(|p| p.section == "xdp_classifier")
        .expect("entry");
    assert_eq!(test_run(entry.fd.as_fd(), &frame::arp()), 2, "XDP_PASS");
    let ids: Vec<u32> = l.maps.iter().map(|m| m.id).collect();
    drop(l);
    assert_nothing_left("BTF_LOAD fails", &tag, &fds, &ids);
}

/// A fresh pin directory in bpffs, removed (with anything in it) when dropped.
struct PinDir(PathBuf);

impl PinDir {
    fn new() -> PinDir {
        sys::ensure_bpffs(Path::new("/sys/fs/bpf")).expect("bpffs");
        PinDir(PathBuf::from(format!(
            "/sys/fs/bpf/rbpf-inject-{}",
            unique_tag()
        )))
    }

    /// Pinned objects (not directories) under the directory.
    fn pins(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.0, &mut v);
        v
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        for p in self.pins() {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir(self.0.join("maps"));
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn each_obj_pin_fails_in_turn() {
    require_priv!();
    let _g = serial();
    let tag = unique_tag();
    let obj = open_tagged("xdp_classifier", &tag);
    let fds = bpf_fds();
    let l = load::load(&obj, &LoadOptions::default()).expect("load");
    let total = (l.programs.len() + l.maps.len()) as u32;
    for nth in 0..total {
        let dir = PinDir::new();
        sys::inject_failure(Cmd::BPF_OBJ_PIN, nth, libc::EPERM);
        let r = l.pin_all(&dir.0);
        sys::clear_injected();
        let msg = r
            .expect_err("an injected OBJ_PIN failure fails pin_all")
            .to_string();
        assert!(
            msg.contains(&dir.0.display().to_string()) && msg.contains("not permitted"),
            "OBJ_PIN #{nth}: {msg}"
        );
        assert_eq!(
            dir.pins(),
            Vec::<PathBuf>::new(),
            "OBJ_PIN #{nth}: pins left"
        );
        assert!(
            !dir.0.exists(),
            "OBJ_PIN #{nth}: the directories pin_all made are gone too"
        );
    }
    // Without an injected failure every object is pinned, and the pins hold them.
    let dir = PinDir::new();
    let made = l.pin_all(&dir.0).expect("pin_all");
    assert_eq!(made.len() as u32, total);
    assert_eq!(dir.pins().len() as u32, total);
    let ids: Vec<u32> = l.maps.iter().map(|m| m.id).collect();
    drop(l);
    assert_eq!(tagged_progs(&tag).len(), 4, "pins keep the programs");
    assert_eq!(maps_still_there(&ids), ids, "pins keep the maps");
    drop(dir);
    assert_nothing_left("pins removed", &tag, &fds, &ids);
}

#[test]
fn kernel_refuses_an_unknown_map_type() {
    require_priv!();
    let _g = serial();
    let tag = unique_tag();
    let mut obj = open_tagged("xdp_classifier", &tag);
    let m = obj
        .maps
        .iter_mut()
        .find(|m| m.name == "jmp_table")
        .expect("jmp_table");
    m.map_type = 9999;
    let fds = bpf_fds();
    let (opts, narration) = narrated();
    let msg = load::load(&obj, &opts)
        .expect_err("map type 9999")
        .to_string();
    let made = narrated_map_ids(&narration.lock().expect("narration"));
    assert!(!made.is_empty(), "'counts' was made before 'jmp_table'");
    assert!(
        msg.contains("map 'jmp_table'") && msg.contains("BPF_MAP_CREATE"),
        "{msg}"
    );
    assert_nothing_left("map type 9999", &tag, &fds, &made);
}

#[test]
fn kernel_refuses_a_program_type() {
    require_priv!();
    let _g = serial();
    let tag = unique_tag();
    let mut obj = open_tagged("bpf2bpf", &tag);
    let p = obj.programs.first_mut().expect("a program");
    let name = p.name.clone();
    let mut def = p.def.expect("xdp section");
    def.prog_type = 9999;
    p.def = Some(def);
    let fds = bpf_fds();
    let (opts, narration) = narrated();
    let msg = load::load(&obj, &opts)
        .expect_err("program type 9999")
        .to_string();
    let made = narrated_map_ids(&narration.lock().expect("narration"));
    assert!(!made.is_empty(), "'results' was made before the program");
    assert!(
        msg.contains(&format!("prog '{name}'")) && msg.contains("BPF_PROG_LOAD"),
        "{msg}"
    );
    assert_nothing_left("prog type 9999", &tag, &fds, &made);
}

/// `CoreMode::Auto` (the default) asks the kernel to resolve CO-RE; when the kernel says no,
/// we resolve the records ourselves and load again, and the program works the same.
#[test]
fn auto_core_falls_back_to_resolving_here_when_the_kernel_says_no() {
    require_priv!();
    let _g = serial();
    // Not tagged: check_core_task finds the program and map by their own names.
    let obj = Object::from_file(&bpf_obj("core_task")).expect("parse");
    let auto = LoadOptions::default;
    let fds = bpf_fds();
    // Undisturbed, this kernel (5.17+) resolves.
    let l = load::load(&obj, &auto()).expect("auto");
    assert!(l.programs[0].core_by_kernel, "{:?}", l.programs[0]);
    check_core_task(&l);
    drop(l);
    // A kernel before 5.17 answers E2BIG to `core_relos`: both tries (without, then with
    // a verifier log) fail so; the third load, relocated here, is not refused.
    inject(Cmd::BPF_PROG_LOAD, 0, 2, libc::E2BIG);
    let l = load::load(&obj, &auto()).expect("auto falls back to user-space CO-RE");
    sys::clear_injected();
    let p = &l.programs[0];
    assert!(!p.core_by_kernel && p.core_relos == 4, "{p:?}");
    check_core_task(&l);
    drop(l);
    // The object's BTF refused (both tries): the kernel has nothing to resolve against.
    inject(Cmd::BPF_BTF_LOAD, 0, 2, libc::EINVAL);
    let l = load::load(&obj, &auto()).expect("auto without the object's BTF");
    sys::clear_injected();
    assert!(l.btf_fd.is_none());
    let p = &l.programs[0];
    assert!(!p.core_by_kernel && p.core_relos == 4, "{p:?}");
    check_core_task(&l);
    drop(l);
    // Refused both ways: the error is the second load's, as `--core user` reports it.
    inject(Cmd::BPF_PROG_LOAD, 0, 4, libc::EACCES);
    let msg = load::load(&obj, &auto())
        .expect_err("refused both ways")
        .to_string();
    sys::clear_injected();
    assert!(
        msg.contains("core_task") && msg.contains("BPF_PROG_LOAD") && msg.contains("(injected)"),
        "{msg}"
    );
    assert_eq!(bpf_fds(), fds, "no bpf fd left open");
}
