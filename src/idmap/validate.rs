//! Validation of any map of one kind, as found in a CT config: what the kernel and LXC would refuse.
//!
//! Owns the list of problems ([`MapProblem`]); it does not know where the map came from (`check`
//! adds the CT and node) nor whether subids cover it (`subid`).

use crate::ids::IdKind;

use super::budget::{LXC_MAX_BYTES, text_len};
use super::extent::Extent;

/// One reason the kernel would refuse a map (or the CT's root would be unmapped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapProblem {
    #[error("extent `{extent}` is empty or runs past id 4294967294")]
    BadExtent { extent: Extent },
    #[error("extents `{first}` and `{second}` map overlapping inside ids")]
    InsideOverlap { first: Extent, second: Extent },
    #[error("extents `{first}` and `{second}` map to overlapping host ids")]
    OutsideOverlap { first: Extent, second: Extent },
    #[error("the {kind} map has {count} extents: the kernel takes at most {max}")]
    TooManyExtents {
        kind: IdKind,
        count: usize,
        max: u32,
    },
    #[error(
        "the {kind} map text is {bytes} bytes: LXC hands newuidmap at most {} bytes of map (the kernel takes under 4096)", LXC_MAX_BYTES - 1
    )]
    TextTooLong { kind: IdKind, bytes: usize },
    #[error("the {kind} map leaves the container's root (inside id 0) unmapped")]
    InsideZeroUnmapped { kind: IdKind },
}

/// Every problem of a map of `kind` (extents of another kind are ignored), in a stable order:
/// bad extents, inside overlaps, outside overlaps, budget, inside 0. Empty when the map is valid.
pub fn validate(kind: IdKind, extents: &[Extent], max_extents: u32) -> Vec<MapProblem> {
    let mine: Vec<Extent> = extents.iter().filter(|e| e.kind == kind).copied().collect();
    let mut problems = Vec::new();
    let mut good = Vec::with_capacity(mine.len());
    for &e in &mine {
        if e.inside_range().is_some() && e.outside_range().is_some() {
            good.push(e);
        } else {
            problems.push(MapProblem::BadExtent { extent: e });
        }
    }
    overlaps(
        &good,
        |e| (e.inside, e.count),
        &mut problems,
        |first, second| MapProblem::InsideOverlap { first, second },
    );
    overlaps(
        &good,
        |e| (e.outside, e.count),
        &mut problems,
        |first, second| MapProblem::OutsideOverlap { first, second },
    );
    if mine.len() > max_extents as usize {
        problems.push(MapProblem::TooManyExtents {
            kind,
            count: mine.len(),
            max: max_extents,
        });
    }
    let bytes = text_len(&mine);
    if bytes >= LXC_MAX_BYTES {
        problems.push(MapProblem::TextTooLong { kind, bytes });
    }
    if !good.iter().any(|e| e.inside == 0) {
        problems.push(MapProblem::InsideZeroUnmapped { kind });
    }
    problems
}

