//! The planner: from resolved shares, the cluster's containers and what idfed manages, the desired
//! map of every managed container, the subid lines every node needs, and the difference to what
//! is there now. Pure: values in, a [`Plan`] out; reading and writing happen in `cmd` and `apply`.

pub(crate) mod gains;
pub(crate) mod guard;
mod memo;
pub(crate) mod release;
pub(crate) mod saved;
mod skip;
pub(crate) mod text;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::cluster::{ClusterState, CtState, NodeCoverage, StaleNode, current_map};
use crate::idmap::{
    Extent, KindWarning, MapError, MapParams, Subid, outside_ranges, passthroughs, subids,
};
use crate::ids::{ByKind, IdKind, IdRange, IdSet};
use crate::resolve::{OwnerKind, ResolvedShare};
use crate::shift::preview::Preview;
use crate::store::Managed;
use crate::store::managed::Switch;

pub(crate) use gains::{Gain, Gains, OwnerTable};
use memo::{MapMemo, SameMap, SharedMap};
pub(crate) use release::Release;
pub(crate) use skip::SkipReason;

/// Everything the planner looks at.
#[derive(Clone, Debug)]
pub(crate) struct PlanInput<'a> {
    pub params: MapParams,
    pub subid_owner: String,
    pub shares: &'a [ResolvedShare],
    pub cts: &'a [CtState],
    pub managed: &'a BTreeMap<u32, Managed>,
    /// Nodes whose subid coverage is known (this node's files; others' published states).
    pub coverage: &'a BTreeMap<String, NodeCoverage>,
    /// Every node of the cluster: a CT may run on any of them after a migration, so its new map
    /// is `ready` only when all of them cover it.
    pub nodes: &'a [String],
    /// Nodes whose published state is too old to count: not in `coverage`, waited for.
    pub stale: &'a [StaleNode],
    /// Take foreign passthroughs under management (`apply --adopt`).
    pub adopt: bool,
    /// Adopted passthroughs to release (`apply --release`).
    pub release: &'a [Release],
    /// Threads that plan CTs (at least one): most of a large plan is building distinct maps.
    pub threads: usize,
}

/// Where a container stands in the rollout of its desired map across the cluster (JSON:
/// `{"state": "waiting", "nodes": ["pve2"]}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Rollout {
    /// The current map is the desired one.
    Applied,
    /// Every node of the cluster covers the new map: `apply` on the CT's node switches it.
    Ready,
    /// These nodes have not published coverage of the new map's outside ids (or never
    /// published): `apply` leaves the CT until they have run `idfed apply`. Shared between the
    /// CTs that wait for the same nodes (at a cluster's first plan, every CT waits for every node).
    Waiting { nodes: Arc<[String]> },
    /// idfed does not switch it (see `skipped`: locked, privileged, a map it cannot take over).
    Blocked,
}

