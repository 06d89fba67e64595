//! The subid lines idfed appended to this node's files: `/var/lib/idfed/subids.json`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fs::{Root, write_json};
use crate::idmap::Subid;

use super::StoreError;

/// The subid lines idfed appended to this node's files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AddedLines {
    pub subuid: Vec<Subid>,
    pub subgid: Vec<Subid>,
}

fn path(root: &Root) -> PathBuf {
    super::dir(root).join("subids.json")
}

/// Reads the record of appended lines; none yet is the empty record.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub(crate) fn load(root: &Root) -> Result<AddedLines, StoreError> {
    super::read_or_default(&path(root), "idfed's record of subid lines")
}

/// Writes the record of appended lines (atomically; unchanged records are not rewritten).
///
/// # Errors
/// When the file cannot be written.
pub(crate) fn save(root: &Root, record: &AddedLines) -> Result<(), StoreError> {
    write_json(&path(root), record)?;
    Ok(())
}
