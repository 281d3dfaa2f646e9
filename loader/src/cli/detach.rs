//! `rbpf-load detach --dev DEV (--xdp | --ingress | --egress) [--prio N --handle N] | --pin DIR`

use super::args::DetachArgs;
use super::attach::cleanup_clsact;
use super::{pins, CliError, CliResult};
use netlink::{TcDirection, XdpMode};
use std::path::Path;

pub fn run(a: &DetachArgs, netns: Option<&str>) -> CliResult {
    if let Some(dir) = &a.pin {
        return detach_pin(dir, netns);
    }
    let dev = a
        .dev
        .as_deref()
        .ok_or_else(|| CliError::new("--dev or --pin is required"))?;
    let mut h = super::util::nl_explained(a.explain)?;
    let ifindex = h.ifindex(dev).map_err(|e| CliError::new(e.to_string()))?;
    // Other rbpf-load processes wait while this one changes the device's hooks.
    let _lock = pins::lock_device(ifindex, dev)?;
    let on = On {
        h: &mut h,
        ifindex,
        dev,
        netns,
    };
    if a.tcx {
        return detach_tcx(a, on);
    }
    if a.xdp {
        return detach_xdp(a, on);
    }
    let dir = if a.egress {
        TcDirection::Egress
    } else if a.ingress {
        TcDirection::Ingress
    } else {
        return Err(CliError::new("say which: --xdp, --ingress or --egress"));
    };
    detach_tc(a, on, dir)
}

/// The device a detach works on (its lock held).
struct On<'a> {
    h: &'a mut netlink::Handle,
    ifindex: u32,
    dev: &'a str,
    netns: Option<&'a str>,
}

/// An XDP attachment of ours held by a bpf link (`--link`): netlink cannot detach it, its
/// link can. Says whether there was one.
fn detach_xdp_link(dev: &str, netns: Option<&str>) -> CliResult<bool> {
    let name = pins::xdp_name(netns, dev);
    let found = pins::named(|n| n == name);
    let Some(dir) = found.iter().find(|d| d.join("link").exists()) else {
        return Ok(false);
    };
    let link = crate::attach::Link::from_pin(&dir.join("link"))
        .map_err(|e| CliError::new(e.to_string()))?;
    let prog = link.info().map(|i| i.prog_id).unwrap_or(0);
    link.detach().map_err(|e| CliError::new(e.to_string()))?;
    pins::with_tree(|| {
        pins::remove(dir).map_err(|e| CliError::new(format!("{}: {e}", dir.display())))
    })?;
    report(dev, "xdp (bpf link)", &[prog], std::slice::from_ref(dir));
    Ok(true)
}

/// Our tcx attachments on the hook(s): their pinned links go, and with them the programs.
fn detach_tcx(a: &DetachArgs, on: On) -> CliResult {
    let dirs: Vec<&str> = match (a.ingress, a.egress) {
        (true, false) => vec!["ingress"],
        (false, true) => vec!["egress"],
        _ => vec!["ingress", "egress"],
    };
    let prefix: Vec<String> = dirs
        .iter()
        .map(|d| pins::tcx_name(on.netns, on.dev, d, ""))
        .collect();
    let gone = pins::with_tree(|| {
        let found = pins::named(|n| prefix.iter().any(|p| n.starts_with(p.as_str())));
        for d in &found {
            if let Ok(link) = crate::attach::Link::from_pin(&d.join("link")) {
                let _ = link.detach();
            }
            pins::remove(d).map_err(|e| CliError::new(format!("{}: {e}", d.display())))?;
        }
        Ok(found)
    })?;
    if gone.is_empty() {
        return Err(CliError::new(format!(
            "{}: no tcx attachment of ours on {}",
            on.dev,
            dirs.join(" or ")
        ))
        .hint(format!(
            "`rbpf-load show --dev {}` lists what is attached",
            on.dev
        )));
    }
    for d in &gone {
        println!("{}: tcx: detached, removed pins {}", on.dev, d.display());
    }
    Ok(())
}

