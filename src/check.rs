//! `check`: the cluster as it is, against the rules the kernel, newuidmap and LXC enforce. Every
//! finding names the node and CT, says what fails, and gives the fix. Pure: the command gathers
//! the inputs.

use std::fmt::Write;

use serde::Serialize;

use crate::idmap::{MapParams, MapProblem, outside_ranges, validate};
use crate::ids::{IdKind, IdSet};
use crate::plan::{CtIn, NodeCoverage, Plan, current_map};
use crate::report::Report;

/// One problem or warning (JSON: the `check` shape of DESIGN.md section 5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub node: String,
    pub ct: Option<u32>,
    pub code: &'static str,
    pub message: String,
    pub fix: String,
}

/// All findings: problems make `check` exit 2, warnings do not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// A CT config that could not be read or parsed.
#[derive(Clone, Debug)]
pub struct CtError {
    pub node: String,
    pub vmid: Option<u32>,
    pub message: String,
}

/// A node whose subid coverage is known, and whose files the fix names.
#[derive(Clone, Debug)]
pub struct NodeFiles<'a> {
    pub node: &'a str,
    pub coverage: &'a NodeCoverage,
    /// Is this the node `check` runs on (its own files), or a published state?
    pub local: bool,
}

/// What `check` looks at.
#[derive(Clone, Debug)]
pub struct CheckInput<'a> {
    pub params: MapParams,
    pub subid_owner: &'a str,
    pub cts: &'a [CtIn],
    pub ct_errors: &'a [CtError],
    pub nodes: &'a [NodeFiles<'a>],
    /// The desired state, for drift warnings.
    pub plan: Option<&'a Plan>,
    /// The current access report, for exposure warnings.
    pub report: Option<&'a Report>,
}

fn map_code(p: &MapProblem) -> &'static str {
    match p {
        MapProblem::BadExtent { .. } => "map-bad-extent",
        MapProblem::InsideOverlap { .. } => "map-inside-overlap",
        MapProblem::OutsideOverlap { .. } => "map-outside-overlap",
        MapProblem::TooManyExtents { .. } => "map-too-many-extents",
        MapProblem::TextTooLong { .. } => "map-too-long",
        MapProblem::InsideZeroUnmapped { .. } => "map-root-unmapped",
    }
}

