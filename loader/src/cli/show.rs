//! `rbpf-load show [--dev DEV] [-j]`: XDP programs and tc bpf filters, with our pins.

use super::args::ShowArgs;
use super::attach::mode_name;
use super::{pins, CliError, CliResult};
use crate::sys::{self, ObjKind};
use netlink::Handle;
use std::os::fd::AsFd;

fn prog_name(id: u32) -> String {
    sys::fd_by_id(ObjKind::Prog, id)
        .ok()
        .and_then(|fd| sys::prog_info(fd.as_fd()).ok())
        .map(|i| i.name)
        .unwrap_or_default()
}

pub fn run(a: &ShowArgs, netns: Option<&str>) -> CliResult {
    let mut h = Handle::new().map_err(|e| CliError::new(e.to_string()))?;
    let links = match &a.dev {
        Some(d) => vec![(
            h.ifindex(d).map_err(|e| CliError::new(e.to_string()))?,
            d.clone(),
        )],
        None => h.links().map_err(|e| CliError::new(e.to_string()))?,
    };
    let pin_of = |id: u32, name: String| -> Option<String> {
        pins::dirs_for(id, &name)
            .first()
            .map(|d| d.display().to_string())
    };
    let mut rows = Vec::new();
    for (ifindex, dev) in links {
        for x in h.xdp_query(ifindex).unwrap_or_default() {
            let pin = pin_of(x.prog_id, pins::xdp_name(netns, &dev));
            let link = pin
                .as_ref()
                .is_some_and(|p| std::path::Path::new(p).join("link").exists());
            rows.push(serde_json::json!({
                "dev": dev, "ifindex": ifindex, "hook": "xdp", "mode": mode_name(x.mode),
                "bpf_link": link, "prog_id": x.prog_id, "name": prog_name(x.prog_id), "pin": pin,
            }));
        }
        rows.extend(tcx_rows(netns, ifindex, &dev));
        for f in h.tc_list(ifindex).unwrap_or_default() {
            let egress = f.direction == netlink::TcDirection::Egress;
            let name = pins::tc_name(netns, &dev, egress, f.priority, f.handle);
            rows.push(serde_json::json!({
                "dev": dev, "ifindex": ifindex, "hook": format!("tc {}", f.direction.as_str()),
                "prio": f.priority, "handle": f.handle, "prog_id": f.prog_id, "name": f.name,
                "tag": f.tag_hex(), "direct_action": f.direct_action, "pin": pin_of(f.prog_id, name),
            }));
        }
    }
    if a.dev.is_none() {
        rows.extend(app_links(netns));
    }
    if a.json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "nothing attached{}",
            a.dev
                .as_ref()
                .map(|d| format!(" to {d}"))
                .unwrap_or_default()
        );
    }
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let mut line = format!("{}: {}", s("dev"), s("hook"));
        if r["mode"].is_string() {
            let link = if r["bpf_link"] == true {
                ", bpf link"
            } else {
                ""
            };
            line += &format!(" ({}{link})", s("mode"));
        }
        if r["prio"].is_number() {
            line += &format!(
                " prio {} handle {}{}",
                r["prio"],
                r["handle"],
                if r["direct_action"] == true {
                    " direct-action"
                } else {
                    ""
                }
            );
        }
        if r["link_id"].is_number() && r["dev"].is_null() {
            line = format!("{} id {}", s("hook"), r["link_id"]);
        }
        line += &format!(": prog id {} '{}'", r["prog_id"], s("name"));
        if r["link_id"].is_number() && !r["dev"].is_null() {
            line += &format!(", link id {}", r["link_id"]);
        }
        if r["tag"].is_string() {
            line += &format!(" tag {}", s("tag"));
        }
        if r["pin"].is_string() {
            line += &format!(", pinned at {}", s("pin"));
        }
        println!("{line}");
    }
    Ok(())
}

/// The links applications pinned (`rbpf-load OBJ --all`: ROOT/OBJECT/APP/links/PROG):
/// those started in this network namespace (`-n NS`: `NS@app`), or without `-n` every
/// other one (`app`, and `--pin` directories).
fn app_links(netns: Option<&str>) -> Vec<serde_json::Value> {
    let ours = |name: &str| match netns {
        Some(ns) => name == pins::dev_key(Some(ns), "app"),
        None => !name.ends_with("@app"),
    };
    let apps = std::fs::read_dir(pins::ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|o| std::fs::read_dir(o.path()).into_iter().flatten().flatten())
        .filter(|a| ours(&a.file_name().to_string_lossy()))
        .map(|a| a.path())
        .filter(|a| a.join("links").is_dir());
    let mut rows = Vec::new();
    for app in apps {
        let mut links: Vec<_> = std::fs::read_dir(app.join("links"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|l| l.path())
            .collect();
        links.sort();
        for l in links {
            let Some(info) = sys::obj_get(&l)
                .ok()
                .and_then(|fd| sys::link_info(fd.as_fd()).ok())
            else {
                continue;
            };
            rows.push(serde_json::json!({
                "hook": format!("link {}", link_type_name(info.link_type)), "link_id": info.id,
                "prog_id": info.prog_id, "name": prog_name(info.prog_id), "pin": app.display().to_string(),
            }));
        }
    }
    rows
}

/// `enum bpf_link_type` (include/uapi/linux/bpf.h), as bpftool names them.
fn link_type_name(t: u32) -> String {
    const NAMES: [&str; 14] = [
        "unspec",
        "raw_tracepoint",
        "tracing",
        "cgroup",
        "iter",
        "netns",
        "xdp",
        "perf_event",
        "kprobe_multi",
        "struct_ops",
        "netfilter",
        "tcx",
        "uprobe_multi",
        "netkit",
    ];
    NAMES
        .get(t as usize)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("type {t}"))
}

/// The programs in a device's tcx chains, in the order they run (nothing on a kernel
/// without tcx).
fn tcx_rows(netns: Option<&str>, ifindex: u32, dev: &str) -> Vec<serde_json::Value> {
    use crate::attach::{tcx_chain, TcxDirection};
    let mut rows = Vec::new();
    for dir in [TcxDirection::Ingress, TcxDirection::Egress] {
        let Ok(chain) = tcx_chain(ifindex, dir) else {
            continue;
        };
        for (pos, (prog_id, link_id)) in chain.entries.iter().enumerate() {
            let name = prog_name(*prog_id);
            let pin = pins::dirs_for(*prog_id, &pins::tcx_name(netns, dev, dir.as_str(), &name))
                .first()
                .map(|d| d.display().to_string());
            rows.push(serde_json::json!({
                "dev": dev, "ifindex": ifindex, "hook": format!("tcx {}", dir.as_str()),
                "position": pos + 1, "prog_id": prog_id, "link_id": link_id, "name": name, "pin": pin,
            }));
        }
    }
    rows
}
