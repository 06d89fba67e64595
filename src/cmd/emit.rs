//! `idfed emit --out DIR`: per-node bundles for configuration-management tools. Writes only its
//! own files (`DIR/<node>/subuid`, `DIR/<node>/subgid`, `DIR/<node>/lxc/<vmid>.idmap`,
//! `DIR/plan.json`); anything else in DIR stays.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::{EmitArgs, Format};
use crate::fs::{Written, create_or_replace};
use crate::idmap::subids;
use crate::ids::IdSet;
use crate::plan::text::idmap_lines;

use super::load::load;
use super::{Globals, Outcome, require_format};

fn write(path: &Path, text: &str, written: &mut Vec<String>) -> anyhow::Result<()> {
    if let Written::Replaced { .. } = create_or_replace(path, text.as_bytes(), 0o644)? {
        written.push(path.display().to_string());
    }
    Ok(())
}

/// The subid lines every node needs beyond the base range Proxmox installs.
fn subid_text(owner: &str, needed: &IdSet, base: crate::ids::IdRange) -> String {
    let mut out = String::new();
    for s in subids(&needed.difference(&base.into()), owner) {
        let _ = writeln!(out, "{s}");
    }
    out
}

/// Runs `idfed emit`.
///
/// # Errors
/// Loading errors, the shrink guard, or a file that cannot be written.
pub(crate) fn run(globals: &Globals, args: &EmitArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text], "emit")?;
    let mut ctx = load(globals, false)?;
    ctx.warn_unreadable_cts("left out of the bundles", None);
    ctx.hold(
        &globals.root,
        &crate::cli::allow_shrink(args.allow_shrink.as_ref()),
        "idfed emit",
    )?;
    let plan = ctx.plan(Default::default());
    for h in &plan.held {
        super::warn(h);
    }
    let base = ctx.params.base_range()?;
    let owner = &ctx.config.cluster.subid_owner;
    let subuid = subid_text(owner, &plan.needed_uids, base);
    let subgid = subid_text(owner, &plan.needed_gids, base);
    let mut written = Vec::new();
    for node in &ctx.cluster.nodes {
        let dir = args.out.join(node);
        write(&dir.join("subuid"), &subuid, &mut written)?;
        write(&dir.join("subgid"), &subgid, &mut written)?;
        for c in plan
            .containers
            .iter()
            .filter(|c| c.planned && &c.node == node)
        {
            let path = dir.join("lxc").join(format!("{}.idmap", c.ct));
            write(&path, &idmap_lines(&c.uid_map, &c.gid_map), &mut written)?;
        }
    }
    let json = serde_json::to_string_pretty(&plan)? + "\n";
    write(&args.out.join("plan.json"), &json, &mut written)?;
    if !globals.quiet {
        // `idfed emit --out DIR | head -1`: a closed pipe is not a panic.
        super::write_stdout(|out| {
            if written.is_empty() {
                writeln!(
                    out,
                    "{}: every bundle file is up to date",
                    args.out.display()
                )?;
            }
            for w in &written {
                writeln!(out, "wrote {w}")?;
            }
            Ok(())
        })?;
    }
    Ok(Outcome::Ok)
}
