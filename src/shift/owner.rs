//! One entry's owner change that loses nothing the kernel clears on a `chown`: the setuid and
//! setgid bits of a non-directory and its file capabilities are read before, written to the
//! [`Journal`] (synced) before the `chown`, and put back after, as Incus's `fuidshift` does, so a
//! kill between the `chown` and putting them back is mended by the next run's replay. The one
//! implementation for `shift` and `scan --fix-container`.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, Uid, XattrFlags};

use super::caps;
use super::journal::{Journal, Record};
use crate::ids::IdKind;
use crate::walk::Entry;

/// What [`change`] calls changing the owner itself (a failure at this step changed nothing).
pub const CHANGE_OWNER: &str = "change the owner of";

/// A step of [`change`] that failed.
#[derive(Debug)]
pub struct Failure {
    /// What could not be done, as in "cannot {action} `path`".
    pub action: &'static str,
    pub error: io::Error,
}

fn failure(action: &'static str, error: impl Into<io::Error>) -> Failure {
    Failure {
        action,
        error: error.into(),
    }
}

/// Changes the owner of `entry` (at `full`, relative to the journal's root as `entry.rel`) to
/// `uid` and `gid` (`None`: that one unchanged), never through a symbolic link. `map` is the
/// whole change (a version-3 capability's `rootid` moves with it). With a `journal`, a set-id or
/// capability-holding entry is journaled before its `chown`.
///
/// # Errors
/// The failed step when the owner was not changed; `Ok` holds the failures to put back the mode
/// or capabilities after it was.
pub fn change(
    entry: &Entry<'_>,
    full: &Path,
    uid: Option<u32>,
    gid: Option<u32>,
    map: impl Fn(IdKind, u32) -> Option<u32>,
    journal: Option<&Journal>,
) -> Result<Vec<Failure>, Failure> {
    let st = entry.stat;
    let ty = FileType::from_raw_mode(st.st_mode);
    let caps = if ty == FileType::RegularFile {
        read_xattr(full, caps::NAME)
            .map_err(|e| failure("read the capabilities of", e))?
            .map(|v| caps::after_chown(&v, map))
    } else {
        None
    };
    let keep_mode =
        ty != FileType::Directory && ty != FileType::Symlink && st.st_mode & 0o6000 != 0;
    if (keep_mode || caps.is_some())
        && let Some(journal) = journal
    {
        let record = Record {
            path: entry.rel.as_os_str().as_bytes().to_vec(),
            ino: st.st_ino,
            uid: uid.unwrap_or(st.st_uid),
            gid: gid.unwrap_or(st.st_gid),
            mode: st.st_mode & 0o7777,
            caps: caps.clone(),
        };
        journal
            .append(&record)
            .map_err(|e| failure("journal the mode of", io::Error::other(e.to_string())))?;
    }
    rustix::fs::chownat(
        entry.dir,
        entry.name,
        uid.map(Uid::from_raw),
        gid.map(Gid::from_raw),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| failure(CHANGE_OWNER, e))?;
    let mut after = Vec::new();
    if keep_mode
        && let Err(e) = rustix::fs::chmodat(
            entry.dir,
            entry.name,
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )
    {
        after.push(failure("restore the mode of", e));
    }
    if let Some(value) = caps
        && let Err(e) = rustix::fs::lsetxattr(full, caps::NAME, &value, XattrFlags::empty())
    {
        after.push(failure("restore the capabilities of", e));
    }
    Ok(after)
}

/// An extended attribute of `path` (not following a final symlink); `None` when absent.
pub(crate) fn read_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => return Ok(Some(buf[..n].to_vec())),
        Err(rustix::io::Errno::NODATA) => return Ok(None),
        Err(rustix::io::Errno::RANGE) => {}
        Err(e) => return Err(e.into()),
    }
    loop {
        let len = rustix::fs::lgetxattr_query(path, name)?;
        let mut big = vec![0u8; len];
        match rustix::fs::lgetxattr(path, name, &mut big[..]) {
            Ok(n) => {
                big.truncate(n);
                return Ok(Some(big));
            }
            Err(rustix::io::Errno::RANGE) => continue,
            Err(rustix::io::Errno::NODATA) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}
