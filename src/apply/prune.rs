//! `--prune`: removes the subid lines idfed appended (its record) whose ids no map of the cluster
//! needs: neither a current map (of the CTs not switched by this run), nor a desired one, nor a
//! snapshot's or `[pve:pending]`'s. A line
//! that shares a single id with a needed range stays whole; lines idfed did not add are never
//! looked at. The files are written first, then the record: a crash between the two leaves claims
//! on lines that are gone, which the next run drops.

use crate::cluster::current_map;
use crate::idmap::{Subid, outside_ranges};
use crate::ids::{ByKind, IdKind, IdRange, IdSet};
use crate::plan::Plan;
use crate::store;

use super::subids::Subids;
use super::{Applied, ApplyError, Notice, Run};

/// The claims of `claims` that no id of `needed` falls in.
fn stale(claims: &[Subid], needed: &IdSet) -> Vec<Subid> {
    claims
        .iter()
        .filter(|l| {
            IdRange::with_count(u64::from(l.start), u64::from(l.count))
                .is_ok_and(|r| !needed.overlaps(r))
        })
        .cloned()
        .collect()
}

impl Run<'_> {
    pub(super) fn prune(
        &self,
        plan: &Plan,
        subids: &mut Subids,
        out: &mut Applied,
        say: &mut dyn FnMut(Notice),
    ) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        if !cluster.ct_errors.is_empty() {
            // A config idfed cannot read may hold a map that needs any of the lines.
            say(Notice::Warning(format!(
                "--prune: not pruning: {} container config(s) could not be read, and their maps \
                 may need the lines",
                cluster.ct_errors.len()
            )));
            return Ok(());
        }
        let mut needed = ByKind {
            uid: plan.needed_uids.clone(),
            gid: plan.needed_gids.clone(),
        };
        // A privileged CT has no user namespace: it needs no subid lines.
        for ct in cluster.cts.iter().filter(|ct| ct.unprivileged) {
            // Switched by this run (or would be): its new map is in the plan's needs.
            let switched = out.restart_required.contains(&ct.vmid);
            let mut maps = if switched {
                Vec::new()
            } else {
                vec![ct.idmap.clone()]
            };
            maps.extend(ct.other_maps.iter().map(|(_, map)| map.clone()));
            for map in &maps {
                for kind in IdKind::ALL {
                    let map = current_map(map, kind, self.input.params);
                    needed[kind] = needed[kind].union(&outside_ranges(&map));
                }
            }
        }
        out.subuid_pruned = stale(&subids.record.subuid, &needed.uid);
        out.subgid_pruned = stale(&subids.record.subgid, &needed.gid);
        if out.subuid_pruned.is_empty() && out.subgid_pruned.is_empty() {
            return Ok(());
        }
        // Under shadow's locks, from the files as they are now.
        let (_locks, local_uid, local_gid) = self.lock_subids(say)?;
        subids.subuid = local_uid.file.clone();
        subids.subgid = local_gid.file.clone();
        for l in &out.subuid_pruned {
            subids.subuid.remove_line(l);
        }
        for l in &out.subgid_pruned {
            subids.subgid.remove_line(l);
        }
        subids
            .record
            .subuid
            .retain(|l| !out.subuid_pruned.contains(l));
        subids
            .record
            .subgid
            .retain(|l| !out.subgid_pruned.contains(l));
        if self.opts.dry_run {
            return Ok(());
        }
        self.write_subids(&local_uid, &subids.subuid, out)
            .map_err(ApplyError::step("cannot prune this node's subuid"))?;
        self.write_subids(&local_gid, &subids.subgid, out)
            .map_err(ApplyError::step("cannot prune this node's subgid"))?;
        store::subids::save(self.root, &subids.record)
            .map_err(ApplyError::from)
            .map_err(ApplyError::step("cannot record the pruned subid lines"))?;
        Ok(())
    }
}
