//! Unit tests of the planner: desired maps, foreign and removed ids, skips, groups.

use super::testutil::{set, share};
use super::*;
use crate::cluster::ShareUse;

fn ct(vmid: u32, idmap: &[&str], shares: &[&str]) -> CtState {
    CtState {
        vmid,
        node: "pve1".into(),
        unprivileged: true,
        lock: None,
        idmap: if idmap.is_empty() {
            vec![
                Extent::new(IdKind::Uid, 0, 100_000, 65_536),
                Extent::new(IdKind::Gid, 0, 100_000, 65_536),
            ]
        } else {
            idmap.iter().map(|l| l.parse().unwrap()).collect()
        },
        uses: shares
            .iter()
            .map(|s| ShareUse {
                share: s.to_string(),
                key: Some("mp0".into()),
                read_only: false,
                shared: true,
            })
            .collect(),
        other_maps: Vec::new(),
    }
}

fn run(shares: &[ResolvedShare], cts: &[CtState], managed: &BTreeMap<u32, Managed>) -> Plan {
    run_with(shares, cts, managed, false, &[])
}

fn run_with(
    shares: &[ResolvedShare],
    cts: &[CtState],
    managed: &BTreeMap<u32, Managed>,
    adopt: bool,
    release: &[Release],
) -> Plan {
    run_params(
        shares,
        cts,
        managed,
        adopt,
        release,
        MapParams::default(),
        1,
    )
}

/// A plan on `threads` threads.
fn run_params(
    shares: &[ResolvedShare],
    cts: &[CtState],
    managed: &BTreeMap<u32, Managed>,
    adopt: bool,
    release: &[Release],
    params: MapParams,
    threads: usize,
) -> Plan {
    let mut coverage = BTreeMap::new();
    coverage.insert(
        "pve1".to_string(),
        NodeCoverage {
            uids: IdRange::new(100_000, 165_536).unwrap().into(),
            gids: IdRange::new(100_000, 165_536).unwrap().into(),
        },
    );
    plan(&PlanInput {
        params,
        subid_owner: "root".into(),
        shares,
        cts,
        managed,
        coverage: &coverage,
        nodes: &[],
        stale: &[],
        adopt,
        release,
        threads,
    })
}

#[test]
fn seed_example_from_the_default_map() {
    let p = run(
        &[share("s", &[1005], &[1005])],
        &[ct(101, &[], &["s"])],
        &BTreeMap::new(),
    );
    let c = p.container(101).unwrap();
    let lines: Vec<String> = c.uid_map.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["u 0 100000 1005", "u 1005 1005 1", "u 1006 101006 64530"]
    );
    assert!(c.changed && c.restart_required && c.skipped.is_none());
    assert_eq!(c.managed_after().uids, set(&[1005]));
    assert_eq!(
        p.nodes["pve1"].subuid_add,
        vec![Subid::new("root", IdRange::single(1005).unwrap())]
    );
}

#[test]
fn shareless_cts_are_not_listed_and_shares_union() {
    let shares = [share("a", &[1005], &[]), share("b", &[1006], &[])];
    let p = run(
        &shares,
        &[
            ct(101, &[], &["a", "b"]),
            ct(102, &[], &[]),
            ct(103, &[], &["nope"]),
        ],
        &BTreeMap::new(),
    );
    assert_eq!(p.containers.len(), 1);
    assert_eq!(passthroughs(&p.containers[0].uid_map), set(&[1005, 1006]));
}

