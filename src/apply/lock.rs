//! The config lock Proxmox itself takes before changing a CT config: an exclusive flock on
//! `/run/lock/lxc/pve-config-<vmid>.lock`, waited for up to a timeout (PVE waits 10 s).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use crate::fsutil::Root;

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("failed to open lock file `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "timed out after {secs} s waiting for lock `{path}` (is a `pct` or `vzdump` task running?)"
    )]
    Timeout { path: PathBuf, secs: u64 },
    #[error("failed to lock `{path}`")]
    Flock {
        path: PathBuf,
        #[source]
        source: rustix::io::Errno,
    },
}

/// A held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The path of CT `vmid`'s config lock under `root`.
pub fn ct_lock_path(root: &Root, vmid: u32) -> PathBuf {
    root.join(format!("/run/lock/lxc/pve-config-{vmid}.lock"))
}

/// Takes the exclusive flock on `path` (created with its directory), waiting up to `timeout`.
///
/// # Errors
/// [`LockError`] when the file cannot be opened or the lock is held past the timeout.
pub fn lock_file(path: &Path, timeout: Duration) -> Result<LockGuard, LockError> {
    let open_err = |source| LockError::Open {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(open_err)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(open_err)?;
    let start = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                return Ok(LockGuard {
                    _file: file,
                    path: path.to_path_buf(),
                });
            }
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {
                if start.elapsed() >= timeout {
                    return Err(LockError::Timeout {
                        path: path.to_path_buf(),
                        secs: timeout.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(LockError::Flock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_locker_times_out_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let path = ct_lock_path(&root, 101);
        assert!(path.ends_with("run/lock/lxc/pve-config-101.lock"));
        let held = lock_file(&path, Duration::from_secs(1)).unwrap();
        let err = lock_file(&path, Duration::from_millis(120)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        drop(held);
        lock_file(&path, Duration::from_millis(120)).unwrap();
    }
}
