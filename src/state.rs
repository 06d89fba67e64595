//! What idfed remembers between runs.
//!
//! - Which passthroughs idfed put into each container: `<pve_root>/idfed/managed/<vmid>.json`, in
//!   the cluster filesystem so every node sees it. One file per container, not one for the
//!   cluster: a CT config is only ever edited by the node that holds it (under that node's config
//!   lock), so per-CT files are never written by two nodes at once, where one shared file would be.
//! - The owner counts of the last successful run on this node, for the shrink guard:
//!   `/var/lib/idfed/state.json`.
//! - The subid lines idfed appended on this node, so that `apply --prune` removes only its own:
//!   `/var/lib/idfed/subids.json`. A line is recorded before it is written, so a crash between the
//!   two leaves a claim on a line that is not there (dropped by the next run), never an own line
//!   that looks hand-written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::apply::write::{Written, write_json};
use crate::fsutil::{self, Root};
use crate::plan::Managed;

/// Where the per-CT managed records live.
pub fn managed_dir(root: &Root, pve_root: &Path) -> PathBuf {
    root.join(pve_root).join("idfed/managed")
}

/// Reads every container's managed record; a missing directory is no record at all.
///
/// # Errors
/// A record that cannot be read or parsed, naming its file.
pub fn load_managed(root: &Root, pve_root: &Path) -> anyhow::Result<BTreeMap<u32, Managed>> {
    let dir = managed_dir(root, pve_root);
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in fsutil::read_dir_sorted(&dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name
            .strip_suffix(".json")
            .and_then(|v| v.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let text = fsutil::read_to_string(&path)?;
        let record: Managed = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a managed record", path.display()))?;
        out.insert(vmid, record);
    }
    Ok(out)
}

/// Writes container `vmid`'s managed record (atomically; unchanged records are not rewritten).
///
/// # Errors
/// When the record cannot be written.
pub fn save_managed(
    root: &Root,
    pve_root: &Path,
    vmid: u32,
    record: &Managed,
) -> anyhow::Result<Written> {
    let path = managed_dir(root, pve_root).join(format!("{vmid}.json"));
    Ok(write_json(&path, record)?)
}

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

/// This node's own state directory under `root`: `/var/lib/idfed` (the run state, the record
/// of appended subid lines, the backups of `apply`).
pub fn dir(root: &Root) -> PathBuf {
    root.join("/var/lib/idfed")
}

fn run_state_path(root: &Root) -> PathBuf {
    dir(root).join("state.json")
}

/// Reads the JSON record at `path`; none yet is `T::default()`.
///
/// # Errors
/// When the file exists but cannot be read, or is not `what` (named with its path).
pub fn read_json_or_default<T: DeserializeOwned + Default>(
    path: &Path,
    what: &str,
) -> anyhow::Result<T> {
    match fsutil::read_optional(path)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not {what}", path.display())),
    }
}

/// Reads the run state; none yet is the empty state.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub fn load_run_state(root: &Root) -> anyhow::Result<RunState> {
    read_json_or_default(&run_state_path(root), "an idfed run state")
}

/// Records a successful run.
///
/// # Errors
/// When the file cannot be written.
pub fn save_run_state(root: &Root, state: &RunState) -> anyhow::Result<()> {
    write_json(&run_state_path(root), state)?;
    Ok(())
}

/// The subid lines idfed appended to this node's files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedLines {
    pub subuid: Vec<crate::idmap::Subid>,
    pub subgid: Vec<crate::idmap::Subid>,
}

fn added_lines_path(root: &Root) -> PathBuf {
    dir(root).join("subids.json")
}

/// Reads the record of appended lines; none yet is the empty record.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub fn load_added_lines(root: &Root) -> anyhow::Result<AddedLines> {
    read_json_or_default(&added_lines_path(root), "idfed's record of subid lines")
}

/// Writes the record of appended lines (atomically; unchanged records are not rewritten).
///
/// # Errors
/// When the file cannot be written.
pub fn save_added_lines(root: &Root, record: &AddedLines) -> anyhow::Result<()> {
    write_json(&added_lines_path(root), record)?;
    Ok(())
}

/// A share that now resolves to markedly fewer ids than at the last successful run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrink {
    pub share: String,
    pub before: u64,
    pub after: u64,
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = (self.before - self.after) * 100 / self.before.max(1);
        write!(
            f,
            "share `{}` shrank from {} to {} ids (-{pct}%) since the last successful run",
            self.share, self.before, self.after
        )
    }
}

/// Is a drop from `before` to `after` ids "marked"? More than one id and more than 10 %: one
/// user leaving a group is ordinary, a directory that lost most of a group is an outage.
pub fn is_marked_shrink(before: u64, after: u64) -> bool {
    after < before && before - after > 1 && (before - after) * 10 > before
}

/// The shares of `now` that shrank markedly against `last`.
pub fn shrinks(last: &RunState, now: &BTreeMap<String, ShareCount>) -> Vec<Shrink> {
    now.iter()
        .filter_map(|(name, count)| {
            let before = last.shares.get(name)?.ids;
            is_marked_shrink(before, count.ids).then(|| Shrink {
                share: name.clone(),
                before,
                after: count.ids,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_shrink_boundaries() {
        assert!(!is_marked_shrink(2, 1), "one id less is ordinary");
        assert!(!is_marked_shrink(100, 90), "exactly 10% is not marked");
        assert!(is_marked_shrink(100, 89));
        assert!(!is_marked_shrink(10, 9));
        assert!(is_marked_shrink(10, 8));
        assert!(is_marked_shrink(120, 0));
        assert!(!is_marked_shrink(5, 7), "growth is never a shrink");
    }

    #[test]
    fn shrink_message() {
        let s = Shrink {
            share: "projects".into(),
            before: 120,
            after: 3,
        };
        assert_eq!(
            s.to_string(),
            "share `projects` shrank from 120 to 3 ids (-97%) since the last successful run"
        );
    }

    #[test]
    fn managed_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let pve = Path::new("/etc/pve");
        assert!(load_managed(&root, pve).unwrap().is_empty());
        let mut rec = Managed::default();
        rec.uids.insert_id(1005);
        save_managed(&root, pve, 101, &rec).unwrap();
        assert_eq!(
            save_managed(&root, pve, 101, &rec).unwrap(),
            Written::Unchanged
        );
        let all = load_managed(&root, pve).unwrap();
        assert_eq!(all.get(&101), Some(&rec));
    }
}
