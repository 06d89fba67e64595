//! What a map change does to a CT's own files, said before it happens (and after, until `shift`
//! ran): the inside ids whose host id moves (from → to), and, when the root filesystem is
//! reachable from this node as a directory, what each moving id's old host id owns there (a
//! read-only walk). `plan` shows it for every CT whose map changes (`--scan-rootfs` counts), and
//! `check` counts it for CTs of this node whose map changes or changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::moves::{self, MoveRange, MoveTable};
use super::walk::{self, WalkOptions};
use crate::fs::Root;
use crate::idmap::Extent;
use crate::ids::IdKind;
use crate::pve::{CtConfig, StorageCfg, VolumeError};

/// A run of consecutive inside ids whose host ids move together. 32 bytes (it was 64): a plan
/// keeps hundreds per distinct map change, and what a scan found is boxed apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub(crate) struct PreviewMove {
    pub kind: IdKind,
    /// Inside ids `inside..inside+count` were host ids `from..` and become `to..`.
    pub inside: u32,
    pub from: u32,
    pub to: u32,
    pub count: u32,
    /// What the old host ids own in the root filesystem, when it was scanned (JSON: `entries`
    /// and `bytes`, absent when not scanned).
    #[serde(flatten)]
    pub found: Option<Box<Found>>,
}

/// What a run's old host ids own in a scanned root filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub(crate) struct Found {
    pub entries: u64,
    pub bytes: u64,
}

impl PreviewMove {
    /// `uid 1005 (host 101005)`, `uids 2000-2010 (host 102000-102010)`.
    fn who(&self) -> String {
        if self.count == 1 {
            format!("{} {} (host {})", self.kind, self.inside, self.from)
        } else {
            let last = |s: u32| s + (self.count - 1);
            format!(
                "{}s {}-{} (host {}-{})",
                self.kind,
                self.inside,
                last(self.inside),
                self.from,
                last(self.from)
            )
        }
    }

    /// Entries the old host ids own in the root filesystem (when it was scanned).
    pub(crate) fn entries(&self) -> Option<u64> {
        self.found.as_ref().map(|f| f.entries)
    }

    /// `uid 1005: host 101005 → 1005` (as `shift` names a move).
    fn arrow(&self) -> String {
        MoveRange {
            kind: self.kind,
            inside: self.inside,
            from: self.from,
            to: self.to,
            count: self.count,
            source: moves::MoveSource::Record,
        }
        .to_string()
    }
}

/// A CT's root filesystem against a map change (JSON `rootfs` of a plan's container).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub(crate) struct Preview {
    pub moves: Vec<PreviewMove>,
    /// The directory scanned (a host path), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Why it was not scanned (when a scan was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_scanned: Option<String>,
}

impl Preview {
    /// The moves when `old` becomes `new` (each map holding extents of both kinds), unscanned.
    pub(crate) fn of(old: &[Extent], new: &[Extent]) -> Preview {
        Preview::of_moves(&moves::between(old, new))
    }

    /// These moves, unscanned.
    pub(crate) fn of_moves(moves: &[MoveRange]) -> Preview {
        Preview {
            moves: moves.iter().map(|&m| PreviewMove::from(m)).collect(),
            ..Preview::default()
        }
    }

    /// Was the root filesystem walked?
    pub(crate) fn is_scanned(&self) -> bool {
        self.path.is_some()
    }

    /// Did the walk find entries of a moving id's old host id?
    pub(crate) fn has_files(&self) -> bool {
        self.moves
            .iter()
            .any(|m| m.entries().is_some_and(|n| n > 0))
    }
}

impl From<MoveRange> for PreviewMove {
    fn from(m: MoveRange) -> PreviewMove {
        PreviewMove {
            kind: m.kind,
            inside: m.inside,
            from: m.from,
            to: m.to,
            count: m.count,
            found: None,
        }
    }
}

/// CT `vmid`'s root filesystem as a directory of this node: its host path, from `--rootfs`
/// (`given`) or its `rootfs:` volume and `storage.cfg`.
///
/// # Errors
/// No `rootfs:` line, a volume that is no directory here (a disk image, LVM: `pct mount`), or a
/// path that is not a directory under the root.
pub(crate) fn locate(
    root: &Root,
    vmid: u32,
    conf: &CtConfig,
    storage: &StorageCfg,
    given: Option<&Path>,
) -> Result<PathBuf, VolumeError> {
    let host = match given {
        Some(dir) => dir.to_path_buf(),
        None => {
            let value = conf.get("rootfs").ok_or(VolumeError::NoRootfs { vmid })?;
            crate::pve::rootfs_dir(vmid, value, storage)?
        }
    };
    if !root.join(&host).is_dir() {
        return Err(VolumeError::Missing { vmid, path: host });
    }
    Ok(host)
}

