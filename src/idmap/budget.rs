//! The kernel's budget for one map, and fitting a map into it by merging passthrough ranges.
//!
//! The kernel takes at most 340 extents, written in one `write()` of under 4096 bytes
//! (`"%u %u %u\n"` per extent); LXC's buffer for the newuidmap command cuts the text to under
//! 4079 bytes ([`LXC_MAX_BYTES`]). When a map is over either limit, neighbouring passthrough ranges
//! are merged across gaps; the ids of the closed gaps become passthroughs too (exposed). Closing a
//! gap also moves base-range extents and holes, so its saving depends on which other gaps close:
//! this module evaluates every candidate exactly with `build::layout`.
//!
//! The choice: first the fewest smallest gaps that fit (smallest-first, the minimum whenever each
//! closure saves the same); then a best-first search over the gap subsets that expose fewer ids,
//! cheapest first, whose first fitting subset is the minimum. When that search would be too long
//! (many gaps to close) smallest-first stands, less every closure it can do without, and
//! [`Fit::minimal`] says it is not proven.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::{IdKind, IdRange, IdSet};

use super::build::{MapError, MapParams, layout};
use super::extent::Extent;

/// The kernel's limit on extents per map.
pub const KERNEL_MAX_EXTENTS: u32 = 340;

/// The kernel takes the map text only in one write shorter than this (one page).
pub(crate) const KERNEL_MAX_BYTES: usize = 4096;

/// The map text must be shorter than this for LXC to start the CT: LXC builds the command
/// `newuidmap PID` + `" {inside} {outside} {count}"` per extent in a buffer of 4096 bytes
/// (`LXC_IDMAPLEN`) and refuses with "Too many uid mappings defined" when it does not fit. The
/// extents take as many bytes there as in the kernel text, so the map gets 4096 less
/// `"newuidmap "` (10) less the longest pid (7 digits: `pid_max` is at most 4194304) less one.
/// Verified against LXC 5.0: a 4083-byte map the kernel takes fails to start.
pub const LXC_MAX_BYTES: usize = KERNEL_MAX_BYTES - 10 - 7;

/// How many gap subsets the exact search may evaluate before falling back to smallest-first.
const SEARCH_LIMIT: usize = 1024;

/// A budget: at most `max_extents` extents and a text shorter than `max_bytes`. The default is
/// what both the kernel and LXC take: 340 extents, under [`LXC_MAX_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) max_extents: usize,
    pub(crate) max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_extents: KERNEL_MAX_EXTENTS as usize,
            max_bytes: LXC_MAX_BYTES,
        }
    }
}

impl Budget {
    /// Does the map fit?
    pub(crate) fn admits(&self, extents: &[Extent]) -> bool {
        extents.len() <= self.max_extents && text_len(extents) < self.max_bytes
    }
}

/// The length of the map text newuidmap writes: `"{inside} {outside} {count}\n"` per extent.
pub fn text_len(extents: &[Extent]) -> usize {
    extents.iter().map(Extent::kernel_line_len).sum()
}

/// The map text itself, as written to `/proc/PID/uid_map` in one write.
pub fn kernel_text(extents: &[Extent]) -> String {
    extents.iter().map(Extent::kernel_line).collect()
}

/// The passthrough set a map is built from once it fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fit {
    /// `passthrough` plus the closed gaps.
    pub(crate) effective: IdSet,
    /// Is the merge proven to expose the fewest ids? False only when the search was cut short.
    pub(crate) minimal: bool,
}

/// The gaps between neighbouring passthrough ranges that may be closed: never one holding the
/// base id (the CT's root would lose its mapping).
pub(crate) fn gaps(passthrough: &IdSet, base: u32) -> Vec<IdRange> {
    passthrough
        .ranges()
        .windows(2)
        .filter_map(|w| IdRange::new(w[0].end(), w[1].start()))
        .filter(|g| !g.contains(base))
        .collect()
}

