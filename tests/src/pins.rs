//! Programs loaded by bpftool (an independent loader, fine in tests) and pinned under unique
//! paths in /sys/fs/bpf; the guard removes the pins when dropped, also on panic, so nothing
//! stays in the kernel once the last fd is closed. Plus helpers the netlink tests share:
//! reading counters, the kernel's own SNMP counters of a namespace, and checks that a lab
//! left nothing behind.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Every program and map of one object, pinned by `bpftool prog loadall`.
pub struct Pinned {
    /// Programs, pinned by function name.
    pub dir: PathBuf,
    /// Maps, pinned by map name.
    pub maps_dir: PathBuf,
}

impl Pinned {
    /// `bpftool prog loadall target/bpf/OBJ.bpf.o DIR [type TYPE] pinmaps DIR_maps`. `TYPE`
    /// is needed when the section names are newer than bpftool's libbpf (`tc/ingress`:
    /// pass `classifier`).
    pub fn load(obj: &str, prog_type: Option<&str>) -> Pinned {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("/sys/fs/bpf/rbpf-test-{}-{n}-{obj}", std::process::id());
        let p = Pinned {
            dir: PathBuf::from(&base),
            maps_dir: PathBuf::from(format!("{base}_maps")),
        };
        let path = crate::bpf_obj(obj);
        let mut args = vec![
            "prog".to_string(),
            "loadall".into(),
            path.display().to_string(),
            p.dir.display().to_string(),
        ];
        if let Some(t) = prog_type {
            args.extend(["type".into(), t.into()]);
        }
        args.extend(["pinmaps".into(), p.maps_dir.display().to_string()]);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        crate::run("bpftool", &args);
        p
    }

    /// The pin path of program `name` (for `tc ... bpf pinned PATH`).
    pub fn prog_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A new fd of program `name`.
    pub fn prog(&self, name: &str) -> OwnedFd {
        let p = self.prog_path(name);
        loader::sys::obj_get(&p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    }

    /// The kernel's id of program `name`.
    pub fn prog_id(&self, name: &str) -> u32 {
        loader::sys::prog_info(self.prog(name).as_fd())
            .unwrap_or_else(|e| panic!("prog info of {name}: {e}"))
            .id
    }

    /// A new fd of map `name`.
    pub fn map(&self, name: &str) -> OwnedFd {
        let p = self.maps_dir.join(name);
        loader::sys::obj_get(&p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    }

    /// The first `n` u64 values of ARRAY map `name`.
    pub fn counters(&self, name: &str, n: u32) -> Vec<u64> {
        let map = self.map(name);
        (0..n)
            .map(|i| {
                let mut v = [0u8; 8];
                let found = loader::sys::map_lookup(map.as_fd(), &i.to_ne_bytes(), &mut v)
                    .unwrap_or_else(|e| panic!("lookup {name}[{i}]: {e}"));
                assert!(found, "{name}[{i}] missing");
                u64::from_ne_bytes(v)
            })
            .collect()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.maps_dir);
    }
}

/// Ids of the programs pinned under `p`, to check later that the kernel let them go.
pub fn ids_of(p: &Pinned) -> Vec<u32> {
    let mut ids = Vec::new();
    if let Ok(d) = std::fs::read_dir(&p.dir) {
        for e in d.flatten() {
            if let Ok(fd) = loader::sys::obj_get(&e.path()) {
                if let Ok(info) = loader::sys::prog_info(fd.as_fd()) {
                    ids.push(info.id);
                }
            }
        }
    }
    ids
}

/// One counter of `/proc/net/snmp` in namespace `ns`, e.g. ("Tcp", "InSegs").
pub fn snmp(ns: &str, group: &str, field: &str) -> u64 {
    let out = crate::lab::Lab::exec(ns, &["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{group}:")))
        .collect();
    assert!(lines.len() >= 2, "no {group} in /proc/net/snmp of {ns}");
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == field)
        .unwrap_or_else(|| panic!("no {group}:{field}"));
    values[i].parse().expect("snmp value")
}

/// Turn IPv6 off on both lab interfaces so that router solicitations and MLD reports do not
/// show up in exact ICMP counts (our traffic is IPv4). Written from a thread inside each
/// namespace: /proc/sys/net is the opener's namespace (no dependency on sysctl(8)).
pub fn quiet_ipv6(lab: &crate::lab::Lab) {
    for (ns, dev) in [(&lab.ns_a, &lab.veth_a), (&lab.ns_b, &lab.veth_b)] {
        let key = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
        crate::lab::Lab::in_ns(ns, || {
            std::fs::write(&key, "1").unwrap_or_else(|e| panic!("{key} in {ns}: {e}"))
        });
        let now = crate::lab::Lab::exec(ns, &["cat", &key]);
        assert_eq!(
            String::from_utf8_lossy(&now.stdout).trim(),
            "1",
            "{key} in {ns}"
        );
    }
}

/// Wait until `f` returns the same value twice 200 ms apart (traffic has settled), at most 5 s.
pub fn settled<T: PartialEq + Copy>(mut f: impl FnMut() -> T) -> T {
    let start = Instant::now();
    let mut last = f();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = f();
        if now == last || start.elapsed() > Duration::from_secs(5) {
            return now;
        }
        last = now;
    }
}

/// After a lab and its pins are dropped: its namespaces are gone and the kernel has freed
/// its programs (freeing after a namespace goes is asynchronous, so wait up to 10 s).
pub fn assert_left_nothing(namespaces: &[String], prog_ids: &[u32], pins: &[PathBuf]) {
    let listed = crate::run("ip", &["netns", "list"]);
    for ns in namespaces {
        assert!(
            !listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns.as_str())),
            "namespace {ns} still exists"
        );
        assert!(
            !Path::new(&format!("/run/netns/{ns}")).exists(),
            "/run/netns/{ns} left"
        );
    }
    for p in pins {
        assert!(!p.exists(), "pin {} left behind", p.display());
    }
    let start = Instant::now();
    loop {
        let live = crate::prog_ids();
        let left: Vec<u32> = prog_ids
            .iter()
            .copied()
            .filter(|id| live.contains(id))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "programs {left:?} still loaded after their lab went"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// rbpf-load's pins for a lab's namespaces (`/sys/fs/bpf/rbpf/OBJECT/NS@...`, the clsact
/// markers under `_clsact/`), removed when dropped: what a test that fails half-way leaves.
/// A test that checks its detach removed them checks before this goes.
pub struct RbpfPinsOf(Vec<String>);

impl RbpfPinsOf {
    pub fn new(lab: &crate::lab::Lab) -> RbpfPinsOf {
        RbpfPinsOf(vec![lab.ns_a.clone(), lab.ns_b.clone()])
    }
}

impl Drop for RbpfPinsOf {
    fn drop(&mut self) {
        let Ok(objects) = std::fs::read_dir("/sys/fs/bpf/rbpf") else {
            return;
        };
        for o in objects.flatten() {
            let Ok(entries) = std::fs::read_dir(o.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if self.0.iter().any(|ns| name.starts_with(&format!("{ns}@"))) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}
