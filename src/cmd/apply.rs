//! `idfed apply`: on this node, first the subid lines it lacks (appended, and recorded as idfed's
//! own before they are written), then the `lxc.idmap` lines of every container on this node whose
//! new map every node of the cluster covers (the rollout gate; `--force` overrides), each under
//! PVE's config lock, written atomically with a backup; with `--prune`, the subid lines idfed added
//! that no map of the cluster needs any more are removed; last, this node publishes what its subid
//! files cover to `<pve_root>/idfed/nodes/<node>.json`. A second run changes nothing but that
//! heartbeat.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::apply::node_lock::NodeLock;
use crate::apply::shadow_lock::{SHADOW_LOCK_TIMEOUT, ShadowLocks};
use crate::apply::write::{Written, replace_file};
use crate::cli::{ApplyArgs, Format};
use crate::idmap::{Subid, outside_ranges};
use crate::ids::{IdKind, IdSet};
use crate::plan::{CtPlan, Managed, NodeCoverage, Plan, Rollout, current_map};
use crate::publish::{self, Published};
use crate::pve::lock::{ConfigLock, PVE_LOCK_TIMEOUT};
use crate::pve::{CtConfig, Section, lxc_dir};
use crate::state;
use crate::subid::SubidFile;

use super::context::{Context, LocalSubid};
use super::{Globals, Outcome, require_format};

/// What one run did (JSON output of `apply`).
#[derive(Debug, Default, Serialize)]
pub struct Applied {
    pub node: String,
    pub dry_run: bool,
    pub subuid_added: Vec<Subid>,
    pub subgid_added: Vec<Subid>,
    /// Files written (host paths under `--root`).
    pub changed_files: Vec<String>,
    /// CTs whose map was rewritten: they switch at their next start.
    pub restart_required: Vec<u32>,
    pub skipped: Vec<Skipped>,
    /// CTs left with their current map until these nodes cover the new one.
    pub waiting: Vec<Waiting>,
    /// CTs switched by `--force` although these nodes do not cover the new map.
    pub forced: Vec<Waiting>,
    /// Lines idfed had added and no map needs any more (`--prune`).
    pub subuid_pruned: Vec<Subid>,
    pub subgid_pruned: Vec<Subid>,
    /// The published state this run wrote (none with `--dry-run`).
    pub published: Option<String>,
    pub errors: Vec<String>,
}

/// A CT whose new map some nodes do not cover yet.
#[derive(Debug, Serialize)]
pub struct Waiting {
    pub ct: u32,
    pub nodes: Vec<String>,
}

/// A CT left as it is, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub ct: u32,
    pub reason: String,
}

/// Where this run keeps the previous content of the files it replaces.
struct Backups {
    dir: PathBuf,
}

impl Backups {
    fn new(globals: &Globals) -> Backups {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = format!(
            "{}.{:09}-{}",
            now.as_secs(),
            now.subsec_nanos(),
            std::process::id()
        );
        Backups {
            dir: state::dir(&globals.root).join("backup").join(stamp),
        }
    }