#[test]
fn foreign_passthroughs_are_kept_managed_ones_removed() {
    // 33 was hand-written; 1007 was idfed's and no share wants it any more.
    let current = [
        "u 0 100000 33",
        "u 33 33 1",
        "u 34 100034 973",
        "u 1007 1007 1",
        "u 1008 101008 64528",
        "g 0 100000 65536",
    ];
    let mut managed = BTreeMap::new();
    managed.insert(
        101,
        Managed {
            uids: set(&[1007]),
            gids: IdSet::new(),
            ..Managed::default()
        },
    );
    let p = run(
        &[share("s", &[1005], &[])],
        &[ct(101, &current, &["s"])],
        &managed,
    );
    let c = p.container(101).unwrap();
    assert_eq!(passthroughs(&c.uid_map), set(&[33, 1005]));
    assert_eq!(c.foreign_uids, set(&[33]));
    assert_eq!(c.removed_uids, set(&[1007]));
    assert_eq!(
        c.managed_after().uids,
        set(&[1005]),
        "foreign ids are not claimed"
    );
}

#[test]
fn adopted_ids_are_kept_until_released_and_a_claim_is_owned_where_held() {
    // 33 and 1007 hand-written (33 below min_id); the share wants 1005.
    let current = [
        "u 0 100000 33",
        "u 33 33 1",
        "u 34 100034 973",
        "u 1007 1007 1",
        "u 1008 101008 64528",
        "g 0 100000 65536",
    ];
    let shares = [share("s", &[1005], &[])];
    let cts = [ct(101, &current, &["s"])];
    let none = BTreeMap::new();
    let adopting = run_with(&shares, &cts, &none, true, &[]);
    let c = adopting.container(101).unwrap();
    assert_eq!(c.adopting_uids, set(&[33, 1007]));
    assert_eq!(c.managed_after().adopted_uids, set(&[33, 1007]));
    assert_eq!(c.managed_after().uids, set(&[33, 1005, 1007]));
    // Applied: the map of the adopting plan, its record. A plain plan keeps both, removes none.
    let after = [ct(101, &[], &["s"])].map(|mut ct| {
        ct.idmap = c.uid_map.iter().chain(c.gid_map.iter()).copied().collect();
        ct
    });
    let records = BTreeMap::from([(101, c.managed_after())]);
    let plain = run(&shares, &after, &records);
    let p = plain.container(101).unwrap();
    assert!(!p.changed, "{p:?}");
    assert!(
        p.removed_uids.is_empty() && p.foreign_uids.is_empty(),
        "{p:?}"
    );
    assert_eq!(p.adopted_uids, set(&[33, 1007]));
    assert_eq!(p.managed_after(), c.managed_after());
    // Released: 1007 is up to the shares again (none owns it), 33 stays adopted.
    let release = ["101:u:1007".parse().unwrap()];
    let released = run_with(&shares, &after, &records, false, &release);
    let r = released.container(101).unwrap();
    assert_eq!(r.released_uids, set(&[1007]));
    assert_eq!(r.removed_uids, set(&[1007]));
    assert_eq!(passthroughs(&r.uid_map), set(&[33, 1005]));
    assert_eq!(r.managed_after().adopted_uids, set(&[33]));
    // A claim left by a crash (1007 being adopted) is idfed's while the map holds it: not
    // foreign, and still adopted (a claim keeps adoption).
    let mut crashed = Managed::default().claim(&c.managed_after());
    crashed.uids = IdSet::new();
    let p = run(&shares, &cts, &BTreeMap::from([(101, crashed)]));
    let p = p.container(101).unwrap();
    assert!(p.foreign_uids.is_empty(), "{p:?}");
    assert_eq!(passthroughs(&p.uid_map), set(&[33, 1005, 1007]));
}

#[test]
fn unchanged_map_is_not_changed() {
    let current = [
        "u 0 100000 1005",
        "u 1005 1005 1",
        "u 1006 101006 64530",
        "g 0 100000 65536",
    ];
    let p = run(
        &[share("s", &[1005], &[])],
        &[ct(101, &current, &["s"])],
        &BTreeMap::new(),
    );
    let c = p.container(101).unwrap();
    assert!(!c.changed, "{c:?}");
    // Hand-written before idfed: foreign, kept, not claimed.
    assert_eq!(c.foreign_uids, set(&[1005]));
    // The node still lacks the subid line for it: that is the only change.
    assert!(p.has_changes());
    assert_eq!(p.nodes["pve1"].subuid_add.len(), 1);
}

