//! `idfed apply`: loads, plans, and hands the plan to the engine (`crate::apply`, which says what
//! it does in order); prints what it did.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::apply::node_lock::NodeLock;
use crate::apply::{self, Applied, Input, Notice, Opts};
use crate::cli::{ApplyArgs, Format};
use crate::plan::saved::{KIND, LAYOUT, SavedPlan};
use crate::plan::{Plan, Release};

use super::load::{Loaded, load_for_apply};
use super::{Globals, Outcome, require_format};

/// The text report; `quiet` (`-q`) keeps only changes, waits and failures: a steady-state run
/// (a timer's) prints nothing.
fn render_text(out: &Applied, quiet: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let verb = if out.dry_run { "would add" } else { "added" };
    for (file, added) in [
        ("/etc/subuid", &out.subuid_added),
        ("/etc/subgid", &out.subgid_added),
    ] {
        if !added.is_empty() {
            let lines: Vec<String> = added.iter().map(ToString::to_string).collect();
            let _ = writeln!(s, "{}: {file}: {verb} {}", out.node, lines.join(", "));
        }
    }
    for f in &out.changed_files {
        let _ = writeln!(s, "wrote {f}");
    }
    for ct in &out.restart_required {
        let verb = if out.dry_run { "would get" } else { "got" };
        let _ = writeln!(
            s,
            "CT {ct}: {verb} its new map: it takes effect at the next start (`pct reboot {ct}`)"
        );
    }
    let (passes, leaves) = if out.dry_run {
        ("would pass", "would leave")
    } else {
        ("passes", "leaves")
    };
    for e in &out.exposed {
        let ids = crate::ids::uids_gids(&e.uids, &e.gids).unwrap_or_default();
        let _ = writeln!(
            s,
            "CT {}: its new map {passes} {ids} through, which no owner asked for (merged to fit the \
             kernel's budget)",
            e.ct
        );
    }
    for u in &out.unmapped {
        let ids = crate::ids::uids_gids(&u.uids, &u.gids).unwrap_or_default();
        let _ = writeln!(
            s,
            "CT {}: its new map {leaves} {ids} unmapped (their files show as nobody inside)",
            u.ct
        );
    }
    for k in out.skipped.iter().filter(|_| !quiet) {
        let _ = writeln!(s, "CT {}: skipped: {}", k.ct, k.reason);
    }
    for w in &out.waiting {
        let _ = writeln!(
            s,
            "CT {}: waiting for {}: not switched until they cover its new map (run `idfed apply` \
             there; the next run here switches it; `--force` switches now)",
            w.ct,
            w.nodes.join(", ")
        );
    }
    for w in &out.forced {
        let _ = writeln!(
            s,
            "CT {}: forced: {} do(es) not cover its new map yet",
            w.ct,
            w.nodes.join(", ")
        );
    }
    let verb = if out.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for (file, pruned) in [
        ("/etc/subuid", &out.subuid_pruned),
        ("/etc/subgid", &out.subgid_pruned),
    ] {
        if !pruned.is_empty() {
            let lines: Vec<String> = pruned.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "{}: {file}: {verb} {} (added by idfed, needed by no map any more)",
                out.node,
                lines.join(", ")
            );
        }
    }
    for d in &out.records_dropped {
        let verb = if out.dry_run { "would drop" } else { "dropped" };
        let _ = writeln!(s, "CT {}: {verb} idfed's record of it: {}", d.ct, d.reason);
    }
    for h in &out.held {
        let _ = writeln!(s, "{h}");
        for r in &h.would_remove {
            let ids = crate::ids::uids_gids(&r.uids, &r.gids).unwrap_or_default();
            let _ = writeln!(s, "  once accepted, CT {} on {} loses {ids}", r.ct, r.node);
        }
    }
    for r in &out.shifted {
        s.push_str(&super::shift::render_text(r));
    }
    for l in &out.shift_later {
        let _ = writeln!(s, "CT {}: {}", l.ct, l.reason);
    }
    if let Some(p) = out.published.as_ref().filter(|_| !quiet) {
        let _ = writeln!(s, "published this node's subid coverage to {p}");
    }
    for e in &out.errors {
        let _ = writeln!(s, "error: {e}");
    }
    let nothing = out.subuid_added.is_empty()
        && out.subgid_added.is_empty()
        && out.restart_required.is_empty()
        && out.waiting.is_empty()
        && out.subuid_pruned.is_empty()
        && out.subgid_pruned.is_empty()
        && out.records_dropped.is_empty()
        && out.held.is_empty()
        && out.shifted.is_empty()
        && out.shift_later.is_empty()
        && out.errors.is_empty();
    if nothing && !quiet {
        let _ = writeln!(s, "no changes: node {} is in the desired state", out.node);
    }
    s
}

