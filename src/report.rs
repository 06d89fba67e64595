//! Who can write as whom: for every share, owner and container using the share, the access the
//! container's current map gives it. Pure: computed from the CT configs as they are (not from the
//! desired state) and the resolved owners; rendered as a grid, a short list, JSON or CSV.

mod acting;

pub(crate) use acting::{Acting, acting_as};

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::cluster::{CtState, current_map};
use crate::idmap::{MapParams, inside_ranges, outside_ranges};
use crate::ids::{self, ByKind, IdRange, IdSet};
use crate::resolve::OwnerKind;
use crate::resolve::ResolvedShare;
use crate::store::Managed;
use crate::text::{Esc, escape};

/// What a container can do with an owner's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Access {
    /// The owner's id is mapped to itself and a mount of the share is writable.
    Rw,
    /// Mapped to itself, but every mount of the share is read-only.
    Ro,
    /// Not passed through: the owner's files show as nobody inside.
    Unmapped,
    /// A privileged CT: it writes as anyone.
    Privileged,
}

impl Access {
    /// The grid's one-character mark.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Access::Rw => "W",
            Access::Ro => "r",
            Access::Unmapped => ".",
            Access::Privileged => "P",
        }
    }

    /// The JSON/CSV word.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Access::Rw => "rw",
            Access::Ro => "ro",
            Access::Unmapped => "unmapped",
            Access::Privileged => "privileged",
        }
    }
}

/// One cell of the report (JSON: the `report` row shape of DESIGN.md section 5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Row {
    pub share: String,
    pub kind: OwnerKind,
    pub name: String,
    pub id: u32,
    pub ct: u32,
    pub node: String,
    pub access: Access,
}

/// Host ids a container can act as beyond the owners of the shares it uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Exposure {
    pub ct: u32,
    pub node: String,
    pub extra_uids: IdSet,
    pub extra_gids: IdSet,
    /// Of those, the ones adopted (`apply --adopt`): kept until `apply --release`.
    #[serde(skip_serializing_if = "IdSet::is_empty")]
    pub adopted_uids: IdSet,
    #[serde(skip_serializing_if = "IdSet::is_empty")]
    pub adopted_gids: IdSet,
}

/// Inside ids of the base range a container's map leaves unmapped (left out to fit the kernel's
/// budget, or whose base id is a passthrough): no process runs as them inside, and files owned
/// by the host ids they would have show as nobody.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Unmapped {
    pub ct: u32,
    pub node: String,
    pub uids: IdSet,
    pub gids: IdSet,
}

/// The report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Report {
    pub rows: Vec<Row>,
    pub exposure: Vec<Exposure>,
    /// The CTs whose map leaves inside ids of the base range unmapped.
    pub unmapped: Vec<Unmapped>,
    /// With `--owner ID` of an id no share owner has: the containers that can act as it
    /// ([`acting_as`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acting: Vec<Acting>,
}

impl Report {
    /// Marks the exposure idfed keeps because it was adopted, from idfed's (trusted) records.
    pub(crate) fn mark_adopted(&mut self, managed: &BTreeMap<u32, Managed>) {
        for e in &mut self.exposure {
            if let Some(record) = managed.get(&e.ct) {
                e.adopted_uids = e.extra_uids.intersection(&record.adopted_uids);
                e.adopted_gids = e.extra_gids.intersection(&record.adopted_gids);
            }
        }
    }
}

/// Narrows a report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// An owner's name or numeric id.
    pub owner: Option<String>,
    pub ct: Option<u32>,
    pub share: Option<String>,
}

impl Filter {
    fn keeps(&self, row: &Row) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|o| *o == row.name || ids::parse_id(o).is_ok_and(|id| id == row.id))
            && self.ct.is_none_or(|ct| ct == row.ct)
            && self.share.as_ref().is_none_or(|s| *s == row.share)
    }
}

/// The host ids a container can act as through its current map, per kind: every outside id of
/// the map (passthroughs, and host ids a hand-written extent maps some other inside id to). A
/// privileged CT has no map: it acts as anyone, which [`Access::Privileged`] says instead.
fn reachable(ct: &CtState, params: &MapParams) -> ByKind<IdSet> {
    ByKind::from_fn(|kind| outside_ranges(&current_map(&ct.idmap, kind, params)))
}

