//! `scan`: what an export holds, per uid and per gid, and what each id is to a share (owner, not
//! an owner, unknown, system, or a container's id written before federation); the `users`/`groups`
//! additions that would cover most of the bytes; and handing container ids back to their CT-side
//! owner (`--fix-container`).
//!
//! The tally ([`tally`]), the classification ([`status`]) and the suggestion ([`cover`]) are pure;
//! the walk ([`crate::walk`]) and the fix ([`fix`]) touch the filesystem. Nothing here prints: the
//! command renders the [`Scan`] and its problems.

pub(crate) mod cover;
pub(crate) mod fix;
pub(crate) mod status;
pub(crate) mod tally;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ids::IdKind;
use crate::walk;
pub(crate) use crate::walk::{Problem, Progress, WalkError};
pub(crate) use cover::{Cover, cover};
pub(crate) use status::{Bounds, Classifier, Status};
pub(crate) use tally::{Count, Tally};

/// What to scan and how to classify what is found.
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    /// The share, when one was named or holds the path.
    pub share: Option<String>,
    /// The host path, as reports show it.
    pub path: PathBuf,
    /// Where that path is on this machine (under `--root`).
    pub disk: PathBuf,
    pub uids: Classifier<'a>,
    pub gids: Classifier<'a>,
}

/// One id found on the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Row {
    pub id: u32,
    pub name: Option<String>,
    pub entries: u64,
    pub bytes: u64,
    pub status: Status,
    /// For a container id: the CT-side id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside_name: Option<String>,
    /// For a container id: whether the CT-side id is an owner now (then `--fix-container` hands
    /// the entries back to it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside_owner: Option<bool>,
}

/// A directory that could not be read, or an entry that could not be looked at or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Unreadable {
    pub path: PathBuf,
    /// What could not be done: `read the directory`, `look at`, `change the owner of`.
    pub action: &'static str,
    /// The system's word for why.
    pub error: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot {} `{}`: {}",
            self.action,
            self.path.display(),
            self.error
        )
    }
}

/// Container ids handed back (or, with `--dry-run`, to hand back) to their CT-side owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct HandBack {
    pub kind: IdKind,
    pub from: u32,
    pub to: u32,
    pub name: Option<String>,
    pub entries: u64,
}

/// What `--fix-container` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Fixed {
    pub dry_run: bool,
    pub changed: Vec<HandBack>,
    /// Entries whose set-id bits and capabilities were put back from an interrupted fix's
    /// journal.
    pub restored: usize,
    /// The first entry whose change the filesystem refused (EPERM: an export that squashes root);
    /// the fix stopped there.
    pub refused: Option<Unreadable>,
}

/// Why a scan could not be done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// `--fix-container`'s journal could not be replayed or removed.
    #[error(transparent)]
    Journal(#[from] crate::fs::FsError),
}

/// What a scan found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Scan {
    pub share: Option<String>,
    pub path: PathBuf,
    pub entries: u64,
    pub bytes: u64,
    /// By bytes, most first (then by id).
    pub uids: Vec<Row>,
    pub gids: Vec<Row>,
    /// Directories not read and entries not looked at (or changed), by path.
    pub unreadable: Vec<Unreadable>,
    /// Mount points of other filesystems: counted, not entered.
    pub mounts: Vec<PathBuf>,
    /// The container ids `--fix-container` hands back, as found.
    pub hand_back: Vec<HandBack>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fixed>,
}

/// The rows of one kind, by bytes (most first), then id.
pub(crate) fn rows(
    counts: &foldhash::HashMap<u32, Count>,
    classifier: &Classifier<'_>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = counts
        .iter()
        .map(|(&id, c)| {
            let v = classifier.classify(id);
            Row {
                id,
                name: v.name,
                entries: c.entries,
                bytes: c.bytes,
                status: v.status,
                inside: v.inside.as_ref().map(|i| i.id),
                inside_name: v.inside.as_ref().and_then(|i| i.name.clone()),
                inside_owner: v.inside.as_ref().map(|i| i.owner),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.id.cmp(&b.id)));
    rows
}

/// The container ids of `rows` that `--fix-container` hands back.
pub(crate) fn hand_back(kind: IdKind, rows: &[Row]) -> Vec<HandBack> {
    let mut out: Vec<HandBack> = rows
        .iter()
        .filter(|r| r.status == Status::Container && r.inside_owner == Some(true))
        .filter_map(|r| {
            Some(HandBack {
                kind,
                from: r.id,
                to: r.inside?,
                name: r.inside_name.clone(),
                entries: r.entries,
            })
        })
        .collect();
    out.sort_by_key(|h| h.from);
    out
}

/// The scan visitor: counts every entry.
struct Counter(Tally);

impl walk::Visitor for Counter {
    fn visit(&mut self, entry: &walk::Entry<'_>) {
        let s = entry.stat;
        self.0
            .add(s.st_uid, s.st_gid, u64::try_from(s.st_size).unwrap_or(0));
    }
}

/// Scans `target` (with `fix`, hands container ids back as it goes: see [`fix`]); `progress`
/// counts what was seen so far, for a display.
///
/// # Errors
/// [`ScanError`] when the path itself cannot be looked at (or the fix's journal cannot be
/// replayed or removed).
pub(crate) fn scan(
    target: &Target<'_>,
    fix: Option<&fix::Mode>,
    progress: &Progress,
) -> Result<Scan, ScanError> {
    let (tally, problems, mounts, fix) = match fix {
        None => {
            let walked = walk::walk(&target.disk, walk::THREADS, progress, || {
                Counter(Tally::default())
            })?;
            let mut tally = Tally::default();
            for v in walked.visitors {
                tally.merge(v.0);
            }
            (tally, walked.problems, walked.mounts, None)
        }
        Some(mode) => {
            let out = fix::fix(target, mode, progress)?;
            let fixed = Fixed {
                refused: out.refused.map(|p| unreadable(&target.path, &p)),
                ..out.fixed
            };
            (out.tally, out.problems, out.mounts, Some(fixed))
        }
    };
    let uids = rows(&tally.uids, &target.uids);
    let gids = rows(&tally.gids, &target.gids);
    let mut hand = hand_back(IdKind::Uid, &uids);
    hand.extend(hand_back(IdKind::Gid, &gids));
    Ok(Scan {
        share: target.share.clone(),
        path: target.path.clone(),
        entries: tally.total.entries,
        bytes: tally.total.bytes,
        uids,
        gids,
        unreadable: problems
            .iter()
            .map(|p| unreadable(&target.path, p))
            .collect(),
        mounts: mounts.iter().map(|m| host_path(&target.path, m)).collect(),
        hand_back: hand,
        fix,
    })
}

/// `rel` under the scanned host path.
fn host_path(path: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        path.join(rel)
    }
}

fn unreadable(path: &Path, p: &Problem) -> Unreadable {
    Unreadable {
        path: host_path(path, &p.rel),
        action: p.action,
        error: std::io::Error::from(p.errno).to_string(),
    }
}
