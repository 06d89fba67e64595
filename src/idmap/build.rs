//! Building one kind of a CT's map from its passthrough ids (DESIGN.md section 6).
//!
//! Owns the map rules and the parameters they take ([`MapParams`]): which ids may pass through,
//! how the base range is laid around them, which inside ids stay unmapped (holes). Fitting the map
//! into the kernel's budget is `budget`'s job; this module calls it and reports what it exposed
//! or left unmapped.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{ID_LIMIT, IdKind, IdRange, IdSet};

use super::budget::{self, Budget, Fit};
use super::extent::Extent;
use super::warning::MapWarning;

/// What to do with a map over the kernel's budget (DESIGN.md section 6, rule 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverBudget {
    /// Leave inside ids between passthroughs unmapped (the fewest); grant nothing.
    #[default]
    Unmap,
    /// Merge passthrough ranges across gaps (exposing the fewest ids).
    Expose,
}

impl OverBudget {
    pub fn as_str(self) -> &'static str {
        match self {
            OverBudget::Unmap => "unmap",
            OverBudget::Expose => "expose",
        }
    }
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is neither `unmap` nor `expose`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an over-budget policy: expected `unmap` or `expose`")]
pub struct OverBudgetParseError(pub String);

impl FromStr for OverBudget {
    type Err = OverBudgetParseError;

    fn from_str(s: &str) -> Result<OverBudget, OverBudgetParseError> {
        match s {
            "unmap" => Ok(OverBudget::Unmap),
            "expose" => Ok(OverBudget::Expose),
            _ => Err(OverBudgetParseError(s.to_string())),
        }
    }
}

/// The parameters of a map: base range and policy. `Default` is Proxmox VE's unprivileged CT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapParams {
    /// Host id of the CT's id 0.
    pub base: u32,
    /// Ids in the base range: inside ids `[0, size)` map to `[base, base + size)`.
    pub size: u32,
    /// Lowest id that may pass through; id 0 never may.
    pub min_id: u32,
    /// Most extents in one map (the kernel takes at most 340).
    pub max_extents: u32,
    /// Ids that never pass through, whatever a share or a merge says (`cluster.protected`).
    pub protected: IdSet,
    /// What to do when the map is over the kernel's budget (`cluster.over_budget`).
    pub over_budget: OverBudget,
}

impl Default for MapParams {
    fn default() -> MapParams {
        MapParams {
            base: 100_000,
            size: 65_536,
            min_id: 1000,
            max_extents: budget::KERNEL_MAX_EXTENTS,
            protected: IdSet::new(),
            over_budget: OverBudget::default(),
        }
    }
}

impl MapParams {
    /// The host ids of the base range, `[base, base + size)`.
    ///
    /// # Errors
    /// When the range is empty, starts at host id 0 or runs past the last id.
    pub fn base_range(&self) -> Result<IdRange, MapError> {
        if self.base == 0 || self.size == 0 {
            return Err(MapError::BadBaseRange {
                base: self.base,
                size: self.size,
            });
        }
        IdRange::with_count(u64::from(self.base), u64::from(self.size)).map_err(|_| {
            MapError::BadBaseRange {
                base: self.base,
                size: self.size,
            }
        })
    }
}

/// Why a map could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("cannot pass through {kind} `0`: it is the host's root; expected ids from {min_id} up")]
    Root { kind: IdKind, min_id: u32 },
    #[error(
        "cannot pass through {kind} `{range}`: ids below {min_id} (`min_id`) are never passed through; expected ids from {min_id} up"
    )]
    BelowMin {
        kind: IdKind,
        range: IdRange,
        min_id: u32,
    },
    #[error(
        "cannot pass through {kind} `{id}`: it is the host id of the container's root (base {id}); expected an id outside it"
    )]
    BaseRoot { kind: IdKind, id: u32 },
    #[error(
        "the base range (base `{base}`, size `{size}`) is not usable: expected a base and a size of at least 1 with base + size at most 4294967295"
    )]
    BadBaseRange { base: u32, size: u32 },
    #[error(
        "the max_extents `{max_extents}` is out of range: expected 1 to {}",
        budget::KERNEL_MAX_EXTENTS
    )]
    BadMaxExtents { max_extents: u32 },
    #[error(
        "the {kind} map cannot fit the kernel's budget ({max_extents} extents, under {max_bytes} bytes) even with every passthrough range merged that may be: it needs {extents} extents, {bytes} bytes"
    )]
    OverBudget {
        kind: IdKind,
        extents: usize,
        bytes: usize,
        max_extents: u32,
        max_bytes: usize,
    },
    #[error(
        "the {kind} map does not fit the kernel's budget ({max_extents} extents, under {max_bytes} bytes) without exposing ids: its {ranges} passthrough ranges need {extents} extents, {bytes} bytes even with every inside id between them unmapped; about {fitting} such ranges would fit (`over_budget = \"expose\"` merges ranges instead)"
    )]
    DoesNotFit {
        kind: IdKind,
        ranges: usize,
        extents: usize,
        bytes: usize,
        max_extents: u32,
        max_bytes: usize,
        fitting: usize,
    },
}

