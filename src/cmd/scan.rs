//! `idfed scan SHARE|PATH`: counts an export's entries and bytes per uid and gid (the walk and the
//! classification are `crate::scan`'s), renders them as a table, CSV or JSON, suggests the owners
//! to add, and with `--fix-container` hands container ids back.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use comfy_table::{CellAlignment, Table, presets};
use serde::Serialize;

use crate::cli::{Format, ScanArgs};
use crate::config::{self, Config};
use crate::ids::{IdKind, IdSet};
use crate::pve::Discovery;
use crate::scan::{self, Bounds, Classifier, Cover, Progress, Row, Scan, Target};
use crate::source::{self, Directory};
use crate::text::escape;

use super::{Globals, Outcome, require_format};

/// The share (if any) a scan is about, its owners and its source's directory.
struct Subject {
    share: Option<String>,
    path: PathBuf,
    uids: IdSet,
    gids: IdSet,
    directory: Option<std::sync::Arc<Directory>>,
    /// The share's configured `users`, `groups`, `uids`, `gids` (for the suggestion's lines).
    config: Option<config::ShareConfig>,
}

/// Runs `idfed scan`.
///
/// # Errors
/// A configuration or source error, an unknown share or source, a path that cannot be looked at,
/// and a fix the file server refused (after saying what to run there).
pub(crate) fn run(globals: &Globals, args: &ScanArgs) -> anyhow::Result<Outcome> {
    require_format(globals, &[Format::Text, Format::Json, Format::Csv], "scan")?;
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let subject = subject(globals, &config, args)?;
    let c = &config.cluster;
    let bounds = Bounds {
        min_id: c.map.min_id,
        base: c.map.base,
        size: c.map.size,
    };
    let target = Target {
        share: subject.share.clone(),
        path: subject.path.clone(),
        disk: globals.root.join(&subject.path),
        uids: Classifier {
            kind: IdKind::Uid,
            bounds,
            owners: &subject.uids,
            directory: subject.directory.as_deref(),
        },
        gids: Classifier {
            kind: IdKind::Gid,
            bounds,
            owners: &subject.gids,
            directory: subject.directory.as_deref(),
        },
    };
    let fix = args.fix_container.then(|| scan::fix::Mode {
        dry_run: args.dry_run,
        journal: scan::fix::journal_path(&globals.root, &subject.path),
    });
    let progress = Progress::default();
    let show = !globals.quiet && std::io::stderr().is_terminal();
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        let ticker = show.then(|| s.spawn(|| show_progress(&progress, &done)));
        let result = scan::scan(&target, fix.as_ref(), &progress);
        done.store(true, Ordering::Relaxed);
        if let Some(t) = ticker {
            let _ = t.join();
        }
        result
    });
    let found = result.with_context(|| format!("cannot scan `{}`", subject.path.display()))?;
    for u in &found.unreadable {
        super::warn(u);
    }
    let suggestion = Suggestion {
        percent: args.cover,
        users: scan::cover(&found.uids, args.cover),
        groups: scan::cover(&found.gids, args.cover),
    };
    match globals.format {
        Format::Json => {
            let doc = Json {
                scan: &found,
                suggestion: &suggestion,
            };
            super::print_stdout(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
        }
        Format::Csv => super::print_stdout(&render_csv(&found))?,
        Format::Text => super::print_output(
            globals.format,
            &render_text(&found, &suggestion, subject.config.as_ref(), &args.target),
        )?,
    }
    if let Some(refused) = found.fix.as_ref().and_then(|f| f.refused.as_ref()) {
        eprint!("{}", server_commands(&found));
        // The scan is written (its `fix` says what was refused): no second JSON document.
        return Err(super::AfterOutput(anyhow::anyhow!(
            "{} (an export that squashes root?): nothing more was changed here; run the commands \
             above on the file server",
            escape(&refused.to_string())
        ))
        .into());
    }
    Ok(Outcome::Ok)
}

