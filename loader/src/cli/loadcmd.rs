//! `rbpf-load load OBJ [--pin DIR]`: load everything, attach nothing.

use super::args::LoadArgs;
use super::util::{apply_sets, apply_share, ensure_bpffs, load_error};
use super::{CliError, CliResult};
use crate::load::{self, LoadError, LoadOptions};
use crate::obj::{map_type, Object};
use crate::section;

pub fn run(a: &LoadArgs) -> CliResult {
    let mut obj = Object::from_file(&a.object)?;
    apply_sets(&mut obj, &a.set)?;
    let hint = match &a.prog_type {
        None => None,
        Some(t) => Some(section::by_prefix(t).ok_or_else(|| {
            CliError::new(format!("--type {t}: unknown program type")).hint(format!(
                "use a section name such as {}",
                section::SECTIONS
                    .iter()
                    .map(|d| d.prefix)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    let opts = |only: Option<Vec<String>>| -> CliResult<LoadOptions> {
        let mut o = LoadOptions {
            only,
            type_hint: hint,
            log_level: u32::from(a.verbose.clamp(1, 2)),
            success_log_level: u32::from(a.verbose.min(2)),
            core: a.core,
            explain: a
                .explain
                .then(|| Box::new(|s: &str| explain_line!("{s}")) as load::Narrator),
            ..Default::default()
        };
        apply_share(&mut o, &a.share)?;
        Ok(o)
    };
    let loaded = match load::load(&obj, &opts(None)?) {
        Ok(l) => l,
        Err(
            e @ (LoadError::Verifier(_)
            | LoadError::Prog { .. }
            | LoadError::Target { .. }
            | LoadError::NoType { .. }),
        ) => {
            // Name every program the kernel refuses, not only the first.
            let mut failed = Vec::new();
            for p in &obj.programs {
                let mut trial = opts(Some(vec![p.name.clone()]))?;
                trial.trial = true;
                if let Err(e) = load::load(&obj, &trial) {
                    failed.push(load_error(e, a.verbose > 0));
                }
            }
            if failed.is_empty() {
                return Err(load_error(e, a.verbose > 0));
            }
            let n = failed.len();
            for f in &failed[..n - 1] {
                eprintln!("Error: {}", f.msg);
                if let Some(d) = &f.detail {
                    eprintln!("{d}");
                }
            }
            let mut last = failed.pop().unwrap_or_else(|| CliError::new("load failed"));
            last.msg = format!(
                "{}\n{n} of {} programs refused",
                last.msg,
                obj.programs.len()
            );
            return Err(last);
        }
        Err(e) => return Err(load_error(e, a.verbose > 0)),
    };
    if a.json {
        let progs: Vec<_> = loaded
            .programs
            .iter()
            .map(|p| {
                serde_json::json!({"name": p.name, "section": p.section, "type": load::type_name(&p.def),
                    "id": p.id, "tag": p.tag, "insns": p.insn_count, "verified_insns": p.verified_insns,
                    "core_relos": p.core_relos, "verifier_log": p.verifier_log,
                    "core_by": if p.core_relos == 0 { None } else if p.core_by_kernel { Some("kernel") } else { Some("user") }})
            })
            .collect();
        let maps: Vec<_> = loaded
            .maps
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({"name": m.def.name, "type": map_type::name(m.def.map_type), "id": m.id});
                if let Some(s) = &m.shared {
                    v["shared"] = serde_json::json!({"path": s.path, "reused": s.reused});
                }
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"object": obj.name, "programs": progs, "maps": maps, "pinned": a.pin})
        );
    } else {
        for p in &loaded.programs {
            println!(
                "prog {} ({}, section {}): id {} tag {}, {} insns, verifier processed {}{}",
                p.name,
                load::type_name(&p.def),
                p.section,
                p.id,
                p.tag,
                p.insn_count,
                p.verified_insns,
                match (p.core_relos, p.core_by_kernel) {
                    (0, _) => String::new(),
                    (n, true) => format!(", {n} CO-RE relocations resolved by the kernel"),
                    (n, false) => format!(", {n} CO-RE relocations resolved by rbpf-load"),
                }
            );
        }
        for m in &loaded.maps {
            println!(
                "map {} ({}): id {}{}",
                m.def.name,
                map_type::name(m.def.map_type),
                m.id,
                shared_note(m)
            );
        }
        super::util::print_verifier_logs(&loaded, a.verbose);
    }
    match &a.pin {
        Some(dir) => {
            let pins = super::pins::with_tree(|| {
                ensure_bpffs()?;
                loaded
                    .pin_all(dir)
                    .map_err(|e| CliError::new(e.to_string()))
            })?;
            if a.explain {
                for p in &pins {
                    explain_line!("bpf(BPF_OBJ_PIN, \"{}\")", p.display());
                }
                explain_line!("   why: a pin in bpffs is a reference: the objects stay after rbpf-load exits, until the pins are removed (rm)");
            }
            if !a.json {
                println!("pinned {} objects under {}", pins.len(), dir.display());
            }
        }
        None if !a.json => {
            if a.explain {
                explain_line!("-- exit: every fd closes; with no other reference the kernel frees the programs, maps and BTF");
            }
            println!(
                "{}: the kernel accepts it; unloaded (use --pin DIR to keep it)",
                obj.name
            )
        }
        None => {}
    }
    Ok(())
}

/// `, shared at PATH (pinned by an earlier load)` for a map shared through bpffs.
pub fn shared_note(m: &load::LoadedMap) -> String {
    match &m.shared {
        Some(s) if s.reused => format!(
            ", shared at {} (pinned by an earlier load)",
            s.path.display()
        ),
        Some(s) => format!(", shared at {} (pinned now)", s.path.display()),
        None => String::new(),
    }
}
