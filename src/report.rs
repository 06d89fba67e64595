//! Who can write as whom: for every share, owner and container using the share, the access the
//! container's current map gives it. Pure: computed from the CT configs as they are (not from the
//! desired state) and the resolved owners; rendered as a grid, a short list, JSON or CSV.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::idmap::MapParams;
use crate::idmap::passthroughs;
use crate::ids::{IdKind, IdSet};
use crate::plan::{CtIn, current_map};
use crate::resolve::OwnerKind;
use crate::resolve::ResolvedShare;

/// What a container can do with an owner's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
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
    pub fn mark(self) -> &'static str {
        match self {
            Access::Rw => "W",
            Access::Ro => "r",
            Access::Unmapped => ".",
            Access::Privileged => "P",
        }
    }

    /// The JSON/CSV word.
    pub fn word(self) -> &'static str {
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
pub struct Row {
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
pub struct Exposure {
    pub ct: u32,
    pub node: String,
    pub extra_uids: IdSet,
    pub extra_gids: IdSet,
}

/// The report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub exposure: Vec<Exposure>,
}

/// Narrows a report.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// An owner's name or numeric id.
    pub owner: Option<String>,
    pub ct: Option<u32>,
    pub share: Option<String>,
}

impl Filter {
    fn keeps(&self, row: &Row) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|o| *o == row.name || o.parse::<u32>().is_ok_and(|id| id == row.id))
            && self.ct.is_none_or(|ct| ct == row.ct)
            && self.share.as_ref().is_none_or(|s| *s == row.share)
    }
}

/// Computes the report from the containers as they are.
pub fn report(
    params: &MapParams,
    shares: &[ResolvedShare],
    cts: &[CtIn],
    filter: &Filter,
) -> Report {
    let mut out = Report::default();
    for ct in cts {
        let names = ct.share_names();
        if names.is_empty() || filter.ct.is_some_and(|v| v != ct.vmid) {
            continue;
        }
        let uids = passthroughs(&current_map(&ct.idmap, IdKind::Uid, params));
        let gids = passthroughs(&current_map(&ct.idmap, IdKind::Gid, params));
        let mut owned = [IdSet::new(), IdSet::new()];
        for share in shares.iter().filter(|s| names.contains(&s.name)) {
            owned[0] = owned[0].union(&share.uids);
            owned[1] = owned[1].union(&share.gids);
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
        if ct.unprivileged {
            let extra_uids = uids.difference(&owned[0]);
            let extra_gids = gids.difference(&owned[1]);
            if !extra_uids.is_empty() || !extra_gids.is_empty() {
                out.exposure.push(Exposure {
                    ct: ct.vmid,
                    node: ct.node.clone(),
                    extra_uids,
                    extra_gids,
                });
            }
        }
    }
    out.rows.sort_by(|a, b| {
        (&a.share, a.kind, a.id, &a.name, a.ct).cmp(&(&b.share, b.kind, b.id, &b.name, b.ct))
    });
    out
}

/// The rows as CSV with a header (`share,kind,name,id,ct,node,access`).
pub fn render_csv(report: &Report) -> String {
    let mut out = String::from("share,kind,name,id,ct,node,access\n");
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for r in &report.rows {
        let kind = match r.kind {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        };
        let _ = writeln!(
            out,
            "{},{kind},{},{},{},{},{}",
            field(&r.share),
            field(&r.name),
            r.id,
            r.ct,
            field(&r.node),
            r.access.word()
        );
    }
    out
}

/// The grid: owners down, containers across, one mark per cell, then the legend and exposure.
pub fn render_grid(report: &Report) -> String {
    let mut out = String::new();
    if report.rows.is_empty() {
        out.push_str("no container uses a share (or nothing matches the filter)\n");
        return out;
    }
    let mut cts: Vec<(u32, &str)> = report
        .rows
        .iter()
        .map(|r| (r.ct, r.node.as_str()))
        .collect();
    cts.sort();
    cts.dedup();
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    let mut header = vec!["share".to_string(), "owner".to_string(), "id".to_string()];
    header.extend(cts.iter().map(|(ct, _)| ct.to_string()));
    table.set_header(header);
    let mut cells: BTreeMap<(&str, OwnerKind, u32, &str), BTreeMap<u32, Access>> = BTreeMap::new();
    for r in &report.rows {
        cells
            .entry((&r.share, r.kind, r.id, &r.name))
            .or_default()
            .insert(r.ct, r.access);
    }
    for ((share, kind, id, name), by_ct) in cells {
        let owner = match kind {
            OwnerKind::User => name.to_string(),
            OwnerKind::Group => format!("@{name}"),
        };
        let mut row = vec![share.to_string(), owner, id.to_string()];
        row.extend(
            cts.iter()
                .map(|(ct, _)| by_ct.get(ct).map_or(" ", |a| a.mark()).to_string()),
        );
        table.add_row(row);
    }
    let _ = writeln!(out, "{table}");
    let _ = writeln!(
        out,
        "\nW writes as the owner   r read-only mount   . unmapped (files show as nobody)   \
         P privileged (writes as anyone)   @ group"
    );
    render_exposure(&mut out, report);
    out
}

fn render_exposure(out: &mut String, report: &Report) {
    for e in &report.exposure {
        let _ = writeln!(
            out,
            "CT {} ({}) can also act as {} host uid(s) and {} host gid(s) no share owner has: uids {}, gids {}",
            e.ct,
            e.node,
            e.extra_uids.len(),
            e.extra_gids.len(),
            e.extra_uids,
            e.extra_gids
        );
    }
}

/// The short answer for one owner: which CTs write as them, which only read, which cannot.
pub fn render_owner(report: &Report, owner: &str) -> String {
    let mut out = String::new();
    if report.rows.is_empty() {
        let _ = writeln!(
            out,
            "`{owner}` owns no share, or no container uses its shares"
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
        let kind = match kind {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        };
        let _ = writeln!(out, "{kind} {name} ({id}) of share {share}:");
        for access in [Access::Rw, Access::Privileged, Access::Ro, Access::Unmapped] {
            let list: Vec<String> = rows
                .iter()
                .filter(|r| r.access == access)
                .map(|r| format!("CT {} ({})", r.ct, r.node))
                .collect();
            if list.is_empty() {
                continue;
            }
            let label = match access {
                Access::Rw => "writes as it",
                Access::Privileged => "privileged, writes as anyone",
                Access::Ro => "read-only mount",
                Access::Unmapped => "unmapped (sees nobody)",
            };
            let _ = writeln!(out, "  {label}: {}", list.join(", "));
        }
    }
    out
}
