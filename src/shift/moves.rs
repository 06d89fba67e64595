//! Which host ids move when a CT's map changes: the inside ids the old and the new map both map,
//! to different host ids (from → to). Pure.
//!
//! The old map is idfed's record of the map it replaced when it can be trusted; otherwise it is
//! inferred from the current one: an inside id `i` the current map passes through was at
//! `base + i` before, and an inside id at or above `min_id` the current map gives `base + i` may
//! have been passed through before (host `i`: no other map of the CT explains an entry owned by
//! it). Ids whose host id no map explains are never moved.

use std::fmt;

use serde::Serialize;

use crate::idmap::Extent;
use crate::ids::{IdKind, IdRange, IdSet};

/// Where a move comes from, which is how sure it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MoveSource {
    /// idfed's record of the map it replaced.
    Record,
    /// The current map passes the inside id through: before, it was at `base + id`.
    Passthrough,
    /// The current map no longer passes the inside id through (inferred: only listed when an
    /// entry is found owned by the old host id).
    Removed,
}

/// A run of consecutive inside ids whose host ids move together:
/// `inside..inside+count` was `from..from+count` and becomes `to..to+count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MoveRange {
    pub kind: IdKind,
    pub inside: u32,
    pub from: u32,
    pub to: u32,
    pub count: u32,
    pub source: MoveSource,
}

impl MoveRange {
    fn old_hosts(self) -> IdRange {
        IdRange::new(self.from, self.from + self.count).expect("count > 0")
    }

    fn new_hosts(self) -> IdRange {
        IdRange::new(self.to, self.to + self.count).expect("count > 0")
    }
}

impl fmt::Display for MoveRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        };
        if self.count == 1 {
            write!(
                f,
                "{kind} {}: host {} → {}",
                self.inside, self.from, self.to
            )
        } else {
            let last = |s: u32| s + (self.count - 1);
            write!(
                f,
                "{kind} {}-{}: host {}-{} → {}-{}",
                self.inside,
                last(self.inside),
                self.from,
                last(self.from),
                self.to,
                last(self.to)
            )
        }
    }
}

/// Why a set of moves cannot be carried out safely.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MovesError {
    /// A host id is both moved away and moved to: a rerun could not tell entries already moved
    /// from entries still to move.
    #[error(
        "host {kind} {id} is both a host id that moves and one that is moved to: ownership alone cannot say which entries were moved, so shift refuses"
    )]
    Chain { kind: &'static str, id: u32 },
}

/// The moves between two maps (each holding extents of both kinds, in any order): one sweep over
/// both sorted by kind and inside id (`plan` asks this of every CT whose map changes).
pub(crate) fn between(old: &[Extent], new: &[Extent]) -> Vec<MoveRange> {
    let sorted = |m: &[Extent]| {
        let mut v = m.to_vec();
        v.sort_by_key(|e| (e.kind, e.inside));
        v
    };
    let (old, new) = (sorted(old), sorted(new));
    let end = |e: &Extent| u64::from(e.inside) + u64::from(e.count);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while let (Some(o), Some(n)) = (old.get(i), new.get(j)) {
        if o.kind != n.kind {
            if o.kind < n.kind {
                i += 1;
            } else {
                j += 1;
            }
            continue;
        }
        let start = o.inside.max(n.inside);
        let stop = end(o).min(end(n));
        if u64::from(start) < stop {
            let from = u64::from(o.outside) + u64::from(start - o.inside);
            let to = u64::from(n.outside) + u64::from(start - n.inside);
            if from != to {
                out.push(MoveRange {
                    kind: o.kind,
                    inside: start,
                    from: u32::try_from(from).expect("extent within u32"),
                    to: u32::try_from(to).expect("extent within u32"),
                    count: u32::try_from(stop - u64::from(start)).expect("within u32"),
                    source: MoveSource::Record,
                });
            }
        }
        // The extent that ends first has met every extent of the other map it overlaps.
        if end(o) <= end(n) {
            i += 1;
        } else {
            j += 1;
        }
    }
    normalize(out)
}

/// The moves to `new` from any of `olds` (the most trusted first): each old map's moves, but
/// not of old host ids an earlier map already moves (two maps disagreeing on one host id: the
/// first wins), each once.
pub(crate) fn since(olds: &[&[Extent]], new: &[Extent]) -> Vec<MoveRange> {
    let mut taken = [IdSet::new(), IdSet::new()];
    let mut out: Vec<MoveRange> = Vec::new();
    for old in olds {
        for m in between(old, new) {
            let seen = &mut taken[slot(m.kind)];
            let free = IdSet::from(m.old_hosts()).difference(seen);
            for r in free.ranges() {
                let skip = r.start() - m.from;
                out.push(MoveRange {
                    inside: m.inside + skip,
                    from: r.start(),
                    to: m.to + skip,
                    count: r.count(),
                    ..m
                });
            }
            seen.insert(m.old_hosts());
        }
    }
    normalize(out)
}

