//! `scan --fix-container`: hands the entries a CT wrote as host `base + i` back to `i`, for the
//! CT-side ids `i` that are owners of the share now (uids and gids each on their own). Done in the
//! same walk that counts, entry by entry through shift's owner change
//! ([`crate::shift::owner::change`]): never through a symbolic link, the set-user and set-group id
//! bits and file capabilities that `chown` clears put back, after being journaled.
//!
//! Crash-safe by its shape: an entry is picked by its current owner, so a rerun after a kill
//! hands back what is left, and a run after a complete one changes nothing; the journal (one per
//! scanned path, under `/var/lib/idfed/scan/`) keeps what ownership cannot, and a rerun replays it
//! first. The first `EPERM` (an export that squashes root) ends the changes (the walk still
//! counts): the command then says what to run on the file server.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::Errno;

use super::{Classifier, Fixed, HandBack, ScanError, Tally, Target};
use crate::fs::Root;
use crate::ids::IdKind;
use crate::shift::journal::Journal;
use crate::shift::owner;
use crate::walk::{self, Entry, Problem, Progress, Visitor};

/// How to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Count what would change; change nothing.
    pub dry_run: bool,
    /// The journal of set-id bits and capabilities ([`journal_path`]).
    pub journal: PathBuf,
}

/// The journal of the fix of host path `path` (as scanned, before `--root`): named by a hash of
/// the path (FNV-1a, stable across builds), so that each export has its own.
pub(crate) fn journal_path(root: &Root, path: &Path) -> PathBuf {
    let hash = path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    root.join(format!("/var/lib/idfed/scan/{hash:016x}.journal"))
}

/// What the fixing walk found and did.
pub(crate) struct Outcome {
    pub tally: Tally,
    pub problems: Vec<Problem>,
    pub mounts: Vec<PathBuf>,
    /// What was changed (its `refused` is left to the caller, from [`Outcome::refused`]).
    pub fixed: Fixed,
    pub refused: Option<Problem>,
}

struct Fixer<'a> {
    uids: &'a Classifier<'a>,
    gids: &'a Classifier<'a>,
    /// `None` in a dry run: nothing is changed.
    journal: Option<&'a Journal>,
    /// Set at the first refusal: no more changes are tried.
    stop: &'a AtomicBool,
    tally: Tally,
    /// (kind, from) → (to, entries).
    changed: BTreeMap<(IdKind, u32), (u32, u64)>,
    refused: Option<Problem>,
    failed: Vec<Problem>,
    /// Entries changed whose mode or capabilities could not be put back: the journal stays.
    unrestored: bool,
}

impl Fixer<'_> {
    fn problem(&mut self, entry: &Entry<'_>, action: &'static str, error: &io::Error) {
        self.failed.push(Problem {
            rel: entry.rel.to_path_buf(),
            action,
            errno: Errno::from_io_error(error).unwrap_or(Errno::IO),
        });
    }

    /// The hand-back of either kind (a capability's `rootid` is a uid).
    fn hand_back(&self, kind: IdKind, id: u32) -> Option<u32> {
        match kind {
            IdKind::Uid => self.uids.hand_back(id),
            IdKind::Gid => self.gids.hand_back(id),
        }
    }
}

impl Visitor for Fixer<'_> {
    fn visit(&mut self, entry: &Entry<'_>) {
        let s = entry.stat;
        self.tally
            .add(s.st_uid, s.st_gid, u64::try_from(s.st_size).unwrap_or(0));
        let to_uid = self.uids.hand_back(s.st_uid);
        let to_gid = self.gids.hand_back(s.st_gid);
        if (to_uid.is_none() && to_gid.is_none()) || self.stop.load(Ordering::Relaxed) {
            return;
        }
        if let Some(journal) = self.journal {
            let map = |k, id| self.hand_back(k, id);
            match owner::change(
                entry,
                to_uid,
                to_gid,
                map,
                Some(journal),
                owner::Known::default(),
            ) {
                Ok(after) => {
                    self.unrestored |= !after.is_empty();
                    for f in after {
                        self.problem(entry, f.action, &f.error);
                    }
                }
                Err(f) if f.action == owner::CHANGE_OWNER => match f.error.raw_os_error() {
                    Some(code) if code == Errno::PERM.raw_os_error() => {
                        self.refused = Some(Problem {
                            rel: entry.rel.to_path_buf(),
                            action: owner::CHANGE_OWNER,
                            errno: Errno::PERM,
                        });
                        self.stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    // Removed since it was looked at.
                    Some(code) if code == Errno::NOENT.raw_os_error() => return,
                    _ => return self.problem(entry, f.action, &f.error),
                },
                Err(f) => return self.problem(entry, f.action, &f.error),
            }
        }
        for (kind, from, to) in [
            (IdKind::Uid, s.st_uid, to_uid),
            (IdKind::Gid, s.st_gid, to_gid),
        ] {
            if let Some(to) = to {
                self.changed.entry((kind, from)).or_insert((to, 0)).1 += 1;
            }
        }
    }
}

/// Walks `target`, counting every entry as found and handing container ids back as it goes;
/// first puts back what an interrupted fix's journal holds, and removes the journal after a fix
/// that put back everything it journaled.
///
/// # Errors
/// [`ScanError`] when the path itself cannot be looked at, or the journal cannot be replayed or
/// removed.
pub(crate) fn fix(
    target: &Target<'_>,
    mode: &Mode,
    progress: &Progress,
) -> Result<Outcome, ScanError> {
    let journal = Journal::at(mode.journal.clone());
    let restored = if mode.dry_run {
        0
    } else {
        journal.replay(&target.disk)?
    };
    let refused = AtomicBool::new(false);
    let walked = walk::walk(&target.disk, walk::THREADS, progress, || Fixer {
        uids: &target.uids,
        gids: &target.gids,
        journal: (!mode.dry_run).then_some(&journal),
        stop: &refused,
        tally: Tally::default(),
        changed: BTreeMap::new(),
        refused: None,
        failed: Vec::new(),
        unrestored: false,
    })?;
    let mut tally = Tally::default();
    let mut changed: BTreeMap<(IdKind, u32), (u32, u64)> = BTreeMap::new();
    let mut problems = walked.problems;
    let mut refused = None;
    let mut unrestored = false;
    for v in walked.visitors {
        unrestored |= v.unrestored;
        tally.merge(v.tally);
        for (key, (to, n)) in v.changed {
            changed.entry(key).or_insert((to, 0)).1 += n;
        }
        problems.extend(v.failed);
        refused = refused.or(v.refused);
    }
    problems.sort_by(|a, b| a.rel.cmp(&b.rel));
    // Every journaled entry was put back (a directory that could not be read is no reason to keep
    // the journal: a stale one would put back a bit someone removed since).
    if !mode.dry_run && !unrestored {
        journal.remove()?;
    }
    let changed = changed
        .into_iter()
        .map(|((kind, from), (to, entries))| {
            let classifier = match kind {
                IdKind::Uid => &target.uids,
                IdKind::Gid => &target.gids,
            };
            HandBack {
                kind,
                from,
                to,
                name: classifier.name(to),
                entries,
            }
        })
        .collect();
    Ok(Outcome {
        tally,
        problems,
        mounts: walked.mounts,
        fixed: Fixed {
            dry_run: mode.dry_run,
            changed,
            restored,
            refused: None,
        },
        refused,
    })
}
