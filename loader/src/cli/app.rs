//! `rbpf-load OBJ --all [--sec SEC]... [--prog NAME]... [--dev DEV]...`: an application.
//! The object is loaded once; every selected program whose section names its hook is
//! attached there (XDP and tc on every `--dev`, tracing where its section says), all or
//! none; programs whose section names no hook are loaded and listed with what would attach
//! them. One pin directory holds the application (programs, maps, links, and a record of
//! each XDP/tc attachment), so `rbpf-load detach --pin DIR` removes all of it.

use super::args::AttachArgs;
use super::attach::{
    attach_tc, attach_xdp, describe, detach_attached, pin_name_of, Attached, Device, Hook,
};
use super::util::{
    apply_sets, attach_load_options, ensure_bpffs, fill_prog_arrays, load_error, nl_explained,
    target_prog,
};
use super::{pins, trace, CliError, CliResult};
use crate::attach::Link;
use crate::load::{self, LoadOptions, Loaded};
use crate::obj::{Object, Program};
use crate::section::{AttachKind, SectionDef, TcDirection};
use netlink::XdpMode;
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The subdirectory of an application's pin directory that records its XDP/tc
/// attachments, one empty directory per attachment named as [`pin_name_of`] names it.
const ATTACHED: &str = "attached";
/// Where an application's links are pinned, by program name.
const LINKS: &str = "links";

/// Does the command line ask for an application (`--all`, or several `--sec`/`--prog`)?
pub fn wanted(a: &AttachArgs) -> bool {
    a.all || a.sec.len() > 1 || a.prog.len() > 1
}

/// Where one selected program goes.
enum Goes {
    /// XDP or tc on these devices.
    Net(Vec<(String, Hook)>),
    /// A tracing attachment (tracepoint, raw tracepoint, fentry/fexit, kprobe, uprobe).
    Trace,
    /// Nowhere: why, and what would attach it.
    Not(String),
}

struct Plan {
    prog: Program,
    def: SectionDef,
    goes: Goes,
}

/// What the application has attached so far (undone in reverse on failure or exit).
struct App {
    dir: Option<PathBuf>,
    nets: Vec<(String, Attached)>,
    links: Vec<(String, Link)>,
}

pub fn run(a: &AttachArgs, netns: Option<&str>) -> CliResult {
    let path = a.object.as_ref().ok_or_else(|| {
        CliError::new("no object file given").hint("rbpf-load OBJ --all --dev DEV")
    })?;
    let mut obj = Object::from_file(path)?;
    apply_sets(&mut obj, &a.set)?;
    let plans = plan(a, &obj)?;
    let opts = load_options(a, &plans)?;
    // Signals are blocked from here on, so a Ctrl-C cannot cut an attach or cleanup short.
    let sigfd = if a.foreground {
        Some(trace::block_signals()?)
    } else {
        None
    };
    let loaded = load::load(&obj, &opts).map_err(|e| load_error(e, a.verbose > 0))?;
    fill_prog_arrays(a, &loaded)?;
    let mut app = App {
        dir: (!a.foreground).then(|| pin_dir(a, netns, &obj)),
        nets: Vec::new(),
        links: Vec::new(),
    };
    if let Err(e) = attach_all(a, netns, &obj, &loaded, &plans, &mut app) {
        app.undo(netns, "detached again");
        return Err(e);
    }
    report(&plans, &loaded, &app);
    if a.verbose > 0 {
        super::util::print_verifier_logs(&loaded, a.verbose);
    }
    let Some(sigfd) = sigfd else {
        if let Some(dir) = &app.dir {
            println!(
                "pinned at {} (remove with `rbpf-load detach --pin {}`)",
                dir.display(),
                dir.display()
            );
        }
        return Ok(());
    };
    let res = trace::wait_with(a, &obj, &loaded, sigfd);
    app.undo(netns, "detached");
    // Not println!: the reader may be gone (SIGPIPE is blocked by now).
    let _ = writeln!(std::io::stdout(), "detached");
    res
}

/// The programs `--sec`/`--prog` select (every program when neither is given).
fn select<'o>(a: &AttachArgs, obj: &'o Object) -> CliResult<Vec<&'o Program>> {
    for s in &a.sec {
        if !obj.programs.iter().any(|p| &p.section == s) {
            return Err(no_such(obj, &format!("section '{s}'")));
        }
    }
    for n in &a.prog {
        if obj.program(n).is_none() {
            return Err(no_such(obj, &format!("program '{n}'")));
        }
    }
    Ok(obj
        .programs
        .iter()
        .filter(|p| {
            (a.sec.is_empty() && a.prog.is_empty())
                || a.sec.contains(&p.section)
                || a.prog.contains(&p.name)
        })
        .collect())
}

