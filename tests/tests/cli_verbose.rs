//! `-v` prints the verifier's log also when it accepts a program (as `tc ... verbose` and
//! `bpftool -d` do): level 1 with -v, level 2 (every instruction, register states) with
//! -vv, after the attach line; `load -j` carries it.

use rbpf_tests::cli::{ok, PinDir};
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv};

fn obj(name: &str) -> String {
    bpf_obj(name).display().to_string()
}

/// The "processed N insns" count the kernel's log gives.
fn processed(log: &str) -> u64 {
    log.split("processed ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'processed N insns' in:\n{log}"))
}

#[test]
fn load_v_prints_the_log_of_an_accepted_program_and_j_carries_it() {
    require_priv!();
    let xdp = obj("xdp_count");
    let out = ok(&["load", &xdp, "-v"]);
    let log_at = out
        .find("verifier log of prog 'xdp_count' (log_level 1):")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out[..log_at].contains("prog xdp_count (xdp, section xdp)"),
        "{out}"
    );
    // The summary agrees with what the kernel says it verified (bpf_prog_info).
    let line = out.lines().next().unwrap_or("");
    let verified: u64 = line
        .split("verifier processed ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(processed(&out[log_at..]), verified, "{out}");

    let plain = ok(&["load", &xdp]);
    assert!(!plain.contains("verifier log"), "{plain}");

    // -vv: level 2, every instruction with the registers' states.
    let out = ok(&["load", &xdp, "-vv"]);
    assert!(out.contains("(log_level 2):"), "{out}");
    assert!(out.contains("R1=ctx"), "{out}");
    assert!(out.lines().count() > 50, "{out}");

    let out = ok(&["load", &xdp, "-v", "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("load -j");
    let log = v["programs"][0]["verifier_log"]
        .as_str()
        .expect("verifier_log");
    assert_eq!(
        processed(log),
        v["programs"][0]["verified_insns"].as_u64().unwrap_or(0)
    );
    let out = ok(&["load", &xdp, "-j"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("load -j");
    assert!(v["programs"][0]["verifier_log"].is_null(), "{out}");
}

#[test]
fn attach_v_prints_the_log_after_the_attach_line() {
    require_priv!();
    let lab = Lab::new();
    let _pins = rbpf_tests::pins::RbpfPinsOf::new(&lab);
    let (ns, dev) = (lab.ns_a.as_str(), lab.veth_a.as_str());
    let out = ok(&[
        "-n",
        ns,
        &obj("tc_count"),
        "--sec",
        "tc/ingress",
        "--dev",
        dev,
        "-v",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{dev}: tc ingress prio 1 handle 1")),
        "{out}"
    );
    assert_eq!(
        lines[1], "verifier log of prog 'count_ingress' (log_level 1):",
        "{out}"
    );
    assert!(lines[2].trim_start().starts_with("processed "), "{out}");
    ok(&["-n", ns, "detach", "--dev", dev, "--ingress"]);

    // A tracing attachment: after the link and pin lines.
    let pin = PinDir::new("verbose");
    let out = ok(&[
        &obj("core_task"),
        "--sec",
        "raw_tp/sys_enter",
        "--pin",
        &pin.0,
        "-v",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("on raw tracepoint 'sys_enter'"), "{out}");
    assert!(lines[1].starts_with("pinned at "), "{out}");
    assert_eq!(
        lines[2], "verifier log of prog 'core_task' (log_level 1):",
        "{out}"
    );
    ok(&["detach", "--pin", &pin.0]);
}