/// A built map of one kind and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltMap {
    pub kind: IdKind,
    /// The extents, sorted by inside id, joined.
    pub extents: Vec<Extent>,
    /// The passthroughs of the map: the ones asked for and kept, plus `exposed`.
    pub passthrough: IdSet,
    /// Ids identity-mapped that were not asked for (merged in to fit the budget, `expose`).
    pub exposed: IdSet,
    /// Inside ids of the base range left unmapped because `base + id` is a passthrough.
    pub holes: IdSet,
    /// Inside ids left unmapped to fit the budget (`unmap`).
    pub unmapped: IdSet,
    /// Ids asked for that are protected: not passed through.
    pub withheld: IdSet,
    /// Is `exposed` proven the fewest ids any merge that fits could expose? Always: the fit is
    /// exact (the field stays for the JSON interface).
    pub minimal_merge: bool,
    /// What a human should know: holes, exposures, unmapped and withheld ids, one sentence each.
    pub warnings: Vec<MapWarning>,
}

impl BuiltMap {
    /// Every inside id of the base range the map leaves unmapped, for whatever reason (its base id
    /// is a passthrough, or it was left out to fit the budget): files owned by it show as nobody
    /// inside.
    pub fn unmapped_inside(&self) -> IdSet {
        self.holes.union(&self.unmapped)
    }
}

/// Checks a passthrough set against the policy of `params`.
///
/// # Errors
/// Id 0, an id below `min_id`, or the host id of the CT's root (`base`).
pub fn check_passthrough(
    kind: IdKind,
    passthrough: &IdSet,
    params: &MapParams,
) -> Result<(), MapError> {
    check_kept(kind, passthrough, params)?;
    for &r in passthrough.ranges() {
        if r.start() < params.min_id {
            let below = IdRange::new(r.start(), r.end().min(params.min_id)).unwrap_or(r);
            return Err(MapError::BelowMin {
                kind,
                range: below,
                min_id: params.min_id,
            });
        }
    }
    Ok(())
}

/// Checks passthroughs kept as they are (foreign ones, which may lie below `min_id`): never id 0
/// nor the base id.
fn check_kept(kind: IdKind, kept: &IdSet, params: &MapParams) -> Result<(), MapError> {
    if kept.first() == Some(0) {
        return Err(MapError::Root {
            kind,
            min_id: params.min_id.max(1),
        });
    }
    if kept.contains(params.base) {
        return Err(MapError::BaseRoot {
            kind,
            id: params.base,
        });
    }
    Ok(())
}

/// The map of `kind` that passes `wanted` and `kept` through, fitted into the kernel's budget.
///
/// `wanted` are the ids idfed grants (checked against `min_id`; protected ones are withheld);
/// `kept` are passthroughs already in the CT's map that idfed did not write (foreign, maybe below
/// `min_id`, like www-data's 33): kept exactly, never widened, never merged across when below
/// `min_id`. Every passthrough maps to itself; inside ids `[0, size)` not passed through map to
/// `base + id`, except those whose `base + id` is a passthrough (holes, reported). When the map is
/// over budget it is fitted by `params.over_budget` (see `budget`), exactly.
///
/// # Errors
/// A refused passthrough ([`check_passthrough`]), a bad base range or `max_extents`, or a map that
/// cannot fit ([`MapError::OverBudget`], [`MapError::DoesNotFit`]).
pub fn build(
    kind: IdKind,
    wanted: &IdSet,
    kept: &IdSet,
    params: &MapParams,
) -> Result<BuiltMap, MapError> {
    let asked = Asked::new(kind, wanted, kept, params)?;
    let fit = budget::fit(kind, &asked.ids, params, &params.budget())?;
    Ok(asked.finish(fit, params))
}

