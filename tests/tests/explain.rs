//! `--explain` narrates and changes nothing: the same attachment, made once without and once
//! with it in a lab, gives the same output (apart from ids), the same kernel state (checked
//! with `ip` and `tc`), the same counters after the same traffic, and the same clean detach.
//! The narration itself names what really happened (the ids it prints are the kernel's).

use rbpf_tests::bin::rbpf_load;
use rbpf_tests::lab::Lab;
use rbpf_tests::{bpf_obj, require_priv, run};
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Output lines that are not narration, with numbers that change between runs hidden.
fn plain(o: &Output) -> Vec<String> {
    text(o)
        .lines()
        .filter(|l| !l.starts_with("[explain]"))
        .map(|l| {
            let mut out = String::new();
            let mut words = l.split(' ').peekable();
            while let Some(w) = words.next() {
                out.push_str(w);
                out.push(' ');
                if w == "id" {
                    if let Some(n) = words.next() {
                        out.push_str(if n.trim_end_matches(',').parse::<u32>().is_ok() {
                            "<id> "
                        } else {
                            n
                        });
                    }
                }
            }
            out.trim_end().to_string()
        })
        .collect()
}

fn narration(o: &Output) -> Vec<String> {
    text(o)
        .lines()
        .filter_map(|l| l.strip_prefix("[explain] ").map(str::to_string))
        .collect()
}