#[test]
fn skip_reasons() {
    let mut privileged = ct(101, &[], &["s"]);
    privileged.unprivileged = false;
    privileged.idmap.clear();
    let mut locked = ct(102, &[], &["s"]);
    locked.lock = Some("backup".into());
    let custom = ct(103, &["u 0 200000 65536", "g 0 100000 65536"], &["s"]);
    let root = ct(
        104,
        &["u 0 0 1", "u 1 100001 65535", "g 0 100000 65536"],
        &["s"],
    );
    // Regression: a base extent widened past `size` counted as base-shaped and was cut back to
    // `size`, unmapping inside ids 65536 and up. One past `size` is the boundary.
    let widened = ct(105, &["u 0 100000 200000", "g 0 100000 65536"], &["s"]);
    let one_past = ct(
        106,
        &["u 0 100000 1005", "u 1005 101005 64532", "g 0 100000 65536"],
        &["s"],
    );
    let p = run(
        &[share("s", &[1005], &[])],
        &[privileged, locked, custom, root, widened, one_past],
        &BTreeMap::new(),
    );
    let reason = |v| {
        p.container(v)
            .unwrap()
            .skipped
            .as_ref()
            .unwrap()
            .to_string()
    };
    assert!(reason(101).starts_with("privileged"));
    assert!(reason(102).contains("`lock: backup`"));
    assert!(
        reason(103).contains("`lxc.idmap: u 0 200000 65536`"),
        "{}",
        reason(103)
    );
    assert!(reason(104).contains("host id 0"), "{}", reason(104));
    for (vmid, extent) in [(105, "u 0 100000 200000"), (106, "u 1005 101005 64532")] {
        let r = reason(vmid);
        assert!(
            r.contains(&format!("custom extent `lxc.idmap: {extent}`")) && r.contains("by hand"),
            "{r}"
        );
        assert!(!p.container(vmid).unwrap().planned);
    }
    // The locked CT still has a desired map: it is pending, and its needs are counted.
    let locked = p.container(102).unwrap();
    assert!(locked.planned && locked.changed);
    assert!(p.needed_uids.contains(1005));
    assert!(!p.container(103).unwrap().planned);
    assert_eq!(p.groups.len(), 1);
    assert_eq!(p.groups[0].cts, vec![102]);
}

#[test]
fn identical_maps_group_together() {
    let shares = [share("a", &[1005], &[1005]), share("b", &[2000], &[])];
    let p = run(
        &shares,
        &[
            ct(101, &[], &["a"]),
            ct(102, &[], &["a"]),
            ct(103, &[], &["b"]),
        ],
        &BTreeMap::new(),
    );
    let groups: Vec<Vec<u32>> = p.groups.iter().map(|g| g.cts.clone()).collect();
    assert_eq!(groups, vec![vec![101, 102], vec![103]]);
}

#[test]
fn wanted_ids_below_min_id_are_refused_beside_foreign_ones() {
    // 33 is hand-written (foreign): it lies below min_id and is kept. That must not let a share
    // pass 500 through, which is below min_id too.
    let current = [
        "u 0 100000 33",
        "u 33 33 1",
        "u 34 100034 65502",
        "g 0 100000 65536",
    ];
    let p = run(
        &[share("s", &[500, 1005], &[])],
        &[ct(101, &current, &["s"])],
        &BTreeMap::new(),
    );
    let c = p.container(101).unwrap();
    let reason = c
        .skipped
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        !c.planned && reason.contains("uid map cannot be built") && reason.contains("`500`"),
        "{c:?}"
    );
    assert!(reason.contains("from 1000"), "{reason}");
    // A wanted id that is the foreign one itself is already passed through: it is kept.
    let p = run(
        &[share("s", &[33, 1005], &[])],
        &[ct(101, &current, &["s"])],
        &BTreeMap::new(),
    );
    let c = p.container(101).unwrap();
    assert!(c.planned && c.skipped.is_none(), "{c:?}");
    assert_eq!(passthroughs(&c.uid_map), set(&[33, 1005]));
    assert_eq!(c.foreign_uids, set(&[33]));
    assert_eq!(c.managed_after().uids, set(&[1005]));
}

