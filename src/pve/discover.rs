//! Discovery: the nodes of the cluster, their CTs' configs, and `storage.cfg`, as they are on disk.
//!
//! Discovery is the only I/O of the `pve` module and goes through `fs`, under `--root`: nodes
//! are the directories of `<pve_root>/nodes/`, CTs their `lxc/<vmid>.conf` files. One unreadable
//! or unparsable CT config is recorded as a [`CtLoadError`] and the others still load. Which CTs
//! use a share is answered by [`Discovery::share_users`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::fs::{self, FsError, Root};
use crate::pve::ctconf::{CtConfig, CtConfigError};
use crate::pve::share::{self, ShareMount};
use crate::pve::storage::{StorageCfg, StorageError};

/// One CT found on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ct {
    pub vmid: u32,
    pub node: String,
    /// The config file's path on disk, under `--root` (what `apply` writes).
    pub path: PathBuf,
    /// The same file as a host path (`/etc/pve/nodes/pve1/lxc/101.conf`), for messages.
    pub host_path: PathBuf,
    pub config: CtConfig,
}

/// Why one CT config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CtLoadCause {
    #[error(transparent)]
    Read(#[from] FsError),
    #[error(transparent)]
    Parse(#[from] CtConfigError),
    /// Another node has a config with the same vmid (a broken copy): which of them PVE starts
    /// is not idfed's to guess, so neither is loaded.
    #[error("VMID {vmid} is also configured in {}", others.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", "))]
    Duplicate {
        vmid: u32,
        /// The host paths of the other configs with this vmid.
        others: Vec<PathBuf>,
    },
}

/// A CT whose config could not be loaded; the rest of the cluster still is.
#[derive(Debug, thiserror::Error)]
pub struct CtLoadError {
    pub vmid: u32,
    pub node: String,
    /// The config file's path on disk, under `--root`.
    pub path: PathBuf,
    /// The same file as a host path, for messages.
    pub host_path: PathBuf,
    #[source]
    pub cause: CtLoadCause,
}

/// Why discovery as a whole failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("`{path}`: {source}", path = path.display())]
    Storage {
        path: PathBuf,
        #[source]
        source: StorageError,
    },
}

/// The nodes, CTs and storages found under `/etc/pve`.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Node names, sorted.
    pub nodes: Vec<String>,
    /// CTs sorted by vmid (then node).
    pub cts: Vec<Ct>,
    /// CT configs that could not be loaded.
    pub errors: Vec<CtLoadError>,
    /// `storage.cfg`; empty when the file does not exist.
    pub storage: StorageCfg,
}

/// A CT that uses a share, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareUser<'a> {
    pub ct: &'a Ct,
    /// Its bind mounts at or below the share's path (may be empty when only listed).
    pub mounts: Vec<ShareMount>,
    /// Named in the share's `containers` list.
    pub listed: bool,
    /// Not `unprivileged: 1`: idfed reports it and never edits its map.
    pub privileged: bool,
}

/// The host path of `node`'s CT configs: `<pve_root>/nodes/<node>/lxc`.
pub fn lxc_dir(pve_root: &Path, node: &str) -> PathBuf {
    pve_root.join("nodes").join(node).join("lxc")
}

/// The host path of CT `vmid`'s config on `node`: `<pve_root>/nodes/<node>/lxc/<vmid>.conf`.
pub fn ct_conf_path(pve_root: &Path, node: &str, vmid: u32) -> PathBuf {
    lxc_dir(pve_root, node).join(format!("{vmid}.conf"))
}

/// A vmid as PVE names config files: a number without sign or leading zero.
fn parse_vmid(stem: &str) -> Option<u32> {
    let valid = !stem.is_empty()
        && stem.bytes().all(|b| b.is_ascii_digit())
        && !(stem.len() > 1 && stem.starts_with('0'));
    valid.then(|| stem.parse().ok()).flatten()
}

