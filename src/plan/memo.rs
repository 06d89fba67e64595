//! Maps built once per plan (issue 13): every distinct (ids, parameters) is built by
//! `idmap::build` once, and CTs that ask for it share the result. CTs using the same shares with
//! the same kept (foreign or adopted) ids ask for the same map, and at a site's scale thousands of
//! CTs use a few dozen share combinations.
//!
//! A plan has one [`MapParams`], so the key is the rest of what `build` takes: the kind, the ids
//! wanted and the ids kept. It is looked up first by the shares a CT uses (no union of their ids
//! to compute), then by the ids themselves, so different shares owned by the same ids share a map
//! too. The ids are not kept for that: a hash of them finds the maps built from the same hash,
//! and each one's ids are made again from its shares to compare (a copy of every distinct map's
//! wanted ids was a tenth of a 20,000-CT plan's memory).
//!
//! The parts of a built map a CT plan keeps are shared by every CT that asked for it (`Arc`s, a
//! pointer each): at 20,000 CTs, a copy of each CT's extents, exposed ids, passthroughs and
//! warnings (which name every exposed range) was most of `plan`'s memory.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::idmap::{self, BuiltMap, Extent, KindWarning, MapError, MapParams, MapWarning};
use crate::ids::{IdKind, IdSet};
use crate::resolve::ResolvedShare;

/// foldhash rather than std's SipHash: the keys are id sets of hundreds of ranges, hashed once
/// per CT, and come from idfed's own resolution, not from an adversary choosing collisions.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a CT plan keeps of a [`BuiltMap`], each part shared by the CTs that use the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SharedMap {
    /// The extents, sorted by inside id, joined.
    pub extents: Arc<[Extent]>,
    /// Ids passed through that nobody asked for.
    pub exposed: Arc<IdSet>,
    /// Inside ids of the base range left unmapped ([`BuiltMap::unmapped_inside`]).
    pub unmapped: Arc<IdSet>,
    /// The builder's warnings, each prefixed with the kind (`uids: ...`).
    pub warnings: Arc<[Arc<KindWarning>]>,
}

impl SharedMap {
    /// The passthroughs of the map: asked for, kept and exposed (the map's identity extents: not
    /// kept apart, CTs rarely need them).
    pub(crate) fn passthrough(&self) -> IdSet {
        idmap::passthroughs(&self.extents)
    }
}

impl From<BuiltMap> for SharedMap {
    fn from(map: BuiltMap) -> SharedMap {
        debug_assert_eq!(idmap::passthroughs(&map.extents), map.passthrough);
        SharedMap {
            unmapped: Arc::new(map.unmapped_inside()),
            extents: map.extents.into(),
            exposed: Arc::new(map.exposed),
            warnings: map
                .warnings
                .into_iter()
                .map(|w| Arc::new(KindWarning(w)))
                .collect(),
        }
    }
}

/// A built map or why it cannot be built, shared.
pub(crate) type Built = Result<SharedMap, MapError>;

/// A map and the shares (sorted indices) it was first built for.
type BuiltFor = (Vec<usize>, Built);

/// A kind, the shares used (sorted indices) and the kept ids.
type SharesKey = (IdKind, Vec<usize>, IdSet);

/// A built map and a CT's current map of its kind.
type CurrentKey = (SameMap, Vec<Extent>);

/// A shared map, compared and hashed by its pointer: the memo hands out one `Arc` per distinct
/// map, so the same pointer is the same map.
pub(crate) struct SameMap(pub(crate) Arc<[Extent]>);

impl PartialEq for SameMap {
    fn eq(&self, other: &SameMap) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SameMap {}

impl std::hash::Hash for SameMap {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).cast::<Extent>().hash(state);
    }
}

