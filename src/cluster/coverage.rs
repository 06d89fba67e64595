//! Which host ids each node's subid files give the subid owner: this node's from its files, the
//! others' from the states they published.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ids::IdSet;
use crate::store::Published;
use crate::subid::SubidFile;

use super::ClusterState;

/// What one node's subid files give the subid owner, when known.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeCoverage {
    pub uids: IdSet,
    pub gids: IdSet,
}

impl NodeCoverage {
    /// What a node published.
    pub(crate) fn published(p: &Published) -> NodeCoverage {
        NodeCoverage {
            uids: p.uids.clone(),
            gids: p.gids.clone(),
        }
    }
}

/// A node whose published state is older than `cluster.publish_max_age_secs`: its coverage does
/// not count (its subid files may have changed since: a reinstall), so the rollout gate waits for
/// it as for a node that never published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct StaleNode {
    pub node: String,
    pub published_at_utc: String,
    pub age_secs: u64,
}

impl ClusterState {
    /// The other nodes of the cluster whose published state is too old to count.
    pub(crate) fn stale_nodes(&self) -> Vec<StaleNode> {
        self.published
            .iter()
            .filter(|(node, _)| **node != self.node && self.nodes.contains(node))
            .filter(|(_, p)| p.is_stale(self.now, self.publish_max_age_secs))
            .map(|(node, p)| StaleNode {
                node: node.clone(),
                published_at_utc: p.published_at_utc.clone(),
                age_secs: p.age_secs(self.now),
            })
            .collect()
    }

    /// This node's current coverage, from its files.
    pub(crate) fn local_coverage(&self) -> NodeCoverage {
        self.coverage_of(&self.subuid.file, &self.subgid.file)
    }

    /// What `subuid` and `subgid` give the subid owner (this node's files as read, or as
    /// `apply` leaves them).
    pub(crate) fn coverage_of(&self, subuid: &SubidFile, subgid: &SubidFile) -> NodeCoverage {
        NodeCoverage {
            uids: subuid.covered(&self.subid_owner, self.owner_uid),
            gids: subgid.covered(&self.subid_owner, self.owner_uid),
        }
    }

    /// Every node's known coverage: `local` for this node, the published states for the other
    /// nodes of the cluster that are younger than `publish_max_age_secs` (a state left behind by
    /// a node that left the cluster, or one too old to count, is ignored: see [`StaleNode`]).
    pub(crate) fn coverage(&self, local: NodeCoverage) -> BTreeMap<String, NodeCoverage> {
        let mut coverage: BTreeMap<String, NodeCoverage> = self
            .published
            .iter()
            .filter(|(node, _)| **node != self.node && self.nodes.contains(node))
            .filter(|(_, p)| !p.is_stale(self.now, self.publish_max_age_secs))
            .map(|(node, p)| (node.clone(), NodeCoverage::published(p)))
            .collect();
        coverage.insert(self.node.clone(), local);
        coverage
    }
}