impl MapParams {
    /// The budget every map of these parameters must fit: `max_extents`, under
    /// [`budget::LXC_MAX_BYTES`].
    pub(crate) fn budget(&self) -> Budget {
        Budget {
            max_extents: self.max_extents as usize,
            max_bytes: budget::LXC_MAX_BYTES,
        }
    }
}

/// What a map of one kind is asked to pass through, checked against the policy.
pub(crate) struct Asked {
    pub(crate) kind: IdKind,
    /// The ids passed through as asked: the wanted ids granted and the kept ones.
    pub(crate) ids: IdSet,
    /// Ids asked for that are protected: not passed through.
    pub(crate) withheld: IdSet,
    /// The base range of `params` (checked).
    pub(crate) base_range: IdRange,
}

impl Asked {
    /// The ids of `wanted` (protected ones withheld) and `kept`, as [`build`] takes them.
    ///
    /// # Errors
    /// A refused passthrough ([`check_passthrough`]), a bad base range or `max_extents`.
    pub(crate) fn new(
        kind: IdKind,
        wanted: &IdSet,
        kept: &IdSet,
        params: &MapParams,
    ) -> Result<Asked, MapError> {
        let base_range = params.base_range()?;
        if params.max_extents == 0 || params.max_extents > budget::KERNEL_MAX_EXTENTS {
            return Err(MapError::BadMaxExtents {
                max_extents: params.max_extents,
            });
        }
        let withheld = wanted.intersection(&params.protected).difference(kept);
        let granted = wanted.difference(&withheld);
        check_passthrough(kind, &granted, params)?;
        check_kept(kind, kept, params)?;
        Ok(Asked {
            kind,
            ids: granted.union(kept),
            withheld,
            base_range,
        })
    }

    /// The map of a fit of these ids: its extents, what it exposed and left unmapped, and the
    /// warnings that say so.
    pub(crate) fn finish(self, fit: Fit, params: &MapParams) -> BuiltMap {
        let Asked {
            kind,
            ids: asked,
            withheld,
            base_range,
        } = self;
        let (extents, holes) = layout(kind, &fit.effective, base_range, &fit.unmapped);
        debug_assert!(params.budget().admits(&extents));
        let exposed = fit.effective.difference(&asked);
        let mut warnings = Vec::new();
        // One warning per finding and kind, naming every range: maps can have hundreds.
        if !holes.is_empty() {
            let hosts: IdSet = holes
                .ranges()
                .iter()
                .filter_map(|r| IdRange::new(r.start() + params.base, r.end() + params.base))
                .collect();
            warnings.push(MapWarning::Holes {
                kind,
                ids: holes.clone(),
                hosts,
            });
        }
        if !exposed.is_empty() {
            warnings.push(MapWarning::Exposed {
                kind,
                ids: exposed.clone(),
                max_extents: params.max_extents,
            });
        }
        if !fit.unmapped.is_empty() {
            warnings.push(MapWarning::Unmapped {
                kind,
                ids: fit.unmapped.clone(),
                max_extents: params.max_extents,
            });
        }
        if !withheld.is_empty() {
            warnings.push(MapWarning::Withheld {
                kind,
                ids: withheld.clone(),
            });
        }
        BuiltMap {
            kind,
            extents,
            passthrough: fit.effective,
            exposed,
            holes,
            unmapped: fit.unmapped,
            withheld,
            minimal_merge: true,
            warnings,
        }
    }
}

/// The extents for a passthrough set taken as is (no budget) with the inside ids of `unmapped`
/// left out, and the holes it leaves.
///
/// `passthrough` must not contain id 0 or `base_range.start()`, and `base_range` must be a valid
/// base range: [`build`] checks both.
pub(crate) fn layout(
    kind: IdKind,
    passthrough: &IdSet,
    base_range: IdRange,
    unmapped: &IdSet,
) -> (Vec<Extent>, IdSet) {
    let base = base_range.start();
    let (based, holes) = base_ids(passthrough, base_range);
    let based = based.difference(unmapped);
    let mut extents: Vec<Extent> = based
        .ranges()
        .iter()
        .map(|r| Extent::new(kind, r.start(), r.start() + base, r.count()))
        .chain(
            passthrough
                .ranges()
                .iter()
                .map(|r| Extent::new(kind, r.start(), r.start(), r.count())),
        )
        .collect();
    extents.sort_unstable_by_key(|e| e.inside);
    (join(extents), holes)
}

