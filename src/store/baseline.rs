//! The outage guard's baseline: each share's last good owners, cluster-wide in
//! `<pve_root>/idfed/baseline.json`, so that one acceptance (`apply --allow-shrink`) on one node
//! releases every node.
//!
//! Every node's `apply` writes it, so two nodes may write it at once: an update reads the file
//! again just before it writes and changes only the entries it means to (the shares it did not
//! hold), so a node that still holds a share never writes back the entry another node's
//! acceptance just replaced; what is left is the same-moment race of two renames, whose loser's
//! entries are written again by its next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::{Root, write_json};
use crate::ids::IdSet;

use super::StoreError;

/// One share's last good resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShareBaseline {
    /// How many owners (users and groups) it had.
    pub owners: u64,
    pub uids: IdSet,
    pub gids: IdSet,
}

impl ShareBaseline {
    /// How many ids, both kinds.
    pub(crate) fn ids(&self) -> u64 {
        self.uids.len() + self.gids.len()
    }
}

/// Every share's last good resolution, by share name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Baseline {
    pub shares: BTreeMap<String, ShareBaseline>,
}

fn path(root: &Root, pve_root: &Path) -> PathBuf {
    root.join(pve_root).join("idfed/baseline.json")
}

/// Reads the baseline; none yet is the empty one (nothing to compare with: nothing is held).
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub(crate) fn load(root: &Root, pve_root: &Path) -> Result<Baseline, StoreError> {
    super::read_or_default(&path(root, pve_root), "idfed's baseline of share owners")
}

/// Sets the entries of `entries` in the baseline as it is on disk now (read again), leaving the
/// others as they are; an unchanged file is not rewritten.
///
/// # Errors
/// When the file cannot be read, parsed or written.
pub(crate) fn update(
    root: &Root,
    pve_root: &Path,
    entries: &BTreeMap<String, ShareBaseline>,
) -> Result<(), StoreError> {
    let mut baseline = load(root, pve_root)?;
    for (share, entry) in entries {
        baseline.shares.insert(share.clone(), entry.clone());
    }
    write_json(&path(root, pve_root), &baseline)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_only_its_entries_of_the_file_as_it_is_now() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let pve = Path::new("/etc/pve");
        assert_eq!(load(&root, pve).unwrap(), Baseline::default());
        let entry = |owners| ShareBaseline {
            owners,
            ..ShareBaseline::default()
        };
        update(
            &root,
            pve,
            &BTreeMap::from([("a".into(), entry(3)), ("b".into(), entry(5))]),
        )
        .unwrap();
        // Another node accepted `b` meanwhile; this one updates only `a`.
        update(&root, pve, &BTreeMap::from([("b".into(), entry(1))])).unwrap();
        update(&root, pve, &BTreeMap::from([("a".into(), entry(4))])).unwrap();
        let b = load(&root, pve).unwrap();
        assert_eq!(b.shares["a"].owners, 4);
        assert_eq!(b.shares["b"].owners, 1);
    }
}
