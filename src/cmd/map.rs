//! `idfed map`: the map for a set of ids, no configuration needed.
//!
//! Text: the `lxc.idmap:` lines (uids, then gids) ready to paste into a CT config, then the
//! subuid and subgid lines, each under a `# /etc/subuid` comment; the base range's own line
//! (`root:100000:65536`) is not repeated, nor are passthroughs it already covers. Warnings (holes, exposed ids) go
//! to stderr in every format, and into `warnings` in JSON.

use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{Format, MapArgs};
use crate::idmap::{self, BuiltMap, Extent, IdSpec, MapParams, MapWarning, Subid};
use crate::ids::{ByKind, IdKind, IdSet};

use super::{Globals, Outcome, require_format};

/// The JSON document (DESIGN.md section 5, `map`).
#[derive(Debug, Serialize)]
struct MapJson {
    uid_map: Vec<Extent>,
    gid_map: Vec<Extent>,
    subuid: Vec<Subid>,
    subgid: Vec<Subid>,
    exposed_uids: IdSet,
    exposed_gids: IdSet,
    unmapped_uids: IdSet,
    unmapped_gids: IdSet,
    minimal_merge: bool,
    warnings: Vec<MapWarning>,
}

/// Runs `idfed map`.
pub(crate) fn run(globals: &Globals, args: &MapArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "map")?;
    let params = MapParams {
        base: args.base,
        size: args.size,
        min_id: args.min_id,
        max_extents: args.max_extents,
        protected: args.protected.iter().copied().collect(),
        over_budget: args.over_budget,
    };
    let specs = args
        .ids
        .iter()
        .map(|s| s.parse::<IdSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    let [uids, gids] = IdKind::ALL.map(|kind| {
        specs
            .iter()
            .filter(|s| s.applies_to(kind))
            .map(|s| s.range)
            .collect::<IdSet>()
    });
    // Name the IDSPEC a refused id came from, not only the id.
    for spec in &specs {
        for kind in IdKind::ALL.into_iter().filter(|&k| spec.applies_to(k)) {
            idmap::check_passthrough(kind, &IdSet::from(spec.range), &params)
                .with_context(|| format!("IDSPEC `{spec}`"))?;
        }
    }
    let none = IdSet::new();
    let uid_map = idmap::build(IdKind::Uid, &uids, &none, &params)?;
    let gid_map = idmap::build(IdKind::Gid, &gids, &none, &params)?;
    let owner = args.subid_owner.as_str();
    // Passthroughs inside the base range are covered by its own line, which is not repeated.
    let base = IdSet::from(params.base_range()?);
    let needs = |map: &BuiltMap| idmap::subids(&map.passthrough.difference(&base), owner);
    let warnings: Vec<MapWarning> = uid_map
        .warnings
        .iter()
        .chain(&gid_map.warnings)
        .cloned()
        .collect();
    for w in &warnings {
        super::warn(w);
    }
    match globals.format {
        Format::Json => {
            let doc = MapJson {
                subuid: needs(&uid_map),
                subgid: needs(&gid_map),
                exposed_uids: uid_map.exposed.clone(),
                exposed_gids: gid_map.exposed.clone(),
                unmapped_uids: uid_map.unmapped_inside(),
                unmapped_gids: gid_map.unmapped_inside(),
                minimal_merge: uid_map.minimal_merge && gid_map.minimal_merge,
                uid_map: uid_map.extents,
                gid_map: gid_map.extents,
                warnings,
            };
            super::print_stdout(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
        }
        _ => {
            let subids = ByKind {
                uid: needs(&uid_map),
                gid: needs(&gid_map),
            };
            super::print_stdout(&render_text(&uid_map, &gid_map, subids, owner, &params)?)?;
        }
    }
    Ok(Outcome::Ok)
}

/// The text form: idmap lines, a blank line, then each subid file's lines under a comment.
fn render_text(
    uid_map: &BuiltMap,
    gid_map: &BuiltMap,
    subids: ByKind<Vec<Subid>>,
    owner: &str,
    params: &MapParams,
) -> anyhow::Result<String> {
    let base = Subid::new(owner, params.base_range()?);
    let mut out = String::new();
    for e in uid_map.extents.iter().chain(&gid_map.extents) {
        writeln!(out, "lxc.idmap: {e}")?;
    }
    for (kind, lines) in subids {
        let file = format!("sub{kind}");
        writeln!(out, "\n# /etc/{file} (besides {base})")?;
        if lines.is_empty() {
            writeln!(out, "# nothing to add")?;
        }
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    Ok(out)
}
