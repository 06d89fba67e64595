//! PVE's per-CT config lock: an exclusive `flock` on `/run/lock/lxc/pve-config-<vmid>.lock`.
//!
//! pve-container takes this lock around every read-modify-write of a CT config (with a 10 s
//! timeout); idfed takes the same one, under `--root`, so the two never interleave. The lock is
//! released when the [`ConfigLock`] is dropped (closing the file releases the `flock`). Whether to
//! skip a CT with a `lock:` key is a different matter, decided from the config itself.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::{FsError, LockKind, LockWait, Root, fs_err, lock_exclusive};

/// The directory PVE keeps CT config locks in (a host path).
pub const LOCK_DIR: &str = "/run/lock/lxc";

/// The timeout PVE itself uses for the config lock.
pub const PVE_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The host path of CT `vmid`'s config lock.
pub fn config_lock_path(vmid: u32) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("pve-config-{vmid}.lock"))
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "config lock `{path}` is held by another process (waited {secs} s)",
        path = path.display(),
        secs = waited.as_secs_f32()
    )]
    Timeout {
        vmid: u32,
        path: PathBuf,
        waited: Duration,
    },
}

/// A held config lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ConfigLock {
    _file: File,
}

impl ConfigLock {
    /// Takes CT `vmid`'s config lock under `root`, waiting up to `timeout`.
    ///
    /// # Errors
    /// [`LockError::Fs`] when the lock directory or file cannot be created or opened,
    /// [`LockError::Timeout`] when another process holds the lock for longer than `timeout`.
    pub fn acquire(root: &Root, vmid: u32, timeout: Duration) -> Result<ConfigLock, LockError> {
        let path = root.join(config_lock_path(vmid));
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(fs_err("create", dir))?;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(fs_err("open", &path))?;
        lock_exclusive(&file, LockKind::Flock, timeout).map_err(|e| match e {
            LockWait::Held(waited) => LockError::Timeout {
                vmid,
                path: path.clone(),
                waited,
            },
            LockWait::Io(e) => fs_err("lock", &path)(e).into(),
        })?;
        Ok(ConfigLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_path_is_pves() {
        assert_eq!(
            config_lock_path(101),
            PathBuf::from("/run/lock/lxc/pve-config-101.lock")
        );
    }

    #[test]
    fn second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let held = ConfigLock::acquire(&root, 101, Duration::ZERO).unwrap();
        assert!(
            dir.path()
                .join("run/lock/lxc/pve-config-101.lock")
                .is_file()
        );
        let err = ConfigLock::acquire(&root, 101, Duration::from_millis(120)).unwrap_err();
        let msg = err.to_string();
        assert!(
            // The caller names the CT (the engine: `CT 101: config lock ...`), not the lock.
            msg.starts_with("config lock `")
                && msg.contains("pve-config-101.lock")
                && msg.contains("is held by another process"),
            "{msg}"
        );
        // Another CT's lock is independent.
        ConfigLock::acquire(&root, 102, Duration::ZERO).unwrap();
        drop(held);
        ConfigLock::acquire(&root, 101, Duration::ZERO).unwrap();
    }
}
