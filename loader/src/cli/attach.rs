//! `rbpf-load OBJ --sec SEC [--prog NAME] --dev DEV`: load, fill tail calls, attach as XDP
//! or tc, pin what must outlive us, print one line per attachment.

use super::args::{AttachArgs, Mode};
use super::pins;
use super::util::{
    apply_sets, attach_load_options, ensure_bpffs, fill_prog_arrays, load_error, nl, nl_explained,
    target_prog,
};
use super::{CliError, CliResult};
use crate::load::{self, Loaded, LoadedProgram};
use crate::obj::Object;
use crate::section::{self, AttachKind, SectionDef, TcDirection};
use netlink::{ClsactState, Handle, TcAttachFlags, TcHook, XdpFlags, XdpMode};
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;

/// What was attached, for printing and for cleaning up.
#[derive(Debug, Clone, Copy)]
pub enum Hook {
    Xdp {
        mode: XdpMode,
    },
    Tc {
        direction: TcDirection,
        priority: u16,
        handle: u32,
    },
}

pub struct Attached {
    pub dev: String,
    pub ifindex: u32,
    pub hook: Hook,
    pub pin_dir: Option<PathBuf>,
}

/// Choose the program: `--sec` (and `--prog` when several share it).
pub fn pick_program<'a>(
    obj: &'a Object,
    sec: &str,
    prog: Option<&str>,
) -> CliResult<&'a crate::obj::Program> {
    let in_sec = obj.programs_in(sec);
    let list_all = || {
        obj.programs
            .iter()
            .map(|p| format!("  --sec {} --prog {}", p.section, p.name))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if in_sec.is_empty() {
        return Err(CliError::new(format!("{}: no section '{sec}'", obj.name))
            .hint(format!("the object has:\n{}", list_all())));
    }
    match prog {
        Some(name) => in_sec.into_iter().find(|p| p.name == name).ok_or_else(|| {
            CliError::new(format!(
                "{}: no program '{name}' in section '{sec}'",
                obj.name
            ))
            .hint(format!("the object has:\n{}", list_all()))
        }),
        None if in_sec.len() == 1 => Ok(in_sec[0]),
        None => Err(CliError::new(format!(
            "{}: section '{sec}' holds {} programs ({}): name one with --prog",
            obj.name,
            in_sec.len(),
            in_sec
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The hook the user asked for with options, as a section-table row.
fn hook_hint(a: &AttachArgs) -> Option<SectionDef> {
    if a.ingress {
        section::by_prefix("tc/ingress")
    } else if a.egress {
        section::by_prefix("tc/egress")
    } else if a.xdp || a.mode.is_some() {
        section::by_prefix("xdp")
    } else {
        None
    }
}

pub fn run(a: &AttachArgs, netns: Option<&str>) -> CliResult {
    let path = a.object.as_ref().ok_or_else(|| {
        CliError::new("no object file given")
            .hint("rbpf-load OBJ --sec SEC --dev DEV; `rbpf-load --help` for more")
    })?;
    if a.ingress && a.egress {
        return Err(
            CliError::new("--ingress and --egress: one program goes to one hook")
                .hint("with --all, a plain `tc` program may go to both"),
        );
    }
    let mut obj = Object::from_file(path)?;
    let sec = a.sec.first().map(String::as_str).ok_or_else(|| {
        CliError::new("--sec is required").hint(format!(
            "the object has:\n{}",
            obj.programs
                .iter()
                .map(|p| format!("  --sec {} --prog {}", p.section, p.name))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })?;
    apply_sets(&mut obj, &a.set)?;
    if sec == ".text" {
        obj.add_text_programs();
    }
    let prog = pick_program(&obj, sec, a.prog.first().map(String::as_str))?.clone();
    let (def, why) =
        load::program_def(&prog, hook_hint(a)).map_err(|e| CliError::new(e.to_string()))?;
    super::flags::check(a, &obj, &prog, &def)?;
    let mut opts = attach_load_options(a)?;
    opts.type_hint = hook_hint(a);
    if let Some(t) = &a.target {
        opts.targets.insert(prog.name.clone(), target_prog(t)?);
    }
    if a.explain {
        explain_line!(
            "prog '{}' is {} ({}), decided by {why}",
            prog.name,
            load::type_name(&def),
            attach_word(&def)
        );
    }
    match def.attach {
        AttachKind::Xdp | AttachKind::Tc(_) => {}
        _ => return super::trace::run(a, &obj, &prog, def, opts),
    }
    check_devs(a, &obj, &prog, &def)?;
    // Without a PROG_ARRAY nothing can reach the object's other programs: like `ip` and
    // `tc`, load only this one. With one, every program is loaded and pinned, so slots can be
    // filled later (`--prog-array`, bpftool) from the pins.
    if !obj
        .maps
        .iter()
        .any(|m| m.map_type == crate::obj::map_type::PROG_ARRAY)
    {
        opts.only = Some(vec![prog.name.clone()]);
    }
    let loaded = load::load(&obj, &opts).map_err(|e| load_error(e, a.verbose > 0))?;
    fill_prog_arrays(a, &loaded)?;
    let lp = loaded
        .program(&prog.name)
        .ok_or_else(|| CliError::new(format!("prog '{}' was not loaded", prog.name)))?;
    if super::tcx::wanted(a, &prog.section, &def)
        && super::tcx::run(a, netns, &obj, &loaded, lp, &def)?
    {
        if a.verbose > 0 {
            super::util::print_verifier_logs(&loaded, a.verbose);
        }
        return Ok(());
    }
    let attached = attach_every_dev(a, netns, &obj, &loaded, lp, &def, &why)?;
    if a.verbose > 0 {
        super::util::print_verifier_logs(&loaded, a.verbose);
    }
    if a.foreground {
        foreground(a, netns, &obj, &loaded, &attached)?;
    }
    Ok(())
}

/// The program is loaded once and attached to every device, all or none: when one fails,
/// the attachments made before it are undone.
fn attach_every_dev(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    lp: &LoadedProgram,
    def: &SectionDef,
    why: &str,
) -> CliResult<Vec<Attached>> {
    let mut attached = Vec::new();
    for dev in &a.dev {
        match attach_net(a, netns, obj, loaded, lp, def, dev) {
            Ok(att) => {
                println!("{}", describe(&att, lp, why));
                attached.push(att);
            }
            Err(e) => {
                for att in attached.iter().rev() {
                    match detach_attached(netns, att) {
                        Ok(()) => eprintln!("{}: detached again, as {dev} failed", att.dev),
                        Err(d) => eprintln!("{}: could not detach again: {}", att.dev, d.msg),
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(attached)
}

/// `--foreground`: print events until a signal, then detach everything.
fn foreground(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    attached: &[Attached],
) -> CliResult {
    let res = super::trace::wait_foreground(a, obj, loaded);
    let mut cleanup = Ok(());
    for att in attached {
        let r = detach_attached(netns, att);
        if cleanup.is_ok() {
            cleanup = r;
        }
    }
    res?;
    cleanup?;
    for att in attached {
        // Not println!: the reader may be gone (SIGPIPE is blocked by now).
        let _ = writeln!(std::io::stdout(), "{}: detached, pins removed", att.dev);
    }
    Ok(())
}

/// `--dev`: at least one, each once, and `--pin` (one directory) only with one.
fn check_devs(
    a: &AttachArgs,
    obj: &Object,
    prog: &crate::obj::Program,
    def: &SectionDef,
) -> CliResult {
    if a.dev.is_empty() {
        return Err(CliError::new(format!(
            "prog '{}' is {}: name the device with --dev",
            prog.name,
            load::type_name(def)
        )));
    }
    for (i, d) in a.dev.iter().enumerate() {
        if a.dev[..i].contains(d) {
            return Err(CliError::new(format!("--dev {d} is given twice")));
        }
    }
    if a.dev.len() > 1 && a.pin.is_some() {
        return Err(CliError::new(format!(
            "--pin names one directory, and {} devices are given",
            a.dev.len()
        ))
        .hint(format!(
            "without --pin each attachment is pinned in its own directory under {}/{}/",
            pins::ROOT,
            pins::clean(&obj.name)
        )));
    }
    Ok(())
}

fn attach_word(def: &SectionDef) -> &'static str {
    match def.attach {
        AttachKind::Xdp => "XDP",
        AttachKind::Tc(_) => "tc classifier",
        AttachKind::RawTracepoint => "raw tracepoint",
        AttachKind::Tracepoint => "tracepoint",
        AttachKind::TpBtf => "BTF raw tracepoint",
        AttachKind::Trampoline => "fentry/fexit",
        AttachKind::Kprobe { .. } => "kprobe",
        AttachKind::Uprobe { .. } => "uprobe",
        AttachKind::Manual => "attached by other means",
    }
}

fn explain(on: bool, lines: &[&str]) {
    if on {
        for l in lines {
            explain_line!("{l}");
        }
    }
}

fn attach_net(
    a: &AttachArgs,
    netns: Option<&str>,
    obj: &Object,
    loaded: &Loaded,
    lp: &LoadedProgram,
    def: &SectionDef,
    dev: &str,
) -> CliResult<Attached> {
    explain(
        a.explain,
        &[
            &format!("-- attach to {dev} through rtnetlink (our own NETLINK_ROUTE socket)"),
            "   why: XDP and tc hooks belong to a network device; they are set with the same netlink messages `ip link` and `tc` send",
        ],
    );
    let mut h = nl_explained(a.explain)?;
    let ifindex = h.ifindex(dev).map_err(|e| {
        CliError::new(e.to_string())
            .hint("`ip link` lists the devices; -n NETNS acts inside a namespace")
    })?;
    let planned = planned_hook(a, lp, def)?;
    // Other rbpf-load processes wait while this one changes the device's hooks.
    let _lock = pins::lock_device(ifindex, dev)?;
    // Pinned before the attach, so that an attachment is never without its pins (also
    // when this process is killed in between); moved into place once attached.
    let name = pin_name_of(netns, dev, &planned);
    let dir = a
        .pin
        .clone()
        .unwrap_or_else(|| pins::default_dir(&obj.name, &name));
    let staged = pins::with_tree(|| {
        ensure_bpffs()?;
        pins::stage(loaded, &dir)
    })?;
    let on = Device {
        netns,
        name: dev,
        ifindex,
    };
    let hooked = match planned {
        Hook::Xdp { mode } if a.link => xdp_through_link(a, &mut h, &on, lp, mode, &staged, &dir),
        Hook::Xdp { mode } => attach_xdp(a, &mut h, &on, lp, mode),
        Hook::Tc { .. } => attach_tc(a, &mut h, &on, lp, obj, &planned),
    };
    let (hook, old_ids) = match hooked {
        Ok(x) => x,
        Err(e) => {
            let _ = pins::with_tree(|| {
                pins::unstage(&staged);
                Ok(())
            });
            return Err(e);
        }
    };
    let att = Attached {
        dev: dev.to_string(),
        ifindex,
        hook,
        pin_dir: Some(dir.clone()),
    };
    let pinned = match pins::with_tree(|| pins::settle(&staged, &dir)) {
        Ok(p) => p,
        Err(e) => {
            let _ = undo(&mut h, netns, &att);
            return Err(e);
        }
    };
    if a.explain {
        explain_line!("-- pin programs and maps in bpffs");
        for p in &pinned {
            explain_line!("bpf(BPF_OBJ_PIN, \"{}\")", p.display());
        }
        explain_line!("   why: when rbpf-load exits its fds close. The device keeps the attached program, but the kernel empties a PROG_ARRAY when its last user reference (an fd or a pin) goes, and the tail calls would silently stop; a pin is such a reference, and lets `map dump` and `detach` find everything later");
    }
    forget_replaced(a.explain, lp.id, &name, old_ids)?;
    Ok(att)
}

/// Where the program will go, before anything is attached (tc: the direction, priority and
/// handle asked for, which the kernel takes as given).
fn planned_hook(a: &AttachArgs, lp: &LoadedProgram, def: &SectionDef) -> CliResult<Hook> {
    Ok(match def.attach {
        AttachKind::Xdp => Hook::Xdp {
            mode: match a.mode {
                None => XdpMode::Auto,
                Some(Mode::Skb) => XdpMode::Skb,
                Some(Mode::Native) => XdpMode::Native,
                Some(Mode::Hw) => XdpMode::Hw,
            },
        },
        AttachKind::Tc(dir) => Hook::Tc {
            direction: if a.egress {
                TcDirection::Egress
            } else if a.ingress {
                TcDirection::Ingress
            } else {
                dir.ok_or_else(|| {
                    CliError::new(format!(
                        "prog '{}' is a tc classifier: choose --ingress or --egress",
                        lp.name
                    ))
                })?
            },
            priority: a.prio.unwrap_or(1),
            handle: a.handle.unwrap_or(1),
        },
        _ => return Err(CliError::new("not a network hook")),
    })
}

pub(super) fn pin_name_of(netns: Option<&str>, dev: &str, hook: &Hook) -> String {
    match *hook {
        Hook::Xdp { .. } => pins::xdp_name(netns, dev),
        Hook::Tc {
            direction,
            priority,
            handle,
        } => pins::tc_name(
            netns,
            dev,
            direction == TcDirection::Egress,
            priority,
            handle,
        ),
    }
}

/// What we replaced is not attached here any more: its pins for this hook go.
fn forget_replaced(explain: bool, id: u32, name: &str, old_ids: Vec<u32>) -> CliResult {
    let old: Vec<(u32, String)> = old_ids
        .into_iter()
        .filter(|old| *old != id)
        .map(|old| (old, name.to_string()))
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    for d in pins::with_tree(|| Ok(pins::remove_for(&old)))? {
        if explain {
            explain_line!("removed the pins of the replaced program: {}", d.display());
        }
    }
    Ok(())
}

/// XDP through `RTM_SETLINK`; returns the hook (with the mode the kernel chose) and what
/// `--replace` replaced.
pub(super) fn attach_xdp(
    a: &AttachArgs,
    h: &mut Handle,
    on: &Device,
    lp: &LoadedProgram,
    mode: XdpMode,
) -> CliResult<(Hook, Vec<u32>)> {
    let (ifindex, dev) = (on.ifindex, on.name);
    // What --replace will replace (without it, an attached program makes us fail).
    let before: Vec<u32> = if a.replace {
        h.xdp_query(ifindex)
            .map(|v| v.iter().map(|i| i.prog_id).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let flags = XdpFlags {
        replace: a.replace,
        expected: None,
    };
    explain(a.explain, &[
        "   XDP: RTM_SETLINK with IFLA_XDP { the program's fd, mode flags }",
        "   why: an XDP program runs in the driver's receive path, before the kernel builds an skb; it returns XDP_PASS, XDP_DROP, XDP_TX or XDP_REDIRECT for each frame",
        if a.replace { "   --replace: no XDP_FLAGS_UPDATE_IF_NOEXIST, so an attached program is swapped" } else { "   XDP_FLAGS_UPDATE_IF_NOEXIST: refuse (EBUSY) if a program is already attached, rather than replace it silently" },
    ]);
    h.xdp_attach(ifindex, lp.fd.as_fd(), mode, flags)
        .map_err(|e| xdp_attach_error(&e, dev))?;
    let now = h.xdp_query(ifindex).unwrap_or_default();
    let mode = now
        .iter()
        .find(|i| i.prog_id == lp.id)
        .map(|i| i.mode)
        .unwrap_or(mode);
    Ok((Hook::Xdp { mode }, before))
}

/// `--link`: XDP through a bpf link, pinned with the staged pins as `link` (with
/// `--replace`, the link pinned in `dir` gets the new program in one step).
fn xdp_through_link(
    a: &AttachArgs,
    h: &mut Handle,
    on: &Device,
    lp: &LoadedProgram,
    mode: XdpMode,
    staged: &pins::Staged,
    dir: &std::path::Path,
) -> CliResult<(Hook, Vec<u32>)> {
    let link = if a.replace && dir.join("link").exists() {
        let link = crate::attach::Link::from_pin(&dir.join("link"))
            .map_err(|e| CliError::new(e.to_string()))?;
        link.update(lp.fd.as_fd())
            .map_err(|e| CliError::new(e.to_string()))?;
        link
    } else {
        let flags = match mode {
            XdpMode::Auto => 0,
            XdpMode::Skb => 1 << 1,
            XdpMode::Native => 1 << 2,
            XdpMode::Hw => 1 << 3,
        };
        crate::attach::attach_xdp_link(lp.fd.as_fd(), on.ifindex, flags).map_err(|e| {
            CliError::new(e.to_string()).hint(format!(
                "`rbpf-load show --dev {}` says what holds the hook",
                on.name
            ))
        })?
    };
    pins::with_tree(|| {
        link.pin(&staged.path().join("link"))
            .map_err(|e| CliError::new(e.to_string()))
    })?;
    let now = h.xdp_query(on.ifindex).unwrap_or_default();
    let mode = now
        .iter()
        .find(|i| i.prog_id == lp.id)
        .map(|i| i.mode)
        .unwrap_or(mode);
    Ok((Hook::Xdp { mode }, Vec::new()))
}

/// A refused XDP attach, with what to do: `--replace` swaps a program in the same mode only.
fn xdp_attach_error(e: &netlink::NetlinkError, dev: &str) -> CliError {
    let err = CliError::new(e.to_string());
    let other_mode = e
        .ext_ack()
        .is_some_and(|m| m.starts_with("Native and generic XDP"));
    if other_mode {
        return err.hint(format!("an XDP program is attached to {dev} in the other mode (native or generic), and --replace cannot swap across modes: `rbpf-load detach --dev {dev} --xdp` first, then attach"));
    }
    if e.ext_ack().is_some_and(|m| m.contains("link")) {
        return err.hint(format!("a bpf link holds {dev}'s XDP hook: netlink can neither replace nor detach its program; `rbpf-load detach --dev {dev} --xdp` removes one of ours, `--link --replace` swaps its program"));
    }
    if e.errno() == Some(libc::EBUSY) || e.errno() == Some(libc::EEXIST) {
        return err.hint(format!("an XDP program is already attached to {dev}: add --replace to swap it, or `rbpf-load detach --dev {dev} --xdp`"));
    }
    err
}

/// The device an attachment goes to.
pub(super) struct Device<'a> {
    pub netns: Option<&'a str>,
    pub name: &'a str,
    pub ifindex: u32,
}

/// A direct-action bpf filter on clsact (created when missing); returns the hook as the
/// kernel echoed it and what `--replace` replaced.
pub(super) fn attach_tc(
    a: &AttachArgs,
    h: &mut Handle,
    on: &Device,
    lp: &LoadedProgram,
    obj: &Object,
    planned: &Hook,
) -> CliResult<(Hook, Vec<u32>)> {
    let Hook::Tc {
        direction,
        priority,
        handle,
    } = *planned
    else {
        return Err(CliError::new("not a tc hook"));
    };
    let (netns, ifindex, dev) = (on.netns, on.ifindex, on.name);
    let nd = match direction {
        TcDirection::Ingress => netlink::TcDirection::Ingress,
        TcDirection::Egress => netlink::TcDirection::Egress,
    };
    explain(a.explain, &[
        "   tc: the clsact qdisc first (RTM_NEWQDISC, NLM_F_EXCL: EEXIST means it is there already), then a bpf filter on its ingress or egress hook (RTM_NEWTFILTER)",
        "   why: clsact is a qdisc with no queue, only two hooks where filters see every packet as an skb; direct-action (TCA_BPF_FLAG_ACT_DIRECT) makes the program's return value the verdict (TC_ACT_OK, TC_ACT_SHOT)",
    ]);
    let created = ensure_clsact(h, on)?;
    // What --replace will replace (without it, a filter there makes us fail).
    let before: Vec<u32> = if a.replace {
        h.tc_list(ifindex)
            .map(|v| {
                v.iter()
                    .filter(|f| f.direction == nd && f.priority == priority && f.handle == handle)
                    .map(|f| f.prog_id)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let res = h.tc_attach(
        ifindex,
        TcHook {
            direction: nd,
            priority,
            handle,
        },
        lp.fd.as_fd(),
        &format!("{}:[{}]", lp.name, obj.name),
        TcAttachFlags { replace: a.replace },
    );
    let info = match res {
        Ok(i) => i,
        Err(e) => {
            if created {
                let _ = cleanup_clsact(h, ifindex, netns, dev);
            }
            let exists = e.errno() == Some(libc::EEXIST);
            let err = CliError::new(e.to_string());
            return Err(if exists {
                err.hint(format!("a filter with prio {priority} handle {handle} is already on {dev} {direction:?}: add --replace, choose --prio/--handle, or detach it"))
            } else {
                err
            });
        }
    };
    Ok((
        Hook::Tc {
            direction,
            priority: info.priority,
            handle: info.handle,
        },
        before,
    ))
}

pub(super) fn describe(att: &Attached, lp: &LoadedProgram, why: &str) -> String {
    let hook = match &att.hook {
        Hook::Xdp { mode } => match att.pin_dir.as_ref().filter(|d| d.join("link").exists()) {
            Some(_) => format!("xdp ({}, bpf link)", mode_name(*mode)),
            None => format!("xdp ({})", mode_name(*mode)),
        },
        Hook::Tc {
            direction,
            priority,
            handle,
            ..
        } => {
            format!(
                "tc {} prio {priority} handle {handle} direct-action",
                if *direction == TcDirection::Ingress {
                    "ingress"
                } else {
                    "egress"
                }
            )
        }
    };
    let pin = att
        .pin_dir
        .as_ref()
        .map(|d| format!(", pinned at {}", d.display()))
        .unwrap_or_default();
    let type_note = if why.starts_with("section name") {
        String::new()
    } else {
        format!(" [type from {why}]")
    };
    format!(
        "{}: {hook}: prog id {} '{}'{pin}{type_note}",
        att.dev, lp.id, lp.name
    )
}

pub fn mode_name(m: XdpMode) -> &'static str {
    match m {
        XdpMode::Auto => "auto",
        XdpMode::Skb => "skb",
        XdpMode::Native => "native",
        XdpMode::Hw => "hw",
    }
}

/// Make sure the device has a clsact qdisc; says whether we created it. The marker that
/// says so is made before the qdisc, so that a process killed in between never leaves a
/// qdisc of ours unmarked (a marker without a qdisc is dropped by [`cleanup_clsact`]).
fn ensure_clsact(h: &mut Handle, on: &Device) -> CliResult<bool> {
    let marker = pins::clsact_marker(on.netns, on.name);
    let had_marker = marker.exists();
    if !had_marker {
        pins::with_tree(|| {
            ensure_bpffs()?;
            Ok(pins::make_dir(&marker)?)
        })?;
    }
    match h.ensure_clsact(on.ifindex) {
        Ok(ClsactState::Created) => Ok(true),
        Ok(_) => {
            if !had_marker {
                drop_marker(&marker)?;
            }
            Ok(false)
        }
        Err(e) => {
            if !had_marker {
                let _ = drop_marker(&marker);
            }
            Err(CliError::new(e.to_string()))
        }
    }
}

/// Delete the clsact qdisc if we created it and no filter of anybody is left on it. The
/// caller holds the device's lock, so no rbpf-load adds one meanwhile; see
/// docs/reliability.md for other tools.
pub fn cleanup_clsact(
    h: &mut Handle,
    ifindex: u32,
    netns: Option<&str>,
    dev: &str,
) -> CliResult<bool> {
    let marker = pins::clsact_marker(netns, dev);
    if !marker.exists() {
        return Ok(false);
    }
    // Filters of any kind on either hook, counted again under the device's lock.
    if h.tc_filter_count(ifindex).unwrap_or(1) > 0 {
        return Ok(false);
    }
    // The request names the kind: the kernel deletes only a clsact qdisc ("Invalid qdisc
    // name" for an `ingress` one someone put there since), so no qdisc dump first.
    match h.delete_clsact(ifindex) {
        Ok(()) => {}
        // Gone already (or never made: a process killed after marking): the marker goes.
        Err(e) if e.errno() == Some(libc::ENOENT) => {
            drop_marker(&marker)?;
            return Ok(false);
        }
        Err(e) if e.errno() == Some(libc::EINVAL) => return Ok(false),
        Err(e) => return Err(CliError::new(e.to_string())),
    }
    drop_marker(&marker)?;
    Ok(true)
}

/// Remove the marker that says we created a device's clsact qdisc.
fn drop_marker(marker: &std::path::Path) -> CliResult {
    pins::with_tree(|| {
        let _ = std::fs::remove_dir(marker);
        pins::tidy();
        Ok(())
    })
}

/// Undo one attachment: detach, unpin, and remove a clsact we created that is now empty.
pub fn detach_attached(netns: Option<&str>, att: &Attached) -> CliResult {
    let mut h = nl()?;
    let _lock = pins::lock_device(att.ifindex, &att.dev)?;
    undo(&mut h, netns, att)
}

/// [`detach_attached`] for a caller that holds the device's lock.
fn undo(h: &mut Handle, netns: Option<&str>, att: &Attached) -> CliResult {
    let link = att
        .pin_dir
        .as_ref()
        .map(|d| d.join("link"))
        .filter(|l| l.exists());
    let res = match (att.hook, link) {
        (Hook::Xdp { .. }, Some(l)) => crate::attach::Link::from_pin(&l)
            .and_then(|link| link.detach())
            .map_err(|e| CliError::new(e.to_string())),
        (Hook::Xdp { mode }, None) => h
            .xdp_detach(att.ifindex, mode, None)
            .map_err(|e| CliError::new(e.to_string())),
        (
            Hook::Tc {
                direction,
                priority,
                handle,
                ..
            },
            _,
        ) => {
            let nd = if direction == TcDirection::Ingress {
                netlink::TcDirection::Ingress
            } else {
                netlink::TcDirection::Egress
            };
            h.tc_detach(att.ifindex, nd, priority, handle)
                .map_err(|e| CliError::new(e.to_string()))
        }
    };
    if let Some(d) = &att.pin_dir {
        pins::with_tree(|| {
            let _ = pins::remove(d);
            Ok(())
        })?;
    }
    if matches!(att.hook, Hook::Tc { .. }) {
        cleanup_clsact(h, att.ifindex, netns, &att.dev)?;
    }
    res
}
