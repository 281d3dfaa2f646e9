//! The lessons in docs/ (and the tour in README.md) run: every command in a ```console block
//! is executed with bash and its output compared with the text under it. The format is
//! described in docs/README.md ("How the lessons are tested"); in short:
//!
//! - ```` ```console ```` blocks run everywhere, ```` ```console vm ```` only when
//!   RBPF_VM_KERNEL is set and not empty (kernels that allow fentry and kprobes), ```` ```console host ````
//!   only when it is not;
//! - `$ ` starts a command (a trailing `\` continues it on the next line); the lines after it
//!   are its expected output, stdout and stderr together; `[exit N]` as the last line means
//!   it must exit with N (otherwise 0); the exit status is compared on its own, so no `...`
//!   can swallow it;
//! - `...` alone on a line skips any number of lines; ` ...` at the end of a line skips the
//!   rest of that line; `<word>` matches one run of non-blank characters (ids, fds, times),
//!   except `<positive>`, which matches only a decimal number above zero (a counter that
//!   must have moved);
//! - an HTML comment `<!-- doctest ... -->` names the lab (`lab: NS_A NS_B DEV_A DEV_B`,
//!   the names the lesson uses for `rbpf_tests::lab::Lab`'s namespaces and veth ends) and
//!   other names to make unique (`unique: NAME ...`: namespaces, devices, bpffs paths).
//!   The runner substitutes them in commands, and back in the output before comparing.

use rbpf_tests::lab::Lab;
use rbpf_tests::{require_priv, root};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    All,
    Vm,
    Host,
}

#[derive(Debug)]
struct Command {
    /// Line number (1-based) of the `$ ` line.
    line: usize,
    text: String,
    expected: Vec<String>,
    /// The exit status it must give: N of a last line `[exit N]`, otherwise 0.
    exit: i32,
}

#[derive(Debug)]
struct Block {
    line: usize,
    place: Where,
    commands: Vec<Command>,
}

#[derive(Debug, Default)]
struct Lesson {
    /// The file has a `<!-- doctest -->` header: its author declared the names to replace.
    declared: bool,
    lab: Option<[String; 4]>,
    unique: Vec<String>,
    blocks: Vec<Block>,
}

