//! The one writer (proxmox-sys `replace_file`, cargo-util `write_if_changed`): a temporary file
//! beside the target with the target's mode and owner, write, fsync, rename, fsync the directory;
//! the temporary is removed on any failure, and an unchanged file is not written at all. The
//! previous content is kept under the backup directory first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fs::FsError;

/// What [`replace_file`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// The file already held exactly this content: nothing was written.
    Unchanged,
    /// The file was replaced (or created); the old content, if any, is at `backup`.
    Replaced { backup: Option<PathBuf> },
}

/// An [`FsError`] maker for `map_err`: what was done, to which path.
pub(crate) fn fs_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` with `contents` atomically, unless it already holds them.
///
/// When the file exists, its content is first copied to `backup_dir` (created as needed) under
/// `backup_name`, and the new file gets the old one's mode and owner. A new file gets `new_mode`.
///
/// # Errors
/// An [`FsError`] naming the path that failed; the target is then left as it was.
pub fn replace_file(
    path: &Path,
    contents: &[u8],
    new_mode: u32,
    backup: Option<(&Path, &str)>,
) -> Result<Written, FsError> {
    // The old content is read when it may be the same (as long) or is to be backed up: a
    // source's cache, megabytes rewritten after each pull with its new time, was read whole to
    // be compared for nothing. Anything but a plain file is read as before, to fail as it did.
    let mut found = fs::metadata(path);
    let read_old = match &found {
        Ok(m) => backup.is_some() || !m.is_file() || m.len() == contents.len() as u64,
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    };
    let old = match read_old.then(|| fs::read(path)) {
        Some(Ok(old)) => Some(old),
        Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
            found = Err(e);
            None
        }
        Some(Err(e)) => return Err(fs_err("read", path)(e)),
        None => None,
    };
    if old.as_deref() == Some(contents) {
        return Ok(Written::Unchanged);
    }
    let meta = match (found, &old) {
        (Ok(meta), _) => Some(meta),
        (Err(_), Some(_)) => Some(fs::metadata(path).map_err(fs_err("stat", path))?),
        (Err(_), None) => None,
    };
    let backup = match (&old, backup) {
        (Some(old), Some((dir, name))) => {
            fs::create_dir_all(dir).map_err(fs_err("create", dir))?;
            let dest = dir.join(name);
            write_new(&dest, old, 0o600)?;
            Some(dest)
        }
        _ => None,
    };

    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temporary(path);
    let result = (|| {
        let mode = meta
            .as_ref()
            .map_or(new_mode, |m| m.permissions().mode() & 0o7777);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(fs_err("create", &tmp))?;
        if let Some(meta) = &meta {
            keep_mode_and_owner(&file, meta, &tmp)?;
        }
        file.write_all(contents).map_err(fs_err("write", &tmp))?;
        file.sync_all().map_err(fs_err("sync", &tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(fs_err("replace", path))?;
        // The rename is durable only once the directory is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| Written::Replaced { backup })
}

/// [`replace_file`] without a backup, creating the parent directories first.
///
/// # Errors
/// An [`FsError`] naming the directory or file that failed.
pub fn create_or_replace(path: &Path, contents: &[u8], new_mode: u32) -> Result<Written, FsError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fs_err("create", dir))?;
    }
    replace_file(path, contents, new_mode, None)
}

/// Writes `value` as pretty JSON with a final newline to `path` (mode 0644 when new), creating
/// its directory first; an unchanged file is not rewritten.
///
/// # Errors
/// An [`FsError`] naming the directory or file that failed, or `path` when `value` cannot be
/// serialized.
pub fn write_json<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
) -> Result<Written, FsError> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| fs_err("serialize into", path)(io::Error::from(e)))?;
    text.push(b'\n');
    create_or_replace(path, &text, 0o644)
}

/// Gives the temporary file the target's mode and owner. A filesystem that has no such notion
/// (Proxmox's pmxcfs under /etc/pve refuses chmod and chown) is not an error.
fn keep_mode_and_owner(file: &File, meta: &fs::Metadata, tmp: &Path) -> Result<(), FsError> {
    use rustix::io::Errno;
    let unsupported =
        |e: &io::Error| matches!(Errno::from_io_error(e), Some(Errno::PERM | Errno::NOTSUP));
    let want = meta.permissions().mode() & 0o7777;
    let have = file.metadata().map_err(fs_err("stat", tmp))?;
    if have.permissions().mode() & 0o7777 != want
        && let Err(e) = file.set_permissions(fs::Permissions::from_mode(want))
        && !unsupported(&e)
    {
        return Err(fs_err("chmod", tmp)(e));
    }
    if (have.uid() != meta.uid() || have.gid() != meta.gid())
        && let Err(e) = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))
        && !unsupported(&e)
    {
        return Err(fs_err("chown", tmp)(e));
    }
    Ok(())
}

/// Writes a new file (used for backups) whole or not at all: a temporary, fsync, rename. A run
/// killed midway leaves no half backup under the backup's name.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    let tmp = temporary(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(fs_err("create", &tmp))?;
        file.write_all(contents).map_err(fs_err("write", &tmp))?;
        file.sync_all().map_err(fs_err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(fs_err("create", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temporary written beside `path` before it is renamed over it:
/// `.NAME.idfed-PID.tmp`, the PID of this run.
fn temporary(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    dir.join(format!(".{name}.idfed-{}.tmp", std::process::id()))
}

/// The PID in the name of a temporary idfed writes (`.NAME.idfed-PID.tmp`), if it is one.
fn temporary_pid(file_name: &str) -> Option<i32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = rest.rsplit_once(".idfed-")?;
    if name.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Removes from `dir` the temporaries of idfed runs that were killed between writing a
/// temporary and renaming it: files named `.NAME.idfed-PID.tmp` whose process is gone. Nothing
/// else is touched; a missing directory has none. Returns what was removed.
///
/// # Errors
/// An [`FsError`] when the directory cannot be listed or a stale temporary cannot be removed.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fs_err("list", dir)(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(fs_err("list", dir))?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_pid) else {
            continue;
        };
        let gone = matches!(
            rustix::process::test_kill_process(
                rustix::process::Pid::from_raw(pid).expect("pid > 0")
            ),
            Err(rustix::io::Errno::SRCH)
        );
        if gone && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            fs::remove_file(&path).map_err(fs_err("remove", &path))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names() {
        assert_eq!(temporary_pid(".101.conf.idfed-4242.tmp"), Some(4242));
        assert_eq!(temporary_pid(".subuid.idfed-1.tmp"), Some(1));
        assert_eq!(temporary_pid(".a.idfed-b.idfed-7.tmp"), Some(7));
        for not in [
            "101.conf",
            ".101.conf.idfed-.tmp",
            ".101.conf.idfed-12x.tmp",
            ".101.conf.idfed-0.tmp",
            "101.conf.idfed-12.tmp",
            "..idfed-12.tmp",
            ".101.conf.idfed-12.tmp~",
            ".101.conf.idfed-99999999999.tmp",
        ] {
            assert_eq!(temporary_pid(not), None, "{not}");
        }
        let t = temporary(Path::new("/etc/subuid"));
        assert_eq!(
            temporary_pid(t.file_name().unwrap().to_str().unwrap()),
            Some(std::process::id() as i32)
        );
    }

    #[test]
    fn only_stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has ended: its PID is free (for now).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        let names = [
            format!(".101.conf.idfed-{dead}.tmp"),
            format!(".102.conf.idfed-{live}.tmp"),
            "101.conf".to_string(),
            format!(".101.conf.other-{dead}.tmp"),
        ];
        for n in &names {
            fs::write(dir.path().join(n), "x").unwrap();
        }
        let removed = remove_stale_temporaries(dir.path()).unwrap();
        assert_eq!(removed, [dir.path().join(&names[0])]);
        for n in &names[1..] {
            assert!(dir.path().join(n).exists(), "{n}");
        }
        assert_eq!(
            remove_stale_temporaries(&dir.path().join("missing")).unwrap(),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn unchanged_content_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subuid");
        fs::write(&p, "root:100000:65536\n").unwrap();
        let before = fs::metadata(&p).unwrap().modified().unwrap();
        let bk = dir.path().join("backup");
        let w = replace_file(&p, b"root:100000:65536\n", 0o644, Some((&bk, "subuid"))).unwrap();
        assert_eq!(w, Written::Unchanged);
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), before);
        assert!(!bk.exists(), "no backup for an unchanged file");
    }

    #[test]
    fn replace_keeps_mode_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subuid");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let bk = dir.path().join("backup");
        let w = replace_file(&p, b"new\n", 0o644, Some((&bk, "subuid.1"))).unwrap();
        assert_eq!(
            w,
            Written::Replaced {
                backup: Some(bk.join("subuid.1"))
            }
        );
        assert_eq!(fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(bk.join("subuid.1")).unwrap(), "old\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_longer_or_shorter_file_without_a_backup_is_replaced_unread_and_keeps_its_mode() {
        // Not read (it cannot hold the same bytes), yet replaced with its mode and no backup.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("site.json");
        fs::write(&p, "old\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        for contents in ["longer than before\n", "x"] {
            let w = replace_file(&p, contents.as_bytes(), 0o600, None).unwrap();
            assert_eq!(w, Written::Replaced { backup: None });
            assert_eq!(fs::read_to_string(&p).unwrap(), contents);
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
                0o640
            );
        }
        // As long as before: read, compared, and left alone when the same.
        let w = replace_file(&p, b"y", 0o600, None).unwrap();
        assert_eq!(w, Written::Replaced { backup: None });
        assert_eq!(
            replace_file(&p, b"y", 0o600, None).unwrap(),
            Written::Unchanged
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn new_file_gets_new_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        replace_file(&p, b"{}", 0o600, None).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn failure_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: the rename fails after the temporary was written.
        let p = dir.path().join("target");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("keep"), "x").unwrap();
        let err = replace_file(&p, b"new", 0o644, None).unwrap_err();
        assert!(err.to_string().contains("target"), "{err}");
        assert!(p.join("keep").exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
