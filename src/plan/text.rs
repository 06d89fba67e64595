//! The plan as people read it: per node the subid lines to add; per group of containers with an
//! identical map, the map once, then the change as a diff, once for the containers of the group
//! that agree on it and on everything else the text says about them (listed together).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::idmap::{Extent, KindWarning, MapWarning};
use crate::ids::{ByKind, IdSet, uids_gids};
use crate::shift::preview::{self, Preview};

use super::gains::GainIter;
use super::{CtPlan, Gain, Gains, Plan, Rollout, SkipReason};

/// The `lxc.idmap:` lines of a map, uids first, as idfed writes them into a CT config.
pub(crate) fn idmap_lines(uid_map: &[Extent], gid_map: &[Extent]) -> String {
    let mut out = String::new();
    for e in uid_map.iter().chain(gid_map) {
        let _ = writeln!(out, "lxc.idmap: {e}");
    }
    out
}

/// `user bob (1006` and `, share scratch` when asked, then `)`. Pieces pushed, not `write!`:
/// a cluster's first plan lists every owner of every share (34,000 at 500 CTs), and the
/// formatting machinery cost four times the text.
fn write_gain(out: &mut String, g: &Gain<'_>, with_share: bool) {
    out.push_str(g.kind.as_str());
    out.push(' ');
    out.push_str(&crate::text::escape(g.name));
    out.push_str(" (");
    out.push_str(itoa::Buffer::new().format(g.id));
    if with_share {
        out.push_str(", share ");
        out.push_str(g.share);
    }
    out.push(')');
}

/// Writes `every owner of share projects, user bob (1006, share scratch)` straight into `out`: a
/// CT that gains all of a share's owners refers to the share's owner list, printed once at the top
/// (a cluster's first plan gains every member of every group per CT: listed per CT, the gains were
/// most of the text).
fn write_owner_list(out: &mut String, c: &CtPlan) {
    let mut first = true;
    for (share, every, gains) in c.gains.by_share() {
        if every {
            let sep = if first { "" } else { ", " };
            let _ = write!(out, "{sep}every owner of share {share}");
            first = false;
            continue;
        }
        for g in gains {
            if !first {
                out.push_str(", ");
            }
            write_gain(out, &g, true);
            first = false;
        }
    }
}

fn ids_note(label: &str, uids: &IdSet, gids: &IdSet) -> Option<String> {
    uids_gids(uids, gids).map(|ids| format!("{label} {ids}"))
}

/// Everything the text says about a CT besides its vmid and node: CTs that agree on it are
/// shown once, with their list (at cluster scale most CTs of a group share their current map,
/// shares and gains, and a diff and gains list per CT made the text ten times the input).
#[derive(PartialEq, Eq)]
struct Notes<'a> {
    shares: &'a [String],
    // Not the new map: it is the group's, or for a CT left alone, its current map.
    current_uid_map: &'a [Extent],
    current_gid_map: &'a [Extent],
    changed: bool,
    skipped: &'a Option<SkipReason>,
    rollout: &'a Rollout,
    gains: &'a Gains,
    removed: ByKind<&'a IdSet>,
    foreign: ByKind<&'a IdSet>,
    adopting: ByKind<&'a IdSet>,
    adopted: ByKind<&'a IdSet>,
    released: ByKind<&'a IdSet>,
    exposed: ByKind<&'a IdSet>,
    unmapped: ByKind<&'a IdSet>,
    warnings: &'a [Arc<KindWarning>],
    rootfs: &'a Preview,
}

/// Hashes what tells CTs apart most cheaply (hashing every extent of every CT was 5% of a plan);
/// equality compares everything.
impl Hash for Notes<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.shares.hash(state);
        self.current_uid_map.len().hash(state);
        self.current_gid_map.len().hash(state);
        self.current_uid_map.last().hash(state);
        self.changed.hash(state);
        self.gains.hash(state);
    }
}

