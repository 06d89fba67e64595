//! The apply engine: carries out a plan on this node. First the subid lines it lacks (appended,
//! and recorded as idfed's own before they are written), then the `lxc.idmap` lines of every
//! container on this node whose new map every node of the cluster covers (the rollout gate;
//! `force` overrides), each under PVE's config lock, written atomically with a backup; with
//! `prune`, the subid lines idfed added that no map of the cluster needs any more are removed;
//! last, this node publishes what its subid files cover to `<pve_root>/idfed/nodes/<node>.json`.
//! A second run changes nothing but that heartbeat.
//!
//! Split by concern: [`subids`] (appends and their claim record, under [`shadow_lock`]), [`cts`]
//! (the rewrite under PVE's lock and the crash ordering of the managed record), [`prune`],
//! [`backup`]; [`node_lock`] is the caller's, held from loading to publishing. Nothing here
//! prints: notes and warnings go to the caller's `say`, as they happen.

mod backup;
mod cts;
pub(crate) mod node_lock;
mod prune;
pub(crate) mod pve_writable;
pub(crate) mod shadow_lock;
mod shift_rootfs;
mod subids;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::{ClusterState, RecordWarning};
use crate::fs::{self, FsError, Root};
use crate::idmap::{MapParams, Subid};
use crate::ids::IdSet;
use crate::plan::{self, CtPlan, Plan, Rollout, SkipReason};
use crate::pve::{LockError, lxc_dir};
use crate::resolve::ResolvedShare;
use crate::store::{self, Published, ShareBaseline, StoreError};

use backup::Backups;
pub(crate) use shift_rootfs::ShiftLater;

/// What the engine applies a plan to: the cluster as loaded, and what planning it again takes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input<'a> {
    pub cluster: &'a ClusterState,
    pub params: &'a MapParams,
    pub shares: &'a [ResolvedShare],
    /// Adopted passthroughs to release (`--release`), for planning again.
    pub release: &'a [plan::Release],
    /// The digest of the configuration planned from (`Config::sha256`), published with this
    /// node's coverage.
    pub config_sha256: &'a str,
    /// The outage guard's baseline entries to record: the shares it did not hold.
    pub baseline: &'a BTreeMap<String, ShareBaseline>,
}

/// How to apply.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Opts {
    /// Take foreign passthroughs under management.
    pub adopt: bool,
    /// Say what would be done; write nothing.
    pub dry_run: bool,
    /// Switch CTs whose new map some nodes do not cover yet.
    pub force: bool,
    /// Remove the subid lines idfed added that no map needs any more.
    pub prune: bool,
    /// Shift the root filesystems of this node's stopped CTs right after their switch.
    pub shift_rootfs: bool,
    /// How long to wait for shadow's locks on the subid files.
    pub wait: Duration,
}

/// What one run did (JSON output of `apply`).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Applied {
    pub node: String,
    pub dry_run: bool,
    pub subuid_added: Vec<Subid>,
    pub subgid_added: Vec<Subid>,
    /// Files written (host paths under `--root`).
    pub changed_files: Vec<String>,
    /// CTs whose map was rewritten: they switch at their next start.
    pub restart_required: Vec<u32>,
    /// Of those, the ones whose new map passes through ids no owner asked for (merged to fit the
    /// kernel's budget, `over_budget = "expose"`), with those ids.
    pub exposed: Vec<CtIds>,
    /// Of those, the ones whose new map leaves inside ids unmapped (fitted to the budget by
    /// `over_budget = "unmap"`, or their base ids are passed through), with those ids.
    pub unmapped: Vec<CtIds>,
    pub skipped: Vec<Skipped>,
    /// CTs left with their current map until these nodes cover the new one.
    pub waiting: Vec<Waiting>,
    /// CTs switched by `--force` although these nodes do not cover the new map.
    pub forced: Vec<Waiting>,
    /// Lines idfed had added and no map needs any more (`--prune`).
    pub subuid_pruned: Vec<Subid>,
    pub subgid_pruned: Vec<Subid>,
    /// idfed's records of CTs it no longer trusts, dropped (see `cluster::RecordWarning`).
    pub records_dropped: Vec<DroppedRecord>,
    /// Shares the outage guard held at their last good owners (the command fills it in).
    pub held: Vec<plan::guard::Held>,
    /// The published state this run wrote (none with `--dry-run`).
    pub published: Option<String>,
    /// Root filesystems shifted (`--shift-rootfs`), as `idfed shift` reports them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shifted: Vec<crate::shift::Report>,
    /// CTs switched and not shifted yet (`--shift-rootfs`): a later run shifts them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shift_later: Vec<ShiftLater>,
    pub errors: Vec<String>,
}

/// Ids of a CT's map, by kind (JSON: `{"ct": 101, "uids": [range], "gids": [range]}`).
#[derive(Debug, Serialize)]
pub(crate) struct CtIds {
    pub ct: u32,
    pub uids: IdSet,
    pub gids: IdSet,
}

