//! tcx from the command line: a `tcx/ingress` or `tcx/egress` section, or `--tcx` with a
//! tc section, goes into the device's tcx chain through a bpf link (Linux 6.6+), no qdisc.
//! The link is pinned in the attachment's directory (`[NETNS@]DEV-tcx-DIR-PROG`) so the
//! program outlives rbpf-load; `--foreground` keeps it unpinned, and it goes with the
//! process, even after a SIGKILL. `--replace` swaps the program of our link for the same
//! program name on that hook in one step (BPF_LINK_UPDATE).

use super::args::AttachArgs;
use super::util::ensure_bpffs;
use super::{pins, CliError, CliResult};
use crate::attach::{attach_tcx, tcx_chain, AttachError, Link, TcxDirection};
use crate::load::{Loaded, LoadedProgram};
use crate::obj::Object;
use crate::section::{AttachKind, SectionDef, TcDirection};
use crate::sys::{self, links::Anchor, ObjKind};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// Does this program go through tcx? `None` when it is not a tc program or not asked.
pub fn wanted(a: &AttachArgs, section: &str, def: &SectionDef) -> bool {
    matches!(def.attach, AttachKind::Tc(_)) && (a.tcx || section.starts_with("tcx/"))
}

/// The direction: the section's, or --ingress/--egress for a plain tc section.
fn direction(a: &AttachArgs, lp: &LoadedProgram, def: &SectionDef) -> CliResult<TcxDirection> {
    let from_section = match def.attach {
        AttachKind::Tc(d) => d,
        _ => None,
    };
    let d = if a.egress {
        TcDirection::Egress
    } else if a.ingress {
        TcDirection::Ingress
    } else {
        from_section.ok_or_else(|| {
            CliError::new(format!(
                "prog '{}' is a tc classifier: choose --ingress or --egress",
                lp.name
            ))
        })?
    };
    Ok(match d {
        TcDirection::Ingress => TcxDirection::Ingress,
        TcDirection::Egress => TcxDirection::Egress,
    })
}

/// One tcx attachment made by this process.
struct Made {
    dev: String,
    link: Link,
    dir: Option<PathBuf>,
}

/// Attach `lp` through tcx on every `--dev`, all or none. Returns false, having attached
/// nothing, when the kernel has no tcx and the section only suggested it (the caller falls
/// back to clsact, as it says).
pub fn run(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    lp: &LoadedProgram,
    def: &SectionDef,
) -> CliResult<bool> {
    let dir = direction(a, lp, def)?;
    let mut made: Vec<Made> = Vec::new();
    for dev in &a.dev {
        match attach_one(a, netns, obj, loaded, lp, dir, dev) {
            Ok(Some(m)) => {
                println!("{}", line(&m, lp, dir));
                made.push(m);
            }
            Ok(None) if made.is_empty() && !a.tcx => {
                eprintln!("this kernel has no tcx (Linux 6.6+): attaching through clsact instead");
                return Ok(false);
            }
            res => {
                for m in made.drain(..).rev() {
                    undo(m);
                }
                return Err(res.err().unwrap_or_else(|| {
                    CliError::new(format!("{dev}: this kernel has no tcx"))
                        .hint("tcx needs Linux 6.6 or later; without --tcx, a tc program attaches through clsact")
                }));
            }
        }
    }
    if a.foreground {
        let res = super::trace::wait_foreground(a, obj, loaded);
        for m in made {
            let dev = m.dev.clone();
            undo(m);
            let _ = writeln!(std::io::stdout(), "{dev}: detached");
        }
        res?;
    }
    Ok(true)
}

fn line(m: &Made, lp: &LoadedProgram, dir: TcxDirection) -> String {
    let pin = m
        .dir
        .as_ref()
        .map(|d| format!(", pinned at {}", d.display()))
        .unwrap_or_default();
    format!(
        "{}: tcx {}: prog id {} '{}', link id {}{pin}",
        m.dev,
        dir.as_str(),
        lp.id,
        lp.name,
        m.link.id().unwrap_or(0)
    )
}

fn undo(m: Made) {
    if let Some(d) = &m.dir {
        let _ = pins::with_tree(|| {
            let _ = pins::remove(d);
            Ok(())
        });
    }
    let _ = m.link.detach();
}

