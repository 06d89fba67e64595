//! Reading a CT's current map back as a fit that [`build`](super::build) could have returned for
//! the same ids, so that the planner can keep it when it is as good as the one `build` returns.
//!
//! Why: when a map is over the kernel's budget, several fits are often equally minimal (two gaps
//! of the same size, two runs of the same ids). Which one the engine returns depends on its
//! internals, so a new version may return another for the same ids. Switching a running CT to it
//! would restart the CT and shift its files' owners for nothing. A current map is kept only when
//! it is exactly a fit of the asked ids under the same rules: the layout `build` writes, whole
//! closable gaps closed (`expose`) or whole unmappable runs left out (`unmap`), within the budget.
//! Whether it is as good (as few exposed and unmapped ids) is the caller's comparison.

use crate::ids::{IdKind, IdRange, IdSet};

use super::budget::Fit;
use super::build::{Asked, BuiltMap, MapParams, OverBudget};
use super::extent::Extent;
use super::needs::{inside_ranges, passthroughs};
use super::slots::Slots;

/// `current`, the extents of one kind of a CT's map, as the fit of `wanted` and `kept` it is,
/// when [`build`](super::build) could have returned it for them under `params`: every asked id
/// passes through, only whole closable gaps between asked ids are merged (`expose`) or only whole
/// runs of inside ids that may be unmapped are left out (`unmap`), never both, the extents are
/// laid out as `build` lays them and fit the budget. `None` otherwise, and when `build` would
/// refuse the ids.
pub fn as_built(
    kind: IdKind,
    current: &[Extent],
    wanted: &IdSet,
    kept: &IdSet,
    params: &MapParams,
) -> Option<BuiltMap> {
    let asked = Asked::new(kind, wanted, kept, params).ok()?;
    if !params.budget().admits(current) || current.iter().any(|e| e.kind != kind) {
        return None;
    }
    let base_range = asked.base_range;
    let pass = passthroughs(current);
    if !pass.is_superset(&asked.ids) {
        return None;
    }
    let exposed = pass.difference(&asked.ids);
    let slots = Slots::new(&asked.ids, params, base_range);
    let unmapped = if exposed.is_empty() {
        // Inside ids the layout of the passthroughs maps and the current map does not.
        let (based, _holes) = super::build::base_ids(&pass, base_range);
        based.difference(&inside_ranges(current))
    } else {
        IdSet::new()
    };
    let fit_is_whole = match params.over_budget {
        OverBudget::Expose => {
            let closable = slots.gaps.iter().filter(|g| g.closable).map(|g| g.ids);
            unmapped.is_empty() && whole_ranges_of(&exposed, closable)
        }
        OverBudget::Unmap => {
            let runs = slots.gaps.iter().flat_map(|g| g.runs.iter().copied());
            let unmappable = runs.filter(|&r| slots.may_unmap(r));
            exposed.is_empty() && whole_ranges_of(&unmapped, unmappable)
        }
    };
    if !fit_is_whole {
        return None;
    }
    // The layout `build` writes of this fit, or none.
    let built = asked.finish(
        Fit {
            effective: pass,
            unmapped,
        },
        params,
    );
    (built.extents == current).then_some(built)
}

