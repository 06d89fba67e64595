//! This node's memory of its last successful run: `/var/lib/idfed/state.json`, the owner and id
//! counts of each share, for the shrink guard (`plan::guard`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fs::{Root, write_json};

use super::StoreError;

/// The counts one share had at the last successful run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCount {
    pub owners: u64,
    pub ids: u64,
}

/// This node's memory of its last successful run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub shares: BTreeMap<String, ShareCount>,
}

fn path(root: &Root) -> PathBuf {
    super::dir(root).join("state.json")
}

/// Reads the run state; none yet is the empty state.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub fn load(root: &Root) -> Result<RunState, StoreError> {
    super::read_or_default(&path(root), "an idfed run state")
}

/// Records a successful run.
///
/// # Errors
/// When the file cannot be written.
pub fn save(root: &Root, state: &RunState) -> Result<(), StoreError> {
    write_json(&path(root), state)?;
    Ok(())
}