impl<'a> Notes<'a> {
    fn of(c: &'a CtPlan) -> Self {
        Notes {
            shares: &c.shares,
            current_uid_map: &c.current_uid_map,
            current_gid_map: &c.current_gid_map,
            changed: c.changed,
            skipped: &c.skipped,
            rollout: &c.rollout,
            gains: &c.gains,
            removed: ByKind {
                uid: &c.removed_uids,
                gid: &c.removed_gids,
            },
            foreign: ByKind {
                uid: &c.foreign_uids,
                gid: &c.foreign_gids,
            },
            adopting: ByKind {
                uid: &c.adopting_uids,
                gid: &c.adopting_gids,
            },
            adopted: ByKind {
                uid: &c.adopted_uids,
                gid: &c.adopted_gids,
            },
            released: ByKind {
                uid: &c.released_uids,
                gid: &c.released_gids,
            },
            exposed: ByKind {
                uid: &c.exposed_uids,
                gid: &c.exposed_gids,
            },
            unmapped: ByKind {
                uid: &c.unmapped_uids,
                gid: &c.unmapped_gids,
            },
            warnings: &c.warnings,
            rootfs: &c.rootfs,
        }
    }
}

/// `cts` split into runs that agree on their [`Notes`], in the order of each run's first CT.
fn by_notes<'a>(cts: impl Iterator<Item = &'a CtPlan>) -> Vec<Vec<&'a CtPlan>> {
    // foldhash: hashed once per CT, std's SipHash was 4% of a 20,000-CT plan.
    let mut index: foldhash::HashMap<Notes<'a>, usize> = foldhash::HashMap::default();
    let mut runs: Vec<Vec<&CtPlan>> = Vec::new();
    for c in cts {
        let next = runs.len();
        let i = *index.entry(Notes::of(c)).or_insert(next);
        if i == next {
            runs.push(Vec::new());
        }
        runs[i].push(c);
    }
    runs
}

/// `101, 105 on pve1; 102 on pve2`: the CTs by node, nodes by name.
fn ct_list(cts: &[&CtPlan]) -> String {
    let mut by_node: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for c in cts {
        by_node.entry(&c.node).or_default().push(c.ct);
    }
    let mut out = String::new();
    for (i, (node, vmids)) in by_node.into_iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        for (j, v) in vmids.iter().enumerate() {
            let sep = if j == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}{v}");
        }
        let _ = write!(out, " on {node}");
    }
    out
}

/// Is `map` strictly ordered by kind (uids first), then inside id?
fn is_sorted(map: &[Extent]) -> bool {
    map.windows(2)
        .all(|w| (w[0].kind, w[0].inside) < (w[1].kind, w[1].inside))
}

/// Writes the line diff of two maps' `lxc.idmap` lines with `similar`'s Myers diff.
fn write_myers_diff(out: &mut String, old: &[Extent], new: &[Extent]) {
    let (old, new) = (idmap_lines(old, &[]), idmap_lines(new, &[]));
    let diff = similar::TextDiff::from_lines(&old, &new);
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let _ = write!(out, "    {sign} {}", change.value());
    }
}

/// Writes the line diff of two maps' `lxc.idmap` lines. Maps as idfed keeps them are sorted by
/// kind and inside id with one extent per inside id, so the longest common subsequence is their
/// common extents and a merge finds it; each run of changes is printed removals first, as
/// `similar`'s Myers diff does (which is used for any other map, and cost 10% of a cluster plan).
fn write_diff(out: &mut String, old: &[Extent], new: &[Extent]) {
    if !is_sorted(old) || !is_sorted(new) {
        write_myers_diff(out, old, new);
        return;
    }
    let (mut i, mut j) = (0, 0);
    let mut added: Vec<&Extent> = Vec::new();
    let flush_added = |out: &mut String, added: &mut Vec<&Extent>| {
        for e in added.drain(..) {
            let _ = writeln!(out, "    + lxc.idmap: {e}");
        }
    };
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o == n => {
                flush_added(out, &mut added);
                let _ = writeln!(out, "      lxc.idmap: {o}");
                i += 1;
                j += 1;
            }
            (Some(o), n) if n.is_none_or(|n| (o.kind, o.inside) <= (n.kind, n.inside)) => {
                // Removals of a run come before its additions, which are held back.
                let _ = writeln!(out, "    - lxc.idmap: {o}");
                i += 1;
            }
            (_, Some(n)) => {
                added.push(n);
                j += 1;
            }
            (_, None) => break,
        }
    }
    flush_added(out, &mut added);
}

