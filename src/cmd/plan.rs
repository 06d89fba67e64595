//! `idfed plan`: desired vs current, per node and per group of containers with the same map.

use std::path::Path;

use anyhow::Context as _;

use crate::cli::{Format, PlanArgs};
use crate::plan::Plan;
use crate::plan::saved::{self, SavedPlan};
use crate::plan::text::{unbuilt_lines, write_text};

use super::load::{Loaded, load};
use super::{Finished, Globals, Leftover, Outcome, require_format};

/// What a plan without changes says in text (`-v` prints the whole plan instead).
pub(crate) const NO_CHANGES: &str = "No changes: every managed container has its desired map and every \
     node's subid files cover them (`idfed plan -v` shows the maps)\n";

/// Narrows a plan to one share (what onboarding it changes) and/or one container.
pub(crate) fn filter(mut plan: Plan, share: Option<&str>, ct: Option<u32>) -> Plan {
    plan.containers.retain(|c| {
        share.is_none_or(|s| c.shares.iter().any(|x| x == s)) && ct.is_none_or(|v| v == c.ct)
    });
    if let Some(s) = share {
        for c in &mut plan.containers {
            c.gains.retain_share(s);
        }
    }
    let kept: Vec<u32> = plan.containers.iter().map(|c| c.ct).collect();
    plan.groups.retain_mut(|g| {
        // `kept` is sorted (the plan sorts containers by vmid): a scan here was quadratic.
        g.cts.retain(|c| kept.binary_search(c).is_ok());
        !g.cts.is_empty()
    });
    plan
}

/// Writes the whole `plan` with its inputs' fingerprints to `file` (`plan --out`).
///
/// # Errors
/// idfed's records cannot be read, or the file cannot be written.
fn save(
    globals: &Globals,
    ctx: &Loaded,
    plan: &Plan,
    args: &PlanArgs,
    file: &Path,
) -> anyhow::Result<()> {
    let records = ctx.records(&globals.root)?;
    let options = saved::Options {
        adopt: args.adopt,
        release: args.release.iter().map(ToString::to_string).collect(),
        allow_shrink: args.allow_shrink.clone(),
    };
    let saved = SavedPlan::new(
        plan,
        &ctx.cluster.node,
        options,
        &ctx.saved_inputs(&records),
    )?;
    crate::fs::write_json(file, &saved)
        .with_context(|| format!("cannot save the plan to `{}`", file.display()))?;
    globals.note(format_args!(
        "saved the plan to `{}`: `idfed apply --plan {}` on {} applies exactly it, unless an \
         input changed since",
        file.display(),
        file.display(),
        ctx.cluster.node
    ));
    Ok(())
}

/// `--scan-rootfs`: what each moving id owns in the root filesystem of this node's CTs whose map
/// changes; a CT of another node, or whose root filesystem is no directory here, says why not.
fn scan_rootfs(globals: &Globals, ctx: &Loaded, plan: &mut Plan) {
    let cluster = &ctx.cluster;
    for c in plan
        .containers
        .iter_mut()
        .filter(|c| !c.rootfs.moves.is_empty())
    {
        if c.node != cluster.node {
            std::sync::Arc::make_mut(&mut c.rootfs).not_scanned = Some(format!(
                "CT {} is on node {}: run `idfed plan --scan-rootfs` there",
                c.ct, c.node
            ));
            continue;
        }
        let Some(ct) = cluster.pve.ct(c.ct) else {
            continue;
        };
        let (old, new) = c.maps();
        crate::shift::preview::scan_ct(
            std::sync::Arc::make_mut(&mut c.rootfs),
            &globals.root,
            c.ct,
            &ct.config,
            &cluster.pve.storage,
            &crate::shift::moves::between(&old, &new),
        );
    }
}

/// Runs `idfed plan`.
///
/// # Errors
/// Loading errors, an unknown `--share`, or the shrink guard.
pub(crate) fn run(globals: &Globals, args: &PlanArgs) -> anyhow::Result<Finished> {
    require_format(globals, &[Format::Text, Format::Json], "plan")?;
    let mut ctx = load(globals, false)?;
    ctx.warn_unreadable_cts("left out of the plan", None);
    ctx.check_filters(args.share.as_deref(), args.ct)?;
    ctx.check_release(&args.release)?;
    ctx.hold(
        &globals.root,
        &crate::cli::allow_shrink(args.allow_shrink.as_ref()),
        "idfed apply",
    )?;
    let plan = ctx.plan(crate::plan::Choices {
        adopt: args.adopt,
        release: &args.release,
    });
    if let Some(file) = &args.out {
        save(globals, &ctx, &plan, args, file)?;
    }
    let mut plan = filter(plan, args.share.as_deref(), args.ct);
    if args.scan_rootfs {
        scan_rootfs(globals, &ctx, &mut plan);
    }
    if let Some(vmid) = args.ct
        && plan.containers.is_empty()
    {
        globals.note(format_args!(
            "CT {vmid} uses no share of the configuration{}: idfed leaves its map alone",
            args.share
                .as_deref()
                .map(|s| format!(" (or not `{s}`)"))
                .unwrap_or_default()
        ));
    }
    // Written as it is serialized: at cluster scale the JSON is a hundred megabytes, the text tens.
    super::write_stdout(|out| match globals.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &plan)?;
            out.write_all(b"\n")
        }
        // Nothing to change: one line (none with `-q`), as terraform says it; `-v` shows the maps.
        // CTs whose map cannot be built are named even then: they are not in their desired state.
        _ if !plan.has_changes() && globals.verbose == 0 => {
            if !globals.quiet {
                out.write_all(NO_CHANGES.as_bytes())?;
            }
            out.write_all(crate::text::escape_lines(&unbuilt_lines(&plan)).as_bytes())
        }
        _ => write_text(&plan, &mut |chunk| {
            out.write_all(crate::text::escape_lines(chunk).as_bytes())
        }),
    })?;
    ctx.finish_caching();
    let outcome = if args.detailed_exitcode && plan.has_changes() {
        Outcome::NotDesired
    } else {
        Outcome::Ok
    };
    Ok(Finished {
        outcome,
        leftover: Leftover::of((plan, ctx)),
    })
}
