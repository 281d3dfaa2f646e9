//! `rbpf-load map lookup|update|delete|getnext|pin|show` on real maps, each checked with
//! bpftool: a struct key written as JSON through BTF, counted by real packets; a PROG_ARRAY
//! emptied and refilled bringing the tail calls back; maps by id, pin and name.

use rbpf_tests::cli::{fails, ok, PinDir};
use rbpf_tests::lab::Lab;
use rbpf_tests::pins::Pinned;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::path::{Path, PathBuf};

/// `map show` and `name:NAME` open every map by id. Opening a PROG_ARRAY by id while the
/// kernel's deferred work that empties it is still pending leaks a reference (see
/// tests/tests/inject_failures.rs), so they never run while this binary tears one down.
static EVERY_MAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    EVERY_MAP.lock().unwrap_or_else(|e| e.into_inner())
}

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

fn pin_dir(object: &str, ns: &str, attachment: &str) -> PathBuf {
    Path::new("/sys/fs/bpf/rbpf")
        .join(object)
        .join(format!("{ns}@{attachment}"))
}

/// `bpftool -j map lookup pinned PATH key hex ...`: the value's bytes, or None.
fn bpftool_lookup(map: &Path, key: &[u8]) -> Option<Vec<u8>> {
    let mut args = vec!["-j", "map", "lookup", "pinned"];
    let path = map.display().to_string();
    args.push(&path);
    args.extend(["key", "hex"]);
    let hex: Vec<String> = key.iter().map(|b| format!("{b:02x}")).collect();
    args.extend(hex.iter().map(|s| s.as_str()));
    let out = std::process::Command::new("bpftool")
        .args(&args)
        .output()
        .expect("bpftool");
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool -j");
    let bytes = v["value"].as_array()?;
    Some(
        bytes
            .iter()
            .filter_map(|b| b.as_str())
            .map(|s| u8::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex"))
            .collect(),
    )
}

/// The key `{"saddr": "10.0.0.2", "proto": 17}` of struct flow_key, as bytes.
fn flow_key(proto: u8) -> Vec<u8> {
    let mut k = vec![0u8; 20];
    k[..4].copy_from_slice(&[10, 0, 0, 2]);
    k[16] = proto;
    k
}

#[test]
fn a_struct_key_written_as_json_finds_what_real_packets_counted() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    ok(&["-n", ns, &obj("xdp_flows"), "--sec", "xdp", "--dev", dev]);
    let flows = pin_dir("xdp_flows", ns, &format!("{dev}-xdp")).join("maps/flows");
    let map = flows.display().to_string();
    assert_eq!(lab.udp_b_to_a(5, 9999), 5);

    let udp = r#"{"saddr": "10.0.0.2", "proto": 17}"#;
    let out = ok(&["map", "lookup", &map, "key", udp, "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("lookup -j");
    assert_eq!(v["value"], 5, "{out}");
    assert_eq!(v["key"]["saddr"], "10.0.0.2", "{out}");
    assert_eq!(
        bpftool_lookup(&flows, &flow_key(17)),
        Some(5u64.to_le_bytes().to_vec())
    );

    // update with a JSON key, read back by bpftool; noexist refuses an existing key.
    let tcp = r#"{"saddr": "10.0.0.2", "proto": 6}"#;
    let out = ok(&["map", "update", &map, "key", tcp, "value", "42", "noexist"]);
    assert!(out.contains("=> 42"), "{out}");
    assert_eq!(
        bpftool_lookup(&flows, &flow_key(6)),
        Some(42u64.to_le_bytes().to_vec())
    );
    let out = fails(&["map", "update", &map, "key", tcp, "value", "1", "noexist"]);
    assert!(
        out.contains("File exists") && out.contains("noexist"),
        "{out}"
    );
    // The same key as hex bytes.
    let hex = [
        "hex", "0a000002", "00000000", "00000000", "00000000", "06000000",
    ];
    let out = ok(&[&["map", "lookup", &map, "key"][..], &hex[..]].concat());
    assert!(out.ends_with("=> 42\n"), "{out}");

    // getnext walks both keys; delete removes one, and bpftool no longer finds it.
    let out = ok(&["map", "getnext", &map, "-j"]);
    assert!(out.contains("\"next_key\":{"), "{out}");
    ok(&["map", "delete", &map, "key", tcp]);
    assert_eq!(bpftool_lookup(&flows, &flow_key(6)), None);
    let out = fails(&["map", "lookup", &map, "key", tcp]);
    assert!(out.contains("no entry for key"), "{out}");

    // A member the struct does not have is named, with the ones it has.
    let out = fails(&["map", "lookup", &map, "key", r#"{"src": "10.0.0.2"}"#]);
    assert!(
        out.contains("no member 'src' (members: saddr, proto, pad)"),
        "{out}"
    );
    ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
}

#[test]
fn an_emptied_prog_array_refilled_by_map_update_brings_the_tail_calls_back() {
    require_priv!();
    let _serial = serial();
    let lab = Lab::ipv4_only();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    ok(&[
        "-n",
        ns,
        &obj("xdp_classifier"),
        "--sec",
        "xdp_classifier",
        "--dev",
        dev,
    ]);
    let dir = pin_dir("xdp_classifier", ns, &format!("{dev}-xdp"));
    let (table, counts) = (dir.join("maps/jmp_table"), dir.join("maps/counts"));
    let udp_count = || -> u64 {
        let out = ok(&[
            "map",
            "lookup",
            &counts.display().to_string(),
            "key",
            "2",
            "-j",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("lookup -j");
        v["value"].as_u64().expect("a number")
    };
    assert_eq!(lab.udp_b_to_a(2, 9999), 2);
    assert_eq!(udp_count(), 2);

    // The last user reference goes: the kernel empties the table (in deferred work, so
    // wait until a jump fails, slot 6) and UDP is no longer counted. The table is opened
    // again only after that: see rbpf_tests::kernel::prog_gone on opening one meanwhile.
    std::fs::remove_file(&table).expect("rm the table's pin");
    let c = counts.display().to_string();
    let failed = || -> u64 {
        let out = ok(&["map", "lookup", &c, "key", "6", "-j"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("lookup -j");
        v["value"].as_u64().expect("a number")
    };
    let start = std::time::Instant::now();
    while failed() == 0 {
        assert!(start.elapsed().as_secs() < 5, "the table was never emptied");
        lab.udp_b_to_a(1, 9999);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = udp_count();
    assert_eq!(lab.udp_b_to_a(2, 9999), 2);
    assert_eq!(udp_count(), before, "no UDP counted through an empty table");
    let prog = dir.join("xdp_classify").display().to_string();
    let by_prog = format!("name:jmp_table@{prog}");
    let out = ok(&["map", "dump", &by_prog]);
    assert!(out.contains("0 elements"), "{out}");

    // Pin it again and refill slot 2 by the handler's pin; bpftool sees the program's id.
    let t = table.display().to_string();
    ok(&["map", "pin", &by_prog, &t]);
    let out = ok(&[
        "map",
        "update",
        &t,
        "key",
        "2",
        "value",
        &dir.join("handle_udp").display().to_string(),
    ]);
    let udp_id = loader::sys::prog_info(std::os::fd::AsFd::as_fd(
        &loader::sys::obj_get(&dir.join("handle_udp")).expect("handle_udp pin"),
    ))
    .expect("prog info")
    .id;
    assert!(
        out.contains(&format!("slot 2 = prog id {udp_id} 'handle_udp'")),
        "{out}"
    );
    assert_eq!(
        bpftool_lookup(&table, &2u32.to_le_bytes()),
        Some(udp_id.to_le_bytes().to_vec())
    );
    assert_eq!(lab.udp_b_to_a(3, 9999), 3);
    assert_eq!(udp_count(), before + 3, "the tail calls are back");

    // Slot 1 by id:N; a value that is not a program is refused, naming what a slot takes.
    let tcp = loader::sys::obj_get(&dir.join("handle_tcp")).expect("handle_tcp pin");
    let tcp_id = loader::sys::prog_info(std::os::fd::AsFd::as_fd(&tcp))
        .expect("info")
        .id;
    ok(&[
        "map",
        "update",
        &t,
        "key",
        "1",
        "value",
        &format!("id:{tcp_id}"),
    ]);
    let out = ok(&["map", "lookup", &t, "key", "1"]);
    assert_eq!(out, format!("1 => {tcp_id}\n"));
    let out = fails(&["map", "update", &t, "key", "0", "value", "1", "2"]);
    assert!(out.contains("a PROG_ARRAY slot holds a program"), "{out}");
    let table_id = loader::sys::map_info(std::os::fd::AsFd::as_fd(
        &loader::sys::obj_get(&table).expect("the table's pin"),
    ))
    .expect("map info")
    .id;
    ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
    // Gone before another test of this binary opens every map (see EVERY_MAP).
    let start = std::time::Instant::now();
    while !rbpf_tests::kernel::map_gone(table_id) {
        assert!(
            start.elapsed().as_secs() < 10,
            "jmp_table {table_id} stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn map_show_and_pin_agree_with_bpftool() {
    require_priv!();
    let _serial = serial();
    let p = Pinned::load("xdp_count", None);
    let counts = p.maps_dir.join("counts").display().to_string();
    let out = ok(&["map", "show", &counts, "-j"]);
    let ours: serde_json::Value = serde_json::from_str(&out).expect("map show -j");
    let ours = &ours[0];
    let theirs: serde_json::Value =
        serde_json::from_str(&run("bpftool", &["-j", "map", "show", "pinned", &counts]))
            .expect("bpftool -j");
    for (a, b) in [
        ("id", "id"),
        ("type", "type"),
        ("name", "name"),
        ("key_size", "bytes_key"),
        ("value_size", "bytes_value"),
        ("max_entries", "max_entries"),
        ("btf_id", "btf_id"),
    ] {
        assert_eq!(ours[a], theirs[b], "{a}: ours {ours}, bpftool {theirs}");
    }
    assert_eq!(ours["pinned"][0], counts.as_str(), "{ours}");

    // A second pin of the same map, by id: both listed, bpftool opens the same map there.
    let id = ours["id"].as_u64().expect("id");
    let extra = PinDir::new("map-pin");
    // A pin of a map is a file, which PinDir (a directory) would leave.
    struct RmFile<'a>(&'a str);
    impl Drop for RmFile<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _rm = RmFile(&extra.0);
    let out = ok(&["map", "pin", &format!("id:{id}"), &extra.0]);
    assert!(
        out.contains(&format!("(id {id}): pinned at {}", extra.0)),
        "{out}"
    );
    let again: serde_json::Value =
        serde_json::from_str(&run("bpftool", &["-j", "map", "show", "pinned", &extra.0]))
            .expect("bpftool -j");
    assert_eq!(again["id"].as_u64(), Some(id));
    let out = ok(&["map", "show", &format!("id:{id}")]);
    assert!(
        out.contains(&format!("\tpinned {}", extra.0))
            && out.contains(&format!("\tpinned {counts}")),
        "{out}"
    );
    // In the list of every map too.
    let all = ok(&["map", "show"]);
    assert!(
        all.contains(&format!(
            "{id}: array  name counts  key 4B  value 8B  max_entries 8"
        )),
        "{all}"
    );

    // update by pin, read back by bpftool; an array's element cannot be deleted.
    ok(&["map", "update", &counts, "key", "3", "value", "0x77"]);
    assert_eq!(
        bpftool_lookup(Path::new(&counts), &3u32.to_le_bytes()),
        Some(0x77u64.to_le_bytes().to_vec())
    );
    let out = fails(&["map", "delete", &counts, "key", "3"]);
    assert!(
        out.contains("an array's elements cannot be deleted"),
        "{out}"
    );
    let out = fails(&["map", "update", &counts, "key", "9", "value", "1"]);
    assert!(out.contains("past the array's 8 entries"), "{out}");
    let out = fails(&["map", "update", &counts, "key", "1", "value", "1", "2", "3"]);
    assert!(
        out.contains("3 bytes given") && out.contains("takes 8 bytes"),
        "{out}"
    );
}

#[test]
fn a_name_two_maps_share_lists_their_ids() {
    require_priv!();
    let _serial = serial();
    let (a, b) = (
        Pinned::load("xdp_drop_all", None),
        Pinned::load("xdp_drop_all", None),
    );
    let id = |p: &Pinned| {
        loader::sys::map_info(std::os::fd::AsFd::as_fd(&p.map("stats")))
            .expect("info")
            .id
    };
    let out = fails(&["map", "dump", "name:stats"]);
    assert!(out.contains("maps are named 'stats'"), "{out}");
    assert!(
        out.contains(&id(&a).to_string()) && out.contains(&id(&b).to_string()),
        "{out}"
    );
    assert!(out.contains("name one as id:ID"), "{out}");
    let out = fails(&["map", "dump", "name:rbpf_no_such_map"]);
    assert!(out.contains("no map named 'rbpf_no_such_map'"), "{out}");
}
