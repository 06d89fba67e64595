//! `idfed apply`: on this node, first the subid lines it lacks (appended), then the `lxc.idmap`
//! lines of every container on this node whose map changes, each under PVE's config lock, written
//! atomically with a backup. A second run changes nothing.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::apply::write::{Written, replace_file};
use crate::cli::{ApplyArgs, Format};
use crate::idmap::Subid;
use crate::ids::IdSet;
use crate::plan::{CtPlan, Managed, Plan};
use crate::pve::CtConfig;
use crate::pve::lock::{ConfigLock, PVE_LOCK_TIMEOUT};
use crate::state;

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
    pub errors: Vec<String>,
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
            dir: globals.root.join("/var/lib/idfed/backup").join(stamp),
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

fn apply_subids(
    globals: &Globals,
    backups: &Backups,
    ctx: &Context,
    local: &LocalSubid,
    needed: &IdSet,
    dry_run: bool,
    out: &mut Applied,
) -> anyhow::Result<Vec<Subid>> {
    let (owner, uid) = ctx.owner();
    let mut file = local.file.clone();
    let added = file.merge(owner, uid, needed);
    if !added.is_empty() && !dry_run {
        write_with_backup(globals, backups, &local.path, &file.render(), 0o644, out)?;
    }
    Ok(added)
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

fn apply_plan(
    globals: &Globals,
    ctx: &Context,
    plan: &Plan,
    dry_run: bool,
    out: &mut Applied,
) -> anyhow::Result<()> {
    let backups = Backups::new(globals);
    out.subuid_added = apply_subids(
        globals,
        &backups,
        ctx,
        &ctx.subuid,
        &plan.needed_uids,
        dry_run,
        out,
    )
    .context("cannot update this node's subuid")?;
    out.subgid_added = apply_subids(
        globals,
        &backups,
        ctx,
        &ctx.subgid,
        &plan.needed_gids,
        dry_run,
        out,
    )
    .context("cannot update this node's subgid")?;

    for c in plan.containers.iter().filter(|c| c.node == ctx.node) {
        if let Some(reason) = &c.skipped {
            out.skipped.push(Skipped {
                ct: c.ct,
                reason: reason.clone(),
            });
            continue;
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
    for e in &out.errors {
        let _ = writeln!(s, "error: {e}");
    }
    let nothing = out.subuid_added.is_empty()
        && out.subgid_added.is_empty()
        && out.restart_required.is_empty()
        && out.errors.is_empty();
    if nothing {
        let _ = writeln!(s, "no changes: node {} is in the desired state", out.node);
    }
    s
}

/// Runs `idfed apply`.
///
/// # Errors
/// Loading errors, the shrink guard, subid files that cannot be written, or any CT that could not
/// be handled (the others are still handled first).
pub fn run(globals: &Globals, args: &ApplyArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json], "apply")?;
    let ctx = Context::load(globals, &[])?;
    let plan = ctx.plan(args.adopt);
    ctx.shrink_guard(globals, &plan, args.allow_shrink)?;
    let mut out = Applied {
        node: ctx.node.clone(),
        dry_run: args.dry_run,
        ..Applied::default()
    };
    apply_plan(globals, &ctx, &plan, args.dry_run, &mut out)?;
    if !args.dry_run && out.errors.is_empty() {
        let run = state::RunState {
            shares: ctx.share_counts(),
        };
        state::save_run_state(&globals.root, &run)?;
    }
    match globals.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        _ => print!("{}", render_text(&out)),
    }
    if out.errors.is_empty() {
        Ok(Outcome::Ok)
    } else {
        anyhow::bail!("{} container(s) could not be handled", out.errors.len())
    }
}
