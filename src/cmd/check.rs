//! `idfed check`: every CT map of the cluster and this node's subid files against the kernel's
//! rules; exit 2 when a container would fail. The other nodes are checked against the subid
//! coverage they published (`<pve_root>/idfed/nodes/`); nodes that never published, or not for
//! longer than `cluster.publish_max_age_secs`, are warnings.

use crate::check::{CheckInput, NodeFiles, check, render_text};
use crate::cli::{CheckArgs, Format};
use crate::report::{Filter, report};

use super::context::Context;
use super::{Globals, Outcome, require_format};

/// Runs `idfed check`.
///
/// # Errors
/// When the cluster or the sources cannot be read (exit 1).
pub fn run(globals: &Globals, _args: &CheckArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "check")?;
    let ctx = Context::load(globals, &[])?;
    let plan = ctx.plan(false);
    let rep = report(&ctx.params, &ctx.shares, &ctx.cts, &Filter::default());
    let local = ctx.local_coverage();
    let others: Vec<(&String, crate::plan::NodeCoverage)> = ctx
        .published
        .iter()
        .filter(|(node, _)| **node != ctx.node)
        .map(|(node, p)| (node, p.coverage()))
        .collect();
    let mut nodes = vec![NodeFiles {
        node: &ctx.node,
        coverage: &local,
        local: true,
    }];
    nodes.extend(others.iter().map(|(node, coverage)| NodeFiles {
        node,
        coverage,
        local: false,
    }));
    let mut found = check(&CheckInput {
        params: ctx.params,
        subid_owner: &ctx.config.cluster.subid_owner,
        cts: &ctx.cts,
        ct_errors: &ctx.ct_errors,
        nodes: &nodes,
        plan: Some(&plan),
        report: Some(&rep),
    });
    found.warnings.extend(crate::publish::node_findings(
        &ctx.cluster.nodes,
        &ctx.node,
        &ctx.published,
        crate::publish::unix_now(),
        ctx.config.cluster.publish_max_age_secs,
    ));
    match globals.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&found)?),
        _ => print!("{}", render_text(&found)),
    }
    Ok(if found.problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::NotDesired
    })
}
