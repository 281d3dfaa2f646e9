//! `--sec .text`: a program written without `SEC()` loads as `ip link set ... xdp obj ...
//! sec .text` loads it. The same object through iproute2 and through rbpf-load: the same
//! program (the kernel's tag), the same counts for the same traffic, and nothing left.

use loader::sys::{self, ObjKind};
use rbpf_tests::cli::{fails, ok};
use rbpf_tests::kernel::{array_u64, wait_prog_gone};
use rbpf_tests::lab::Lab;
use rbpf_tests::pins::assert_left_nothing;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The XDP program id on a device, as `ip -j link show` reports it.
fn xdp_prog_id(ns: &str, dev: &str) -> u32 {
    let out = run("ip", &["-n", ns, "-j", "link", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["xdp"]["prog"]["id"].as_u64().expect("an XDP program") as u32
}

/// The program's tag and its one map (`counts`).
fn tag_and_map(id: u32) -> (String, OwnedFd) {
    let prog = sys::fd_by_id(ObjKind::Prog, id).expect("prog by id");
    let info = sys::prog_info(prog.as_fd()).expect("prog info");
    assert_eq!(info.map_ids.len(), 1, "{info:?}");
    let map = sys::fd_by_id(ObjKind::Map, info.map_ids[0]).expect("map by id");
    (info.tag_hex(), map)
}

/// ICMP, TCP and UDP counted for 3 pings, 2 SYNs and 4 datagrams.
fn traffic_counts(lab: &Lab, counts: &OwnedFd) -> [u64; 3] {
    assert_eq!(lab.ping_a_from_b(3), 3);
    assert_eq!(lab.tcp_syn_b_to_a(2, 8080), 2);
    assert_eq!(lab.udp_b_to_a(4, 9999), 4);
    [0, 1, 2].map(|slot| array_u64(counts.as_fd(), slot))
}

#[test]
fn sec_text_loads_what_ip_link_sec_text_loads_and_counts_the_same() {
    require_priv!();
    let lab = Lab::ipv4_only();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.clone(), lab.veth_a.clone());
    let object = bpf_obj("xdp_text").display().to_string();

    // iproute2 first.
    run(
        "ip",
        &[
            "-n", &ns, "link", "set", "dev", &dev, "xdp", "obj", &object, "sec", ".text",
        ],
    );
    let ip_id = xdp_prog_id(&ns, &dev);
    let (ip_tag, ip_counts) = tag_and_map(ip_id);
    let by_ip = traffic_counts(&lab, &ip_counts);
    drop(ip_counts);
    run("ip", &["-n", &ns, "link", "set", "dev", &dev, "xdp", "off"]);
    assert!(wait_prog_gone(ip_id), "ip's program {ip_id} stayed");

    // Then rbpf-load, on the same object and the same device.
    let out = ok(&["-n", &ns, &object, "--sec", ".text", "--dev", &dev]);
    assert!(out.contains("'xdp_text_count'"), "{out}");
    assert!(
        out.contains("[type from context type 'struct xdp_md *']"),
        "{out}"
    );
    let id = xdp_prog_id(&ns, &dev);
    assert!(out.contains(&format!("prog id {id} ")), "{out}");
    let (tag, counts) = tag_and_map(id);
    assert_eq!(tag, ip_tag, "the kernel sees the same instructions");
    let by_us = traffic_counts(&lab, &counts);
    drop(counts);
    assert_eq!(by_us, by_ip);
    assert_eq!(by_us, [3, 2, 4]);

    let pin = Path::new("/sys/fs/bpf/rbpf/xdp_text").join(format!("{ns}@{dev}-xdp"));
    let out = ok(&["-n", &ns, "detach", "--dev", &dev, "--xdp"]);
    assert!(out.contains(&format!("detached prog id {id}")), "{out}");
    drop(lab);
    assert_left_nothing(&[ns], &[id], &[pin]);
}

#[test]
fn sec_text_needs_a_global_function_there_and_names_the_candidates() {
    require_priv!();
    // xdp_count has its program in `xdp` and nothing global in .text.
    let out = fails(&[
        &bpf_obj("xdp_count").display().to_string(),
        "--sec",
        ".text",
        "--dev",
        "lo",
    ]);
    assert!(out.contains("no section '.text'"), "{out}");
    assert!(out.contains("--sec xdp --prog xdp_count"), "{out}");
    // The object without SEC() still loads as a whole, and says where its program is.
    let object = bpf_obj("xdp_text").display().to_string();
    let out = ok(&["load", &object]);
    assert!(
        out.contains("prog xdp_text_count (xdp, section .text)"),
        "{out}"
    );
    let out = ok(&["inspect", &object]);
    assert!(
        out.contains("programs (functions written without SEC())"),
        "{out}"
    );
}

#[test]
fn several_functions_in_text_need_prog_and_take_their_type_from_the_hook() {
    require_priv!();
    let lab = Lab::new();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.clone(), lab.veth_a.clone());
    let dir = std::env::temp_dir().join(format!("rbpf-test-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let src = dir.join("two.bpf.c");
    // Two programs without SEC(): their argument types say XDP and tc.
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n\
         int text_xdp(struct xdp_md *ctx) { return XDP_PASS; }\n\
         int text_tc(struct __sk_buff *skb) { return 0; }\n\
         char LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )
    .expect("write two.bpf.c");
    let object = dir.join("two.bpf.o").display().to_string();
    ok(&["build", &src.display().to_string(), "-o", &object]);

    let out = fails(&["-n", &ns, &object, "--sec", ".text", "--dev", &dev]);
    assert!(
        out.contains("section '.text' holds 2 programs (text_xdp, text_tc): name one with --prog"),
        "{out}"
    );
    let out = ok(&[
        "-n",
        &ns,
        &object,
        "--sec",
        ".text",
        "--prog",
        "text_tc",
        "--dev",
        &dev,
        "--ingress",
    ]);
    assert!(
        out.contains(&format!(
            "{dev}: tc ingress prio 1 handle 1 direct-action: prog id"
        )),
        "{out}"
    );
    assert!(out.contains("'text_tc'"), "{out}");
    assert!(out.contains("[type from the hook asked for]"), "{out}");
    // Without a hook flag, the argument's type decides.
    let out = ok(&[
        "-n", &ns, &object, "--sec", ".text", "--prog", "text_xdp", "--dev", &dev,
    ]);
    assert!(
        out.contains("[type from context type 'struct xdp_md *']"),
        "{out}"
    );
    ok(&["-n", &ns, "detach", "--dev", &dev, "--ingress"]);
    ok(&["-n", &ns, "detach", "--dev", &dev, "--xdp"]);
    let _ = std::fs::remove_dir_all(&dir);
}
