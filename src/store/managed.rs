//! The passthroughs idfed put into each container: `<pve_root>/idfed/managed/<vmid>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::{self, Root, Written, write_json};
use crate::ids::{IdKind, IdSet};

use super::StoreError;

/// The passthroughs idfed put into one container (its `managed` record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub uids: IdSet,
    pub gids: IdSet,
}

impl Managed {
    /// The passthroughs of one kind.
    pub fn ids(&self, kind: IdKind) -> &IdSet {
        match kind {
            IdKind::Uid => &self.uids,
            IdKind::Gid => &self.gids,
        }
    }

    /// Both records' passthroughs.
    pub fn union(&self, other: &Managed) -> Managed {
        Managed {
            uids: self.uids.union(&other.uids),
            gids: self.gids.union(&other.gids),
        }
    }
}

/// Where the per-CT managed records live.
pub fn dir(root: &Root, pve_root: &Path) -> PathBuf {
    root.join(pve_root).join("idfed/managed")
}

/// Reads every container's managed record; a missing directory is no record at all.
///
/// # Errors
/// A record that cannot be read or parsed, naming its file.
pub fn load(root: &Root, pve_root: &Path) -> Result<BTreeMap<u32, Managed>, StoreError> {
    let dir = dir(root, pve_root);
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in fs::read_dir_sorted(&dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name
            .strip_suffix(".json")
            .and_then(|v| v.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let text = fs::read_to_string(&path)?;
        out.insert(vmid, super::parse(&path, "a managed record", &text)?);
    }
    Ok(out)
}

/// Writes container `vmid`'s managed record (atomically; unchanged records are not rewritten).
///
/// # Errors
/// When the record cannot be written.
pub fn save(
    root: &Root,
    pve_root: &Path,
    vmid: u32,
    record: &Managed,
) -> Result<Written, StoreError> {
    let path = dir(root, pve_root).join(format!("{vmid}.json"));
    Ok(write_json(&path, record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_records_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let pve = Path::new("/etc/pve");
        assert!(load(&root, pve).unwrap().is_empty());
        let mut rec = Managed::default();
        rec.uids.insert_id(1005);
        save(&root, pve, 101, &rec).unwrap();
        assert_eq!(save(&root, pve, 101, &rec).unwrap(), Written::Unchanged);
        let all = load(&root, pve).unwrap();
        assert_eq!(all.get(&101), Some(&rec));
    }
}
