//! Which of idfed's managed records the cluster still backs. A record names its container by VMID
//! only, and a VMID outlives `pct destroy`: a record is trusted only while the CT's current map
//! still passes through every id it lists. Otherwise it is stale (a destroyed and re-created CT,
//! or a hand edit that took idfed's passthroughs out): it is not used, the CT's passthroughs are
//! foreign (kept, never removed), and `apply` on the CT's node drops it. A record whose CT exists
//! on no node is orphaned: any node's `apply` removes it (no node holds the CT, so no other
//! writer of that record exists; a CT created at that moment under the same VMID gets its record
//! from its own node's next run).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::idmap::{MapParams, passthroughs};
use crate::ids::{IdKind, IdSet, uids_gids};
use crate::store::Managed;

use super::CtState;

/// A record idfed does not trust, and why (returned as a warning; `apply` acts on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RecordWarning {
    /// CT `vmid` exists, but its map no longer passes these listed ids through.
    Stale {
        vmid: u32,
        node: String,
        missing_uids: IdSet,
        missing_gids: IdSet,
    },
    /// No node has CT `vmid` any more.
    Orphaned { vmid: u32 },
}

impl RecordWarning {
    /// The container the record is about.
    pub(crate) fn vmid(&self) -> u32 {
        match self {
            RecordWarning::Stale { vmid, .. } | RecordWarning::Orphaned { vmid } => *vmid,
        }
    }
}

impl fmt::Display for RecordWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordWarning::Stale {
                vmid,
                node,
                missing_uids,
                missing_gids,
            } => write!(
                f,
                "CT {vmid}: idfed's record lists {} that its map does not pass through (a \
                 destroyed and re-created CT, or a hand edit): the record is not trusted, the \
                 CT's passthroughs count as foreign (kept), and `idfed apply` on {node} drops it",
                uids_gids(missing_uids, missing_gids).unwrap_or_default()
            ),
            RecordWarning::Orphaned { vmid } => write!(
                f,
                "CT {vmid} exists on no node: `idfed apply` removes idfed's record of it"
            ),
        }
    }
}

/// Splits `records` into the trusted ones and warnings about the others. `cts` are the readable
/// CTs; a record of a CT whose config cannot be read (`unreadable`) is kept as it is: it cannot be
/// checked, and that CT is not planned.
pub(super) fn trusted(
    records: BTreeMap<u32, Managed>,
    cts: &[CtState],
    unreadable: &BTreeSet<u32>,
    params: &MapParams,
) -> (BTreeMap<u32, Managed>, Vec<RecordWarning>) {
    let by_vmid: BTreeMap<u32, &CtState> = cts.iter().map(|c| (c.vmid, c)).collect();
    let mut out = BTreeMap::new();
    let mut warnings = Vec::new();
    for (vmid, record) in records {
        let Some(ct) = by_vmid.get(&vmid) else {
            if unreadable.contains(&vmid) {
                out.insert(vmid, record);
            } else {
                warnings.push(RecordWarning::Orphaned { vmid });
            }
            continue;
        };
        let held = |kind| passthroughs(&ct.current_map(kind, params));
        let (uids, gids) = (held(IdKind::Uid), held(IdKind::Gid));
        if record.is_held_by(&uids, &gids) {
            out.insert(vmid, record);
        } else {
            warnings.push(RecordWarning::Stale {
                vmid,
                node: ct.node.clone(),
                missing_uids: record.uids.difference(&uids),
                missing_gids: record.gids.difference(&gids),
            });
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testutil::set;

    fn ct(vmid: u32, idmap: &[&str]) -> CtState {
        CtState {
            vmid,
            node: "pve1".into(),
            unprivileged: true,
            lock: None,
            idmap: idmap.iter().map(|l| l.parse().unwrap()).collect(),
            uses: Vec::new(),
            other_maps: Vec::new(),
        }
    }

    fn record(uids: &[u32], gids: &[u32]) -> Managed {
        Managed {
            uids: set(uids),
            gids: set(gids),
            ..Managed::default()
        }
    }

    const MAP_1005_1006: [&str; 6] = [
        "u 0 100000 1005",
        "u 1005 1005 2",
        "u 1007 101007 64529",
        "g 0 100000 1005",
        "g 1005 1005 1",
        "g 1006 101006 64530",
    ];

    #[test]
    fn a_record_is_trusted_only_while_the_map_holds_every_id_it_lists() {
        let params = MapParams::default();
        let cts = [ct(101, &MAP_1005_1006), ct(102, &[])];
        let unreadable = BTreeSet::from([103]);
        for (what, vmid, rec, want) in [
            ("all held", 101, record(&[1005, 1006], &[1005]), None),
            ("a subset held", 101, record(&[1006], &[]), None),
            ("empty", 102, record(&[], &[]), None),
            (
                "one uid more",
                101,
                record(&[1005, 1006, 1007], &[1005]),
                Some(RecordWarning::Stale {
                    vmid: 101,
                    node: "pve1".into(),
                    missing_uids: set(&[1007]),
                    missing_gids: IdSet::new(),
                }),
            ),
            (
                "a gid not held",
                101,
                record(&[1005], &[1006]),
                Some(RecordWarning::Stale {
                    vmid: 101,
                    node: "pve1".into(),
                    missing_uids: IdSet::new(),
                    missing_gids: set(&[1006]),
                }),
            ),
            (
                "the default map holds nothing",
                102,
                record(&[1005], &[]),
                Some(RecordWarning::Stale {
                    vmid: 102,
                    node: "pve1".into(),
                    missing_uids: set(&[1005]),
                    missing_gids: IdSet::new(),
                }),
            ),
            ("unreadable: kept", 103, record(&[1005], &[]), None),
            (
                "no such CT",
                104,
                record(&[1005], &[]),
                Some(RecordWarning::Orphaned { vmid: 104 }),
            ),
        ] {
            let (kept, warnings) = trusted(
                BTreeMap::from([(vmid, rec.clone())]),
                &cts,
                &unreadable,
                &params,
            );
            match want {
                None => {
                    assert_eq!(kept.get(&vmid), Some(&rec), "{what}");
                    assert!(warnings.is_empty(), "{what}: {warnings:?}");
                }
                Some(w) => {
                    assert!(kept.is_empty(), "{what}");
                    assert_eq!(warnings, [w], "{what}");
                }
            }
        }
    }

    #[test]
    fn claimed_ids_need_not_be_held() {
        let params = MapParams::default();
        let mut rec = record(&[1005], &[1005]);
        rec.claimed_uids = set(&[1006, 2001]);
        let (kept, warnings) = trusted(
            BTreeMap::from([(101, rec)]),
            &[ct(101, &MAP_1005_1006)],
            &BTreeSet::new(),
            &params,
        );
        assert!(warnings.is_empty() && kept.contains_key(&101));
    }
}