/// Shares `a` and `b`; CTs 101 and 102 use `a`, 103 uses both.
fn a_and_b() -> ([ResolvedShare; 2], Vec<CtState>) {
    let shares = [
        share("a", &[1005, 1007], &[1005]),
        share("b", &[2000], &[2000]),
    ];
    let cts = vec![
        ct(101, &[], &["a"]),
        ct(102, &[], &["a"]),
        ct(103, &[], &["a", "b"]),
    ];
    (shares, cts)
}

/// Issue 13: each distinct map is built once per plan; CTs asking for it share the work.
#[test]
fn cts_with_equal_needs_share_one_build() {
    let (shares, mut cts) = a_and_b();
    cts.extend([ct(104, &[], &["b", "a"]), ct(105, &[], &["a"])]);
    super::memo::BUILDS.with(|b| b.set(0));
    let p = run(&shares, &cts, &BTreeMap::new());
    // Two distinct needs ({a}, {a, b}), two kinds: four builds for ten maps.
    assert_eq!(super::memo::BUILDS.with(|b| b.get()), 4);
    let maps = |vmid| {
        let c = p.container(vmid).unwrap();
        (c.uid_map.clone(), c.gid_map.clone())
    };
    assert_eq!(maps(101), maps(102));
    assert_eq!(maps(101), maps(105));
    assert_eq!(maps(103), maps(104));
    assert_ne!(maps(101), maps(103));
    assert!(
        p.container(103)
            .unwrap()
            .uid_map
            .iter()
            .any(|e| e.inside == 2000 && e.is_passthrough())
    );
}

#[test]
fn cts_with_the_same_map_change_share_one_rootfs_preview() {
    let (shares, cts) = a_and_b();
    let p = run(&shares, &cts, &BTreeMap::new());
    let rootfs = |vmid| p.container(vmid).unwrap().rootfs.clone();
    assert!(!rootfs(101).moves.is_empty());
    // The same change (default map to {a}): one preview, not a copy each.
    assert!(std::sync::Arc::ptr_eq(&rootfs(101), &rootfs(102)));
    // Another change: its own preview, with its own moves.
    assert!(!std::sync::Arc::ptr_eq(&rootfs(101), &rootfs(103)));
    assert_ne!(rootfs(101).moves, rootfs(103).moves);
}

#[test]
fn cts_with_the_same_map_share_its_storage() {
    let shares = [
        share("a", &[1005, 1007, 1009, 1011], &[1005, 100_005]),
        share("b", &[2000], &[2000]),
    ];
    let cts = [
        ct(101, &[], &["a"]),
        ct(102, &[], &["a"]),
        ct(103, &[], &["a", "b"]),
    ];
    // Over the budget: the uid map exposes ids and warns; gid 100005 leaves inside gid 5 unmapped.
    let params = MapParams {
        max_extents: 6,
        over_budget: crate::idmap::OverBudget::Expose,
        ..MapParams::default()
    };
    let p = run_params(&shares, &cts, &BTreeMap::new(), false, &[], params, 1);
    let (a, a2, ab) = (
        p.container(101).unwrap(),
        p.container(102).unwrap(),
        p.container(103).unwrap(),
    );
    assert!(!a.exposed_uids.is_empty() && !a.warnings.is_empty());
    assert!(!a.unmapped_gids.is_empty());
    // The same map: one copy of its extents, exposed and unmapped ids and warnings, not one per
    // CT (which was most of a 20,000-CT plan's memory).
    assert!(Arc::ptr_eq(&a.uid_map, &a2.uid_map));
    assert!(Arc::ptr_eq(&a.gid_map, &a2.gid_map));
    assert!(Arc::ptr_eq(&a.exposed_uids, &a2.exposed_uids));
    assert!(Arc::ptr_eq(&a.unmapped_gids, &a2.unmapped_gids));
    assert!(
        a.warnings
            .iter()
            .zip(&a2.warnings)
            .all(|(w, w2)| Arc::ptr_eq(w, w2))
    );
    // The group holds the CTs' maps, not copies.
    let group = p.groups.iter().find(|g| g.cts == [101, 102]).unwrap();
    assert!(Arc::ptr_eq(&group.uid_map, &a.uid_map));
    // Another map is its own.
    assert!(!Arc::ptr_eq(&a.uid_map, &ab.uid_map));
    assert_ne!(a.uid_map, ab.uid_map);
    // The record after the plan is computed from the shared passthroughs: idfed's own ids.
    assert_eq!(a.managed_after().uids, passthroughs(&a.uid_map));
    assert!(
        a.managed_after()
            .uids
            .is_superset(&set(&[1005, 1007, 1009, 1011]))
    );
}