impl Applied {
    /// Records that CT `c`'s new map was written (or, in a dry run, would be): it switches at its
    /// next start, with what the map exposes and leaves unmapped.
    fn switched(&mut self, c: &CtPlan) {
        self.restart_required.push(c.ct);
        for (list, uids, gids) in [
            (&mut self.exposed, &c.exposed_uids, &c.exposed_gids),
            (&mut self.unmapped, &c.unmapped_uids, &c.unmapped_gids),
        ] {
            if !uids.is_empty() || !gids.is_empty() {
                list.push(CtIds {
                    ct: c.ct,
                    uids: IdSet::clone(uids),
                    gids: IdSet::clone(gids),
                });
            }
        }
    }
}

/// A CT whose new map some nodes do not cover yet.
#[derive(Debug, Serialize)]
pub(crate) struct Waiting {
    pub ct: u32,
    pub nodes: Vec<String>,
}

/// A managed record removed, and why.
#[derive(Debug, Serialize)]
pub(crate) struct DroppedRecord {
    pub ct: u32,
    pub reason: DropReason,
}

/// Why a managed record was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DropReason {
    /// The CT's map no longer holds what it lists.
    Stale,
    /// The CT exists on no node.
    Orphaned,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Stale => "its map no longer holds what it lists",
            DropReason::Orphaned => "the CT exists on no node",
        })
    }
}

/// A CT left as it is, and why.
#[derive(Debug, Serialize)]
pub(crate) struct Skipped {
    pub ct: u32,
    pub reason: SkipReason,
}

/// What the engine has to say while it works (the command prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Something done that the administrator should know: a temporary of a killed run removed.
    Note(String),
    /// Something not done, or done against the safe default.
    Warning(String),
}

/// Why a step of `apply` failed. The per-CT errors do not name the CT: the engine says which CT
/// once, before the error (`CT 102: config lock ... is held`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// A step, and why it failed.
    #[error("{what}")]
    Step {
        what: &'static str,
        #[source]
        source: Box<ApplyError>,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    ShadowLock(#[from] shadow_lock::ShadowLockError),
    #[error(transparent)]
    PveReadOnly(#[from] pve_writable::PveReadOnly),
    #[error("vanished while planning")]
    Vanished(u32),
    #[error("`{path}` line {line}: {message}")]
    Unparsable {
        path: String,
        line: usize,
        message: String,
    },
    #[error("locked (`lock: {lock}`) while planning: retried on the next run")]
    Locked { vmid: u32, lock: String },
    #[error("`{path}` changed while planning: run `idfed apply` again")]
    Changed { vmid: u32, path: String },
}

impl ApplyError {
    fn step(what: &'static str) -> impl FnOnce(ApplyError) -> ApplyError {
        move |e| ApplyError::Step {
            what,
            source: Box::new(e),
        }
    }
}

/// `error: cause: cause`, as one line.
struct Chain<'a>(&'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// What the engine works on: the cluster as loaded, where, and how.
struct Run<'a> {
    root: &'a Root,
    input: Input<'a>,
    cluster: &'a ClusterState,
    opts: Opts,
    backups: Backups,
}

/// Carries out `first`, the plan of `input` with this node's coverage as its files were read: the
/// subid lines first, then the CTs by the plan made again with the coverage that gives (this node
/// counts with what its files cover now; the others with what they published), then `--prune`,
/// the published state and, when every CT of this node was handled, the run state with the
/// shares' counts for the next run's shrink guard.
///
/// # Errors
/// Subid files or records that cannot be written, the published state. A CT that cannot be
/// handled is not an error here: it is in [`Applied::errors`], and the others are still handled.
pub(crate) fn apply(
    root: &Root,
    input: Input<'_>,
    first: &Plan,
    opts: Opts,
    say: &mut dyn FnMut(Notice),
) -> Result<Applied, ApplyError> {
    let cluster = input.cluster;
    let mut out = Applied {
        node: cluster.node.clone(),
        dry_run: opts.dry_run,
        ..Applied::default()
    };
    // This node's configs are this run's to apply: one that cannot be read fails the run (its map
    // is left as it is, and the run is not recorded as successful).
    for e in cluster.ct_errors.iter().filter(|e| e.node == cluster.node) {
        out.errors.push(format!(
            "{}: {} (`idfed check` says more)",
            e.who(),
            e.unreadable()
        ));
    }
    let run = Run {
        root,
        input,
        cluster,
        opts,
        backups: Backups::new(root),
    };
    // A failure midway still shows what the run did before it: the report, then the failures.
    if let Err(e) = run.carry_out(first, &mut out, say) {
        out.errors.push(Chain(&e).to_string());
    }
    // The shares resolved without a marked shrink (or with one accepted) are the new baseline,
    // cluster-wide: whatever this node's CTs did, the resolution was good.
    if !opts.dry_run {
        store::baseline::update(root, &cluster.pve_root, input.baseline)?;
    }
    Ok(out)
}

impl Run<'_> {
    /// Everything but the run state: the probe of `/etc/pve`, the stale temporaries, the subid
    /// lines, the CTs, `--prune`, the published state.
    fn carry_out(
        &self,
        first: &Plan,
        out: &mut Applied,
        say: &mut dyn FnMut(Notice),
    ) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        if !self.opts.dry_run {
            // Before anything is written anywhere: pmxcfs without quorum refuses every write there.
            let pve_root = &cluster.pve_root;
            let dirs = [
                self.root.join(lxc_dir(pve_root, &cluster.node)),
                store::managed::dir(self.root, pve_root),
                store::nodes::dir(self.root, pve_root),
            ];
            pve_writable::probe(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
            self.remove_stale_temporaries(say)?;
        }
        self.drop_untrusted_records(out)?;
        let mut subids = self.add_subids(first, out, say)?;
        let local = subids.coverage(cluster);
        let plan = plan::plan_cluster(
            cluster,
            self.input.params,
            self.input.shares,
            local,
            plan::Choices {
                adopt: self.opts.adopt,
                release: self.input.release,
            },
        );
        for c in plan.containers.iter().filter(|c| c.node == cluster.node) {
            if let Some(reason) = &c.skipped {
                out.skipped.push(Skipped {
                    ct: c.ct,
                    reason: reason.clone(),
                });
                continue;
            }
            if let Rollout::Waiting { nodes } = &c.rollout {
                let entry = Waiting {
                    ct: c.ct,
                    nodes: nodes.to_vec(),
                };
                if !self.opts.force {
                    out.waiting.push(entry);
                    continue;
                }
                say(Notice::Warning(format!(
                    "--force: CT {} gets a map that {} do(es) not cover: it cannot start there (after \
                 a migration or an HA failover) until `idfed apply` runs there",
                    c.ct,
                    nodes.join(", ")
                )));
                out.forced.push(entry);
            }
            if self.opts.dry_run {
                if c.changed {
                    out.switched(c);
                }
                continue;
            }
            if let Err(e) = self.apply_ct(c, out) {
                out.errors.push(format!("CT {}: {}", c.ct, Chain(&e)));
            }
        }
        if self.opts.shift_rootfs && !self.opts.dry_run {
            self.shift_rootfs(out)?;
        }
        if self.opts.prune {
            self.prune(&plan, &mut subids, out, say)?;
        }
        if !self.opts.dry_run {
            let coverage = subids.coverage(cluster);
            let state = Published::now(
                &cluster.node,
                &cluster.subid_owner,
                self.input.config_sha256,
                &coverage.uids,
                &coverage.gids,
            );
            let path = store::nodes::save(self.root, &cluster.pve_root, &state)
                .map_err(ApplyError::from)
                .map_err(ApplyError::step(
                    "cannot publish this node's subid coverage",
                ))?;
            out.published = Some(path.display().to_string());
        }
        Ok(())
    }
}