fn detach_xdp(a: &DetachArgs, on: On) -> CliResult {
    let (dev, netns) = (on.dev, on.netns);
    if detach_xdp_link(dev, netns)? {
        return Ok(());
    }
    let attached =
        on.h.xdp_query(on.ifindex)
            .map_err(|e| CliError::new(e.to_string()))?;
    if attached.is_empty() {
        if remove_orphans(netns, dev, "xdp", &[])? {
            return Ok(());
        }
        return Err(CliError::new(format!("{dev}: no XDP program attached")));
    }
    if a.explain {
        explain_line!("   detach: RTM_SETLINK with IFLA_XDP_FD -1 in the mode the program is attached in; the device drops its reference to the program");
    }
    on.h.xdp_detach(on.ifindex, XdpMode::Auto, None)
        .map_err(|e| CliError::new(e.to_string()))?;
    let ids: Vec<u32> = attached.iter().map(|x| x.prog_id).collect();
    let name = pins::xdp_name(netns, dev);
    let gone: Vec<_> = ids.iter().map(|id| (*id, name.clone())).collect();
    let removed = pins::with_tree(|| Ok(pins::remove_for(&gone)))?;
    report(dev, "xdp", &ids, &removed);
    remove_orphans(netns, dev, "xdp", &[])?;
    Ok(())
}