#[test]
fn the_ids_every_node_needs_are_the_union_of_every_map_however_many() {
    // 60 maps of ~140 outside ranges each: the gathered ranges are merged into the set twice
    // on the way (past 4,096), overlapping ones (the base range, shared ids) included.
    let shares: Vec<ResolvedShare> = (0..60u32)
        .map(|s| {
            let uids: Vec<u32> = (0..70).map(|i| 2000 + i * 97 + s * 13).collect();
            share(&format!("s{s}"), &uids, &[5000 + s])
        })
        .collect();
    let names: Vec<String> = shares.iter().map(|s| s.name.clone()).collect();
    let cts: Vec<CtState> = (0..60u32)
        .map(|i| ct(100 + i, &[], &[names[i as usize].as_str()]))
        .collect();
    let p = run(&shares, &cts, &BTreeMap::new());
    assert_eq!(p.groups.len(), 60);
    let gathered: usize = p
        .groups
        .iter()
        .map(|g| outside_ranges(&g.uid_map).ranges().len())
        .sum();
    assert!(gathered > 2 * 4096, "{gathered}");
    let union = |map: fn(&CtPlan) -> &[Extent]| {
        p.containers
            .iter()
            .fold(IdSet::new(), |acc, c| acc.union(&outside_ranges(map(c))))
    };
    assert_eq!(p.needed_uids, union(|c| &c.uid_map));
    assert_eq!(p.needed_gids, union(|c| &c.gid_map));
    assert!(p.needed_uids.contains(2000) && p.needed_uids.contains(100_000));
}

#[test]
fn containers_come_in_vmid_order_whatever_the_input_order() {
    let shares = [share("a", &[1005], &[1005])];
    let vmids = |cts: &[CtState]| {
        let p = run(&shares, cts, &BTreeMap::new());
        p.containers.iter().map(|c| c.ct).collect::<Vec<_>>()
    };
    let (a, b, c) = (
        ct(101, &[], &["a"]),
        ct(102, &[], &["a"]),
        ct(103, &[], &["a"]),
    );
    assert_eq!(vmids(&[a.clone(), b.clone(), c.clone()]), [101, 102, 103]);
    assert_eq!(vmids(&[c, a, b]), [101, 102, 103]);
}

