//! A saved plan (`plan --out FILE`, `apply --plan FILE`): the plan a reviewer approved, with a
//! fingerprint of each input it was made from, so that `apply` can refuse it once any of them
//! changed and otherwise apply exactly it. Pure: the fingerprints are computed from what the
//! command loaded; reading and writing the file is the command's.
//!
//! The inputs: the configuration file, every CT config of the cluster (and each one that cannot
//! be read), the node list, this node's `/etc/subuid` and `/etc/subgid`, every node's published
//! coverage (and whether it still counts), idfed's records (managed passthroughs, the subid lines
//! it added, the outage guard's baseline of each share) and each share's resolution (its owners and ids, from its
//! source). A published state's time is not an input: each node publishes every run, and only a
//! state that turns stale changes what is planned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::ClusterState;
use crate::config::Config;
use crate::digest::sha256_hex;
use crate::resolve::ResolvedShare;
use crate::store::{AddedLines, Baseline, Managed};

use super::Plan;

/// What the file says it is: a file of another kind, or of a later layout, is refused.
pub(crate) const KIND: &str = "idfed-saved-plan";
/// The layout of the file.
pub(crate) const LAYOUT: u32 = 1;

/// The saved plan, as written to the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedPlan {
    pub kind: String,
    pub layout: u32,
    /// The idfed version that made it: another version may plan differently.
    pub idfed_version: String,
    /// The node it was made on: the plan counts with that node's subid files.
    pub node: String,
    /// How it was made: applying it makes it the same way.
    #[serde(flatten)]
    pub options: Options,
    /// A fingerprint (SHA-256) of each input, by what the input is.
    pub inputs: BTreeMap<String, String>,
    /// The plan, as `plan --format json` writes it.
    pub plan: serde_json::Value,
}

/// The options a plan was made with (`plan --adopt --release ... --allow-shrink`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    pub adopt: bool,
    /// Each `--release` as written (`201:u:33`).
    pub release: Vec<String>,
    /// `--allow-shrink [SHARE]`: absent, none; empty, every share; else those shares. Applying
    /// it lets the same shrinks through.
    pub allow_shrink: Option<Vec<String>>,
}

/// What a plan is made from, as loaded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inputs<'a> {
    pub config: &'a Config,
    pub cluster: &'a ClusterState,
    /// The shares as resolved (before the outage guard holds any).
    pub shares: &'a [ResolvedShare],
    /// Every managed record as stored (trusted or not).
    pub managed: &'a BTreeMap<u32, Managed>,
    pub added: &'a AddedLines,
    /// The outage guard's baseline of each share.
    pub baseline: &'a Baseline,
}

fn json_digest<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing these plain records cannot fail; an empty digest would only mismatch.
    sha256_hex(&serde_json::to_vec(value).unwrap_or_default())
}

/// The fingerprint of each input, by a name that says what it is (in messages).
pub(crate) fn fingerprints(i: &Inputs<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let cluster = i.cluster;
    out.insert(
        format!("the configuration `{}`", i.config.path.display()),
        i.config.sha256.clone(),
    );
    out.insert(
        "the cluster's nodes".to_string(),
        sha256_hex(cluster.nodes.join("\n").as_bytes()),
    );
    for ct in &cluster.pve.cts {
        out.insert(
            format!("CT {}'s config `{}`", ct.vmid, ct.host_path.display()),
            sha256_hex(ct.config.render().as_bytes()),
        );
    }
    for e in &cluster.ct_errors {
        out.insert(
            format!("the CT config `{}`", e.path.display()),
            sha256_hex(format!("unreadable: {}", e.message).as_bytes()),
        );
    }
    for (file, sub) in [
        ("/etc/subuid", &cluster.subuid),
        ("/etc/subgid", &cluster.subgid),
    ] {
        out.insert(
            format!("`{file}` of node {}", cluster.node),
            sha256_hex(sub.file.render().as_bytes()),
        );
    }
    for (node, p) in &cluster.published {
        let fresh = !p.is_stale(cluster.now, cluster.publish_max_age_secs);
        out.insert(
            format!("node {node}'s published subid coverage"),
            json_digest(&(&p.subid_owner, &p.uids, &p.gids, &p.version, fresh)),
        );
    }
    for (vmid, record) in i.managed {
        out.insert(format!("idfed's record of CT {vmid}"), json_digest(record));
    }
    out.insert(
        "idfed's record of the subid lines it added".to_string(),
        json_digest(i.added),
    );
    out.insert(
        "idfed's baseline of each share (the outage guard's)".to_string(),
        json_digest(i.baseline),
    );
    for share in i.shares {
        let source = i
            .config
            .shares
            .get(&share.name)
            .map_or("", |s| s.source.as_str());
        out.insert(
            format!("share `{}`'s owners from source `{source}`", share.name),
            json_digest(share),
        );
    }
    out
}