/// The plan for one container. What it shares with other CTs' plans (the new maps, their exposed
/// and unmapped ids and warnings, the rootfs preview) is behind `Arc`s: at 20,000 CTs a copy per
/// CT was most of `plan`'s memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct CtPlan {
    pub ct: u32,
    pub node: String,
    pub shares: Vec<String>,
    /// The desired maps: a built map's extents, shared by every CT that gets it (for a CT idfed
    /// does not switch, its current map).
    pub uid_map: Arc<[Extent]>,
    pub gid_map: Arc<[Extent]>,
    pub current_uid_map: Vec<Extent>,
    pub current_gid_map: Vec<Extent>,
    pub changed: bool,
    pub restart_required: bool,
    pub skipped: Option<SkipReason>,
    /// Passthroughs in the current map that idfed did not put there: kept.
    pub foreign_uids: IdSet,
    pub foreign_gids: IdSet,
    /// Of those, the ones this plan adopts (`--adopt`).
    pub adopting_uids: IdSet,
    pub adopting_gids: IdSet,
    /// Adopted passthroughs after this plan: kept whatever the shares say, until released.
    pub adopted_uids: IdSet,
    pub adopted_gids: IdSet,
    /// Adopted passthroughs this plan releases (`--release`): the shares decide again.
    pub released_uids: IdSet,
    pub released_gids: IdSet,
    /// Passthroughs idfed put there that the new map drops.
    pub removed_uids: IdSet,
    pub removed_gids: IdSet,
    /// Ids passed through that no owner asked for (budget merges).
    pub exposed_uids: Arc<IdSet>,
    pub exposed_gids: Arc<IdSet>,
    /// Inside ids of the base range the new map leaves unmapped (files owned by them show as
    /// nobody inside): left out to fit the kernel's budget (`over_budget = "unmap"`), or whose
    /// base id is a passthrough.
    pub unmapped_uids: Arc<IdSet>,
    pub unmapped_gids: Arc<IdSet>,
    /// Owners whose ids the new map passes through and the current one does not.
    pub gains: Gains,
    pub warnings: Vec<Arc<KindWarning>>,
    /// Applied, ready, waiting for nodes, or blocked.
    pub rollout: Rollout,
    /// The inside ids whose host id the new map moves, and (`plan --scan-rootfs`) what their old
    /// host ids own in the CT's root filesystem. Shared by the CTs with the same map change (a
    /// copy each was a fifth of a 20,000-CT plan's memory); a scan makes its CT's own copy.
    pub rootfs: Arc<Preview>,
    /// What the managed record is after this plan is applied ([`CtPlan::managed_after`]).
    #[serde(skip)]
    after: After,
    /// Did idfed compute a desired map (false for privileged CTs and maps it cannot take over)?
    #[serde(skip)]
    pub planned: bool,
}

/// What a CT's managed record becomes: computed when asked for ([`CtPlan::managed_after`]) rather
/// than kept per CT, since its passthroughs are the (shared) new map's.
#[derive(Clone, Debug, PartialEq, Eq)]
enum After {
    /// No map was planned: the record stays as it is.
    Unchanged(Box<Managed>),
    /// idfed manages the new maps' passthroughs but the foreign ones it does not adopt; the last
    /// switch is kept until apply writes the next one.
    Planned { switched: Option<Switch> },
}

impl CtPlan {
    /// The managed record after this plan is applied.
    pub(crate) fn managed_after(&self) -> Managed {
        match &self.after {
            After::Unchanged(record) => Managed::clone(record),
            After::Planned { switched } => Managed {
                // Adopting takes every foreign passthrough under management (`adopting` is
                // then all of `foreign`); else none of them.
                uids: passthroughs(&self.uid_map)
                    .difference(&self.foreign_uids.difference(&self.adopting_uids)),
                gids: passthroughs(&self.gid_map)
                    .difference(&self.foreign_gids.difference(&self.adopting_gids)),
                adopted_uids: self.adopted_uids.clone(),
                adopted_gids: self.adopted_gids.clone(),
                switched: switched.clone(),
                ..Managed::default()
            },
        }
    }

    /// The current map and the new one, each with both kinds (uids first).
    pub(crate) fn maps(&self) -> (Vec<Extent>, Vec<Extent>) {
        let both = |u: &[Extent], g: &[Extent]| u.iter().chain(g).copied().collect();
        (
            both(&self.current_uid_map, &self.current_gid_map),
            both(&self.uid_map, &self.gid_map),
        )
    }
}

/// The subid lines one node lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct NodePlan {
    pub subuid_add: Vec<Subid>,
    pub subgid_add: Vec<Subid>,
}

/// Containers that get the same map: the map is shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Group {
    pub cts: Vec<u32>,
    pub uid_map: Arc<[Extent]>,
    pub gid_map: Arc<[Extent]>,
}

/// The whole plan (JSON: the `plan` shape of DESIGN.md section 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Plan {
    pub nodes: BTreeMap<String, NodePlan>,
    pub containers: Vec<CtPlan>,
    pub groups: Vec<Group>,
    /// Nodes of the cluster whose subid coverage is unknown: they never published it.
    pub unpublished: Vec<String>,
    /// Nodes whose published coverage is older than `cluster.publish_max_age_secs`: it does not
    /// count, maps that add passthroughs wait for them.
    pub stale: Vec<StaleNode>,
    /// Shares the outage guard holds at their last good owners (filled in by the command, which
    /// reads the baseline).
    pub held: Vec<guard::Held>,
    /// Outside ids every node must give the subid owner (all managed maps), base range included.
    #[serde(skip)]
    pub needed_uids: IdSet,
    #[serde(skip)]
    pub needed_gids: IdSet,
}

