//! Shift's visit of a root filesystem (the tree walk is [`crate::walk`]): every entry owned by
//! a host id that moves gets the host id it moves to, and every ACL entry naming one is
//! rewritten, in one parallel pass for all ids. Entries are changed with `fchownat` on the entry
//! itself, never through a link; a directory on another filesystem (a bind mount, a `/proc`-like
//! mount inside) is not entered and its mount point is left alone; a file with several hard links
//! is handled once.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{FileType, XattrFlags};

use super::journal::Journal;
use super::moves::MoveTable;
use super::{acl, owner};
use crate::ids::IdKind;
use crate::walk::{self as tree, Entry, Progress, Visitor, WalkError};

/// How to walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WalkOptions {
    /// Count only; change nothing.
    pub dry_run: bool,
    /// Worker threads (at least one).
    pub threads: usize,
    /// Count the owners only, no ACL entries (`plan --scan-rootfs`, `check`): a dry run that
    /// lists no entry's extended attributes.
    pub owners_only: bool,
}

/// Entries and bytes (of regular files) owned by one host id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub entries: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.entries += other.entries;
        self.bytes += other.bytes;
    }
}

/// An entry the walk could not read or change (the others still are).
#[derive(Debug)]
pub(crate) struct EntryProblem {
    /// Below the root filesystem.
    pub path: PathBuf,
    pub action: &'static str,
    pub error: io::Error,
}

impl std::fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot {} `/{}`: {}",
            self.action,
            self.path.display(),
            self.error
        )
    }
}

/// What a walk found and did.
#[derive(Debug, Default)]
pub(crate) struct WalkOutcome {
    /// Per moving host id (kind, old host id): what it owned (before the change).
    pub owned: BTreeMap<(IdKind, u32), Tally>,
    /// ACL entries that named a moving id (rewritten unless a dry run).
    pub acl_entries: u64,
    /// Entries whose owner changed (or would).
    pub changed: u64,
    /// Entries examined.
    pub entries: u64,
    /// Directories on another filesystem, not entered (below the root).
    pub other_filesystems: Vec<PathBuf>,
    /// Entries that could not be read or changed.
    pub problems: Vec<EntryProblem>,
    /// Some entry was changed but its mode or capabilities could not be put back: the journal
    /// stays for the next run.
    pub unrestored: bool,
}

/// What every thread's visitor shares.
struct Shared<'a> {
    rootfs: &'a Path,
    dev: u64,
    table: &'a MoveTable,
    journal: Option<&'a Journal>,
    dry_run: bool,
    /// Hard-linked inodes already handled.
    seen: Mutex<HashSet<u64>>,
    /// Set when the filesystem answers that it has no ACLs: no more ACL reads.
    no_acls: AtomicBool,
}

/// One thread's visitor.
struct Shifter<'a> {
    shared: &'a Shared<'a>,
    local: Local,
}

impl Visitor for Shifter<'_> {
    fn visit(&mut self, e: &Entry<'_>) {
        // A mount point inside is another filesystem's root: the walk does not enter it, and
        // its owner is not this filesystem's to change.
        if e.stat.st_dev != self.shared.dev {
            return;
        }
        self.shared.entry(e, &mut self.local);
    }
}

/// Per-worker results, merged at the end.
#[derive(Default)]
struct Local {
    owned: BTreeMap<(IdKind, u32), Tally>,
    acl_entries: u64,
    changed: u64,
    problems: Vec<EntryProblem>,
    unrestored: bool,
}

