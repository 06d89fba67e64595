//! `check`: the cluster as it is, against the rules the kernel, newuidmap and LXC enforce. Every
//! finding names the node and CT, says what fails, and gives the fix as a command or the exact
//! lines to write. Pure: the command gathers the inputs (CT configs, subid coverage, the plan and
//! the access report) and decides the exit code; nothing here reads a file.
//!
//! Problems are what makes a container fail to start (or fail to be read): a map the kernel or
//! LXC refuses, subids that do not cover a map on some node, a config that cannot be parsed.
//! Warnings are what is wrong but runs: privileged CTs on shares, bind mounts that block
//! migration, drift from the desired map, exposure beyond the owners, unreadable subid lines.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

mod code;
pub(crate) use code::FindingCode;

use crate::cluster::{CtState, NodeCoverage, current_map};
use crate::idmap::{
    self, Extent, KERNEL_MAX_EXTENTS, MapError, MapParams, MapProblem, outside_ranges,
};
use crate::ids::{IdKind, IdRange, IdSet, uids_gids};
use crate::plan::{CtPlan, Plan, SkipReason};
use crate::pve::{CtError, CtErrorKind, Section, ct_conf_path};
use crate::report::{Exposure, Report, Unmapped};
use crate::resolve::{FromCache, age};
use crate::store::Published;
use crate::subid::SubidWarning;

/// One problem or warning (JSON: the `check` shape of DESIGN.md section 5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub node: String,
    pub ct: Option<u32>,
    pub code: FindingCode,
    /// What fails, naming the CT and node (self-contained: JSON consumers show it alone).
    pub message: String,
    /// A command to run or the exact lines to write; may span lines.
    pub fix: String,
}

/// All findings: problems make `check` exit 2, warnings do not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CheckReport {
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// A node whose subid coverage is known, and whose files the fix names.
#[derive(Clone, Debug)]
pub(crate) struct NodeFiles<'a> {
    pub node: &'a str,
    pub coverage: &'a NodeCoverage,
    /// Is this the node `check` runs on (its own files), or a published state?
    pub local: bool,
}

/// A line of a node's `/etc/subuid` or `/etc/subgid` that shadow-utils ignores.
#[derive(Clone, Debug)]
pub(crate) struct SubidLineWarning {
    pub node: String,
    /// The host path: `/etc/subuid`.
    pub file: String,
    pub warning: SubidWarning,
}

/// A CT whose main section writes its map with the deprecated `lxc.id_map` key, which current
/// Proxmox ignores (the CT runs with what `lxc.idmap` lines give, else the default map).
#[derive(Clone, Debug)]
pub(crate) struct DeprecatedIdmap {
    pub node: String,
    pub vmid: u32,
    /// 1-based line numbers of the `lxc.id_map` lines.
    pub lines: Vec<usize>,
}

/// What `check` looks at.
#[derive(Clone, Debug)]
pub(crate) struct CheckInput<'a> {
    pub params: MapParams,
    pub subid_owner: &'a str,
    /// The host path of `/etc/pve`, for the config paths fixes name.
    pub pve_root: &'a Path,
    pub cts: &'a [CtState],
    pub ct_errors: &'a [CtError],
    pub nodes: &'a [NodeFiles<'a>],
    /// Unreadable lines of the subid files of the nodes in `nodes`.
    pub subid_warnings: &'a [SubidLineWarning],
    /// CTs with `lxc.id_map` lines.
    pub deprecated: &'a [DeprecatedIdmap],
    /// The desired state, for drift warnings and fixes.
    pub plan: Option<&'a Plan>,
    /// The current access report (unfiltered), for exposure warnings.
    pub report: Option<&'a Report>,
}

fn map_code(p: &MapProblem) -> FindingCode {
    match p {
        MapProblem::BadExtent { .. } => FindingCode::MapBadExtent,
        MapProblem::InsideOverlap { .. } => FindingCode::MapInsideOverlap,
        MapProblem::OutsideOverlap { .. } => FindingCode::MapOutsideOverlap,
        MapProblem::TooManyExtents { .. } => FindingCode::MapTooManyExtents,
        MapProblem::TextTooLong { .. } => FindingCode::MapTooLong,
        MapProblem::InsideZeroUnmapped { .. } => FindingCode::MapRootUnmapped,
    }
}

/// Longer suggested maps are not spelled out in a fix: `idfed map` prints them.
const MAX_FIX_LINES: usize = 16;

