//! Command implementations: each file turns its arguments into calls of the library and writes the
//! result. `anyhow` with context lives here, typed errors below.

use std::path::PathBuf;

use crate::cli::Format;
use crate::fsutil::Root;

pub mod apply;
pub mod check;
pub mod context;
pub mod docs;
pub mod emit;
pub mod map;
pub mod plan;
pub mod report;
pub mod resolve;
mod resolve_json;

/// What a successful command says about the state it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 2: not in the desired or healthy state.
    NotDesired,
}

/// The global options every command gets.
#[derive(Clone, Debug)]
pub struct Globals {
    pub config: Option<PathBuf>,
    pub root: Root,
    pub node: Option<String>,
    pub format: Format,
    pub quiet: bool,
    pub verbose: u8,
}

/// Refuses a format a command does not write.
pub fn require_format(globals: &Globals, allowed: &[Format], command: &str) -> anyhow::Result<()> {
    if allowed.contains(&globals.format) {
        Ok(())
    } else {
        anyhow::bail!(
            "`{command}` does not write `--format {}`: expected one of {}",
            format_name(globals.format),
            allowed
                .iter()
                .map(|f| format!("`{}`", format_name(*f)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Text => "text",
        Format::Json => "json",
        Format::Csv => "csv",
    }
}

/// Writes `text` to stdout; a reader that stops early (`idfed report | head`) ends the output
/// quietly instead of a panic.
///
/// # Errors
/// Any other write error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
