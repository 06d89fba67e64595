//! Resolving several shares at once: each source they need is read once, and a share that does
//! not resolve fails alone ([`resolve_each`]), or the whole batch ([`Resolution::all`]) for the
//! commands that must not act on part of the shares.

use std::collections::BTreeMap;

use crate::config::{Config, UnknownShare};
use crate::source;

use super::ResolvedShare;

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
) -> Result<Resolution, UnknownShare> {
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
        match super::resolve_share(name, share, &source.directory, config.cluster.min_id) {
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

impl Resolution {
    /// All or nothing: the shares and the warnings, or the first error.
    ///
    /// # Errors
    /// The first share that did not resolve, with how many more errors there were.
    pub fn all(self) -> Result<(Vec<ResolvedShare>, Vec<String>), NotResolved> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok((self.shares, self.warnings)),
            Some(first) => Err(NotResolved {
                first,
                more: errors.len(),
            }),
        }
    }
}

/// A batch that must resolve whole did not.
#[derive(Debug, thiserror::Error)]
pub struct NotResolved {
    /// The first error.
    pub first: String,
    /// How many more there were.
    pub more: usize,
}

impl std::fmt::Display for NotResolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.more {
            0 => write!(f, "{}", self.first),
            more => write!(f, "{} (and {more} more errors)", self.first),
        }
    }
}