/// Is every range of `set` one of `ranges` (sorted, disjoint), whole?
fn whole_ranges_of(set: &IdSet, ranges: impl Iterator<Item = IdRange>) -> bool {
    let mut ranges = ranges.peekable();
    set.ranges().iter().all(|&r| {
        while ranges.next_if(|g| g.end() <= r.start()).is_some() {}
        ranges.next_if_eq(&r).is_some()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::idmap::build;
    use crate::idmap::build::layout;
    use crate::idmap::fit_tests::arb_range;

    fn set(ids: &[u32]) -> IdSet {
        let mut s = IdSet::new();
        for &id in ids {
            s.insert_id(id);
        }
        s
    }

    fn parse(lines: &[&str]) -> Vec<Extent> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    /// Three uids 2000, 2010, 2020 with room for one extent less than they need (7): one of the
    /// two gaps of 9 ids must close (5 extents then), or one of the two runs of 9 inside ids
    /// between them be left unmapped (6 then), either one.
    fn tight(over_budget: OverBudget) -> MapParams {
        MapParams {
            max_extents: match over_budget {
                OverBudget::Expose => 5,
                OverBudget::Unmap => 6,
            },
            over_budget,
            ..MapParams::default()
        }
    }

    #[test]
    fn the_map_build_returns_reads_back_as_itself() {
        for over_budget in [OverBudget::Expose, OverBudget::Unmap] {
            let params = tight(over_budget);
            let wanted = set(&[2000, 2010, 2020]);
            let built = build(IdKind::Uid, &wanted, &IdSet::new(), &params).unwrap();
            let again = as_built(IdKind::Uid, &built.extents, &wanted, &IdSet::new(), &params);
            assert_eq!(again.as_ref(), Some(&built), "{over_budget}");
        }
        // Within the budget too, with a kept id below min_id.
        let params = MapParams::default();
        let (wanted, kept) = (set(&[1005, 70_000]), set(&[33]));
        let built = build(IdKind::Gid, &wanted, &kept, &params).unwrap();
        let again = as_built(IdKind::Gid, &built.extents, &wanted, &kept, &params);
        assert_eq!(again, Some(built));
    }

    /// Of uids 2000, 2010 and 2020 one extent too many: the two equally minimal fits, with
    /// what each exposes or leaves unmapped (9 ids).
    #[test]
    fn the_other_equally_minimal_fit_reads_back_as_good() {
        let wanted = set(&[2000, 2010, 2020]);
        let cases = [
            // One of two gaps of 9 ids closed.
            (
                OverBudget::Expose,
                [
                    &["u 2000 2000 11", "u 2011 102011 9", "u 2020 2020 1"][..],
                    &["u 2000 2000 1", "u 2001 102001 9", "u 2010 2010 11"],
                ],
            ),
            // One of two runs of 9 inside ids left out.
            (
                OverBudget::Unmap,
                [
                    &[
                        "u 2000 2000 1",
                        "u 2010 2010 1",
                        "u 2011 102011 9",
                        "u 2020 2020 1",
                    ][..],
                    &[
                        "u 2000 2000 1",
                        "u 2001 102001 9",
                        "u 2010 2010 1",
                        "u 2020 2020 1",
                    ],
                ],
            ),
        ];
        for (over_budget, middles) in cases {
            let params = tight(over_budget);
            let built = build(IdKind::Uid, &wanted, &IdSet::new(), &params).unwrap();
            let fits = middles
                .map(|m| parse(&[&["u 0 100000 2000"][..], m, &["u 2021 102021 63515"]].concat()));
            assert!(fits.contains(&built.extents), "{over_budget}");
            for map in &fits {
                let fit = as_built(IdKind::Uid, map, &wanted, &IdSet::new(), &params).unwrap();
                assert_eq!(&fit.extents, map, "{over_budget}");
                assert!(fit.minimal_merge, "{over_budget}");
                let (this, other) = match over_budget {
                    OverBudget::Expose => (fit.exposed.len(), fit.unmapped.len()),
                    OverBudget::Unmap => (fit.unmapped.len(), fit.exposed.len()),
                };
                assert_eq!((this, other), (9, 0), "{over_budget}");
                assert_eq!(fit.exposed.len(), built.exposed.len(), "{over_budget}");
                assert_eq!(
                    fit.unmapped_inside().len(),
                    built.unmapped_inside().len(),
                    "{over_budget}"
                );
            }
        }
    }

    #[test]
    fn a_map_that_is_not_such_a_fit_is_not_read_as_one() {
        let wanted = set(&[2000, 2010, 2020]);
        let none = IdSet::new();
        let expose = tight(OverBudget::Expose);
        let unmap = tight(OverBudget::Unmap);
        let cases: [(&str, &MapParams, &IdSet, &[&str]); 9] = [
            // An asked id not passed through.
            (
                "2020 missing",
                &expose,
                &wanted,
                &["u 0 100000 2000", "u 2000 2000 11", "u 2011 102011 54525"],
            ),
            // Part of a gap closed, not all of it.
            (
                "half a gap",
                &expose,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 5",
                    "u 2005 102005 5",
                    "u 2010 2010 11",
                    "u 2021 102021 63515",
                ],
            ),
            // An id past the last asked one passed through.
            (
                "widened",
                &expose,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 11",
                    "u 2011 102011 9",
                    "u 2020 2020 2",
                    "u 2022 102022 63514",
                ],
            ),
            // Exposed under `unmap`.
            (
                "exposed under unmap",
                &unmap,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 11",
                    "u 2011 102011 9",
                    "u 2020 2020 1",
                    "u 2021 102021 63515",
                ],
            ),
            // Unmapped under `expose`.
            (
                "unmapped under expose",
                &expose,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 1",
                    "u 2010 2010 1",
                    "u 2020 2020 1",
                    "u 2021 102021 63515",
                ],
            ),
            // Part of a run left unmapped.
            (
                "half a run",
                &unmap,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 1",
                    "u 2005 102005 5",
                    "u 2010 2010 1",
                    "u 2020 2020 1",
                    "u 2021 102021 63515",
                ],
            ),
            // Over the budget (7 extents, 6 allowed).
            (
                "over budget",
                &unmap,
                &wanted,
                &[
                    "u 0 100000 2000",
                    "u 2000 2000 1",
                    "u 2001 102001 9",
                    "u 2010 2010 1",
                    "u 2011 102011 9",
                    "u 2020 2020 1",
                    "u 2021 102021 63515",
                ],
            ),
            // Not the layout build writes: an inside id mapped elsewhere than base + id.
            (
                "other layout",
                &expose,
                &wanted,
                &[
                    "u 0 200000 2000",
                    "u 2000 2000 11",
                    "u 2011 102011 9",
                    "u 2020 2020 1",
                    "u 2021 102021 63515",
                ],
            ),
            // A refused id asked for: nothing is read back.
            (
                "refused",
                &expose,
                &set(&[500]),
                &["u 0 100000 500", "u 500 500 1", "u 501 100501 65035"],
            ),
        ];
        for (what, params, wanted, map) in cases {
            let map = parse(map);
            assert_eq!(
                as_built(IdKind::Uid, &map, wanted, &none, params),
                None,
                "{what}"
            );
        }
    }

    #[test]
    fn a_gap_that_may_not_close_is_not_read_as_closed() {
        // 2005 protected: the gap 2001..2010 may not close; 2011..2020 may.
        let params = MapParams {
            protected: set(&[2005]),
            ..tight(OverBudget::Expose)
        };
        let wanted = set(&[2000, 2010, 2020]);
        let built = build(IdKind::Uid, &wanted, &IdSet::new(), &params).unwrap();
        assert_eq!(built.exposed, IdRange::new(2011, 2020).unwrap().into());
        let across = parse(&[
            "u 0 100000 2000",
            "u 2000 2000 11",
            "u 2011 102011 9",
            "u 2020 2020 1",
            "u 2021 102021 63515",
        ]);
        assert_eq!(
            as_built(IdKind::Uid, &across, &wanted, &IdSet::new(), &params),
            None
        );
        // Below min_id, beside a kept id: never merged across.
        let params = MapParams {
            max_extents: 5,
            over_budget: OverBudget::Expose,
            ..MapParams::default()
        };
        let kept = set(&[33]);
        let wanted = set(&[1000, 2000]);
        let below = parse(&[
            "u 0 100000 33",
            "u 33 33 968",
            "u 1001 101001 999",
            "u 2000 2000 1",
            "u 2001 102001 63535",
        ]);
        assert_eq!(as_built(IdKind::Uid, &below, &wanted, &kept, &params), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any gaps closed or runs left out, laid out as `build` lays them: when read as a fit,
        /// it passes every asked id through and nothing below `min_id` but the kept ids, nothing
        /// protected, nothing of the base range, and counts its exposed and unmapped ids right.
        #[test]
        fn what_is_read_as_a_fit_grants_nothing_it_must_not(
            wanted in prop::collection::vec(arb_range(), 1..30),
            kept in prop::collection::vec(1u32..1000, 0..3),
            protected in prop::collection::vec(arb_range(), 0..4),
            close in prop::collection::vec(any::<bool>(), 30),
            expose in any::<bool>(),
        ) {
            let params = MapParams {
                protected: protected.into_iter().collect(),
                over_budget: if expose { OverBudget::Expose } else { OverBudget::Unmap },
                ..MapParams::default()
            };
            let base_range = params.base_range().unwrap();
            let kept: IdSet = kept.into_iter().map(|id| IdRange::single(id).unwrap()).collect();
            let wanted: IdSet = wanted.into_iter().collect::<IdSet>()
                .difference(&IdSet::from(IdRange::single(params.base).unwrap()));
            let asked = wanted.difference(&params.protected).union(&kept);
            // Close or leave out what `close` says, whether it may be or not.
            let gaps: Vec<IdRange> = asked.ranges().windows(2)
                .map(|w| IdRange::new(w[0].end(), w[1].start()).unwrap()).collect();
            let mut pass = asked.clone();
            let mut unmapped = IdSet::new();
            let (based, _) = crate::idmap::build::base_ids(&asked, base_range);
            for (g, &c) in gaps.iter().zip(&close) {
                if c && expose {
                    pass.extend([*g]);
                } else if c {
                    unmapped = unmapped.union(&based.clip(*g));
                }
            }
            let (map, _) = layout(IdKind::Uid, &pass, base_range, &unmapped);
            let read = as_built(IdKind::Uid, &map, &wanted, &kept, &params);
            // Nothing closed nor left out, within the budget, of ids `build` takes: the map is
            // `build`'s own, and is read back (so the checks below are not vacuous).
            let untouched = pass == asked && unmapped.is_empty();
            if untouched
                && params.budget().admits(&map)
                && build(IdKind::Uid, &wanted, &kept, &params).is_ok()
            {
                prop_assert!(read.is_some());
            }
            if let Some(fit) = read {
                prop_assert_eq!(&fit.extents, &map);
                let through = passthroughs(&fit.extents);
                prop_assert!(through.is_superset(&asked));
                let extra = through.difference(&kept);
                prop_assert!(!extra.overlaps(IdRange::new(0, params.min_id).unwrap()));
                prop_assert!(extra.intersection(&params.protected).is_empty());
                prop_assert!(!through.difference(&asked).overlaps(base_range));
                prop_assert_eq!(&fit.exposed, &through.difference(&asked));
                prop_assert_eq!(&fit.unmapped, &unmapped);
                for &r in fit.unmapped.ranges() {
                    prop_assert!(r.start() >= params.min_id);
                }
            }
        }
    }
}
