//! `idfed shift VMID [--dry-run] [--rootfs DIR]`: arguments in, [`crate::shift::shift`] called,
//! its report rendered. Exit 1 when entries could not be changed (the others were).

use std::fmt::Write as _;

use anyhow::Context as _;

use crate::cli::{Format, ShiftArgs};
use crate::config;
use crate::shift::preview::thousands;
use crate::shift::{self, Params, Report, Request};
use crate::store;

use super::{Globals, Outcome, require_format};
use crate::cluster::node_name;

/// Runs `idfed shift`.
///
/// # Errors
/// A refused shift (running, locked, not switched, no directory), or entries that could not be
/// changed.
pub fn run(globals: &Globals, args: &ShiftArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "shift")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let node = node_name(globals.node.as_deref());
    let c = &config.cluster;
    let params = Params {
        base: c.map.base,
        size: c.map.size,
        min_id: c.map.min_id,
        protected: c.map.protected.clone(),
    };
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16)),
        usize::from,
    );
    // The map idfed replaced, when it switched this CT's map (trusted by `shift` only while the
    // CT's map is still the one it wrote).
    let record = store::managed::read(&globals.root, &c.pve_root, args.vmid)
        .with_context(|| format!("cannot shift CT {}", args.vmid))?;
    let report = shift::shift(&Request {
        root: &globals.root,
        pve_root: &c.pve_root,
        node: &node,
        vmid: args.vmid,
        rootfs: args.rootfs.as_deref(),
        dry_run: args.dry_run,
        params: &params,
        switch: record.as_ref().and_then(|r| r.switched.as_ref()),
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

fn render_text(r: &Report) -> String {
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
            "  {} {}: host {} -> {}: {} {} entries ({} bytes)",
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