impl Discovery {
    /// Reads the cluster under `root`: `pve_root` is the host path of `/etc/pve`.
    ///
    /// # Errors
    /// When `<pve_root>/nodes` or a node's existing `lxc` directory cannot be listed, or
    /// `storage.cfg` exists but cannot be read or defines a storage twice. A CT config that cannot
    /// be read or parsed is not an error here: it lands in [`Discovery::errors`].
    pub fn discover(root: &Root, pve_root: &Path) -> Result<Discovery, DiscoverError> {
        let base = root.join(pve_root);
        let mut cluster = Discovery::default();

        let storage_path = base.join("storage.cfg");
        if let Some(text) = fs::read_optional(&storage_path)? {
            cluster.storage =
                StorageCfg::parse(&text).map_err(|source| DiscoverError::Storage {
                    path: storage_path.clone(),
                    source,
                })?;
        }

        for entry in fs::read_dir_sorted(base.join("nodes"))? {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(node) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            cluster.nodes.push(node.clone());
            let lxc = root.join(lxc_dir(pve_root, &node));
            if !lxc.is_dir() {
                continue;
            }
            for conf in fs::read_dir_sorted(&lxc)? {
                let name = conf.file_name();
                let Some(vmid) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".conf"))
                    .and_then(parse_vmid)
                else {
                    continue;
                };
                let path = conf.path();
                // `parse_vmid` took only the canonical spelling: this is the file's own name.
                let host_path = ct_conf_path(pve_root, &node, vmid);
                let loaded = fs::read_to_string(&path)
                    .map_err(CtLoadCause::from)
                    .and_then(|text| CtConfig::parse(&text).map_err(CtLoadCause::from));
                match loaded {
                    Ok(config) => cluster.cts.push(Ct {
                        vmid,
                        node: node.clone(),
                        host_path,
                        path,
                        config,
                    }),
                    Err(cause) => cluster.errors.push(CtLoadError {
                        vmid,
                        node: node.clone(),
                        path,
                        host_path,
                        cause,
                    }),
                }
            }
        }
        cluster
            .cts
            .sort_by(|a, b| (a.vmid, &a.node).cmp(&(b.vmid, &b.node)));
        cluster.set_duplicates_apart();
        cluster
            .errors
            .sort_by(|a, b| (a.vmid, &a.node).cmp(&(b.vmid, &b.node)));
        Ok(cluster)
    }

    /// Moves every CT whose vmid another node's config also has (loaded or not) from
    /// [`Discovery::cts`] to [`Discovery::errors`], each naming the other files: nothing plans,
    /// reports or applies a map for a vmid that two configs claim.
    fn set_duplicates_apart(&mut self) {
        let mut paths: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
        let all = self.cts.iter().map(|c| (c.vmid, &c.host_path));
        for (vmid, path) in all.chain(self.errors.iter().map(|e| (e.vmid, &e.host_path))) {
            paths.entry(vmid).or_default().push(path.clone());
        }
        paths.retain(|_, p| p.len() > 1);
        if paths.is_empty() {
            return;
        }
        let others = |vmid: u32, own: &Path| -> Vec<PathBuf> {
            let mut o: Vec<PathBuf> = paths[&vmid].iter().filter(|p| *p != own).cloned().collect();
            o.sort();
            o
        };
        for e in self
            .errors
            .iter_mut()
            .filter(|e| paths.contains_key(&e.vmid))
        {
            // One that cannot be read is a duplicate all the same: its own cause is secondary.
            e.cause = CtLoadCause::Duplicate {
                vmid: e.vmid,
                others: others(e.vmid, &e.host_path),
            };
        }
        let (dups, cts) = std::mem::take(&mut self.cts)
            .into_iter()
            .partition(|c| paths.contains_key(&c.vmid));
        self.cts = cts;
        for ct in dups {
            let Ct {
                vmid,
                node,
                path,
                host_path,
                ..
            } = ct;
            self.errors.push(CtLoadError {
                vmid,
                cause: CtLoadCause::Duplicate {
                    vmid,
                    others: others(vmid, &host_path),
                },
                node,
                path,
                host_path,
            });
        }
    }

    /// The CT with `vmid`, if loaded: a binary search, [`Discovery::cts`] being sorted by vmid
    /// (a vmid that two nodes claim is never loaded).
    pub fn ct(&self, vmid: u32) -> Option<&Ct> {
        let i = self.cts.partition_point(|c| c.vmid < vmid);
        self.cts.get(i).filter(|c| c.vmid == vmid)
    }

    /// The CTs that use the share at `share_path`: those with a bind mount at or below it, and
    /// those in `containers` when the share lists them. Sorted by vmid.
    ///
    /// A listed vmid that no loaded CT has is simply absent (the caller compares against its list
    /// and [`Discovery::errors`] to report it).
    pub fn share_users(&self, share_path: &Path, containers: Option<&[u32]>) -> Vec<ShareUser<'_>> {
        self.share_users_of_all(&[(share_path, containers)])
            .pop()
            .unwrap_or_default()
    }

    /// [`Discovery::share_users`] for several shares at once: one list per share, in order.
    ///
    /// One pass over the CTs, each checked against every share while its config is in the cache:
    /// at 20,000 CTs a pass per share spent more time in cache misses than in comparing paths.
    pub fn share_users_of_all(
        &self,
        shares: &[(&Path, Option<&[u32]>)],
    ) -> Vec<Vec<ShareUser<'_>>> {
        let dirs: Vec<_> = shares
            .iter()
            .map(|(path, listed)| (share::normalize(path), *listed))
            .collect();
        let mut out: Vec<Vec<ShareUser<'_>>> = vec![Vec::new(); shares.len()];
        for ct in &self.cts {
            let binds = share::BindMounts::of(&ct.config);
            for ((dir, containers), users) in dirs.iter().zip(&mut out) {
                let mounts = binds.share_uses(dir);
                let listed = containers.is_some_and(|list| list.contains(&ct.vmid));
                if listed || !mounts.is_empty() {
                    users.push(ShareUser {
                        ct,
                        mounts,
                        listed,
                        privileged: !ct.config.unprivileged(),
                    });
                }
            }
        }
        out
    }
}

