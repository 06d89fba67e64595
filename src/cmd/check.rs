//! `idfed check`: every CT map of the cluster and this node's subid files against the kernel's
//! rules; exit 2 when a container would fail. The other nodes are checked against the subid
//! coverage they published (`<pve_root>/idfed/nodes/`); nodes that never published, or not for
//! longer than `cluster.publish_max_age_secs`, are warnings.

use crate::check::{
    CheckInput, DeprecatedIdmap, Finding, NodeFiles, RootfsWhen, SubidLineWarning, check,
    render_text, rootfs_finding,
};
use crate::cli::{CheckArgs, Format};
use crate::plan::Plan;
use crate::report::{Filter, report};
use crate::shift::moves;
use crate::shift::preview::{self, Preview};

use super::load::{Loaded, load_offline};
use super::{Globals, Outcome, require_format};

/// What the map changes of this node's CTs do to their own files, counted where the root
/// filesystem is a directory here: the switch the plan makes (`rootfs-pending`) and the one idfed
/// made, while its old host ids still own entries (`rootfs-unshifted`).
fn rootfs_findings(globals: &Globals, ctx: &Loaded, plan: Option<&Plan>) -> Vec<Finding> {
    let cluster = &ctx.cluster;
    let mut out = Vec::new();
    for ct in cluster.pve.cts.iter().filter(|ct| ct.node == cluster.node) {
        let pending = plan
            .and_then(|p| p.container(ct.vmid))
            .filter(|c| !c.rootfs.moves.is_empty());
        let (moves, when) = if let Some(c) = pending {
            let (old, new) = c.maps();
            (moves::between(&old, &new), RootfsWhen::Pending)
        } else {
            let current = ct.config.effective_idmap();
            match cluster
                .managed
                .get(&ct.vmid)
                .and_then(|m| m.switched.as_ref())
            {
                Some(s) if !s.shifted && s.wrote(&current) => {
                    (moves::since(&s.olds(), &current), RootfsWhen::Switched)
                }
                _ => continue,
            }
        };
        if moves.is_empty() {
            continue;
        }
        let mut preview = Preview::of_moves(&moves);
        preview::scan_ct(
            &mut preview,
            &globals.root,
            ct.vmid,
            &ct.config,
            &cluster.pve.storage,
            &moves,
        );
        out.extend(rootfs_finding(&cluster.node, ct.vmid, &preview, when));
    }
    out
}

/// Runs `idfed check`.
///
/// # Errors
/// When the configuration, the cluster or the sources cannot be read (exit 1).
pub(crate) fn run(globals: &Globals, _args: &CheckArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "check")?;
    let ctx = load_offline(globals, false)?;
    // A share that resolved neither from its source nor from a cache: only the checks that need
    // no directory run (maps, subids, configs); the plan and the access report would be wrong.
    let complete = ctx.unresolved.is_empty();
    let plan = complete.then(|| ctx.plan(Default::default()));
    let rep = complete.then(|| {
        let mut rep = report(
            &ctx.params,
            &ctx.shares,
            &ctx.cluster.cts,
            &Filter::default(),
        );
        rep.mark_adopted(&ctx.cluster.managed);
        rep
    });
    let local = ctx.cluster.local_coverage();
    let others: Vec<(String, crate::cluster::NodeCoverage)> = ctx
        .cluster
        .coverage(local.clone())
        .into_iter()
        .filter(|(node, _)| *node != ctx.cluster.node)
        .collect();
    let mut nodes = vec![NodeFiles {
        node: &ctx.cluster.node,
        coverage: &local,
        local: true,
    }];
    nodes.extend(others.iter().map(|(node, coverage)| NodeFiles {
        node,
        coverage,
        local: false,
    }));
    let mut subid_warnings = Vec::new();
    for (file, sub) in [
        ("/etc/subuid", &ctx.cluster.subuid),
        ("/etc/subgid", &ctx.cluster.subgid),
    ] {
        for warning in sub.file.warnings() {
            subid_warnings.push(SubidLineWarning {
                node: ctx.cluster.node.clone(),
                file: file.to_string(),
                warning,
            });
        }
    }
    let deprecated: Vec<DeprecatedIdmap> = ctx
        .cluster
        .pve
        .cts
        .iter()
        .filter(|ct| ct.config.unprivileged())
        .filter_map(|ct| {
            let lines = ct.config.deprecated_idmap_lines();
            (!lines.is_empty()).then(|| DeprecatedIdmap {
                node: ct.node.clone(),
                vmid: ct.vmid,
                lines,
            })
        })
        .collect();
    let mut found = check(&CheckInput {
        params: ctx.params.clone(),
        subid_owner: &ctx.cluster.subid_owner,
        pve_root: &ctx.cluster.pve_root,
        cts: &ctx.cluster.cts,
        ct_errors: &ctx.cluster.ct_errors,
        nodes: &nodes,
        subid_warnings: &subid_warnings,
        deprecated: &deprecated,
        plan: plan.as_ref(),
        report: rep.as_ref(),
    });
    for c in &ctx.cached {
        found
            .warnings
            .insert(0, crate::check::cached_source(&ctx.cluster.node, c));
    }
    found.warnings.extend(crate::check::node_findings(
        &ctx.cluster.nodes,
        &ctx.cluster.node,
        &ctx.cluster.published,
        crate::store::nodes::unix_now(),
        ctx.config.cluster.publish_max_age_secs,
        &ctx.config.sha256,
    ));
    found
        .warnings
        .extend(rootfs_findings(globals, &ctx, plan.as_ref()));
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&found)? + "\n",
        // `-q`: a healthy cluster says nothing.
        _ if globals.quiet && found.problems.is_empty() && found.warnings.is_empty() => {
            String::new()
        }
        _ => render_text(&found),
    };
    super::print_output(globals.format, &text)?;
    if !complete {
        // The findings are written (in JSON too): no second document.
        return Err(super::AfterOutput(anyhow::anyhow!(
            "only the checks that need no directory ran (maps, subids, configs): {}",
            ctx.unresolved.join("; ")
        ))
        .into());
    }
    Ok(if found.problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::NotDesired
    })
}