impl Plan {
    /// Is anything to be changed: a CT map or a node's subid lines?
    pub(crate) fn has_changes(&self) -> bool {
        !self.held.is_empty()
            || self.containers.iter().any(|c| c.changed)
            || self
                .nodes
                .values()
                .any(|n| !n.subuid_add.is_empty() || !n.subgid_add.is_empty())
    }

    /// The plan of CT `vmid`, if it is in the plan.
    pub(crate) fn container(&self, vmid: u32) -> Option<&CtPlan> {
        // `plan` sorts containers by vmid; rendering asks once per CT, so a scan is quadratic.
        match self.containers.binary_search_by_key(&vmid, |c| c.ct) {
            Ok(i) => Some(&self.containers[i]),
            Err(_) => self.containers.iter().find(|c| c.ct == vmid),
        }
    }
}

/// What the administrator asked for beyond the shares: adopt foreign passthroughs, release
/// adopted ones.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Choices<'a> {
    pub adopt: bool,
    pub release: &'a [Release],
}

/// The plan for the whole cluster, with `local` as this node's subid coverage (its files as read,
/// or as `apply` leaves them) and the other nodes' from the states they published.
pub(crate) fn plan_cluster(
    cluster: &ClusterState,
    params: &MapParams,
    shares: &[ResolvedShare],
    local: NodeCoverage,
    choices: Choices<'_>,
) -> Plan {
    let coverage = cluster.coverage(local);
    let stale = cluster.stale_nodes();
    plan(&PlanInput {
        stale: &stale,
        nodes: &cluster.nodes,
        params: params.clone(),
        subid_owner: cluster.subid_owner.clone(),
        shares,
        cts: &cluster.cts,
        managed: &cluster.managed,
        coverage: &coverage,
        adopt: choices.adopt,
        release: choices.release,
        threads: plan_threads(),
    })
}

/// The threads a plan uses: two when this process may run on two CPUs or more. Each thread
/// building maps holds its own working memory: `plan` of the 20,000-CT sparse bench cluster
/// peaked at 168 MiB on one thread, 185 MiB on two and 204 MiB on four (issue 13's bound is
/// 200 MB), and a sync job runs beside the CTs: it should not take every CPU of the node.
fn plan_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// Why idfed cannot take over a current map: an extent that is neither a passthrough nor part of
/// the base range (`outside = base + inside`, ending within `size`), or a passthrough of id 0.
fn foreign_shape(map: &[Extent], params: &MapParams) -> Option<SkipReason> {
    for e in map {
        if e.is_passthrough() && e.inside == 0 {
            return Some(SkipReason::RootPassthrough { extent: *e });
        }
        // A base extent widened past `size` maps inside ids the rebuilt map would cut off.
        let base_shaped = u64::from(e.outside) == u64::from(params.base) + u64::from(e.inside)
            && u64::from(e.inside) + u64::from(e.count) <= u64::from(params.size);
        if !e.is_passthrough() && !base_shaped {
            return Some(SkipReason::CustomExtent {
                extent: *e,
                base: params.base,
            });
        }
    }
    None
}