fn parse(text: &str) -> Result<Lesson, String> {
    let mut lesson = Lesson::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.trim_start().starts_with("<!-- doctest") {
            lesson.declared = true;
            // `<!-- doctest -->` on one line: nothing to declare.
            if l.contains("-->") {
                i += 1;
                continue;
            }
            i += 1;
            while i < lines.len() && !lines[i].contains("-->") {
                let h = lines[i].trim();
                if let Some(names) = h.strip_prefix("lab:") {
                    let v: Vec<String> = names.split_whitespace().map(String::from).collect();
                    let arr: [String; 4] = v.try_into().map_err(|v: Vec<String>| {
                        format!(
                            "line {}: `lab:` needs 4 names (ns a, ns b, dev a, dev b), not {}",
                            i + 1,
                            v.len()
                        )
                    })?;
                    lesson.lab = Some(arr);
                } else if let Some(names) = h.strip_prefix("unique:") {
                    lesson
                        .unique
                        .extend(names.split_whitespace().map(String::from));
                } else if !h.is_empty() {
                    return Err(format!("line {}: unknown doctest header `{h}`", i + 1));
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let Some(tag) = l.trim_start().strip_prefix("```console") else {
            // Any other fenced block is text, even if it shows a header or commands.
            if l.trim_start().starts_with("```") {
                i += 1;
                while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                    i += 1;
                }
            }
            i += 1;
            continue;
        };
        let place = match tag.trim() {
            "" => Where::All,
            "vm" => Where::Vm,
            "host" => Where::Host,
            t => return Err(format!("line {}: unknown console block tag `{t}`", i + 1)),
        };
        let mut block = Block {
            line: i + 1,
            place,
            commands: Vec::new(),
        };
        i += 1;
        while i < lines.len() && lines[i].trim_end() != "```" {
            let l = lines[i].trim_end();
            if let Some(cmd) = l.strip_prefix("$ ") {
                let line = i + 1;
                let mut text = cmd.to_string();
                while text.ends_with('\\') && i + 1 < lines.len() {
                    i += 1;
                    text.push('\n');
                    text.push_str(lines[i].trim_end());
                }
                block.commands.push(Command {
                    line,
                    text,
                    expected: Vec::new(),
                    exit: 0,
                });
            } else {
                match block.commands.last_mut() {
                    Some(c) => c.expected.push(l.to_string()),
                    None if l.is_empty() => {}
                    None => {
                        return Err(format!(
                            "line {}: output before any `$ ` command in a console block",
                            i + 1
                        ))
                    }
                }
            }
            i += 1;
        }
        if i >= lines.len() {
            return Err(format!("line {}: console block never closed", block.line));
        }
        // Blank lines at the end of a command's output are layout, not output; a last
        // `[exit N]` is the status, compared apart from the output.
        for c in &mut block.commands {
            while c.expected.last().is_some_and(|l| l.is_empty()) {
                c.expected.pop();
            }
            if let Some(n) = c.expected.last().and_then(|l| exit_line(l)) {
                c.exit = n;
                c.expected.pop();
            }
            if c.expected.iter().any(|l| exit_line(l).is_some()) {
                return Err(format!(
                    "line {}: `[exit N]` must be the last line of a command's output",
                    c.line
                ));
            }
        }
        lesson.blocks.push(block);
        i += 1;
    }
    Ok(lesson)
}

/// N of an `[exit N]` line.
fn exit_line(l: &str) -> Option<i32> {
    l.strip_prefix("[exit ")?.strip_suffix(']')?.parse().ok()
}

/// One piece of an expected line.
enum Part<'a> {
    /// Text that must be there as it is.
    Lit(&'a str),
    /// `<word>`: one run of non-blank characters.
    Word,
    /// `<positive>`: a decimal number above zero (a counter that must have moved).
    Positive,
}

/// Does `line` match `pattern` (placeholders `<word>` and `<positive>`, a trailing ` ...`)?
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, rest_ok) = match pattern.strip_suffix(" ...") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    // Split into literal pieces and placeholders.
    let mut parts: Vec<Part> = Vec::new();
    let mut p = pattern;
    while let Some(start) = p.find('<') {
        let end = p[start..].find('>').map(|e| start + e);
        let word = end.map(|e| &p[start + 1..e]);
        match (end, word) {
            (Some(e), Some(w))
                if !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                parts.push(Part::Lit(&p[..start]));
                parts.push(if w == "positive" {
                    Part::Positive
                } else {
                    Part::Word
                });
                p = &p[e + 1..];
            }
            _ => {
                parts.push(Part::Lit(&p[..=start]));
                p = &p[start + 1..];
            }
        }
    }
    parts.push(Part::Lit(p));
    fn go(parts: &[Part], s: &str, rest_ok: bool) -> bool {
        match parts.split_first() {
            None => rest_ok || s.is_empty(),
            Some((Part::Lit(lit), more)) => {
                s.strip_prefix(lit).is_some_and(|r| go(more, r, rest_ok))
            }
            Some((Part::Word, more)) => {
                // One or more non-blank characters.
                let max = s.find(char::is_whitespace).unwrap_or(s.len());
                (1..=max).any(|n| s.is_char_boundary(n) && go(more, &s[n..], rest_ok))
            }
            Some((Part::Positive, more)) => {
                // The longest run of digits only: `12` is never taken as `1` then `2`.
                let n = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
                n > 0 && s[..n].bytes().any(|b| b != b'0') && go(more, &s[n..], rest_ok)
            }
        }
    }
    go(&parts, line, rest_ok)
}

/// Did command `c` print what it should and exit as it should? Two separate checks: no
/// `...` in the output can stand for the exit status.
fn command_ok(c: &Command, output: &[String], status: Option<i32>) -> bool {
    output_matches(&c.expected, output) && status == Some(c.exit)
}

