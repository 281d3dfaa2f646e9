//! `rbpf-load inspect OBJ [--disasm] [--btf] [--kernel] [-j]`: print [`crate::inspect`]'s
//! report. No kernel calls (only its BTF file with --kernel).

use super::args::InspectArgs;
use super::{CliError, CliResult};
use crate::inspect::{self, InspectOptions, Report};

pub fn run(a: &InspectArgs) -> CliResult {
    let opts = InspectOptions {
        disasm: a.disasm,
        btf_types: a.btf,
        kernel: a.kernel,
    };
    let r = inspect::inspect_file(&a.object, opts).map_err(|e| CliError::new(e.to_string()))?;
    if a.json {
        let s = serde_json::to_string_pretty(&r).map_err(CliError::from)?;
        println!("{s}");
        return Ok(());
    }
    print!("{}", text(&r, a.kernel));
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report as text, one part after the other.
pub fn text(r: &Report, kernel: bool) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!(
        "object {}: license '{}', {}, {}",
        r.object,
        r.license,
        plural(r.programs.len(), "program", "programs"),
        plural(r.maps.len(), "map", "maps")
    ));

    line("\nsections:".into());
    for s in &r.sections {
        line(format!(
            "  [{:2}] {:<24} {:>7} bytes  {}",
            s.index, s.name, s.size, s.role
        ));
    }

    line("\nprograms:".into());
    for p in &r.programs {
        let ty = match &p.prog_type {
            Some(t) => format!("{t}, decided by {}", p.type_source),
            None => format!("type unknown: {}", p.type_source),
        };
        line(format!("  {} (section {}): {ty}", p.name, p.section));
        if let Some(at) = &p.attach {
            let arg = p
                .attach_arg
                .as_ref()
                .map(|a| format!(" '{a}'"))
                .unwrap_or_default();
            line(format!("      attach: {at}{arg}"));
        }
        let subs = if p.subprograms.is_empty() {
            "no sub-programs".to_string()
        } else {
            format!(
                "sub-programs: {}",
                p.subprograms
                    .iter()
                    .map(|s| format!("{} ({} insns at {})", s.name, s.insns, s.start))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        line(format!(
            "      {} insns, {} after linking; {subs}",
            p.insns, p.linked_insns
        ));
    }

    line("\nmaps:".into());
    for m in &r.maps {
        let kt = m
            .key_type
            .as_ref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let vt = m
            .value_type
            .as_ref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let origin = match m.defined_in.as_str() {
            "btf" => "BTF-defined",
            "legacy" => "legacy bpf_map_def",
            _ => "global data",
        };
        let mut s = format!(
            "  {}: {} ({origin}), key {} B{kt}, value {} B{vt}, {}",
            m.name,
            m.map_type,
            m.key_size,
            m.value_size,
            match (m.map_type.as_str(), m.max_entries) {
                // max_entries means something else for these two.
                ("perf_event_array", 0) => "one slot per CPU (set at load)".to_string(),
                ("ringbuf", n) => format!("a {n}-byte ring"),
                (_, n) => plural(n as usize, "entry", "entries"),
            }
        );
        if !m.flag_names.is_empty() {
            s += &format!(", flags {}", m.flag_names.join("|"));
        }
        if m.pinning != "none" {
            s += &format!(", pinning {}", m.pinning);
            if let Some(p) = &m.pin_path {
                s += &format!(" at {p}");
            }
        }
        if m.kernel_name != m.name {
            s += &format!(", kernel name '{}'", m.kernel_name);
        }
        line(s);
        if !m.values.is_empty() {
            line(format!(
                "      .values: {}",
                m.values
                    .iter()
                    .map(|v| format!("[{}] {}", v.slot, v.program))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for v in &m.variables {
            let init = match &v.initial {
                Some(v) => format!(" = {v}"),
                None => " (zero)".into(),
            };
            line(format!(
                "      +{:<4} {} ({} B){init}",
                v.offset, v.c_type, v.size
            ));
        }
    }

    line(format!("\nrelocations ({}):", r.relocations.len()));
    for x in &r.relocations {
        line(format!(
            "  {} insn {} ({}+{}): {} -> {}{}",
            x.section,
            x.insn,
            x.function,
            x.func_insn,
            x.symbol,
            x.becomes,
            if x.from_elf {
                ""
            } else {
                " [no ELF relocation: resolved by clang]"
            }
        ));
    }

    if !r.core.is_empty() {
        line(format!("\nCO-RE relocations ({}):", r.core.len()));
        for c in &r.core {
            line(format!(
                "  {} insn {} ({}+{}): {} access \"{}\": {}",
                c.section, c.insn, c.function, c.func_insn, c.kind, c.access, c.local
            ));
            if let Some(k) = &c.kernel {
                let what = match (&k.target, k.new) {
                    (Some(t), Some(n)) => format!("{t}: {} -> {n}", k.old),
                    _ => k.summary.clone(),
                };
                line(format!("      kernel: {what}"));
            }
        }
        if !kernel {
            line("  (--kernel resolves them against this machine's kernel)".into());
        }
    }

    if let Some(b) = &r.btf {
        let kinds: Vec<String> = b.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        line(format!(
            "\nBTF: {} types ({}); {} func_info, {} line_info, {} CO-RE records",
            b.types,
            kinds.join(", "),
            b.func_info,
            b.line_info,
            b.core_relos
        ));
    } else {
        line("\nBTF: none".into());
    }

    line("\ntail calls:".into());
    if r.tail_calls.is_empty() {
        line("  none".into());
    }
    for t in &r.tail_calls {
        let map = t.map.as_deref().unwrap_or("(unknown map)");
        let slot = t
            .slot
            .map(|s| s.to_string())
            .unwrap_or_else(|| "computed".into());
        let to = if t.targets.is_empty() {
            "(slots filled at run time)".to_string()
        } else {
            t.targets
                .iter()
                .map(|x| format!("{} [{}]", x.program, x.slot))
                .collect::<Vec<_>>()
                .join(", ")
        };
        line(format!(
            "  {} -> {map}[{slot}] -> {to}  (bpf_tail_call at insn {} in {})",
            t.program, t.insn, t.function
        ));
    }

    for p in &r.programs {
        let Some(d) = &p.disasm else {
            continue;
        };
        line(format!(
            "\ndisassembly of {} (section {}):",
            p.name, p.section
        ));
        let mut last: Option<(&str, u32)> = None;
        for l in d {
            if let Some(f) = &l.function {
                line(format!("{f}:"));
            }
            // line_info has one record per column: show a C line once per run.
            let src = l
                .source
                .as_ref()
                .filter(|s| last != Some((s.file.as_str(), s.line)));
            if let Some(s) = &l.source {
                last = Some((s.file.as_str(), s.line));
            }
            if let Some(s) = src {
                let file = s.file.rsplit('/').next().unwrap_or(&s.file);
                line(format!("  ; {}  ({file}:{})", s.text, s.line));
            }
            line(format!("  {:4}: {}", l.insn, l.text));
        }
    }

    if let Some(types) = &r.btf_types {
        line(format!("\nBTF types ({}):", types.len()));
        for t in types {
            let name = if t.name.is_empty() {
                String::new()
            } else {
                format!(" '{}'", t.name)
            };
            line(format!("[{}] {}{name}", t.id, t.kind));
            for l in t.c.lines() {
                line(format!("    {l}"));
            }
        }
    }
    o
}
