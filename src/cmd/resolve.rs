//! `idfed resolve [SHARE...]`: each share's owners and its uid and gid sets.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cli::{Format, ResolveArgs};
use crate::config;
use crate::resolve::{Cache, ResolvedShare, SourceSummary, resolve_each};
use crate::text::{Esc, escape};

use super::{Finished, Globals, Leftover, Outcome, require_format};

/// Runs `idfed resolve`. A share that does not resolve is reported and makes the run exit 1;
/// the other shares are still printed.
///
/// # Errors
/// A configuration error, an unknown share name, or any share that did not resolve.
pub(crate) fn run(globals: &Globals, args: &ResolveArgs) -> anyhow::Result<Finished> {
    require_format(globals, &[Format::Text, Format::Json], "resolve")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let resolution = resolve_each(&config, &args.shares, !globals.quiet, Cache::Off)?;
    if globals.verbose > 0 {
        print_sources(&resolution.sources);
    }
    for warning in &resolution.warnings {
        super::warn(warning);
    }
    match globals.format {
        Format::Json => write_json(&resolution.shares)?,
        _ => super::print_output(globals.format, &render_text(&resolution.shares))?,
    }
    // The shares that resolved are written: the failures are said after them.
    let outcome = match resolution.errors.as_slice() {
        [] => Outcome::Ok,
        [only] => return Err(super::AfterOutput(anyhow::anyhow!("{only}")).into()),
        errors => {
            for error in errors {
                super::print_error(error);
            }
            let failed = resolution.failed.len();
            let total = failed + resolution.shares.len();
            return Err(super::AfterOutput(anyhow::anyhow!(
                "{failed} of {total} shares could not be resolved"
            ))
            .into());
        }
    };
    Ok(Finished {
        outcome,
        leftover: Leftover::of(resolution),
    })
}

/// For `-v`: what each source returned and how long it took, on stderr.
pub(crate) fn print_sources(sources: &[SourceSummary]) {
    for s in sources {
        eprintln!(
            "idfed: source `{}`: {} users, {} groups in {:.2} s",
            Esc(&s.name),
            s.users,
            s.groups,
            s.elapsed.as_secs_f64()
        );
    }
}

/// Writes the shares as pretty JSON to stdout as it renders them: no 13 MB string first for
/// 100,000 owners. A closed pipe (`| head`) is not an error.
/// `{"shares": {NAME: share}}`, pretty-printed, and a final newline. Serialized into memory
/// first: serde_json's many small writes are cheapest into a `Vec` (the owners list is the
/// bulk: 100,000 owners are 13 MB), which then goes out in one write.
fn write_json(shares: &[ResolvedShare]) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        shares: BTreeMap<&'a str, &'a ResolvedShare>,
    }
    let doc = Doc {
        shares: shares.iter().map(|s| (s.name.as_str(), s)).collect(),
    };
    let owners: usize = shares.iter().map(|s| s.owners.len()).sum();
    let mut out = Vec::with_capacity(256 + 160 * owners);
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.push(b'\n');
    super::write_stdout(|w| w.write_all(&out))
}

fn render_text(shares: &[ResolvedShare]) -> String {
    let mut out = String::new();
    for (i, share) in shares.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "share {}", Esc(&share.name));
        let name_width = share
            .owners
            .iter()
            .map(|o| escape(&o.name).chars().count())
            .max()
            .unwrap_or(0);
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
                owner.kind,
                Esc(&owner.name),
                owner.id,
                Esc(&owner.source)
            );
        }
        let _ = writeln!(out, "  uids: {}", share.uids);
        let _ = writeln!(out, "  gids: {}", share.gids);
    }
    out
}
