//! One entry's owner change that loses nothing the kernel clears on a `chown`: the setuid and
//! setgid bits of a non-directory and its file capabilities are read before, written to the
//! [`Journal`] (synced) before the `chown`, and put back after, as Incus's `fuidshift` does, so a
//! kill between the `chown` and putting them back is mended by the next run's replay. The one
//! implementation for `shift` and `scan --fix-container`.
//!
//! Every step goes through one handle of the entry ([`Pinned`]: `O_PATH | O_NOFOLLOW`, checked to
//! be the inode the walk saw), never through its name again: on a live export a container's user
//! may swap the entry for a symbolic link between the walk's `lstat` and the `chown`, and a mode
//! put back by name (`chmod` follows a final link) would set a set-id bit on whatever it points at.
//! One exception, [`Known::still`]: `shift` works on a stopped CT under PVE's config lock, where
//! nothing swaps names, and changes an entry with nothing to put back (no set-id bit, no
//! capabilities by [`present_xattrs`]) by its name, `NOFOLLOW`, in one call as `chown -R` does: a
//! handle per entry made `shift` 1.6 times as slow as `chown -R --from` for one moving id.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Gid, Mode, OFlags, ResolveFlags, Stat, Uid, XattrFlags};

use super::caps;
use super::journal::{Journal, Record};
use crate::ids::IdKind;
use crate::walk::Entry;

/// What [`change`] calls changing the owner itself (a failure at this step changed nothing).
pub(crate) const CHANGE_OWNER: &str = "change the owner of";

/// A step of [`change`] that failed.
#[derive(Debug)]
pub(crate) struct Failure {
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

/// One entry held open without following it (`O_PATH | O_NOFOLLOW`): the owner, mode and
/// capabilities are changed through this handle, so a name swapped since the walk looked at it
/// is never acted on.
pub(crate) struct Pinned {
    fd: OwnedFd,
    /// `/proc/self/fd/N`: `chmod` and the `*xattr` calls take no `O_PATH` handle, but they take
    /// this path, which the kernel resolves to the pinned inode itself.
    proc: std::path::PathBuf,
}

impl Pinned {
    /// Opens `name` in `dir` and checks it is still the inode `expect` wants; `Ok(None)` when it
    /// was removed or replaced since.
    pub(crate) fn open(
        dir: impl AsFd,
        name: impl rustix::path::Arg,
        expect: impl Fn(&Stat) -> bool,
    ) -> io::Result<Option<Pinned>> {
        Pinned::check(
            rustix::fs::openat(dir, name, Pinned::FLAGS, Mode::empty()),
            expect,
        )
    }

    /// Opens `rel` below `root` without following any symbolic link or leaving `root` on the
    /// way (a journal's path, replayed by a later run: any component may have been swapped).
    pub(crate) fn open_beneath(
        root: &Path,
        rel: &Path,
        expect: impl Fn(&Stat) -> bool,
    ) -> io::Result<Option<Pinned>> {
        let dir = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV;
        Pinned::check(
            rustix::fs::openat2(&dir, rel, Pinned::FLAGS, Mode::empty(), resolve),
            expect,
        )
    }

    const FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

    fn check(
        opened: rustix::io::Result<OwnedFd>,
        expect: impl Fn(&Stat) -> bool,
    ) -> io::Result<Option<Pinned>> {
        let fd = match opened {
            Ok(fd) => fd,
            // Gone, or a symbolic link on the way (`ELOOP`, `EXDEV`: not what was journaled).
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::XDEV) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if !expect(&rustix::fs::fstat(&fd)?) {
            return Ok(None);
        }
        let proc = format!("/proc/self/fd/{}", fd.as_raw_fd()).into();
        Ok(Some(Pinned { fd, proc }))
    }

    fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> rustix::io::Result<()> {
        rustix::fs::chownat(
            &self.fd,
            c"",
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            AtFlags::EMPTY_PATH,
        )
    }

    /// Only for what is not a symbolic link (the magic link resolves to the pinned inode).
    pub(crate) fn chmod(&self, mode: u32) -> rustix::io::Result<()> {
        rustix::fs::chmodat(CWD, &self.proc, Mode::from_raw_mode(mode), AtFlags::empty())
    }