/// The moves inferred from the current map alone (see the module's text). `protected` ids are
/// never inferred as former passthroughs.
pub(crate) fn inferred(
    current: &[Extent],
    base: u32,
    size: u32,
    min_id: u32,
    protected: &IdSet,
) -> Vec<MoveRange> {
    let mut out = Vec::new();
    let limit = |e: &Extent| (u64::from(e.inside) + u64::from(e.count)).min(u64::from(size));
    for e in current {
        let end = limit(e);
        if u64::from(e.inside) >= end {
            continue;
        }
        let count = u32::try_from(end - u64::from(e.inside)).expect("below size");
        if e.is_passthrough() {
            if let Some(from) = e.inside.checked_add(base) {
                out.push(MoveRange {
                    kind: e.kind,
                    inside: e.inside,
                    from,
                    to: e.inside,
                    count,
                    source: MoveSource::Passthrough,
                });
            }
        } else if u64::from(e.outside) == u64::from(e.inside) + u64::from(base) {
            let Some(ids) = IdRange::new(e.inside.max(min_id), e.inside + count) else {
                continue;
            };
            let mut candidates = IdSet::new();
            candidates.insert(ids);
            for r in candidates.difference(protected).ranges() {
                out.push(MoveRange {
                    kind: e.kind,
                    inside: r.start(),
                    from: r.start(),
                    to: r.start() + base,
                    count: r.count(),
                    source: MoveSource::Removed,
                });
            }
        }
    }
    normalize(out)
}

/// Sorted by kind and inside id, adjacent runs that continue each other merged.
fn normalize(mut moves: Vec<MoveRange>) -> Vec<MoveRange> {
    moves.sort_by_key(|m| (m.kind, m.inside));
    let mut out: Vec<MoveRange> = Vec::with_capacity(moves.len());
    for m in moves {
        if let Some(last) = out.last_mut()
            && last.kind == m.kind
            && last.source == m.source
            && u64::from(last.inside) + u64::from(last.count) == u64::from(m.inside)
            && u64::from(last.from) + u64::from(last.count) == u64::from(m.from)
            && u64::from(last.to) + u64::from(last.count) == u64::from(m.to)
        {
            last.count += m.count;
            continue;
        }
        out.push(m);
    }
    out
}

/// The moves of one run, indexed by host id for the walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MoveTable {
    /// Per kind (uid, gid): the moves sorted by `from`.
    by_from: [Vec<MoveRange>; 2],
}

fn slot(kind: IdKind) -> usize {
    match kind {
        IdKind::Uid => 0,
        IdKind::Gid => 1,
    }
}

impl MoveTable {
    /// Indexes `moves`.
    ///
    /// # Errors
    /// [`MovesError::Chain`] when a host id is both moved from and moved to.
    pub(crate) fn new(moves: &[MoveRange]) -> Result<MoveTable, MovesError> {
        let mut table = MoveTable::default();
        for kind in IdKind::ALL {
            let mut from = IdSet::new();
            let mut to = IdSet::new();
            let mut list: Vec<MoveRange> =
                moves.iter().filter(|m| m.kind == kind).copied().collect();
            for m in &list {
                from.insert(m.old_hosts());
                to.insert(m.new_hosts());
            }
            if let Some(id) = from.intersection(&to).first() {
                return Err(MovesError::Chain {
                    kind: match kind {
                        IdKind::Uid => "uid",
                        IdKind::Gid => "gid",
                    },
                    id,
                });
            }
            list.sort_by_key(|m| m.from);
            table.by_from[slot(kind)] = list;
        }
        Ok(table)
    }

    /// Every move, uids first, by host id.
    pub(crate) fn moves(&self) -> impl Iterator<Item = &MoveRange> {
        self.by_from.iter().flatten()
    }

    /// The host id `host` of `kind` moves to, if it moves.
    pub(crate) fn lookup(&self, kind: IdKind, host: u32) -> Option<u32> {
        let list = &self.by_from[slot(kind)];
        let i = list.partition_point(|m| m.from <= host);
        let m = list.get(i.checked_sub(1)?)?;
        (host - m.from < m.count).then(|| m.to + (host - m.from))
    }

