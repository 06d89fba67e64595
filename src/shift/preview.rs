//! What a map change will do to a CT's own files, said before it happens: the inside ids whose
//! host id moves (from → to), and, when the root filesystem is reachable as a directory, what
//! each moving id owns there (a read-only walk). `plan` and `check` show it; `apply` repeats it
//! for CTs it switched but could not shift.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::moves::{self, MoveTable};
use super::walk::{self, WalkOptions};
use crate::idmap::Extent;
use crate::ids::IdKind;

/// One moving inside id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewMove {
    pub kind: &'static str,
    pub inside: u32,
    pub from: u32,
    pub to: u32,
    /// Entries its old host id owns in the root filesystem (when it was scanned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// A CT's root filesystem against a map change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub moves: Vec<PreviewMove>,
    /// The directory scanned (a host path), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Why it was not scanned (when a scan was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_scanned: Option<String>,
}

/// The inside ids whose host id moves when `current` becomes `desired`, one row per id.
pub fn moving(current: &[Extent], desired: &[Extent]) -> Vec<PreviewMove> {
    let mut out = Vec::new();
    for m in moves::between(current, desired) {
        let kind = match m.kind {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        };
        for k in 0..m.count {
            out.push(PreviewMove {
                kind,
                inside: m.inside + k,
                from: m.from + k,
                to: m.to + k,
                entries: None,
                bytes: None,
            });
        }
    }
    out
}

/// Counts, read-only, what each moving id of `preview` owns under `rootfs` (a path under the
/// root; `host` is how it is named).
pub fn scan(
    preview: &mut Preview,
    rootfs: &Path,
    host: &Path,
    current: &[Extent],
    desired: &[Extent],
) {
    let table = match MoveTable::new(&moves::between(current, desired)) {
        Ok(t) => t,
        Err(e) => {
            preview.not_scanned = Some(e.to_string());
            return;
        }
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16));
    match walk::walk(
        rootfs,
        &table,
        None,
        WalkOptions {
            dry_run: true,
            threads,
        },
    ) {
        Ok(outcome) => {
            for m in &mut preview.moves {
                let kind = if m.kind == "uid" {
                    IdKind::Uid
                } else {
                    IdKind::Gid
                };
                let t = outcome
                    .owned
                    .get(&(kind, m.from))
                    .copied()
                    .unwrap_or_default();
                m.entries = Some(t.entries);
                m.bytes = Some(t.bytes);
            }
            preview.dir = Some(host.to_path_buf());
        }
        Err(e) => preview.not_scanned = Some(format!("{e}: {}", e.source)),
    }
}

/// The administrator's notice for one CT: what will show as `nobody`, and what to run.
pub fn notice(vmid: u32, preview: &Preview, switched: bool) -> Vec<String> {
    let when = if switched { "show" } else { "will show" };
    let after = if switched {
        "since the switch"
    } else {
        "after the switch"
    };
    preview
        .moves
        .iter()
        .filter(|m| m.entries != Some(0))
        .map(|m| {
            let what = match m.entries {
                Some(n) => format!("{} files of", thousands(n)),
                None => "files of".to_string(),
            };
            format!(
                "CT {vmid}: {what} {} {} (host {}) {when} as nobody {after}; run `idfed shift {vmid}` while it is stopped",
                m.kind, m.inside, m.from
            )
        })
        .collect()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
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

    fn map(pass: &[u32]) -> Vec<Extent> {
        let mut out = Vec::new();
        for kind in IdKind::ALL {
            let mut next = 0;
            for &p in pass {
                out.push(Extent::new(kind, next, 100000 + next, p - next));
                out.push(Extent::new(kind, p, p, 1));
                next = p + 1;
            }
            out.push(Extent::new(kind, next, 100000 + next, 65536 - next));
        }
        out
    }

    #[test]
    fn moving_ids_and_the_notice() {
        let mut p = Preview {
            moves: moving(&map(&[]), &map(&[1005])),
            ..Preview::default()
        };
        assert_eq!(p.moves.len(), 2);
        assert_eq!(
            (p.moves[0].kind, p.moves[0].from, p.moves[0].to),
            ("uid", 101005, 1005)
        );
        assert_eq!(
            notice(101, &p, false)[0],
            "CT 101: files of uid 1005 (host 101005) will show as nobody after the switch; run `idfed shift 101` while it is stopped"
        );
        p.moves[0].entries = Some(1204);
        p.moves[1].entries = Some(0);
        assert_eq!(
            notice(101, &p, true),
            [
                "CT 101: 1,204 files of uid 1005 (host 101005) show as nobody since the switch; run `idfed shift 101` while it is stopped"
            ]
        );
        assert!(moving(&map(&[1005]), &map(&[1005])).is_empty());
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