/// Does the whole output match the expected lines (with `...` skipping lines)?
fn output_matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, more)) if e == "..." => {
            (0..=actual.len()).any(|skip| output_matches(more, &actual[skip..]))
        }
        Some((e, more)) => actual
            .split_first()
            .is_some_and(|(a, rest)| line_matches(e, a) && output_matches(more, rest)),
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Canonical name -> real name, and cleanup of what the lesson made, even on failure.
struct Names {
    pairs: Vec<(String, String)>,
    lab: Option<Lab>,
    unique: Vec<String>,
}

impl Names {
    fn new(lesson: &Lesson) -> Names {
        let mut pairs = Vec::new();
        let lab = lesson.lab.as_ref().map(|names| {
            let lab = Lab::new();
            let real = [&lab.ns_a, &lab.ns_b, &lab.veth_a, &lab.veth_b];
            for (c, r) in names.iter().zip(real) {
                pairs.push((c.clone(), r.clone()));
            }
            lab
        });
        let pid = std::process::id();
        let mut unique = Vec::new();
        for name in &lesson.unique {
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            // Device names are at most 15 characters.
            let real = if name.starts_with('/') {
                format!("{name}-{pid}-{n}")
            } else {
                format!("u{}x{n}", pid % 100_000)
            };
            unique.push(real.clone());
            pairs.push((name.clone(), real));
        }
        // Longest first, so that no name is replaced inside a longer one.
        pairs.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        Names { pairs, lab, unique }
    }

    fn to_real(&self, s: &str) -> String {
        self.pairs
            .iter()
            .fold(s.to_string(), |s, (c, r)| s.replace(c.as_str(), r))
    }

    fn to_canonical(&self, s: &str) -> String {
        let mut by_real: Vec<&(String, String)> = self.pairs.iter().collect();
        by_real.sort_by_key(|(_, r)| std::cmp::Reverse(r.len()));
        by_real
            .iter()
            .fold(s.to_string(), |s, (c, r)| s.replace(r.as_str(), c))
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for u in &self.unique {
            if u.starts_with('/') {
                // The path and anything the lesson named after it (`/tmp/x-1`, `/tmp/x-2`).
                let p = std::path::Path::new(u);
                let (Some(dir), Some(stem)) = (p.parent(), p.file_name()) else {
                    continue;
                };
                let stem = stem.to_string_lossy().into_owned();
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if e.file_name().to_string_lossy().starts_with(&stem) {
                        let _ = std::fs::remove_dir_all(e.path());
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            } else {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", u])
                    .output();
            }
        }
        // rbpf-load's own pins for attachments in the lab's namespaces.
        let ns: Vec<String> = self
            .lab
            .iter()
            .flat_map(|l| [l.ns_a.clone(), l.ns_b.clone()])
            .chain(self.unique.iter().cloned())
            .collect();
        let root = std::path::Path::new("/sys/fs/bpf/rbpf");
        if let Ok(objs) = std::fs::read_dir(root) {
            for o in objs.flatten() {
                if let Ok(atts) = std::fs::read_dir(o.path()) {
                    for a in atts.flatten() {
                        let name = a.file_name().to_string_lossy().into_owned();
                        if ns.iter().any(|n| name.starts_with(&format!("{n}@"))) {
                            let _ = std::fs::remove_dir_all(a.path());
                        }
                    }
                }
                let _ = std::fs::remove_dir(o.path());
            }
        }
        let _ = std::fs::remove_dir(root);
        // Dropping the lab deletes its namespaces, and with them devices and attachments.
        self.lab.take();
    }
}

/// What a command printed (stdout and stderr, in order) and its exit status (None: killed
/// by a signal).
fn run_command(cmd: &str) -> (Vec<String>, Option<i32>) {
    let path = format!(
        "{}:{}",
        root().join("target/debug").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("timeout")
        .args(["120", "bash", "-o", "pipefail", "-c"])
        .arg(format!("exec 2>&1\n{cmd}"))
        .current_dir(root())
        .env("PATH", path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    (lines, out.status.code())
}

/// Run every command of `file` (relative to the repository root) that belongs here.
fn run_lesson(file: &str, must_have_commands: bool) {
    let path = root().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let lesson = parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let in_vm = rbpf_tests::vm::in_vm();
    let runnable: Vec<&Block> = lesson
        .blocks
        .iter()
        .filter(|b| match b.place {
            Where::All => true,
            Where::Vm => in_vm,
            Where::Host => !in_vm,
        })
        .collect();
    if must_have_commands {
        assert!(
            runnable.iter().any(|b| !b.commands.is_empty()),
            "{file}: no command to run"
        );
    }
    if runnable.is_empty() {
        return;
    }
    // Commands that name devices must never run against the host's: without the header
    // nothing says which names to replace, so nothing runs.
    assert!(
        lesson.declared,
        "{file}: console blocks but no `<!-- doctest ... -->` header; declare the lab and the \
         names to make unique (an empty `<!-- doctest -->` if there are none)"
    );
    let names = Names::new(&lesson);
    for b in runnable {
        for c in &b.commands {
            let (out, status) = run_command(&names.to_real(&c.text));
            let actual: Vec<String> = out.iter().map(|l| names.to_canonical(l)).collect();
            let status_text = |s: Option<i32>| match s {
                Some(n) => format!("[exit {n}]"),
                None => "[killed by a signal]".into(),
            };
            assert!(
                command_ok(c, &actual, status),
                "{file}:{}: `{}`\n--- expected\n{}\n{}\n--- got\n{}\n{}\n---",
                c.line,
                c.text,
                c.expected.join("\n"),
                status_text(Some(c.exit)),
                actual.join("\n"),
                status_text(status)
            );
        }
    }
}

macro_rules! lessons {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                require_priv!();
                run_lesson($file, true);
            }
        )*
        const LESSONS: &[&str] = &[$($file),*];
    };
}