impl Run<'_> {
    /// Removes the records `cluster` does not trust: a stale one by the node that holds its CT
    /// (the only writer of that record), an orphaned one by any node, once no node's directory
    /// has the CT's config (checked again here, just before). A CT of this node gets its new
    /// record when its map is written.
    fn drop_untrusted_records(&self, out: &mut Applied) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        let pve_root = &cluster.pve_root;
        for w in &cluster.record_warnings {
            let vmid = w.vmid();
            let reason = match w {
                RecordWarning::Stale { node, .. } if *node == cluster.node => DropReason::Stale,
                RecordWarning::Stale { .. } => continue,
                RecordWarning::Orphaned { .. } => {
                    let conf = format!("{vmid}.conf");
                    let exists = cluster
                        .nodes
                        .iter()
                        .any(|n| self.root.join(lxc_dir(pve_root, n)).join(&conf).exists());
                    if exists {
                        continue;
                    }
                    DropReason::Orphaned
                }
            };
            if !self.opts.dry_run {
                store::managed::remove(self.root, pve_root, vmid).map_err(ApplyError::from)?;
            }
            out.records_dropped.push(DroppedRecord { ct: vmid, reason });
        }
        Ok(())
    }

    /// Removes what an earlier run killed midway left in the directories apply writes to (its
    /// own temporaries only), and says so.
    fn remove_stale_temporaries(&self, say: &mut dyn FnMut(Notice)) -> Result<(), ApplyError> {
        let pve_root = &self.cluster.pve_root;
        let dirs = [
            self.root.join("/etc"),
            self.root.join(lxc_dir(pve_root, &self.cluster.node)),
            store::managed::dir(self.root, pve_root),
            store::nodes::dir(self.root, pve_root),
            store::dir(self.root),
        ];
        for dir in dirs {
            for path in fs::remove_stale_temporaries(&dir)? {
                say(Notice::Note(format!(
                    "removed `{}`, left by an idfed run that did not finish",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