/// One device: under its lock, pins staged first, then the link (or the update of ours).
/// None when the kernel has no tcx (it refuses to list a tcx chain: EINVAL, before 6.6).
fn attach_one(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    lp: &LoadedProgram,
    dir: TcxDirection,
    dev: &str,
) -> CliResult<Option<Made>> {
    let mut h = super::util::nl_explained(a.explain)?;
    let ifindex = h.ifindex(dev).map_err(|e| {
        CliError::new(e.to_string())
            .hint("`ip link` lists the devices; -n NETNS acts inside a namespace")
    })?;
    let _lock = pins::lock_device(ifindex, dev)?;
    let chain = match tcx_chain(ifindex, dir) {
        Ok(c) => c,
        Err(AttachError::Sys { source, .. }) if source.errno() == Some(libc::EINVAL) => {
            return Ok(None)
        }
        Err(e) => return Err(CliError::new(e.to_string())),
    };
    let name = pins::tcx_name(netns, dev, dir.as_str(), &lp.name);
    let pin_dir = (!a.foreground).then(|| {
        a.pin
            .clone()
            .unwrap_or_else(|| pins::default_dir(&obj.name, &name))
    });
    let staged = match &pin_dir {
        Some(d) => Some(pins::with_tree(|| {
            ensure_bpffs()?;
            pins::stage(loaded, d)
        })?),
        None => None,
    };
    let linked = if a.replace {
        replace(pin_dir.as_ref(), lp)
    } else {
        let anchor = anchor(a, &chain)?;
        attach_tcx(lp.fd.as_fd(), ifindex, dir, anchor, Some(chain.revision))
            .map_err(|e| CliError::new(e.to_string()))
    };
    let settled = linked.and_then(|link| {
        if let (Some(s), Some(d)) = (&staged, &pin_dir) {
            pins::with_tree(|| {
                link.pin(&s.path().join("link"))
                    .map_err(|e| CliError::new(e.to_string()))?;
                pins::settle(s, d)
            })?;
        }
        Ok(link)
    });
    match settled {
        Ok(link) => Ok(Some(Made {
            dev: dev.to_string(),
            link,
            dir: pin_dir,
        })),
        Err(e) => {
            if let Some(s) = &staged {
                let _ = pins::with_tree(|| {
                    pins::unstage(s);
                    Ok(())
                });
            }
            Err(e)
        }
    }
}

/// `--replace`: the link pinned for this program on this hook gets the new program.
fn replace(dir: Option<&PathBuf>, lp: &LoadedProgram) -> CliResult<Link> {
    let dir =
        dir.ok_or_else(|| CliError::new("--replace with --foreground: nothing pinned to replace"))?;
    let pin = dir.join("link");
    let link = Link::from_pin(&pin).map_err(|e| {
        CliError::new(format!("--replace: no link of ours at {}: {e}", pin.display()))
            .hint("--replace swaps the program of an earlier tcx attachment of the same program name on that hook")
    })?;
    link.update(lp.fd.as_fd())
        .map_err(|e| CliError::new(e.to_string()))?;
    Ok(link)
}

/// Where in the chain: --first, --last, --before PROG, --after PROG.
fn anchor(a: &AttachArgs, chain: &sys::links::Chain) -> CliResult<Anchor> {
    Ok(if a.first {
        Anchor::First
    } else if let Some(p) = &a.before {
        Anchor::BeforeProg(chain_prog(p, chain)?)
    } else if let Some(p) = &a.after {
        Anchor::AfterProg(chain_prog(p, chain)?)
    } else {
        Anchor::Last
    })
}

/// A program named on the command line: `id:N`, a pinned path, or the name of a program in
/// the chain.
fn chain_prog(spec: &str, chain: &sys::links::Chain) -> CliResult<u32> {
    if let Some(id) = spec.strip_prefix("id:") {
        return id
            .parse()
            .map_err(|_| CliError::new(format!("{spec}: not a program id")));
    }
    if spec.starts_with('/') {
        let fd = sys::obj_get(std::path::Path::new(spec))
            .map_err(|e| CliError::new(format!("{spec}: {e}")))?;
        return sys::prog_info(fd.as_fd())
            .map(|i| i.id)
            .map_err(|e| CliError::new(format!("{spec}: {e}")));
    }
    let named: Vec<(u32, String)> = chain
        .entries
        .iter()
        .map(|(id, _)| (*id, prog_name(*id)))
        .collect();
    let short: String = spec.chars().take(15).collect();
    named
        .iter()
        .find(|(_, n)| *n == short)
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            CliError::new(format!("no program '{spec}' in the chain")).hint(format!(
                "the chain: {}",
                named
                    .iter()
                    .map(|(id, n)| format!("{n} (id:{id})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn prog_name(id: u32) -> String {
    sys::fd_by_id(ObjKind::Prog, id)
        .ok()
        .and_then(|fd| sys::prog_info(fd.as_fd()).ok())
        .map(|i| i.name)
        .unwrap_or_default()
}
