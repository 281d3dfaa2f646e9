//! `rbpf-load detach --dev DEV (--xdp | --ingress | --egress) [--prio N --handle N] | --pin DIR`

use super::args::DetachArgs;
use super::attach::cleanup_clsact;
use super::{pins, CliError, CliResult};
use netlink::{TcDirection, XdpMode};
use std::path::Path;

pub fn run(a: &DetachArgs, netns: Option<&str>) -> CliResult {
    if let Some(dir) = &a.pin {
        return detach_pin(dir);
    }
    let dev = a
        .dev
        .as_deref()
        .ok_or_else(|| CliError::new("--dev or --pin is required"))?;
    let mut h = super::attach::nl_explained(a.explain)?;
    let ifindex = h.ifindex(dev).map_err(|e| CliError::new(e.to_string()))?;
    if a.xdp {
        let attached = h
            .xdp_query(ifindex)
            .map_err(|e| CliError::new(e.to_string()))?;
        if attached.is_empty() {
            return Err(CliError::new(format!("{dev}: no XDP program attached")));
        }
        if a.explain {
            explain_line!("   detach: RTM_SETLINK with IFLA_XDP_FD -1 in the mode the program is attached in; the device drops its reference to the program");
        }
        h.xdp_detach(ifindex, XdpMode::Auto, None)
            .map_err(|e| CliError::new(e.to_string()))?;
        let ids: Vec<u32> = attached.iter().map(|x| x.prog_id).collect();
        let name = pins::xdp_name(netns, dev);
        let gone: Vec<_> = ids.iter().map(|id| (*id, name.clone())).collect();
        report(dev, "xdp", &ids, &pins::remove_for(&gone));
        return Ok(());
    }
    let dir = if a.egress {
        TcDirection::Egress
    } else if a.ingress {
        TcDirection::Ingress
    } else {
        return Err(CliError::new("say which: --xdp, --ingress or --egress"));
    };
    let on_hook = h
        .tc_list_on(ifindex, dir)
        .map_err(|e| CliError::new(e.to_string()))?;
    let all_on_hook = on_hook.len();
    let filters: Vec<_> = on_hook
        .into_iter()
        .filter(|f| {
            a.prio.is_none_or(|p| p == f.priority) && a.handle.is_none_or(|x| x == f.handle)
        })
        .collect();
    if filters.is_empty() {
        return Err(CliError::new(format!(
            "{dev}: no bpf filter on {}{}{}",
            dir.as_str(),
            a.prio.map(|p| format!(" prio {p}")).unwrap_or_default(),
            a.handle.map(|x| format!(" handle {x}")).unwrap_or_default()
        ))
        .hint(format!(
            "`rbpf-load show --dev {dev}` lists what is attached"
        )));
    }
    if a.explain {
        explain_line!("   detach: RTM_DELTFILTER for each matching filter, by parent (clsact {}), priority and handle", dir.as_str());
    }
    for f in &filters {
        h.tc_detach(ifindex, f.direction, f.priority, f.handle)
            .map_err(|e| CliError::new(e.to_string()))?;
    }
    let ids: Vec<u32> = filters.iter().map(|f| f.prog_id).collect();
    let gone: Vec<_> = filters
        .iter()
        .map(|f| {
            let egress = f.direction == TcDirection::Egress;
            let name = pins::tc_name(netns, dev, egress, f.priority, f.handle);
            (f.prog_id, name)
        })
        .collect();
    report(dev, dir.as_str(), &ids, &pins::remove_for(&gone));
    let emptied = (filters.len() == all_on_hook).then_some(dir);
    if cleanup_clsact(&mut h, ifindex, netns, dev, emptied)? {
        println!("{dev}: removed the clsact qdisc rbpf-load had created");
    }
    Ok(())
}

fn report(dev: &str, hook: &str, ids: &[u32], removed: &[std::path::PathBuf]) {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    println!("{dev}: {hook}: detached prog id {}", ids.join(", "));
    for r in removed {
        println!("removed pins {}", r.display());
    }
}

fn detach_pin(dir: &Path) -> CliResult {
    if !dir.exists() {
        return Err(CliError::new(format!(
            "{}: no such pin directory",
            dir.display()
        )));
    }
    if !crate::sys::is_bpffs(dir) {
        return Err(CliError::new(format!("{}: not on bpffs", dir.display())));
    }
    std::fs::remove_dir_all(dir).map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
    println!(
        "removed {} (its links, programs and maps are released)",
        dir.display()
    );
    Ok(())
}