    /// The backup location of `path` (a path under the root): its directory and file name.
    fn of(&self, root: &Path, path: &Path) -> (PathBuf, String) {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let dir = match rel.parent() {
            Some(p) => self.dir.join(p),
            None => self.dir.clone(),
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (dir, name)
    }
}

fn write_with_backup(
    globals: &Globals,
    backups: &Backups,
    path: &Path,
    text: &str,
    mode: u32,
    out: &mut Applied,
) -> anyhow::Result<()> {
    let (dir, name) = backups.of(globals.root.dir(), path);
    if let Written::Replaced { .. } =
        replace_file(path, text.as_bytes(), mode, Some((&dir, &name)))?
    {
        out.changed_files.push(path.display().to_string());
    }
    Ok(())
}

/// The subid files as this run leaves them, and idfed's record of the lines it appended.
struct Subids {
    subuid: SubidFile,
    subgid: SubidFile,
    record: state::AddedLines,
}

impl Subids {
    fn coverage(&self, ctx: &Context) -> NodeCoverage {
        ctx.coverage_of(&self.subuid, &self.subgid)
    }
}

/// Appends the lines this node lacks for `plan`'s maps. They are claimed in idfed's record
/// (saved) before the files are written; claims on lines a file does not hold (a crash between
/// the two writes, or a line removed by hand) are dropped first, so a hand-written copy of such a
/// line is never taken for idfed's.
fn apply_subids(
    globals: &Globals,
    backups: &Backups,
    ctx: &Context,
    plan: &Plan,
    args: &ApplyArgs,
    out: &mut Applied,
) -> anyhow::Result<Subids> {
    let (owner, uid) = ctx.owner();
    // Under shadow's locks the files are read again: a line useradd wrote since loading stays.
    let (_locks, local_uid, local_gid) = lock_subids(globals, ctx, args)?;
    let old = state::load_added_lines(&globals.root)?;
    let mut record = old.clone();
    let mut subuid = local_uid.file.clone();
    let mut subgid = local_gid.file.clone();
    record.subuid.retain(|l| subuid.has_line(l));
    record.subgid.retain(|l| subgid.has_line(l));
    out.subuid_added = subuid.merge(owner, uid, &plan.needed_uids);
    out.subgid_added = subgid.merge(owner, uid, &plan.needed_gids);
    record.subuid.extend(out.subuid_added.iter().cloned());
    record.subgid.extend(out.subgid_added.iter().cloned());
    if !args.dry_run {
        if record != old {
            state::save_added_lines(&globals.root, &record)
                .context("cannot record the subid lines idfed adds")?;
        }
        write_subids(globals, backups, &local_uid, &subuid, out)
            .context("cannot update this node's subuid")?;
        write_subids(globals, backups, &local_gid, &subgid, out)
            .context("cannot update this node's subgid")?;
    }
    Ok(Subids {
        subuid,
        subgid,
        record,
    })
}

/// Takes shadow's locks on this node's subuid and subgid (none for a dry run) and reads both
/// files again under them.
fn lock_subids(
    globals: &Globals,
    ctx: &Context,
    args: &ApplyArgs,
) -> anyhow::Result<(Option<ShadowLocks>, LocalSubid, LocalSubid)> {
    let locks = if args.dry_run {
        None
    } else {
        let files = [ctx.subuid.path.as_path(), ctx.subgid.path.as_path()];
        let wait = SHADOW_LOCK_TIMEOUT.min(std::time::Duration::from_secs(args.wait));
        let locks = ShadowLocks::acquire(&globals.root.join("/etc"), &files, wait)
            .context("cannot take shadow's locks on this node's subuid and subgid")?;
        for path in locks.removed() {
            eprintln!(
                "idfed: note: removed `{}`, left by a locker that did not finish",
                path.display()
            );
        }
        Some(locks)
    };
    let reread = |local: &LocalSubid| -> anyhow::Result<LocalSubid> {
        let text = crate::fsutil::read_optional(&local.path)?.unwrap_or_default();
        Ok(LocalSubid {
            path: local.path.clone(),
            file: SubidFile::parse(&text),
        })
    };
    Ok((locks, reread(&ctx.subuid)?, reread(&ctx.subgid)?))
}

/// Writes `file` to `local.path` when it differs from what was read.
fn write_subids(
    globals: &Globals,
    backups: &Backups,
    local: &LocalSubid,
    file: &SubidFile,
    out: &mut Applied,
) -> anyhow::Result<()> {
    if *file != local.file {
        write_with_backup(globals, backups, &local.path, &file.render(), 0o644, out)?;
    }
    Ok(())
}

/// The maps CT `vmid` may start with besides its current one: each snapshot's (a rollback
/// restores it; no `lxc.idmap` line there means PVE's default map) and the `lxc.idmap` lines of
/// `[pve:pending]` (applied at the next start), when it has any.
fn other_section_maps(ctx: &Context, vmid: u32) -> Vec<Vec<crate::idmap::Extent>> {
    let Some(ct) = ctx.cluster.ct(vmid) else {
        return Vec::new();
    };
    ct.config
        .sections()
        .iter()
        .filter_map(|section| {
            let map = ct.config.section_idmap(section);
            match section {
                Section::Main => None,
                Section::Pending if map.is_empty() => None,
                Section::Pending | Section::Snapshot(_) => Some(map),
            }
        })
        .collect()
}

/// `--prune`: removes the lines idfed appended (its record) whose ids no map of the cluster
/// needs: neither a current map (of the CTs not switched by this run), nor a desired one, nor
/// a snapshot's or `[pve:pending]`'s. A line
/// that shares a single id with a needed range stays whole; lines idfed did not add are never
/// looked at. The files are written first, then the record: a crash between the two leaves
/// claims on lines that are gone, which the next run drops.
fn prune(
    globals: &Globals,
    backups: &Backups,
    ctx: &Context,
    plan: &Plan,
    subids: &mut Subids,
    args: &ApplyArgs,
    out: &mut Applied,
) -> anyhow::Result<()> {
    if !ctx.ct_errors.is_empty() {
        // A config idfed cannot read may hold a map that needs any of the lines.
        eprintln!(
            "idfed: warning: --prune: not pruning: {} container config(s) could not be read, \
             and their maps may need the lines",
            ctx.ct_errors.len()
        );
        return Ok(());
    }
    let mut needed = [plan.needed_uids.clone(), plan.needed_gids.clone()];
    // A privileged CT has no user namespace: it needs no subid lines.
    for ct in ctx.cts.iter().filter(|ct| ct.unprivileged) {
        // Switched by this run (or would be): its new map is in the plan's needs.
        let switched = out.restart_required.contains(&ct.vmid);
        let mut maps = if switched {
            Vec::new()
        } else {
            vec![ct.idmap.clone()]
        };
        maps.extend(other_section_maps(ctx, ct.vmid));
        for map in &maps {
            for (i, kind) in IdKind::ALL.into_iter().enumerate() {
                let map = current_map(map, kind, &ctx.params);
                needed[i] = needed[i].union(&outside_ranges(&map));
            }
        }
    }
    let [needed_uids, needed_gids] = needed;
    let stale = |claims: &[Subid], needed: &IdSet| -> Vec<Subid> {
        claims
            .iter()
            .filter(|l| {
                crate::ids::IdRange::with_count(u64::from(l.start), u64::from(l.count))
                    .is_ok_and(|r| !needed.overlaps(r))
            })
            .cloned()
            .collect()
    };
    out.subuid_pruned = stale(&subids.record.subuid, &needed_uids);
    out.subgid_pruned = stale(&subids.record.subgid, &needed_gids);
    if out.subuid_pruned.is_empty() && out.subgid_pruned.is_empty() {
        return Ok(());
    }
    // Under shadow's locks, from the files as they are now.
    let (_locks, local_uid, local_gid) = lock_subids(globals, ctx, args)?;
    subids.subuid = local_uid.file.clone();
    subids.subgid = local_gid.file.clone();
    for l in &out.subuid_pruned {
        subids.subuid.remove_line(l);
    }
    for l in &out.subgid_pruned {
        subids.subgid.remove_line(l);
    }
    subids
        .record
        .subuid
        .retain(|l| !out.subuid_pruned.contains(l));
    subids
        .record
        .subgid
        .retain(|l| !out.subgid_pruned.contains(l));
    if args.dry_run {
        return Ok(());
    }
    write_subids(globals, backups, &local_uid, &subids.subuid, out)
        .context("cannot prune this node's subuid")?;
    write_subids(globals, backups, &local_gid, &subids.subgid, out)
        .context("cannot prune this node's subgid")?;
    state::save_added_lines(&globals.root, &subids.record)
        .context("cannot record the pruned subid lines")?;
    Ok(())
}

/// Rewrites one CT's map under its config lock, after checking that the config on disk is still
/// the one the plan was made from.
fn apply_ct(
    globals: &Globals,
    backups: &Backups,
    ctx: &Context,
    c: &CtPlan,
    out: &mut Applied,
) -> anyhow::Result<()> {
    let ct = ctx
        .cluster
        .ct(c.ct)
        .with_context(|| format!("CT {} vanished while planning", c.ct))?;
    let _lock = ConfigLock::acquire(&globals.root, c.ct, PVE_LOCK_TIMEOUT)?;
    let text = crate::fsutil::read_to_string(&ct.path)?;
    let mut config = CtConfig::parse(&text)
        .map_err(|e| anyhow::anyhow!("`{}` line {}: {e}", ct.path.display(), e.line))?;
    if let Some(lock) = config.lock() {
        anyhow::bail!(
            "CT {} was locked (`lock: {lock}`) while planning: retried on the next run",
            c.ct
        );
    }
    if config.effective_idmap() != ct.config.effective_idmap() {
        anyhow::bail!(
            "CT {}: `{}` changed while planning: run `idfed apply` again",
            c.ct,
            ct.path.display()
        );
    }
    let extents: Vec<_> = c.uid_map.iter().chain(&c.gid_map).copied().collect();
    config.set_idmap(&extents);
    // Claim the union first: a crash between the two record writes leaves idfed owning ids it
    // may not have written yet, never the reverse (which would turn its own ids foreign).
    let before = ctx.managed.get(&c.ct).cloned().unwrap_or_default();
    let union = Managed {
        uids: before.uids.union(&c.managed_after.uids),
        gids: before.gids.union(&c.managed_after.gids),
    };
    state::save_managed(&globals.root, ctx.pve_root(), c.ct, &union)?;
    write_with_backup(globals, backups, &ct.path, &config.render(), 0o640, out)?;
    state::save_managed(&globals.root, ctx.pve_root(), c.ct, &c.managed_after)?;
    out.restart_required.push(c.ct);
    Ok(())
}

/// Carries out `first`, the plan with this node's coverage as its files were read: the subid
/// lines first, then the CTs by the plan with the coverage that gives.
fn apply_plan(
    globals: &Globals,
    ctx: &Context,
    args: &ApplyArgs,
    first: &Plan,
    out: &mut Applied,
) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    if !dry_run {
        // Before anything is written anywhere: pmxcfs without quorum refuses every write there.
        let dirs = [
            globals.root.join(lxc_dir(ctx.pve_root(), &ctx.node)),
            state::managed_dir(&globals.root, ctx.pve_root()),
            publish::nodes_dir(&globals.root, ctx.pve_root()),
        ];
        crate::apply::pve_writable::probe(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    }
    let backups = Backups::new(globals);
    let mut subids = apply_subids(globals, &backups, ctx, first, args, out)?;
    // This node counts with the coverage its files have now; the others with what they published.
    let plan = ctx.plan_with(args.adopt, subids.coverage(ctx));

    for c in plan.containers.iter().filter(|c| c.node == ctx.node) {
        if let Some(reason) = &c.skipped {
            out.skipped.push(Skipped {
                ct: c.ct,
                reason: reason.clone(),
            });
            continue;
        }
        if let Rollout::Waiting { nodes } = &c.rollout {
            let entry = Waiting {
                ct: c.ct,
                nodes: nodes.to_vec(),
            };
            if !args.force {
                out.waiting.push(entry);
                continue;
            }
            eprintln!(
                "idfed: warning: --force: CT {} gets a map that {} do(es) not cover: it cannot \
                 start there (after a migration or an HA failover) until `idfed apply` runs there",
                c.ct,
                nodes.join(", ")
            );
            out.forced.push(entry);
        }
        if dry_run {
            if c.changed {
                out.restart_required.push(c.ct);
            }
            continue;
        }
        let result = if c.changed {
            apply_ct(globals, &backups, ctx, c, out)
        } else if ctx.managed.get(&c.ct).cloned().unwrap_or_default() != c.managed_after {
            state::save_managed(&globals.root, ctx.pve_root(), c.ct, &c.managed_after).map(|_| ())
        } else {
            Ok(())
        };
        if let Err(e) = result {
            out.errors.push(format!("CT {}: {e:#}", c.ct));
        }
    }
    if args.prune {
        prune(globals, &backups, ctx, &plan, &mut subids, args, out)?;
    }
    if !dry_run {
        let (owner, _) = ctx.owner();
        let state = Published::now(&ctx.node, owner, &subids.coverage(ctx));
        let path = publish::save(&globals.root, ctx.pve_root(), &state)
            .context("cannot publish this node's subid coverage")?;
        out.published = Some(path.display().to_string());
    }
    Ok(())
}

fn render_text(out: &Applied) -> String {
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
    for k in &out.skipped {
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
    if let Some(p) = &out.published {
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
        && out.errors.is_empty();
    if nothing {
        let _ = writeln!(s, "no changes: node {} is in the desired state", out.node);
    }
    s
}

/// Removes what an earlier run killed midway left in the directories apply writes to (its own
/// temporaries only), and says so.
fn remove_stale_temporaries(globals: &Globals, ctx: &Context) -> anyhow::Result<()> {
    let dirs = [
        globals.root.join("/etc"),
        globals.root.join(lxc_dir(ctx.pve_root(), &ctx.node)),
        state::managed_dir(&globals.root, ctx.pve_root()),
        publish::nodes_dir(&globals.root, ctx.pve_root()),
        state::dir(&globals.root),
    ];
    for dir in dirs {
        for path in crate::apply::write::remove_stale_temporaries(&dir)? {
            eprintln!(
                "idfed: note: removed `{}`, left by an idfed run that did not finish",
                path.display()
            );
        }
    }
    Ok(())
}

/// Runs `idfed apply`.
///
/// # Errors
/// Loading errors (a `--node` that is not a node of the cluster among them), the shrink guard,
/// subid files that cannot be written, or any CT of this node that could not be read or handled
/// (the others are still handled first).
pub fn run(globals: &Globals, args: &ApplyArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "apply")?;
    // One run at a time on this node, from loading to publishing (a dry run writes nothing).
    let _node_lock = if args.dry_run {
        None
    } else {
        let wait = std::time::Duration::from_secs(args.wait);
        Some(NodeLock::acquire(&globals.root, wait)?)
    };
    let ctx = Context::load_for_apply(globals)?;
    let plan = ctx.plan(args.adopt);
    ctx.shrink_guard(globals, &plan, args.allow_shrink)?;
    let mut out = Applied {
        node: ctx.node.clone(),
        dry_run: args.dry_run,
        ..Applied::default()
    };
    // This node's configs are this run's to apply: one that cannot be read fails the run (its map
    // is left as it is, and the run is not recorded as successful). The others' are warnings.
    ctx.warn_unreadable_cts("left out of the plan", Some(&ctx.node));
    for e in ctx.ct_errors.iter().filter(|e| e.node == ctx.node) {
        out.errors.push(format!(
            "{}: {} (`idfed check` says more)",
            e.who(),
            e.unreadable()
        ));
    }
    if !args.dry_run {
        remove_stale_temporaries(globals, &ctx)?;
    }
    // A failure midway still shows what the run did before it: the report, then the failures.
    if let Err(e) = apply_plan(globals, &ctx, args, &plan, &mut out) {
        out.errors.push(format!("{e:#}"));
    }
    if !args.dry_run && out.errors.is_empty() {
        let run = state::RunState {
            shares: ctx.share_counts(),
        };
        state::save_run_state(&globals.root, &run)?;
    }
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&out)? + "\n",
        _ => render_text(&out),
    };
    super::print_stdout(&text)?;
    if out.errors.is_empty() {
        Ok(Outcome::Ok)
    } else {
        anyhow::bail!(
            "{} failure(s), after the report above:\n  {}",
            out.errors.len(),
            out.errors.join("\n  ")
        )
    }
}
