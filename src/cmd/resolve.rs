//! `idfed resolve [SHARE...]`: each share's owners and its uid and gid sets. Also the edge that
//! loads the sources the shares need (each once) and resolves them, for the commands that plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cli::{Format, ResolveArgs};
use crate::config::{self, Config};
use crate::resolve::{self, ResolvedShare};
use crate::source;

use super::{Globals, Outcome, require_format};

/// Runs `idfed resolve`. A share that does not resolve is reported and makes the run exit 1;
/// the other shares are still printed.
///
/// # Errors
/// A configuration error, an unknown share name, or any share that did not resolve.
pub fn run(globals: &Globals, args: &ResolveArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "resolve")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let resolution = resolve_each(&config, &args.shares, !globals.quiet)?;
    if globals.verbose > 0 {
        print_sources(&resolution.sources);
    }
    for warning in &resolution.warnings {
        eprintln!("idfed: warning: {warning}");
    }
    match globals.format {
        Format::Json => write_json(&resolution.shares)?,
        _ => super::print_stdout(&render_text(&resolution.shares))?,
    }
    let outcome = match resolution.errors.as_slice() {
        [] => Ok(Outcome::Ok),
        [only] => Err(anyhow::anyhow!("{only}")),
        errors => {
            for error in errors {
                eprintln!("idfed: error: {error}");
            }
            let failed = resolution.failed.len();
            let total = failed + resolution.shares.len();
            Err(anyhow::anyhow!(
                "{failed} of {total} shares could not be resolved"
            ))
        }
    };
    // The process ends next: freeing the directory and the owners piece by piece was 4-5% of
    // `idfed resolve` at 100,000 users (benches/LDAP.md). The operating system takes the memory
    // back at once.
    std::mem::forget(resolution);
    outcome
}

/// For `-v`: what each source returned and how long it took, on stderr.
fn print_sources(sources: &[SourceSummary]) {
    for s in sources {
        eprintln!(
            "idfed: source `{}`: {} users, {} groups in {:.2} s",
            s.name,
            s.users,
            s.groups,
            s.elapsed.as_secs_f64()
        );
    }
}

/// The outcome of resolving several shares, each on its own.
#[derive(Debug, Default)]
pub struct Resolution {
    /// The shares that resolved, in name order.
    pub shares: Vec<ResolvedShare>,
    /// The names of the shares that did not.
    pub failed: Vec<String>,
    /// Why, once per cause (a source that cannot be read fails all its shares, and is said once).
    pub errors: Vec<String>,
    /// Skipped entries and members.
    pub warnings: Vec<String>,
    /// What each source that was read returned, for `-v`.
    pub sources: Vec<SourceSummary>,
    /// The directories that were read: the caller decides when to free them (`idfed resolve`
    /// leaves that to the end of the process).
    pub directories: Vec<source::Directory>,
}

/// How much one source returned, and how long it took.
#[derive(Debug)]
pub struct SourceSummary {
    pub name: String,
    pub users: usize,
    pub groups: usize,
    pub elapsed: std::time::Duration,
}

/// Resolves the shares named in `filter` (all when it is empty), in name order, reading each
/// source they need once. A source that cannot be read, or a share that does not resolve, fails
/// only the shares concerned.
///
/// # Errors
/// Only a name in `filter` that is not a share of the configuration.
pub fn resolve_each(
    config: &Config,
    filter: &[String],
    progress: bool,
) -> anyhow::Result<Resolution> {
    for name in filter {
        config.share(name)?;
    }
    let selected: Vec<_> = config
        .shares
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.contains(name))
        .collect();
    let mut out = Resolution::default();
    // Each source once: its directory, or why it could not be read.
    let mut loaded: BTreeMap<&str, Option<source::Loaded>> = BTreeMap::new();
    for (name, share) in selected {
        let source = loaded.entry(share.source.as_str()).or_insert_with(|| {
            // The config checked that every share's source exists.
            let started = std::time::Instant::now();
            match source::load(&config.sources[&share.source], progress) {
                Ok(mut source) => {
                    out.sources.push(SourceSummary {
                        name: share.source.clone(),
                        users: source.directory.users().len(),
                        groups: source.directory.groups().len(),
                        elapsed: started.elapsed(),
                    });
                    out.warnings.extend(
                        source
                            .warnings
                            .drain(..)
                            .map(|w| format!("source `{}`: {w}", share.source)),
                    );
                    Some(source)
                }
                Err(e) => {
                    let e = anyhow::Error::new(e)
                        .context(format!("cannot read source `{}`", share.source));
                    out.errors.push(format!("{e:#}"));
                    None
                }
            }
        });
        let Some(source) = source else {
            out.failed.push(name.clone());
            continue;
        };
        match resolve::resolve_share(name, share, &source.directory, config.cluster.min_id) {
            Ok((resolved, warnings)) => {
                out.warnings.extend(warnings);
                out.shares.push(resolved);
            }
            Err(e) => {
                out.errors.push(e.to_string());
                out.failed.push(name.clone());
            }
        }
    }
    out.directories = loaded
        .into_values()
        .flatten()
        .map(|source| source.directory)
        .collect();
    Ok(out)
}

/// Like [`resolve_each`], all or nothing: for commands that must not act on part of the shares.
/// Returns the shares and the warnings.
///
/// # Errors
/// An unknown share name, or the first share that did not resolve (with how many more failed).
pub fn resolve_shares(
    config: &Config,
    filter: &[String],
    globals: &Globals,
) -> anyhow::Result<(Vec<ResolvedShare>, Vec<String>)> {
    let resolution = resolve_each(config, filter, !globals.quiet)?;
    if globals.verbose > 0 {
        print_sources(&resolution.sources);
    }
    match resolution.errors.as_slice() {
        [] => Ok((resolution.shares, resolution.warnings)),
        [first] => Err(anyhow::anyhow!("{first}")),
        [first, rest @ ..] => Err(anyhow::anyhow!("{first} (and {} more errors)", rest.len())),
    }
}

/// Writes the shares as pretty JSON to stdout as it renders them: no 13 MB string first for
/// 100,000 owners. A closed pipe (`| head`) is not an error.
fn write_json(shares: &[ResolvedShare]) -> anyhow::Result<()> {
    let mut sorted: Vec<&ResolvedShare> = shares.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    super::write_stdout(|mut out| super::resolve_json::write(&mut out, &sorted))
}

fn render_text(shares: &[ResolvedShare]) -> String {
    let mut out = String::new();
    for (i, share) in shares.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "share {}", share.name);
        let name_width = share.owners.iter().map(|o| o.name.len()).max().unwrap_or(0);
        let id_width = share
            .owners
            .iter()
            .map(|o| o.id.to_string().len())
            .max()
            .unwrap_or(0);
        for owner in &share.owners {
            let _ = writeln!(
                out,
                "  {:<5}  {:<name_width$}  {:>id_width$}  {}",
                owner.kind, owner.name, owner.id, owner.source
            );
        }
        let _ = writeln!(out, "  uids: {}", share.uids);
        let _ = writeln!(out, "  gids: {}", share.gids);
    }
    out
}
