//! The cluster as it is (DESIGN §3's "cluster" stage): its nodes, every CT with its current map and
//! the shares it uses, the CT configs that cannot be read, this node's subid files and every
//! node's subid coverage, and idfed's records read in from `store`. Built once by [`load`]; `plan`,
//! `report`, `check` and `apply` read it. Nothing here writes.

mod coverage;
mod ct;
mod load;
mod records;
mod warning;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::pve::{CtError, Discovery};
use crate::store::{Managed, Published};
use crate::subid::SubidFile;

pub(crate) use coverage::{NodeCoverage, StaleNode};
pub(crate) use ct::{CtState, ShareUse, current_map, default_map};
pub(crate) use load::{discover, load, node_name, share_path};
pub(crate) use records::RecordWarning;
pub(crate) use warning::LoadWarning;

/// One of this node's subid files.
#[derive(Clone, Debug)]
pub(crate) struct LocalSubid {
    /// The path on disk (under `--root`).
    pub path: PathBuf,
    pub file: SubidFile,
}

/// The as-is model of the cluster, seen from this node.
#[derive(Debug)]
pub(crate) struct ClusterState {
    /// This node's name.
    pub node: String,
    /// Every node of the cluster, sorted.
    pub nodes: Vec<String>,
    /// `pve_root` as configured (the host path of `/etc/pve`).
    pub pve_root: PathBuf,
    /// What discovery found: the CT configs as parsed, with their paths, and `storage.cfg`.
    pub pve: Discovery,
    /// Every readable CT, sorted by vmid.
    pub cts: Vec<CtState>,
    /// The CT configs that cannot be read.
    pub ct_errors: Vec<CtError>,
    /// idfed's managed record of each CT that has a trusted one (see `records`).
    pub managed: BTreeMap<u32, Managed>,
    /// The records not trusted: stale (the CT's map does not hold them) or orphaned (no such
    /// CT). `apply` drops them.
    pub record_warnings: Vec<RecordWarning>,
    pub subuid: LocalSubid,
    pub subgid: LocalSubid,
    /// Every node's published state (this node's own too; its files are what counts for it).
    pub published: BTreeMap<String, Published>,
    /// The owner of the subid lines (`cluster.subid_owner`).
    pub subid_owner: String,
    /// `cluster.publish_max_age_secs`: an older published state does not count.
    pub publish_max_age_secs: u64,
    /// When the model was loaded, in seconds since the epoch (the ages of published states).
    pub now: u64,
    /// The subid owner's uid on this node (`/etc/passwd` under `--root`), when it has one.
    pub owner_uid: Option<u32>,
}