    pub(crate) fn set_xattr(&self, name: &str, value: &[u8]) -> rustix::io::Result<()> {
        rustix::fs::setxattr(&self.proc, name, value, XattrFlags::empty())
    }
}

/// What the caller knows of an entry, so that [`change`] can take the short way.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Known {
    /// The entry holds no file capabilities (its extended attributes were listed).
    pub no_caps: bool,
    /// Nothing can swap the entry's name meanwhile (`shift`: a stopped CT under PVE's config
    /// lock): an entry with nothing to put back is changed by its name in the directory the walk
    /// holds open, one `fchownat` as `chown -R` does, without a handle of its own.
    pub still: bool,
}

/// Changes the owner of `entry` to `uid` and `gid` (`None`: that one unchanged), never through
/// a symbolic link and only while it is still the inode the walk saw (otherwise nothing is done
/// and the failure is `ENOENT`: it was removed or replaced since). `map` is the whole change (a version-3 capability's
/// `rootid` moves with it). With a `journal`, a set-id or capability-holding entry is journaled
/// (as `entry.rel`) before its `chown`.
///
/// # Errors
/// The failed step when the owner was not changed; `Ok` holds the failures to put back the mode
/// or capabilities after it was.
pub(crate) fn change(
    entry: &Entry<'_>,
    uid: Option<u32>,
    gid: Option<u32>,
    map: impl Fn(IdKind, u32) -> Option<u32>,
    journal: Option<&Journal>,
    known: Known,
) -> Result<Vec<Failure>, Failure> {
    let st = entry.stat;
    let ty = FileType::from_raw_mode(st.st_mode);
    let keep_mode =
        ty != FileType::Directory && ty != FileType::Symlink && st.st_mode & 0o6000 != 0;
    let no_caps = known.no_caps || ty != FileType::RegularFile;
    if known.still && no_caps && !keep_mode {
        rustix::fs::chownat(
            entry.dir,
            entry.name,
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| failure(CHANGE_OWNER, e))?;
        return Ok(Vec::new());
    }
    let same = |now: &Stat| now.st_dev == st.st_dev && now.st_ino == st.st_ino;
    let Some(pinned) =
        Pinned::open(entry.dir, entry.name, same).map_err(|e| failure(CHANGE_OWNER, e))?
    else {
        return Err(failure(CHANGE_OWNER, rustix::io::Errno::NOENT));
    };
    let caps = if no_caps {
        None
    } else {
        read_xattr(&pinned.proc, caps::NAME, true)
            .map_err(|e| failure("read the capabilities of", e))?
            .map(|v| caps::after_chown(&v, map))
    };
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
    pinned
        .chown(uid, gid)
        .map_err(|e| failure(CHANGE_OWNER, e))?;
    let mut after = Vec::new();
    if keep_mode && let Err(e) = pinned.chmod(st.st_mode & 0o7777) {
        after.push(failure("restore the mode of", e));
    }
    if let Some(value) = caps
        && let Err(e) = pinned.set_xattr(caps::NAME, &value)
    {
        after.push(failure("restore the capabilities of", e));
    }
    Ok(after)
}

/// Which extended attributes `shift` acts on an entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Present {
    pub access_acl: bool,
    pub default_acl: bool,
    pub caps: bool,
}

impl Present {
    /// When the names cannot be listed whole: each is read.
    const ALL: Present = Present {
        access_acl: true,
        default_acl: true,
        caps: true,
    };
}

