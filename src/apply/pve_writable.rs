//! Is `/etc/pve` writable? pmxcfs turns read-only when the node loses quorum: then every CT
//! config, record and published state write fails. apply asks first, by creating and removing a
//! probe file in each directory it writes there, so it fails before writing anything rather than
//! half-way. The probe is named like idfed's temporaries (`.probe.idfed-PID.tmp`), so one left
//! by a killed run is removed by the next.

use std::fs::OpenOptions;
use std::path::Path;

use crate::fs::{FsError, fs_err};

/// Why `/etc/pve` cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("`{}` cannot be written ({}): is `/etc/pve` read-only (no quorum?); nothing was written there", .0.path.display(), .0.source)]
pub(crate) struct PveReadOnly(pub FsError);

/// Creates (with its parents) and removes a probe file in each of `dirs`.
///
/// # Errors
/// The first directory where that fails.
pub(crate) fn probe(dirs: &[&Path]) -> Result<(), PveReadOnly> {
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(|e| PveReadOnly(fs_err("create", dir)(e)))?;
        let probe = dir.join(format!(".probe.idfed-{}.tmp", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| PveReadOnly(fs_err("create", &probe)(e)))?;
        std::fs::remove_file(&probe).map_err(|e| PveReadOnly(fs_err("remove", &probe)(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_writable_dir_passes_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("idfed/managed");
        probe(&[dir.path(), &sub]).unwrap();
        assert!(sub.is_dir());
        assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_read_only_dir_is_named() {
        // Root ignores modes; a read-only mount needs a namespace: the CLI test does that. Here:
        // a path under a regular file cannot be created by anyone.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = probe(&[&file.join("lxc")]).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "`{}` cannot be written (",
                file.join("lxc").display()
            )),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with(": is `/etc/pve` read-only (no quorum?); nothing was written there"),
            "{err}"
        );
    }
}