/// Runs every check.
pub fn check(input: &CheckInput<'_>) -> CheckReport {
    let mut out = CheckReport::default();
    let conf = |ct: &CtIn| format!("/etc/pve/nodes/{}/lxc/{}.conf", ct.node, ct.vmid);

    for e in input.ct_errors {
        out.problems.push(Finding {
            node: e.node.clone(),
            ct: e.vmid,
            code: "config-unreadable",
            message: e.message.clone(),
            fix: "fix the named line by hand (`pct config` shows what Proxmox reads)".into(),
        });
    }

    for ct in input.cts {
        if !ct.unprivileged {
            if !ct.uses.is_empty() {
                let shares = ct.share_names().join(", ");
                out.warnings.push(Finding {
                    node: ct.node.clone(),
                    ct: Some(ct.vmid),
                    code: "privileged-share",
                    message: format!(
                        "CT {} is privileged and mounts share(s) {shares}: it writes there as any user",
                        ct.vmid
                    ),
                    fix: format!(
                        "convert CT {} to unprivileged (backup, then restore with `--unprivileged 1`)",
                        ct.vmid
                    ),
                });
            }
            continue;
        }
        let mut valid = true;
        for kind in IdKind::ALL {
            let map = current_map(&ct.idmap, kind, &input.params);
            for p in validate(kind, &map, input.params.max_extents) {
                valid = false;
                out.problems.push(Finding {
                    node: ct.node.clone(),
                    ct: Some(ct.vmid),
                    code: map_code(&p),
                    message: format!("CT {} will not start: {p}", ct.vmid),
                    fix: format!(
                        "run `idfed plan --ct {}` and `idfed apply`, or correct the lxc.idmap lines of {}",
                        ct.vmid,
                        conf(ct)
                    ),
                });
            }
        }
        if valid {
            check_coverage(input, ct, &mut out);
        }
        for u in ct.uses.iter().filter(|u| u.key.is_some() && !u.shared) {
            let key = u.key.as_deref().unwrap_or_default();
            out.warnings.push(Finding {
                node: ct.node.clone(),
                ct: Some(ct.vmid),
                code: "not-shared",
                message: format!(
                    "CT {}: `{key}` binds share `{}` without `shared=1`: the CT cannot migrate",
                    ct.vmid, u.share
                ),
                fix: format!("add `,shared=1` to the `{key}` line of {}", conf(ct)),
            });
        }
    }

    if let Some(plan) = input.plan {
        for c in plan.containers.iter().filter(|c| c.planned && c.changed) {
            out.warnings.push(Finding {
                node: c.node.clone(),
                ct: Some(c.ct),
                code: "drift",
                message: format!(
                    "CT {}'s map differs from the desired one for share(s) {}",
                    c.ct,
                    c.shares.join(", ")
                ),
                fix: format!(
                    "run `idfed plan --ct {}`, then `idfed apply` on {}",
                    c.ct, c.node
                ),
            });
        }
    }
    if let Some(report) = input.report {
        for e in &report.exposure {
            out.warnings.push(Finding {
                node: e.node.clone(),
                ct: Some(e.ct),
                code: "exposure",
                message: format!(
                    "CT {} can act as host ids no share owner has: uids {}, gids {}",
                    e.ct, e.extra_uids, e.extra_gids
                ),
                fix: format!(
                    "run `idfed plan --ct {}`: stale passthroughs are dropped by `idfed apply`",
                    e.ct
                ),
            });
        }
    }
    out
}

fn check_coverage(input: &CheckInput<'_>, ct: &CtIn, out: &mut CheckReport) {
    for node in input.nodes {
        for kind in IdKind::ALL {
            let map = current_map(&ct.idmap, kind, &input.params);
            let (covered, file, code) = match kind {
                IdKind::Uid => (&node.coverage.uids, "/etc/subuid", "subuid-missing"),
                IdKind::Gid => (&node.coverage.gids, "/etc/subgid", "subgid-missing"),
            };
            let missing: IdSet = outside_ranges(&map).difference(covered);
            if missing.is_empty() {
                continue;
            }
            let lines: Vec<String> = missing
                .ranges()
                .iter()
                .map(|r| format!("{}:{}:{}", input.subid_owner, r.start(), r.count()))
                .collect();
            let whose = if node.local {
                "this node's"
            } else {
                "its published"
            };
            out.problems.push(Finding {
                node: node.node.to_string(),
                ct: Some(ct.vmid),
                code,
                message: format!(
                    "CT {} (on {}) cannot start on {}: {whose} {file} does not give `{}` host {kind}s {missing} \
                     (newuidmap: range not allowed)",
                    ct.vmid, ct.node, node.node, input.subid_owner
                ),
                fix: format!(
                    "run `idfed apply` on {}, or add to {file} there: {}",
                    node.node,
                    lines.join(" ")
                ),
            });
        }
    }
}

/// Renders the findings for a terminal.
pub fn render_text(report: &CheckReport) -> String {
    let mut out = String::new();
    for (label, list) in [("problem", &report.problems), ("warning", &report.warnings)] {
        for f in list {
            let ct = f.ct.map(|c| format!(" CT {c}")).unwrap_or_default();
            let _ = writeln!(out, "{label} [{}] {}{ct}: {}", f.code, f.node, f.message);
            let _ = writeln!(out, "  fix: {}", f.fix);
        }
    }
    let _ = writeln!(
        out,
        "{} problem(s), {} warning(s)",
        report.problems.len(),
        report.warnings.len()
    );
    out
}
