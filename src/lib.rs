//! idfed: federate the owner ids of shared NFS exports into unprivileged Proxmox VE containers.
//!
//! The pure core (`ids`, `idmap`) computes; the commands in `cmd` read and write. See
//! DESIGN.md for the data flow.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod fsutil;
pub mod idmap;
pub mod ids;
pub mod resolve;
pub mod source;

use cli::{Cli, Command};
use cmd::{Globals, Outcome};

/// Runs one parsed command line.
///
/// # Errors
/// Any failure of the command, with context; the caller prints it and exits 1.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let globals = Globals {
        config: cli.config,
        root: fsutil::Root::new(cli.root),
        node: cli.node,
        format: cli.format,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Map(args) => cmd::map::run(&globals, &args),
        Command::Resolve(args) => cmd::resolve::run(&globals, &args),
        Command::Plan(_) => not_yet("plan"),
        Command::Emit(_) => not_yet("emit"),
        Command::Apply(_) => not_yet("apply"),
        Command::Report(_) => not_yet("report"),
        Command::Check(_) => not_yet("check"),
    }
}

fn not_yet(command: &str) -> anyhow::Result<Outcome> {
    anyhow::bail!("`idfed {command}` is not available in this build yet")
}
