//! The one thing ownership alone cannot carry across a crash: the setuid/setgid bits and file
//! capabilities the kernel clears when an owner changes.
//!
//! Everything else shift does is its own record: an entry still owned by a host id that moves has
//! not been moved, one owned by the new id has (the moves never chain, see `moves`), and an ACL
//! naming a moving id has not been rewritten. So a rerun after a crash just walks again. But
//! `chown` clears setuid/setgid and drops `security.capability`, and a crash between the chown
//! and putting them back would lose them for good: before such an entry is chowned, its path,
//! inode, target owner, mode and capabilities are appended here and synced. A rerun first
//! replays the journal (for each entry that has its target owner, the mode and capabilities are
//! put back: idempotent), and a run that put back everything it journaled removes it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::caps;
use super::owner::Pinned;
use crate::fs::FsError;

/// One privileged entry about to be chowned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The path below the root filesystem, as bytes (names need not be UTF-8).
    pub path: Vec<u8>,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    /// The full mode bits to put back (`0o7777`).
    pub mode: u32,
    /// The capabilities to put back, as they are to be written.
    pub caps: Option<Vec<u8>>,
}

/// An open journal (append only).
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

fn fs_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// The journal at `path`; created on the first [`Journal::append`].
    pub(crate) fn at(path: PathBuf) -> Journal {
        Journal {
            path,
            file: Mutex::new(None),
        }
    }

    /// Where it is.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and syncs it to disk before returning.
    ///
    /// # Errors
    /// When the journal cannot be created, written or synced.
    pub(crate) fn append(&self, record: &Record) -> Result<(), FsError> {
        let mut line = serde_json::to_vec(record).expect("a record serializes");
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let dir = self.path.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(dir).map_err(fs_err("create", dir))?;
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)
                .map_err(fs_err("open", &self.path))?;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(fs_err("sync", dir))?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(fs_err("write", &self.path))
    }

    /// The records of a journal left by an earlier run; a torn last line (a crash while
    /// appending, before its chown) is skipped.
    ///
    /// # Errors
    /// When the journal exists but cannot be read.
    pub(crate) fn read(&self) -> Result<Vec<Record>, FsError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(fs_err("open", &self.path)(e)),
        };
        let mut out = Vec::new();
        for line in io::BufReader::new(file).split(b'\n') {
            let line = line.map_err(fs_err("read", &self.path))?;
            if let Ok(record) = serde_json::from_slice::<Record>(&line) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Puts back the mode and capabilities of every journaled entry under `rootfs` that has its
    /// target owner (its chown happened); returns how many were put back.
    ///
    /// # Errors
    /// When the journal cannot be read or an entry cannot be restored.
    pub(crate) fn replay(&self, rootfs: &Path) -> Result<usize, FsError> {
        let mut restored = 0;
        for r in self.read()? {
            let rel = Path::new(std::ffi::OsStr::from_bytes(&r.path));
            let path = rootfs.join(rel);
            let target = |st: &rustix::fs::Stat| {
                st.st_ino == r.ino && st.st_uid == r.uid && st.st_gid == r.gid
            };
            let Some(pinned) =
                Pinned::open_beneath(rootfs, rel, target).map_err(|e| fs_err("open", &path)(e))?
            else {
                continue;
            };
            pinned
                .chmod(r.mode)
                .map_err(|e| fs_err("chmod", &path)(e.into()))?;
            if let Some(value) = &r.caps {
                pinned
                    .set_xattr(caps::NAME, value)
                    .map_err(|e| fs_err("set the capabilities of", &path)(e.into()))?;
            }
            restored += 1;
        }
        Ok(restored)
    }

    /// Removes the journal (a finished run).
    ///
    /// # Errors
    /// When it exists and cannot be removed.
    pub(crate) fn remove(&self) -> Result<(), FsError> {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(fs_err("remove", &self.path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_lines_are_skipped_and_replay_needs_the_target_owner() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let file = rootfs.join("su");
        std::fs::write(&file, "x").unwrap();
        let st = rustix::fs::stat(&file).unwrap();
        let journal = Journal::at(dir.path().join("j/101.journal"));
        assert!(journal.read().unwrap().is_empty());
        let record = |uid| Record {
            path: b"su".to_vec(),
            ino: st.st_ino,
            uid,
            gid: st.st_gid,
            mode: 0o4755,
            caps: None,
        };
        // One whose chown did not happen yet (owner differs) and one whose did.
        journal.append(&record(st.st_uid + 1)).unwrap();
        journal.append(&record(st.st_uid)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap()
            .write_all(b"{\"path\":[1,2")
            .unwrap();
        assert_eq!(journal.read().unwrap().len(), 2);
        assert_eq!(journal.replay(&rootfs).unwrap(), 1);
        let mode = rustix::fs::stat(&file).unwrap().st_mode & 0o7777;
        assert_eq!(mode, 0o4755);
        journal.remove().unwrap();
        journal.remove().unwrap();
        assert!(!journal.path().exists());
    }
}