fn detach_tc(a: &DetachArgs, on: On, dir: TcDirection) -> CliResult {
    let (dev, netns, ifindex) = (on.dev, on.netns, on.ifindex);
    let on_hook =
        on.h.tc_list_on(ifindex, dir)
            .map_err(|e| CliError::new(e.to_string()))?;
    let filters: Vec<_> = on_hook
        .iter()
        .filter(|f| {
            a.prio.is_none_or(|p| p == f.priority) && a.handle.is_none_or(|x| x == f.handle)
        })
        .collect();
    if filters.is_empty() {
        // What a process killed halfway left: pins without their filter, or a clsact we
        // made with no filter on it.
        let still: Vec<u32> = on_hook.iter().map(|f| f.prog_id).collect();
        let orphans = remove_orphans(netns, dev, dir.as_str(), &still)?;
        if cleanup_clsact(on.h, ifindex, netns, dev)? {
            println!(
                "{dev}: no bpf filter was left; removed the clsact qdisc rbpf-load had created"
            );
            return Ok(());
        }
        if orphans {
            return Ok(());
        }
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
        on.h.tc_detach(ifindex, f.direction, f.priority, f.handle)
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
    let removed = pins::with_tree(|| Ok(pins::remove_for(&gone)))?;
    report(dev, dir.as_str(), &ids, &removed);
    if cleanup_clsact(on.h, ifindex, netns, dev)? {
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

fn detach_pin(dir: &Path, netns: Option<&str>) -> CliResult {
    if !dir.exists() {
        return Err(CliError::new(format!(
            "{}: no such pin directory",
            dir.display()
        )));
    }
    if !crate::sys::is_bpffs(dir) {
        return Err(CliError::new(format!("{}: not on bpffs", dir.display())));
    }
    detach_recorded(dir, netns)?;
    let links = link_fds(dir);
    pins::with_tree(|| {
        pins::remove(dir).map_err(|e| CliError::new(format!("{}: {e}", dir.display())))
    })?;
    // Ours are now the last references: closing them detaches here and now. The last
    // reference of a removed pin is dropped by a kworker some time later, and until then
    // the program still runs (a uprobe counted a call made after detach had returned).
    drop(links);
    println!(
        "removed {} (its links, programs and maps are released)",
        dir.display()
    );
    Ok(())
}

/// The links pinned in `dir`: `link` (one attachment) and `links/*` (an application).
fn link_fds(dir: &Path) -> Vec<std::os::fd::OwnedFd> {
    let mut paths = vec![dir.join("link")];
    if let Ok(rd) = std::fs::read_dir(dir.join("links")) {
        paths.extend(rd.flatten().map(|e| e.path()));
    }
    paths
        .iter()
        .filter_map(|p| crate::sys::obj_get(p).ok())
        .collect()
}

/// The XDP/tc attachments an application recorded in its pin directory (`attached/`):
/// detached when the program there is still one of the directory's.
fn detach_recorded(dir: &Path, netns: Option<&str>) -> CliResult {
    let Ok(records) = std::fs::read_dir(dir.join("attached")) else {
        return Ok(());
    };
    let mut names: Vec<String> = records
        .flatten()
        .map(|r| r.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        // Tracing only: its links go with the pins, and no program id needs asking.
        return Ok(());
    }
    names.sort();
    let ours = pins::prog_ids_in(dir);
    let here = netns.map(pins::clean);
    for name in names {
        let (ns, dev, hook) = pins::parse_attachment_name(&name).ok_or_else(|| {
            CliError::new(format!(
                "{}: '{name}' is no attachment rbpf-load recorded",
                dir.display()
            ))
        })?;
        if ns != here {
            let ns = ns.unwrap_or_else(|| "the host's".into());
            return Err(CliError::new(format!(
                "{}: attachment '{name}' is in network namespace {ns}",
                dir.display()
            ))
            .hint(format!("rbpf-load -n {ns} detach --pin {}", dir.display())));
        }
        detach_one_recorded(&dev, hook, &ours, netns)?;
    }
    Ok(())
}

fn detach_one_recorded(
    dev: &str,
    hook: pins::NamedHook,
    ours: &[u32],
    netns: Option<&str>,
) -> CliResult {
    let mut h = super::util::nl_explained(false)?;
    let Ok(ifindex) = h.ifindex(dev) else {
        println!("{dev}: gone, nothing to detach there");
        return Ok(());
    };
    let _lock = pins::lock_device(ifindex, dev)?;
    let err = |e: netlink::NetlinkError| CliError::new(e.to_string());
    match hook {
        pins::NamedHook::Xdp => {
            let now = h.xdp_query(ifindex).map_err(err)?;
            if let Some(x) = now.iter().find(|x| ours.contains(&x.prog_id)) {
                h.xdp_detach(ifindex, XdpMode::Auto, None).map_err(err)?;
                println!("{dev}: xdp: detached prog id {}", x.prog_id);
            }
        }
        pins::NamedHook::Tc {
            egress,
            priority,
            handle,
        } => {
            let dir = if egress {
                TcDirection::Egress
            } else {
                TcDirection::Ingress
            };
            let now = h.tc_list(ifindex).map_err(err)?;
            let mine = now.iter().find(|f| {
                f.direction == dir
                    && f.priority == priority
                    && f.handle == handle
                    && ours.contains(&f.prog_id)
            });
            if let Some(f) = mine {
                h.tc_detach(ifindex, dir, priority, handle).map_err(err)?;
                println!(
                    "{dev}: {}: detached prog id {} (prio {priority} handle {handle})",
                    dir.as_str(),
                    f.prog_id
                );
            }
            if cleanup_clsact(&mut h, ifindex, netns, dev)? {
                println!("{dev}: removed the clsact qdisc rbpf-load had created");
            }
        }
    }
    Ok(())
}

/// Remove the pins of attachments on `dev`'s `hook` that are not attached any more
/// ([`pins::orphans`]); says whether there were any.
fn remove_orphans(netns: Option<&str>, dev: &str, hook: &str, attached: &[u32]) -> CliResult<bool> {
    let removed = pins::with_tree(|| {
        let dirs = pins::orphans(netns, dev, hook, attached);
        for d in &dirs {
            pins::remove(d).map_err(|e| CliError::new(format!("{}: {e}", d.display())))?;
        }
        Ok(dirs)
    })?;
    for d in &removed {
        println!("removed pins {} (nothing attached from them)", d.display());
    }
    Ok(!removed.is_empty())
}