/// The inside ids of the base range `[0, size)` that a container's current map leaves unmapped,
/// per kind (none for a privileged CT: it has no map).
fn unmapped_inside(ct: &CtState, params: &MapParams) -> ByKind<IdSet> {
    let inside = IdRange::new(0, params.size)
        .map(IdSet::from)
        .unwrap_or_default();
    ByKind::from_fn(|kind| inside.difference(&inside_ranges(&current_map(&ct.idmap, kind, params))))
}

/// Computes the report from the containers as they are.
///
/// An owner is mapped when the CT's map reaches the owner's host id (a passthrough, or a
/// hand-written extent from another inside id: its files then show under that id, and the CT
/// still writes as the owner). Exposure is what the map reaches beyond the base range and the
/// ids of the shares the CT uses; it is listed for the CTs the filter keeps (by CT and share).
pub(crate) fn report(
    params: &MapParams,
    shares: &[ResolvedShare],
    cts: &[CtState],
    filter: &Filter,
) -> Report {
    let mut out = Report::default();
    let base = params.base_range().map(IdSet::from).unwrap_or_default();
    for ct in cts {
        let names = ct.share_names();
        if names.is_empty() || filter.ct.is_some_and(|v| v != ct.vmid) {
            continue;
        }
        let ByKind {
            uid: uids,
            gid: gids,
        } = reachable(ct, params);
        let mut owned: ByKind<IdSet> = ByKind::default();
        for share in shares.iter().filter(|s| names.contains(&s.name)) {
            owned.uid = owned.uid.union(&share.uids);
            owned.gid = owned.gid.union(&share.gids);
            let writable = ct
                .uses
                .iter()
                .any(|u| u.share == share.name && !u.read_only);
            for owner in &share.owners {
                let mapped = match owner.kind {
                    OwnerKind::User => uids.contains(owner.id),
                    OwnerKind::Group => gids.contains(owner.id),
                };
                let access = match (ct.unprivileged, mapped, writable) {
                    (false, _, _) => Access::Privileged,
                    (true, true, true) => Access::Rw,
                    (true, true, false) => Access::Ro,
                    (true, false, _) => Access::Unmapped,
                };
                let row = Row {
                    share: share.name.clone(),
                    kind: owner.kind,
                    name: owner.name.clone(),
                    id: owner.id,
                    ct: ct.vmid,
                    node: ct.node.clone(),
                    access,
                };
                if filter.keeps(&row) {
                    out.rows.push(row);
                }
            }
        }
        let shown = filter.share.as_ref().is_none_or(|s| names.contains(s));
        if ct.unprivileged && shown {
            let extra_uids = uids.difference(&base).difference(&owned.uid);
            let extra_gids = gids.difference(&base).difference(&owned.gid);
            if !extra_uids.is_empty() || !extra_gids.is_empty() {
                out.exposure.push(Exposure {
                    ct: ct.vmid,
                    node: ct.node.clone(),
                    extra_uids,
                    extra_gids,
                    adopted_uids: IdSet::new(),
                    adopted_gids: IdSet::new(),
                });
            }
            let ByKind {
                uid: uids,
                gid: gids,
            } = unmapped_inside(ct, params);
            if !uids.is_empty() || !gids.is_empty() {
                out.unmapped.push(Unmapped {
                    ct: ct.vmid,
                    node: ct.node.clone(),
                    uids,
                    gids,
                });
            }
        }
    }
    out.rows.sort_by(|a, b| {
        (&a.share, a.kind, a.id, &a.name, a.ct).cmp(&(&b.share, b.kind, b.id, &b.name, b.ct))
    });
    out.exposure.sort_by_key(|e| e.ct);
    out.unmapped.sort_by_key(|u| u.ct);
    out
}

/// The rows as CSV with a header (`share,kind,name,id,ct,node,access`).
pub(crate) fn render_csv(report: &Report) -> String {
    let mut out = String::from("share,kind,name,id,ct,node,access\n");
    let field = csv_field;
    for r in &report.rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            field(&r.share),
            r.kind,
            field(&r.name),
            r.id,
            r.ct,
            field(&r.node),
            r.access.word()
        );
    }
    out
}