/// Over the budget several fits are often equally minimal, and which one the engine returns is up
/// to its internals: a CT already on one of them keeps it (no restart, no shift for nothing); a
/// CT on a worse fit, or on a fit of other ids, gets the built one.
#[test]
fn a_current_map_as_good_as_the_built_one_is_kept() {
    use crate::idmap::OverBudget;
    // Uids 2000, 2010, 2020 with one extent too many: close one of two gaps of 9 ids (expose, 5
    // extents), or leave one of two runs of 9 inside ids unmapped (unmap, 6 extents).
    let expose = (
        OverBudget::Expose,
        5,
        [
            &[
                "u 0 100000 2000",
                "u 2000 2000 11",
                "u 2011 102011 9",
                "u 2020 2020 1",
            ][..],
            &[
                "u 0 100000 2000",
                "u 2000 2000 1",
                "u 2001 102001 9",
                "u 2010 2010 11",
            ],
            // Both gaps closed: 18 ids exposed, twice the fewest.
            &["u 0 100000 2000", "u 2000 2000 21"],
        ],
    );
    let unmap = (
        OverBudget::Unmap,
        6,
        [
            &[
                "u 0 100000 2000",
                "u 2000 2000 1",
                "u 2010 2010 1",
                "u 2011 102011 9",
                "u 2020 2020 1",
            ][..],
            &[
                "u 0 100000 2000",
                "u 2000 2000 1",
                "u 2001 102001 9",
                "u 2010 2010 1",
                "u 2020 2020 1",
            ],
            // Both runs left out: 18 ids unmapped.
            &[
                "u 0 100000 2000",
                "u 2000 2000 1",
                "u 2010 2010 1",
                "u 2020 2020 1",
            ],
        ],
    );
    for (over_budget, max_extents, [one, other, worse]) in [expose, unmap] {
        let params = MapParams {
            max_extents,
            over_budget,
            ..MapParams::default()
        };
        let map = |uids: &[&str]| -> Vec<String> {
            let mut lines: Vec<String> = uids.iter().map(|l| l.to_string()).collect();
            lines.push("u 2021 102021 63515".into());
            lines.push("g 0 100000 65536".into());
            lines
        };
        let (one, other, worse) = (map(one), map(other), map(worse));
        fn refs(lines: &[String]) -> Vec<&str> {
            lines.iter().map(String::as_str).collect()
        }
        let mut cts = vec![
            ct(101, &refs(&one), &["s"]),
            ct(102, &refs(&other), &["s"]),
            ct(103, &refs(&worse), &["s"]),
            ct(104, &[], &["s"]),
            ct(105, &refs(&one), &["t"]),
        ];
        // More CTs on the other fit, for the threads to read back at once.
        cts.extend((106..130).map(|vmid| ct(vmid, &refs(&other), &["s"])));
        // idfed wrote each of them: every passthrough is its own.
        let managed: BTreeMap<u32, Managed> = cts
            .iter()
            .map(|c| {
                let uids = passthroughs(&current_map(&c.idmap, IdKind::Uid, &params));
                let record = Managed {
                    uids,
                    ..Managed::default()
                };
                (c.vmid, record)
            })
            .collect();
        let shares = [
            share("s", &[2000, 2010, 2020], &[]),
            share("t", &[2000, 2010, 2020, 2030], &[]),
        ];
        let p = run_params(&shares, &cts, &managed, false, &[], params.clone(), 1);
        // On several threads, the same plan, and the CTs on the other fit share one map read
        // back once (one `Arc`: the plan's previews and rollouts are computed per map).
        let on_two = run_params(&shares, &cts, &managed, false, &[], params.clone(), 2);
        assert_eq!(
            format!("{:?}", on_two.containers),
            format!("{:?}", p.containers)
        );
        for plan in [&p, &on_two] {
            let first = &plan.container(102).unwrap().uid_map;
            for vmid in 106..130 {
                let c = plan.container(vmid).unwrap();
                assert!(!c.changed && Arc::ptr_eq(&c.uid_map, first), "CT {vmid}");
            }
        }
        let lines = |vmid: u32| -> Vec<String> {
            let c = p.container(vmid).unwrap();
            let (_, new) = c.maps();
            new.iter().map(ToString::to_string).collect()
        };
        let built = lines(104);
        assert!(built == one || built == other, "{over_budget}: {built:?}");
        for (vmid, current) in [(101, &one), (102, &other)] {
            let c = p.container(vmid).unwrap();
            assert!(!c.changed, "{over_budget}: CT {vmid} switched to {built:?}");
            assert_eq!(&lines(vmid), current, "{over_budget}");
            // Its own exposed or unmapped ids, and warnings that name them.
            let uid_map = current_map(&cts[vmid as usize - 101].idmap, IdKind::Uid, &params);
            let own = match over_budget {
                OverBudget::Expose => {
                    assert!(c.unmapped_uids.is_empty());
                    c.exposed_uids.as_ref()
                }
                OverBudget::Unmap => {
                    assert!(c.exposed_uids.is_empty());
                    c.unmapped_uids.as_ref()
                }
            };
            // Passed through and not asked for, or inside the base range and not mapped.
            let exposed = passthroughs(&uid_map).difference(&set(&[2000, 2010, 2020]));
            let unmapped = IdSet::from(IdRange::new(0, 65_536).unwrap())
                .difference(&crate::idmap::inside_ranges(&uid_map));
            let expected = exposed.union(&unmapped);
            assert_eq!(own, &expected, "{over_budget}: CT {vmid}");
            assert_eq!(own.len(), 9, "{over_budget}: CT {vmid}");
            let first = own.first().unwrap().to_string();
            assert!(
                c.warnings.iter().any(|w| w.to_string().contains(&first)),
                "{over_budget}: CT {vmid}: {:?}",
                c.warnings
            );
        }
        let c = p.container(103).unwrap();
        assert!(c.changed, "{over_budget}");
        assert_eq!(lines(103), built, "{over_budget}");
        // 2030 wanted too: the current map is no fit of the ids any more.
        assert!(p.container(105).unwrap().changed, "{over_budget}");
        assert!(passthroughs(&p.container(105).unwrap().uid_map).contains(2030));
    }
}

