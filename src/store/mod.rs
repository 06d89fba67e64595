//! idfed's own records, read by `cluster::load` and written only by `apply`:
//!
//! - [`managed`]: which passthroughs idfed put into each container,
//!   `<pve_root>/idfed/managed/<vmid>.json`, in the cluster filesystem so every node sees it. One
//!   file per container, not one for the cluster: a CT config is only ever edited by the node that
//!   holds it (under that node's config lock), so per-CT files are never written by two nodes at
//!   once, where one shared file would be.
//! - [`nodes`]: what each node's subid files cover, `<pve_root>/idfed/nodes/<node>.json`.
//! - [`baseline`]: each share's last good owners, for the outage guard, cluster-wide in
//!   `<pve_root>/idfed/baseline.json` (one acceptance releases every node).
//! - [`subids`]: the subid lines idfed appended on this node, so that `apply --prune` removes only
//!   its own, `/var/lib/idfed/subids.json`. A line is recorded before it is written, so a crash
//!   between the two leaves a claim on a line that is not there (dropped by the next run), never
//!   an own line that looks hand-written.
//!
//! - [`cache`]: the last good answer of each source, `/var/lib/idfed/cache/<source>.json`, for
//!   `check` and `report` when the source cannot be read.
//!
//! Reading and writing the records lives here; what they mean (coverage, the gate, the guard) is
//! `cluster`'s and `plan`'s.

pub(crate) mod baseline;
pub(crate) mod cache;
pub(crate) mod managed;
pub(crate) mod nodes;
pub(crate) mod subids;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::fs::{self, FsError, Root};

pub(crate) use baseline::{Baseline, ShareBaseline};
pub(crate) use managed::Managed;
pub(crate) use nodes::Published;
pub(crate) use subids::AddedLines;

/// Why one of idfed's records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The file exists but does not hold the record.
    #[error("`{path}` is not {what}", path = path.display())]
    Parse {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// This node's own state directory under `root`: `/var/lib/idfed` (the record of appended subid
/// lines, the backups of `apply`).
pub(crate) fn dir(root: &Root) -> PathBuf {
    root.join("/var/lib/idfed")
}

/// Parses `text`, the content of `path`, as `what`.
fn parse<T: DeserializeOwned>(
    path: &Path,
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Parse {
        path: path.to_path_buf(),
        what,
        source,
    })
}

/// Reads the JSON record at `path`; none yet is `T::default()`.
///
/// # Errors
/// When the file exists but cannot be read, or is not `what` (named with its path).
fn read_or_default<T: DeserializeOwned + Default>(
    path: &Path,
    what: &'static str,
) -> Result<T, StoreError> {
    match fs::read_optional(path)? {
        None => Ok(T::default()),
        Some(text) => parse(path, what, &text),
    }
}
