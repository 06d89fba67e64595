//! `idfed resolve [SHARE...]`: each share's owners and its uid and gid sets. Also the edge that
//! loads the sources the shares need (each once) and resolves them, for the commands that plan.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;

use crate::cli::{Format, ResolveArgs};
use crate::config::{self, Config};
use crate::resolve::{self, ResolvedShare};
use crate::source;

use super::{Globals, Outcome, require_format};

/// Runs `idfed resolve`.
///
/// # Errors
/// A configuration, source or resolution error, or an unknown share name.
pub fn run(globals: &Globals, args: &ResolveArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "resolve")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let (shares, warnings) = resolve_shares(&config, &args.shares, !globals.quiet)?;
    for warning in &warnings {
        eprintln!("idfed: warning: {warning}");
    }
    let out = match globals.format {
        Format::Json => render_json(&shares)?,
        _ => render_text(&shares),
    };
    print!("{out}");
    Ok(Outcome::Ok)
}

/// Resolves the shares named in `filter` (all when it is empty), in name order, reading each
/// source they need once. Returns the shares and every warning (skipped entries and members).
///
/// # Errors
/// An unknown share name, a source that cannot be read, or a share that does not resolve.
pub fn resolve_shares(
    config: &Config,
    filter: &[String],
    progress: bool,
) -> anyhow::Result<(Vec<ResolvedShare>, Vec<String>)> {
    for name in filter {
        if !config.shares.contains_key(name) {
            let known = config
                .shares
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>();
            let hint = match resolve::closest(name, config.shares.keys().map(String::as_str)) {
                Some(h) => format!(" (did you mean `{h}`?)"),
                None if known.is_empty() => " (the configuration defines no share)".to_string(),
                None => format!(": expected one of {}", known.join(", ")),
            };
            anyhow::bail!(
                "unknown share `{name}` in `{}`{hint}",
                config.path.display()
            );
        }
    }
    let selected: Vec<_> = config
        .shares
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.contains(name))
        .collect();
    let mut loaded: BTreeMap<&str, source::Loaded> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (_, share) in &selected {
        if loaded.contains_key(share.source.as_str()) {
            continue;
        }
        // The config checked that every share's source exists.
        let source_config = &config.sources[&share.source];
        let mut source = source::load(source_config, progress)
            .with_context(|| format!("cannot read source `{}`", share.source))?;
        warnings.extend(
            source
                .warnings
                .drain(..)
                .map(|w| format!("source `{}`: {w}", share.source)),
        );
        loaded.insert(&share.source, source);
    }
    let mut shares = Vec::new();
    for (name, share) in selected {
        let directory = &loaded[share.source.as_str()].directory;
        let (resolved, share_warnings) =
            resolve::resolve_share(name, share, directory, config.cluster.min_id)?;
        warnings.extend(share_warnings);
        shares.push(resolved);
    }
    Ok((shares, warnings))
}

fn render_json(shares: &[ResolvedShare]) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        shares: BTreeMap<&'a str, &'a ResolvedShare>,
    }
    let doc = Doc {
        shares: shares.iter().map(|s| (s.name.as_str(), s)).collect(),
    };
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
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
                owner.kind.to_string(),
                owner.name,
                owner.id,
                owner.source
            );
        }
        let _ = writeln!(out, "  uids: {}", share.uids);
        let _ = writeln!(out, "  gids: {}", share.gids);
    }
    out
}