/// The cheapest passthrough superset (closing whole gaps) whose map fits `budget`.
///
/// # Errors
/// [`MapError::OverBudget`] when even closing every closable gap does not fit.
pub(crate) fn fit(
    kind: IdKind,
    passthrough: &IdSet,
    params: &MapParams,
    budget: &Budget,
) -> Result<Fit, MapError> {
    let base_range = params.base_range()?;
    let admits = |set: &IdSet| budget.admits(&layout(kind, set, base_range).0);
    if admits(passthrough) {
        return Ok(Fit {
            effective: passthrough.clone(),
            minimal: true,
        });
    }
    let mut gaps = gaps(passthrough, params.base);
    // Smallest first; ties by position so the result is deterministic.
    gaps.sort_unstable_by_key(|g| (g.count(), g.start()));
    let with = |chosen: &[usize]| {
        let mut set = passthrough.clone();
        for &i in chosen {
            set.insert(gaps[i]);
        }
        set
    };
    let all: Vec<usize> = (0..gaps.len()).collect();
    let full = with(&all);
    if !admits(&full) {
        let (extents, _) = layout(kind, &full, base_range);
        return Err(MapError::OverBudget {
            kind,
            extents: extents.len(),
            bytes: text_len(&extents),
            max_extents: params.max_extents,
            max_bytes: budget.max_bytes,
        });
    }
    // Smallest first: the fewest closures k that fit. `full` fits, so k = len is a bound.
    let (mut lo, mut hi) = (1, gaps.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if admits(&with(&all[..mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // Closures can interact (holes), so fitting need not be monotone in k; the binary search
    // still only returns a k that fits or `len`, which fits.
    let greedy = if admits(&with(&all[..lo])) {
        &all[..lo]
    } else {
        &all[..]
    };
    let greedy_cost = cost(&gaps, greedy);
    // Then every cheaper subset, cheapest first: the first that fits is the minimum; when none
    // does, smallest-first was the minimum.
    match search(&gaps, greedy_cost, |c| admits(&with(c))) {
        Search::Found(chosen) => Ok(Fit {
            effective: with(&chosen),
            minimal: true,
        }),
        Search::NoneCheaper => Ok(Fit {
            effective: with(greedy),
            minimal: true,
        }),
        Search::CutShort => {
            // Closures can save more than one extent each (a closed gap in the base range's host
            // ids also joins the holes around it), so some smallest-first closures may not be
            // needed: reopen every one that is not, largest first.
            let mut chosen = greedy.to_vec();
            for i in (0..chosen.len()).rev() {
                let mut without = chosen.clone();
                without.remove(i);
                if admits(&with(&without)) {
                    chosen = without;
                }
            }
            Ok(Fit {
                effective: with(&chosen),
                minimal: false,
            })
        }
    }
}

fn cost(gaps: &[IdRange], chosen: &[usize]) -> u64 {
    chosen.iter().map(|&i| u64::from(gaps[i].count())).sum()
}

/// How the search for a cheaper merge ended.
enum Search {
    /// The cheapest fitting subset, cheaper than the bound.
    Found(Vec<usize>),
    /// No subset cheaper than the bound fits.
    NoneCheaper,
    /// The limit was reached first.
    CutShort,
}

/// Best-first enumeration of the subsets of `gaps` (sorted by size) cheaper than `bound`, in
/// order of total size: the first subset `fits` accepts exposes the fewest ids.
///
/// Each subset is reached once: from a subset whose largest index is `i`, its children replace
/// `i` by `i + 1` or add `i + 1`; both cost at least as much, so the order holds and a subset at
/// or over `bound` ends its branch.
fn search(gaps: &[IdRange], bound: u64, mut fits: impl FnMut(&[usize]) -> bool) -> Search {
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<_>, chosen: Vec<usize>| {
        let c = cost(gaps, &chosen);
        if c < bound {
            heap.push(Reverse((c, chosen)));
        }
    };
    if !gaps.is_empty() {
        push(&mut heap, vec![0usize]);
    }
    let mut evaluated = 0;
    while let Some(Reverse((_, chosen))) = heap.pop() {
        if evaluated >= SEARCH_LIMIT {
            return Search::CutShort;
        }
        evaluated += 1;
        if fits(&chosen) {
            return Search::Found(chosen);
        }
        let last = *chosen.last().expect("never empty");
        if last + 1 < gaps.len() {
            let mut replaced = chosen.clone();
            *replaced.last_mut().expect("never empty") = last + 1;
            push(&mut heap, replaced);
            let mut added = chosen;
            added.push(last + 1);
            push(&mut heap, added);
        }
    }
    Search::NoneCheaper
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::build::build;
    use proptest::prelude::*;

    fn params(max_extents: u32) -> MapParams {
        MapParams {
            max_extents,
            ..MapParams::default()
        }
    }

    #[test]
    fn text_len_matches_text() {
        let k = IdKind::Uid;
        let e = [
            Extent::new(k, 0, 100000, 1005),
            Extent::new(k, 4294967294, 4294967294, 1),
        ];
        assert_eq!(text_len(&e), kernel_text(&e).len());
        assert_eq!(kernel_text(&e), "0 100000 1005\n4294967294 4294967294 1\n");
    }

    #[test]
    fn budget_boundaries() {
        let k = IdKind::Uid;
        // 340 lines like `10 2020 1` (10 bytes each) fit; 341 do not.
        let short: Vec<Extent> = (0..341)
            .map(|i| Extent::new(k, 10 + i, 2020 + i, 1))
            .collect();
        let b = Budget {
            max_extents: 340,
            max_bytes: KERNEL_MAX_BYTES,
        };
        assert!(b.admits(&short[..340]));
        assert!(!b.admits(&short));
        // 4095 bytes fit, 4096 do not: 195 lines of 21 bytes = 4095.
        let line = Extent::new(k, 1_000_000, 1_000_000, 1_000_000); // 7+7+7+3 = 24
        assert_eq!(line.kernel_line_len(), 24);
        let e21 = Extent::new(k, 1_000_000, 1_000_000, 1_000); // 7+7+4+3 = 21
        assert_eq!(e21.kernel_line_len(), 21);
        let fits: Vec<Extent> = (0..195).map(|_| e21).collect();
        assert_eq!(text_len(&fits), 4095);
        assert!(b.admits(&fits));
        let mut over = fits.clone();
        over.pop();
        over.push(Extent::new(k, 1_000_000, 1_000_000, 10_000)); // 22 bytes: 4096
        assert_eq!(text_len(&over), 4096);
        assert!(!b.admits(&over));
        // LXC's limit: 4078 bytes fit, 4079 do not.
        let lxc = Budget::default();
        assert_eq!(lxc.max_bytes, 4079);
        let mut at: Vec<Extent> = (0..193).map(|_| e21).collect(); // 4053
        at.push(Extent::new(k, 1_000_000, 1_000_000, 1)); // 18: 4071
        at.push(Extent::new(k, 10, 1, 1)); // 7: 4078
        assert_eq!(text_len(&at), 4078);
        assert!(lxc.admits(&at));
        at.pop();
        at.push(Extent::new(k, 10, 10, 1)); // 8: 4079
        assert_eq!(text_len(&at), 4079);
        assert!(!lxc.admits(&at));
    }

    #[test]
    fn merges_the_smallest_gap() {
        // Four passthroughs above the base range: 2 base-free lines + 4 = 5 extents; allow 4.
        let p: IdSet = ["200000", "200002", "200010", "200030"]
            .iter()
            .map(|s| s.parse::<IdRange>().unwrap())
            .collect();
        let m = build(IdKind::Uid, &p, &params(4)).unwrap();
        assert_eq!(m.exposed.to_string(), "200001");
        assert_eq!(m.extents.len(), 4);
        assert!(
            m.warnings
                .iter()
                .any(|w| w.contains("uids `200001` (1 id)"))
        );
        let m = build(IdKind::Uid, &p, &params(3)).unwrap();
        assert_eq!(m.exposed.to_string(), "200001,200003-200009");
    }

    #[test]
    fn never_closes_the_gap_over_the_base_id() {
        // 99999 and 100001: the gap holds 100000, the CT's root; nothing else to merge.
        let p: IdSet = ["99999", "100001"]
            .iter()
            .map(|s| s.parse::<IdRange>().unwrap())
            .collect();
        let err = build(IdKind::Gid, &p, &params(3)).unwrap_err();
        assert!(
            matches!(err, MapError::OverBudget { extents: 4, .. }),
            "{err}"
        );
        assert!(build(IdKind::Gid, &p, &params(4)).is_ok());
    }

    /// The pass after a cut-short search that reopens closures smallest-first did not need:
    /// twenty 1-id gaps above the base range save one extent each, and the 2-id gap between two
    /// passthroughs in the base range's host ids saves two (its holes join as well), so once that
    /// one is closed, one of the twenty is not needed.
    #[test]
    fn cut_short_merge_reopens_closures_it_does_not_need() {
        let mut p = IdSet::new();
        for i in 0..21 {
            p.insert_id(200_000 + 2 * i);
        }
        p.insert_id(100_010);
        p.insert_id(100_013);
        let base_range = params(5).base_range().unwrap();
        let extents = |set: &IdSet| layout(IdKind::Uid, set, base_range).0;
        // Base extents around the holes 10 and 13, then 2 + 21 passthroughs.
        assert_eq!(extents(&p).len(), 26);
        let budget = Budget {
            max_extents: 5,
            max_bytes: LXC_MAX_BYTES,
        };
        let f = fit(IdKind::Uid, &p, &params(5), &budget).unwrap();
        // Over a million subsets cost less than smallest-first's 22 ids.
        assert!(!f.minimal);
        let exposed = f.effective.difference(&p);
        assert!(exposed.contains(100_011) && exposed.contains(100_012));
        assert_eq!(exposed.len(), 21, "{exposed}");
        assert!(budget.admits(&extents(&f.effective)));
        for &gap in exposed.ranges() {
            let reopened = f.effective.difference(&IdSet::from(gap));
            assert!(
                !budget.admits(&extents(&reopened)),
                "{gap} need not be closed"
            );
        }
    }

    /// The cheapest fitting subset by trying them all.
    fn brute_force(kind: IdKind, p: &IdSet, params: &MapParams, budget: &Budget) -> Option<u64> {
        let gaps = gaps(p, params.base);
        let base_range = params.base_range().unwrap();
        let mut best: Option<u64> = None;
        for mask in 0u32..(1 << gaps.len()) {
            let mut set = p.clone();
            let mut cost = 0;
            for (i, g) in gaps.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    set.insert(*g);
                    cost += u64::from(g.count());
                }
            }
            if budget.admits(&layout(kind, &set, base_range).0) && best.is_none_or(|b| cost < b) {
                best = Some(cost);
            }
        }
        best
    }

    /// Small cases on a small base range so that holes, inside passthroughs and long numbers all
    /// play, with both limits small enough to bind.
    fn small_case() -> impl Strategy<Value = (IdSet, MapParams, Budget)> {
        let base = 1u32..60;
        let size = 1u32..60;
        (
            base,
            size,
            prop::collection::vec((1u32..200, 1u32..4), 0..9),
            1usize..9,
            20usize..120,
        )
            .prop_map(|(base, size, ranges, max_extents, max_bytes)| {
                let p: IdSet = ranges
                    .into_iter()
                    .filter_map(|(s, c)| IdRange::new(s, s + c))
                    .collect();
                let p = p.difference(&IdSet::from(IdRange::single(base).unwrap()));
                let params = MapParams {
                    base,
                    size,
                    min_id: 1,
                    max_extents: max_extents as u32,
                };
                (
                    p,
                    params,
                    Budget {
                        max_extents,
                        max_bytes,
                    },
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn merge_is_minimal_against_brute_force((p, params, budget) in small_case()) {
            let want = brute_force(IdKind::Uid, &p, &params, &budget);
            match fit(IdKind::Uid, &p, &params, &budget) {
                Ok(f) => {
                    prop_assert!(f.minimal);
                    prop_assert!(f.effective.is_superset(&p));
                    let exposed = f.effective.difference(&p).len();
                    prop_assert_eq!(Some(exposed), want);
                    let (extents, _) = layout(IdKind::Uid, &f.effective, params.base_range().unwrap());
                    prop_assert!(budget.admits(&extents));
                }
                Err(MapError::OverBudget { .. }) => prop_assert_eq!(want, None),
                Err(e) => prop_assert!(false, "{}", e),
            }
        }
    }
}
