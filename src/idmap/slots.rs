//! The shape of a passthrough set against the base range, as the budget fit sees it: the
//! passthrough ranges in order, the gaps between them, which gaps a merge may close, and the
//! base-range extents ("runs") that lie in each gap.
//!
//! Owns that analysis only; choosing what to merge (`expose`) or to leave unmapped (`unmap`) and
//! laying out the final extents (`build::layout`) are elsewhere.
//!
//! Why the gaps decouple: a run (inside ids `[x, x + c)` mapped to `base + x`) is a maximal run of
//! inside ids that are neither passthroughs nor holes, so it never crosses a passthrough range and
//! lies inside one gap (or before the first range or after the last). A merge may never close a gap
//! holding a host id of the base range (below), so holes never change; closing a gap therefore
//! removes exactly the runs inside it and touches nothing else.

use crate::ids::{IdRange, IdSet};

use super::build::{MapParams, base_ids};
use super::extent::{digits, line_len};

/// One gap between two neighbouring passthrough ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) ids: IdRange,
    /// May a merge close it? Never when it holds an id below `min_id`, a protected id, or a host
    /// id of the base range `[base, base + size)`: those are the base id (the CT's root) and the
    /// ids every unprivileged CT of the node maps its own users to, so exposing one would let this
    /// CT act as other CTs' users (and unmap its own inside id as a hole).
    pub(crate) closable: bool,
    /// The runs inside the gap: inside ids mapped to `base + id`, one extent each.
    pub(crate) runs: Vec<IdRange>,
}

/// A passthrough set cut into ranges, gaps and runs.
#[derive(Clone, Debug)]
pub(crate) struct Slots {
    pub(crate) base: u32,
    pub(crate) min_id: u32,
    pub(crate) ranges: Vec<IdRange>,
    /// `gaps[i]` lies between `ranges[i]` and `ranges[i + 1]`.
    pub(crate) gaps: Vec<Gap>,
    /// Runs outside every gap (before the first range, after the last): always in the map.
    pub(crate) outer_runs: Vec<IdRange>,
}

impl Slots {
    /// Cuts `passthrough` (checked by `build`: no id 0, not the base id) for `params`, whose base
    /// range must be valid.
    pub(crate) fn new(passthrough: &IdSet, params: &MapParams, base_range: IdRange) -> Slots {
        let (runs, _holes) = base_ids(passthrough, base_range);
        let ranges = passthrough.ranges().to_vec();
        let mut gaps: Vec<Gap> = ranges
            .windows(2)
            .map(|w| {
                let ids = IdRange::new(w[0].end(), w[1].start()).expect("ranges are coalesced");
                let closable = ids.start() >= params.min_id
                    && !params.protected.overlaps(ids)
                    && !ids.overlaps(base_range);
                Gap {
                    ids,
                    closable,
                    runs: Vec::new(),
                }
            })
            .collect();
        let mut outer_runs = Vec::new();
        for &run in runs.ranges() {
            // The number of ranges starting at or before the run: the run lies after range i - 1.
            let i = ranges.partition_point(|r| r.start() <= run.start());
            if i == 0 || i == ranges.len() {
                outer_runs.push(run);
            } else {
                gaps[i - 1].runs.push(run);
            }
        }
        Slots {
            base: base_range.start(),
            min_id: params.min_id,
            ranges,
            gaps,
            outer_runs,
        }
    }

    /// Bytes of a run's line.
    pub(crate) fn run_bytes(&self, run: IdRange) -> u32 {
        line_len(run.start(), run.start() + self.base, run.count())
    }

    /// Bytes of the runs of `runs`.
    pub(crate) fn runs_bytes(&self, runs: &[IdRange]) -> u32 {
        runs.iter().map(|&r| self.run_bytes(r)).sum()
    }

    /// Extents and bytes of the map as it stands (nothing merged, nothing unmapped).
    pub(crate) fn size(&self) -> (u32, u32) {
        let runs = self.outer_runs.len() + self.gaps.iter().map(|g| g.runs.len()).sum::<usize>();
        let bytes = self
            .ranges
            .iter()
            .map(|r| pass_bytes(r.start(), r.end()))
            .sum::<u32>()
            + self.runs_bytes(&self.outer_runs)
            + self
                .gaps
                .iter()
                .map(|g| self.runs_bytes(&g.runs))
                .sum::<u32>();
        ((self.ranges.len() + runs) as u32, bytes)
    }

    /// May the fit leave the run unmapped (`unmap`)? Only inside ids at or above `min_id` between
    /// two passthrough ranges.
    pub(crate) fn may_unmap(&self, run: IdRange) -> bool {
        run.start() >= self.min_id
    }
}

/// Bytes of the line of a passthrough range `[start, end)`: `"{start} {start} {count}\n"`.
pub(crate) fn pass_bytes(start: u32, end: u32) -> u32 {
    2 * digits(start.into()) + digits(u64::from(end - start)) + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> IdSet {
        ids.iter().map(|s| s.parse::<IdRange>().unwrap()).collect()
    }

    #[test]
    fn runs_fall_into_their_gaps() {
        let p = MapParams::default();
        let br = p.base_range().unwrap();
        // 1005 and 2000-2009 inside; 100010 makes inside 10 a hole; 200000 far above.
        let s = Slots::new(&set(&["1005", "2000-2009", "100010", "200000"]), &p, br);
        assert_eq!(s.ranges.len(), 4);
        assert_eq!(
            s.outer_runs,
            [
                IdRange::new(0, 10).unwrap(),
                IdRange::new(11, 1005).unwrap()
            ]
        );
        assert_eq!(s.gaps[0].runs, [IdRange::new(1006, 2000).unwrap()]);
        assert_eq!(s.gaps[1].runs, [IdRange::new(2010, 65536).unwrap()]);
        // 1006..2000 may close; 2010..100010 holds the base id; 100011..200000 base-range ids.
        assert!(s.gaps[0].closable);
        assert!(!s.gaps[1].closable);
        assert!(!s.gaps[2].closable);
        let (extents, bytes) = s.size();
        let (want, _) = super::super::build::layout(
            crate::ids::IdKind::Uid,
            &set(&["1005", "2000-2009", "100010", "200000"]),
            br,
            &IdSet::new(),
        );
        assert_eq!(extents as usize, want.len());
        assert_eq!(bytes as usize, super::super::budget::text_len(&want));
    }

    #[test]
    fn closable_boundaries() {
        let p = MapParams {
            protected: set(&["64045"]),
            ..MapParams::default()
        };
        let br = p.base_range().unwrap();
        let gap = |ids: &[&str]| Slots::new(&set(ids), &p, br).gaps[0].closable;
        // A gap starting at min_id - 1 crosses an id below min_id; one starting at min_id not.
        assert!(!gap(&["998", "1005"]));
        assert!(gap(&["999", "1005"]));
        // A protected id inside the gap, and just outside it.
        assert!(!gap(&["64000", "64046"]));
        assert!(gap(&["64000", "64045-64046"]));
        assert!(gap(&["64046", "64050"]));
        // Base range: the gap touching B - 1 .. B + 1 holds B; one ending at B does not.
        assert!(gap(&["99990", "99999"]));
        assert!(!gap(&["99990", "100001"]));
        assert!(!gap(&["165530", "165540"]));
        assert!(gap(&["165535", "165540"]));
    }
}