/// One CSV field: quoted (its quotes doubled) when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Lays out rows of cells in left-aligned columns two spaces apart, without trailing spaces.
fn columns(rows: &[Vec<String>]) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .force_no_tty();
    for row in rows {
        table.add_row(row);
    }
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i < last { 2 } else { 0 }));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The grid: owners down (users, then `@groups`, by share and id), containers across (vmid over
/// node), one mark per cell, then the legend and each CT's exposure.
pub(crate) fn render_grid(report: &Report) -> String {
    let mut out = String::new();
    if report.rows.is_empty() {
        out.push_str("no container uses a share (or nothing matches the filter)\n");
        render_exposure(&mut out, report);
        render_unmapped(&mut out, report);
        return out;
    }
    let mut cts: Vec<(u32, &str)> = report
        .rows
        .iter()
        .map(|r| (r.ct, r.node.as_str()))
        .collect();
    cts.sort();
    cts.dedup();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["share".to_string(), "owner".to_string(), "id".to_string()];
    header.extend(cts.iter().map(|(ct, _)| ct.to_string()));
    rows.push(header);
    let mut nodes = vec![String::new(), String::new(), String::new()];
    nodes.extend(cts.iter().map(|(_, node)| escape(node).into_owned()));
    rows.push(nodes);
    let mut cells: BTreeMap<(&str, OwnerKind, u32, &str), BTreeMap<u32, Access>> = BTreeMap::new();
    for r in &report.rows {
        cells
            .entry((&r.share, r.kind, r.id, &r.name))
            .or_default()
            .insert(r.ct, r.access);
    }
    for ((share, kind, id, name), by_ct) in cells {
        let owner = match kind {
            OwnerKind::User => escape(name).into_owned(),
            OwnerKind::Group => format!("@{}", Esc(name)),
        };
        let mut row = vec![escape(share).into_owned(), owner, id.to_string()];
        row.extend(
            cts.iter()
                .map(|(ct, _)| by_ct.get(ct).map_or("", |a| a.mark()).to_string()),
        );
        rows.push(row);
    }
    out.push_str(&columns(&rows));
    out.push_str(
        "\nW writes as the owner  r mapped, read-only mount  . unmapped (files show as nobody)  \
         P privileged (writes as anyone)\n\
         blank: the CT does not use that share  @name: a group\n",
    );
    render_exposure(&mut out, report);
    render_unmapped(&mut out, report);
    out
}

fn render_exposure(out: &mut String, report: &Report) {
    if report.exposure.is_empty() {
        return;
    }
    out.push_str("\nbeyond the owners of its shares (and its base range), through its map:\n");
    for e in &report.exposure {
        let adopted = ids::uids_gids(&e.adopted_uids, &e.adopted_gids)
            .map(|ids| {
                format!(
                    "; adopted: {ids} (kept until `idfed apply --release {}`)",
                    e.ct
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  CT {} on {} can act as {}{adopted}",
            e.ct,
            e.node,
            counted(&e.extra_uids, &e.extra_gids, "host ")
        );
    }
}

/// `92 uids (1007-1009,1011-1099) and 1 gid (5)`: the non-empty sets of a pair, counted.
fn counted(uids: &IdSet, gids: &IdSet, what: &str) -> String {
    let mut parts = Vec::new();
    for (kind, set) in [("uid", uids), ("gid", gids)] {
        if !set.is_empty() {
            let n = set.len();
            let plural = if n == 1 { "" } else { "s" };
            parts.push(format!("{n} {what}{kind}{plural} ({set})"));
        }
    }
    parts.join(" and ")
}

fn render_unmapped(out: &mut String, report: &Report) {
    if report.unmapped.is_empty() {
        return;
    }
    out.push_str(
        "\ninside ids its map leaves unmapped (no process runs as them; their files show as nobody):\n",
    );
    for u in &report.unmapped {
        let _ = writeln!(
            out,
            "  CT {} on {} leaves {} unmapped",
            u.ct,
            Esc(&u.node),
            counted(&u.uids, &u.gids, "")
        );
    }
}

/// The short answer for one owner: which CTs write as them, which only read, which cannot.
pub(crate) fn render_owner(report: &Report, owner: &str) -> String {
    let mut out = String::new();
    if report.rows.is_empty() && !report.acting.is_empty() {
        let _ = writeln!(
            out,
            "`{owner}` is no owner of a share (or the filter leaves none); through their maps:"
        );
        for a in &report.acting {
            let _ = writeln!(out, "  {a}");
        }
        return out;
    }
    if report.rows.is_empty() {
        let _ = writeln!(
            out,
            "`{}` owns no share, no container uses its shares, or the filter leaves none",
            Esc(owner)
        );
        return out;
    }
    let mut by_owner: BTreeMap<(&str, OwnerKind, u32, &str), Vec<&Row>> = BTreeMap::new();
    for r in &report.rows {
        by_owner
            .entry((&r.name, r.kind, r.id, &r.share))
            .or_default()
            .push(r);
    }
    for ((name, kind, id, share), rows) in by_owner {
        let (name, share) = (Esc(name), Esc(share));
        let _ = writeln!(out, "{kind} {name} ({id}), share {share}:");
        for access in [Access::Rw, Access::Privileged, Access::Ro, Access::Unmapped] {
            let list: Vec<String> = rows
                .iter()
                .filter(|r| r.access == access)
                .map(|r| format!("CT {} on {}", r.ct, Esc(&r.node)))
                .collect();
            if list.is_empty() {
                continue;
            }
            let label = match access {
                Access::Rw => format!("writes as {name}"),
                Access::Privileged => "privileged, writes as anyone".to_string(),
                Access::Ro => "mapped, read-only mount".to_string(),
                Access::Unmapped => "unmapped, sees nobody".to_string(),
            };
            let _ = writeln!(out, "  {label}: {}", list.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ShareUse;
    use crate::idmap::Extent;
    use crate::resolve::Owner;

    fn set(ranges: &[(u32, u32)]) -> IdSet {
        IdSet::of_counts(ranges)
    }

    fn share() -> ResolvedShare {
        let owner = |kind, name: &str, id| Owner {
            kind,
            name: name.into(),
            id,
            source: "nas".into(),
        };
        ResolvedShare {
            name: "projects".into(),
            uids: set(&[(1005, 1)]),
            gids: set(&[(3000, 1)]),
            owners: vec![
                owner(OwnerKind::User, "alice", 1005),
                owner(OwnerKind::Group, "research", 3000),
            ],
        }
    }

    fn map(lines: &[&str]) -> Vec<Extent> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    fn ct(vmid: u32, unprivileged: bool, read_only: bool, idmap: Vec<Extent>) -> CtState {
        CtState {
            vmid,
            node: "pve1".into(),
            unprivileged,
            lock: None,
            idmap,
            uses: vec![ShareUse {
                share: "projects".into(),
                key: Some("mp0".into()),
                read_only,
                shared: true,
            }],
            other_maps: Vec::new(),
        }
    }

    /// The seed map of DESIGN.md for uid 1005, and gid 3000 passed through.
    fn converged() -> Vec<Extent> {
        map(&[
            "u 0 100000 1005",
            "u 1005 1005 1",
            "u 1006 101006 64530",
            "g 0 100000 3000",
            "g 3000 3000 1",
            "g 3001 103001 62535",
        ])
    }

    fn access(c: CtState) -> Vec<(OwnerKind, Access)> {
        report(&MapParams::default(), &[share()], &[c], &Filter::default())
            .rows
            .iter()
            .map(|r| (r.kind, r.access))
            .collect()
    }

    #[test]
    fn access_rules() {
        use Access::*;
        use OwnerKind::*;
        let default = map(&["u 0 100000 65536", "g 0 100000 65536"]);
        for (c, want) in [
            (ct(101, true, false, converged()), [(User, Rw), (Group, Rw)]),
            (ct(102, true, true, converged()), [(User, Ro), (Group, Ro)]),
            (
                ct(103, true, false, default.clone()),
                [(User, Unmapped), (Group, Unmapped)],
            ),
            (
                ct(104, false, true, Vec::new()),
                [(User, Privileged), (Group, Privileged)],
            ),
            // A hand-written extent that maps inside 2000 to host 1005: the CT still writes as
            // alice (her files show as 2000 inside).
            (
                ct(
                    105,
                    true,
                    false,
                    map(&[
                        "u 0 100000 2000",
                        "u 2000 1005 1",
                        "u 2001 102001 63535",
                        "g 0 100000 65536",
                    ]),
                ),
                [(User, Rw), (Group, Unmapped)],
            ),
        ] {
            assert_eq!(access(c), want);
        }
    }

    #[test]
    fn cts_without_shares_give_no_rows() {
        let mut c = ct(101, true, false, converged());
        c.uses.clear();
        let r = report(&MapParams::default(), &[share()], &[c], &Filter::default());
        assert_eq!(r, Report::default());
    }

    #[test]
    fn exposure_is_beyond_owners_and_base_range() {
        // The base range (100000..165535, n and n + 1 at both ends) is the CT's own: not exposure.
        let c = ct(
            101,
            true,
            false,
            map(&[
                "u 0 100000 33",
                "u 33 33 1",
                "u 34 100034 971",
                "u 1005 1005 1",
                "u 1006 101006 64530",
                "g 0 100000 3000",
                "g 3000 3000 2",
                "g 3002 103002 62534",
            ]),
        );
        let r = report(&MapParams::default(), &[share()], &[c], &Filter::default());
        assert_eq!(
            r.exposure,
            [Exposure {
                ct: 101,
                node: "pve1".into(),
                extra_uids: set(&[(33, 1)]),
                extra_gids: set(&[(3001, 1)]),
                adopted_uids: IdSet::new(),
                adopted_gids: IdSet::new(),
            }]
        );
        // A privileged CT has no map to measure.
        let r = report(
            &MapParams::default(),
            &[share()],
            &[ct(104, false, false, Vec::new())],
            &Filter::default(),
        );
        assert!(r.exposure.is_empty());
    }

    #[test]
    fn filters() {
        let cts = [
            ct(101, true, false, converged()),
            ct(102, true, true, converged()),
        ];
        let p = MapParams::default();
        let rows = |f: Filter| -> Vec<(String, u32)> {
            report(&p, &[share()], &cts, &f)
                .rows
                .iter()
                .map(|r| (r.name.clone(), r.ct))
                .collect()
        };
        let by = |owner: &str| Filter {
            owner: Some(owner.into()),
            ..Filter::default()
        };
        assert_eq!(
            rows(by("alice")),
            [("alice".into(), 101), ("alice".into(), 102)]
        );
        assert_eq!(
            rows(by("3000")),
            [("research".into(), 101), ("research".into(), 102)]
        );
        assert_eq!(rows(by("3001")), []);
        let ct102 = Filter {
            ct: Some(102),
            ..Filter::default()
        };
        assert_eq!(
            rows(ct102),
            [("alice".into(), 102), ("research".into(), 102)]
        );
        let other = Filter {
            share: Some("media".into()),
            ..Filter::default()
        };
        assert_eq!(rows(other), []);
    }

    #[test]
    fn grid_and_csv() {
        let cts = [
            ct(101, true, false, converged()),
            ct(102, true, true, converged()),
            ct(104, false, false, Vec::new()),
        ];
        let r = report(&MapParams::default(), &[share()], &cts, &Filter::default());
        let grid = render_grid(&r);
        assert!(grid.lines().all(|l| l == l.trim_end()), "{grid}");
        assert!(
            grid.starts_with(
                "share     owner      id    101   102   104\n\
             \x20                          pve1  pve1  pve1\n\
             projects  alice      1005  W     r     P\n\
             projects  @research  3000  W     r     P\n"
            ),
            "{grid}"
        );
        let csv = render_csv(&r);
        assert_eq!(
            csv.lines().next(),
            Some("share,kind,name,id,ct,node,access")
        );
        assert_eq!(
            csv.lines().nth(1),
            Some("projects,user,alice,1005,101,pve1,rw")
        );
        assert_eq!(csv.lines().count(), 7);
    }

    #[test]
    fn csv_quotes_fields() {
        let mut r = Report::default();
        r.rows.push(Row {
            share: "a,b".into(),
            kind: OwnerKind::User,
            name: "say \"hi\"".into(),
            id: 1,
            ct: 2,
            node: "n".into(),
            access: Access::Rw,
        });
        assert_eq!(
            render_csv(&r).lines().nth(1),
            Some("\"a,b\",user,\"say \"\"hi\"\"\",1,2,n,rw")
        );
    }
}
