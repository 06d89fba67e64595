//! What loading the cluster has to say: what it ignored, and why.

use std::fmt;
use std::path::PathBuf;

use crate::pve::{CtConfigWarning, StorageWarning};
use crate::store::nodes::NodeStateWarning;

use super::RecordWarning;

/// A warning of [`super::discover`] or [`super::load`]: the command prints it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LoadWarning {
    /// `--node` (or the hostname) is not a node of the cluster (for a command that only reads).
    NotANode {
        node: String,
        pve_dir: PathBuf,
        nodes: Vec<String>,
    },
    /// A line of `storage.cfg` PVE ignores.
    Storage {
        path: PathBuf,
        warning: StorageWarning,
    },
    /// A line of a CT config PVE ignores.
    CtConfig {
        path: PathBuf,
        warning: CtConfigWarning,
    },
    /// A managed record that is no longer trusted.
    Record(RecordWarning),
    /// A published node state that is ignored.
    NodeState(NodeStateWarning),
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadWarning::NotANode {
                node,
                pve_dir,
                nodes,
            } => write!(
                f,
                "this node `{node}` is not a node of the cluster under `{}` (nodes: {}); use --node",
                pve_dir.display(),
                nodes.join(", ")
            ),
            LoadWarning::Storage { path, warning } => write!(f, "{}: {warning}", path.display()),
            LoadWarning::CtConfig { path, warning } => write!(f, "{}: {warning}", path.display()),
            LoadWarning::Record(w) => w.fmt(f),
            LoadWarning::NodeState(w) => w.fmt(f),
        }
    }
}
