//! `scan --fix-container`: hands the entries a CT wrote as host `base + i` back to `i`, for the
//! CT-side ids `i` that are owners of the share now (uids and gids each on their own). Done in the
//! same walk that counts, entry by entry with `lchown` (never through a symbolic link); a set-user
//! or set-group id bit that `chown` cleared is put back (as LXC's `fuidshift` does).
//!
//! Crash-safe by its shape: an entry is picked by its current owner, so a rerun after a kill
//! hands back what is left, and a run after a complete one changes nothing. (A kill between an
//! entry's `chown` and the `chmod` that restores its set-id bit loses that bit, as with
//! `fuidshift`.) The first `EPERM` (an export that squashes root) ends the changes (the walk
//! still counts): the command then says what to run on the file server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Gid, Mode as FileMode, Uid};
use rustix::io::Errno;

use super::{Classifier, Fixed, HandBack, Tally, Target};
use crate::ids::IdKind;
use crate::walk::{self, Entry, Problem, Progress, Visitor, WalkError};

/// How to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Count what would change; change nothing.
    pub dry_run: bool,
}

/// What the fixing walk found and did.
pub struct Outcome {
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
    dry_run: bool,
    /// Set at the first refusal: no more changes are tried.
    stop: &'a AtomicBool,
    tally: Tally,
    /// (kind, from) → (to, entries).
    changed: BTreeMap<(IdKind, u32), (u32, u64)>,
    refused: Option<Problem>,
    failed: Vec<Problem>,
}

impl Fixer<'_> {
    fn problem(&mut self, entry: &Entry<'_>, action: &'static str, errno: Errno) {
        self.failed.push(Problem {
            rel: entry.rel.to_path_buf(),
            action,
            errno,
        });
    }
}

/// Set-user-id and set-group-id: what `chown` clears and `fuidshift` restores.
const SET_ID_BITS: u32 = 0o6000;

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
        if !self.dry_run {
            let result = rustix::fs::chownat(
                entry.dir,
                entry.name,
                to_uid.map(Uid::from_raw),
                to_gid.map(Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            );
            match result {
                Ok(()) => {}
                Err(Errno::PERM) => {
                    self.refused = Some(Problem {
                        rel: entry.rel.to_path_buf(),
                        action: "change the owner of",
                        errno: Errno::PERM,
                    });
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
                // Removed since it was looked at.
                Err(Errno::NOENT) => return,
                Err(errno) => return self.problem(entry, "change the owner of", errno),
            }
            let ty = FileType::from_raw_mode(s.st_mode);
            if ty != FileType::Symlink && s.st_mode & SET_ID_BITS != 0 {
                let mode = FileMode::from_raw_mode(s.st_mode & 0o7777);
                if let Err(errno) =
                    rustix::fs::chmodat(entry.dir, entry.name, mode, AtFlags::empty())
                {
                    self.problem(entry, "restore the set-id bits of", errno);
                }
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

/// Walks `target`, counting every entry as found and handing container ids back as it goes.
///
/// # Errors
/// [`WalkError`] when the path itself cannot be looked at.
pub fn fix(target: &Target<'_>, mode: Mode, progress: &Progress) -> Result<Outcome, WalkError> {
    let refused = AtomicBool::new(false);
    let walked = walk::walk(&target.disk, walk::THREADS, progress, || Fixer {
        uids: &target.uids,
        gids: &target.gids,
        dry_run: mode.dry_run,
        stop: &refused,
        tally: Tally::default(),
        changed: BTreeMap::new(),
        refused: None,
        failed: Vec::new(),
    })?;
    let mut tally = Tally::default();
    let mut changed: BTreeMap<(IdKind, u32), (u32, u64)> = BTreeMap::new();
    let mut problems = walked.problems;
    let mut refused = None;
    for v in walked.visitors {
        tally.merge(v.tally);
        for (key, (to, n)) in v.changed {
            changed.entry(key).or_insert((to, 0)).1 += n;
        }
        problems.extend(v.failed);
        refused = refused.or(v.refused);
    }
    problems.sort_by(|a, b| a.rel.cmp(&b.rel));
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
            refused: None,
        },
        refused,
    })
}
