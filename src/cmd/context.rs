//! What plan, emit, apply, report and check all start from: the configuration, the resolved
//! shares, the cluster as it is, idfed's managed records, this node's subid files and the other
//! nodes' published subid coverage, loaded once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::check::CtError;
use crate::config::{self, Config};
use crate::fsutil;
use crate::idmap::MapParams;
use crate::ids;
use crate::plan::{CtIn, Managed, NodeCoverage, ShareUse};
use crate::publish::{self, Published};
use crate::pve::Cluster;
use crate::resolve::ResolvedShare;
use crate::state;
use crate::subid::SubidFile;

use super::Globals;

/// One of this node's subid files.
#[derive(Clone, Debug)]
pub struct LocalSubid {
    /// The path on disk (under `--root`).
    pub path: PathBuf,
    pub file: SubidFile,
}

/// Everything loaded.
pub struct Context {
    pub config: Config,
    pub params: MapParams,
    /// This node's name.
    pub node: String,
    pub shares: Vec<ResolvedShare>,
    pub cluster: Cluster,
    pub cts: Vec<CtIn>,
    pub ct_errors: Vec<CtError>,
    pub managed: BTreeMap<u32, Managed>,
    pub subuid: LocalSubid,
    pub subgid: LocalSubid,
    /// Every node's published state (this node's own too; its files are what counts for it).
    pub published: BTreeMap<String, Published>,
    /// The subid owner's uid on this node (`/etc/passwd` under `--root`), when it has one.
    pub owner_uid: Option<u32>,
}

/// This node's name: `--node`, else the short hostname.
pub fn node_name(globals: &Globals) -> String {
    match &globals.node {
        Some(n) => n.clone(),
        None => {
            let uname = rustix::system::uname();
            let host = uname.nodename().to_string_lossy().into_owned();
            host.split('.').next().unwrap_or_default().to_string()
        }
    }
}

/// The uid of `owner` on this node: 0 for root, else from `/etc/passwd` under `--root` (no
/// uid when the file or the user is missing: then only lines naming it count).
fn owner_uid(globals: &Globals, owner: &str) -> anyhow::Result<Option<u32>> {
    if owner == "root" {
        return Ok(Some(0));
    }
    let path = globals.root.join("etc/passwd");
    let text = fsutil::read_optional(&path)?.unwrap_or_default();
    Ok(uid_in_passwd(&text, owner))
}

/// The uid of `name` in the text of a passwd file; lines that are not `name:x:uid:...` are
/// skipped (this is the node's own file, not one idfed reads owners from).
fn uid_in_passwd(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        ids::parse_id(fields.nth(1)?.trim_end_matches('\r')).ok()
    })
}

fn read_subid(globals: &Globals, host_path: &str) -> anyhow::Result<LocalSubid> {
    let path = globals.root.join(host_path);
    let text = fsutil::read_optional(&path)?.unwrap_or_default();
    Ok(LocalSubid {
        path,
        file: SubidFile::parse(&text),
    })
}

