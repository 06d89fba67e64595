//! `apply --shift-rootfs`: right after the CT maps, the root filesystems of this node's stopped
//! CTs whose map idfed switched and did not shift yet (this run's switches, and earlier ones
//! whose CT was running then) are shifted (`crate::shift`, under PVE's config lock). A CT that
//! cannot be shifted now (running, locked, its root filesystem no directory here) gets the
//! notice of what shows as `nobody` and is shifted by a later run once it can be.

use serde::Serialize;

use crate::shift::preview::{self, Preview};
use crate::shift::{self, Params, Request, ShiftError};
use crate::store;

use super::{Applied, ApplyError, Chain, Run};

/// A CT switched but not shifted by this run, and why.
#[derive(Debug, Serialize)]
pub(crate) struct ShiftLater {
    pub ct: u32,
    /// Why not now, and what will show as `nobody` until it is.
    pub reason: String,
}

impl Run<'_> {
    /// Shifts every CT of this node that idfed switched and did not shift yet.
    pub(super) fn shift_rootfs(&self, out: &mut Applied) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        let params = Params::of(self.input.params);
        let threads = shift::default_threads();
        let mine = cluster.pve.cts.iter().filter(|ct| ct.node == cluster.node);
        for ct in mine {
            // Read again: this run may have just written it.
            let Some(record) = store::managed::read(self.root, &cluster.pve_root, ct.vmid)? else {
                continue;
            };
            let Some(switch) = record.switched.filter(|s| !s.shifted) else {
                continue;
            };
            let moving = Preview::of_moves(&shift::moves::since(&switch.olds(), &switch.new));
            if moving.moves.is_empty() {
                continue;
            }
            let req = Request {
                root: self.root,
                pve_root: &cluster.pve_root,
                node: &cluster.node,
                vmid: ct.vmid,
                rootfs: None,
                dry_run: false,
                params: &params,
                threads,
            };
            let later = |why: String| {
                let notice = preview::notice(ct.vmid, &moving, false);
                ShiftLater {
                    ct: ct.vmid,
                    reason: match notice {
                        Some(n) => format!("{why}; {n}"),
                        None => why,
                    },
                }
            };
            match shift::shift(&req) {
                Ok(report) => {
                    if !report.problems.is_empty() {
                        out.errors.push(format!(
                            "CT {}: {} entries of its root filesystem could not be read or changed (the others were); run `idfed shift {}` after fixing them",
                            ct.vmid,
                            report.problems.len(),
                            ct.vmid
                        ));
                    }
                    out.shifted.push(report);
                }
                // Nothing moves: a switch that only laid the extents out differently.
                Err(ShiftError::NotSwitched { .. }) => {}
                Err(
                    e @ (ShiftError::Running { .. }
                    | ShiftError::Locked { .. }
                    | ShiftError::Volume(_)
                    | ShiftError::Lock(_)),
                ) => out.shift_later.push(later(format!("not shifted now: {e}"))),
                Err(e) => out.errors.push(format!(
                    "CT {}: switched, not shifted: {}",
                    ct.vmid,
                    Chain(&e)
                )),
            }
        }
        Ok(())
    }
}
