//! `shift`: a stopped CT's root filesystem after its map changed. Every entry owned by a host id
//! the old map gave an inside id gets the host id the new map gives that inside id, and ACL
//! entries naming such ids are rewritten; nothing else is touched.
//!
//! Ownership is the state: an entry still owned by a moving host id has not been moved, and since
//! the moves never chain (no host id is both moved from and moved to: `moves::MoveTable` refuses
//! that), an entry owned by its new id is never moved again. So a second run changes nothing, and
//! a run interrupted at any point is finished by running again. The one thing a chown destroys
//! that ownership cannot remember, setuid/setgid bits and file capabilities, goes through the
//! `journal` first.
//!
//! [`moves`], [`acl`] and [`caps`] are pure; [`walk`], [`owner`] and [`journal`] touch the
//! filesystem;
//! [`shift`] is the whole operation under PVE's config lock.

pub(crate) mod acl;
pub(crate) mod caps;
pub(crate) mod journal;
pub(crate) mod moves;
pub(crate) mod owner;
pub(crate) mod preview;
pub(crate) mod walk;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fs::{self, FsError, Root};
use crate::idmap::Extent;
use crate::ids::{IdKind, IdSet};
use crate::pve::lock::{ConfigLock, LockError, PVE_LOCK_TIMEOUT};
use crate::pve::running::{self, Running};
use crate::pve::{CtConfig, CtConfigError, StorageCfg, StorageError, VolumeError, ct_conf_path};
use crate::store::{StoreError, managed};

use self::journal::Journal;
use self::moves::{MoveRange, MoveSource, MoveTable, MovesError};
use self::walk::{WalkOptions, WalkOutcome};

/// The map parameters inference needs.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub base: u32,
    pub size: u32,
    pub min_id: u32,
    /// Never inferred as former passthroughs (`cluster.protected`: uids and gids alike).
    pub protected: IdSet,
}

pub(crate) use crate::store::managed::Switch;

impl Params {
    /// The parameters of the configuration's maps.
    pub(crate) fn of(p: &crate::idmap::MapParams) -> Params {
        Params {
            base: p.base,
            size: p.size,
            min_id: p.min_id,
            protected: p.protected.clone(),
        }
    }
}

/// Walker threads when not told: the cores, at least 2 (a walk waits on the disk), at most 16.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16))
}

/// One shift.
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    pub root: &'a Root,
    pub pve_root: &'a Path,
    pub node: &'a str,
    pub vmid: u32,
    /// `--rootfs`: a host path (under the root).
    pub rootfs: Option<&'a Path>,
    pub dry_run: bool,
    pub params: &'a Params,
    pub threads: usize,
}

/// Why a shift was refused or failed before the walk.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShiftError {
    #[error("CT {vmid} is not on node `{node}` (no `{path}`): run `idfed shift {vmid}` on the node that holds it", path = path.display())]
    NotHere {
        vmid: u32,
        node: String,
        path: PathBuf,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("CT {vmid}: `{path}`", path = path.display())]
    Config {
        vmid: u32,
        path: PathBuf,
        #[source]
        source: Box<CtConfigError>,
    },
    #[error("`{path}`", path = path.display())]
    Storage {
        path: PathBuf,
        #[source]
        source: StorageError,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(
        "CT {vmid} is privileged: its files are owned by the host ids they show, nothing to shift"
    )]
    Privileged { vmid: u32 },
    #[error("CT {vmid} is locked (`lock: {lock}`): wait for it to finish, or `pct unlock {vmid}`")]
    Locked { vmid: u32, lock: String },
    #[error("CT {vmid} is running ({evidence}): stop it first (`pct stop {vmid}`), then shift")]
    Running { vmid: u32, evidence: Running },
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(
        "CT {vmid}: its map has not been switched: `lxc.idmap` passes no id through and idfed has no record of a map it replaced; run `idfed apply` first"
    )]
    NotSwitched { vmid: u32 },
    /// The command's context names the CT (`cannot shift CT 101: host uid ...`).
    #[error(transparent)]
    Chain(#[from] MovesError),
    #[error(transparent)]
    Walk(#[from] crate::walk::WalkError),
    /// idfed's record of the CT.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One moving inside id and what its old host id owned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct MoveRow {
    pub kind: &'static str,
    pub inside: u32,
    pub from: u32,
    pub to: u32,
    pub entries: u64,
    pub bytes: u64,
    pub source: MoveSource,
}

/// What a shift did (or, dry, would do).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub vmid: u32,
    /// The root filesystem as a host path.
    pub rootfs: PathBuf,
    pub dry_run: bool,
    pub moves: Vec<MoveRow>,
    pub acl_entries: u64,
    /// Entries whose owner changed (or would).
    pub changed: u64,
    /// Entries examined.
    pub entries: u64,
    /// Entries whose mode and capabilities were put back from an interrupted run's journal.
    pub restored: usize,
    /// Directories on another filesystem, not entered (paths inside the CT).
    pub other_filesystems: Vec<String>,
    /// Entries that could not be read or changed.
    pub problems: Vec<String>,
}