/// Planned on several threads, a plan is the one planned on one: the same CTs in the same order
/// with the same maps, and CTs that ask for the same ids share one built map, whichever thread
/// built it.
#[test]
fn a_plan_on_several_threads_is_the_plan_on_one() {
    let mut rng = 7u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // 12 shares of 40 scattered uids each; 300 CTs using 1 to 3 of them, over a budget of 40
    // extents: every map is fitted by the engine.
    let shares: Vec<ResolvedShare> = (0..12)
        .map(|s| {
            let mut uids: Vec<u32> = (0..40).map(|_| 1000 + (next() % 60_000) as u32).collect();
            uids.sort_unstable();
            uids.dedup();
            share(&format!("s{s}"), &uids, &uids[..5])
        })
        .collect();
    let cts: Vec<CtState> = (0..300u32)
        .map(|i| {
            let names: Vec<String> = (0..1 + next() % 3)
                .map(|_| format!("s{}", next() % 12))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            ct(100 + i, &[], &names)
        })
        .collect();
    let params = MapParams {
        max_extents: 40,
        over_budget: crate::idmap::OverBudget::Expose,
        ..MapParams::default()
    };
    let none = BTreeMap::new();
    let one = run_params(&shares, &cts, &none, false, &[], params.clone(), 1);
    assert_eq!(one.containers.len(), 300);
    assert!(
        one.containers
            .iter()
            .all(|c| c.planned && !c.exposed_uids.is_empty())
    );
    for threads in [2, 4] {
        let many = run_params(&shares, &cts, &none, false, &[], params.clone(), threads);
        assert_eq!(many, one, "{threads} threads");
        let mut by_uid_map: BTreeMap<&[Extent], &Arc<[Extent]>> = BTreeMap::new();
        for c in &many.containers {
            let shared = by_uid_map.entry(&c.uid_map).or_insert(&c.uid_map);
            assert!(Arc::ptr_eq(shared, &c.uid_map), "CT {}: a copy", c.ct);
        }
        assert!(by_uid_map.len() > 50, "{} distinct maps", by_uid_map.len());
    }
}
