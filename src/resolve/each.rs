//! Resolving several shares at once: each source they need is read once, and a share that does
//! not resolve fails alone ([`resolve_each`]), or the whole batch ([`Resolution::all`]) for the
//! commands that must not act on part of the shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, UnknownShare};
use crate::fs::Root;
use crate::source;
use crate::store::{self, nodes::rfc3339, nodes::unix_now};

use super::{ResolveWarning, ResolvedShare};

/// The outcome of resolving several shares, each on its own.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// The shares that resolved, in name order.
    pub shares: Vec<ResolvedShare>,
    /// The names of the shares that did not.
    pub failed: Vec<String>,
    /// Why, once per cause (a source that cannot be read fails all its shares, and is said once).
    pub errors: Vec<String>,
    /// Skipped entries and members.
    pub warnings: Vec<ResolveWarning>,
    /// What each source that was read returned, for `-v`.
    pub sources: Vec<SourceSummary>,
    /// The directories that were read: the caller decides when to free them (`idfed resolve`
    /// leaves that to the end of the process).
    pub directories: Vec<Arc<source::Directory>>,
    /// The sources' answers being kept in their caches ([`Cache::Keep`], [`Cache::Fallback`]):
    /// the caller waits for them when it is done, and says which could not be kept
    /// ([`ResolveWarning::NotCached`]).
    pub caching: Vec<store::cache::Writing>,
    /// The sources that could not be read and were answered from their cache
    /// ([`Cache::Fallback`]).
    pub cached: Vec<FromCache>,
}

/// What [`resolve_each`] does with each source's cache (`store::cache`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cache<'a> {
    /// Neither read nor written (`resolve` and `scan`: queries that need no answer kept).
    Off,
    /// Each successful pull is kept under this root (on a thread of its own: see
    /// [`Resolution::caching`]); a source that cannot be read fails its
    /// shares, and the error says that its cache is not used (`plan`, `emit`: an outage changes
    /// nothing).
    Keep(&'a Root),
    /// Nothing written (`apply` writes only what it applies, after its checks of `/etc/pve`); a
    /// source that cannot be read fails its shares, the error saying that its cache is not used.
    Mention(&'a Root),
    /// As `Keep`, and a source that cannot be read is answered from its cache, said in
    /// [`Resolution::cached`] (`check`, `report`).
    Fallback(&'a Root),
}

/// A source answered from its cache.
#[derive(Clone, Debug)]
pub(crate) struct FromCache {
    pub source: String,
    /// Why the source itself could not be read.
    pub error: String,
    /// When the cached answer was pulled, seconds since the epoch.
    pub pulled_at: u64,
    /// How old it was when it was used, in seconds.
    pub age: u64,
}

impl std::fmt::Display for FromCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: answering from its cache of {} ({} old)",
            self.error,
            rfc3339(self.pulled_at),
            age(self.age)
        )
    }
}

/// A duration for a message: `42 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub(crate) fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs / 60 % 60),
        _ => format!("{} d {} h", secs / 86_400, secs / 3600 % 24),
    }
}

/// How much one source returned, and how long it took.
#[derive(Debug)]
pub(crate) struct SourceSummary {
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
pub(crate) fn resolve_each(
    config: &Config,
    filter: &[String],
    progress: bool,
    cache: Cache<'_>,
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
    let mut loaded: BTreeMap<&str, Option<Arc<source::Directory>>> = BTreeMap::new();
    for (name, share) in selected {
        let source = loaded.entry(share.source.as_str()).or_insert_with(|| {
            // The config checked that every share's source exists.
            let started = std::time::Instant::now();
            let name = share.source.as_str();
            match source::load(&config.sources[name], progress) {
                Ok(source) => {
                    let directory = Arc::new(source.directory);
                    if let Cache::Keep(root) | Cache::Fallback(root) = cache {
                        out.caching.push(store::cache::Writing::start(
                            root,
                            name,
                            Arc::clone(&directory),
                            unix_now(),
                        ));
                    }
                    out.sources.push(SourceSummary {
                        name: share.source.clone(),
                        users: directory.users().len(),
                        groups: directory.groups().len(),
                        elapsed: started.elapsed(),
                    });
                    out.warnings
                        .extend(source.warnings.into_iter().map(|warning| {
                            ResolveWarning::Source {
                                source: share.source.clone(),
                                warning,
                            }
                        }));
                    Some(directory)
                }
                Err(e) => {
                    let e = format!(
                        "{:#}",
                        anyhow::Error::new(e).context(format!("cannot read source `{name}`"))
                    );
                    let (root, fallback) = match cache {
                        Cache::Off => {
                            out.errors.push(e);
                            return None;
                        }
                        Cache::Keep(root) | Cache::Mention(root) => (root, false),
                        Cache::Fallback(root) => (root, true),
                    };
                    match store::cache::load(root, name) {
                        Ok(Some(cached)) if fallback => {
                            let now = unix_now();
                            out.cached.push(FromCache {
                                source: name.to_string(),
                                error: e,
                                pulled_at: cached.pulled_at,
                                age: now.saturating_sub(cached.pulled_at),
                            });
                            Some(Arc::new(cached.directory))
                        }
                        Ok(Some(cached)) => {
                            out.errors.push(format!(
                                "{e} (its cached answer of {}, {} old, is for `check` and \
                                 `report` only: `plan` and `apply` never act on it, an outage \
                                 changes nothing)",
                                rfc3339(cached.pulled_at),
                                age(unix_now().saturating_sub(cached.pulled_at))
                            ));
                            None
                        }
                        Ok(None) => {
                            out.errors.push(e);
                            None
                        }
                        Err(cache_error) => {
                            out.errors
                                .push(format!("{e} (and its cache: {cache_error})"));
                            None
                        }
                    }
                }
            }
        });
        let Some(source) = source else {
            out.failed.push(name.clone());
            continue;
        };
        match super::resolve_share(name, share, source, config.cluster.map.min_id) {
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
    out.directories = loaded.into_values().flatten().collect();
    Ok(out)
}

impl Resolution {
    /// All or nothing: the shares and the warnings, or the first error.
    ///
    /// # Errors
    /// The first share that did not resolve, with how many more errors there were.
    pub(crate) fn all(self) -> Result<(Vec<ResolvedShare>, Vec<ResolveWarning>), NotResolved> {
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
pub(crate) struct NotResolved {
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