impl SavedPlan {
    /// The saved form of `plan`, made on `node` from `inputs`.
    ///
    /// # Errors
    /// The plan cannot be serialized.
    pub(crate) fn new(
        plan: &Plan,
        node: &str,
        options: Options,
        inputs: &Inputs<'_>,
    ) -> serde_json::Result<SavedPlan> {
        Ok(SavedPlan {
            kind: KIND.to_string(),
            layout: LAYOUT,
            idfed_version: crate::store::nodes::VERSION.to_string(),
            node: node.to_string(),
            options,
            inputs: fingerprints(inputs),
            plan: serde_json::to_value(plan)?,
        })
    }

    /// Why the saved plan cannot be applied as it is on `node` with `inputs` now: each input that
    /// changed, appeared or went since, or another node or idfed version. Empty: it can.
    pub(crate) fn changes(&self, node: &str, inputs: &Inputs<'_>) -> Vec<String> {
        let mut out = Vec::new();
        if self.idfed_version != crate::store::nodes::VERSION {
            out.push(format!(
                "it was made by idfed {}, this is {}",
                self.idfed_version,
                crate::store::nodes::VERSION
            ));
        }
        if self.node != node {
            out.push(format!(
                "it was made on node {}, this is node {node} (each node applies a plan made on it)",
                self.node
            ));
        }
        out.extend(changed(&self.inputs, &fingerprints(inputs)));
        out
    }

    /// Where `plan` (made again from the same inputs) differs from the saved one: the CTs, and
    /// the other parts by name. Empty: it is exactly the saved plan.
    ///
    /// # Errors
    /// The plan cannot be serialized.
    pub(crate) fn differences(&self, plan: &Plan) -> serde_json::Result<Vec<String>> {
        let now = serde_json::to_value(plan)?;
        if now == self.plan {
            return Ok(Vec::new());
        }
        let cts = |v: &serde_json::Value| -> BTreeMap<u64, serde_json::Value> {
            v["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["ct"].as_u64()?, c.clone())))
                .collect()
        };
        let (was, is) = (cts(&self.plan), cts(&now));
        let mut out: Vec<String> = was
            .keys()
            .chain(is.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|ct| was.get(ct) != is.get(ct))
            .map(|ct| format!("CT {ct}"))
            .collect();
        if let (Some(a), Some(b)) = (self.plan.as_object(), now.as_object()) {
            for key in a
                .keys()
                .chain(b.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                if key != "containers" && a.get(key) != b.get(key) {
                    out.push(format!("`{key}`"));
                }
            }
        }
        if out.is_empty() {
            out.push("the plan".to_string());
        }
        Ok(out)
    }
}

/// The inputs whose fingerprints differ between `was` and `is`, by name.
fn changed(was: &BTreeMap<String, String>, is: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, digest) in was {
        match is.get(name) {
            None => out.push(format!("{name} is gone")),
            Some(now) if now != digest => out.push(format!("{name} changed")),
            Some(_) => {}
        }
    }
    for name in is.keys().filter(|n| !was.contains_key(*n)) {
        out.push(format!("{name} is new"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::changed;
    use std::collections::BTreeMap;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changed_names_each_input_that_changed_went_or_came() {
        let was = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(changed(&was, &was).is_empty());
        let is = map(&[("a", "1"), ("b", "9"), ("d", "4")]);
        assert_eq!(changed(&was, &is), ["b changed", "c is gone", "d is new"]);
    }
}