/// Finds CT `vmid`'s root filesystem and counts, read-only, what each moving id of `preview`
/// owns there; when it cannot, says why in [`Preview::not_scanned`].
pub(crate) fn scan_ct(
    preview: &mut Preview,
    root: &Root,
    vmid: u32,
    conf: &CtConfig,
    storage: &StorageCfg,
    moves: &[MoveRange],
) {
    match locate(root, vmid, conf, storage, None) {
        Ok(host) => scan(preview, &root.join(&host), &host, moves),
        Err(e) => preview.not_scanned = Some(e.to_string()),
    }
}

/// Counts, read-only, what each moving id of `preview` (made of `moves`) owns under `rootfs` (a
/// path under the root; `host` is how it is named).
pub(crate) fn scan(preview: &mut Preview, rootfs: &Path, host: &Path, moves: &[MoveRange]) {
    let table = match MoveTable::new(moves) {
        Ok(t) => t,
        Err(e) => {
            preview.not_scanned = Some(e.to_string());
            return;
        }
    };
    let opts = WalkOptions {
        dry_run: true,
        threads: super::default_threads(),
        owners_only: true,
    };
    match walk::walk(rootfs, &table, None, opts) {
        Ok(outcome) => {
            for m in &mut preview.moves {
                let kind = m.kind;
                let end = m.from.saturating_add(m.count);
                let (mut entries, mut bytes) = (0, 0);
                for t in outcome
                    .owned
                    .range((kind, m.from)..(kind, end))
                    .map(|e| e.1)
                {
                    entries += t.entries;
                    bytes += t.bytes;
                }
                m.found = Some(Box::new(Found { entries, bytes }));
            }
            preview.path = Some(host.to_path_buf());
        }
        Err(e) => preview.not_scanned = Some(format!("{e}: {}", e.source)),
    }
}

/// The administrator's notice for one CT: what will show (or, `switched`, shows) as `nobody`,
/// and what to run; the moving runs whose old host ids own something (or might: not scanned).
/// None when the scan found nothing.
pub(crate) fn notice(vmid: u32, preview: &Preview, switched: bool) -> Option<String> {
    let (when, after) = if switched {
        ("show", "since the switch")
    } else {
        ("will show", "after the switch")
    };
    let what: Vec<String> = preview
        .moves
        .iter()
        .filter(|m| m.entries() != Some(0))
        .map(|m| match m.entries() {
            Some(n) => format!("{} files of {}", thousands(n), m.who()),
            None => format!("files of {}", m.who()),
        })
        .collect();
    (!what.is_empty()).then(|| {
        format!(
            "CT {vmid}: {} {when} as nobody {after}; run `idfed shift {vmid}` while it is stopped",
            what.join(", ")
        )
    })
}

/// Moving runs the plan's text lists per CT.
const MAX_PLAN_MOVES: usize = 8;

