//! Loading the as-is model, in two steps so that the command can resolve the shares in between
//! (in the order it always said things): [`discover`] finds the nodes and CTs and checks this
//! node's name; [`load`] adds the share uses, idfed's records and the subid coverage. Both return
//! what they skipped as warnings; neither prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::fs::{self, FsError, Root};
use crate::pve::{CtError, DiscoverError, Discovery};
use crate::resolve::ResolvedShare;
use crate::source::files::passwd_entries;
use crate::store::{self, StoreError};
use crate::subid::SubidFile;

use super::{ClusterState, CtState, LoadWarning, LocalSubid, ShareUse, records};

/// Why the cluster could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error("cannot read the cluster under `{path}`", path = path.display())]
    Discover {
        path: PathBuf,
        #[source]
        source: DiscoverError,
    },
    /// `apply` writes and publishes as this node: it must be one of the cluster's.
    #[error(
        "this node `{node}` is not a node of the cluster under `{path}`: `apply` would write and \
         publish as it; use --node NAME with one of: {nodes}",
        path = pve_root.display(),
        nodes = nodes.join(", ")
    )]
    NotANode {
        node: String,
        pve_root: PathBuf,
        nodes: Vec<String>,
    },
    /// A share on a storage that `storage.cfg` lacks (or that has no path).
    #[error(
        "share `{share}`: storage `{storage}` is not in storage.cfg (or has no path): expected one of {}",
        known.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownStorage {
        share: String,
        storage: String,
        known: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// This node's name: `node` (from `--node`), else the short hostname.
pub(crate) fn node_name(node: Option<&str>) -> String {
    match node {
        Some(n) => n.to_string(),
        None => {
            let uname = rustix::system::uname();
            let host = uname.nodename().to_string_lossy().into_owned();
            host.split('.').next().unwrap_or_default().to_string()
        }
    }
}

/// What [`discover`] found, and what it has to say.
#[derive(Debug)]
pub(crate) struct Found {
    pub pve: Discovery,
    /// This node's name.
    pub node: String,
    /// `pve_root` under `--root`, for messages.
    pub pve_dir: PathBuf,
    /// A node name that is not the cluster's (for a command that only reads), lines PVE ignores.
    pub warnings: Vec<LoadWarning>,
}

/// Discovers the nodes and CTs under `pve_root` and checks that `node` is one of them: for a
/// command that `applies`, a node outside the cluster is an error; for the others a warning.
///
/// # Errors
/// [`ClusterError::Discover`], or [`ClusterError::NotANode`] when `applies`.
pub(crate) fn discover(
    root: &Root,
    config: &Config,
    node: String,
    applies: bool,
) -> Result<Found, ClusterError> {
    let c = &config.cluster;
    let pve_dir = root.join(&c.pve_root);
    let pve = Discovery::discover(root, &c.pve_root).map_err(|source| ClusterError::Discover {
        path: pve_dir.clone(),
        source,
    })?;
    let mut warnings = Vec::new();
    if !pve.nodes.contains(&node) {
        if applies {
            return Err(ClusterError::NotANode {
                node,
                pve_root: pve_dir,
                nodes: pve.nodes.clone(),
            });
        }
        warnings.push(LoadWarning::NotANode {
            node: node.clone(),
            pve_dir: pve_dir.clone(),
            nodes: pve.nodes.clone(),
        });
    }
    // Lines PVE ignores, once per file (`idfed check` does not repeat them).
    for w in pve.storage.warnings() {
        warnings.push(LoadWarning::Storage {
            path: c.pve_root.join("storage.cfg"),
            warning: w.clone(),
        });
    }
    for ct in &pve.cts {
        for w in ct.config.warnings() {
            warnings.push(LoadWarning::CtConfig {
                path: ct.host_path.clone(),
                warning: w.clone(),
            });
        }
    }
    Ok(Found {
        pve,
        node,
        pve_dir,
        warnings,
    })
}

/// Builds the model from what [`discover`] found and the resolved `shares`: which CTs use which
/// share, idfed's records, this node's subid files. Returns it with the published states that
/// were ignored, as warnings.
///
/// # Errors
/// A share whose storage is unknown, a record or file that exists but cannot be read.
pub(crate) fn load(
    root: &Root,
    config: &Config,
    found: Found,
    shares: &[ResolvedShare],
) -> Result<(ClusterState, Vec<LoadWarning>), ClusterError> {
    let c = &config.cluster;
    let Found { pve, node, .. } = found;
    let mut uses = share_uses(config, &pve, shares)?;
    let cts: Vec<CtState> = pve
        .cts
        .iter()
        .map(|ct| CtState {
            vmid: ct.vmid,
            node: ct.node.clone(),
            unprivileged: ct.config.unprivileged(),
            lock: ct.config.lock().map(str::to_string),
            idmap: ct.config.effective_idmap(),
            uses: uses.remove(&ct.vmid).unwrap_or_default(),
            other_maps: ct.config.other_maps(),
        })
        .collect();
    let ct_errors: Vec<CtError> = pve.errors.iter().map(CtError::from_load).collect();
    let unreadable = ct_errors.iter().filter_map(|e| e.vmid).collect();
    let (managed, record_warnings) = records::trusted(
        store::managed::load(root, &c.pve_root)?,
        &cts,
        &unreadable,
        &c.map_params(),
    );
    let (published, node_warnings) = store::nodes::load_all(root, &c.pve_root, &c.subid_owner)?;
    let mut warnings: Vec<LoadWarning> = node_warnings
        .into_iter()
        .map(LoadWarning::NodeState)
        .collect();
    warnings.extend(record_warnings.iter().cloned().map(LoadWarning::Record));
    let owner_uid = owner_uid(root, &c.subid_owner)?;
    let state = ClusterState {
        owner_uid,
        subuid: read_subid(root, "/etc/subuid")?,
        subgid: read_subid(root, "/etc/subgid")?,
        node,
        nodes: pve.nodes.clone(),
        pve_root: c.pve_root.clone(),
        pve,
        cts,
        ct_errors,
        managed,
        record_warnings,
        published,
        subid_owner: c.subid_owner.clone(),
        publish_max_age_secs: c.publish_max_age_secs,
        now: store::nodes::unix_now(),
    };
    Ok((state, warnings))
}

/// Each CT's uses of the resolved shares, by vmid.
fn share_uses(
    config: &Config,
    pve: &Discovery,
    shares: &[ResolvedShare],
) -> Result<BTreeMap<u32, Vec<ShareUse>>, ClusterError> {
    let mut uses: BTreeMap<u32, Vec<ShareUse>> = BTreeMap::new();
    let paths = shares
        .iter()
        .map(|share| share_path(config, pve, &share.name))
        .collect::<Result<Vec<PathBuf>, _>>()?;
    let queries: Vec<(&Path, Option<&[u32]>)> = shares
        .iter()
        .zip(&paths)
        .map(|(share, path)| {
            let listed = config.shares[&share.name].containers.as_deref();
            (path.as_path(), listed)
        })
        .collect();
    let users_of_all = pve.share_users_of_all(&queries);
    for (share, users) in shares.iter().zip(users_of_all) {
        for user in users {
            let entry = uses.entry(user.ct.vmid).or_default();
            for m in &user.mounts {
                entry.push(ShareUse {
                    share: share.name.clone(),
                    key: Some(m.key.clone()),
                    read_only: m.read_only,
                    shared: m.shared,
                });
            }
            if user.mounts.is_empty() {
                entry.push(ShareUse {
                    share: share.name.clone(),
                    key: None,
                    read_only: false,
                    shared: true,
                });
            }
        }
    }
    Ok(uses)
}

/// Where a share is mounted on every node: its `path`, or its storage's path in storage.cfg.
///
/// # Errors
/// [`ClusterError::UnknownStorage`] when its storage is not in storage.cfg or has no path.
pub(crate) fn share_path(
    config: &Config,
    pve: &Discovery,
    name: &str,
) -> Result<PathBuf, ClusterError> {
    let share = &config.shares[name];
    if let Some(path) = share.path() {
        return Ok(path.to_path_buf());
    }
    let storage = share.storage().unwrap_or_default();
    pve.storage
        .path_of(storage)
        .ok_or_else(|| ClusterError::UnknownStorage {
            share: name.to_string(),
            storage: storage.to_string(),
            known: pve
                .storage
                .storages()
                .iter()
                .map(|s| s.id.clone())
                .collect(),
        })
}

/// The uid of `owner` on this node: 0 for root, else from `/etc/passwd` under `--root` (no
/// uid when the file or the user is missing: then only lines naming it count). Lines that are
/// not passwd entries are passed over: this is the node's own file, not one idfed reads owners
/// from.
fn owner_uid(root: &Root, owner: &str) -> Result<Option<u32>, FsError> {
    if owner == "root" {
        return Ok(Some(0));
    }
    let text = fs::read_optional(root.join("etc/passwd"))?.unwrap_or_default();
    Ok(uid_in_passwd(&text, owner))
}

fn uid_in_passwd(text: &str, name: &str) -> Option<u32> {
    passwd_entries(text)
        .filter_map(Result::ok)
        .find(|(_, user)| user.name == name)
        .map(|(_, user)| user.uid)
}

fn read_subid(root: &Root, host_path: &str) -> Result<LocalSubid, FsError> {
    let path = root.join(host_path);
    let text = fs::read_optional(&path)?.unwrap_or_default();
    Ok(LocalSubid {
        path,
        file: SubidFile::parse(&text),
    })
}

#[cfg(test)]
mod tests {
    use super::uid_in_passwd;

    #[test]
    fn uid_of_a_user_in_passwd() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nlxcadm:x:2000:2000::/home/lxcadm:/bin/sh\r\nbad:x:nope:1::/:/bin/sh\n";
        assert_eq!(uid_in_passwd(text, "root"), Some(0));
        assert_eq!(uid_in_passwd(text, "lxcadm"), Some(2000));
        assert_eq!(uid_in_passwd(text, "lxc"), None);
        assert_eq!(uid_in_passwd(text, "bad"), None);
        assert_eq!(uid_in_passwd(text, "broken"), None);
        assert_eq!(uid_in_passwd("", "root"), None);
    }
}
