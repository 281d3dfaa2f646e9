//! `rbpf-load`: parsing arguments and printing. The library does the work.

pub mod args;
mod loadcmd;
mod mapdump;
mod util;

use args::{Cli, Command, MapCommand};
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
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Command::Load(a)) => loadcmd::run(&a),
        Some(Command::Map(MapCommand::Dump { map, json })) => mapdump::run(&map, json),
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
        Some(other) => Err(CliError::new(format!("{other:?}: not available yet"))),
        None => Err(CliError::new("attach: not available yet")),
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {}", e.msg);
            if let Some(d) = &e.detail {
                eprintln!("{d}");
            }
            if let Some(h) = &e.hint {
                eprintln!("hint: {h}");
            }
            1
        }
    }
}