/// The moves from the record when it still describes the CT's map, else inferred from it.
pub(crate) fn moves_for(
    current: &[Extent],
    switch: Option<&Switch>,
    params: &Params,
) -> Vec<MoveRange> {
    if let Some(s) = switch
        && s.wrote(current)
    {
        return moves::since(&s.olds(), current);
    }
    if !current
        .iter()
        .any(|e| e.is_passthrough() && e.inside < params.size)
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for kind in IdKind::ALL {
        let of_kind: Vec<Extent> = current.iter().filter(|e| e.kind == kind).copied().collect();
        out.extend(moves::inferred(
            &of_kind,
            params.base,
            params.size,
            params.min_id,
            &params.protected,
        ));
    }
    out
}

/// The path of CT `vmid`'s journal under the root.
pub(crate) fn journal_path(root: &Root, vmid: u32) -> PathBuf {
    root.join(format!("/var/lib/idfed/shift/{vmid}.journal"))
}

/// Shifts CT `vmid`'s root filesystem, under PVE's config lock, for a stopped CT.
///
/// # Errors
/// A [`ShiftError`] when the CT cannot be shifted (and nothing was changed); failures on single
/// entries are [`Report::problems`].
pub(crate) fn shift(req: &Request<'_>) -> Result<Report, ShiftError> {
    let vmid = req.vmid;
    let conf_path = req.root.join(ct_conf_path(req.pve_root, req.node, vmid));
    if !conf_path.is_file() {
        return Err(ShiftError::NotHere {
            vmid,
            node: req.node.to_string(),
            path: ct_conf_path(req.pve_root, req.node, vmid),
        });
    }
    // Held for the whole walk: PVE cannot start the CT meanwhile.
    let _lock = ConfigLock::acquire(req.root, vmid, PVE_LOCK_TIMEOUT)?;
    shift_locked(req)
}

/// [`shift`] by a caller that holds the CT's PVE config lock.
///
/// The old map is idfed's record of the switch it made while that still describes the CT's map
/// (read here, under the lock), else inferred. A run that moved everything (not dry, no problems)
/// by the record marks the record's switch as shifted.
///
/// # Errors
/// As [`shift`].
pub(crate) fn shift_locked(req: &Request<'_>) -> Result<Report, ShiftError> {
    let vmid = req.vmid;
    let conf_path = req.root.join(ct_conf_path(req.pve_root, req.node, vmid));
    let text = fs::read_to_string(&conf_path)?;
    let conf = CtConfig::parse(&text).map_err(|source| ShiftError::Config {
        vmid,
        path: conf_path.clone(),
        source: Box::new(source),
    })?;
    if !conf.unprivileged() {
        return Err(ShiftError::Privileged { vmid });
    }
    // `pct mount` sets `lock: mounted`: that is how a block volume is reached with --rootfs.
    if let Some(lock) = conf.lock()
        && lock != "mounted"
    {
        return Err(ShiftError::Locked {
            vmid,
            lock: lock.to_string(),
        });
    }
    if let Some(evidence) = running::running(req.root, vmid)? {
        return Err(ShiftError::Running { vmid, evidence });
    }
    // `--rootfs` needs no storage.cfg (a broken one is no reason to refuse).
    let cfg_path = req.root.join(req.pve_root.join("storage.cfg"));
    let storage = match fs::read_optional(&cfg_path)? {
        Some(text) if req.rootfs.is_none() => {
            StorageCfg::parse(&text).map_err(|source| ShiftError::Storage {
                path: cfg_path.clone(),
                source,
            })?
        }
        _ => StorageCfg::default(),
    };
    let host_rootfs = preview::locate(req.root, vmid, &conf, &storage, req.rootfs)?;
    let rootfs = req.root.join(&host_rootfs);
    let current = conf.effective_idmap();
    let mut record = managed::read(req.root, req.pve_root, vmid)?;
    let switch = record
        .as_ref()
        .and_then(|r| r.switched.as_ref())
        .filter(|s| s.wrote(&current));
    let list = moves_for(&current, switch, req.params);
    if list.is_empty() {
        return Err(ShiftError::NotSwitched { vmid });
    }
    let table = MoveTable::new(&list)?;
    let journal = Journal::at(journal_path(req.root, vmid));
    let restored = if req.dry_run {
        0
    } else {
        journal.replay(&rootfs)?
    };
    let outcome = walk::walk(
        &rootfs,
        &table,
        (!req.dry_run).then_some(&journal),
        WalkOptions {
            dry_run: req.dry_run,
            threads: req.threads,
            owners_only: false,
        },
    )?;
    // Every journaled entry was put back: the journal has done its work (kept after other
    // problems, a stale one would put back a bit someone removed since).
    if !req.dry_run && !outcome.unrestored {
        journal.remove()?;
    }
    if !req.dry_run
        && outcome.problems.is_empty()
        && let Some(rec) = record.as_mut()
        && let Some(s) = rec.switched.as_mut()
        && s.wrote(&current)
        && !s.shifted
    {
        s.shifted = true;
        managed::save(req.root, req.pve_root, vmid, rec)?;
    }
    Ok(report(
        vmid,
        host_rootfs,
        req.dry_run,
        &table,
        outcome,
        restored,
    ))
}