/// CTs that agree on their [`Notes`]: the header with their list, then the diff and the notes
/// once. `under_map`: their new map was just printed (a group's), so a diff that replaces every
/// line says so instead of printing the map again (at a cluster's first plan, that was half the
/// text).
fn render_cts(out: &mut String, cts: &[&CtPlan], under_map: bool) {
    let c = cts[0];
    let one = cts.len() == 1;
    let shares = c.shares.join(", ");
    let state = match (&c.skipped, c.changed, &c.rollout) {
        (Some(reason), _, _) => format!("blocked: not switched now: {reason}"),
        (None, true, Rollout::Waiting { nodes }) => format!(
            "waiting for {}: not switched until they cover {} new map (`idfed apply` there)",
            nodes.join(", "),
            if one { "its" } else { "their" }
        ),
        (None, true, _) if one => format!(
            "ready: changes at its next start (`pct reboot {}` to switch now)",
            c.ct
        ),
        (None, true, _) => {
            "ready: each changes at its next start (`pct reboot <vmid>` to switch one now)"
                .to_string()
        }
        (None, false, _) => "applied: unchanged".to_string(),
    };
    let noun = if one { "CT" } else { "CTs" };
    let _ = writeln!(out, "  {noun} {} (shares: {shares}): {state}", ct_list(cts));
    if c.changed {
        let old: Vec<Extent> = c
            .current_uid_map
            .iter()
            .chain(&c.current_gid_map)
            .copied()
            .collect();
        let new: Vec<Extent> = c.uid_map.iter().chain(c.gid_map.iter()).copied().collect();
        let sorted = is_sorted(&old) && is_sorted(&new);
        if under_map
            && sorted
            && !new.is_empty()
            && !old.iter().any(|o| new.binary_search(o).is_ok())
        {
            for e in &old {
                let _ = writeln!(out, "    - lxc.idmap: {e}");
            }
            out.push_str("    + every line of the map above\n");
        } else {
            write_diff(out, &old, &new);
        }
    }
    if !c.gains.is_empty() {
        out.push_str("    gains: ");
        write_owner_list(out, c);
        out.push('\n');
    }
    let vmid = if one {
        c.ct.to_string()
    } else {
        "<vmid>".to_string()
    };
    let foreign = ByKind {
        uid: c.foreign_uids.difference(&c.adopting_uids),
        gid: c.foreign_gids.difference(&c.adopting_gids),
    };
    let adopted = ByKind {
        uid: c.adopted_uids.difference(&c.adopting_uids),
        gid: c.adopted_gids.difference(&c.adopting_gids),
    };
    // One line per kind of id the CT keeps, gains or loses besides its owners, and why.
    let notes: [(&str, &IdSet, &IdSet, String); 6] = [
        (
            "drops",
            &c.removed_uids,
            &c.removed_gids,
            " (no share owns them any more)".into(),
        ),
        (
            "keeps foreign",
            &foreign.uid,
            &foreign.gid,
            " (not written by idfed; `idfed plan --adopt` shows adopting them)".into(),
        ),
        (
            "adopts foreign",
            &c.adopting_uids,
            &c.adopting_gids,
            format!(
                ": idfed's from now on, kept whatever the shares say until released \
                 (`idfed apply --release {vmid}`)"
            ),
        ),
        (
            "keeps adopted",
            &adopted.uid,
            &adopted.gid,
            format!(" (whatever the shares say, until `idfed apply --release {vmid}`)"),
        ),
        (
            "releases adopted",
            &c.released_uids,
            &c.released_gids,
            " (kept while a share owns them, removed when none does)".into(),
        ),
        (
            "exposes",
            &c.exposed_uids,
            &c.exposed_gids,
            " (no owner asked for them: merged to fit the kernel's budget)".into(),
        ),
    ];
    for (label, uids, gids, why) in notes {
        if let Some(note) = ids_note(label, uids, gids) {
            let _ = writeln!(out, "    {note}{why}");
        }
    }
    // What the map leaves unmapped (`unmapped_*`), by why: the warnings carry each part.
    let (mut fitted, mut holes) = (ByKind::<IdSet>::default(), ByKind::<IdSet>::default());
    for w in &c.warnings {
        let (part, kind, ids) = match &w.0 {
            MapWarning::Unmapped { kind, ids, .. } => (&mut fitted, *kind, ids),
            MapWarning::Holes { kind, ids, .. } => (&mut holes, *kind, ids),
            _ => continue,
        };
        part[kind] = part[kind].union(ids);
    }
    if let Some(ids) = uids_gids(&fitted.uid, &fitted.gid) {
        let _ = writeln!(
            out,
            "    leaves {ids} unmapped to fit the kernel's budget (their files show as nobody inside)"
        );
    }
    if let Some(ids) = uids_gids(&holes.uid, &holes.gid) {
        let _ = writeln!(
            out,
            "    leaves {ids} unmapped: their base ids are passed through (their files show as \
             nobody inside)"
        );
    }
    // Exposed and unmapped ids are the notes above; the other warnings are said as they are.
    for w in c.warnings.iter().filter(|w| {
        !matches!(
            w.0,
            MapWarning::Exposed { .. } | MapWarning::Unmapped { .. } | MapWarning::Holes { .. }
        )
    }) {
        let _ = writeln!(out, "    warning: {w}");
    }
    preview::write_plan_lines(out, &c.rootfs, &vmid);
}