/// Where a share is mounted on every node: its `path`, or its storage's path in storage.cfg.
pub(crate) fn share_path(
    config: &Config,
    cluster: &Cluster,
    name: &str,
) -> anyhow::Result<PathBuf> {
    let share = &config.shares[name];
    if let Some(path) = share.path() {
        return Ok(path.to_path_buf());
    }
    let storage = share.storage().unwrap_or_default();
    cluster.storage.path_of(storage).with_context(|| {
        format!(
            "share `{name}`: storage `{storage}` is not in storage.cfg (or has no path): expected one of {}",
            cluster
                .storage
                .storages()
                .iter()
                .map(|s| format!("`{}`", s.id))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

impl Context {
    /// Loads everything for a command that only reads: a `--node` (or host name) that is not a
    /// node of the cluster is a warning.
    ///
    /// # Errors
    /// A configuration, source, cluster or state error.
    pub fn load(globals: &Globals) -> anyhow::Result<Context> {
        Context::load_as(globals, false)
    }

    /// Loads everything for `apply`, which writes as this node: a `--node` (or host name) that is
    /// not a node of the cluster is an error, before anything is resolved or written.
    ///
    /// # Errors
    /// As [`Context::load`], and a node that is not one of the cluster's.
    pub fn load_for_apply(globals: &Globals) -> anyhow::Result<Context> {
        Context::load_as(globals, true)
    }

    fn load_as(globals: &Globals, applies: bool) -> anyhow::Result<Context> {
        let config = config::load_from(globals.config.as_deref(), &globals.root)?;
        let c = &config.cluster;
        let params = MapParams {
            base: c.base,
            size: c.size,
            min_id: c.min_id,
            max_extents: c.max_extents,
            protected: c.protected.clone(),
            over_budget: c.over_budget,
        };
        let started = std::time::Instant::now();
        let pve_root = globals.root.join(&c.pve_root);
        let cluster = Cluster::discover(&globals.root, &c.pve_root)
            .with_context(|| format!("cannot read the cluster under `{}`", pve_root.display()))?;
        if globals.verbose > 0 {
            eprintln!(
                "idfed: cluster under `{}`: {} nodes, {} CTs ({} unreadable) in {:.2} s",
                pve_root.display(),
                cluster.nodes.len(),
                cluster.cts.len(),
                cluster.errors.len(),
                started.elapsed().as_secs_f64()
            );
        }
        let node = node_name(globals);
        if !cluster.nodes.contains(&node) {
            let nodes = cluster.nodes.join(", ");
            if applies {
                anyhow::bail!(
                    "this node `{node}` is not a node of the cluster under `{}`: `apply` would \
                     write and publish as it; use --node NAME with one of: {nodes}",
                    pve_root.display()
                );
            }
            eprintln!(
                "idfed: warning: this node `{node}` is not a node of the cluster under `{}` (nodes: {nodes}); use --node",
                pve_root.display()
            );
        }
        // Lines PVE ignores, once per file (`idfed check` does not repeat them).
        for w in cluster.storage.warnings() {
            eprintln!(
                "idfed: warning: {}: {w}",
                c.pve_root.join("storage.cfg").display()
            );
        }
        for ct in &cluster.cts {
            for w in ct.config.warnings() {
                eprintln!("idfed: warning: {}: {w}", ct.host_path.display());
            }
        }
        let (shares, warnings) = super::resolve::resolve_shares(&config, &[], globals)?;
        for w in &warnings {
            eprintln!("idfed: warning: {w}");
        }

        let mut uses: BTreeMap<u32, Vec<ShareUse>> = BTreeMap::new();
        let paths = shares
            .iter()
            .map(|share| share_path(&config, &cluster, &share.name))
            .collect::<anyhow::Result<Vec<PathBuf>>>()?;
        let queries: Vec<(&Path, Option<&[u32]>)> = shares
            .iter()
            .zip(&paths)
            .map(|(share, path)| {
                let listed = config.shares[&share.name].containers.as_deref();
                (path.as_path(), listed)
            })
            .collect();
        let users_of_all = cluster.share_users_of_all(&queries);
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
        let cts = cluster
            .cts
            .iter()
            .map(|ct| CtIn {
                vmid: ct.vmid,
                node: ct.node.clone(),
                unprivileged: ct.config.unprivileged(),
                lock: ct.config.lock().map(str::to_string),
                idmap: ct.config.effective_idmap(),
                uses: uses.remove(&ct.vmid).unwrap_or_default(),
            })
            .collect();
        let ct_errors = cluster.errors.iter().map(CtError::from_load).collect();
        let managed = state::load_managed(&globals.root, &c.pve_root)?;
        let (published, publish_warnings) =
            publish::load_all(&globals.root, &c.pve_root, &c.subid_owner)?;
        for w in &publish_warnings {
            eprintln!("idfed: warning: {w}");
        }
        let owner_uid = owner_uid(globals, &c.subid_owner)?;
        Ok(Context {
            owner_uid,
            subuid: read_subid(globals, "/etc/subuid")?,
            subgid: read_subid(globals, "/etc/subgid")?,
            config,
            params,
            node,
            shares,
            cluster,
            cts,
            ct_errors,
            managed,
            published,
        })
    }

    /// The subid owner, and its uid when known: newuidmap takes the lines of either.
    pub fn owner(&self) -> (&str, Option<u32>) {
        (self.config.cluster.subid_owner.as_str(), self.owner_uid)
    }

    /// Checks a command's `--share` and `--ct` filters against the configuration and the
    /// cluster: a typo is an error, not an empty result.
    ///
    /// # Errors
    /// An unknown share (with the closest name), a CT the cluster does not have, or one whose
    /// config cannot be read.
    pub fn check_filters(&self, share: Option<&str>, ct: Option<u32>) -> anyhow::Result<()> {
        if let Some(share) = share {
            self.config.share(share)?;
        }
        if let Some(vmid) = ct
            && !self.cts.iter().any(|c| c.vmid == vmid)
        {
            if self.ct_errors.iter().any(|e| e.vmid == Some(vmid)) {
                anyhow::bail!("CT {vmid}: its config cannot be read (run `idfed check`)");
            }
            let range = match (self.cts.first(), self.cts.last()) {
                (Some(first), Some(last)) => format!(
                    "it has {} CTs, from {} to {}",
                    self.cts.len(),
                    first.vmid,
                    last.vmid
                ),
                _ => "it has no CTs".to_string(),
            };
            anyhow::bail!(
                "CT {vmid} is not a container of the cluster under `{}` ({range})",
                self.pve_root().display()
            );
        }
        Ok(())
    }

    /// This node's current coverage, from its files.
    pub fn local_coverage(&self) -> NodeCoverage {
        self.coverage_of(&self.subuid.file, &self.subgid.file)
    }

    /// What `subuid` and `subgid` give the subid owner (this node's files as read, or as
    /// `apply` leaves them).
    pub fn coverage_of(&self, subuid: &SubidFile, subgid: &SubidFile) -> NodeCoverage {
        let (owner, uid) = self.owner();
        NodeCoverage {
            uids: subuid.covered(owner, uid),
            gids: subgid.covered(owner, uid),
        }
    }

    /// Says on stderr, for each CT config that cannot be read (on every node but `except`), what
    /// that means for this command (`consequence`: "left out of the plan"); `idfed check` gives
    /// the fix.
    pub fn warn_unreadable_cts(&self, consequence: &str, except: Option<&str>) {
        for e in &self.ct_errors {
            if except.is_some_and(|node| node == e.node) {
                continue;
            }
            eprintln!(
                "idfed: warning: {}: {consequence}: {} (`idfed check` says more)",
                e.who(),
                e.unreadable()
            );
        }
    }

    /// `pve_root` as configured.
    pub fn pve_root(&self) -> &Path {
        &self.config.cluster.pve_root
    }
}

impl Context {
    /// The plan for the whole cluster, with this node's subid coverage from its files and the
    /// other nodes' from their published states.
    pub fn plan(&self, adopt: bool) -> crate::plan::Plan {
        self.plan_with(adopt, self.local_coverage())
    }

    /// Every node's known coverage: `local` for this node, the published states for the other
    /// nodes of the cluster (a state left behind by a node that left the cluster is ignored).
    pub fn coverage(&self, local: NodeCoverage) -> BTreeMap<String, NodeCoverage> {
        let mut coverage: BTreeMap<String, NodeCoverage> = self
            .published
            .iter()
            .filter(|(node, _)| **node != self.node && self.cluster.nodes.contains(node))
            .map(|(node, p)| (node.clone(), p.coverage()))
            .collect();
        coverage.insert(self.node.clone(), local);
        coverage
    }

    /// The plan with `local` as this node's coverage (`apply` passes what its files cover after
    /// it appended the missing lines).
    pub fn plan_with(&self, adopt: bool, local: NodeCoverage) -> crate::plan::Plan {
        let coverage = self.coverage(local);
        crate::plan::plan(&crate::plan::PlanInput {
            nodes: &self.cluster.nodes,
            params: self.params.clone(),
            subid_owner: self.config.cluster.subid_owner.clone(),
            shares: &self.shares,
            cts: &self.cts,
            managed: &self.managed,
            coverage: &coverage,
            adopt,
        })
    }

    /// Refuses a plan that removes passthroughs of a share that shrank markedly since the last
    /// successful run, unless `allow`; with `allow`, says so on stderr.
    ///
    /// # Errors
    /// The shrink, naming the share, how much it shrank, and the containers that would lose ids.
    pub fn shrink_guard(
        &self,
        globals: &Globals,
        plan: &crate::plan::Plan,
        allow: bool,
    ) -> anyhow::Result<()> {
        let last = state::load_run_state(&globals.root)?;
        for shrink in state::shrinks(&last, &self.share_counts()) {
            let losing: Vec<String> = plan
                .containers
                .iter()
                .filter(|c| c.shares.contains(&shrink.share))
                .filter(|c| !c.removed_uids.is_empty() || !c.removed_gids.is_empty())
                .map(|c| format!("CT {}", c.ct))
                .collect();
            if losing.is_empty() {
                continue;
            }
            if allow {
                eprintln!(
                    "idfed: warning: {shrink}; removing passthroughs from {} as --allow-shrink says",
                    losing.join(", ")
                );
            } else {
                anyhow::bail!(
                    "{shrink}: refusing to remove passthroughs from {} (a directory outage or a \
                     truncated passwd file must not strip access); check the source, or run again \
                     with --allow-shrink if the owners really left",
                    losing.join(", ")
                );
            }
        }
        Ok(())
    }

    /// Each resolved share's owner and id counts, as recorded after a successful run.
    pub fn share_counts(&self) -> BTreeMap<String, state::ShareCount> {
        self.shares
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    state::ShareCount {
                        owners: s.owners.len() as u64,
                        ids: s.uids.len() + s.gids.len(),
                    },
                )
            })
            .collect()
    }
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