/// What a passthrough set leaves of the base range: the inside ids mapped to `base + id` (neither
/// a passthrough nor a hole), and the holes (inside ids not passed through whose host id
/// `base + id` is a passthrough: mapping them would map a host id twice).
pub(crate) fn base_ids(passthrough: &IdSet, base_range: IdRange) -> (IdSet, IdSet) {
    let base = base_range.start();
    let inside = IdRange::new(0, base_range.count()).expect("a base range is never empty");
    let holes: IdSet = passthrough
        .clip(base_range)
        .ranges()
        .iter()
        .filter_map(|r| IdRange::new(r.start() - base, r.end() - base))
        .collect::<IdSet>()
        .difference(passthrough);
    let based = IdSet::from(inside)
        .difference(passthrough)
        .difference(&holes);
    (based, holes)
}

/// Joins neighbours that are contiguous on both sides (input sorted by inside id).
pub(crate) fn join(extents: Vec<Extent>) -> Vec<Extent> {
    let mut out: Vec<Extent> = Vec::with_capacity(extents.len());
    for e in extents {
        if let Some(last) = out.last_mut() {
            let contiguous = last.kind == e.kind
                && u64::from(last.inside) + u64::from(last.count) == u64::from(e.inside)
                && u64::from(last.outside) + u64::from(last.count) == u64::from(e.outside)
                && u64::from(last.count) + u64::from(e.count) < u64::from(ID_LIMIT);
            if contiguous {
                last.count += e.count;
                continue;
            }
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::budget::Budget;

    fn set(ids: &[&str]) -> IdSet {
        ids.iter().map(|s| s.parse::<IdRange>().unwrap()).collect()
    }

    fn lines(map: &BuiltMap) -> Vec<String> {
        map.extents.iter().map(|e| e.to_string()).collect()
    }

    /// `build` with nothing kept.
    fn b(kind: IdKind, p: &IdSet, params: &MapParams) -> Result<BuiltMap, MapError> {
        build(kind, p, &IdSet::new(), params)
    }

    fn built(ids: &[&str]) -> BuiltMap {
        b(IdKind::Uid, &set(ids), &MapParams::default()).unwrap()
    }

    #[test]
    fn seed_example() {
        let m = built(&["1005"]);
        assert_eq!(
            lines(&m),
            ["u 0 100000 1005", "u 1005 1005 1", "u 1006 101006 64530"]
        );
        assert!(m.exposed.is_empty() && m.holes.is_empty() && m.warnings.is_empty());
        let g = b(IdKind::Gid, &set(&["1005"]), &MapParams::default()).unwrap();
        assert_eq!(g.extents[1].to_string(), "g 1005 1005 1");
    }

    #[test]
    fn empty_set_is_the_default_map() {
        assert_eq!(lines(&built(&[])), ["u 0 100000 65536"]);
    }

    #[test]
    fn boundary_table() {
        // (passthrough, expected lines, expected holes)
        let table: &[(&[&str], &[&str], &str)] = &[
            // min_id itself and min_id - 1 (the latter refused below).
            (
                &["1000"],
                &["u 0 100000 1000", "u 1000 1000 1", "u 1001 101001 64535"],
                "-",
            ),
            // Last inside id of the base range, and the first one past it.
            (&["65535"], &["u 0 100000 65535", "u 65535 65535 1"], "-"),
            (&["65536"], &["u 0 100000 65536", "u 65536 65536 1"], "-"),
            (
                &["65535-65536"],
                &["u 0 100000 65535", "u 65535 65535 2"],
                "-",
            ),
            // B - 1: just below the base range, no hole.
            (&["99999"], &["u 0 100000 65536", "u 99999 99999 1"], "-"),
            // B + 1: inside id 1 becomes a hole.
            (
                &["100001"],
                &["u 0 100000 1", "u 2 100002 65534", "u 100001 100001 1"],
                "1",
            ),
            // A collision in the middle of the base range.
            (
                &["100005"],
                &["u 0 100000 5", "u 6 100006 65530", "u 100005 100005 1"],
                "5",
            ),
            // B + S - 1: the last base id; its inside id 65535 is a hole.
            (
                &["165535"],
                &["u 0 100000 65535", "u 165535 165535 1"],
                "65535",
            ),
            // B + S: just past the base range, no hole.
            (&["165536"], &["u 0 100000 65536", "u 165536 165536 1"], "-"),
            // The last id there is.
            (
                &["4294967294"],
                &["u 0 100000 65536", "u 4294967294 4294967294 1"],
                "-",
            ),
            (
                &["4294967293-4294967294"],
                &["u 0 100000 65536", "u 4294967293 4294967293 2"],
                "-",
            ),
            // A passthrough inside [0, S) whose base id is also a passthrough: not a hole.
            (
                &["1005", "101005"],
                &[
                    "u 0 100000 1005",
                    "u 1005 1005 1",
                    "u 1006 101006 64530",
                    "u 101005 101005 1",
                ],
                "-",
            ),
        ];
        for (ids, want, holes) in table {
            let m = built(ids);
            assert_eq!(lines(&m), *want, "{ids:?}");
            assert_eq!(m.holes.to_string(), *holes, "{ids:?}");
            assert_eq!(
                m.warnings.len(),
                usize::from(!m.holes.is_empty()),
                "{ids:?}"
            );
        }
    }

    #[test]
    fn hole_warning_names_both_ids() {
        let m = built(&["100005"]);
        assert_eq!(
            m.warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "uids `5` inside the container stay unmapped: their base ids `100005` are passed through"
            ]
        );
    }

    #[test]
    fn refusals() {
        let p = MapParams::default();
        let err =
            |ids: &[&str], p: &MapParams| b(IdKind::Uid, &set(ids), p).unwrap_err().to_string();
        assert!(err(&["0"], &p).contains("`0`"));
        assert!(err(&["0-5000"], &p).contains("`0`"));
        let e = err(&["999"], &p);
        assert!(e.contains("`999`") && e.contains("from 1000"), "{e}");
        let e = err(&["990-1010"], &p);
        assert!(e.contains("`990-999`"), "{e}");
        assert!(b(IdKind::Uid, &set(&["1000"]), &p).is_ok());
        let e = err(&["100000"], &p);
        assert!(e.contains("`100000`") && e.contains("root"), "{e}");
        let e = err(
            &["1005"],
            &MapParams {
                base: 0,
                ..p.clone()
            },
        );
        assert!(e.contains("base range"), "{e}");
        let e = err(
            &["1005"],
            &MapParams {
                base: u32::MAX - 10,
                ..p.clone()
            },
        );
        assert!(e.contains("base range"), "{e}");
        let e = err(
            &["1005"],
            &MapParams {
                max_extents: 341,
                ..p.clone()
            },
        );
        assert!(e.contains("`341`"), "{e}");
        // min_id 0 still refuses id 0.
        assert!(
            err(
                &["0"],
                &MapParams {
                    min_id: 0,
                    ..p.clone()
                }
            )
            .contains("`0`")
        );
        assert!(
            b(
                IdKind::Uid,
                &set(&["1"]),
                &MapParams {
                    min_id: 0,
                    ..p.clone()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn base_range_at_the_top_of_the_id_space() {
        // base + size = 4294967295 exactly: the last base id is 4294967294.
        let top = MapParams {
            base: u32::MAX - 65536,
            ..MapParams::default()
        };
        assert_eq!(top.base_range().unwrap().last(), u32::MAX - 1);
        let m = b(IdKind::Gid, &set(&["4294967294"]), &top).unwrap();
        assert_eq!(
            lines(&m),
            ["g 0 4294901759 65535", "g 4294967294 4294967294 1"]
        );
        assert_eq!(m.holes.to_string(), "65535");
        let past = MapParams {
            base: u32::MAX - 65535,
            ..MapParams::default()
        };
        assert!(matches!(
            b(IdKind::Gid, &set(&["1005"]), &past),
            Err(MapError::BadBaseRange { .. })
        ));
    }

    #[test]
    fn byte_budget_binds_before_the_extent_limit() {
        // 400 ten-digit passthroughs: lines of 25 bytes and more, so under 200 fit in 4078 bytes.
        let p: IdSet = (0..400u32)
            .map(|i| IdRange::single(4_000_000_000 + 7919 * i).unwrap())
            .collect();
        let expose = MapParams {
            over_budget: OverBudget::Expose,
            ..MapParams::default()
        };
        let m = b(IdKind::Uid, &p, &expose).unwrap();
        let bytes = crate::idmap::budget::text_len(&m.extents);
        assert!(
            (4000..4079).contains(&bytes) && m.extents.len() < 200,
            "{bytes} {}",
            m.extents.len()
        );
        assert!(m.passthrough.is_superset(&p));
        assert!(!m.exposed.is_empty());
        assert!(
            m.warnings
                .iter()
                .any(|w| w.to_string().contains("passed through too"))
        );
        // Every gap is 7918 ids, so the fewest exposed ids is the fewest closed gaps.
        assert!(m.minimal_merge);
        assert_eq!(m.exposed.len() % 7918, 0);
        // No closure is unneeded: reopening any single closed gap is over budget again.
        let budget = Budget::default();
        let base_range = MapParams::default().base_range().unwrap();
        for &gap in m.exposed.ranges() {
            let reopened = m.passthrough.difference(&IdSet::from(gap));
            let (extents, _) = layout(IdKind::Uid, &reopened, base_range, &IdSet::new());
            assert!(!budget.admits(&extents), "{gap} need not be closed");
        }
        // Unmap has nothing between them to unmap: the map does not fit, said so.
        let e = b(IdKind::Uid, &p, &MapParams::default()).unwrap_err();
        assert!(matches!(e, MapError::DoesNotFit { ranges: 400, .. }), "{e}");
    }

    #[test]
    fn join_only_joins_contiguous_both_sides() {
        let k = IdKind::Uid;
        let j = join(vec![
            Extent::new(k, 0, 100, 5),
            Extent::new(k, 5, 105, 5),
            Extent::new(k, 10, 200, 5),
            Extent::new(k, 15, 206, 1),
        ]);
        assert_eq!(
            j,
            [
                Extent::new(k, 0, 100, 10),
                Extent::new(k, 10, 200, 5),
                Extent::new(k, 15, 206, 1)
            ]
        );
    }

    mod props {
        use super::*;
        use crate::idmap::fit_tests::arb_range;
        use crate::idmap::needs::{host_id, passthroughs};
        use crate::idmap::validate::validate;
        use proptest::prelude::*;

        fn arb_set() -> impl Strategy<Value = IdSet> {
            prop_oneof![
                prop::collection::vec(arb_range(), 0..40),
                prop::collection::vec(arb_range(), 200..450),
            ]
            .prop_map(|v| {
                let s: IdSet = v.into_iter().collect();
                s.difference(&IdSet::from(IdRange::single(100_000).unwrap()))
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(16))]
            #[test]
            fn every_map_is_kernel_proof(p in arb_set()) {
                let params = MapParams {
                    over_budget: OverBudget::Expose,
                    ..MapParams::default()
                };
                let m = b(IdKind::Uid, &p, &params).unwrap();
                // Injective on both sides, inside 0 mapped, within both limits.
                prop_assert_eq!(validate(IdKind::Uid, &m.extents, params.max_extents), vec![]);
                prop_assert!(Budget::default().admits(&m.extents));
                prop_assert_eq!(host_id(&m.extents, 0), Some(params.base));
                // Every passthrough maps to itself; exposure is exactly what was not asked for.
                let through = passthroughs(&m.extents);
                prop_assert!(through.is_superset(&p));
                prop_assert_eq!(&through.difference(&p), &m.exposed);
                prop_assert_eq!(&through, &m.passthrough);
                prop_assert_eq!(m.warnings.is_empty(), m.exposed.is_empty() && m.holes.is_empty());
                // Inside [0, S): mapped to base + id, or a passthrough, or a reported hole.
                for &r in m.holes.ranges() {
                    prop_assert!(host_id(&m.extents, r.start()).is_none());
                    prop_assert!(m.passthrough.contains(r.start() + params.base));
                }
                for e in &m.extents {
                    prop_assert!(e.is_passthrough() || e.outside == e.inside + params.base);
                }
                let mapped: u64 = m.extents.iter().map(|e| u64::from(e.count)).sum();
                let inside_passed = m.passthrough.clip(IdRange::new(0, params.size).unwrap()).len();
                prop_assert_eq!(
                    mapped,
                    u64::from(params.size) - m.holes.len() + m.passthrough.len() - inside_passed
                );
                // Joined: no two neighbours contiguous on both sides.
                prop_assert_eq!(join(m.extents.clone()), m.extents.clone());
            }
        }
    }
}