/// Walks `rootfs` and moves what `table` moves.
///
/// # Errors
/// A [`WalkError`] when the root itself cannot be looked at; failures on single entries are
/// [`WalkOutcome::problems`].
pub(crate) fn walk(
    rootfs: &Path,
    table: &MoveTable,
    journal: Option<&Journal>,
    opts: WalkOptions,
) -> Result<WalkOutcome, WalkError> {
    let st = rustix::fs::stat(rootfs).map_err(|e| WalkError {
        path: rootfs.to_path_buf(),
        source: e.into(),
    })?;
    let shared = Shared {
        rootfs,
        dev: st.st_dev,
        table,
        journal,
        dry_run: opts.dry_run,
        seen: Mutex::new(HashSet::new()),
        no_acls: AtomicBool::new(opts.owners_only),
    };
    let progress = Progress::default();
    // One thread walks in the caller's (a fault-injection test counts system calls per thread).
    let walked = tree::walk(rootfs, opts.threads, &progress, || Shifter {
        shared: &shared,
        local: Local::default(),
    })?;
    let mut out = WalkOutcome {
        entries: progress.entries.load(Ordering::Relaxed),
        other_filesystems: walked.mounts,
        ..WalkOutcome::default()
    };
    out.problems = walked
        .problems
        .into_iter()
        .map(|p| EntryProblem {
            path: p.rel,
            action: p.action,
            error: p.errno.into(),
        })
        .collect();
    for v in walked.visitors {
        for (k, t) in v.local.owned {
            out.owned.entry(k).or_default().add(t);
        }
        out.acl_entries += v.local.acl_entries;
        out.changed += v.local.changed;
        out.unrestored |= v.local.unrestored;
        out.problems.extend(v.local.problems);
    }
    out.problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn problem(local: &mut Local, path: &Path, action: &'static str, e: impl Into<io::Error>) {
    local.problems.push(EntryProblem {
        path: path.to_path_buf(),
        action,
        error: e.into(),
    });
}

impl Shared<'_> {
    /// Handles one entry: counts, rewrites ACLs, changes the owner.
    fn entry(&self, e: &Entry<'_>, local: &mut Local) {
        let (rel, st) = (e.rel, e.stat);
        let ty = FileType::from_raw_mode(st.st_mode);
        let uid = self.table.lookup(IdKind::Uid, st.st_uid);
        let gid = self.table.lookup(IdKind::Gid, st.st_gid);
        let is_dir = ty == FileType::Directory;
        let is_link = ty == FileType::Symlink;
        let acls = !is_link && !self.no_acls.load(Ordering::Relaxed);
        if uid.is_none() && gid.is_none() && !acls {
            return;
        }
        if !is_dir && st.st_nlink > 1 {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !seen.insert(st.st_ino) {
                return;
            }
        }
        let size = if ty == FileType::RegularFile {
            u64::try_from(st.st_size).unwrap_or(0)
        } else {
            0
        };
        let tally = Tally {
            entries: 1,
            bytes: size,
        };
        if uid.is_some() {
            local
                .owned
                .entry((IdKind::Uid, st.st_uid))
                .or_default()
                .add(tally);
        }
        if gid.is_some() {
            local
                .owned
                .entry((IdKind::Gid, st.st_gid))
                .or_default()
                .add(tally);
        }
        let full = self.rootfs.join(rel);
        // One listing says which of the ACLs and capabilities there are to read (mostly none);
        // without it, the capabilities are read as before.
        let listed = if acls {
            owner::present_xattrs(&full)
                .map_err(|e| problem(local, rel, "list the extended attributes of", e))
                .ok()
        } else {
            None
        };
        let present = listed.unwrap_or_default();
        if present.access_acl {
            self.shift_acl(&full, rel, acl::ACCESS, local);
        }
        if present.default_acl && is_dir {
            self.shift_acl(&full, rel, acl::DEFAULT, local);
        }
        if uid.is_none() && gid.is_none() {
            return;
        }
        local.changed += 1;
        if self.dry_run {
            return;
        }
        let known = owner::Known {
            no_caps: listed.is_some_and(|p| !p.caps),
            still: true,
        };
        self.chown(e, uid, gid, known, local);
    }

    fn chown(
        &self,
        e: &Entry<'_>,
        uid: Option<u32>,
        gid: Option<u32>,
        known: owner::Known,
        local: &mut Local,
    ) {
        let map = |k, id| self.table.lookup(k, id);
        match owner::change(e, uid, gid, map, self.journal, known) {
            Ok(after) => {
                local.unrestored |= !after.is_empty();
                for f in after {
                    problem(local, e.rel, f.action, f.error);
                }
            }
            Err(f) => {
                local.changed -= 1;
                problem(local, e.rel, f.action, f.error);
            }
        }
    }

    fn shift_acl(&self, full: &Path, rel: &Path, name: &'static str, local: &mut Local) {
        let value = match owner::read_xattr(full, name, false) {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                self.no_acls.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => return problem(local, rel, "read the ACL of", e),
        };
        match acl::shift(&value, |k, id| self.table.lookup(k, id)) {
            Ok(None) => {}
            Ok(Some((new, n))) => {
                local.acl_entries += n;
                if !self.dry_run
                    && let Err(e) = rustix::fs::lsetxattr(full, name, &new, XattrFlags::empty())
                {
                    problem(local, rel, "rewrite the ACL of", e);
                }
            }
            Err(e) => problem(
                local,
                rel,
                "read the ACL of",
                io::Error::other(e.to_string()),
            ),
        }
    }
}