lessons! {
    lesson_first_program => "docs/00-your-first-program.md",
    lesson_labs => "docs/01-netns-and-veth-labs.md",
    lesson_xdp => "docs/02-xdp.md",
    lesson_tail_calls => "docs/03-tail-calls.md",
    lesson_tc => "docs/04-tc-clsact.md",
    lesson_events => "docs/05-perf-and-ring-buffers.md",
    lesson_tracepoints => "docs/06-tracepoints.md",
    lesson_fentry => "docs/07-fentry-fexit.md",
    lesson_core => "docs/08-core-and-btf.md",
    lesson_pinning => "docs/09-pinning-and-lifetimes.md",
    lesson_verifier => "docs/10-verifier-errors.md",
    lesson_printk => "docs/11-bpf-printk.md",
    lesson_applications => "docs/12-applications.md",
    docs_index => "docs/README.md",
}

#[test]
fn readme_tour() {
    require_priv!();
    run_lesson("README.md", false);
}

#[test]
fn every_lesson_is_run() {
    // docs/README.md is in the list too, by name.
    assert!(LESSONS.contains(&"docs/README.md"));
    let mut files: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
        // Lessons are docs/NN-topic.md; other pages (docs/performance.md, ...) are not.
        .filter(|f| {
            let name = f.trim_start_matches("docs/");
            name.ends_with(".md")
                && name.len() > 3
                && name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
                && name.as_bytes()[2] == b'-'
        })
        .collect();
    files.sort();
    for f in &files {
        assert!(
            LESSONS.contains(&f.as_str()),
            "{f} is not in the lessons! list"
        );
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn the_format() {
    let md = "<!-- doctest\nlab: na nb da db\nunique: extra /sys/fs/bpf/x\n-->\n\
              text\n```console\n$ echo a \\\n  b\na b\n$ false\n[exit 1]\n```\n\
              ```console vm\n$ true\n```\n```sh\n$ not run\n```\n";
    let l = parse(md).unwrap();
    assert_eq!(l.lab.as_ref().unwrap()[2], "da");
    assert_eq!(l.unique, ["extra", "/sys/fs/bpf/x"]);
    assert_eq!(l.blocks.len(), 2);
    assert_eq!(l.blocks[0].commands[0].text, "echo a \\\n  b");
    assert_eq!(l.blocks[0].commands[0].expected, ["a b"]);
    assert_eq!(l.blocks[0].commands[0].exit, 0);
    assert!(l.blocks[0].commands[1].expected.is_empty());
    assert_eq!(l.blocks[0].commands[1].exit, 1);
    // `[exit N]` anywhere but last is a mistake in the lesson.
    assert!(parse("```console\n$ x\n[exit 1]\nmore\n```\n").is_err());
    assert_eq!(l.blocks[1].place, Where::Vm);
    assert!(parse("```console\noutput first\n```\n").is_err());
    assert!(parse("```console\n$ x\n").is_err());
    assert!(parse("```console weird\n```\n").is_err());
    assert!(parse("<!-- doctest -->\n").unwrap().declared);
    assert!(!parse("```console\n$ x\n```\n").unwrap().declared);
    let shown = parse("```text\n<!-- doctest\nlab: a b c d\n-->\n```\n").unwrap();
    assert!(!shown.declared && shown.lab.is_none());

    assert!(line_matches("prog id <id> 'x'", "prog id 42 'x'"));
    assert!(!line_matches("prog id <id> 'x'", "prog id  'x'"));
    assert!(!line_matches("prog id <id> 'x'", "prog id 4 2 'x'"));
    assert!(line_matches("fd <fd>, id <id>", "fd 3, id 17"));
    assert!(line_matches(
        "call pc+5 <global_mix>",
        "call pc+5 <global_mix>"
    ));
    assert!(line_matches(
        "2 packets transmitted ...",
        "2 packets transmitted, 2 received"
    ));
    assert!(!line_matches(
        "2 packets transmitted",
        "2 packets transmitted, 2 received"
    ));
    assert!(line_matches("a < b", "a < b"));

    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(output_matches(
        &s(&["a", "...", "d"]),
        &s(&["a", "b", "c", "d"])
    ));
    assert!(output_matches(&s(&["a", "...", "b"]), &s(&["a", "b"])));
    assert!(output_matches(
        &s(&["...", "x <n>", "..."]),
        &s(&["q", "x 5", "r"])
    ));
    assert!(!output_matches(&s(&["a"]), &s(&["a", "b"])));
    assert!(!output_matches(&s(&["a", "b"]), &s(&["a"])));
    assert!(!output_matches(&s(&["...", "z"]), &s(&["a", "b"])));

    // <positive>: a number above zero, the whole number.
    assert!(line_matches("  1 => <positive>", "  1 => 3"));
    assert!(line_matches("  1 => <positive>", "  1 => 120"));
    assert!(!line_matches("  1 => <positive>", "  1 => 0"));
    assert!(!line_matches("  1 => <positive>", "  1 => 00"));
    assert!(!line_matches("  1 => <positive>", "  1 => -3"));
    assert!(!line_matches("  1 => <positive>", "  1 => x"));
    assert!(!line_matches("<positive> packets", "12x packets"));
    assert!(line_matches("<positive> packets ...", "12 packets, 0 lost"));

    // The exit status is apart from the output: a `...` cannot swallow it.
    let (out, status) = run_command("echo hi; echo err >&2; exit 3");
    assert_eq!(out, ["hi", "err"]);
    assert_eq!(status, Some(3));
    let l = parse("```console\n$ echo hi; false\nhi\n...\n```\n").unwrap();
    let c = &l.blocks[0].commands[0];
    assert_eq!(c.exit, 0, "`...` last: it must exit 0");
    let (out, status) = run_command(&c.text);
    assert!(
        !command_ok(c, &out, status),
        "a trailing `...` swallowed [exit 1]"
    );
    let l = parse("```console\n$ echo hi; false\nhi\n[exit 1]\n```\n").unwrap();
    assert!(command_ok(&l.blocks[0].commands[0], &out, status));
}