/// Pushes one problem per extent that overlaps an earlier one (by start) on the side `side` picks,
/// naming the earlier extent that reaches furthest.
fn overlaps(
    extents: &[Extent],
    side: impl Fn(&Extent) -> (u32, u32),
    problems: &mut Vec<MapProblem>,
    problem: impl Fn(Extent, Extent) -> MapProblem,
) {
    let mut sorted = extents.to_vec();
    sorted.sort_by_key(|e| side(e));
    let mut reach: Option<(u64, Extent)> = None;
    for e in sorted {
        let (start, count) = side(&e);
        let end = u64::from(start) + u64::from(count);
        match reach {
            Some((far, first)) if u64::from(start) < far => {
                problems.push(problem(first, e));
                if end > far {
                    reach = Some((end, e));
                }
            }
            _ => reach = Some((end, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(lines: &[&str]) -> Vec<Extent> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    #[test]
    fn seed_map_is_valid() {
        let m = map(&["u 0 100000 1005", "u 1005 1005 1", "u 1006 101006 64530"]);
        assert_eq!(validate(IdKind::Uid, &m, 340), []);
        // Another kind's extents do not count: the gid map here is empty.
        assert_eq!(
            validate(IdKind::Gid, &m, 340),
            [MapProblem::InsideZeroUnmapped { kind: IdKind::Gid }]
        );
    }

    #[test]
    fn inside_overlap_names_both() {
        // Both sides overlap (REAL-STACK: the kernel refuses this).
        let m = map(&["u 0 100000 10", "u 5 100005 1"]);
        let p = validate(IdKind::Uid, &m, 340);
        assert_eq!(
            p,
            [
                MapProblem::InsideOverlap {
                    first: m[0],
                    second: m[1]
                },
                MapProblem::OutsideOverlap {
                    first: m[0],
                    second: m[1]
                },
            ]
        );
        assert_eq!(
            p[0].to_string(),
            "extents `u 0 100000 10` and `u 5 100005 1` map overlapping inside ids"
        );
    }

    #[test]
    fn outside_overlap_only() {
        let m = map(&["u 0 100000 10", "u 20 100005 1"]);
        assert_eq!(
            validate(IdKind::Uid, &m, 340),
            [MapProblem::OutsideOverlap {
                first: m[0],
                second: m[1]
            }]
        );
    }

    #[test]
    fn touching_is_not_overlap() {
        // n and n + 1 on both sides.
        let m = map(&["u 0 100000 10", "u 10 100010 1", "u 11 5 1"]);
        assert_eq!(validate(IdKind::Uid, &m, 340), []);
        let m = map(&["u 0 100000 10", "u 9 100010 1"]);
        assert!(matches!(
            validate(IdKind::Uid, &m, 340)[..],
            [MapProblem::InsideOverlap { .. }]
        ));
    }

    #[test]
    fn too_many_extents() {
        let m: Vec<Extent> = (0..341)
            .map(|i| Extent::new(IdKind::Uid, i, 2000 + i * 2, 1))
            .collect();
        assert_eq!(validate(IdKind::Uid, &m[..340], 340), []);
        assert_eq!(
            validate(IdKind::Uid, &m, 340),
            [MapProblem::TooManyExtents {
                kind: IdKind::Uid,
                count: 341,
                max: 340
            }]
        );
        assert!(
            validate(IdKind::Uid, &m[..5], 4)[0]
                .to_string()
                .contains("at most 4")
        );
    }

    #[test]
    fn text_too_long() {
        // The base line (14 bytes), 225 lines of 18 bytes (4064), then 14 bytes: 4078 fit; one
        // more byte (4079) does not, though the kernel alone would take it.
        let g = IdKind::Gid;
        let mut m: Vec<Extent> = (0..225)
            .map(|i| Extent::new(g, 1_000_000 + i * 2, 1_000_000 + i * 2, 1))
            .chain([Extent::new(g, 0, 100000, 1000)])
            .collect();
        m.push(Extent::new(g, 1000, 1000, 100));
        assert_eq!(text_len(&m), 4078);
        assert_eq!(validate(g, &m, 340), []);
        m.pop();
        m.push(Extent::new(g, 1000, 1000, 1000));
        assert_eq!(text_len(&m), 4079);
        let p = validate(g, &m, 340);
        assert_eq!(
            p,
            [MapProblem::TextTooLong {
                kind: g,
                bytes: 4079
            }]
        );
        assert!(p[0].to_string().contains("at most 4078 bytes"), "{}", p[0]);
    }

    #[test]
    fn inside_zero_unmapped() {
        let m = map(&["u 1 100001 65535"]);
        assert_eq!(
            validate(IdKind::Uid, &m, 340),
            [MapProblem::InsideZeroUnmapped { kind: IdKind::Uid }]
        );
        assert_eq!(validate(IdKind::Uid, &[], 340).len(), 1);
    }

    #[test]
    fn bad_extent() {
        let e = Extent::new(IdKind::Uid, 0, 100000, 0);
        let p = validate(IdKind::Uid, &[e], 340);
        assert_eq!(p[0], MapProblem::BadExtent { extent: e });
    }
}
