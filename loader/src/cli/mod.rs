//! `rbpf-load`: parsing arguments and printing. The library does the work.

/// One line of `--explain` narration. A closed standard output loses the narration, never
/// the work: `--explain` must not change what happens.
macro_rules! explain_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), "[explain] {}", format_args!($($arg)*));
    }};
}

mod app;
pub mod args;
mod attach;
mod build;
mod detach;
mod flags;
mod gen;
mod inspect;
mod loadcmd;
mod mapcmd;
mod mapdump;
mod mapshow;
mod objref;
mod pins;
mod show;
mod tcx;
mod trace;
mod util;

use args::{Cli, Command, GenCommand, MapCommand};
use clap::{CommandFactory, Parser};

/// A failure as the user sees it: one message, and what to do next when we know.
#[derive(Debug)]
pub struct CliError {
    pub msg: String,
    pub hint: Option<String>,
    /// More detail (the verifier log with -v).
    pub detail: Option<String>,
}

impl CliError {
    pub fn new(msg: impl Into<String>) -> Self {
        CliError {
            msg: msg.into(),
            hint: None,
            detail: None,
        }
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::new(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Entry point of the binary: returns the process exit code.
pub fn main() -> i32 {
    crate::sys::default_sigpipe();
    let cli = Cli::parse();
    if let Some(ns) = &cli.netns {
        if let Err(e) = enter_netns(ns) {
            return report(&e);
        }
    }
    let res = match cli.command {
        Some(Command::Show(a)) => show::run(&a, cli.netns.as_deref()),
        Some(Command::Detach(a)) => detach::run(&a, cli.netns.as_deref()),
        Some(Command::Load(a)) => loadcmd::run(&a),
        Some(Command::Map(m)) => run_map(m),
        Some(Command::Gen(GenCommand::VmlinuxH { output, btf })) => {
            gen::run(&btf, output.as_deref())
        }
        Some(Command::Build(a)) => build::run(&a),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rbpf-load",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Some(Command::Man) => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(CliError::from),
        Some(Command::Inspect(a)) => inspect::run(&a),
        None if app::wanted(&cli.attach) => app::run(&cli.attach, cli.netns.as_deref()),
        None => attach::run(&cli.attach, cli.netns.as_deref()),
    };
    match res {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

fn run_map(m: MapCommand) -> CliResult {
    match m {
        MapCommand::Dump { map, json } => mapdump::run(&map, json),
        MapCommand::Lookup { map, args, json } => mapcmd::lookup(&map, &args, json),
        MapCommand::Update { map, args } => mapcmd::update(&map, &args),
        MapCommand::Delete { map, args } => mapcmd::delete(&map, &args),
        MapCommand::Getnext { map, args, json } => mapcmd::getnext(&map, &args, json),
        MapCommand::Pin { map, path } => mapcmd::pin(&map, &path),
        MapCommand::Show { map, json } => mapshow::run(map.as_deref(), json),
    }
}

/// Print a failure (message, detail, hint) on standard error; the exit code.
fn report(e: &CliError) -> i32 {
    eprintln!("Error: {}", e.msg);
    if let Some(d) = &e.detail {
        eprintln!("{d}");
    }
    if let Some(h) = &e.hint {
        eprintln!("hint: {h}");
    }
    1
}

/// Enter a named network namespace (`ip netns add NAME`) for the rest of the process, like
/// `ip -n NAME`. Only the network namespace changes: bpffs and the rest stay the host's.
fn enter_netns(name: &str) -> CliResult {
    let path = std::path::Path::new("/run/netns").join(name);
    let f = std::fs::File::open(&path).map_err(|e| {
        CliError::new(format!("network namespace '{name}': {e}"))
            .hint("`ip netns list` shows the named namespaces")
    })?;
    nix::sched::setns(
        std::os::fd::AsFd::as_fd(&f),
        nix::sched::CloneFlags::CLONE_NEWNET,
    )
    .map_err(|e| CliError::new(format!("setns into '{name}': {e}")))
}