/// Computes the plan.
pub(crate) fn plan(input: &PlanInput<'_>) -> Plan {
    let shares: BTreeMap<&str, usize> = input
        .shares
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let table = Arc::new(OwnerTable::from_shares(input.shares));
    let maps = MapMemo::new(&input.params, input.shares);
    let mut out = Plan {
        containers: plan_cts(input, &shares, &table, &maps),
        ..Plan::default()
    };
    let mut memo = RolloutMemo {
        base: input
            .params
            .base_range()
            .map(IdSet::from)
            .unwrap_or_default(),
        ..RolloutMemo::default()
    };

    // Each distinct preview once: CTs with the same map change share it.
    let mut previews: foldhash::HashSet<Arc<Preview>> = foldhash::HashSet::default();
    // What follows from a map change alone, once per change: its preview and, for a CT that may
    // switch, its rollout (most CTs of a group change from the same current map).
    let mut changes: foldhash::HashMap<Change, (Arc<Preview>, Option<Rollout>)> =
        foldhash::HashMap::default();
    for cp in &mut out.containers {
        if !cp.changed {
            cp.rollout = rollout(input, cp, &mut memo);
            continue;
        }
        let (preview, rolled) = changes.entry(Change::of(cp)).or_insert_with(|| {
            let (old, new) = cp.maps();
            let preview = Preview::of(&old, &new);
            let shared = match previews.get(&preview) {
                Some(shared) => shared.clone(),
                None => {
                    let shared = Arc::new(preview);
                    previews.insert(shared.clone());
                    shared
                }
            };
            (shared, None)
        });
        cp.rootfs = preview.clone();
        // A skipped CT is blocked whatever its maps.
        cp.rollout = if cp.skipped.is_none() {
            rolled
                .get_or_insert_with(|| rollout(input, cp, &mut memo))
                .clone()
        } else {
            rollout(input, cp, &mut memo)
        };
    }
    // Discovery lists CTs by vmid already: a sort's scratch buffer was 8 MB of a 20,000-CT
    // plan's peak for nothing.
    if !out.containers.is_sorted_by_key(|c| c.ct) {
        out.containers.sort_by_key(|c| c.ct);
    }

    drop(maps); // its keys (every distinct map's wanted ids) are not needed any more
    // Keyed by the shared maps: a pointer each, not a copy of every CT's maps.
    let mut groups: BTreeMap<MapPair, Vec<u32>> = BTreeMap::new();
    for c in out.containers.iter().filter(|c| c.planned) {
        groups
            .entry((c.uid_map.clone(), c.gid_map.clone()))
            .or_default()
            .push(c.ct);
    }
    out.groups = groups
        .into_iter()
        .map(|((uid_map, gid_map), cts)| Group {
            cts,
            uid_map,
            gid_map,
        })
        .collect();
    out.groups.sort_by_key(|g| g.cts[0]);

    // Every planned map's outside ranges (the groups hold every planned map once), gathered and
    // merged into the set whenever they outnumber it: a union per map was quadratic, and
    // gathering all of them first held every map's ranges at once (24 MB at 20,000 sparse CTs,
    // most of them the same ids).
    let mut needed: ByKind<IdSet> = ByKind::default();
    let mut gathered: ByKind<Vec<IdRange>> = ByKind::default();
    for g in &out.groups {
        for (kind, map) in [(IdKind::Uid, &g.uid_map), (IdKind::Gid, &g.gid_map)] {
            gathered[kind].extend(outside_ranges(map).ranges());
            if gathered[kind].len() > needed[kind].ranges().len().max(4096) {
                needed[kind].extend(gathered[kind].drain(..));
            }
        }
    }
    for kind in IdKind::ALL {
        needed[kind].extend(std::mem::take(&mut gathered[kind]));
    }
    let ByKind {
        uid: needed_uids,
        gid: needed_gids,
    } = needed;
    for (node, cov) in input.coverage {
        out.nodes.insert(
            node.clone(),
            NodePlan {
                subuid_add: subids(&needed_uids.difference(&cov.uids), &input.subid_owner),
                subgid_add: subids(&needed_gids.difference(&cov.gids), &input.subid_owner),
            },
        );
    }
    out.unpublished = input
        .nodes
        .iter()
        .filter(|n| !input.coverage.contains_key(*n))
        .filter(|n| !input.stale.iter().any(|s| s.node == **n))
        .cloned()
        .collect();
    out.stale = input.stale.to_vec();
    out.needed_uids = needed_uids;
    out.needed_gids = needed_gids;
    out
}

