//! `idfed shift VMID [--dry-run] [--rootfs DIR]`: arguments in, [`crate::shift::shift`] called,
//! its report rendered. Exit 1 when entries could not be changed (the others were).

use std::fmt::Write as _;

use anyhow::Context as _;

use crate::cli::{Format, ShiftArgs};
use crate::config;
use crate::shift::preview::thousands;
use crate::shift::{self, Params, Report, Request};

use super::{Globals, Outcome, require_format};
use crate::cluster::node_name;

/// Runs `idfed shift`.
///
/// # Errors
/// A refused shift (running, locked, not switched, no directory), or entries that could not be
/// changed.
pub(crate) fn run(globals: &Globals, args: &ShiftArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "shift")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let node = node_name(globals.node.as_deref());
    let c = &config.cluster;
    let params = Params::of(&c.map);
    let threads = args
        .threads
        .map_or_else(shift::default_threads, usize::from);
    let report = shift::shift(&Request {
        root: &globals.root,
        pve_root: &c.pve_root,
        node: &node,
        vmid: args.vmid,
        rootfs: args.rootfs.as_deref(),
        dry_run: args.dry_run,
        params: &params,
        threads,
    })
    .with_context(|| format!("cannot shift CT {}", args.vmid))?;
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        _ => render_text(&report),
    };
    if !(globals.quiet && report.changed == 0 && report.acl_entries == 0) {
        super::print_output(globals.format, &text)?;
    }
    if !report.problems.is_empty() {
        return Err(super::AfterOutput(anyhow::anyhow!(
            "CT {}: {} entries could not be read or changed (the others were); rerun `idfed shift {}` after fixing them",
            report.vmid,
            report.problems.len(),
            report.vmid
        ))
        .into());
    }
    Ok(Outcome::Ok)
}

/// The text of a shift's report (`apply --shift-rootfs` prints it too).
pub(super) fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would move" } else { "moved" };
    let _ = writeln!(
        out,
        "CT {}: root filesystem `{}`{}",
        r.vmid,
        r.rootfs.display(),
        if r.dry_run { " (dry run)" } else { "" }
    );
    for m in &r.moves {
        let _ = writeln!(
            out,
            "  {} {}: host {} → {}: {} {} entries ({} bytes)",
            m.kind,
            m.inside,
            m.from,
            m.to,
            verb,
            thousands(m.entries),
            thousands(m.bytes)
        );
    }
    let _ = writeln!(
        out,
        "  {} of {} entries {}, {} ACL entries {}",
        thousands(r.changed),
        thousands(r.entries),
        if r.dry_run {
            "would change owner"
        } else {
            "changed owner"
        },
        thousands(r.acl_entries),
        if r.dry_run {
            "would be rewritten"
        } else {
            "rewritten"
        }
    );
    if r.restored > 0 {
        let _ = writeln!(
            out,
            "  {} setuid/setgid or capability entries put back from an interrupted run",
            r.restored
        );
    }
    for p in &r.other_filesystems {
        let _ = writeln!(out, "  `{p}` is another filesystem: not entered");
    }
    for p in &r.problems {
        let _ = writeln!(out, "  error: {p}");
    }
    out
}