/// `lxc.idmap: u 0 100000 65536`, one per line.
fn idmap_lines(extents: &[Extent]) -> String {
    extents
        .iter()
        .map(|e| format!("lxc.idmap: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl CheckInput<'_> {
    fn conf(&self, node: &str, vmid: u32) -> String {
        ct_conf_path(self.pve_root, node, vmid)
            .display()
            .to_string()
    }

    /// The plan of a CT that idfed manages and can rewrite (`apply` fixes it).
    fn managed(&self, vmid: u32) -> Option<&CtPlan> {
        self.plan
            .and_then(|p| p.container(vmid))
            .filter(|c| c.planned)
    }
}

/// A valid map of both kinds with the current map's passthroughs (id 0 left out), when one can be
/// built: the lines a fix tells the administrator to write.
fn suggested_map(ct: &CtState, params: &MapParams) -> Option<Vec<Extent>> {
    let mut out = Vec::new();
    for kind in IdKind::ALL {
        let current = current_map(&ct.idmap, kind, params);
        let pass = idmap::passthroughs(&current).difference(&IdSet::from(IdRange::single(0).ok()?));
        // Hand-written passthroughs may lie below min_id (www-data's 33): keep them as they are.
        let low: IdSet = IdRange::new(1, params.min_id).into_iter().collect();
        let mut p = params.clone();
        p.max_extents = p.max_extents.min(KERNEL_MAX_EXTENTS);
        let map = idmap::build(kind, &pass.difference(&low), &pass.intersection(&low), &p);
        out.extend(map.ok()?.extents);
    }
    out.sort_by_key(|e| (e.kind, e.inside));
    Some(out)
}

/// Runs every check.
pub(crate) fn check(input: &CheckInput<'_>) -> CheckReport {
    let mut out = CheckReport::default();
    for e in input.ct_errors {
        out.problems.push(ct_error(e));
    }
    for ct in input.cts {
        check_ct(input, ct, &mut out);
    }
    for w in input.subid_warnings {
        out.problems.push(Finding {
            node: w.node.clone(),
            ct: None,
            code: FindingCode::SubidMalformed,
            message: format!("{} on {}: {}", w.file, w.node, w.warning),
            fix: format!("on {}: {}", w.node, w.warning.fix(&w.file)),
        });
    }
    for d in input.deprecated {
        let conf = input.conf(&d.node, d.vmid);
        let lines = d
            .lines
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let apply = if input.managed(d.vmid).is_some() {
            format!(" (`idfed apply` on {} rewrites them)", d.node)
        } else {
            String::new()
        };
        out.warnings.push(Finding {
            node: d.node.clone(),
            ct: Some(d.vmid),
            code: FindingCode::IdmapDeprecated,
            message: format!(
                "CT {} on {}: line(s) {lines} of {conf} use the deprecated key `lxc.id_map`, which \
                 Proxmox ignores: the CT does not get those extents",
                d.vmid, d.node
            ),
            fix: format!(
                "rename `lxc.id_map` to `lxc.idmap` on line(s) {lines} of {conf}{apply}, then run \
                 `idfed check` again"
            ),
        });
    }
    if let Some(plan) = input.plan {
        // Looked up per planned CT: a scan of all CTs each was quadratic at cluster scale.
        let unprivileged: HashSet<u32> = input
            .cts
            .iter()
            .filter(|ct| ct.unprivileged)
            .map(|ct| ct.vmid)
            .collect();
        for c in &plan.containers {
            let unprivileged = unprivileged.contains(&c.ct);
            match &c.skipped {
                Some(reason @ SkipReason::OverBudget { .. }) if unprivileged => {
                    out.warnings.push(unfit(c, reason));
                }
                Some(reason) if !c.planned && unprivileged => {
                    out.warnings.push(unmanaged(input, c, reason));
                }
                _ if c.planned && c.changed => out.warnings.push(drift(c)),
                _ => {}
            }
        }
    }
    if let Some(report) = input.report {
        for e in &report.exposure {
            out.warnings.push(exposure(input, e));
        }
        for u in &report.unmapped {
            // A kind whose map leaves the CT's root unmapped does not start at all: that is a
            // problem of its own (map-root-unmapped), not a warning about some ids.
            let kept = |ids: &IdSet| {
                if ids.contains(0) {
                    IdSet::new()
                } else {
                    ids.clone()
                }
            };
            let u = Unmapped {
                uids: kept(&u.uids),
                gids: kept(&u.gids),
                ..u.clone()
            };
            if !u.uids.is_empty() || !u.gids.is_empty() {
                out.warnings.push(unmapped(input, &u));
            }
        }
    }
    // By CT (node-wide findings first); stable, so each CT's findings keep their order.
    out.problems.sort_by_key(|f| f.ct);
    out.warnings.sort_by_key(|f| f.ct);
    out
}

/// A source that could not be read and was answered from its cache: a warning (the checks that
/// need its owners ran against an answer that may be old; the others need no directory).
pub(crate) fn cached_source(node: &str, c: &FromCache) -> Finding {
    Finding {
        node: node.to_string(),
        ct: None,
        code: FindingCode::SourceCached,
        message: format!(
            "source `{}` cannot be read: the checks that need its owners used its cache of {} \
             ({} old): {}",
            c.source,
            crate::store::nodes::rfc3339(c.pulled_at),
            age(c.age),
            c.error
        ),
        fix: format!(
            "restore the connection to source `{}`, then run `idfed check` again",
            c.source
        ),
    }
}

fn ct_error(e: &CtError) -> Finding {
    let path = e.path.display();
    let who = e.who();
    let (code, message, fix) = match &e.kind {
        CtErrorKind::Unreadable => (
            FindingCode::ConfigUnreadable,
            format!("{who}: its config cannot be read: {}", e.message),
            format!(
                "repair {path} into readable UTF-8 text (`pct config {}` shows what Proxmox reads)",
                e.vmid.map_or_else(|| "VMID".to_string(), |v| v.to_string())
            ),
        ),
        CtErrorKind::MalformedIdmap { line, text } => (
            FindingCode::MapMalformed,
            format!(
                "{who} will not start: line {line} of {path}, `{text}`, is a malformed idmap entry: {}",
                e.message
            ),
            format!(
                "correct line {line} of {path} to `lxc.idmap: u|g INSIDE OUTSIDE COUNT` (like \
                 `lxc.idmap: u 0 100000 65536`) or delete it, then run `idfed check` again"
            ),
        ),
        CtErrorKind::Malformed { line, text } => (
            FindingCode::ConfigUnparsable,
            format!(
                "{who} cannot be read: line {line} of {path}, `{text}`, is a malformed mount point: {}",
                e.message
            ),
            format!(
                "correct line {line} of {path} (`pct config {}` shows what Proxmox reads)",
                e.vmid.map_or_else(|| "VMID".to_string(), |v| v.to_string())
            ),
        ),
        CtErrorKind::Duplicate { others } => (
            FindingCode::VmidDuplicate,
            format!(
                "{who}: {path} and {} configure the same VMID (a copy left behind?): idfed plans \
                 and applies neither until one is gone",
                others
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            "keep the config on the node that holds the CT (`pct status VMID` there) and move the \
             stale copy out of /etc/pve/nodes, then run `idfed check` again"
                .replace("VMID", &e.vmid.unwrap_or_default().to_string()),
        ),
    };
    Finding {
        node: e.node.clone(),
        ct: e.vmid,
        code,
        message,
        fix,
    }
}

fn check_ct(input: &CheckInput<'_>, ct: &CtState, out: &mut CheckReport) {
    let conf = input.conf(&ct.node, ct.vmid);
    let finding = |code, message, fix| Finding {
        node: ct.node.clone(),
        ct: Some(ct.vmid),
        code,
        message,
        fix,
    };
    if !ct.unprivileged && !ct.uses.is_empty() {
        out.warnings.push(finding(
            FindingCode::PrivilegedShare,
            format!(
                "CT {} on {} is privileged and mounts share(s) {}: its root is the host's \
                     root, it writes there as any user",
                ct.vmid,
                ct.node,
                quoted(&ct.share_names())
            ),
            format!(
                "convert CT {v} to unprivileged: `vzdump {v}`, then `pct restore {v} ARCHIVE \
                     --unprivileged 1 --force 1`, then `idfed apply` on {}",
                ct.node,
                v = ct.vmid
            ),
        ));
    }
    for u in ct.uses.iter().filter(|u| u.key.is_some() && !u.shared) {
        let key = u.key.as_deref().unwrap_or_default();
        out.warnings.push(finding(
            FindingCode::NotShared,
            format!(
                "CT {} on {}: `{key}` binds share `{}` without `shared=1`: Proxmox will not \
                 migrate the CT, though the share is mounted on every node",
                ct.vmid, ct.node, u.share
            ),
            format!(
                "add `,shared=1` to the `{key}:` line of {conf} (or `pct set {} --{key} <its value>,shared=1`)",
                ct.vmid
            ),
        ));
    }
    if !ct.unprivileged {
        return; // no user namespace: no map to check, no subids needed
    }

    let fix_map = || -> String {
        if input.managed(ct.vmid).is_some() {
            return format!(
                "run `idfed apply` on {} (it rewrites the map of CT {}), then restart the CT",
                ct.node, ct.vmid
            );
        }
        match suggested_map(ct, &input.params) {
            Some(map) if map.len() <= MAX_FIX_LINES => format!(
                "replace the lxc.idmap lines of {conf} with:\n{}",
                idmap_lines(&map)
            ),
            _ => format!(
                "rewrite the lxc.idmap lines of {conf} with fewer, closer passthroughs: `idfed map \
                 IDSPEC...` prints a valid map for the ids to pass through, merging the closest \
                 ranges to fit the kernel's budget"
            ),
        }
    };
    let mut valid = true;
    // The host ids each kind's current map uses, for the coverage check.
    let mut outside = [IdSet::default(), IdSet::default()];
    let own_kinds: Vec<IdKind> = IdKind::ALL
        .into_iter()
        .filter(|&k| ct.idmap.iter().any(|e| e.kind == k))
        .collect();
    for (i, kind) in IdKind::ALL.into_iter().enumerate() {
        let map = current_map(&ct.idmap, kind, &input.params);
        outside[i] = outside_ranges(&map);
        for p in idmap::validate(kind, &map, KERNEL_MAX_EXTENTS) {
            valid = false;
            if map.is_empty() && matches!(p, MapProblem::InsideZeroUnmapped { .. }) {
                // A custom map of one kind only: LXC drops both default maps.
                let other = own_kinds.first().map_or("the other kind", |k| match k {
                    IdKind::Uid => "uids",
                    IdKind::Gid => "gids",
                });
                let default = crate::cluster::default_map(kind, &input.params);
                out.problems.push(finding(
                    FindingCode::MapRootUnmapped,
                    format!(
                        "CT {} on {} will not start: its lxc.idmap lines map only {other}, and a \
                         custom map replaces both default maps: every {kind} is unmapped, root's \
                         included",
                        ct.vmid, ct.node
                    ),
                    format!("add to {conf}:\n{}", idmap_lines(&default)),
                ));
                continue;
            }
            out.problems.push(finding(
                map_code(&p),
                format!("CT {} on {} will not start: {p}", ct.vmid, ct.node),
                fix_map(),
            ));
        }
    }
    if valid {
        check_coverage(input, ct, None, &outside, out);
    }
    for (section, map) in &ct.other_maps {
        let maps = IdKind::ALL.map(|kind| current_map(map, kind, &input.params));
        // A map the kernel refuses fails with or without subids: that is the section's own
        // matter, not this node's (PVE does not start it either way).
        if maps
            .iter()
            .zip(IdKind::ALL)
            .any(|(m, kind)| !idmap::validate(kind, m, KERNEL_MAX_EXTENTS).is_empty())
        {
            continue;
        }
        let outside = maps.map(|m| outside_ranges(&m));
        check_coverage(input, ct, Some(section), &outside, out);
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Does every node give the subid owner the host ids of `outside` (by kind: uids, gids), what
/// `ct`'s current maps use, or, with `section`, the maps of that snapshot (a rollback would fail)
/// or of `[pve:pending]` (the next start would)?
fn check_coverage(
    input: &CheckInput<'_>,
    ct: &CtState,
    section: Option<&Section>,
    outside: &[IdSet; 2],
    out: &mut CheckReport,
) {
    for node in input.nodes {
        for (kind, outside) in IdKind::ALL.into_iter().zip(outside) {
            let (covered, file) = match kind {
                IdKind::Uid => (&node.coverage.uids, "/etc/subuid"),
                IdKind::Gid => (&node.coverage.gids, "/etc/subgid"),
            };
            let missing: IdSet = outside.difference(covered);
            if missing.is_empty() {
                continue;
            }
            let lines: Vec<String> = idmap::subids(&missing, input.subid_owner)
                .iter()
                .map(ToString::to_string)
                .collect();
            let (whose, here) = if node.local {
                ("this node's", format!("here ({})", node.node))
            } else {
                ("its published", format!("on {}", node.node))
            };
            let code = match (section, kind) {
                (None, IdKind::Uid) => FindingCode::SubuidMissing,
                (None, IdKind::Gid) => FindingCode::SubgidMissing,
                (Some(Section::Pending), IdKind::Uid) => FindingCode::PendingSubuidMissing,
                (Some(Section::Pending), IdKind::Gid) => FindingCode::PendingSubgidMissing,
                (Some(_), IdKind::Uid) => FindingCode::SnapshotSubuidMissing,
                (Some(_), IdKind::Gid) => FindingCode::SnapshotSubgidMissing,
            };
            // `apply` adds lines for current and desired maps only; `--prune` keeps a section's.
            let (when, or) = match section {
                None if input.managed(ct.vmid).is_some() => (
                    String::new(),
                    format!(" (or run `idfed apply` on {})", node.node),
                ),
                None => (String::new(), String::new()),
                Some(Section::Pending) => (
                    " with its pending map ([pve:pending]) at the next start".to_string(),
                    format!(
                        " (or remove the lxc.idmap lines of [pve:pending] from {})",
                        input.conf(&ct.node, ct.vmid)
                    ),
                ),
                Some(Section::Snapshot(name)) => (
                    format!(" after a rollback to snapshot [{name}]"),
                    format!(
                        " (or `pct delsnapshot {} {name}` if the snapshot is not needed)",
                        ct.vmid
                    ),
                ),
                Some(Section::Main) => (String::new(), String::new()),
            };
            let message = format!(
                "CT {} on {} cannot start {here}{when}: {whose} {file} does not give `{}` host \
                 {kind}s {missing} (newuidmap: {kind} range not allowed)",
                ct.vmid, ct.node, input.subid_owner
            );
            let fix = format!("add to {file} on {}{or}:\n{}", node.node, lines.join("\n"));
            out.problems.push(Finding {
                node: node.node.to_string(),
                ct: Some(ct.vmid),
                code,
                message,
                fix,
            });
        }
    }
}

fn unmanaged(input: &CheckInput<'_>, c: &CtPlan, reason: &SkipReason) -> Finding {
    Finding {
        node: c.node.clone(),
        ct: Some(c.ct),
        code: FindingCode::UnmanagedMap,
        message: format!(
            "CT {} on {} uses share(s) {} but idfed cannot manage its map: {reason}",
            c.ct,
            c.node,
            quoted(&c.shares)
        ),
        fix: format!(
            "edit the lxc.idmap lines of {} by hand into base-range extents and passthroughs \
             (`idfed map IDSPEC...` prints such a map), then run `idfed apply` on {}",
            input.conf(&c.node, c.ct),
            c.node
        ),
    }
}

/// A CT whose map cannot fit the kernel's budget under the over-budget policy: it keeps its
/// current map, and its shares' owners are not passed through.
fn unfit(c: &CtPlan, reason: &SkipReason) -> Finding {
    let (vmid, node) = (c.ct, c.node.as_str());
    let what = match reason {
        SkipReason::OverBudget {
            error: MapError::DoesNotFit { fitting, .. },
            ..
        } => format!(
            "give the shares of CT {vmid} fewer or closer ids (about {fitting} passthrough ranges \
             fit), or set `cluster.over_budget = \"expose\"` to merge passthroughs across the \
             gaps instead (CT {vmid} then acts as the host ids between them)"
        ),
        SkipReason::OverBudget {
            error:
                MapError::OverBudget {
                    extents,
                    bytes,
                    max_extents,
                    max_bytes,
                    ..
                },
            ..
        } => {
            // What the limit that binds lacks: lines, else bytes.
            let over = if *extents > *max_extents as usize {
                format!("{} extent(s)", extents - *max_extents as usize)
            } else {
                format!("{} byte(s)", (bytes + 1).saturating_sub(*max_bytes))
            };
            format!(
                "give the shares of CT {vmid} fewer or closer ids (merged as far as it may be, its \
                 map is still {over} over the budget): no merge crosses an id below \
                 `cluster.min_id`, a protected id (`cluster.protected`), the base id or a \
                 hand-written passthrough kept below `min_id`"
            )
        }
        _ => format!(
            "give the shares of CT {vmid} fewer or closer ids: no merge crosses an id below \
             `cluster.min_id`, a protected id (`cluster.protected`), the base id or a hand-written \
             passthrough kept below `min_id`"
        ),
    };
    Finding {
        node: node.to_string(),
        ct: Some(vmid),
        code: FindingCode::OverBudget,
        message: format!(
            "CT {vmid} on {node} uses share(s) {} but is not switched: {reason}; it keeps its \
             current map",
            quoted(&c.shares)
        ),
        fix: format!("{what}; then run `idfed apply` on {node}"),
    }
}

fn drift(c: &CtPlan) -> Finding {
    let mut parts = Vec::new();
    for (kind, want, have) in [
        ("uids", &c.uid_map, &c.current_uid_map),
        ("gids", &c.gid_map, &c.current_gid_map),
    ] {
        let (want, have) = (idmap::passthroughs(want), idmap::passthroughs(have));
        let lacks = want.difference(&have);
        let extra = have.difference(&want);
        if !lacks.is_empty() {
            parts.push(format!("lacks {kind} {lacks}"));
        }
        if !extra.is_empty() {
            parts.push(format!("still passes {kind} {extra} through"));
        }
    }
    let what = if parts.is_empty() {
        "its extents are laid out differently".to_string()
    } else {
        format!("it {}", parts.join(", "))
    };
    let fix = match &c.skipped {
        Some(reason) => format!(
            "CT {} is skipped ({reason}); once it is not, run `idfed apply` on {}, then restart it",
            c.ct, c.node
        ),
        None => format!(
            "run `idfed plan --ct {}` to see the change, then `idfed apply` on {} and restart the CT",
            c.ct, c.node
        ),
    };
    Finding {
        node: c.node.clone(),
        ct: Some(c.ct),
        code: FindingCode::Drift,
        message: format!(
            "CT {} on {}: its map differs from the desired one for share(s) {}: {what}",
            c.ct,
            c.node,
            quoted(&c.shares)
        ),
        fix,
    }
}

fn exposure(input: &CheckInput<'_>, e: &Exposure) -> Finding {
    let (vmid, node, uids, gids) = (e.ct, e.node.as_str(), &e.extra_uids, &e.extra_gids);
    let conf = input.conf(node, vmid);
    let adopted = uids_gids(&e.adopted_uids, &e.adopted_gids);
    // Does the desired map still reach them (hand-written passthroughs kept, budget merges)?
    let kept = input.managed(vmid).is_some_and(|c| {
        !outside_ranges(&c.uid_map).intersection(uids).is_empty()
            || !outside_ranges(&c.gid_map).intersection(gids).is_empty()
    });
    let merged = input.managed(vmid).is_some_and(|c| {
        !c.exposed_uids.intersection(uids).is_empty()
            || !c.exposed_gids.intersection(gids).is_empty()
    });
    let fix = if let Some(ids) = &adopted {
        format!(
            "{ids} are adopted (`idfed apply --adopt`): idfed keeps them whatever the shares say; \
             `idfed apply --release {vmid}` on {node} when CT {vmid} no longer needs them"
        )
    } else if input.managed(vmid).is_some() && !kept {
        format!("run `idfed apply` on {node}: the desired map of CT {vmid} drops them")
    } else if merged {
        format!(
            "the desired map of CT {vmid} merges them in to fit the kernel's budget: pass fewer, \
             closer ids through (`idfed plan --ct {vmid}` shows the merge)"
        )
    } else {
        format!(
            "if CT {vmid} must not act as them, remove them from the lxc.idmap lines of {conf} by \
             hand (idfed never drops what it did not write), then run `idfed check` again"
        )
    };
    Finding {
        node: node.to_string(),
        ct: Some(vmid),
        code: FindingCode::Exposure,
        message: format!(
            "CT {vmid} on {node} can act as host ids no owner of its shares has: uids {uids}, gids \
             {gids}{}",
            adopted
                .map(|a| format!(" (adopted: {a})"))
                .unwrap_or_default()
        ),
        fix,
    }
}

/// A map that leaves inside ids unmapped: a warning, not a problem (the CT starts; those ids
/// just cannot be used inside), with what would map them.
fn unmapped(input: &CheckInput<'_>, u: &Unmapped) -> Finding {
    let (vmid, node) = (u.ct, u.node.as_str());
    let ids = uids_gids(&u.uids, &u.gids).unwrap_or_default();
    let desired = input.managed(vmid);
    // Does the desired map leave them unmapped too (fitted to the budget, or their base ids are
    // passed through)?
    let still = desired.is_some_and(|c| {
        !c.unmapped_uids.intersection(&u.uids).is_empty()
            || !c.unmapped_gids.intersection(&u.gids).is_empty()
    });
    let fix = match desired {
        Some(_) if still => format!(
            "the desired map of CT {vmid} leaves them unmapped too (`idfed plan --ct {vmid}` says \
             why: to fit the kernel's budget, or their base ids are passed through); if CT {vmid} \
             needs them, give its shares fewer or closer ids, or set `cluster.over_budget = \
             \"expose\"` to merge passthroughs across the gaps instead (CT {vmid} then acts as the \
             host ids between them)"
        ),
        Some(_) => format!("run `idfed apply` on {node}: the desired map of CT {vmid} maps them"),
        None => format!(
            "if CT {vmid} needs them, map them in the lxc.idmap lines of {} (`idfed map \
             IDSPEC...` prints a valid map), then run `idfed check` again",
            input.conf(node, vmid)
        ),
    };
    Finding {
        node: node.to_string(),
        ct: Some(vmid),
        code: FindingCode::UnmappedIds,
        message: format!(
            "CT {vmid} on {node}: its map leaves {ids} unmapped inside: no process runs as them \
             there, and their files show as nobody"
        ),
        fix,
    }
}

/// Renders the findings for a terminal: problems, then warnings, each with its fix indented.
pub(crate) fn render_text(report: &CheckReport) -> String {
    let mut out = String::new();
    for (label, list) in [("problem", &report.problems), ("warning", &report.warnings)] {
        for f in list {
            let _ = writeln!(out, "{label} [{}] {}", f.code, f.message);
            let mut lines = f.fix.lines();
            if let Some(first) = lines.next() {
                let _ = writeln!(out, "  fix: {first}");
            }
            for line in lines {
                let _ = writeln!(out, "    {line}");
            }
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

/// Whether a CT's map is about to change (`Pending`: the plan's switch) or changed by idfed
/// (`Switched`: its record's switch, still its map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootfsWhen {
    Pending,
    Switched,
}

/// The warning for CT `vmid`'s own files when a map change moves the host ids of some of its
/// inside ids and the scan of its root filesystem found entries of the old ones:
/// `rootfs-pending` (the switch is to come: they will show as `nobody`) or `rootfs-unshifted`
/// (the switch was made: they do). None when nothing was found, or nothing could be counted
/// (`plan` lists the moves; a switch made may have been shifted already).
pub(crate) fn rootfs_finding(
    node: &str,
    vmid: u32,
    preview: &crate::shift::preview::Preview,
    when: RootfsWhen,
) -> Option<Finding> {
    if !preview.is_scanned() {
        return None;
    }
    let switched = when == RootfsWhen::Switched;
    let message = crate::shift::preview::notice(vmid, preview, switched)?;
    let shift = format!("pct stop {vmid}; idfed shift {vmid}; pct start {vmid}");
    let (code, fix) = if switched {
        (FindingCode::RootfsUnshifted, shift)
    } else {
        (
            FindingCode::RootfsPending,
            format!("after `idfed apply` on {node}: {shift}"),
        )
    };
    Some(Finding {
        node: node.to_string(),
        ct: Some(vmid),
        code,
        message,
        fix,
    })
}

/// Warnings about nodes of the cluster whose coverage is unknown or old: never published (idfed
/// does not run there yet) or published more than `max_age` seconds before `now`. `this_node` is
/// left out: its own files are read directly. Before any node has published (idfed's apply job
/// runs nowhere yet: a cluster being looked at before the rollout), there is nothing to warn about.
pub(crate) fn node_findings(
    nodes: &[String],
    this_node: &str,
    published: &BTreeMap<String, Published>,
    now: u64,
    max_age: u64,
    config_sha256: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if published.is_empty() {
        return out;
    }
    for node in nodes.iter().filter(|n| n.as_str() != this_node) {
        match published.get(node) {
            None => out.push(Finding {
                node: node.clone(),
                ct: None,
                code: FindingCode::NodeUnpublished,
                message: format!(
                    "node {node} never published its subid coverage: idfed may not run there \
                     yet, and no map that adds passthroughs is switched until it does"
                ),
                fix: format!("run `idfed apply` on {node} (and schedule it like on the others)"),
            }),
            Some(p) if p.is_stale(now, max_age) => out.push(Finding {
                node: node.clone(),
                ct: None,
                code: FindingCode::NodeStale,
                message: format!(
                    "node {node} last published its subid coverage at {} ({}s ago, more than \
                     `cluster.publish_max_age_secs` = {max_age}): idfed may have stopped \
                     running there",
                    p.published_at_utc,
                    p.age_secs(now)
                ),
                fix: format!("check the `idfed apply` job on {node}"),
            }),
            Some(p) => out.extend(disagreement(node, p, config_sha256)),
        }
    }
    out
}

/// What a node's fresh published state disagrees with this node on: the configuration it
/// planned from (`config-differs`: the nodes may want different maps, and a map another node
/// does not want never gets its coverage) and the idfed version (`version-differs`).
fn disagreement(node: &str, p: &Published, config_sha256: &str) -> Vec<Finding> {
    let short = |h: &str| h.chars().take(12).collect::<String>();
    let mut out = Vec::new();
    if let Some(theirs) = p.config_sha256.as_deref()
        && theirs != config_sha256
    {
        out.push(Finding {
            node: node.to_string(),
            ct: None,
            code: FindingCode::ConfigDiffers,
            message: format!(
                "node {node} planned from another configuration than this node's (sha256 {} \
                 there, {} here): the nodes may want different maps, and a map waits until every \
                 node covers it",
                short(theirs),
                short(config_sha256)
            ),
            fix: format!(
                "keep one configuration for the cluster, `/etc/pve/idfed/idfed.toml` (no \
                 `/etc/idfed/idfed.toml` nor `-c` on any node), then run `idfed apply` on {node}"
            ),
        });
    }
    if p.version != crate::store::nodes::VERSION {
        out.push(Finding {
            node: node.to_string(),
            ct: None,
            code: FindingCode::VersionDiffers,
            message: format!(
                "node {node} runs idfed {} and this node {}: they may plan differently",
                p.version,
                crate::store::nodes::VERSION
            ),
            fix: format!(
                "install the same idfed version on every node, then run `idfed apply` on {node}"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ShareUse;

    fn map(lines: &[&str]) -> Vec<Extent> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    fn ct(vmid: u32, node: &str, unprivileged: bool, idmap: Vec<Extent>) -> CtState {
        CtState {
            vmid,
            node: node.into(),
            unprivileged,
            lock: None,
            idmap,
            uses: Vec::new(),
            other_maps: Vec::new(),
        }
    }

    fn seed() -> Vec<Extent> {
        map(&[
            "u 0 100000 1005",
            "g 0 100000 1005",
            "u 1005 1005 1",
            "g 1005 1005 1",
            "u 1006 101006 64530",
            "g 1006 101006 64530",
        ])
    }

    fn coverage(uids: &[(u32, u32)], gids: &[(u32, u32)]) -> NodeCoverage {
        NodeCoverage {
            uids: IdSet::of_counts(uids),
            gids: IdSet::of_counts(gids),
        }
    }

    fn run(cts: &[CtState], nodes: &[NodeFiles<'_>]) -> CheckReport {
        check(&CheckInput {
            params: MapParams::default(),
            subid_owner: "root",
            pve_root: Path::new("/etc/pve"),
            cts,
            ct_errors: &[],
            nodes,
            subid_warnings: &[],
            deprecated: &[],
            plan: None,
            report: None,
        })
    }

    fn codes(list: &[Finding]) -> Vec<(Option<u32>, &str)> {
        list.iter().map(|f| (f.ct, f.code.as_str())).collect()
    }

    #[test]
    fn a_valid_covered_map_is_healthy() {
        let full = coverage(&[(100000, 65536), (1005, 1)], &[(100000, 65536), (1005, 1)]);
        let nodes = [NodeFiles {
            node: "pve1",
            coverage: &full,
            local: true,
        }];
        let r = run(&[ct(101, "pve1", true, seed())], &nodes);
        assert_eq!(r, CheckReport::default());
    }

    /// Issue 14: a snapshot whose map a node does not cover cannot be rolled back to (the CT
    /// does not start there after `pct rollback`); a pending map is the next start's.
    #[test]
    fn snapshot_and_pending_maps_must_be_covered_too() {
        let base = coverage(&[(100000, 65536), (1005, 1)], &[(100000, 65536), (1005, 1)]);
        // pve2 covers 2001 (n), not 2002 (n + 1).
        let more = coverage(
            &[(100000, 65536), (1005, 1), (2001, 1)],
            &[(100000, 65536), (1005, 1), (2001, 1)],
        );
        let nodes = [
            NodeFiles {
                node: "pve1",
                coverage: &base,
                local: true,
            },
            NodeFiles {
                node: "pve2",
                coverage: &more,
                local: false,
            },
        ];
        let pass = |id: u32| {
            map(&[
                &format!("u 0 100000 {id}"),
                &format!("u {id} {id} 1"),
                &format!("u {} {} {}", id + 1, 100001 + id, 65535 - id),
                "g 0 100000 65536",
            ])
        };
        let mut c = ct(101, "pve1", true, seed());
        c.other_maps = vec![
            (Section::Snapshot("covered".into()), seed()),
            (Section::Snapshot("before".into()), pass(2001)),
            (Section::Pending, pass(2002)),
            // Refused by the kernel whatever the subids: not a coverage finding.
            (
                Section::Snapshot("broken".into()),
                map(&["u 0 100000 5", "u 3 1 1"]),
            ),
        ];
        let r = run(&[c.clone()], &nodes);
        let found: Vec<(&str, &str)> = r
            .problems
            .iter()
            .map(|f| (f.node.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("pve1", "snapshot-subuid-missing"),
                ("pve1", "pending-subuid-missing"),
                ("pve2", "pending-subuid-missing"),
            ]
        );
        assert_eq!(
            r.problems[0].message,
            "CT 101 on pve1 cannot start here (pve1) after a rollback to snapshot [before]: this \
             node's /etc/subuid does not give `root` host uids 2001 (newuidmap: uid range not \
             allowed)"
        );
        assert_eq!(
            r.problems[0].fix,
            "add to /etc/subuid on pve1 (or `pct delsnapshot 101 before` if the snapshot is not \
             needed):\nroot:2001:1"
        );
        assert!(
            r.problems[2]
                .message
                .starts_with("CT 101 on pve1 cannot start on pve2 with its pending map"),
            "{}",
            r.problems[2].message
        );
        // Without the sections, the CT is healthy.
        c.other_maps.clear();
        assert_eq!(run(&[c], &nodes), CheckReport::default());
    }

    #[test]
    fn coverage_names_node_and_missing_ranges() {
        // n and n + 1: the base range ends one id short on pve2's published state.
        let local = coverage(&[(100000, 65536), (1005, 1)], &[(100000, 65536), (1005, 1)]);
        let short = coverage(&[(100000, 65535), (1005, 1)], &[(100000, 65536)]);
        let nodes = [
            NodeFiles {
                node: "pve1",
                coverage: &local,
                local: true,
            },
            NodeFiles {
                node: "pve2",
                coverage: &short,
                local: false,
            },
        ];
        let r = run(&[ct(101, "pve1", true, seed())], &nodes);
        assert_eq!(
            codes(&r.problems),
            [(Some(101), "subuid-missing"), (Some(101), "subgid-missing")]
        );
        assert!(r.problems.iter().all(|f| f.node == "pve2"));
        assert_eq!(
            r.problems[0].message,
            "CT 101 on pve1 cannot start on pve2: its published /etc/subuid does not give `root` \
             host uids 165535 (newuidmap: uid range not allowed)"
        );
        assert_eq!(
            r.problems[0].fix,
            "add to /etc/subuid on pve2:\nroot:165535:1"
        );
        assert_eq!(
            r.problems[1].fix,
            "add to /etc/subgid on pve2:\nroot:1005:1"
        );
    }

    #[test]
    fn a_map_of_one_kind_leaves_the_other_unmapped() {
        let r = run(&[ct(101, "pve1", true, map(&["u 0 100000 65536"]))], &[]);
        assert_eq!(codes(&r.problems), [(Some(101), "map-root-unmapped")]);
        assert!(r.problems[0].message.contains("map only uids"));
        assert_eq!(
            r.problems[0].fix,
            "add to /etc/pve/nodes/pve1/lxc/101.conf:\nlxc.idmap: g 0 100000 65536"
        );
    }

    /// A CT on a share whose map leaves uids unmapped between passthroughs gets a warning; a
    /// kind that leaves the CT's root unmapped is the problem alone, not a warning too.
    #[test]
    fn unmapped_ids_are_a_warning_unless_root_is_unmapped() {
        let mut holes = ct(
            101,
            "pve1",
            true,
            map(&[
                "u 0 100000 1005",
                "u 1005 1005 1",
                "u 1010 1010 1",
                "u 1011 101011 64525",
                "g 0 100000 65536",
            ]),
        );
        let mut one_kind = ct(102, "pve1", true, map(&["u 0 100000 65536"]));
        for c in [&mut holes, &mut one_kind] {
            c.uses = vec![ShareUse {
                share: "a".into(),
                key: Some("mp0".into()),
                read_only: false,
                shared: true,
            }];
        }
        let cts = [holes, one_kind];
        let params = MapParams::default();
        let share = crate::plan::testutil::share("a", &[1005, 1010], &[]);
        let report = crate::report::report(
            &params,
            std::slice::from_ref(&share),
            &cts,
            &crate::report::Filter::default(),
        );
        let r = check(&CheckInput {
            params,
            subid_owner: "root",
            pve_root: Path::new("/etc/pve"),
            cts: &cts,
            ct_errors: &[],
            nodes: &[],
            subid_warnings: &[],
            deprecated: &[],
            plan: None,
            report: Some(&report),
        });
        assert_eq!(codes(&r.problems), [(Some(102), "map-root-unmapped")]);
        assert_eq!(codes(&r.warnings), [(Some(101), "unmapped-ids")]);
        assert_eq!(
            r.warnings[0].message,
            "CT 101 on pve1: its map leaves uids 1006-1009 unmapped inside: no process runs as \
             them there, and their files show as nobody"
        );
        assert!(r.warnings[0].fix.starts_with("if CT 101 needs them, map them in the lxc.idmap lines of /etc/pve/nodes/pve1/lxc/101.conf"), "{}", r.warnings[0].fix);
    }

    #[test]
    fn overlap_fix_gives_the_lines() {
        let r = run(
            &[ct(
                101,
                "pve1",
                true,
                map(&["u 0 100000 65536", "u 1005 1005 1", "g 0 100000 65536"]),
            )],
            &[],
        );
        assert_eq!(codes(&r.problems), [(Some(101), "map-inside-overlap")]);
        assert_eq!(
            r.problems[0].fix,
            "replace the lxc.idmap lines of /etc/pve/nodes/pve1/lxc/101.conf with:\n\
             lxc.idmap: u 0 100000 1005\nlxc.idmap: u 1005 1005 1\n\
             lxc.idmap: u 1006 101006 64530\nlxc.idmap: g 0 100000 65536"
        );
    }

    #[test]
    fn privileged_cts_get_warnings_only() {
        let mut c = ct(103, "pve1", false, Vec::new());
        c.uses.push(ShareUse {
            share: "media".into(),
            key: Some("mp0".into()),
            read_only: false,
            shared: false,
        });
        let r = run(&[c], &[]);
        assert!(r.problems.is_empty());
        assert_eq!(
            codes(&r.warnings),
            [(Some(103), "privileged-share"), (Some(103), "not-shared")]
        );
    }

    #[test]
    fn text_indents_multiline_fixes() {
        let r = CheckReport {
            problems: vec![Finding {
                node: "pve1".into(),
                ct: Some(101),
                code: FindingCode::SubuidMissing,
                message: "CT 101 on pve1 cannot start".into(),
                fix: "add to /etc/subuid on pve1:\nroot:1005:1".into(),
            }],
            warnings: Vec::new(),
        };
        assert_eq!(
            render_text(&r),
            "problem [subuid-missing] CT 101 on pve1 cannot start\n  \
             fix: add to /etc/subuid on pve1:\n    root:1005:1\n1 problem(s), 0 warning(s)\n"
        );
    }

    #[test]
    fn node_findings_for_unpublished_and_stale_nodes() {
        let mut p = Published::now("pve2", "root", "c0ffee", &IdSet::new(), &IdSet::new());
        p.published_at = 1000;
        let all = BTreeMap::from([("pve2".to_string(), p)]);
        let nodes: Vec<String> = ["pve1", "pve2", "pve3"].map(String::from).to_vec();
        let codes = |now| {
            node_findings(&nodes, "pve1", &all, now, 100, "c0ffee")
                .into_iter()
                .map(|f| (f.node, f.code.as_str()))
                .collect::<Vec<_>>()
        };
        // Nobody published yet: no rollout has begun, nothing to warn about.
        assert!(node_findings(&nodes, "pve1", &BTreeMap::new(), 5000, 100, "c0ffee").is_empty());
        // Exactly max_age old is still fresh; one second more is stale.
        assert_eq!(codes(1100), [("pve3".into(), "node-unpublished")]);
        assert_eq!(
            codes(1101),
            [
                ("pve2".into(), "node-stale"),
                ("pve3".into(), "node-unpublished")
            ]
        );
    }

    /// A fresh state planned from another configuration, or by another version, is a warning
    /// each; the same configuration and version, or a state without a digest (written before
    /// idfed published one), none; a stale state is only stale.
    #[test]
    fn node_findings_for_nodes_that_disagree() {
        let nodes: Vec<String> = ["pve1", "pve2"].map(String::from).to_vec();
        let codes = |p: Published, now| {
            let all = BTreeMap::from([("pve2".to_string(), p)]);
            node_findings(&nodes, "pve1", &all, now, 100, "c0ffee")
                .into_iter()
                .map(|f| f.code.as_str())
                .collect::<Vec<_>>()
        };
        let state = |digest: &str| {
            let mut p = Published::now("pve2", "root", digest, &IdSet::new(), &IdSet::new());
            p.published_at = 1000;
            p
        };
        assert!(codes(state("c0ffee"), 1000).is_empty());
        assert_eq!(codes(state("decaf"), 1000), ["config-differs"]);
        let mut old = state("c0ffee");
        old.config_sha256 = None;
        assert!(codes(old, 1000).is_empty());
        let mut other = state("decaf");
        other.version = "0.0.1".into();
        assert_eq!(codes(other, 1000), ["config-differs", "version-differs"]);
        assert_eq!(codes(state("decaf"), 1101), ["node-stale"]);
    }
}
