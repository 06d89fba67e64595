//! Command implementations: each file turns its arguments into calls of the library and writes the
//! result. `anyhow` with context lives here, typed errors below.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::cli::Format;
use crate::fs::Root;
use crate::text;

pub(crate) mod apply;
pub(crate) mod check;
pub(crate) mod complete;
pub(crate) mod docs;
pub(crate) mod emit;
pub(crate) mod load;
pub(crate) mod map;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod resolve;
pub(crate) mod scan;
pub(crate) mod shift;

/// What a successful command says about the state it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 2: not in the desired or healthy state.
    NotDesired,
}

/// What a command built and no longer needs, handed to `main`, which exits without freeing it:
/// freeing a cluster's plan piece by piece was 7-10% of `idfed plan`, a 100,000-user directory
/// 4-5% of `idfed resolve` (BENCHMARKS.md, benches/LDAP.md); the operating system takes the
/// memory back at once.
#[derive(Default)]
pub struct Leftover(
    #[expect(dead_code, reason = "held, never read: `main` forgets it")]
    Option<Box<dyn std::any::Any>>,
);

impl Leftover {
    /// `value`, kept until the process ends.
    pub fn of<T: 'static>(value: T) -> Leftover {
        Leftover(Some(Box::new(value)))
    }
}

/// A command's outcome, and what it leaves for the process's end.
pub struct Finished {
    pub outcome: Outcome,
    pub leftover: Leftover,
}

impl From<Outcome> for Finished {
    fn from(outcome: Outcome) -> Finished {
        Finished {
            outcome,
            leftover: Leftover::default(),
        }
    }
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

impl Globals {
    /// Says `note` on stderr (`idfed: note: ...`), unless `-q` asked for errors, warnings and
    /// changes only.
    pub fn note(&self, note: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("idfed: note: {}", text::escape(&note.to_string()));
        }
    }
}

/// A failure after the command wrote its document to stdout (`apply`'s report with its `errors`,
/// `shift`'s with its `problems`, `resolve`'s shares that resolved): the exit code and stderr
/// say it, and `--format json` adds no second document.
#[derive(Debug)]
pub struct AfterOutput(pub anyhow::Error);

impl std::fmt::Display for AfterOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for AfterOutput {}

/// An error as `--format json` writes it to stdout: `{"error": {"message": "...", "causes":
/// ["...", ...]}}`, the outermost message and each cause under it (anyhow's chain), or `None` when
/// the command already wrote its document ([`AfterOutput`]).
pub fn error_json(err: &anyhow::Error) -> Option<String> {
    if err.downcast_ref::<AfterOutput>().is_some() {
        return None;
    }
    let mut chain = err.chain().map(ToString::to_string);
    let message = chain.next().unwrap_or_default();
    Some(error_document(&message, &chain.collect::<Vec<_>>()))
}

/// The error document of [`error_json`] for `message` and its `causes`.
pub fn error_document(message: &str, causes: &[String]) -> String {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        error: Body<'a>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        message: &'a str,
        causes: &'a [String],
    }
    let doc = Doc {
        error: Body { message, causes },
    };
    // Serializing two strings cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
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

/// Writes to stdout through a buffer with `write`; a reader that stops early (`idfed report |
/// head`) ends the output quietly instead of a panic or an error.
///
/// # Errors
/// Any other write error.
pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Writes a command's rendered output in `format` to stdout: text with every unsafe character
/// but its line breaks escaped ([`text::escape_lines`]: directory data never reaches a terminal
/// raw), JSON and CSV exactly as given.
///
/// # Errors
/// Any write error but a closed pipe.
pub fn print_output(format: Format, out: &str) -> anyhow::Result<()> {
    match format {
        Format::Text => print_stdout(&text::escape_lines(out)),
        Format::Json | Format::Csv => print_stdout(out),
    }
}

/// `idfed: warning: ...` on stderr, on one line: every unsafe character escaped.
pub fn warn(w: impl std::fmt::Display) {
    eprintln!("idfed: warning: {}", text::escape(&w.to_string()));
}

/// `idfed: error: ...` on stderr: every unsafe character but the message's line breaks escaped.
pub fn print_error(e: impl std::fmt::Display) {
    eprintln!("idfed: error: {}", text::escape_lines(&e.to_string()));
}

/// Writes `text` to stdout (see [`write_stdout`]).
///
/// # Errors
/// Any write error but a closed pipe.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    write_stdout(|out| out.write_all(text.as_bytes()))
}
