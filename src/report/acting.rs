//! Who can act as one host id: for `report --owner ID` of an id no share owner has, the answer
//! comes from the containers' maps as they are (a passthrough written by hand, a CT's own base
//! range, a privileged CT). Pure: from the CT states and idfed's records of what it wrote.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::cluster::CtState;
use crate::idmap::MapParams;
use crate::ids::IdKind;
use crate::store::Managed;

/// How a container comes to act as the host id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub(crate) enum How {
    /// A passthrough idfed wrote (its record holds the id).
    Passthrough,
    /// A passthrough idfed adopted (`apply --adopt`): kept until `apply --release`.
    AdoptedPassthrough,
    /// A passthrough idfed did not write: by hand, or by another tool.
    ForeignPassthrough,
    /// The id maps to another inside id (`inside`): a CT's own base range, or a hand-written
    /// extent.
    Mapped { inside: u32 },
    /// A privileged CT: it has no map and acts as any id.
    Privileged,
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            How::Passthrough => f.write_str("passthrough written by idfed"),
            How::AdoptedPassthrough => {
                f.write_str("adopted passthrough (kept until `idfed apply --release`)")
            }
            How::ForeignPassthrough => f.write_str("foreign passthrough (not written by idfed)"),
            How::Mapped { inside } => write!(f, "mapped from its inside id {inside}"),
            How::Privileged => f.write_str("privileged, acts as anyone"),
        }
    }
}

/// One container that can act as the id, as one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Acting {
    pub ct: u32,
    pub node: String,
    pub kind: IdKind,
    pub id: u32,
    #[serde(flatten)]
    pub how: How,
}

impl fmt::Display for Acting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CT {} on {} can act as {} {}: {}",
            self.ct, self.node, self.kind, self.id, self.how
        )
    }
}

/// Every container that can act as host `id`, uid first then gid, by vmid.
pub(crate) fn acting_as(
    id: u32,
    params: &MapParams,
    cts: &[CtState],
    managed: &BTreeMap<u32, Managed>,
) -> Vec<Acting> {
    let mut out = Vec::new();
    for kind in IdKind::ALL {
        for ct in cts {
            let how = if ct.unprivileged {
                let Some(extent) = ct
                    .current_map(kind, params)
                    .into_iter()
                    .find(|e| e.outside <= id && id - e.outside < e.count)
                else {
                    continue;
                };
                // Saturating: a hand-written extent may run past the last id.
                let inside = extent.inside.saturating_add(id - extent.outside);
                if inside != id {
                    How::Mapped { inside }
                } else if managed
                    .get(&ct.vmid)
                    .is_some_and(|m| m.adopted(kind).contains(id))
                {
                    How::AdoptedPassthrough
                } else if managed.get(&ct.vmid).is_some_and(|m| {
                    // A claimed id is idfed's where the map holds it (a write in progress).
                    m.ids(kind).contains(id) || m.claimed(kind).contains(id)
                }) {
                    How::Passthrough
                } else {
                    How::ForeignPassthrough
                }
            } else {
                How::Privileged
            };
            out.push(Acting {
                ct: ct.vmid,
                node: ct.node.clone(),
                kind,
                id,
                how,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::Extent;
    use crate::ids::IdSet;

    fn ct(vmid: u32, unprivileged: bool, lines: &[&str]) -> CtState {
        CtState {
            vmid,
            node: "pve1".into(),
            unprivileged,
            lock: None,
            idmap: lines.iter().map(|l| l.parse::<Extent>().unwrap()).collect(),
            uses: Vec::new(),
            other_maps: Vec::new(),
        }
    }

    fn hows(id: u32, cts: &[CtState], managed: &BTreeMap<u32, Managed>) -> Vec<(u32, IdKind, How)> {
        acting_as(id, &MapParams::default(), cts, managed)
            .into_iter()
            .map(|a| (a.ct, a.kind, a.how))
            .collect()
    }

    /// 33 passed through by hand in 201, by idfed in 202 (uids only), 102 and 103 at their
    /// edges (32 and 34 are not 33), 104 privileged; the default map's base range maps host
    /// 100033 from inside 33.
    #[test]
    fn each_way_of_acting_as_an_id() {
        let through_33 = [
            "u 0 100000 33",
            "u 33 33 1",
            "u 34 100034 65502",
            "g 0 100000 33",
            "g 33 33 1",
            "g 34 100034 65502",
        ];
        let cts = [
            ct(101, true, &[]),
            ct(
                102,
                true,
                &["u 0 100000 32", "u 32 32 1", "u 33 100033 65503"],
            ),
            ct(
                103,
                true,
                &["u 0 100000 34", "u 34 34 1", "u 35 100035 65501"],
            ),
            ct(104, false, &[]),
            ct(201, true, &through_33),
            ct(202, true, &through_33),
        ];
        let mut managed = BTreeMap::new();
        managed.insert(
            202,
            Managed {
                uids: IdSet::of_counts(&[(33, 1)]),
                ..Managed::default()
            },
        );
        assert_eq!(
            hows(33, &cts, &managed),
            [
                (104, IdKind::Uid, How::Privileged),
                (201, IdKind::Uid, How::ForeignPassthrough),
                (202, IdKind::Uid, How::Passthrough),
                // 102 and 103 have no gid lines: no gid at all.
                (104, IdKind::Gid, How::Privileged),
                (201, IdKind::Gid, How::ForeignPassthrough),
                (202, IdKind::Gid, How::ForeignPassthrough),
            ]
        );
        let base = hows(100_033, &cts, &managed);
        assert!(base.contains(&(101, IdKind::Uid, How::Mapped { inside: 33 })));
        assert!(base.contains(&(102, IdKind::Uid, How::Mapped { inside: 33 })));
        assert!(
            !base
                .iter()
                .any(|(ct, kind, _)| *ct == 201 && *kind == IdKind::Uid)
        );
        // The base range's last id and the first past it.
        assert!(hows(165_535, &cts, &managed).contains(&(
            101,
            IdKind::Uid,
            How::Mapped { inside: 65535 }
        )));
        assert!(
            !hows(165_536, &cts, &managed)
                .iter()
                .any(|(ct, _, _)| *ct == 101)
        );
    }
}
