//! One apply at a time per node: an exclusive `flock` on `/run/lock/idfed.lock` (under
//! `--root`), held for the whole run. A run that gives up names the holder from the kernel's
//! list of locks (`/proc/locks`); the file itself is never written, so a run that changes nothing
//! changes no file. The lock goes with the file descriptor: a killed run never leaves it taken.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::fs::{FsError, LockKind, LockWait, Root, fs_err, lock_exclusive};

/// The host path of the node lock.
pub(crate) const NODE_LOCK: &str = "/run/lock/idfed.lock";

/// How long a run waits for another by default.
pub(crate) const NODE_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the node lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeLockError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "another idfed apply{holder} holds the node lock `{path}` (waited {secs:.1} s): try again when it is done",
        path = path.display(),
        holder = holder.map(|p| format!(" (PID {p})")).unwrap_or_default(),
        secs = waited.as_secs_f32()
    )]
    Busy {
        path: PathBuf,
        holder: Option<u32>,
        waited: Duration,
    },
}

/// The held node lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct NodeLock {
    _file: File,
}

impl NodeLock {
    /// Takes the node lock under `root`, waiting up to `timeout` for a run that holds it.
    ///
    /// # Errors
    /// [`NodeLockError::Fs`] when the lock file cannot be created, [`NodeLockError::Busy`]
    /// naming the holder's pid when another run keeps it past `timeout`.
    pub(crate) fn acquire(root: &Root, timeout: Duration) -> Result<NodeLock, NodeLockError> {
        let path = root.join(NODE_LOCK);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fs_err("create", dir))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(fs_err("open", &path))?;
        lock_exclusive(&file, LockKind::Flock, timeout).map_err(|e| match e {
            LockWait::Held(waited) => NodeLockError::Busy {
                holder: flock_holder(&file),
                path: path.clone(),
                waited,
            },
            LockWait::Io(e) => fs_err("lock", &path)(e).into(),
        })?;
        Ok(NodeLock { _file: file })
    }
}

/// The pid `/proc/locks` gives for the `flock` write lock on `file` (lines like
/// `1: FLOCK  ADVISORY  WRITE 4242 fe:00:5506682 0 EOF`: major and minor in hex, then the inode).
fn flock_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let dev = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(meta.dev()),
        rustix::fs::minor(meta.dev()),
        meta.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 6 && f[1] == "FLOCK" && f[3] == "WRITE" && f[5] == dev)
            .then(|| f[4].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_second_holder_waits_then_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let held = NodeLock::acquire(&root, Duration::ZERO).unwrap();
        let path = dir.path().join("run/lock/idfed.lock");
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        // flock locks belong to open files: a second open in this process conflicts too.
        let started = Instant::now();
        let err = NodeLock::acquire(&root, Duration::from_millis(100)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            err.to_string(),
            format!(
                "another idfed apply (PID {}) holds the node lock `{}` (waited {:.1} s): try again when it is done",
                std::process::id(),
                path.display(),
                match &err {
                    NodeLockError::Busy { waited, .. } => waited.as_secs_f32(),
                    NodeLockError::Fs(_) => unreachable!(),
                }
            )
        );
        drop(held);
        NodeLock::acquire(&root, Duration::ZERO).unwrap();
    }
}
