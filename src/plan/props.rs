//! Property tests of the planner: for random shares, current maps and managed records, every
//! desired map is valid, keeps what it must, and planning again from the result changes nothing.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::testutil::{self, set};
use super::*;
use crate::cluster::ShareUse;
use crate::idmap::validate;

fn share(uids: &[u32], gids: &[u32]) -> ResolvedShare {
    testutil::share("s", uids, gids)
}

fn ct(idmap: Vec<Extent>) -> CtState {
    CtState {
        vmid: 101,
        node: "pve1".into(),
        unprivileged: true,
        lock: None,
        idmap,
        uses: vec![ShareUse {
            share: "s".into(),
            key: Some("mp0".into()),
            read_only: false,
            shared: true,
        }],
        other_maps: Vec::new(),
    }
}

fn run(share: &ResolvedShare, ct: &CtState, managed: &BTreeMap<u32, Managed>) -> Plan {
    let nodes = ["pve1".to_string()];
    let mut coverage = BTreeMap::new();
    coverage.insert("pve1".to_string(), NodeCoverage::default());
    plan(&PlanInput {
        params: MapParams::default(),
        subid_owner: "root".into(),
        shares: std::slice::from_ref(share),
        cts: std::slice::from_ref(ct),
        managed,
        coverage: &coverage,
        nodes: &nodes,
        stale: &[],
        adopt: false,
        release: &[],
        threads: 1,
    })
}

/// Ids from a few clusters: low ids, ids near the base range's ends, ids above it.
fn ids() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(
        prop_oneof![
            1000u32..1100,
            99_990u32..100_010,
            165_530u32..165_540,
            200_000u32..200_050
        ],
        0..12,
    )
}

proptest! {
    #[test]
    fn plans_are_valid_keep_what_they_must_and_converge(
        wanted_u in ids(), wanted_g in ids(), foreign_u in ids(), owned_u in ids(),
    ) {
        let params = MapParams::default();
        // The current map: built from foreign and previously owned passthroughs.
        let before_u = set(&foreign_u).union(&set(&owned_u));
        let current_u = match crate::idmap::build(IdKind::Uid, &before_u, &IdSet::new(), &params) {
            Ok(m) => m.extents,
            Err(_) => return Ok(()), // e.g. the base id itself: not a map anyone could have
        };
        let mut idmap = current_u;
        idmap.push(Extent::new(IdKind::Gid, 0, 100_000, 65_536));
        let mut managed = BTreeMap::new();
        managed.insert(101, Managed { uids: set(&owned_u).difference(&set(&foreign_u)), gids: IdSet::new(), ..Managed::default() });
        let share = share(&wanted_u, &wanted_g);
        let p = run(&share, &ct(idmap), &managed);
        let c = p.container(101).unwrap();
        if c.skipped.is_some() {
            // Only policy refusals skip a CT here (an id the builder refuses): no lock, and every
            // current map is one idfed could have built.
            prop_assert!(!c.planned, "{:?}", c.skipped);
            prop_assert!(
                c.skipped.as_ref().is_some_and(SkipReason::is_build_failure),
                "{:?}",
                c.skipped
            );
            return Ok(());
        }
        for (kind, map, wanted) in [(IdKind::Uid, &c.uid_map, &share.uids), (IdKind::Gid, &c.gid_map, &share.gids)] {
            prop_assert!(validate(kind, map, params.max_extents).is_empty(), "{map:?}");
            prop_assert!(passthroughs(map).is_superset(wanted));
        }
        // Foreign passthroughs are kept and never claimed.
        prop_assert!(passthroughs(&c.uid_map).is_superset(&c.foreign_uids));
        prop_assert!(c.managed_after().uids.intersection(&c.foreign_uids).is_empty());
        prop_assert!(p.needed_uids.is_superset(&outside_ranges(&c.uid_map)));
        // Planning again from the result (map written, record saved) changes nothing.
        let mut next_map = c.uid_map.to_vec();
        next_map.extend(c.gid_map.iter().copied());
        let mut next_managed = BTreeMap::new();
        next_managed.insert(101, c.managed_after());
        let again = run(&share, &ct(next_map), &next_managed);
        let c2 = again.container(101).unwrap();
        prop_assert!(!c2.changed, "not idempotent: {:?} -> {:?}", c.uid_map, c2.uid_map);
        prop_assert_eq!(&c2.managed_after(), &c.managed_after());
    }
}