/// Each CT's plan ([`plan_ct`]) in the order of `input.cts`, CTs that use no share left out (not
/// managed: never touched, never listed). Planned on `input.threads` threads sharing `maps`:
/// each takes the next run of CTs until none is left and writes their plans into their slots.
/// The slots become the plans in place (no second copy of every CT's plan: 13 MB at 20,000 CTs).
fn plan_cts(
    input: &PlanInput<'_>,
    shares: &BTreeMap<&str, usize>,
    table: &Arc<OwnerTable>,
    maps: &MapMemo<'_>,
) -> Vec<CtPlan> {
    /// CTs a thread takes at a time: few enough to share the work out evenly.
    const RUN: usize = 16;
    let mut slots: Vec<Option<CtPlan>> = Vec::new();
    slots.resize_with(input.cts.len(), || None);
    let runs = Mutex::new(input.cts.chunks(RUN).zip(slots.chunks_mut(RUN)));
    let work = || {
        loop {
            let next = runs.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((cts, slots)) = next else {
                break;
            };
            for (ct, slot) in cts.iter().zip(slots) {
                let used: Vec<usize> = ct
                    .share_names()
                    .iter()
                    .filter_map(|name| shares.get(name.as_str()).copied())
                    .collect();
                if !used.is_empty() {
                    *slot = Some(plan_ct(input, ct, &used, table, maps));
                }
            }
        }
    };
    if input.threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..input.threads {
                scope.spawn(work);
            }
        });
    }
    // `filter_map`, not `flatten`: the standard library collects it into the slots' own buffer
    // (an `Option<CtPlan>` is as large as a `CtPlan`); `flatten` allocated a second one.
    #[allow(clippy::filter_map_identity)]
    let plans: Vec<CtPlan> = slots.into_iter().filter_map(|slot| slot).collect();
    plans
}

/// A uid map and a gid map, shared.
type MapPair = (Arc<[Extent]>, Arc<[Extent]>);

/// A planned CT's map change: its current maps, and its new ones by identity (the memo's shared
/// maps: the same pointer is the same map).
#[derive(PartialEq, Eq, Hash)]
struct Change {
    current: (Vec<Extent>, Vec<Extent>),
    new: (SameMap, SameMap),
}

impl Change {
    fn of(cp: &CtPlan) -> Change {
        Change {
            current: (cp.current_uid_map.clone(), cp.current_gid_map.clone()),
            new: (SameMap(cp.uid_map.clone()), SameMap(cp.gid_map.clone())),
        }
    }
}

/// What [`rollout`] computes once for all CTs: most CTs have one of a few current maps (the
/// default map, before idfed manages them).
#[derive(Default)]
struct RolloutMemo<'a> {
    /// The base range.
    base: IdSet,
    /// The outside ids of a current map and the base range.
    outside_and_base: HashMap<Vec<Extent>, IdSet>,
    /// The node lists CTs wait for, shared.
    waiting: BTreeMap<Vec<&'a str>, Arc<[String]>>,
}

/// The rollout state of a planned container: its new map needs every node of the cluster to
/// cover all of its outside ids (the whole new map, not only what it adds: a node that lacks the
/// base range cannot start it either). Nodes without known coverage are waited for.
///
/// A map that only removes passthroughs is never held back: its outside ids lie in the current
/// map's and the base range (a removed id maps to `base + id` again), which every node that can
/// start the CT now already has, so switching never makes a node unable to start it, and revoking
/// access must not wait for a lagging node.
fn rollout<'a>(input: &PlanInput<'a>, cp: &CtPlan, memo: &mut RolloutMemo<'a>) -> Rollout {
    if !cp.planned {
        return Rollout::Blocked;
    }
    if !cp.changed {
        return Rollout::Applied;
    }
    if cp.skipped.is_some() {
        return Rollout::Blocked;
    }
    for map in [&cp.current_uid_map, &cp.current_gid_map] {
        if !memo.outside_and_base.contains_key(map.as_slice()) {
            let set = outside_ranges(map).union(&memo.base);
            memo.outside_and_base.insert(map.clone(), set);
        }
    }
    // The new maps are not kept: most are a group's, but there are thousands of groups.
    let (uids, gids) = (&outside_ranges(&cp.uid_map), &outside_ranges(&cp.gid_map));
    let adds_nothing =
        |new: &IdSet, current: &[Extent]| memo.outside_and_base[current].is_superset(new);
    if adds_nothing(uids, &cp.current_uid_map) && adds_nothing(gids, &cp.current_gid_map) {
        return Rollout::Ready;
    }
    let nodes: Vec<&str> = input
        .nodes
        .iter()
        .filter(|n| {
            input
                .coverage
                .get(*n)
                .is_none_or(|c| !c.uids.is_superset(uids) || !c.gids.is_superset(gids))
        })
        .map(String::as_str)
        .collect();
    if nodes.is_empty() {
        return Rollout::Ready;
    }
    let nodes = memo
        .waiting
        .entry(nodes)
        .or_insert_with_key(|nodes| nodes.iter().map(|n| (*n).to_string()).collect())
        .clone();
    Rollout::Waiting { nodes }
}