/// The containers idfed would manage but cannot switch because their map cannot be built (over
/// the kernel's budget, an id the policy refuses), one line each: said even when nothing changes,
/// since their shares' owners are not passed through.
pub(crate) fn unbuilt_lines(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.containers {
        if let Some(reason) = c.skipped.as_ref().filter(|r| r.is_build_failure()) {
            let _ = writeln!(
                out,
                "CT {} on {} (shares: {}): not switched: {reason}",
                c.ct,
                c.node,
                c.shares.join(", ")
            );
        }
    }
    out
}

/// Renders the plan for a terminal.
#[cfg(test)]
pub(crate) fn render_text(plan: &Plan) -> String {
    let mut text = String::new();
    let _ = write_text(plan, &mut |chunk| {
        text.push_str(chunk);
        Ok(())
    });
    text
}

/// Text is handed to the sink in chunks of about this size.
const CHUNK: usize = 1 << 16;

/// Renders the plan for a terminal into `sink`, a chunk at a time: at cluster scale the text is
/// tens of megabytes, and building it whole cost as much memory again.
///
/// # Errors
/// The first error of `sink`.
pub(crate) fn write_text(
    plan: &Plan,
    sink: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut out = String::with_capacity(2 * CHUNK);
    let mut flush = |out: &mut String, at_least: usize| -> std::io::Result<()> {
        if out.len() >= at_least {
            sink(out)?;
            out.clear();
        }
        Ok(())
    };
    for (node, np) in &plan.nodes {
        if np.subuid_add.is_empty() && np.subgid_add.is_empty() {
            let _ = writeln!(
                out,
                "node {node}: /etc/subuid and /etc/subgid cover every map"
            );
        }
        for (file, lines) in [
            ("/etc/subuid", &np.subuid_add),
            ("/etc/subgid", &np.subgid_add),
        ] {
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, "node {node}: add to {file}:");
            for s in lines {
                let _ = writeln!(out, "  {s}");
            }
        }
    }
    for node in &plan.unpublished {
        let _ = writeln!(
            out,
            "node {node}: never published its subid coverage (`idfed apply` has not run there): maps wait for it"
        );
    }
    for h in &plan.held {
        let _ = writeln!(out, "{h}");
        for r in &h.would_remove {
            let ids = uids_gids(&r.uids, &r.gids).unwrap_or_default();
            let _ = writeln!(
                out,
                "  once accepted, CT {} on {} loses {ids}",
                r.ct, r.node
            );
        }
    }
    for s in &plan.stale {
        let _ = writeln!(
            out,
            "node {}: its subid coverage was published at {} ({}s ago, more than \
             `cluster.publish_max_age_secs`): it does not count, maps that add passthroughs wait \
             for it (run `idfed apply` there)",
            s.node, s.published_at_utc, s.age_secs
        );
    }
    // The owner lists that `every owner of share S` refers to.
    let mut every: BTreeMap<&str, GainIter<'_>> = BTreeMap::new();
    for c in &plan.containers {
        for (share, all, gains) in c.gains.by_share() {
            if all {
                every.entry(share).or_insert(gains);
            }
        }
    }
    for (i, (share, gains)) in every.into_iter().enumerate() {
        let blank = if i == 0 { "\n" } else { "" };
        let _ = write!(out, "{blank}owners of share {share}: ");
        for (i, g) in gains.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_gain(&mut out, &g, false);
        }
        out.push('\n');
        flush(&mut out, CHUNK)?;
    }
    for g in &plan.groups {
        let cts = g
            .cts
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if g.cts.len() == 1 { "CT" } else { "CTs" };
        let _ = writeln!(out, "\nmap for {noun} {cts}:");
        for e in g.uid_map.iter().chain(g.gid_map.iter()) {
            // The extent alone through the formatter: a template around it cost a third more.
            out.push_str("  lxc.idmap: ");
            let _ = write!(out, "{e}");
            out.push('\n');
        }
        for run in by_notes(g.cts.iter().filter_map(|&ct| plan.container(ct))) {
            render_cts(&mut out, &run, true);
            flush(&mut out, CHUNK)?;
        }
    }
    let unplanned = by_notes(plan.containers.iter().filter(|c| !c.planned));
    if !unplanned.is_empty() {
        let _ = writeln!(out, "\nleft alone:");
        for run in unplanned {
            render_cts(&mut out, &run, false);
            flush(&mut out, CHUNK)?;
        }
    }
    let changing = plan
        .containers
        .iter()
        .filter(|c| c.rollout == Rollout::Ready)
        .count();
    let waiting = plan
        .containers
        .iter()
        .filter(|c| matches!(c.rollout, Rollout::Waiting { .. }))
        .count();
    // Locked CTs: changed, but not switched until the lock is gone.
    let blocked = plan
        .containers
        .iter()
        .filter(|c| c.changed && c.rollout == Rollout::Blocked)
        .count();
    let blocked = if blocked > 0 {
        format!(", {blocked} blocked")
    } else {
        String::new()
    };
    let nodes = plan
        .nodes
        .values()
        .filter(|n| !n.subuid_add.is_empty() || !n.subgid_add.is_empty())
        .count();
    let _ = writeln!(out);
    if plan.has_changes() {
        let _ = writeln!(
            out,
            "{changing} container map(s) to change, {waiting} waiting{blocked}, {nodes} node(s) lacking subid lines"
        );
    } else {
        let _ = writeln!(
            out,
            "nothing to change: every managed container has its desired map"
        );
    }
    flush(&mut out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(lines: &[&str]) -> Vec<Extent> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    #[test]
    fn merge_diff_is_the_myers_diff_of_sorted_maps() {
        let default = ["u 0 100000 65536", "g 0 100000 65536"];
        let one = [
            "u 0 100000 1005",
            "u 1005 1005 1",
            "u 1006 101006 64530",
            "g 0 100000 65536",
        ];
        let foreign = [
            "u 0 100000 33",
            "u 33 33 1",
            "u 34 100034 65502",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502",
        ];
        let two = [
            "u 0 100000 33",
            "u 33 33 1",
            "u 34 100034 971",
            "u 1005 1005 2",
            "u 1007 101007 64529",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502",
        ];
        let cases: [(&str, &[&str], &[&str]); 6] = [
            ("default to one passthrough", &default, &one),
            ("one passthrough back to default", &one, &default),
            ("foreign kept, two added", &foreign, &two),
            ("two removed", &two, &foreign),
            ("no gid map before", &["u 0 100000 65536"], &one),
            ("everything new", &[], &two),
        ];
        for (what, old, new) in cases {
            let (old, new) = (map(old), map(new));
            let (mut merged, mut myers) = (String::new(), String::new());
            write_diff(&mut merged, &old, &new);
            write_myers_diff(&mut myers, &old, &new);
            assert_eq!(merged, myers, "{what}");
        }
    }

    #[test]
    fn agreeing_cts_share_their_diff_and_partial_gains_are_listed() {
        use crate::cluster::{CtState, NodeCoverage, ShareUse};
        use crate::idmap::MapParams;
        use crate::ids::IdSet;
        use crate::plan::{PlanInput, plan};
        use crate::resolve::{Owner, OwnerKind, ResolvedShare};
        use crate::store::Managed;

        let ids: IdSet = [1005, 1006].into_iter().fold(IdSet::new(), |mut s, id| {
            s.insert_id(id);
            s
        });
        let share = ResolvedShare {
            name: "a".into(),
            uids: ids.clone(),
            gids: IdSet::new(),
            owners: [1005, 1006]
                .map(|id| Owner {
                    kind: OwnerKind::User,
                    name: format!("u{id}"),
                    id,
                    source: "files".into(),
                })
                .to_vec(),
        };
        let ct = |vmid, node: &str, idmap: Vec<Extent>| CtState {
            vmid,
            node: node.into(),
            unprivileged: true,
            lock: None,
            idmap,
            uses: vec![ShareUse {
                share: "a".into(),
                key: Some("mp0".into()),
                read_only: false,
                shared: true,
            }],
            other_maps: Vec::new(),
        };
        // 103 already passes 1005 through (idfed's, by its managed record): it gains only 1006.
        let has_1005 = map(&[
            "u 0 100000 1005",
            "u 1005 1005 1",
            "u 1006 101006 64530",
            "g 0 100000 65536",
        ]);
        let cts = [
            ct(101, "pve1", vec![]),
            ct(102, "pve2", vec![]),
            ct(103, "pve1", has_1005),
            ct(104, "pve1", vec![]),
        ];
        let mut managed = std::collections::BTreeMap::new();
        let mut uids = IdSet::new();
        uids.insert_id(1005);
        managed.insert(
            103,
            Managed {
                uids,
                gids: IdSet::new(),
                ..Managed::default()
            },
        );
        let coverage = std::collections::BTreeMap::from([(
            "pve1".to_string(),
            NodeCoverage {
                uids: IdSet::new(),
                gids: IdSet::new(),
            },
        )]);
        let p = plan(&PlanInput {
            params: MapParams::default(),
            subid_owner: "root".into(),
            shares: std::slice::from_ref(&share),
            cts: &cts,
            managed: &managed,
            coverage: &coverage,
            nodes: &["pve1".to_string(), "pve2".to_string()],
            stale: &[],
            adopt: false,
            release: &[],
            threads: 1,
        });
        assert_eq!(p.groups.len(), 1, "one map for all four");
        let text = render_text(&p);
        assert!(
            text.contains("owners of share a: user u1005 (1005), user u1006 (1006)\n"),
            "{text}"
        );
        assert!(
            text.contains("  CTs 101, 104 on pve1; 102 on pve2 (shares: a): waiting for"),
            "{text}"
        );
        // The run's diff once (the gid map is unchanged, so the lines are shown).
        assert_eq!(
            text.matches("    - lxc.idmap: u 0 100000 65536\n").count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("gains: every owner of share a\n").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("  CT 103 on pve1 (shares: a): waiting for"),
            "{text}"
        );
        assert!(
            text.contains("    gains: user u1006 (1006, share a)\n"),
            "{text}"
        );
        assert!(text.contains("    - lxc.idmap: u 1005 1005 1\n"), "{text}");
    }

    /// Regression: the summary counted locked CTs as waiting for nodes.
    #[test]
    fn summary_counts_locked_cts_apart_from_waiting_ones() {
        use crate::cluster::{CtState, NodeCoverage, ShareUse};
        use crate::idmap::MapParams;
        use crate::plan::testutil::share;
        use crate::plan::{PlanInput, plan};

        let share = share("a", &[1005], &[]);
        let ct = |vmid, lock: Option<&str>| CtState {
            vmid,
            node: "pve1".into(),
            unprivileged: true,
            lock: lock.map(Into::into),
            idmap: ["u 0 100000 65536", "g 0 100000 65536"]
                .iter()
                .map(|l| l.parse().unwrap())
                .collect(),
            uses: vec![ShareUse {
                share: "a".into(),
                key: Some("mp0".into()),
                read_only: false,
                shared: true,
            }],
            other_maps: Vec::new(),
        };
        let coverage = BTreeMap::from([("pve1".to_string(), NodeCoverage::default())]);
        let nodes = ["pve1".to_string(), "pve2".to_string()];
        let managed = BTreeMap::new();
        let summary = |cts: &[CtState]| {
            let text = render_text(&plan(&PlanInput {
                params: MapParams::default(),
                subid_owner: "root".into(),
                shares: std::slice::from_ref(&share),
                cts,
                managed: &managed,
                coverage: &coverage,
                nodes: &nodes,
                stale: &[],
                adopt: false,
                release: &[],
                threads: 1,
            }));
            text.lines().last().unwrap().to_string()
        };
        assert_eq!(
            summary(&[ct(101, None), ct(102, Some("backup")), ct(103, None)]),
            "0 container map(s) to change, 2 waiting, 1 blocked, 1 node(s) lacking subid lines"
        );
        // No locked CT: the summary says nothing about blocked ones.
        assert_eq!(
            summary(&[ct(101, None)]),
            "0 container map(s) to change, 1 waiting, 1 node(s) lacking subid lines"
        );
    }
}