/// Lists the extended attributes of `path` (never following a final link) in one call: most
/// entries hold none, and then neither ACL nor capabilities need reading. An `ENOTSUP` filesystem
/// holds none.
///
/// # Errors
/// The listing's, but `ERANGE` (a list longer than the buffer: every name is read instead).
pub(crate) fn present_xattrs(path: &Path) -> io::Result<Present> {
    let mut buf = [0u8; 1024];
    let list = match rustix::fs::llistxattr(path, &mut buf[..]) {
        Ok(n) => &buf[..n],
        Err(rustix::io::Errno::RANGE) => return Ok(Present::ALL),
        Err(rustix::io::Errno::NOTSUP) => return Ok(Present::default()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Present::default();
    for name in list.split(|&b| b == 0) {
        match name {
            b"system.posix_acl_access" => out.access_acl = true,
            b"system.posix_acl_default" => out.default_acl = true,
            b"security.capability" => out.caps = true,
            _ => {}
        }
    }
    Ok(out)
}

/// An extended attribute of `path` (following a final symlink only when `follow`: the
/// `/proc/self/fd` path of a [`Pinned`] entry); `None` when absent.
pub(crate) fn read_xattr(path: &Path, name: &str, follow: bool) -> io::Result<Option<Vec<u8>>> {
    let get = |buf: &mut [u8]| {
        if follow {
            rustix::fs::getxattr(path, name, buf)
        } else {
            rustix::fs::lgetxattr(path, name, buf)
        }
    };
    let mut buf = [0u8; 256];
    match get(&mut buf[..]) {
        Ok(n) => return Ok(Some(buf[..n].to_vec())),
        Err(rustix::io::Errno::NODATA) => return Ok(None),
        Err(rustix::io::Errno::RANGE) => {}
        Err(e) => return Err(e.into()),
    }
    loop {
        let len = if follow {
            rustix::fs::getxattr_query(path, name)?
        } else {
            rustix::fs::lgetxattr_query(path, name)?
        };
        let mut big = vec![0u8; len];
        match get(&mut big[..]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shift::journal::Journal;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Regression: a live export's user swaps a set-id file for a symbolic link between the
    /// walk's `lstat` and the owner change; the mode put back must never land on the link's
    /// target (by name, `chmod` follows it: a set-uid bit on a file outside the export).
    #[test]
    fn an_entry_swapped_for_a_link_after_the_walk_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let export = tmp.path().join("export");
        std::fs::create_dir(&export).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).unwrap();
        let su = export.join("su");
        std::fs::write(&su, "x").unwrap();
        std::fs::set_permissions(&su, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let stat = rustix::fs::lstat(&su).unwrap();
        let dir =
            rustix::fs::open(&export, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        std::fs::rename(&su, tmp.path().join("moved")).unwrap();
        symlink(&outside, &su).unwrap();
        let entry = Entry {
            dir: dir.as_fd(),
            name: c"su",
            rel: Path::new("su"),
            stat: &stat,
        };
        let journal = Journal::at(tmp.path().join("j"));
        // `scan --fix-container` knows nothing; `shift` knows nothing swaps names, but a set-id
        // entry still goes through its handle (its mode is put back).
        let still = Known {
            no_caps: true,
            still: true,
        };
        for known in [Known::default(), still] {
            let err = change(
                &entry,
                Some(stat.st_uid),
                None,
                |_, id| Some(id),
                Some(&journal),
                known,
            )
            .unwrap_err();
            assert_eq!(err.action, CHANGE_OWNER);
            assert_eq!(
                err.error.raw_os_error(),
                Some(rustix::io::Errno::NOENT.raw_os_error())
            );
            assert_eq!(mode(&outside), 0o755);
        }
    }

    /// The same for a journal replayed by a later run: a directory on the journaled path
    /// swapped for a link to one outside is never followed.
    #[test]
    fn a_replay_never_follows_a_link_on_the_journaled_path() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = tmp.path().join("rootfs");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let target = elsewhere.join("su");
        std::fs::write(&target, "x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        symlink(&elsewhere, rootfs.join("d")).unwrap();
        let st = rustix::fs::stat(&target).unwrap();
        let journal = Journal::at(tmp.path().join("j"));
        journal
            .append(&Record {
                path: b"d/su".to_vec(),
                ino: st.st_ino,
                uid: st.st_uid,
                gid: st.st_gid,
                mode: 0o4755,
                caps: None,
            })
            .unwrap();
        assert_eq!(journal.replay(&rootfs).unwrap(), 0);
        assert_eq!(mode(&target), 0o755);
    }
}
