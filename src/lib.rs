//! idfed: federate the owner ids of shared NFS exports into unprivileged Proxmox VE containers.
//!
//! The pure core (`ids`, `idmap`, `plan`, `report`, `check`, the parsers) computes; the commands in `cmd` read and write. See
//! DESIGN.md for the data flow.

#![warn(unreachable_pub)]

mod apply;
mod check;
pub mod cli;
mod cluster;
pub mod cmd;
mod config;
mod digest;
pub mod fs;
pub mod idmap;
pub mod ids;
mod lines;
mod plan;
pub mod pve;
mod report;
mod resolve;
mod scan;
mod shift;
mod source;
mod store;
pub mod subid;
mod suggest;
pub mod text;
mod walk;

use cli::{Cli, Command};
use cmd::{Finished, Globals};

/// Runs one parsed command line.
///
/// # Errors
/// Any failure of the command, with context; the caller prints it and exits 1.
pub fn run(cli: Cli) -> anyhow::Result<Finished> {
    let globals = Globals {
        config: cli.config,
        root: fs::Root::new(cli.root),
        node: cli.node,
        format: cli.format,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let outcome = match cli.command {
        Command::Map(args) => cmd::map::run(&globals, &args),
        Command::Resolve(args) => return cmd::resolve::run(&globals, &args),
        Command::Plan(args) => return cmd::plan::run(&globals, &args),
        Command::Emit(args) => cmd::emit::run(&globals, &args),
        Command::Apply(args) => cmd::apply::run(&globals, &args),
        Command::Report(args) => cmd::report::run(&globals, &args),
        Command::Check(args) => cmd::check::run(&globals, &args),
        Command::Shift(args) => cmd::shift::run(&globals, &args),
        Command::Scan(args) => cmd::scan::run(&globals, &args),
        Command::Completions(args) => cmd::docs::completions(&args),
        Command::Man(args) => cmd::docs::man(&globals, &args),
        Command::Complete(args) => cmd::complete::run(&globals, &args),
    }?;
    Ok(Finished::from(outcome))
}