/// `CT 301 on node `pve1`: `/etc/pve/nodes/pve1/lxc/301.conf`: line 3: ...`; a read error
/// names the path itself.
impl fmt::Display for CtLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CT {} on node `{}`: ", self.vmid, self.node)?;
        match &self.cause {
            CtLoadCause::Read(e) => write!(f, "{e}"),
            CtLoadCause::Parse(e) => write!(f, "`{}`: {e}", self.path.display()),
            CtLoadCause::Duplicate { .. } => {
                write!(f, "`{}`: {}", self.host_path.display(), self.cause)
            }
        }
    }
}

impl fmt::Display for Ct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CT {} on node `{}`", self.vmid, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_by_vmid() {
        let ct = |vmid: u32, node: &str| Ct {
            vmid,
            node: node.into(),
            path: PathBuf::new(),
            host_path: ct_conf_path(Path::new("/etc/pve"), node, vmid),
            config: CtConfig::parse("arch: amd64\n").unwrap(),
        };
        let cluster = Discovery {
            cts: vec![ct(101, "a"), ct(105, "a"), ct(106, "b"), ct(300, "b")],
            ..Discovery::default()
        };
        assert_eq!(cluster.ct(105).map(|c| c.node.as_str()), Some("a"));
        assert_eq!(cluster.ct(106).map(|c| c.node.as_str()), Some("b"));
        assert_eq!(cluster.ct(300).map(|c| c.node.as_str()), Some("b"));
        for absent in [0, 100, 104, 107, 301, u32::MAX] {
            assert!(cluster.ct(absent).is_none(), "{absent}");
        }
        assert_eq!(
            cluster.ct(101).unwrap().host_path,
            Path::new("/etc/pve/nodes/a/lxc/101.conf")
        );
    }

    /// Issue 14: a vmid on two nodes (a broken copy) was taken from the first node and the shares
    /// of both merged into it; now neither is loaded and each error names the other file.
    #[test]
    fn a_vmid_on_two_nodes_is_loaded_from_neither() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join("etc/pve/nodes").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("a/lxc/101.conf", "arch: amd64\n");
        write("a/lxc/105.conf", "arch: amd64\n");
        write("b/lxc/105.conf", "arch: amd64\n");
        write("b/lxc/106.conf", "arch: amd64\n");
        // Three claims, one of them unreadable as a config: all three are duplicates.
        write("a/lxc/106.conf", "arch: amd64\n");
        write("c/lxc/106.conf", "mp0: \n");
        let found = Discovery::discover(&Root::new(dir.path()), Path::new("/etc/pve")).unwrap();
        let loaded: Vec<_> = found
            .cts
            .iter()
            .map(|c| (c.vmid, c.node.as_str()))
            .collect();
        assert_eq!(loaded, [(101, "a")]);
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "CT 105 on node `a`: `/etc/pve/nodes/a/lxc/105.conf`: VMID 105 is also configured \
                 in `/etc/pve/nodes/b/lxc/105.conf`",
                "CT 105 on node `b`: `/etc/pve/nodes/b/lxc/105.conf`: VMID 105 is also configured \
                 in `/etc/pve/nodes/a/lxc/105.conf`",
                "CT 106 on node `a`: `/etc/pve/nodes/a/lxc/106.conf`: VMID 106 is also configured \
                 in `/etc/pve/nodes/b/lxc/106.conf`, `/etc/pve/nodes/c/lxc/106.conf`",
                "CT 106 on node `b`: `/etc/pve/nodes/b/lxc/106.conf`: VMID 106 is also configured \
                 in `/etc/pve/nodes/a/lxc/106.conf`, `/etc/pve/nodes/c/lxc/106.conf`",
                "CT 106 on node `c`: `/etc/pve/nodes/c/lxc/106.conf`: VMID 106 is also configured \
                 in `/etc/pve/nodes/a/lxc/106.conf`, `/etc/pve/nodes/b/lxc/106.conf`",
            ]
        );
    }

    #[test]
    fn vmid_names() {
        for (stem, want) in [
            ("101", Some(101)),
            ("100", Some(100)),
            ("999999999", Some(999_999_999)),
            ("0101", None),
            ("abc", None),
            ("", None),
            ("101.bak", None),
            ("-1", None),
            ("99999999999", None),
        ] {
            assert_eq!(parse_vmid(stem), want, "{stem}");
        }
    }
}
