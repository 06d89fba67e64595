//! Rewriting one CT's map: under PVE's config lock, after checking that the config on disk is
//! still the one the plan was made from, with the managed record claimed around the write so that
//! a crash never turns idfed's own passthroughs into foreign ones.

use crate::plan::CtPlan;
use crate::pve::CtConfig;
use crate::pve::lock::{ConfigLock, PVE_LOCK_TIMEOUT};
use crate::store;

use super::{Applied, ApplyError, Run};

impl Run<'_> {
    /// Carries out `c` (not skipped, not waiting): the new map when it changed, else only the
    /// managed record when that changed.
    pub(super) fn apply_ct(&self, c: &CtPlan, out: &mut Applied) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        let before = cluster.managed.get(&c.ct).cloned().unwrap_or_default();
        if c.changed {
            return self.rewrite_ct(c, &before, out);
        }
        let after = c.managed_after();
        if before != after {
            store::managed::save(self.root, &cluster.pve_root, c.ct, &after)?;
        }
        Ok(())
    }

    fn rewrite_ct(
        &self,
        c: &CtPlan,
        before: &store::Managed,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let cluster = self.cluster;
        let ct = cluster.pve.ct(c.ct).ok_or(ApplyError::Vanished(c.ct))?;
        let _lock = ConfigLock::acquire(self.root, c.ct, PVE_LOCK_TIMEOUT)?;
        let text = crate::fs::read_to_string(&ct.path)?;
        let mut config = CtConfig::parse(&text).map_err(|e| ApplyError::Unparsable {
            path: ct.path.display().to_string(),
            line: e.line,
            message: e.to_string(),
        })?;
        if let Some(lock) = config.lock() {
            return Err(ApplyError::Locked {
                vmid: c.ct,
                lock: lock.to_string(),
            });
        }
        if config.effective_idmap() != ct.config.effective_idmap() {
            return Err(ApplyError::Changed {
                vmid: c.ct,
                path: ct.path.display().to_string(),
            });
        }
        let extents: Vec<_> = c.uid_map.iter().chain(c.gid_map.iter()).copied().collect();
        let old = config.effective_idmap();
        config.set_idmap(&extents);
        // The map replaced, for `shift`: what the CT's files were written under (and the maps
        // before it, while no shift came between).
        let after = store::Managed {
            switched: Some(store::managed::Switch::after(
                before.switched.as_ref(),
                old,
                config.effective_idmap(),
            )),
            ..c.managed_after()
        };
        // Claim first: a crash between the two record writes leaves a record that the CT's map
        // holds whether or not the config was written, with the ids in question claimed, never
        // idfed's own ids foreign nor the record stale.
        let pve_root = &cluster.pve_root;
        store::managed::save(self.root, pve_root, c.ct, &before.claim(&after))?;
        self.backups.write(&ct.path, &config.render(), 0o640, out)?;
        store::managed::save(self.root, pve_root, c.ct, &after)?;
        out.switched(c);
        Ok(())
    }
}