/// Finds the share named (or holding the path) and resolves its owners, through the resolve path
/// every command uses; for a path no share holds, only the directory of `--source` (or of the only
/// source) is read.
fn subject(globals: &Globals, config: &Config, args: &ScanArgs) -> anyhow::Result<Subject> {
    let by_path = args.target.contains('/');
    let share_name = if by_path {
        let wanted = PathBuf::from(&args.target);
        anyhow::ensure!(
            wanted.is_absolute(),
            "`{}` is not an absolute path nor a share name: expected a share of `{}` or a path like `/mnt/pve/NAME`",
            args.target,
            config.path.display()
        );
        share_holding(globals, config, &wanted)?
    } else {
        config.share(&args.target)?;
        Some((args.target.clone(), PathBuf::new()))
    };
    let Some((name, share_path)) = share_name else {
        let source = match (
            &args.source,
            config.sources.keys().collect::<Vec<_>>().as_slice(),
        ) {
            (Some(s), _) => Some(s.clone()),
            (None, [only]) => Some((*only).clone()),
            (None, _) => None,
        };
        let directory = match source {
            Some(name) => {
                let source = config.sources.get(&name).with_context(|| {
                    format!(
                        "no source `{name}` in `{}`: expected one of {}",
                        config.path.display(),
                        config
                            .sources
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                let loaded = source::load(source, !globals.quiet)
                    .with_context(|| format!("cannot read source `{name}`"))?;
                for w in &loaded.warnings {
                    super::warn(format_args!("source `{name}`: {w}"));
                }
                Some(std::sync::Arc::new(loaded.directory))
            }
            None => {
                super::warn(format_args!(
                    "`{}` is in no share and the configuration has several sources: ids are not \
                     named (use --source NAME)",
                    args.target
                ));
                None
            }
        };
        return Ok(Subject {
            share: None,
            path: PathBuf::from(&args.target),
            uids: IdSet::new(),
            gids: IdSet::new(),
            directory,
            config: None,
        });
    };
    if args.source.is_some() {
        anyhow::bail!(
            "--source names the ids of a path no share holds; share `{name}` has its own"
        );
    }
    let mut resolution = crate::resolve::resolve_each(
        config,
        std::slice::from_ref(&name),
        !globals.quiet,
        crate::resolve::Cache::Off,
    )?;
    if let Some(error) = resolution.errors.first() {
        anyhow::bail!("{error}");
    }
    for w in &resolution.warnings {
        super::warn(w);
    }
    let share = resolution
        .shares
        .pop()
        .context("the share resolved to nothing")?;
    let path = if by_path {
        PathBuf::from(&args.target)
    } else {
        share_path_of(globals, config, &name)?
    };
    let _ = share_path;
    Ok(Subject {
        share: Some(name.clone()),
        path,
        uids: share.uids,
        gids: share.gids,
        directory: resolution.directories.pop(),
        config: Some(config.shares[&name].clone()),
    })
}

/// Where share `name` is mounted: its `path`, or its storage's in `storage.cfg`.
fn share_path_of(globals: &Globals, config: &Config, name: &str) -> anyhow::Result<PathBuf> {
    let cluster = storage_cluster(globals, config)?;
    Ok(crate::cluster::share_path(config, &cluster, name)?)
}

/// The cluster, read only when a share is given by storage (for `storage.cfg`).
fn storage_cluster(globals: &Globals, config: &Config) -> anyhow::Result<Discovery> {
    if config.shares.values().all(|s| s.storage().is_none()) {
        return Ok(Discovery::default());
    }
    let pve_root = &config.cluster.pve_root;
    Discovery::discover(&globals.root, pve_root).with_context(|| {
        format!(
            "cannot read the cluster under `{}`",
            globals.root.join(pve_root).display()
        )
    })
}

/// The share whose path holds `path` (the deepest one), with its path.
fn share_holding(
    globals: &Globals,
    config: &Config,
    path: &Path,
) -> anyhow::Result<Option<(String, PathBuf)>> {
    let cluster = storage_cluster(globals, config)?;
    let mut best: Option<(String, PathBuf)> = None;
    for name in config.shares.keys() {
        let Ok(share_path) = crate::cluster::share_path(config, &cluster, name) else {
            continue;
        };
        let deeper = best
            .as_ref()
            .is_none_or(|(_, p)| share_path.components().count() > p.components().count());
        if path.starts_with(&share_path) && deeper {
            best = Some((name.clone(), share_path));
        }
    }
    Ok(best)
}

/// Draws entries and bytes so far on stderr until `done`.
fn show_progress(progress: &Progress, done: &std::sync::atomic::AtomicBool) {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::default_spinner());
    while !done.load(Ordering::Relaxed) {
        bar.set_message(format!(
            "scanning: {} entries, {}",
            progress.entries.load(Ordering::Relaxed),
            human(progress.bytes.load(Ordering::Relaxed))
        ));
        bar.tick();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// The suggestion: the additions per kind.
#[derive(Serialize)]
struct Suggestion {
    percent: u8,
    users: Cover,
    groups: Cover,
}

/// The JSON document: the scan, and the suggestion.
#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    scan: &'a Scan,
    suggestion: &'a Suggestion,
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `12.0 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn table(kind: IdKind, rows: &[Row]) -> String {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).force_no_tty();
    t.set_header([
        kind.to_string().as_str(),
        "name",
        "status",
        "entries",
        "bytes",
        "inside",
    ]);
    for r in rows {
        let inside = match (r.inside, &r.inside_name, r.inside_owner) {
            (Some(id), name, owner) => {
                let mut s = id.to_string();
                let mut notes: Vec<String> = name.iter().map(|n| escape(n).into_owned()).collect();
                notes.push(
                    if owner == Some(true) {
                        "owner"
                    } else {
                        "not an owner"
                    }
                    .into(),
                );
                if !notes.is_empty() {
                    let _ = write!(s, " ({})", notes.join(", "));
                }
                s
            }
            _ => String::new(),
        };
        t.add_row([
            r.id.to_string(),
            r.name
                .as_deref()
                .map(|n| escape(n).into_owned())
                .unwrap_or_default(),
            r.status.to_string(),
            r.entries.to_string(),
            human(r.bytes),
            inside,
        ]);
    }
    for i in [0, 3, 4] {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = String::new();
    for line in t.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A TOML array of ids: numbers, and `"a-b"` for ranges.
fn toml_ids(set: &IdSet) -> String {
    let items: Vec<String> = set
        .ranges()
        .iter()
        .map(|r| {
            if r.count() == 1 {
                r.start().to_string()
            } else {
                format!("\"{}-{}\"", r.start(), r.last())
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn toml_names(names: &[String]) -> String {
    let items: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "\"{}\"",
                escape(n).replace('\\', "\\\\").replace('"', "\\\"")
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn render_text(
    found: &Scan,
    suggestion: &Suggestion,
    share: Option<&config::ShareConfig>,
    target: &str,
) -> String {
    let mut out = String::new();
    let what = match &found.share {
        Some(name) => format!("share {name}: "),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{what}{}: {}, {}\n",
        escape(&found.path.to_string_lossy()),
        entries(found.entries),
        human(found.bytes)
    );
    out.push_str(&table(IdKind::Uid, &found.uids));
    out.push('\n');
    out.push_str(&table(IdKind::Gid, &found.gids));
    if !found.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "\nnot counted: {} idfed could not read (see the warnings)",
            match found.unreadable.len() {
                1 => "1 place".to_string(),
                n => format!("{n} places"),
            }
        );
    }
    for m in &found.mounts {
        let _ = writeln!(
            out,
            "not entered: `{}` (another filesystem; scan it on its own)",
            escape(&m.to_string_lossy())
        );
    }
    // The suggestion.
    let mut lines = Vec::new();
    for (cover, names_key, ids_key, kind) in [
        (&suggestion.users, "users", "uids", IdKind::Uid),
        (&suggestion.groups, "groups", "gids", IdKind::Gid),
    ] {
        if cover.names.is_empty() && cover.ids.is_empty() {
            continue;
        }
        if !cover.names.is_empty() {
            let mut names: Vec<String> = match (share, kind) {
                (Some(s), IdKind::Uid) => s.users.clone(),
                (Some(s), IdKind::Gid) => s.groups.clone(),
                (None, _) => Vec::new(),
            };
            names.extend(cover.names.iter().cloned());
            lines.push(format!(
                "{names_key} = {}    # by {kind}: {:.1} % now, then {:.1} %",
                toml_names(&names),
                cover.now_percent,
                cover.then_percent
            ));
        }
        if !cover.ids.is_empty() {
            let mut ids = match (share, kind) {
                (Some(s), IdKind::Uid) => s.uids.clone(),
                (Some(s), IdKind::Gid) => s.gids.clone(),
                (None, _) => IdSet::new(),
            };
            for id in &cover.ids {
                if let Ok(r) = crate::ids::IdRange::single(*id) {
                    ids.insert(r);
                }
            }
            let note = if cover.names.is_empty() {
                format!(
                    "    # by {kind}: {:.1} % now, then {:.1} %",
                    cover.now_percent, cover.then_percent
                )
            } else {
                "    # not in the source".to_string()
            };
            lines.push(format!("{ids_key} = {}{note}", toml_ids(&ids)));
        }
    }
    let heading = match &found.share {
        Some(name) => format!("[share.{name}]"),
        None => "[share.NAME]".to_string(),
    };
    if lines.is_empty() {
        let _ = writeln!(
            out,
            "\nthe owners own {:.1} % (by uid) and {:.1} % (by gid) of the bytes of ids that can pass through",
            suggestion.users.now_percent, suggestion.groups.now_percent
        );
    } else {
        let _ = writeln!(
            out,
            "\nfor the owners to own {} % of the bytes of ids that can pass through:\n  {heading}",
            suggestion.percent
        );
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
    }
    // Container ids.
    let fixed = found.fix.as_ref();
    if let Some(f) = fixed
        && f.restored > 0
    {
        let _ = writeln!(
            out,
            "\nput back the set-id bits and capabilities of {} entries from an interrupted fix",
            f.restored
        );
    }
    match fixed {
        Some(f) if !f.changed.is_empty() => {
            let verb = if f.dry_run {
                "would hand back"
            } else {
                "handed back"
            };
            let _ = writeln!(out, "\n{verb}:");
            for h in &f.changed {
                let _ = writeln!(out, "  {}", hand_back_line(h));
            }
        }
        Some(f) if f.refused.is_some() => {
            let _ = writeln!(
                out,
                "\nnothing handed back: the file server refused (its commands are on stderr)"
            );
        }
        Some(_) => {
            let _ = writeln!(out, "\nno container ids to hand back");
        }
        None if !found.hand_back.is_empty() => {
            let _ = writeln!(
                out,
                "\n`idfed scan {} --fix-container` can hand back:",
                escape(target)
            );
            for h in &found.hand_back {
                let _ = writeln!(out, "  {}", hand_back_line(h));
            }
        }
        None => {}
    }
    let left: Vec<&Row> = found
        .uids
        .iter()
        .chain(&found.gids)
        .filter(|r| r.inside_owner == Some(false))
        .collect();
    if !left.is_empty() {
        let ids: Vec<String> = left
            .iter()
            .map(|r| {
                let kind = if found.uids.iter().any(|u| std::ptr::eq(u, *r)) {
                    IdKind::Uid
                } else {
                    IdKind::Gid
                };
                format!("{kind} {}", r.id)
            })
            .collect();
        let _ = writeln!(
            out,
            "left as they are (their CT-side id is not an owner): {}",
            ids.join(", ")
        );
    }
    out
}

fn hand_back_line(h: &scan::HandBack) -> String {
    let name = h
        .name
        .as_deref()
        .map(|n| format!(" ({})", escape(n)))
        .unwrap_or_default();
    format!(
        "{} {} → {}{name}: {}",
        h.kind,
        h.from,
        h.to,
        entries(h.entries)
    )
}

/// `1 entry`, `2 entries`.
fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".to_string()
    } else {
        format!("{n} entries")
    }
}

fn render_csv(found: &Scan) -> String {
    use crate::report::csv_field;
    let mut out = String::from("kind,id,name,status,inside,inside_owner,entries,bytes\n");
    for (kind, rows) in [(IdKind::Uid, &found.uids), (IdKind::Gid, &found.gids)] {
        for r in rows {
            let _ = writeln!(
                out,
                "{kind},{},{},{},{},{},{},{}",
                r.id,
                csv_field(r.name.as_deref().unwrap_or_default()),
                r.status,
                r.inside.map(|i| i.to_string()).unwrap_or_default(),
                r.inside_owner.map(|o| o.to_string()).unwrap_or_default(),
                r.entries,
                r.bytes
            );
        }
    }
    out
}

/// What to run on a file server that squashes root: one `find` per container id to hand back,
/// from the export's directory there.
fn server_commands(found: &Scan) -> String {
    let mut out = String::from(
        "idfed: on the file server, in the export's directory (chown clears set-id bits: list them first with `find . -xdev -perm /6000 -ls`):\n",
    );
    for h in &found.hand_back {
        let (test, tool) = match h.kind {
            IdKind::Uid => ("-uid", "chown"),
            IdKind::Gid => ("-gid", "chgrp"),
        };
        let _ = writeln!(
            out,
            "  find . -xdev {test} {} -exec {tool} -h {} {{}} +",
            h.from, h.to
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_at_unit_boundaries() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(1024 * 1024 - 1), "1024.0 KiB");
        assert_eq!(human(1024 * 1024), "1.0 MiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn toml_ids_write_ranges_as_strings() {
        assert_eq!(
            toml_ids(&IdSet::of_counts(&[(1005, 1), (2000, 11)])),
            "[1005, \"2000-2010\"]"
        );
        assert_eq!(toml_ids(&IdSet::new()), "[]");
        assert_eq!(toml_names(&["a\"b".into()]), "[\"a\\\"b\"]");
    }
}