/// The plan of one kind for one container.
struct KindPlan {
    /// The desired map, shared with the CTs that get the same one.
    map: SharedMap,
    /// The passthroughs of the current map.
    current_pass: IdSet,
    foreign: IdSet,
    adopting: IdSet,
    adopted_after: IdSet,
    released: IdSet,
    removed: IdSet,
}

/// The desired map of `kind` for a CT with map `current` and idfed's (trusted) `record` of it,
/// that uses the shares `used` (indices into the input's), built by `maps`.
///
/// # Errors
/// The map cannot be built: a wanted id the policy refuses, or no fit in the kernel's budget.
fn plan_kind(
    input: &PlanInput<'_>,
    vmid: u32,
    kind: IdKind,
    current: &[Extent],
    record: &Managed,
    used: &[usize],
    maps: &MapMemo<'_>,
) -> Result<KindPlan, MapError> {
    let current_pass = passthroughs(current);
    // A write interrupted midway left a claim: idfed's where the map holds it.
    let owned = record
        .ids(kind)
        .union(&record.claimed(kind).intersection(&current_pass));
    let foreign = current_pass.difference(&owned);
    // Adopted ids are kept whatever the shares say, until released.
    let adopted = record.adopted(kind).intersection(&owned);
    let released = release::released(input.release, vmid, kind, &adopted);
    let adopted = adopted.difference(&released);
    let kept = foreign.union(&adopted);
    // Foreign and adopted passthroughs may lie below min_id (an admin's uid 33): they are kept
    // exactly as they are, never widened. The ids idfed adds itself get the real policy.
    let map = maps.build(kind, used, &kept)?;
    let map = maps.current_or(kind, used, &kept, current, map);
    // Most CTs own no passthrough of their current map yet: nothing to remove.
    let owned_now = owned.intersection(&current_pass);
    let removed = if owned_now.is_empty() {
        owned_now
    } else {
        owned_now.difference(&map.passthrough())
    };
    let adopting = if input.adopt {
        foreign.clone()
    } else {
        IdSet::new()
    };
    Ok(KindPlan {
        map,
        current_pass,
        adopted_after: adopted.union(&adopting),
        adopting,
        released,
        foreign,
        removed,
    })
}

/// Why a CT's map of `kind` cannot fit: `error`, with how many owners of that kind its shares
/// `used` have and how many ids they pass through.
fn over_budget(kind: IdKind, used: &[&ResolvedShare], error: MapError) -> SkipReason {
    let owner_kind = match kind {
        IdKind::Uid => OwnerKind::User,
        IdKind::Gid => OwnerKind::Group,
    };
    let mut owners: Vec<(&str, u32)> = used
        .iter()
        .flat_map(|s| &s.owners)
        .filter(|o| o.kind == owner_kind)
        .map(|o| (o.name.as_str(), o.id))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    let ids = used
        .iter()
        .fold(IdSet::new(), |acc, s| acc.union(s.ids(kind)))
        .len();
    SkipReason::OverBudget {
        kind,
        owners: owners.len(),
        ids,
        error,
    }
}

