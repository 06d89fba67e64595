//! Unit tests of the rollout states (applied, ready, waiting, blocked).

use super::testutil;
use super::*;
use crate::cluster::ShareUse;
use crate::idmap;

fn params() -> MapParams {
    MapParams {
        base: 100_000,
        size: 65_536,
        min_id: 1000,
        max_extents: 340,
        ..MapParams::default()
    }
}

fn share(uids: &[u32]) -> ResolvedShare {
    testutil::share("projects", uids, uids)
}

fn ct(idmap: Vec<Extent>, lock: Option<&str>) -> CtState {
    CtState {
        vmid: 101,
        node: "pve1".into(),
        unprivileged: true,
        lock: lock.map(str::to_string),
        idmap,
        uses: vec![ShareUse {
            share: "projects".into(),
            key: Some("mp0".into()),
            read_only: false,
            shared: true,
        }],
        other_maps: Vec::new(),
    }
}

fn covering(ids: &[(u32, u32)]) -> NodeCoverage {
    let set = IdSet::of_counts(ids);
    NodeCoverage {
        uids: set.clone(),
        gids: set,
    }
}

/// The map passing `ids` through, both kinds.
fn map_of(ids: &[u32]) -> Vec<Extent> {
    let mut set = IdSet::new();
    for &u in ids {
        set.insert_id(u);
    }
    IdKind::ALL
        .into_iter()
        .flat_map(|k| {
            idmap::build(k, &set, &IdSet::new(), &params())
                .unwrap()
                .extents
        })
        .collect()
}

fn rollout_of(
    owners: &[u32],
    current: Vec<Extent>,
    lock: Option<&str>,
    managed: &[u32],
    coverage: &[(&str, NodeCoverage)],
) -> (Rollout, Vec<String>) {
    let shares = [share(owners)];
    let cts = [ct(current, lock)];
    let mut rec = Managed::default();
    for &m in managed {
        rec.uids.insert_id(m);
        rec.gids.insert_id(m);
    }
    let managed = BTreeMap::from([(101, rec)]);
    let coverage: BTreeMap<String, NodeCoverage> = coverage
        .iter()
        .map(|(n, c)| ((*n).to_string(), c.clone()))
        .collect();
    let nodes: Vec<String> = ["pve1", "pve2", "pve3"].map(String::from).to_vec();
    let plan = plan(&PlanInput {
        params: params(),
        subid_owner: "root".into(),
        shares: &shares,
        cts: &cts,
        managed: &managed,
        coverage: &coverage,
        nodes: &nodes,
        stale: &[],
        adopt: false,
        release: &[],
        threads: 1,
    });
    (plan.containers[0].rollout.clone(), plan.unpublished)
}

#[test]
fn rollout_states() {
    let base = (100_000, 65_536);
    let full = covering(&[base, (1005, 2)]);
    let lacks_1006 = covering(&[base, (1005, 1)]);
    let waiting = |nodes: &[&str]| Rollout::Waiting {
        nodes: nodes.iter().map(|n| (*n).to_string()).collect(),
    };
    for (what, owners, current, lock, managed, coverage, want) in [
        (
            "every node covers the new map",
            &[1005, 1006][..],
            vec![],
            None,
            &[][..],
            vec![
                ("pve1", full.clone()),
                ("pve2", full.clone()),
                ("pve3", full.clone()),
            ],
            Rollout::Ready,
        ),
        (
            "a node lacks one id by one, another never published",
            &[1005, 1006],
            vec![],
            None,
            &[],
            vec![("pve1", full.clone()), ("pve2", lacks_1006.clone())],
            waiting(&["pve2", "pve3"]),
        ),
        (
            "a node lacking the base range cannot start the new map either",
            &[1005],
            vec![],
            None,
            &[],
            vec![
                ("pve1", full.clone()),
                ("pve2", full.clone()),
                ("pve3", covering(&[(1005, 1)])),
            ],
            waiting(&["pve3"]),
        ),
        (
            "the current map is the desired one",
            &[1005],
            map_of(&[1005]),
            None,
            &[1005],
            vec![],
            Rollout::Applied,
        ),
        (
            "removing a passthrough waits for nobody",
            &[1005],
            map_of(&[1005, 1006]),
            None,
            &[1005, 1006],
            vec![],
            Rollout::Ready,
        ),
        (
            "removing one and adding another waits for the added one only",
            &[1006],
            map_of(&[1005]),
            None,
            &[1005],
            vec![
                ("pve1", full.clone()),
                ("pve2", lacks_1006.clone()),
                ("pve3", covering(&[base, (1006, 1)])),
            ],
            waiting(&["pve2"]),
        ),
        (
            "a locked CT is blocked",
            &[1005],
            vec![],
            Some("backup"),
            &[],
            vec![
                ("pve1", full.clone()),
                ("pve2", full.clone()),
                ("pve3", full.clone()),
            ],
            Rollout::Blocked,
        ),
        (
            "a map idfed cannot take over is blocked",
            &[1005],
            vec![Extent::new(IdKind::Uid, 0, 200_000, 65_536)],
            None,
            &[],
            vec![],
            Rollout::Blocked,
        ),
    ] {
        let (got, _) = rollout_of(owners, current, lock, managed, &coverage);
        assert_eq!(got, want, "{what}");
    }
    let (_, unpublished) = rollout_of(&[1005], vec![], None, &[], &[("pve2", full)]);
    assert_eq!(unpublished, ["pve1", "pve3"]);
}

#[test]
fn rollout_json_shape() {
    let w = Rollout::Waiting {
        nodes: vec!["pve2".to_string()].into(),
    };
    assert_eq!(
        serde_json::to_value(&w).unwrap(),
        serde_json::json!({"state": "waiting", "nodes": ["pve2"]})
    );
    assert_eq!(
        serde_json::to_value(Rollout::Applied).unwrap(),
        serde_json::json!({"state": "applied"})
    );
}