fn no_such(obj: &Object, what: &str) -> CliError {
    CliError::new(format!("the object has no {what}")).hint(format!(
        "the object has:\n{}",
        obj.programs
            .iter()
            .map(|p| format!("  --sec {} --prog {}", p.section, p.name))
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

/// Where each selected program goes; refuses, before anything is loaded, an application
/// with nothing to attach or with XDP/tc programs and no `--dev`.
fn plan(a: &AttachArgs, obj: &Object) -> CliResult<Vec<Plan>> {
    let mut prios: HashMap<(String, TcDirection), u16> = HashMap::new();
    let mut plans = Vec::new();
    for p in select(a, obj)? {
        let (def, _) = load::program_def(p, None).map_err(|e| CliError::new(e.to_string()))?;
        let goes = goes(a, p, &def, &mut prios)?;
        plans.push(Plan {
            prog: p.clone(),
            def,
            goes,
        });
    }
    if plans.iter().all(|p| matches!(p.goes, Goes::Not(_))) {
        return Err(CliError::new(format!(
            "nothing in '{}' says where to attach: {}",
            obj.name,
            plans
                .iter()
                .map(|p| format!("prog '{}' (section '{}')", p.prog.name, p.prog.section))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("`rbpf-load load --pin DIR` loads without attaching; `rbpf-load inspect OBJ` lists the sections"));
    }
    Ok(plans)
}

fn goes(
    a: &AttachArgs,
    p: &Program,
    def: &SectionDef,
    prios: &mut HashMap<(String, TcDirection), u16>,
) -> CliResult<Goes> {
    let dirs = match def.attach {
        AttachKind::Xdp => None,
        AttachKind::Tc(Some(d)) => Some(vec![d]),
        AttachKind::Tc(None) => {
            let mut v = Vec::new();
            if a.ingress {
                v.push(TcDirection::Ingress);
            }
            if a.egress {
                v.push(TcDirection::Egress);
            }
            if v.is_empty() {
                return Ok(Goes::Not(format!(
                    "section '{}' does not say the direction: --ingress and/or --egress attach it",
                    p.section
                )));
            }
            Some(v)
        }
        AttachKind::Manual => {
            return Ok(Goes::Not(format!(
                "section '{}' names no hook rbpf-load attaches to: `rbpf-load load --pin DIR` keeps it for the program that attaches it",
                p.section
            )))
        }
        _ => return Ok(Goes::Trace),
    };
    if a.dev.is_empty() {
        return Err(CliError::new(format!(
            "prog '{}' (section '{}') is {}: name the device with --dev",
            p.name,
            p.section,
            load::type_name(def)
        )));
    }
    let mut hooks = Vec::new();
    for dev in &a.dev {
        match &dirs {
            None => hooks.push((dev.clone(), Hook::Xdp { mode: xdp_mode(a) })),
            Some(ds) => {
                for &d in ds {
                    // Several programs on one hook of one device: the next priority each.
                    let prio = prios
                        .entry((dev.clone(), d))
                        .and_modify(|p| *p = p.saturating_add(1))
                        .or_insert(a.prio.unwrap_or(1));
                    hooks.push((
                        dev.clone(),
                        Hook::Tc {
                            direction: d,
                            priority: *prio,
                            handle: a.handle.unwrap_or(1),
                        },
                    ));
                }
            }
        }
    }
    Ok(Goes::Net(hooks))
}

fn xdp_mode(a: &AttachArgs) -> XdpMode {
    use super::args::Mode;
    match a.mode {
        None => XdpMode::Auto,
        Some(Mode::Skb) => XdpMode::Skb,
        Some(Mode::Native) => XdpMode::Native,
        Some(Mode::Hw) => XdpMode::Hw,
    }
}

fn load_options(a: &AttachArgs, plans: &[Plan]) -> CliResult<LoadOptions> {
    let mut opts = attach_load_options(a)?;
    opts.only = Some(plans.iter().map(|p| p.prog.name.clone()).collect());
    if let Some(t) = &a.target {
        for p in plans
            .iter()
            .filter(|p| p.def.attach == AttachKind::Trampoline)
        {
            opts.targets.insert(p.prog.name.clone(), target_prog(t)?);
        }
    }
    Ok(opts)
}

/// The application's pin directory: `--pin DIR`, else ROOT/OBJECT/[NETNS@]app.
fn pin_dir(a: &AttachArgs, netns: Option<&str>, obj: &Object) -> PathBuf {
    a.pin
        .clone()
        .unwrap_or_else(|| pins::default_dir(&obj.name, &pins::dev_key(netns, "app")))
}

/// Pin the programs and maps, then attach every plan: nothing is attached unpinned.
fn attach_all(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    plans: &[Plan],
    app: &mut App,
) -> CliResult {
    if let Some(dir) = &app.dir {
        if dir.exists() {
            let taken = CliError::new(format!("{} exists", dir.display())).hint(format!(
                "an application is pinned there: `rbpf-load detach --pin {}` first, or --pin ANOTHER_DIR",
                dir.display()
            ));
            // Not ours to remove: forget it before undo() sees it.
            app.dir = None;
            return Err(taken);
        }
        pins::with_tree(|| {
            ensure_bpffs()?;
            loaded
                .pin_all(dir)
                .map_err(|e| CliError::new(e.to_string()))?;
            Ok(pins::make_dir(&dir.join(ATTACHED))?)
        })?;
    }
    for plan in plans {
        let lp = loaded
            .program(&plan.prog.name)
            .ok_or_else(|| CliError::new(format!("prog '{}' was not loaded", plan.prog.name)))?;
        match &plan.goes {
            Goes::Net(hooks) => {
                for (dev, hook) in hooks {
                    let att = attach_net(a, netns, obj, lp, dev, hook, app.dir.as_deref())
                        .map_err(|e| e.in_prog(&plan.prog, Some(dev)))?;
                    app.nets.push((plan.prog.name.clone(), att));
                }
            }
            Goes::Trace => {
                let link = trace::attach_one(lp.fd.as_fd(), &plan.def, &plan.prog)
                    .map_err(|e| e.in_prog(&plan.prog, None))?;
                app.links.push((plan.prog.name.clone(), link));
            }
            Goes::Not(_) => {}
        }
    }
    pin_links(app)
}

/// Pin every link under LINKS, holding the tree's lock once for all of them (an unpinned
/// link detaches when this process exits, so attaching before pinning leaves nothing
/// behind).
fn pin_links(app: &App) -> CliResult {
    let Some(dir) = &app.dir else {
        return Ok(());
    };
    if app.links.is_empty() {
        return Ok(());
    }
    let links = dir.join(LINKS);
    pins::with_tree(|| {
        pins::make_dir(&links)?;
        for (name, link) in &app.links {
            link.pin(&links.join(name))
                .map_err(|e| CliError::new(e.to_string()))?;
        }
        Ok(())
    })
}

/// One XDP/tc attachment of the application, under the device's lock, recorded in the pin
/// directory before it is made.
fn attach_net(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    lp: &load::LoadedProgram,
    dev: &str,
    hook: &Hook,
    dir: Option<&Path>,
) -> CliResult<Attached> {
    let mut h = nl_explained(a.explain)?;
    let ifindex = h.ifindex(dev).map_err(|e| {
        CliError::new(e.to_string())
            .hint("`ip link` lists the devices; -n NETNS acts inside a namespace")
    })?;
    let _lock = pins::lock_device(ifindex, dev)?;
    if let Some(dir) = dir {
        let record = dir.join(ATTACHED).join(pin_name_of(netns, dev, hook));
        pins::with_tree(|| Ok(pins::make_dir(&record)?))?;
    }
    let on = Device {
        netns,
        name: dev,
        ifindex,
    };
    let (hook, _) = match *hook {
        Hook::Xdp { mode } => attach_xdp(a, &mut h, &on, lp, mode)?,
        Hook::Tc { .. } => attach_tc(a, &mut h, &on, lp, obj, hook)?,
    };
    Ok(Attached {
        dev: dev.to_string(),
        ifindex,
        hook,
        pin_dir: None,
    })
}

impl CliError {
    /// Name the program, its section and the device in an attach error.
    fn in_prog(mut self, p: &Program, dev: Option<&str>) -> CliError {
        let on = dev.map(|d| format!(" on {d}")).unwrap_or_default();
        self.msg = format!(
            "prog '{}' (section '{}'){on}: {}",
            p.name, p.section, self.msg
        );
        self
    }
}

impl App {
    /// Detach everything attached so far and remove the pin directory; `done` says what
    /// a detached attachment is (`detached again` after a failure).
    fn undo(&mut self, netns: Option<&str>, done: &str) {
        for (name, att) in self.nets.drain(..).rev() {
            match detach_attached(netns, &att) {
                Ok(()) => eprintln!("{}: '{name}' {done}", att.dev),
                Err(e) => eprintln!("{}: could not detach '{name}': {}", att.dev, e.msg),
            }
        }
        self.links.clear();
        if let Some(dir) = self.dir.take() {
            let _ = pins::with_tree(|| {
                let _ = pins::remove(&dir);
                Ok(())
            });
        }
    }
}

/// One line per attachment, and one per program that was loaded and not attached.
/// Written at once: stdout is line-buffered, and an application of 30 programs made 30
/// `write` calls.
fn report(plans: &[Plan], loaded: &Loaded, app: &App) {
    use std::fmt::Write as _;
    let mut out = String::new();
    for plan in plans {
        let Some(lp) = loaded.program(&plan.prog.name) else {
            continue;
        };
        match &plan.goes {
            Goes::Net(_) => {
                for (_, att) in app.nets.iter().filter(|(n, _)| n == &lp.name) {
                    let _ = writeln!(out, "{}", describe(att, lp, "section name"));
                }
            }
            Goes::Trace => {
                if let Some((_, link)) = app.links.iter().find(|(n, _)| n == &lp.name) {
                    let _ = writeln!(out, "{}", trace::link_line(link, lp));
                }
            }
            Goes::Not(why) => {
                let _ = writeln!(
                    out,
                    "prog '{}' (section '{}'): loaded, not attached: {why}",
                    lp.name, lp.section
                );
            }
        }
    }
    print!("{out}");
}