/// Reads a saved plan (`apply --plan FILE`).
///
/// # Errors
/// The file cannot be read, or is not a saved plan idfed can read.
fn read_saved(file: &Path) -> anyhow::Result<SavedPlan> {
    let text = crate::fs::read_to_string(file)?;
    let saved: SavedPlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a saved plan: expected the file `idfed plan --out` writes",
            file.display()
        )
    })?;
    if saved.kind != KIND || saved.layout != LAYOUT {
        bail!(
            "`{}` is not a saved plan this idfed reads (`kind` `{}`, `layout` {}): expected `{KIND}`, \
             layout {LAYOUT}",
            file.display(),
            saved.kind,
            saved.layout
        );
    }
    Ok(saved)
}

/// Refuses `saved` when any input it was made from changed, or when `plan`, made again now, is
/// not exactly it; nothing has been written yet.
///
/// # Errors
/// What changed, or where the plans differ.
fn refuse_stale(
    globals: &Globals,
    ctx: &Loaded,
    saved: &SavedPlan,
    plan: &Plan,
    file: &Path,
) -> anyhow::Result<()> {
    let records = ctx.records(&globals.root)?;
    let changes = saved.changes(&ctx.cluster.node, &ctx.saved_inputs(&records));
    let again = format!(
        "nothing was written; make the plan again (`idfed plan --out {}`) and review it",
        file.display()
    );
    if !changes.is_empty() {
        bail!(
            "the saved plan `{}` is stale: {}; {again}",
            file.display(),
            changes.join("; ")
        );
    }
    let differences = saved.differences(plan)?;
    if !differences.is_empty() {
        bail!(
            "the saved plan `{}` is not what its inputs plan now (in {}); {again}",
            file.display(),
            differences.join(", ")
        );
    }
    Ok(())
}

/// Runs `idfed apply`.
///
/// # Errors
/// Loading errors (a `--node` that is not a node of the cluster among them), the shrink guard,
/// subid files that cannot be written, or any CT of this node that could not be read or handled
/// (the others are still handled first).
pub(crate) fn run(globals: &Globals, args: &ApplyArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "apply")?;
    // One run at a time on this node, from loading to publishing (a dry run writes nothing).
    let _node_lock = if args.dry_run {
        None
    } else {
        Some(NodeLock::acquire(
            &globals.root,
            Duration::from_secs(args.wait),
        )?)
    };
    let saved = args.plan.as_deref().map(read_saved).transpose()?;
    let mut ctx = load_for_apply(globals)?;
    // A saved plan brings the options it was made with (clap refuses them beside `--plan`).
    let (adopt, release, allow_shrink) = match &saved {
        Some(saved) => (
            saved.options.adopt,
            saved
                .options
                .release
                .iter()
                .map(|r| r.parse::<Release>())
                .collect::<Result<Vec<_>, _>>()?,
            saved.options.allow_shrink.clone(),
        ),
        None => (args.adopt, args.release.clone(), args.allow_shrink.clone()),
    };
    ctx.check_release(&release)?;
    ctx.hold(
        &globals.root,
        &crate::cli::allow_shrink(allow_shrink.as_ref()),
        "idfed apply",
    )?;
    let plan = ctx.plan(crate::plan::Choices {
        adopt,
        release: &release,
    });
    if let (Some(saved), Some(file)) = (&saved, &args.plan) {
        refuse_stale(globals, &ctx, saved, &plan, file)?;
    }
    // This node's unreadable configs fail the run (the engine counts them); the others' are
    // warnings.
    ctx.warn_unreadable_cts("left out of the plan", Some(&ctx.cluster.node));
    let input = Input {
        cluster: &ctx.cluster,
        params: &ctx.params,
        shares: &ctx.shares,
        release: &release,
        config_sha256: &ctx.config.sha256,
        baseline: &ctx.guard.record,
    };
    let opts = Opts {
        adopt,
        dry_run: args.dry_run,
        force: args.force,
        prune: args.prune,
        shift_rootfs: args.shift_rootfs,
        wait: Duration::from_secs(args.wait),
    };
    let mut out = apply::apply(
        &globals.root,
        input,
        &plan,
        opts,
        &mut |notice| match notice {
            Notice::Note(n) => globals.note(n),
            Notice::Warning(w) => super::warn(w),
        },
    )?;
    out.held = plan.held.clone();
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&out)? + "\n",
        _ => render_text(&out, globals.quiet),
    };
    super::print_output(globals.format, &text)?;
    if out.errors.is_empty() && out.held.is_empty() {
        Ok(Outcome::Ok)
    } else if out.errors.is_empty() {
        // Everything else was applied: the run fails so that the timer's failure is seen.
        Err(super::AfterOutput(anyhow::anyhow!(
            "{} share(s) held at their last good owners, after the report above:\n  {}",
            out.held.len(),
            out.held
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
        .into())
    } else {
        Err(super::AfterOutput(anyhow::anyhow!(
            "{} failure(s), after the report above:\n  {}",
            out.errors.len(),
            out.errors.join("\n  ")
        ))
        .into())
    }
}
