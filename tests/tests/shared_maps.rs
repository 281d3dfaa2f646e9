//! Maps shared through bpffs (issue 13): a map pinned by name (libbpf's
//! LIBBPF_PIN_BY_NAME) or the iproute2 way (PIN_GLOBAL_NS) is one kernel map for every load
//! that declares it, a definition that differs is refused before any program loads, and
//! `--reuse-map` takes any pinned map. Cross-checked against libbpf (bpftool) and tc, which
//! must see the same map ids.

use loader::sys;
use rbpf_tests::cli::{fails, ok, PinDir};
use rbpf_tests::kernel::array_u64;
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// `rbpf-load load -j ...`: the id of map `name` and whether it was shared, reused.
fn load_map(args: &[&str], name: &str) -> (u64, Option<(String, bool)>) {
    let mut all = vec!["load", "-j"];
    all.extend_from_slice(args);
    let v: serde_json::Value = serde_json::from_str(&ok(&all)).expect("load -j");
    let m = v["maps"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no map {name} in {v}"))
        .clone();
    let shared = m["shared"]["path"].as_str().map(|p| {
        (
            p.to_string(),
            m["shared"]["reused"].as_bool().expect("reused"),
        )
    });
    (m["id"].as_u64().expect("id"), shared)
}

/// The id of the map pinned at `path`, as bpftool sees it.
fn bpftool_map_id(path: &str) -> u64 {
    let out = run("bpftool", &["-j", "map", "show", "pinned", path]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("bpftool -j");
    v["id"].as_u64().expect("id")
}

/// The map ids a pinned program uses, as bpftool sees them.
fn bpftool_prog_map_ids(path: &str) -> Vec<u64> {
    let out = run("bpftool", &["-j", "prog", "show", "pinned", path]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("bpftool -j");
    v["map_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
        .unwrap_or_default()
}

fn getppid_n(n: u32) {
    for _ in 0..n {
        nix::unistd::getppid();
    }
}

#[test]
fn loads_share_a_map_pinned_by_name_and_a_different_definition_is_refused() {
    require_priv!();
    let root = PinDir::new("share-root");
    let keep = PinDir::new("share-keep");
    let (first, shared) = load_map(
        &[&obj("shared_counts"), "--pin-root", &root.0],
        "shared_counts",
    );
    let pin = format!("{}/shared_counts", root.0);
    assert_eq!(
        shared,
        Some((pin.clone(), false)),
        "pinned by the first load"
    );
    let (second, shared) = load_map(
        &[&obj("shared_counts"), "--pin-root", &root.0],
        "shared_counts",
    );
    assert_eq!(second, first, "the second load uses the first one's map");
    assert_eq!(shared, Some((pin.clone(), true)));

    // Programs of two processes count into that one map: a tc program in a lab and a
    // tracepoint program kept by a pin, both attached after the map was pinned.
    let lab = Lab::ipv4_only();
    ok(&[
        "-n",
        &lab.ns_a,
        &obj("shared_counts"),
        "--sec",
        "tc",
        "--dev",
        &lab.veth_a,
        "--ingress",
        "--pin-root",
        &root.0,
    ]);
    ok(&[
        &obj("shared_counts"),
        "--sec",
        "tracepoint/syscalls/sys_enter_getppid",
        "--pin",
        &keep.0,
        "--pin-root",
        &root.0,
    ]);
    let map = sys::obj_get(Path::new(&pin)).expect("the shared pin");
    assert_eq!(lab.ping_a_from_b(4), 4);
    getppid_n(7);
    assert!(array_u64(map.as_fd(), 0) >= 4, "tc counted the pings");
    assert!(
        array_u64(map.as_fd(), 1) >= 7,
        "the tracepoint counted our getppid calls"
    );
    assert_eq!(
        sys::map_info(map.as_fd()).expect("info").id as u64,
        first,
        "still the first load's map"
    );

    // A definition that differs: refused, naming map, path and field; nothing loaded.
    let msg = fails(&[
        "load",
        &obj("shared_counts_other"),
        "--pin-root",
        &root.0,
        "--explain",
    ]);
    assert!(
        msg.contains("map 'shared_counts'")
            && msg.contains(&pin)
            && msg.contains("max_entries 8 here, 4 pinned"),
        "{msg}"
    );
    assert!(
        !msg.contains("BPF_PROG_LOAD"),
        "a program was loaded:\n{msg}"
    );
    ok(&["-n", &lab.ns_a, "detach", "--dev", &lab.veth_a, "--ingress"]);
    ok(&["detach", "--pin", &keep.0]);
}

/// libbpf (bpftool) and rbpf-load find each other's map at /sys/fs/bpf/NAME, and both
/// refuse the definition that differs.
#[test]
fn bpftool_and_rbpf_load_share_a_map_pinned_by_name() {
    require_priv!();
    let pin = "/sys/fs/bpf/shared_counts";
    let _ = std::fs::remove_file(pin);
    let progs = PinDir::new("share-bpftool");
    // rbpf-load pins first; libbpf's load of the same object uses that map.
    let (ours, shared) = load_map(&[&obj("shared_counts")], "shared_counts");
    assert_eq!(shared, Some((pin.to_string(), false)));
    assert_eq!(bpftool_map_id(pin), ours);
    run(
        "bpftool",
        &["prog", "loadall", &obj("shared_counts"), &progs.0],
    );
    assert_eq!(
        bpftool_prog_map_ids(&format!("{}/share_tc", progs.0)),
        vec![ours],
        "libbpf's program uses our map"
    );
    // Both refuse the other definition.
    let theirs = Command::new("bpftool")
        .args([
            "prog",
            "loadall",
            &obj("shared_counts_other"),
            &format!("{}-x", progs.0),
        ])
        .output()
        .expect("bpftool");
    assert!(!theirs.status.success());
    assert!(
        String::from_utf8_lossy(&theirs.stderr).contains("parameter mismatch"),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let msg = fails(&["load", &obj("shared_counts_other")]);
    assert!(msg.contains("max_entries 8 here, 4 pinned"), "{msg}");
    // libbpf pins first; our load uses its map.
    std::fs::remove_dir_all(&progs.0).expect("rm bpftool's pins");
    std::fs::remove_file(pin).expect("rm the shared pin");
    run(
        "bpftool",
        &["prog", "loadall", &obj("shared_counts"), &progs.0],
    );
    let libbpfs = bpftool_map_id(pin);
    assert_ne!(libbpfs, ours, "a new map");
    let (again, shared) = load_map(&[&obj("shared_counts")], "shared_counts");
    assert_eq!(again, libbpfs, "we use libbpf's map");
    assert_eq!(shared, Some((pin.to_string(), true)));
    std::fs::remove_file(pin).expect("rm the shared pin");
}

/// tc (iproute2 on libbpf) pins a by-name map under /sys/fs/bpf/tc/globals: with that
/// pin root, a tc filter added by tc and one added by rbpf-load count into one map.
#[test]
fn tc_and_rbpf_load_share_a_map_under_tc_globals() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let globals = "/sys/fs/bpf/tc/globals";
    // The map's name is the object's: another test of this kind must not run at once.
    let pin = format!("{globals}/shared_counts");
    let _ = std::fs::remove_file(&pin);
    // Not `tc -n`: that runs tc in a mount namespace of its own with a bpffs of its own,
    // whose pins nobody else sees. nsenter changes the network namespace only.
    let netns = format!("--net=/run/netns/{ns}");
    run(
        "nsenter",
        &[&netns, "tc", "qdisc", "add", "dev", dev, "clsact"],
    );
    run(
        "nsenter",
        &[
            &netns,
            "tc",
            "filter",
            "add",
            "dev",
            dev,
            "ingress",
            "bpf",
            "da",
            "obj",
            &obj("shared_counts"),
            "sec",
            "tc",
        ],
    );
    let tcs = bpftool_map_id(&pin);
    let out = ok(&[
        "-n",
        ns,
        &obj("shared_counts"),
        "--sec",
        "tc",
        "--dev",
        dev,
        "--egress",
        "--pin-root",
        globals,
        "--explain",
    ]);
    assert!(out.contains(&format!("BPF_OBJ_GET, \"{pin}\"")), "{out}");
    let map = sys::obj_get(Path::new(&pin)).expect("pin");
    assert_eq!(lab.ping_a_from_b(3), 3);
    // Both directions count into slot 0 of the one map: 3 requests in, 3 replies out.
    assert!(
        array_u64(map.as_fd(), 0) >= 6,
        "{}",
        array_u64(map.as_fd(), 0)
    );
    let shown = run(
        "tc",
        &["-n", ns, "-j", "filter", "show", "dev", dev, "egress"],
    );
    let v: serde_json::Value = serde_json::from_str(&shown).expect("tc -j");
    let prog = v
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|f| f["options"]["prog"]["id"].as_u64())
        .expect("our filter");
    let ids = run("bpftool", &["-j", "prog", "show", "id", &prog.to_string()]);
    let ids: serde_json::Value = serde_json::from_str(&ids).expect("bpftool -j");
    assert_eq!(
        ids["map_ids"],
        serde_json::json!([tcs]),
        "our filter uses tc's map"
    );
    ok(&["-n", ns, "detach", "--dev", dev, "--egress"]);
    run("tc", &["-n", ns, "qdisc", "del", "dev", dev, "clsact"]);
    std::fs::remove_file(&pin).expect("rm");
}

/// iproute2's legacy `struct bpf_elf_map` with PIN_GLOBAL_NS (pinned at
/// /sys/fs/bpf/tc/globals/NAME) and PIN_OBJECT_NS (at /sys/fs/bpf/tc/SHA1/NAME, SHA1 the
/// object file's), where iproute2's legacy loader puts them, reused by the next load.
/// (Debian's tc is built on libbpf 1.x, which refuses legacy map sections, so the
/// cross-check with tc is the test above, on a BTF map.)
#[test]
fn legacy_pin_global_and_object_ns_maps_are_shared() {
    require_priv!();
    let pin = "/sys/fs/bpf/tc/globals/rbpf_tc_glob";
    let sum = run("sha1sum", &[&obj("tc_globals")]);
    let own = format!(
        "/sys/fs/bpf/tc/{}",
        sum.split_whitespace().next().expect("sum")
    );
    let obj_pin = format!("{own}/rbpf_tc_obj");
    let _ = std::fs::remove_file(pin);
    let _ = std::fs::remove_dir_all(&own);
    let (first, shared) = load_map(&[&obj("tc_globals")], "rbpf_tc_glob");
    assert_eq!(shared, Some((pin.to_string(), false)));
    assert_eq!(bpftool_map_id(pin), first);
    let (second, shared) = load_map(&[&obj("tc_globals")], "rbpf_tc_glob");
    assert_eq!((second, shared), (first, Some((pin.to_string(), true))));
    let (own_id, shared) = load_map(&[&obj("tc_globals")], "rbpf_tc_obj");
    assert_eq!(
        shared,
        Some((obj_pin.clone(), true)),
        "pinned by the first load"
    );
    assert_eq!(bpftool_map_id(&obj_pin), own_id);
    let inspect = ok(&["inspect", &obj("tc_globals")]);
    for (kind, at) in [("PIN_GLOBAL_NS", pin), ("PIN_OBJECT_NS", obj_pin.as_str())] {
        assert!(
            inspect.contains(&format!("pinning {kind} at {at}")),
            "{inspect}"
        );
    }
    std::fs::remove_file(pin).expect("rm");
    std::fs::remove_dir_all(&own).expect("rm");
}

#[test]
fn reuse_map_takes_a_pinned_map_and_says_what_is_wrong() {
    require_priv!();
    let dir = PinDir::new("reuse");
    ok(&["load", &obj("tc_count"), "--pin", &dir.0]);
    let counts = format!("{}/maps/counts", dir.0);
    let pinned = bpftool_map_id(&counts);
    let spec = format!("counts={counts}");
    let (id, shared) = load_map(&[&obj("tc_count"), "--reuse-map", &spec], "counts");
    assert_eq!((id, shared), (pinned, Some((counts.clone(), true))));
    let msg = fails(&[
        "load",
        &obj("tc_count"),
        "--reuse-map",
        &format!("nope={counts}"),
        "--explain",
    ]);
    assert!(
        !msg.contains("BPF_PROG_LOAD"),
        "a program was loaded:\n{msg}"
    );
    assert!(
        msg.contains("map 'nope'") && msg.contains("no map of that name (maps: counts)"),
        "{msg}"
    );
    let prog = format!("{}/count_ingress", dir.0);
    let msg = fails(&[
        "load",
        &obj("tc_count"),
        "--reuse-map",
        &format!("counts={prog}"),
        "--explain",
    ]);
    assert!(
        !msg.contains("BPF_PROG_LOAD"),
        "a program was loaded:\n{msg}"
    );
    assert!(
        msg.contains("a program is pinned there, not a map"),
        "{msg}"
    );
    let msg = fails(&[
        "load",
        &obj("tc_count"),
        "--reuse-map",
        "counts=/sys/fs/bpf/no/such",
    ]);
    assert!(
        msg.contains("cannot open the pin") && msg.contains("/sys/fs/bpf/no/such"),
        "{msg}"
    );
    let msg = fails(&["load", &obj("tc_count"), "--reuse-map", "counts"]);
    assert!(msg.contains("expected NAME=PATH"), "{msg}");
}