    /// The inside id whose old host id is `host`, when it moves.
    #[cfg(test)]
    pub(crate) fn inside_of(&self, kind: IdKind, host: u32) -> Option<(u32, MoveSource)> {
        let list = &self.by_from[slot(kind)];
        let i = list.partition_point(|m| m.from <= host);
        let m = list.get(i.checked_sub(1)?)?;
        (host - m.from < m.count).then(|| (m.inside + (host - m.from), m.source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(lines: &[(char, u32, u32, u32)]) -> Vec<Extent> {
        lines
            .iter()
            .map(|&(k, i, o, c)| {
                let kind = if k == 'u' { IdKind::Uid } else { IdKind::Gid };
                Extent::new(kind, i, o, c)
            })
            .collect()
    }

    fn default_map() -> Vec<Extent> {
        map(&[('u', 0, 100000, 65536), ('g', 0, 100000, 65536)])
    }

    fn map_1005() -> Vec<Extent> {
        map(&[
            ('u', 0, 100000, 1005),
            ('u', 1005, 1005, 1),
            ('u', 1006, 101006, 64530),
            ('g', 0, 100000, 1005),
            ('g', 1005, 1005, 1),
            ('g', 1006, 101006, 64530),
        ])
    }

    fn mv(
        kind: IdKind,
        inside: u32,
        from: u32,
        to: u32,
        count: u32,
        source: MoveSource,
    ) -> MoveRange {
        MoveRange {
            kind,
            inside,
            from,
            to,
            count,
            source,
        }
    }

    #[test]
    fn passing_through_moves_base_plus_id_to_id() {
        assert_eq!(
            between(&default_map(), &map_1005()),
            [
                mv(IdKind::Uid, 1005, 101005, 1005, 1, MoveSource::Record),
                mv(IdKind::Gid, 1005, 101005, 1005, 1, MoveSource::Record)
            ]
        );
        // And back when the passthrough is removed.
        assert_eq!(
            between(&map_1005(), &default_map())[0],
            mv(IdKind::Uid, 1005, 1005, 101005, 1, MoveSource::Record)
        );
        assert!(between(&map_1005(), &map_1005()).is_empty());
        // In any order (a hand-written config may list gids first).
        let mut reversed = map_1005();
        reversed.reverse();
        assert_eq!(
            between(&default_map(), &reversed),
            between(&default_map(), &map_1005())
        );
    }

    /// Two switches without a shift between: the files may be owned as either old map gave.
    #[test]
    fn moves_since_several_maps() {
        let none = default_map();
        let one = map_1005();
        let two = map(&[
            ('u', 0, 100000, 1005),
            ('u', 1005, 1005, 2),
            ('u', 1007, 101007, 64529),
        ]);
        // {} -> {1005} -> {1005, 1006}: 1005's files are still at 101005 (the CT ran under the
        // first map), 1006's too.
        assert_eq!(
            since(&[&one, &none], &two),
            [mv(IdKind::Uid, 1005, 101005, 1005, 2, MoveSource::Record)]
        );
        assert_eq!(
            between(&one, &two),
            [mv(IdKind::Uid, 1006, 101006, 1006, 1, MoveSource::Record)]
        );
        // {} -> {1005} -> {}: what the CT wrote under the second map moves back; the first
        // map's files are where they belong.
        assert_eq!(
            since(&[&one, &none], &none),
            [
                mv(IdKind::Uid, 1005, 1005, 101005, 1, MoveSource::Record),
                mv(IdKind::Gid, 1005, 1005, 101005, 1, MoveSource::Record),
            ]
        );
        // Two maps giving one host id to different inside ids: the first (most recent) wins.
        // (`odd` gave inside 1005 host 101006, which the default map gives inside 1006.)
        let odd = map(&[('u', 0, 100000, 1005), ('u', 1005, 101006, 1)]);
        assert_eq!(
            since(&[&none, &odd], &two)
                .into_iter()
                .filter(|m| m.kind == IdKind::Uid)
                .collect::<Vec<_>>(),
            [mv(IdKind::Uid, 1005, 101005, 1005, 2, MoveSource::Record)]
        );
    }

    #[test]
    fn ids_unmapped_on_either_side_do_not_move() {
        // A hole (inside 1005 unmapped in the new map) has nowhere to go.
        let holed = map(&[('u', 0, 100000, 1005), ('u', 1006, 101006, 64530)]);
        assert!(between(&default_map(), &holed).is_empty());
        // A passthrough above the base range (inside 70000) was unmapped before.
        let high = map(&[('u', 0, 100000, 65536), ('u', 70000, 70000, 1)]);
        assert!(between(&default_map(), &high).is_empty());
    }

    #[test]
    fn ranges_merge_and_split_at_boundaries() {
        let new = map(&[
            ('u', 0, 100000, 2000),
            ('u', 2000, 2000, 11),
            ('u', 2011, 102011, 63525),
        ]);
        assert_eq!(
            between(&default_map(), &new),
            [mv(IdKind::Uid, 2000, 102000, 2000, 11, MoveSource::Record)]
        );
    }

    #[test]
    fn inference_from_the_current_map() {
        let moves = inferred(&map_1005(), 100000, 65536, 1000, &IdSet::new());
        assert_eq!(
            moves,
            [
                mv(IdKind::Uid, 1000, 1000, 101000, 5, MoveSource::Removed),
                mv(IdKind::Uid, 1005, 101005, 1005, 1, MoveSource::Passthrough),
                mv(IdKind::Uid, 1006, 1006, 101006, 64530, MoveSource::Removed),
                mv(IdKind::Gid, 1000, 1000, 101000, 5, MoveSource::Removed),
                mv(IdKind::Gid, 1005, 101005, 1005, 1, MoveSource::Passthrough),
                mv(IdKind::Gid, 1006, 1006, 101006, 64530, MoveSource::Removed),
            ]
        );
        // min_id bounds the former passthroughs, protected ids are never one.
        let mut protected = IdSet::new();
        protected.insert_id(1002);
        let moves = inferred(&map_1005()[..3], 100000, 65536, 1001, &protected);
        let removed: Vec<(u32, u32)> = moves
            .iter()
            .filter(|m| m.source == MoveSource::Removed)
            .map(|m| (m.inside, m.count))
            .collect();
        assert_eq!(removed, [(1001, 1), (1003, 2), (1006, 64530)]);
        // A passthrough above size was never at base + id.
        let high = map(&[('u', 0, 100000, 65536), ('u', 70000, 70000, 1)]);
        assert!(
            inferred(&high, 100000, 65536, 1000, &IdSet::new())
                .iter()
                .all(|m| m.source == MoveSource::Removed)
        );
    }

    #[test]
    fn table_lookups_at_the_edges() {
        let t = MoveTable::new(&inferred(&map_1005(), 100000, 65536, 1000, &IdSet::new())).unwrap();
        for (host, want) in [
            (999, None),
            (1000, Some(101000)),
            (1004, Some(101004)),
            (1005, None),
            (1006, Some(101006)),
            (65535, Some(165535)),
            (65536, None),
            (101004, None),
            (101005, Some(1005)),
            (101006, None),
            (u32::MAX, None),
        ] {
            assert_eq!(t.lookup(IdKind::Uid, host), want, "{host}");
        }
        assert_eq!(
            t.inside_of(IdKind::Gid, 101005),
            Some((1005, MoveSource::Passthrough))
        );
    }

    #[test]
    fn chains_are_refused() {
        let err = MoveTable::new(&[
            mv(IdKind::Gid, 5, 10, 20, 1, MoveSource::Record),
            mv(IdKind::Gid, 6, 20, 30, 1, MoveSource::Record),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "host gid 20 is both a host id that moves and one that is moved to: ownership alone cannot say which entries were moved, so shift refuses"
        );
        // The same ids in different kinds are no chain.
        MoveTable::new(&[
            mv(IdKind::Uid, 5, 10, 20, 1, MoveSource::Record),
            mv(IdKind::Gid, 6, 20, 30, 1, MoveSource::Record),
        ])
        .unwrap();
    }

    /// A map of idfed's shape passing `ids` (sorted, distinct, below size) through.
    fn shaped(ids: &[u32]) -> Vec<Extent> {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &id in ids {
            if id > next {
                out.push(Extent::new(IdKind::Uid, next, 100000 + next, id - next));
            }
            out.push(Extent::new(IdKind::Uid, id, id, 1));
            next = id + 1;
        }
        if next < 65536 {
            out.push(Extent::new(IdKind::Uid, next, 100000 + next, 65536 - next));
        }
        out
    }

    proptest! {
        /// Between two maps of idfed's shape: a host id moves exactly when its inside id is
        /// passed through on one side only, and the moves never chain.
        #[test]
        fn moves_are_the_symmetric_difference(
            old in proptest::collection::btree_set(1000u32..1100, 0..8),
            new in proptest::collection::btree_set(1000u32..1100, 0..8),
        ) {
            let old_ids: Vec<u32> = old.iter().copied().collect();
            let new_ids: Vec<u32> = new.iter().copied().collect();
            let moves = between(&shaped(&old_ids), &shaped(&new_ids));
            let table = MoveTable::new(&moves).unwrap();
            for i in 990u32..1110 {
                let want = match (old.contains(&i), new.contains(&i)) {
                    (false, true) => Some((100000 + i, i)),
                    (true, false) => Some((i, 100000 + i)),
                    _ => None,
                };
                let (host_old, _) = want.unwrap_or((if old.contains(&i) { i } else { 100000 + i }, 0));
                prop_assert_eq!(table.lookup(IdKind::Uid, host_old), want.map(|w| w.1));
            }
        }
    }
}
