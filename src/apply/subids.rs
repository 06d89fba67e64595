//! This node's subid lines: the appends a plan needs, claimed in idfed's record before the files
//! are written.

use crate::cluster::{ClusterState, LocalSubid, NodeCoverage};
use crate::fs;
use crate::plan::Plan;
use crate::store::{self, AddedLines};
use crate::subid::SubidFile;

use super::shadow_lock::{SHADOW_LOCK_TIMEOUT, ShadowLocks};
use super::{Applied, ApplyError, Notice, Run};

/// The subid files as this run leaves them, and idfed's record of the lines it appended.
pub(super) struct Subids {
    pub(super) subuid: SubidFile,
    pub(super) subgid: SubidFile,
    pub(super) record: AddedLines,
}

impl Subids {
    /// What the files give the subid owner as this run leaves them.
    pub(super) fn coverage(&self, cluster: &ClusterState) -> NodeCoverage {
        cluster.coverage_of(&self.subuid, &self.subgid)
    }
}

impl Run<'_> {
    /// Appends the lines this node lacks for `plan`'s maps. They are claimed in idfed's record
    /// (saved) before the files are written; claims on lines a file does not hold (a crash between
    /// the two writes, or a line removed by hand) are dropped first, so a hand-written copy of such
    /// a line is never taken for idfed's.
    pub(super) fn add_subids(
        &self,
        plan: &Plan,
        out: &mut Applied,
        say: &mut dyn FnMut(Notice),
    ) -> Result<Subids, ApplyError> {
        let cluster = self.cluster;
        let (owner, uid) = (cluster.subid_owner.as_str(), cluster.owner_uid);
        // Under shadow's locks the files are read again: a line useradd wrote since loading stays.
        let (_locks, local_uid, local_gid) = self.lock_subids(say)?;
        let old = store::subids::load(self.root)?;
        let mut record = old.clone();
        let mut subuid = local_uid.file.clone();
        let mut subgid = local_gid.file.clone();
        record.subuid.retain(|l| subuid.has_line(l));
        record.subgid.retain(|l| subgid.has_line(l));
        out.subuid_added = subuid.merge(owner, uid, &plan.needed_uids);
        out.subgid_added = subgid.merge(owner, uid, &plan.needed_gids);
        record.subuid.extend(out.subuid_added.iter().cloned());
        record.subgid.extend(out.subgid_added.iter().cloned());
        if !self.opts.dry_run {
            if record != old {
                store::subids::save(self.root, &record)
                    .map_err(ApplyError::from)
                    .map_err(ApplyError::step("cannot record the subid lines idfed adds"))?;
            }
            self.write_subids(&local_uid, &subuid, out)
                .map_err(ApplyError::step("cannot update this node's subuid"))?;
            self.write_subids(&local_gid, &subgid, out)
                .map_err(ApplyError::step("cannot update this node's subgid"))?;
        }
        Ok(Subids {
            subuid,
            subgid,
            record,
        })
    }

    /// Takes shadow's locks on this node's subuid and subgid and reads both files again under
    /// them; a dry run, which writes nothing, takes no lock and keeps the files as loaded.
    pub(super) fn lock_subids(
        &self,
        say: &mut dyn FnMut(Notice),
    ) -> Result<(Option<ShadowLocks>, LocalSubid, LocalSubid), ApplyError> {
        let cluster = self.cluster;
        if self.opts.dry_run {
            return Ok((None, cluster.subuid.clone(), cluster.subgid.clone()));
        }
        let locks = {
            let files = [cluster.subuid.path.as_path(), cluster.subgid.path.as_path()];
            let wait = SHADOW_LOCK_TIMEOUT.min(self.opts.wait);
            let locks = ShadowLocks::acquire(&self.root.join("/etc"), &files, wait)
                .map_err(ApplyError::from)
                .map_err(ApplyError::step(
                    "cannot take shadow's locks on this node's subuid and subgid",
                ))?;
            for path in locks.removed() {
                say(Notice::Note(format!(
                    "removed `{}`, left by a locker that did not finish",
                    path.display()
                )));
            }
            locks
        };
        let reread = |local: &LocalSubid| -> Result<LocalSubid, ApplyError> {
            let text = fs::read_optional(&local.path)?.unwrap_or_default();
            Ok(LocalSubid {
                path: local.path.clone(),
                file: SubidFile::parse(&text),
            })
        };
        Ok((
            Some(locks),
            reread(&cluster.subuid)?,
            reread(&cluster.subgid)?,
        ))
    }

    /// Writes `file` to `local.path` when it differs from what `local` holds.
    pub(super) fn write_subids(
        &self,
        local: &LocalSubid,
        file: &SubidFile,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        if *file != local.file {
            self.backups
                .write(&local.path, &file.render(), 0o644, out)?;
        }
        Ok(())
    }
}
