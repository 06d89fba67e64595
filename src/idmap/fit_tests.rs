//! Proof of the budget fit: what it never grants, and that it is exact (brute force over every
//! choice on small inputs; `reference_tests` compares large ones with an independent reference).

use proptest::prelude::*;

use crate::idmap::budget::{Budget, LXC_MAX_BYTES, fit, text_len};
use crate::idmap::build::{MapError, MapParams, OverBudget, build, layout};
use crate::idmap::needs::{host_id, passthroughs};
use crate::idmap::validate::validate;
use crate::ids::{IdKind, IdRange, IdSet};

fn set(ids: &[&str]) -> IdSet {
    ids.iter().map(|s| s.parse::<IdRange>().unwrap()).collect()
}

fn params(over_budget: OverBudget, max_extents: u32) -> MapParams {
    MapParams {
        max_extents,
        over_budget,
        ..MapParams::default()
    }
}

fn lines(extents: &[crate::idmap::Extent]) -> Vec<String> {
    extents.iter().map(ToString::to_string).collect()
}

#[test]
fn expose_merges_the_smallest_gap() {
    // Four passthroughs above the base range: 1 base line + 4 = 5 extents; allow 4.
    let p = set(&["200000", "200002", "200010", "200030"]);
    let none = IdSet::new();
    let m = build(IdKind::Uid, &p, &none, &params(OverBudget::Expose, 4)).unwrap();
    assert_eq!(m.exposed.to_string(), "200001");
    assert_eq!(m.extents.len(), 4);
    assert!(m.minimal_merge);
    assert!(
        m.warnings
            .iter()
            .any(|w| w.to_string().contains("uids `200001` (1 id)"))
    );
    let m = build(IdKind::Uid, &p, &none, &params(OverBudget::Expose, 3)).unwrap();
    assert_eq!(m.exposed.to_string(), "200001,200003-200009");
    // Unmap has nothing to unmap between passthroughs above the base range: it does not fit.
    let e = build(IdKind::Uid, &p, &none, &params(OverBudget::Unmap, 4)).unwrap_err();
    assert!(
        matches!(
            e,
            MapError::DoesNotFit {
                ranges: 4,
                extents: 5,
                fitting: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("about 3 such ranges would fit"),
        "{e}"
    );
}

#[test]
fn never_closes_a_gap_over_the_base_range() {
    // 99999 and 100001: the gap holds 100000, the CT's root.
    let p = set(&["99999", "100001"]);
    let none = IdSet::new();
    let err = build(IdKind::Gid, &p, &none, &params(OverBudget::Expose, 3)).unwrap_err();
    assert!(
        matches!(err, MapError::OverBudget { extents: 4, .. }),
        "{err}"
    );
    assert!(build(IdKind::Gid, &p, &none, &params(OverBudget::Expose, 4)).is_ok());
    // 100005 and 100007: holes at inside 5 and 7 (6 extents); the gap 100006 is another CT's
    // inside id 6 and the gap up to 200000 holds base-range ids: neither closes.
    let p = set(&["100005", "100007", "200000"]);
    let err = build(IdKind::Gid, &p, &none, &params(OverBudget::Expose, 5)).unwrap_err();
    assert!(
        matches!(err, MapError::OverBudget { extents: 6, .. }),
        "{err}"
    );
    assert!(build(IdKind::Gid, &p, &none, &params(OverBudget::Expose, 6)).is_ok());
}

/// Issue 13, 1: a hand-written uid 33 and a share over budget: the merge lowered its floor to 33
/// and granted 34..1004. Now 33 stays exactly `u 33 33 1` and nothing below min_id is exposed.
#[test]
fn regression_foreign_33_is_kept_exactly_and_never_widened() {
    let kept = set(&["33"]);
    // 500 owners, 7 apart, from 1005: far over 340 extents.
    let wanted: IdSet = (0..500u32)
        .map(|i| IdRange::single(1005 + 7 * i).unwrap())
        .collect();
    for policy in [OverBudget::Expose, OverBudget::Unmap] {
        let p = params(policy, 340);
        let m = match build(IdKind::Uid, &wanted, &kept, &p) {
            Ok(m) => m,
            Err(e) => {
                assert_eq!(policy, OverBudget::Unmap, "{e}");
                continue;
            }
        };
        assert!(lines(&m.extents).contains(&"u 33 33 1".to_string()));
        let through = passthroughs(&m.extents);
        let low = IdSet::from(IdRange::new(0, 1000).unwrap());
        assert_eq!(through.intersection(&low), kept, "{policy}");
        assert!(!m.exposed.overlaps(IdRange::new(0, 1000).unwrap()));
    }
    // Fewer owners: unmap fits by unmapping the 6-id runs between them, exposing nothing.
    let wanted: IdSet = (0..200u32)
        .map(|i| IdRange::single(1005 + 7 * i).unwrap())
        .collect();
    let m = build(IdKind::Uid, &wanted, &kept, &params(OverBudget::Unmap, 340)).unwrap();
    assert!(lines(&m.extents).contains(&"u 33 33 1".to_string()));
    assert!(m.exposed.is_empty());
    assert!(!m.unmapped.is_empty());
    assert!(m.unmapped.ranges().iter().all(|r| r.start() >= 1000));
    assert_eq!(passthroughs(&m.extents), wanted.union(&kept));
    assert!(Budget::default().admits(&m.extents));
}

#[test]
fn protected_ids_are_withheld_and_never_merged_across() {
    let mut p = params(OverBudget::Expose, 3);
    p.protected = set(&["64045"]);
    let none = IdSet::new();
    // 64045 asked for: withheld, said so.
    let m = build(IdKind::Uid, &set(&["64045", "200000"]), &none, &p).unwrap();
    assert_eq!(m.withheld.to_string(), "64045");
    assert!(!passthroughs(&m.extents).contains(64045));
    assert!(
        m.warnings
            .iter()
            .any(|w| w.to_string().contains("`64045` are protected"))
    );
    // Three owners: closing both gaps leaves 3 extents, one gap 5, none 7.
    let q = set(&["64040", "64050", "64060"]);
    let free = build(IdKind::Uid, &q, &none, &params(OverBudget::Expose, 4)).unwrap();
    assert_eq!(free.exposed.to_string(), "64041-64049,64051-64059");
    // With 64045 protected the first gap never closes.
    p.max_extents = 5;
    let m = build(IdKind::Uid, &q, &none, &p).unwrap();
    assert_eq!(m.exposed.to_string(), "64051-64059");
    p.max_extents = 4;
    let err = build(IdKind::Uid, &q, &none, &p).unwrap_err();
    assert!(matches!(err, MapError::OverBudget { .. }), "{err}");
}

#[test]
fn unmap_leaves_the_fewest_ids_between_passthroughs_unmapped() {
    // 1005, 1010, 1100: runs 0..1005, 1006..1010 (4), 1011..1100 (89), 1101..65536; 7 extents.
    let p = set(&["1005", "1010", "1100"]);
    let none = IdSet::new();
    let m = build(IdKind::Uid, &p, &none, &params(OverBudget::Unmap, 6)).unwrap();
    assert_eq!(m.unmapped.to_string(), "1006-1009");
    assert!(m.exposed.is_empty());
    assert_eq!(host_id(&m.extents, 1007), None);
    assert_eq!(host_id(&m.extents, 1020), Some(101_020));
    let m = build(IdKind::Uid, &p, &none, &params(OverBudget::Unmap, 5)).unwrap();
    assert_eq!(m.unmapped.to_string(), "1006-1009,1011-1099");
    assert!(
        m.warnings
            .iter()
            .any(|w| w.to_string().contains("(93 ids)")),
        "{:?}",
        m.warnings
    );
    // The run before the first passthrough and after the last are not between passthroughs.
    assert!(matches!(
        build(IdKind::Uid, &p, &none, &params(OverBudget::Unmap, 4)),
        Err(MapError::DoesNotFit { .. })
    ));
}

/// The closable gaps and removable runs, found independently of `slots`.
fn closable(g: IdRange, p: &MapParams) -> bool {
    let base_range = p.base_range().unwrap();
    g.start() >= p.min_id && !p.protected.overlaps(g) && !g.overlaps(base_range)
}

fn gaps_of(asked: &IdSet) -> Vec<IdRange> {
    asked
        .ranges()
        .windows(2)
        .filter_map(|w| IdRange::new(w[0].end(), w[1].start()))
        .collect()
}

fn runs_between(asked: &IdSet, p: &MapParams) -> Vec<IdRange> {
    let base_range = p.base_range().unwrap();
    let (extents, _) = layout(IdKind::Uid, asked, base_range, &IdSet::new());
    let (first, last) = (asked.first(), asked.ranges().last().map(|r| r.end()));
    extents
        .iter()
        .filter(|e| !e.is_passthrough())
        .filter_map(|e| e.inside_range())
        .filter(|r| {
            r.start() >= p.min_id
                && first.is_some_and(|f| f < r.start())
                && last.is_some_and(|l| l > r.end())
        })
        .collect()
}

/// The fewest ids any choice exposes (`expose`) or unmaps (`unmap`), trying every choice.
fn brute_force(asked: &IdSet, p: &MapParams, budget: &Budget) -> Option<u64> {
    let base_range = p.base_range().unwrap();
    let items: Vec<IdRange> = match p.over_budget {
        OverBudget::Expose => gaps_of(asked)
            .into_iter()
            .filter(|&g| closable(g, p))
            .collect(),
        OverBudget::Unmap => runs_between(asked, p),
    };
    assert!(items.len() <= 16);
    let mut best: Option<u64> = None;
    for mask in 0u32..(1 << items.len()) {
        let chosen: IdSet = (0..items.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| items[i])
            .collect();
        let (extents, _) = match p.over_budget {
            OverBudget::Expose => layout(
                IdKind::Uid,
                &asked.union(&chosen),
                base_range,
                &IdSet::new(),
            ),
            OverBudget::Unmap => layout(IdKind::Uid, asked, base_range, &chosen),
        };
        if budget.admits(&extents) && best.is_none_or(|b| chosen.len() < b) {
            best = Some(chosen.len());
        }
    }
    best
}

/// Small cases on a small base range so that holes, inside passthroughs, protected ids, min_id
/// and long numbers all play, with both limits small enough to bind.
fn small_case() -> impl Strategy<Value = (IdSet, MapParams, Budget)> {
    (
        1u32..60,
        1u32..60,
        prop::collection::vec((1u32..200, 1u32..4), 0..12),
        1usize..10,
        20usize..120,
        0u32..30,
        prop::option::of(1u32..200),
        prop_oneof![Just(OverBudget::Expose), Just(OverBudget::Unmap)],
    )
        .prop_map(
            |(base, size, ranges, max_extents, max_bytes, min_id, protected, over_budget)| {
                let p: IdSet = ranges
                    .into_iter()
                    .filter_map(|(s, c)| IdRange::new(s.max(min_id), s.max(min_id) + c))
                    .collect();
                let protected: IdSet = protected
                    .and_then(|x| IdRange::single(x).ok())
                    .into_iter()
                    .collect();
                let p = p
                    .difference(&IdSet::from(IdRange::single(base).unwrap()))
                    .difference(&protected);
                let params = MapParams {
                    base,
                    size,
                    min_id,
                    max_extents: max_extents as u32,
                    protected,
                    over_budget,
                };
                (
                    p,
                    params,
                    Budget {
                        max_extents,
                        max_bytes,
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn fit_is_exact_against_brute_force((p, params, budget) in small_case()) {
        let want = brute_force(&p, &params, &budget);
        match fit(IdKind::Uid, &p, &params, &budget) {
            Ok(f) => {
                let (extents, _) = layout(IdKind::Uid, &f.effective, params.base_range().unwrap(), &f.unmapped);
                prop_assert!(budget.admits(&extents));
                prop_assert!(f.effective.is_superset(&p));
                let cost = match params.over_budget {
                    OverBudget::Expose => {
                        prop_assert!(f.unmapped.is_empty());
                        f.effective.difference(&p).len()
                    }
                    OverBudget::Unmap => {
                        prop_assert_eq!(&f.effective, &p);
                        f.unmapped.len()
                    }
                };
                prop_assert_eq!(Some(cost), want);
            }
            Err(MapError::OverBudget { .. }) => {
                prop_assert_eq!(params.over_budget, OverBudget::Expose);
                prop_assert_eq!(want, None);
            }
            Err(MapError::DoesNotFit { .. }) => {
                prop_assert_eq!(params.over_budget, OverBudget::Unmap);
                prop_assert_eq!(want, None);
            }
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

/// Ranges from one of several regions: the container's own ids, the base range (holes), just
/// around it, far above it, and the very top of the id space (for the default base range).
pub(super) fn arb_range() -> impl Strategy<Value = IdRange> {
    let region = prop_oneof![
        (1000u32..65536),
        (99_000u32..100_000),
        (100_001u32..165_536),
        (165_536u32..200_000),
        (1_000_000u32..4_000_000_000),
        (4_294_967_000u32..4_294_967_295),
    ];
    (region, prop_oneof![3 => Just(1u32), 1 => 1u32..50])
        .prop_map(|(s, c)| IdRange::new(s, s.saturating_add(c)).unwrap())
}

/// Random owners, foreign (kept) ids, protected ids and parameters.
fn any_case() -> impl Strategy<Value = (IdSet, IdSet, MapParams)> {
    (
        prop_oneof![
            prop::collection::vec(arb_range(), 0..40),
            prop::collection::vec(arb_range(), 60..260),
        ],
        prop::collection::vec((1u32..1000, 1u32..3), 0..3),
        prop::collection::vec(arb_range(), 0..6),
        prop_oneof![Just(OverBudget::Expose), Just(OverBudget::Unmap)],
        prop_oneof![Just(340u32), 50u32..340],
    )
        .prop_map(|(wanted, low, protected, over_budget, max_extents)| {
            let wanted: IdSet = wanted.into_iter().collect();
            let kept: IdSet = low
                .into_iter()
                .filter_map(|(s, c)| IdRange::new(s, (s + c).min(1000)))
                .collect();
            let protected: IdSet = protected.into_iter().collect();
            let params = MapParams {
                over_budget,
                max_extents,
                protected,
                ..MapParams::default()
            };
            let wanted = wanted.difference(&IdSet::from(IdRange::single(params.base).unwrap()));
            (wanted, kept, params)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn never_grants_what_must_not_be_granted((wanted, kept, params) in any_case()) {
        let base_range = params.base_range().unwrap();
        match build(IdKind::Uid, &wanted, &kept, &params) {
            Ok(m) => {
                prop_assert_eq!(validate(IdKind::Uid, &m.extents, params.max_extents), vec![]);
                prop_assert!(Budget::default().admits(&m.extents));
                prop_assert!(text_len(&m.extents) < LXC_MAX_BYTES);
                prop_assert_eq!(host_id(&m.extents, 0), Some(params.base));
                let through = passthroughs(&m.extents);
                let granted = wanted.difference(&params.protected);
                // Everything asked for and kept, nothing protected, below min_id, 0 or base
                // beyond the kept ones, and nothing of the base range not asked for.
                prop_assert!(through.is_superset(&granted.union(&kept)));
                let extra = through.difference(&kept);
                prop_assert!(!extra.overlaps(IdRange::new(0, params.min_id).unwrap()));
                prop_assert!(extra.intersection(&params.protected).is_empty());
                prop_assert!(!through.contains(0) && !through.contains(params.base));
                prop_assert!(m.exposed.intersection(&IdSet::from(base_range)).is_empty());
                prop_assert_eq!(&through.difference(&granted.union(&kept)), &m.exposed);
                // Kept ids exactly: their extents are unchanged unless an asked id touches them.
                for &r in kept.ranges() {
                    prop_assert!(through.covers(r));
                }
                match params.over_budget {
                    OverBudget::Unmap => prop_assert!(m.exposed.is_empty()),
                    OverBudget::Expose => prop_assert!(m.unmapped.is_empty()),
                }
                prop_assert!(m.minimal_merge);
                // The planner can read it back as the same fit (and keep it).
                let again = crate::idmap::as_built(IdKind::Uid, &m.extents, &wanted, &kept, &params);
                prop_assert_eq!(again.as_ref(), Some(&m));
                for &r in m.unmapped.ranges() {
                    prop_assert!(r.start() >= params.min_id);
                    prop_assert!(host_id(&m.extents, r.start()).is_none());
                }
            }
            Err(MapError::OverBudget { .. } | MapError::DoesNotFit { .. }) => {}
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}