fn kind_name(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Uid => "uid",
        IdKind::Gid => "gid",
    }
}

/// Every inside id of the record or of the current map's passthroughs, and the inferred former
/// passthroughs that owned something.
fn report(
    vmid: u32,
    rootfs: PathBuf,
    dry_run: bool,
    table: &MoveTable,
    outcome: WalkOutcome,
    restored: usize,
) -> Report {
    let mut moves = Vec::new();
    for m in table.moves() {
        let row = |from: u32, t: walk::Tally| MoveRow {
            kind: kind_name(m.kind),
            inside: m.inside + (from - m.from),
            from,
            to: m.to + (from - m.from),
            entries: t.entries,
            bytes: t.bytes,
            source: m.source,
        };
        if m.source == MoveSource::Removed {
            for (&(_, from), &t) in outcome
                .owned
                .range((m.kind, m.from)..(m.kind, m.from.saturating_add(m.count)))
            {
                moves.push(row(from, t));
            }
        } else {
            for from in m.from..m.from.saturating_add(m.count) {
                let t = outcome
                    .owned
                    .get(&(m.kind, from))
                    .copied()
                    .unwrap_or_default();
                moves.push(row(from, t));
            }
        }
    }
    moves.sort_by_key(|r| (r.kind != "uid", r.inside));
    let inside = |p: &Path| format!("/{}", p.display());
    Report {
        vmid,
        rootfs,
        dry_run,
        moves,
        acl_entries: outcome.acl_entries,
        changed: outcome.changed,
        entries: outcome.entries,
        restored,
        other_filesystems: outcome
            .other_filesystems
            .iter()
            .map(|p| inside(p))
            .collect(),
        problems: outcome.problems.iter().map(ToString::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            base: 100000,
            size: 65536,
            min_id: 1000,
            protected: IdSet::new(),
        }
    }

    fn map(pass: Option<u32>) -> Vec<Extent> {
        let mut out = Vec::new();
        for kind in IdKind::ALL {
            match pass {
                None => out.push(Extent::new(kind, 0, 100000, 65536)),
                Some(p) => {
                    out.push(Extent::new(kind, 0, 100000, p));
                    out.push(Extent::new(kind, p, p, 1));
                    out.push(Extent::new(kind, p + 1, 100001 + p, 65535 - p));
                }
            }
        }
        out
    }

    #[test]
    fn the_record_wins_while_it_holds() {
        let switch = Switch {
            old: map(None),
            new: map(Some(1005)),
            shifted: false,
            earlier: Vec::new(),
        };
        let moves = moves_for(&map(Some(1005)), Some(&switch), &params());
        assert_eq!(moves.len(), 2);
        assert!(
            moves
                .iter()
                .all(|m| m.source == MoveSource::Record && m.from == 101005)
        );
        // Removing the passthrough: the default map cannot be inferred from, the record can.
        let back = Switch {
            old: map(Some(1005)),
            new: map(None),
            shifted: false,
            earlier: Vec::new(),
        };
        assert!(moves_for(&map(None), None, &params()).is_empty());
        let moves = moves_for(&map(None), Some(&back), &params());
        assert!(moves.iter().all(|m| m.from == 1005 && m.to == 101005));
        // A record of another map than the CT's is not trusted: inference.
        let moves = moves_for(&map(Some(2000)), Some(&switch), &params());
        assert!(
            moves
                .iter()
                .any(|m| m.source == MoveSource::Passthrough && m.from == 102000)
        );
        assert!(moves.iter().all(|m| m.source != MoveSource::Record));
    }
}
