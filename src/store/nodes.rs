//! What each node publishes about itself in the cluster filesystem, so that the other nodes can
//! tell whether it could start a container with a given map: `<pve_root>/idfed/nodes/<node>.json`,
//! the ids its `/etc/subuid` and `/etc/subgid` give the subid owner, written by every
//! `idfed apply` on that node (never by `plan` or `check`, never with `--dry-run`).
//!
//! One file per node, written only by that node: pmxcfs replicates it, no two nodes ever write the
//! same file. The time is a heartbeat: `check` warns about nodes whose state is old (idfed stopped
//! running there) or missing (it never ran there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::{self, Root, write_json};
use crate::ids::IdSet;

use super::StoreError;

/// One node's published subid coverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Published {
    pub node: String,
    /// Whose lines `uids` and `gids` are (`cluster.subid_owner` of the node's configuration).
    pub subid_owner: String,
    /// The idfed version that wrote it.
    pub version: String,
    /// The SHA-256 of the configuration file it planned from (`Config::sha256`); absent in a
    /// state written before idfed published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// When, in seconds since the Unix epoch.
    pub published_at: u64,
    /// The same time, RFC 3339 in UTC, for people.
    pub published_at_utc: String,
    /// Host uids the node's `/etc/subuid` gives the subid owner.
    pub uids: IdSet,
    /// Host gids the node's `/etc/subgid` gives the subid owner.
    pub gids: IdSet,
}

impl Published {
    /// The state of `node` whose files give `subid_owner` host `uids` and `gids`, now, planned
    /// from the configuration whose digest is `config_sha256`.
    pub(crate) fn now(
        node: &str,
        subid_owner: &str,
        config_sha256: &str,
        uids: &IdSet,
        gids: &IdSet,
    ) -> Published {
        let secs = unix_now();
        Published {
            node: node.to_string(),
            subid_owner: subid_owner.to_string(),
            version: VERSION.to_string(),
            config_sha256: Some(config_sha256.to_string()),
            published_at: secs,
            published_at_utc: rfc3339(secs),
            uids: uids.clone(),
            gids: gids.clone(),
        }
    }
}

impl Published {
    /// How old it is at `now` (seconds since the epoch); a time in the future is age 0.
    pub(crate) fn age_secs(&self, now: u64) -> u64 {
        now.saturating_sub(self.published_at)
    }

    /// Is it older than `max_age` seconds at `now` (`cluster.publish_max_age_secs`)? Exactly
    /// `max_age` old still counts.
    pub(crate) fn is_stale(&self, now: u64, max_age: u64) -> bool {
        self.age_secs(now) > max_age
    }
}

/// This idfed's version, as a published state records it.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (Howard Hinnant's days-to-civil).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Where the published states live.
pub(crate) fn dir(root: &Root, pve_root: &Path) -> PathBuf {
    root.join(pve_root).join("idfed/nodes")
}

/// Writes this node's state atomically.
///
/// # Errors
/// When the directory or the file cannot be written.
pub(crate) fn save(root: &Root, pve_root: &Path, state: &Published) -> Result<PathBuf, StoreError> {
    let path = dir(root, pve_root).join(format!("{}.json", state.node));
    write_json(&path, state)?;
    Ok(path)
}

/// A published node state that is ignored (the gate then waits for that node: the safe side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodeStateWarning {
    /// The file names another node than its file name.
    OtherNode { path: PathBuf, named: String },
    /// The state is of another subid owner than `cluster.subid_owner`.
    OtherOwner {
        path: PathBuf,
        owner: String,
        expected: String,
    },
    /// The file cannot be read or parsed.
    Unreadable {
        path: PathBuf,
        node: String,
        error: String,
    },
}

impl std::fmt::Display for NodeStateWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeStateWarning::OtherNode { path, named } => write!(
                f,
                "`{}` names node `{named}`: ignored (each node publishes under its own name)",
                path.display()
            ),
            NodeStateWarning::OtherOwner {
                path,
                owner,
                expected,
            } => write!(
                f,
                "`{}` publishes the subids of `{owner}`, not of `{expected}`: ignored (is \
                 `cluster.subid_owner` the same on every node?)",
                path.display()
            ),
            NodeStateWarning::Unreadable { path, node, error } => write!(
                f,
                "`{}` is not a published node state: {error}: ignored until node `{node}` runs \
                 `idfed apply` again",
                path.display()
            ),
        }
    }
}

/// Every node's published state, by node name. A state that cannot be read or parsed, or that
/// names another subid owner than `subid_owner`, counts as not published: it is returned as a
/// warning, and the gate then waits for that node, which is the safe side.
///
/// # Errors
/// When the directory exists but cannot be listed.
pub(crate) fn load_all(
    root: &Root,
    pve_root: &Path,
    subid_owner: &str,
) -> Result<(BTreeMap<String, Published>, Vec<NodeStateWarning>), StoreError> {
    let dir = dir(root, pve_root);
    let mut out = BTreeMap::new();
    let mut warnings = Vec::new();
    if !dir.exists() {
        return Ok((out, warnings));
    }
    for entry in fs::read_dir_sorted(&dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(node) = name.strip_suffix(".json") else {
            continue;
        };
        let path = entry.path();
        let parsed = fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|text| serde_json::from_str::<Published>(&text).map_err(anyhow::Error::from));
        match parsed {
            Ok(p) if p.node != node => warnings.push(NodeStateWarning::OtherNode {
                path,
                named: p.node,
            }),
            Ok(p) if p.subid_owner != subid_owner => {
                warnings.push(NodeStateWarning::OtherOwner {
                    path,
                    owner: p.subid_owner,
                    expected: subid_owner.to_string(),
                });
            }
            Ok(p) => {
                out.insert(node.to_string(), p);
            }
            Err(e) => warnings.push(NodeStateWarning::Unreadable {
                path,
                node: node.to_string(),
                error: format!("{e:#}"),
            }),
        }
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_boundaries() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (86_399, "1970-01-01T23:59:59Z"),
            (86_400, "1970-01-02T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (1_709_251_200, "2024-03-01T00:00:00Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(secs), want, "{secs}");
        }
    }

    #[test]
    fn round_trip_and_ignored_states() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let pve = Path::new("/etc/pve");
        let mut uids = IdSet::new();
        uids.insert_id(1005);
        let mut p = Published::now("pve2", "root", "c0ffee", &uids, &IdSet::new());
        p.published_at = 1000;
        save(&root, pve, &p).unwrap();
        std::fs::write(dir(&root, pve).join("pve9.json"), "{").unwrap();
        let (all, warnings) = load_all(&root, pve, "root").unwrap();
        assert_eq!(all.get("pve2"), Some(&p));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].to_string().contains("pve9.json"),
            "{warnings:?}"
        );
        let (none, w) = load_all(&root, pve, "backup").unwrap();
        assert!(none.is_empty() && w.len() == 2, "{w:?}");
    }
}