/// The maps of one plan, by what they were built from. Shared by the threads that plan CTs: each
/// distinct map is built by the first thread that asks for it while the others that ask wait.
pub(crate) struct MapMemo<'a> {
    params: &'a MapParams,
    shares: &'a [ResolvedShare],
    /// By kind, the shares used (sorted indices into `shares`) and the kept ids.
    by_shares: Mutex<FastMap<SharesKey, Arc<OnceLock<Built>>>>,
    /// By kind, a hash of the wanted ids (kept ones left out) and the kept ids: the maps built
    /// from ids of that hash, each with the shares it was built for.
    by_ids: Mutex<FastMap<(IdKind, u64, IdSet), Vec<BuiltFor>>>,
    /// Hashes the wanted ids for `by_ids`' keys (read without its lock).
    ids_hasher: foldhash::fast::RandomState,
    /// By built map and a CT's current map that differs from it: the current map, when it is
    /// as good a fit ([`MapMemo::current_or`]); read back by the first thread that asks.
    as_good: Mutex<FastMap<CurrentKey, Arc<OnceLock<Option<SharedMap>>>>>,
}

#[cfg(test)]
thread_local! {
    /// How many maps `MapMemo` built on this thread (a plan of one thread runs on its caller's).
    pub(crate) static BUILDS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The memo's tables stay consistent when a thread panics (each is changed by one insert), and
/// the panic reaches the planner anyway.
fn lock<T>(table: &Mutex<T>) -> MutexGuard<'_, T> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<'a> MapMemo<'a> {
    pub(crate) fn new(params: &'a MapParams, shares: &'a [ResolvedShare]) -> MapMemo<'a> {
        MapMemo {
            params,
            shares,
            by_shares: Mutex::default(),
            by_ids: Mutex::default(),
            ids_hasher: foldhash::fast::RandomState::default(),
            as_good: Mutex::default(),
        }
    }

    /// The map of `kind` passing through the ids of the shares `used` (indices into the plan's
    /// shares) and `kept` exactly: `idmap::build(kind, wanted - kept, kept, params)`, built the
    /// first time it is asked for.
    pub(crate) fn build(&self, kind: IdKind, used: &[usize], kept: &IdSet) -> Built {
        let mut used = used.to_vec();
        used.sort_unstable();
        used.dedup();
        let cell = lock(&self.by_shares)
            .entry((kind, used.clone(), kept.clone()))
            .or_default()
            .clone();
        cell.get_or_init(|| self.build_new(kind, &used, kept))
            .clone()
    }

    /// The map of the shares `used` (sorted) and `kept`, asked for the first time: the one built
    /// from the same ids for other shares, or built now.
    fn build_new(&self, kind: IdKind, used: &[usize], kept: &IdSet) -> Built {
        let wanted = wanted_by(self.shares, kind, used, kept);
        let hash = self.ids_hasher.hash_one(&wanted);
        let key = (kind, hash, kept.clone());
        let same_ids = |built: &[BuiltFor]| {
            built
                .iter()
                .find(|(shares, _)| wanted_by(self.shares, kind, shares, kept) == wanted)
                .map(|(_, built)| built.clone())
        };
        if let Some(found) = lock(&self.by_ids).get(&key).and_then(|b| same_ids(b)) {
            return found;
        }
        #[cfg(test)]
        BUILDS.with(|b| b.set(b.get() + 1));
        let built = idmap::build(kind, &wanted, kept, self.params).map(SharedMap::from);
        let mut by_ids = lock(&self.by_ids);
        let same_hash = by_ids.entry(key).or_default();
        // Another thread built the same ids for other shares meanwhile: one map is shared.
        if let Some(found) = same_ids(same_hash) {
            return found;
        }
        same_hash.push((used.to_vec(), built.clone()));
        built
    }

    /// `built`, the map [`MapMemo::build`] returned for the shares `used` and the `kept` ids, or
    /// the CT's `current` map of `kind` when that is as good a fit of the same ids: a fit `build`
    /// could have returned ([`idmap::as_built`]) that exposes as many ids and leaves as many
    /// inside ids unmapped. Over the budget, several fits are often equally minimal and which one
    /// the engine returns is up to its internals: a CT already on one of them keeps it, so that
    /// no version of idfed restarts it and shifts its files for nothing.
    pub(crate) fn current_or(
        &self,
        kind: IdKind,
        used: &[usize],
        kept: &IdSet,
        current: &[Extent],
        built: SharedMap,
    ) -> SharedMap {
        // A map the budget did not make fit has one layout (every asked id, nothing else): the
        // built one. A map without passthroughs is a rival only of a built map without any.
        let fitted = built.warnings.iter().any(|w| {
            matches!(
                w.0,
                MapWarning::Exposed { .. } | MapWarning::Unmapped { .. }
            )
        });
        if !fitted || *built.extents == *current || !current.iter().any(Extent::is_passthrough) {
            return built;
        }
        let key = (SameMap(Arc::clone(&built.extents)), current.to_vec());
        let cell = lock(&self.as_good).entry(key).or_default().clone();
        cell.get_or_init(|| {
            let wanted = wanted_by(self.shares, kind, used, kept);
            idmap::as_built(kind, current, &wanted, kept, self.params)
                .map(SharedMap::from)
                .filter(|fit| {
                    fit.exposed.len() == built.exposed.len()
                        && fit.unmapped.len() == built.unmapped.len()
                })
        })
        .clone()
        .unwrap_or(built)
    }
}

