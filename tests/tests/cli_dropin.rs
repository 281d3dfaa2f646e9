//! The drop-in's small promises: no flag silently does nothing (each misplaced flag is an
//! error before anything is loaded), maps named as bpftool names them, and the hints users
//! read when the kernel says no.

use rbpf_tests::cli::{fails, ok};
use rbpf_tests::lab::Lab;
use rbpf_tests::pins::Pinned;
use rbpf_tests::{bpf_obj, require_priv};

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// With --explain, a load would narrate its bpf() calls: none may appear.
fn refused_before_loading(args: &[&str]) -> String {
    let mut v = args.to_vec();
    v.push("--explain");
    let out = fails(&v);
    assert!(!out.contains("bpf(BPF_"), "something was loaded:\n{out}");
    assert!(!out.contains("prog id"), "something was attached:\n{out}");
    out
}

#[test]
fn flags_that_do_not_apply_are_errors_before_anything_is_loaded() {
    require_priv!();
    let lab = Lab::new();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let tc_flow = obj("tc_flow");
    let base = [
        "-n",
        ns,
        &tc_flow,
        "--sec",
        "tc",
        "--prog",
        "tc_flow_ingress",
    ];

    // --events without --foreground would exit 0 and print nothing.
    let out = refused_before_loading(
        &[
            &base[..],
            &["--dev", dev, "--ingress", "--events", "events"],
        ]
        .concat(),
    );
    assert!(out.contains("--events needs --foreground"), "{out}");
    let out =
        refused_before_loading(&[&base[..], &["--dev", dev, "--ingress", "--trace-pipe"]].concat());
    assert!(out.contains("--trace-pipe needs --foreground"), "{out}");

    // --xdp on a tc section, --ingress / --prio on an XDP program, --dev on a tracepoint.
    let out = refused_before_loading(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        dev,
        "--xdp",
    ]);
    assert!(
        out.contains("--xdp does not apply: prog 'count_ingress'"),
        "{out}"
    );
    assert!(out.contains("tc classifier"), "{out}");
    let out = refused_before_loading(&[
        "-n",
        ns,
        &obj("xdp_count"),
        "--sec",
        "xdp",
        "--dev",
        dev,
        "--ingress",
        "--prio",
        "2",
    ]);
    assert!(
        out.contains("--ingress, --prio does not apply: prog 'xdp_count'"),
        "{out}"
    );
    let out = refused_before_loading(&[
        &obj("core_task"),
        "--sec",
        "raw_tp/sys_enter",
        "--dev",
        dev,
        "--foreground",
    ]);
    assert!(out.contains("--dev does not apply"), "{out}");

    // --events checked before the attach: the map, its type, the struct.
    let fg = [&base[..], &["--dev", dev, "--ingress", "--foreground"]].concat();
    let out = refused_before_loading(&[&fg[..], &["--events", "events=no_such"]].concat());
    assert!(
        out.contains("no struct 'no_such' in the object's BTF"),
        "{out}"
    );
    assert!(
        out.contains("structs: ") && out.contains("flow_event"),
        "{out}"
    );
    let out = refused_before_loading(&[&fg[..], &["--events", "nomap"]].concat());
    assert!(
        out.contains("no map 'nomap' in tc_flow") && out.contains("maps: "),
        "{out}"
    );
    let out = refused_before_loading(&[&fg[..], &["--events", ".bss"]].concat());
    assert!(out.contains("a array map has no events"), "{out}");

    // Nothing was attached, so no clsact qdisc appeared.
    let q = rbpf_tests::run("tc", &["-n", ns, "qdisc", "show", "dev", dev]);
    assert!(!q.contains("clsact"), "{q}");
}

#[test]
fn map_dump_takes_every_form_the_help_names() {
    require_priv!();
    let p = Pinned::load("xdp_count", None);
    let pin = p.maps_dir.join("counts").display().to_string();
    let by_pin = ok(&["map", "dump", &pin, "-j"]);
    let id = loader::sys::map_info(std::os::fd::AsFd::as_fd(&p.map("counts")))
        .expect("map info")
        .id;
    for form in [id.to_string(), format!("id:{id}"), format!("pinned:{pin}")] {
        assert_eq!(ok(&["map", "dump", &form, "-j"]), by_pin, "{form}");
    }
    let out = fails(&["map", "dump", "id:4294967295"]);
    assert!(
        out.contains("map id 4294967295") && out.contains("hint:"),
        "{out}"
    );
    let out = fails(&["map", "dump", "counts"]);
    assert!(out.contains("name:NAME"), "{out}");
}

#[test]
fn a_wrong_netns_hints_ip_netns_list() {
    let out = fails(&["-n", "rbpf-no-such-namespace", "show"]);
    assert!(
        out.contains("network namespace 'rbpf-no-such-namespace'"),
        "{out}"
    );
    assert!(out.contains("hint: `ip netns list`"), "{out}");
}

#[test]
fn help_says_prio_and_handle_default_to_1() {
    let out = ok(&["--help"]);
    assert!(out.contains("tc filter priority (default 1)"), "{out}");
    assert!(out.contains("tc filter handle (default 1)"), "{out}");
    assert!(!out.contains("the kernel chooses"), "{out}");
}

#[test]
fn native_then_generic_xdp_says_to_detach_the_other_mode_first() {
    require_priv!();
    let lab = Lab::new();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let xdp = obj("xdp_count");
    ok(&[
        "-n", ns, &xdp, "--sec", "xdp", "--dev", dev, "--mode", "native",
    ]);
    let out = fails(&[
        "-n",
        ns,
        &xdp,
        "--sec",
        "xdp",
        "--dev",
        dev,
        "--mode",
        "skb",
        "--replace",
    ]);
    assert!(
        out.contains("Native and generic XDP can't be active at the same time"),
        "{out}"
    );
    assert!(
        out.contains(&format!("`rbpf-load detach --dev {dev} --xdp` first")),
        "{out}"
    );
    assert!(!out.contains("add --replace"), "{out}");
    let out = ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
    assert!(out.contains("detached prog id"), "{out}");
    ok(&[
        "-n", ns, &xdp, "--sec", "xdp", "--dev", dev, "--mode", "skb",
    ]);
    ok(&["-n", ns, "detach", "--dev", dev, "--xdp"]);
}

#[test]
fn explain_names_the_expected_attach_type() {
    require_priv!();
    let out = fails(&["load", &obj("bad_verifier"), "--explain"]);
    assert!(out.contains("expected_attach_type=BPF_XDP,"), "{out}");
}