/// What the kernel says is attached, from iproute2, ids hidden.
fn kernel_view(lab: &Lab) -> String {
    let link = run("ip", &["-n", &lab.ns_a, "-d", "link", "show", &lab.veth_a]);
    let xdp = link
        .lines()
        .filter(|l| l.contains("xdp") || l.contains("prog/xdp"))
        .map(|l| {
            l.split_whitespace()
                .map(|w| if w.parse::<u64>().is_ok() { "<n>" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let tc = run(
        "tc",
        &[
            "-n",
            &lab.ns_a,
            "filter",
            "show",
            "dev",
            &lab.veth_a,
            "ingress",
        ],
    );
    let tc = tc
        .split_whitespace()
        .map(|w| {
            if w.parse::<u64>().is_ok() || w.starts_with("id") {
                "<n>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!("{xdp}\n{tc}")
}

/// Attach, send traffic, read the counters, detach: everything the user would see.
struct Run {
    attach: Output,
    kernel: String,
    counts: String,
    detach: Output,
    after: String,
}

fn run_once(lab: &Lab, attach: &[&str], detach: &[&str], explain: bool) -> Run {
    let mut a: Vec<&str> = vec!["-n", &lab.ns_a];
    a.extend_from_slice(attach);
    if explain {
        a.push("--explain");
    }
    let attach_out = rbpf_load(&a);
    assert!(attach_out.status.success(), "{}", text(&attach_out));
    let kernel = kernel_view(lab);
    // UDP only: nothing else in the lab sends any (ARP and IPv6 neighbour traffic vary).
    assert_eq!(lab.udp_b_to_a(5, 9999), 5);
    let pin = text(&attach_out)
        .lines()
        .find_map(|l| l.split("pinned at ").nth(1))
        .map(|p| {
            p.split(' ')
                .next()
                .unwrap_or(p)
                .trim_end_matches(',')
                .to_string()
        })
        .expect("pin dir in the output");
    let dump = rbpf_load(&["map", "dump", &format!("{pin}/maps/counts"), "-j"]);
    assert!(dump.status.success(), "{}", text(&dump));
    let rows: serde_json::Value = serde_json::from_slice(&dump.stdout).expect("json");
    let slot = |k: u64| {
        rows.as_array()
            .and_then(|r| r.iter().find(|e| e["key"] == k))
            .map(|e| e["value"].clone())
            .unwrap_or_default()
    };
    // PROTO_UDP = 2, COUNT_TAIL_FAIL = 6 (common.h).
    let counts = format!("udp {} tail-fail {}", slot(2), slot(6));
    let mut d: Vec<&str> = vec!["-n", &lab.ns_a, "detach"];
    d.extend_from_slice(detach);
    if explain {
        d.push("--explain");
    }
    let detach_out = rbpf_load(&d);
    assert!(detach_out.status.success(), "{}", text(&detach_out));
    assert!(
        !std::path::Path::new(&pin).exists(),
        "{pin} still there after detach"
    );
    Run {
        attach: attach_out,
        kernel,
        counts,
        detach: detach_out,
        after: kernel_view(lab),
    }
}

/// One run in a fresh lab, with the lab's names replaced by NS_A, DEV, ... in the outputs.
fn in_fresh_lab(attach: &[&str], detach: &[&str], explain: bool) -> Run {
    let lab = Lab::new();
    let sub = |v: &[&str]| -> Vec<String> {
        v.iter()
            .map(|s| {
                if *s == "DEV" {
                    lab.veth_a.clone()
                } else {
                    s.to_string()
                }
            })
            .collect()
    };
    let (at, de) = (sub(attach), sub(detach));
    let at: Vec<&str> = at.iter().map(String::as_str).collect();
    let de: Vec<&str> = de.iter().map(String::as_str).collect();
    let mut r = run_once(&lab, &at, &de, explain);
    let names = |t: &str| {
        t.replace(&lab.ns_a, "NS_A")
            .replace(&lab.ns_b, "NS_B")
            .replace(&lab.veth_a, "DEV")
            .replace(&lab.veth_b, "PEER")
    };
    for o in [&mut r.attach, &mut r.detach] {
        o.stdout = names(&String::from_utf8_lossy(&o.stdout)).into_bytes();
        o.stderr = names(&String::from_utf8_lossy(&o.stderr)).into_bytes();
    }
    r.kernel = names(&r.kernel);
    r.after = names(&r.after);
    r
}

fn same_with_and_without(attach: &[&str], detach: &[&str]) -> Run {
    let quiet = in_fresh_lab(attach, detach, false);
    let told = in_fresh_lab(attach, detach, true);
    assert_eq!(quiet.counts, "udp 5 tail-fail 0");
    assert!(narration(&quiet.attach).is_empty());
    assert!(!narration(&told.attach).is_empty());
    assert_eq!(plain(&quiet.attach), plain(&told.attach));
    assert_eq!(quiet.kernel, told.kernel);
    assert_eq!(quiet.counts, told.counts);
    assert_eq!(plain(&quiet.detach), plain(&told.detach));
    assert_eq!(quiet.after, told.after);
    told
}

/// The id on the line `LABEL ... prog id N ...` of the attach output.
fn attached_id(o: &Output) -> String {
    text(o)
        .lines()
        .find(|l| !l.starts_with('[') && l.contains("prog id "))
        .and_then(|l| l.split("prog id ").nth(1))
        .and_then(|r| r.split(' ').next())
        .expect("prog id")
        .to_string()
}

#[test]
fn xdp_tail_calls_with_and_without_explain() {
    require_priv!();
    let obj = bpf_obj("xdp_classifier");
    let o = obj.to_str().unwrap();
    let told = same_with_and_without(
        &[o, "--sec", "xdp_classifier", "--dev", "DEV"],
        &["--dev", "DEV", "--xdp"],
    );
    let n = narration(&told.attach);
    let has = |s: &str| n.iter().any(|l| l.contains(s));
    // Every step, in order.
    let order = [
        "BTF fix-up",
        "bpf(BPF_BTF_LOAD",
        "bpf(BPF_MAP_CREATE, map_type=BPF_MAP_TYPE_PROG_ARRAY, map_name=\"jmp_table\"",
        "bpf(BPF_PROG_LOAD, prog_type=BPF_PROG_TYPE_XDP",
        "bpf(BPF_MAP_UPDATE_ELEM, map_fd=",
        "netlink -> RTM_SETLINK",
        "netlink <- NLMSG_ERROR 0: ack",
        "bpf(BPF_OBJ_PIN",
    ];
    let mut at = 0;
    for step in order {
        let pos = n[at..]
            .iter()
            .position(|l| l.contains(step))
            .unwrap_or_else(|| panic!("'{step}' missing or out of order in:\n{}", n.join("\n")));
        at += pos;
    }
    assert!(has("IFLA_XDP {IFLA_XDP_FD"));
    assert!(has("why: a PROG_ARRAY holds programs for bpf_tail_call()"));
    assert!(has("PROG_ARRAY when its last user reference"));
    // The id the narration gives for the entry program is the one attached.
    let id = attached_id(&told.attach);
    assert!(
        n.iter()
            .any(|l| l.contains("prog_name=\"xdp_classify\"") && l.contains(&format!(", id {id},"))),
        "no PROG_LOAD line with id {id}"
    );
    // Detach narrates the netlink request that removes it.
    let d = narration(&told.detach);
    assert!(d
        .iter()
        .any(|l| l.contains("RTM_SETLINK") && l.contains("IFLA_XDP_FD -1")));
}

#[test]
fn tc_with_and_without_explain() {
    require_priv!();
    let obj = bpf_obj("tc_count");
    let o = obj.to_str().unwrap();
    let told = same_with_and_without(
        &[o, "--sec", "tc/ingress", "--dev", "DEV"],
        &["--dev", "DEV", "--ingress"],
    );
    let n = narration(&told.attach);
    let has = |s: &str| n.iter().any(|l| l.contains(s));
    assert!(has("netlink -> RTM_NEWQDISC [REQUEST|ACK|EXCL|CREATE]"));
    assert!(has("TCA_KIND \"clsact\""));
    assert!(has("TCA_BPF_FLAGS TCA_BPF_FLAG_ACT_DIRECT"));
    assert!(has("parent clsact ingress (ffff:fff2)"));
    let id = attached_id(&told.attach);
    assert!(
        has(&format!("TCA_BPF_ID {id}")),
        "the kernel's echo names prog {id}"
    );
    let d = narration(&told.detach);
    assert!(d.iter().any(|l| l.contains("netlink -> RTM_DELTFILTER")));
    assert!(d.iter().any(|l| l.contains("netlink -> RTM_DELQDISC")));
}

#[test]
fn global_data_is_explained() {
    require_priv!();
    let lab = Lab::new();
    let obj = bpf_obj("globals");
    let out = rbpf_load(&["load", obj.to_str().unwrap(), "--explain"]);
    drop(lab);
    assert!(out.status.success(), "{}", text(&out));
    let n = narration(&out);
    let freeze = n
        .iter()
        .position(|l| l.starts_with("bpf(BPF_MAP_FREEZE"))
        .expect("freeze");
    let create = n
        .iter()
        .position(|l| l.contains("map_name=\"globals.rodata\""))
        .expect("rodata create");
    assert!(create < freeze);
    assert!(n
        .iter()
        .any(|l| l.contains("BPF_F_RDONLY_PROG|BPF_F_MMAPABLE")));
    assert!(n.iter().any(|l| l.contains("why: .rodata is const")));
    assert!(n
        .iter()
        .any(|l| l.contains("[map '.bss' value + ") && l.starts_with("insn ")));
    // Said once, however many maps or programs need it.
    let whys = n
        .iter()
        .filter(|l| l.contains("why: C global variables"))
        .count();
    assert_eq!(whys, 1);
}