/// The ids of `shares[used]` less `kept`.
fn wanted_by(shares: &[ResolvedShare], kind: IdKind, used: &[usize], kept: &IdSet) -> IdSet {
    used.iter()
        .fold(IdSet::new(), |acc, &s| acc.union(shares[s].ids(kind)))
        .difference(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testutil::{set, share};

    #[test]
    fn each_distinct_map_is_built_once() {
        let shares = [
            share("a", &[1005, 1007], &[1005]),
            share("b", &[2000], &[2000]),
            // Owned by the same ids as `a`: another share, the same map.
            share("a2", &[1005, 1007], &[1005]),
        ];
        let params = MapParams::default();
        let memo = MapMemo::new(&params, &shares);
        BUILDS.with(|b| b.set(0));
        let none = IdSet::new();
        let first = memo.build(IdKind::Uid, &[0, 1], &none).unwrap();
        // The same shares in another order, the same ids by other shares: the same map, shared.
        for used in [&[1, 0][..], &[0, 1, 0], &[2, 1]] {
            let again = memo.build(IdKind::Uid, used, &none).unwrap();
            assert!(Arc::ptr_eq(&first.extents, &again.extents), "{used:?}");
            assert!(Arc::ptr_eq(&first.exposed, &again.exposed), "{used:?}");
            assert!(Arc::ptr_eq(&first.warnings, &again.warnings), "{used:?}");
        }
        assert_eq!(BUILDS.with(|b| b.get()), 1);
        // Another kind, other kept ids, other shares: each built once more.
        let gid = memo.build(IdKind::Gid, &[0, 1], &none).unwrap();
        assert_eq!(gid.passthrough(), set(&[1005, 2000]));
        let kept = set(&[33]);
        let with_33 = memo.build(IdKind::Uid, &[0, 1], &kept).unwrap();
        assert!(with_33.passthrough().contains(33));
        assert!(!first.passthrough().contains(33));
        memo.build(IdKind::Uid, &[0], &none).unwrap();
        assert_eq!(BUILDS.with(|b| b.get()), 4);
        // Equal to building it directly.
        let direct = idmap::build(IdKind::Uid, &set(&[1005, 1007, 2000]), &none, &params);
        assert_eq!(SharedMap::from(direct.unwrap()), first);
        // A map that cannot be built is tried once too, and says why each time.
        let low = [share("low", &[500], &[500])];
        let memo = MapMemo::new(&params, &low);
        BUILDS.with(|b| b.set(0));
        for _ in 0..2 {
            let e = memo.build(IdKind::Uid, &[0], &none).unwrap_err();
            assert!(matches!(e, MapError::BelowMin { .. }), "{e}");
        }
        assert_eq!(BUILDS.with(|b| b.get()), 1);
    }
}
