//! File access for the whole tool: every host path is resolved under `--root`, every error names
//! the path it is about (cargo-util's `paths::read`), and every write goes through the one writer
//! in [`write`] (atomic replace, backups, stale temporaries); every lock waits through the one
//! loop in [`lock`].

mod lock;
mod write;

use std::io;
use std::path::{Component, Path, PathBuf};

pub(crate) use lock::{LockKind, LockWait, lock_exclusive, wait_for};
pub(crate) use write::fs_err;
pub use write::{Written, create_or_replace, remove_stale_temporaries, replace_file, write_json};

/// A file operation that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} `{path}`")]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// Is the cause "no such file or directory"?
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// The directory all host paths (`/etc/subuid`, `/etc/pve`, `/run/lock`, `/var/lib/idfed`) live
/// under: `/` on a real node, a fixture tree in tests and staging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The root at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host path `path` (absolute, like `/etc/subuid`) under this root.
    ///
    /// A `..` that would climb above the root is dropped, as the kernel treats `/..` as `/`: the
    /// path stays under the root (symbolic links aside). Other `..` are kept, for the kernel to
    /// resolve as it would on the host.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.dir.clone();
        // Components below the root, net of the `..` kept.
        let mut depth = 0usize;
        for c in path.as_ref().components() {
            match c {
                Component::Normal(part) => {
                    out.push(part);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.push("..");
                    depth -= 1;
                }
                Component::ParentDir
                | Component::RootDir
                | Component::Prefix(_)
                | Component::CurDir => {}
            }
        }
        out
    }
}

/// Reads a whole file as UTF-8.
///
/// # Errors
/// An [`FsError`] naming `path` when it cannot be read or is not UTF-8.
pub fn read_to_string(path: impl AsRef<Path>) -> Result<String, FsError> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|source| FsError {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file that may be absent: `Ok(None)` when it does not exist.
///
/// # Errors
/// An [`FsError`] naming `path` for any other failure.
pub fn read_optional(path: impl AsRef<Path>) -> Result<Option<String>, FsError> {
    match read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file that may be absent: `Ok(false)` when it did not exist.
///
/// # Errors
/// An [`FsError`] naming `path` for any other failure.
pub fn remove_optional(path: impl AsRef<Path>) -> Result<bool, FsError> {
    let path = path.as_ref();
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(FsError {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The entries of a directory, sorted by name.
///
/// # Errors
/// An [`FsError`] naming `dir` when it cannot be listed.
pub fn read_dir_sorted(dir: impl AsRef<Path>) -> Result<Vec<std::fs::DirEntry>, FsError> {
    let dir = dir.as_ref();
    let err = |source| FsError {
        action: "list",
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_stays_under_root() {
        let root = Root::new("/tmp/fixture");
        assert_eq!(
            root.join("/etc/subuid"),
            PathBuf::from("/tmp/fixture/etc/subuid")
        );
        assert_eq!(root.join("etc/pve"), PathBuf::from("/tmp/fixture/etc/pve"));
        assert_eq!(
            Root::new("/").join("/etc/subuid"),
            PathBuf::from("/etc/subuid")
        );
        // Regression: a `pve_root` of `/../x` escaped the root as `/tmp/fixture/../x`.
        for (path, want) in [
            ("/../x", "/tmp/fixture/x"),
            ("/../../etc/subuid", "/tmp/fixture/etc/subuid"),
            ("..", "/tmp/fixture"),
            ("/a/../x", "/tmp/fixture/a/../x"),
            ("/a/../../x", "/tmp/fixture/a/../x"),
            ("/a/b/../../..", "/tmp/fixture/a/b/../.."),
            ("/a/./../x/..", "/tmp/fixture/a/../x/.."),
        ] {
            assert_eq!(root.join(path), PathBuf::from(want), "{path}");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let err = read_to_string("/nonexistent/idfed-test").unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "failed to read `/nonexistent/idfed-test`");
        assert_eq!(read_optional("/nonexistent/idfed-test").unwrap(), None);
    }
}
