//! No flag silently does nothing: options that cannot apply to the chosen program, and
//! `--events` specs the object cannot satisfy, are errors before anything is loaded.

use super::args::AttachArgs;
use super::{CliError, CliResult};
use crate::btf::kind;
use crate::load;
use crate::obj::{map_type, Object, Program};
use crate::section::{AttachKind, SectionDef};

/// Every check, in the order a user would fix them.
pub fn check(a: &AttachArgs, obj: &Object, prog: &Program, def: &SectionDef) -> CliResult {
    check_foreground(a)?;
    check_hook_flags(a, prog, def)?;
    check_tcx_flags(a, prog, def)?;
    for spec in &a.events {
        check_events(obj, spec)?;
    }
    Ok(())
}

/// `--events`, `--count` and `--trace-pipe` print while rbpf-load stays in the foreground.
fn check_foreground(a: &AttachArgs) -> CliResult {
    if a.foreground {
        return Ok(());
    }
    let flag = if !a.events.is_empty() {
        "--events"
    } else if a.trace_pipe {
        "--trace-pipe"
    } else {
        return Ok(());
    };
    Err(CliError::new(format!(
        "{flag} needs --foreground: events are printed while rbpf-load stays attached, and without --foreground it exits once attached"
    ))
    .hint("add --foreground (Ctrl-C or --count N detaches)"))
}

/// The flags given that do not apply to this program's hook, by name.
fn misplaced(a: &AttachArgs, attach: AttachKind) -> Vec<&'static str> {
    let tc_only = [
        (a.ingress, "--ingress"),
        (a.egress, "--egress"),
        (a.prio.is_some(), "--prio"),
        (a.handle.is_some(), "--handle"),
        (a.tcx, "--tcx"),
        (a.first, "--first"),
        (a.last, "--last"),
        (a.before.is_some(), "--before"),
        (a.after.is_some(), "--after"),
    ];
    let xdp_only = [(a.xdp, "--xdp"), (a.mode.is_some(), "--mode")];
    let net = [(!a.dev.is_empty(), "--dev"), (a.replace, "--replace")];
    let bad: Vec<(bool, &'static str)> = match attach {
        AttachKind::Xdp => tc_only.to_vec(),
        AttachKind::Tc(_) => xdp_only.to_vec(),
        _ => [&tc_only[..], &xdp_only[..], &net[..]].concat(),
    };
    bad.into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f)
        .collect()
}

/// `--xdp` on a tc program, `--ingress` on an XDP one, `--dev` on a tracepoint...
fn check_hook_flags(a: &AttachArgs, prog: &Program, def: &SectionDef) -> CliResult {
    let bad = misplaced(a, def.attach);
    let Some(first) = bad.first() else {
        return Ok(());
    };
    let what = match def.attach {
        AttachKind::Xdp => "an XDP program: --ingress, --egress, --prio and --handle are for tc",
        AttachKind::Tc(_) => "a tc classifier: --xdp and --mode are for XDP",
        _ => "not attached to a network device: --dev and the XDP and tc options do not apply",
    };
    Err(CliError::new(format!(
        "{} does not apply: prog '{}' (section '{}') is {} ({})",
        bad.join(", "),
        prog.name,
        prog.section,
        load::type_name(def),
        what
    ))
    .hint(format!(
        "leave out {first}, or choose another program with --sec/--prog"
    )))
}

/// `--events MAP[=STRUCT]`: a perf event array or ring buffer of the object, and a struct of
/// its BTF.
fn check_events(obj: &Object, spec: &str) -> CliResult {
    let (map, ty) = match spec.split_once('=') {
        Some((m, t)) => (m, Some(t)),
        None => (spec, None),
    };
    let m = obj.maps.iter().find(|m| m.name == map).ok_or_else(|| {
        CliError::new(format!("--events {spec}: no map '{map}' in {}", obj.name)).hint(format!(
            "maps: {}",
            obj.maps
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if !matches!(m.map_type, map_type::PERF_EVENT_ARRAY | map_type::RINGBUF) {
        return Err(CliError::new(format!(
            "--events {map}: a {} map has no events (perf event array or ring buffer only)",
            map_type::name(m.map_type)
        )));
    }
    let Some(t) = ty else { return Ok(()) };
    let found = obj
        .btf
        .as_ref()
        .and_then(|b| crate::events::format::record_type(b, t));
    if found.is_some() {
        return Ok(());
    }
    Err(CliError::new(format!(
        "--events {spec}: no struct '{t}' in the object's BTF"
    ))
    .hint(format!("structs: {}", struct_names(obj).join(", "))))
}

/// The named structs of the object's BTF, sorted.
fn struct_names(obj: &Object) -> Vec<String> {
    let Some(b) = obj.btf.as_ref() else {
        return vec!["(none: the object has no BTF; build it with clang -g)".into()];
    };
    let mut v: Vec<String> = b
        .own_ids()
        .filter(|&id| b.kind_of(id) == kind::STRUCT && !b.name(id).is_empty())
        .map(|id| b.name(id).to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A place in a tcx chain needs tcx; clsact's priority and handle mean nothing there.
fn check_tcx_flags(a: &AttachArgs, prog: &Program, def: &SectionDef) -> CliResult {
    if !matches!(def.attach, AttachKind::Tc(_)) {
        return Ok(());
    }
    let tcx = super::tcx::wanted(a, &prog.section, def);
    let place = [
        (a.first, "--first"),
        (a.last, "--last"),
        (a.before.is_some(), "--before"),
        (a.after.is_some(), "--after"),
    ];
    if let (false, Some((_, flag))) = (tcx, place.iter().find(|(on, _)| *on)) {
        return Err(CliError::new(format!(
            "{flag} places a program in a tcx chain, and prog '{}' (section '{}') attaches through clsact",
            prog.name, prog.section
        ))
        .hint("add --tcx (Linux 6.6+), or order clsact filters with --prio"));
    }
    let clsact = [
        (a.prio.is_some(), "--prio"),
        (a.handle.is_some(), "--handle"),
    ];
    if let (true, Some((_, flag))) = (tcx, clsact.iter().find(|(on, _)| *on)) {
        return Err(CliError::new(format!(
            "{flag} numbers a clsact filter, and prog '{}' (section '{}') goes into a tcx chain",
            prog.name, prog.section
        ))
        .hint("place it with --first, --last, --before PROG or --after PROG"));
    }
    Ok(())
}