fn plan_ct(
    input: &PlanInput<'_>,
    ct: &CtState,
    used_ix: &[usize],
    table: &Arc<OwnerTable>,
    maps: &MapMemo<'_>,
) -> CtPlan {
    let params = &input.params;
    let used: Vec<&ResolvedShare> = used_ix.iter().map(|&i| &input.shares[i]).collect();
    let unmanaged = Managed::default();
    let managed = input.managed.get(&ct.vmid).unwrap_or(&unmanaged);
    // A privileged CT has no map at all: it runs with the host's ids.
    let (current_uid_map, current_gid_map) = if ct.unprivileged {
        (
            current_map(&ct.idmap, IdKind::Uid, params),
            current_map(&ct.idmap, IdKind::Gid, params),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let mut cp = CtPlan {
        ct: ct.vmid,
        node: ct.node.clone(),
        shares: used.iter().map(|s| s.name.clone()).collect(),
        uid_map: current_uid_map.as_slice().into(),
        gid_map: current_gid_map.as_slice().into(),
        current_uid_map,
        current_gid_map,
        changed: false,
        restart_required: false,
        skipped: None,
        foreign_uids: IdSet::new(),
        foreign_gids: IdSet::new(),
        adopting_uids: IdSet::new(),
        adopting_gids: IdSet::new(),
        adopted_uids: managed.adopted_uids.clone(),
        adopted_gids: managed.adopted_gids.clone(),
        released_uids: IdSet::new(),
        released_gids: IdSet::new(),
        removed_uids: IdSet::new(),
        removed_gids: IdSet::new(),
        exposed_uids: Arc::default(),
        exposed_gids: Arc::default(),
        unmapped_uids: Arc::default(),
        unmapped_gids: Arc::default(),
        gains: Gains::new(table.clone()),
        warnings: Vec::new(),
        rollout: Rollout::Blocked,
        rootfs: Arc::default(),
        after: After::Unchanged(Box::new(managed.clone())),
        planned: false,
    };
    if !ct.unprivileged {
        cp.skipped = Some(SkipReason::Privileged);
        return cp;
    }
    if let Some(reason) = foreign_shape(&ct.idmap, params) {
        cp.skipped = Some(reason);
        return cp;
    }
    let plan_of = |kind, current: &[Extent]| {
        plan_kind(input, ct.vmid, kind, current, managed, used_ix, maps).map_err(
            |error| match error {
                MapError::DoesNotFit { .. } | MapError::OverBudget { .. } => {
                    over_budget(kind, &used, error)
                }
                error => SkipReason::CannotBuild { kind, error },
            },
        )
    };
    let uid = plan_of(IdKind::Uid, &cp.current_uid_map);
    let gid = plan_of(IdKind::Gid, &cp.current_gid_map);
    // The uid map's reason comes first; its warnings stay on a CT whose gid map cannot be built.
    let (uid, gid) = match (uid, gid) {
        (Ok(uid), Ok(gid)) => (uid, gid),
        (Err(reason), _) => {
            cp.skipped = Some(reason);
            return cp;
        }
        (Ok(uid), Err(reason)) => {
            cp.warnings.extend(uid.map.warnings.iter().cloned());
            cp.skipped = Some(reason);
            return cp;
        }
    };
    cp.warnings.extend(uid.map.warnings.iter().cloned());
    cp.warnings.extend(gid.map.warnings.iter().cloned());
    for &s in used_ix {
        cp.gains.add_share(s, |kind, id| match kind {
            OwnerKind::User => !uid.current_pass.contains(id),
            OwnerKind::Group => !gid.current_pass.contains(id),
        });
    }
    cp.uid_map = uid.map.extents;
    cp.gid_map = gid.map.extents;
    cp.foreign_uids = uid.foreign;
    cp.foreign_gids = gid.foreign;
    cp.adopting_uids = uid.adopting;
    cp.adopting_gids = gid.adopting;
    cp.adopted_uids = uid.adopted_after;
    cp.adopted_gids = gid.adopted_after;
    cp.released_uids = uid.released;
    cp.released_gids = gid.released;
    cp.removed_uids = uid.removed;
    cp.removed_gids = gid.removed;
    cp.exposed_uids = uid.map.exposed;
    cp.exposed_gids = gid.map.exposed;
    cp.unmapped_uids = uid.map.unmapped;
    cp.unmapped_gids = gid.map.unmapped;
    cp.after = After::Planned {
        // Kept until apply writes the next switch.
        switched: managed.switched.clone(),
    };
    cp.planned = true;
    cp.changed = *cp.uid_map != *cp.current_uid_map || *cp.gid_map != *cp.current_gid_map;
    cp.restart_required = cp.changed;
    if let Some(lock) = &ct.lock {
        // Still `changed`: the CT is not in its desired state, it just cannot be switched now.
        cp.skipped = Some(SkipReason::Locked { lock: lock.clone() });
    }
    cp
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