/// The plan's lines for CTs whose map changes (`vmid`: theirs, or `<vmid>` for several), indented
/// under them: each moving run, then what it means for their files.
pub(crate) fn write_plan_lines(out: &mut String, preview: &Preview, vmid: &str) {
    if preview.moves.is_empty() {
        return;
    }
    // A CT passing hundreds of runs through: the JSON lists them all, the text the first few.
    for m in preview.moves.iter().take(MAX_PLAN_MOVES) {
        let _ = write!(out, "    moves {}", m.arrow());
        if let Some(f) = &m.found {
            let (n, b) = (f.entries, f.bytes);
            let _ = write!(out, ": {} entries ({} bytes)", thousands(n), thousands(b));
        }
        out.push('\n');
    }
    if let Some(more) = preview
        .moves
        .len()
        .checked_sub(MAX_PLAN_MOVES)
        .filter(|&n| n > 0)
    {
        let _ = writeln!(
            out,
            "    moves {more} more runs of ids (`idfed plan --format json` lists them under `rootfs`)"
        );
    }
    if let Some(reason) = &preview.not_scanned {
        let _ = writeln!(out, "    root filesystem not scanned: {reason}");
    }
    match &preview.path {
        Some(path) if !preview.has_files() => {
            let _ = writeln!(
                out,
                "    `{}` holds nothing of theirs: no shift needed",
                path.display()
            );
        }
        Some(_) => {
            if let Some(line) = vmid.parse().ok().and_then(|v| notice(v, preview, false)) {
                let _ = writeln!(out, "    {line}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "    files these ids wrote before show as nobody after the switch: `idfed shift \
                 {vmid}` moves them, the CT stopped (`idfed plan --scan-rootfs` counts them)"
            );
        }
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pass: &[(u32, u32)]) -> Vec<Extent> {
        let mut out = Vec::new();
        for kind in IdKind::ALL {
            let mut next = 0;
            for &(p, n) in pass {
                out.push(Extent::new(kind, next, 100000 + next, p - next));
                out.push(Extent::new(kind, p, p, n));
                next = p + n;
            }
            out.push(Extent::new(kind, next, 100000 + next, 65536 - next));
        }
        out
    }

    /// A plan keeps hundreds of moves per distinct map change (sparse owners): 64 bytes each
    /// were 14 MB of a 20,000-CT plan's peak.
    #[test]
    fn a_move_is_32_bytes_and_its_json_names_what_a_scan_found_only_then() {
        assert_eq!(std::mem::size_of::<PreviewMove>(), 32);
        let mut p = Preview::of(&map(&[]), &map(&[(1005, 1)]));
        let json = |p: &Preview| serde_json::to_string(&p.moves[0]).unwrap();
        assert_eq!(
            json(&p),
            r#"{"kind":"uid","inside":1005,"from":101005,"to":1005,"count":1}"#
        );
        p.moves[0].found = Some(Box::new(Found {
            entries: 3,
            bytes: 12288,
        }));
        assert_eq!(
            json(&p),
            r#"{"kind":"uid","inside":1005,"from":101005,"to":1005,"count":1,"entries":3,"bytes":12288}"#
        );
    }

    #[test]
    fn moving_runs_and_the_notice() {
        let mut p = Preview::of(&map(&[]), &map(&[(1005, 1), (2000, 11)]));
        let rows: Vec<_> = p
            .moves
            .iter()
            .map(|m| (m.kind, m.inside, m.from, m.to, m.count))
            .collect();
        assert_eq!(
            rows,
            [
                (IdKind::Uid, 1005, 101005, 1005, 1),
                (IdKind::Uid, 2000, 102000, 2000, 11),
                (IdKind::Gid, 1005, 101005, 1005, 1),
                (IdKind::Gid, 2000, 102000, 2000, 11),
            ]
        );
        assert_eq!(
            notice(101, &p, false).unwrap(),
            "CT 101: files of uid 1005 (host 101005), files of uids 2000-2010 (host \
             102000-102010), files of gid 1005 (host 101005), files of gids 2000-2010 (host \
             102000-102010) will show as nobody after the switch; run `idfed shift 101` while it \
             is stopped"
        );
        let found = |entries| {
            Some(Box::new(Found {
                entries,
                bytes: entries * 4096,
            }))
        };
        p.moves[0].found = found(1204);
        for m in &mut p.moves[1..] {
            m.found = found(0);
        }
        assert_eq!(
            notice(101, &p, true).unwrap(),
            "CT 101: 1,204 files of uid 1005 (host 101005) show as nobody since the switch; run `idfed shift 101` while it is stopped"
        );
        p.moves[0].found = found(0);
        assert_eq!(notice(101, &p, true), None);
        assert!(
            Preview::of(&map(&[(1005, 1)]), &map(&[(1005, 1)]))
                .moves
                .is_empty()
        );
        // Removing a passthrough moves it back into the base range.
        let back = Preview::of(&map(&[(1005, 1)]), &map(&[])).moves;
        assert_eq!((back[0].from, back[0].to), (1005, 101005));
    }

    #[test]
    fn the_plan_lists_the_first_runs() {
        let ids: Vec<(u32, u32)> = (0..10).map(|i| (2000 + 2 * i, 1)).collect();
        let p = Preview::of(&map(&[]), &map(&ids));
        assert_eq!(p.moves.len(), 20);
        let mut out = String::new();
        write_plan_lines(&mut out, &p, "101");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "    moves uid 2000: host 102000 → 2000");
        assert_eq!(lines[7], "    moves uid 2014: host 102014 → 2014");
        assert_eq!(
            lines[8],
            "    moves 12 more runs of ids (`idfed plan --format json` lists them under `rootfs`)"
        );
        assert_eq!(lines.len(), 10);
        // Eight are listed whole.
        let p = Preview::of(&map(&[]), &map(&ids[..4]));
        let mut out = String::new();
        write_plan_lines(&mut out, &p, "101");
        assert_eq!(out.lines().count(), 9, "{out}");
    }

    #[test]
    fn thousands_boundaries() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1204, "1,204"),
            (999_999, "999,999"),
            (1_000_000, "1,000,000"),
        ] {
            assert_eq!(thousands(n), want);
        }
    }
}
