//! shadow-utils' locks on the files `useradd` and `usermod` edit, taken the way they take them
//! (shadow 4.13, `lib/commonio.c`), so idfed and shadow never interleave a read-modify-write of
//! `/etc/subuid` or `/etc/subgid`:
//!
//! - first `/etc/.pwd.lock`, the lock glibc's `lckpwdf()` takes (a POSIX `fcntl` write lock on
//!   the whole file); shadow takes it before any file lock when it runs without `--prefix`, so a
//!   `useradd` never meets idfed's file lock half-way. idfed takes it under `--root` too (shadow
//!   with `--prefix` skips it: harmless there);
//! - then per file `do_lock_file`: write our pid and a NUL to `<file>.<pid>`, sync it,
//!   `link()` it to `<file>.lock`, and hold the lock when the link succeeds and the pid file has
//!   exactly two links. When `<file>.lock` exists, its pid is read: a live process holds it (try
//!   again later); a dead one left it stale (unlink it and link once more); a lock without a
//!   valid pid is never removed. `<file>.<pid>` is always unlinked.
//!
//! Tries repeat until the timeout (shadow tries 15 times, a second apart); then the error names
//! the holder. Releasing unlinks `<file>.lock` (dropping the guard); the `.pwd.lock` lock goes with
//! its file descriptor.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::{FsError, LockKind, LockWait, fs_err, lock_exclusive, wait_for};

/// How long shadow itself tries (`LOCK_TRIES` 15 times, `LOCK_SLEEP` 1 s apart).
pub(crate) const SHADOW_LOCK_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a shadow lock could not be taken; nothing was written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShadowLockError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "`{lock}` is held by {holder} (waited {secs:.1} s): a `useradd`, `usermod` or other shadow tool is editing the file; try again when it is done",
        lock = lock.display(),
        secs = waited.as_secs_f32()
    )]
    Held {
        lock: PathBuf,
        holder: Holder,
        waited: Duration,
    },
}

/// Who holds a lock, as far as its file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    /// A live process.
    Pid(i32),
    /// The lock file holds no pid: shadow never removes it (delete it once no shadow tool runs).
    NoPid,
    /// The lock file holds something that is not a pid.
    BadPid(String),
    /// Another process holds the POSIX lock on `.pwd.lock` (`lckpwdf`).
    PwdLock,
    /// Our pid file got other links than the lock (another locker's race): shadow gives up.
    LinkCount(u64),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Pid(pid) => write!(f, "PID {pid}"),
            Holder::NoPid => {
                f.write_str("a lock file without a PID (remove it if no shadow tool runs)")
            }
            Holder::BadPid(s) => write!(
                f,
                "a lock file with the invalid PID `{}` (remove it if no shadow tool runs)",
                s.escape_debug()
            ),
            Holder::PwdLock => f.write_str("another process (lckpwdf)"),
            Holder::LinkCount(n) => write!(f, "another locker (our pid file has {n} links)"),
        }
    }
}

/// `<root>/etc/.pwd.lock` held with a POSIX write lock; released when dropped.
#[derive(Debug)]
pub(crate) struct PwdLock {
    _file: File,
}

impl PwdLock {
    /// Takes the `lckpwdf()` lock of the `/etc` at `etc` (a host path under `--root`).
    ///
    /// # Errors
    /// The file cannot be opened, or another process holds the lock for longer than `timeout`.
    pub(crate) fn acquire(etc: &Path, timeout: Duration) -> Result<PwdLock, ShadowLockError> {
        let path = etc.join(".pwd.lock");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(fs_err("open", &path))?;
        lock_exclusive(&file, LockKind::Posix, timeout).map_err(|e| match e {
            LockWait::Held(waited) => ShadowLockError::Held {
                lock: path.clone(),
                holder: Holder::PwdLock,
                waited,
            },
            LockWait::Io(e) => fs_err("lock", &path)(e).into(),
        })?;
        Ok(PwdLock { _file: file })
    }
}

/// A held `<file>.lock`; dropping it unlinks the lock.
#[derive(Debug)]
pub(crate) struct ShadowLock {
    lock: PathBuf,
    /// The `<file>.<pid>` files of dead processes (killed while locking) removed once the lock
    /// was ours.
    pub removed: Vec<PathBuf>,
}

impl ShadowLock {
    /// Takes shadow's lock on `file` (a host path under `--root`), trying until `timeout`.
    ///
    /// # Errors
    /// [`ShadowLockError::Fs`] when the pid file cannot be written (a read-only or full `/etc`),
    /// [`ShadowLockError::Held`] naming the holder when the lock stays taken.
    pub(crate) fn acquire(file: &Path, timeout: Duration) -> Result<ShadowLock, ShadowLockError> {
        let lock = with_suffix(file, ".lock");
        wait_for(
            timeout,
            || try_lock(file, &lock),
            |holder, waited| ShadowLockError::Held {
                lock: lock.clone(),
                holder,
                waited,
            },
        )?;
        Ok(ShadowLock {
            removed: remove_dead_pid_files(file),
            lock,
        })
    }
}

impl Drop for ShadowLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// The locks of one edit of shadow's files, in shadow's order: `.pwd.lock`, then each file's
/// `<file>.lock`. Dropping releases the file locks first, then `.pwd.lock`.
#[derive(Debug)]
pub(crate) struct ShadowLocks {
    files: Vec<ShadowLock>,
    _pwd: PwdLock,
}

impl ShadowLocks {
    /// Takes `.pwd.lock` in `etc` and the lock of each of `files`, each waiting up to `timeout`.
    ///
    /// # Errors
    /// The first lock that cannot be taken (those already taken are released).
    pub(crate) fn acquire(
        etc: &Path,
        files: &[&Path],
        timeout: Duration,
    ) -> Result<ShadowLocks, ShadowLockError> {
        let pwd = PwdLock::acquire(etc, timeout)?;
        let files = files
            .iter()
            .map(|f| ShadowLock::acquire(f, timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShadowLocks { files, _pwd: pwd })
    }

    /// The pid files of dead lockers removed (see [`ShadowLock::removed`]).
    pub(crate) fn removed(&self) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .flat_map(|f| f.removed.iter().map(PathBuf::as_path))
    }
}

/// Removes the `<file>.<pid>` files beside `file` whose process is gone: what a locker killed
/// between writing its pid file and unlinking it leaves (shadow leaves them for good). Best
/// effort: returns what it removed.
fn remove_dead_pid_files(file: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = entry_name.strip_prefix(&prefix) else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if pid.parse::<i32>().is_ok_and(|p| p > 0 && !alive(p))
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed.sort();
    removed
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// One try of shadow's `do_lock_file`: `None` when the lock is ours, else who holds it.
fn try_lock(file: &Path, lock: &Path) -> Result<Option<Holder>, ShadowLockError> {
    let pid = std::process::id();
    let mine = with_suffix(file, &format!(".{pid}"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&mine)
            .map_err(fs_err("create", &mine))?;
        // shadow writes the pid and its terminating NUL.
        f.write_all(format!("{pid}\0").as_bytes())
            .map_err(fs_err("write", &mine))?;
        // (shadow fdatasyncs; fsync is no weaker.)
        f.sync_all().map_err(fs_err("sync", &mine))?;
        drop(f);
        if std::fs::hard_link(&mine, lock).is_ok() {
            return link_count(&mine);
        }
        let (holder, read) = match read_holder(lock) {
            Ok(h) => h,
            // Gone in between: try again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Holder::NoPid)),
            Err(e) => return Err(fs_err("read", lock)(e).into()),
        };
        let Holder::Pid(pid) = holder else {
            return Ok(Some(holder));
        };
        if alive(pid) {
            return Ok(Some(holder));
        }
        // Stale: its process is gone. shadow removes it and links once more; but only the file
        // that was read: between the read and now its holder may have released it and another
        // locker (a `usermod`) taken it, whose lock this would remove (shadow has that window;
        // here it is the few instructions between the second read and the unlink).
        match remove_stale(lock, read, pid) {
            Ok(true) => {}
            // Another locker's lock now, or gone: try again.
            Ok(false) => return Ok(Some(Holder::NoPid)),
            Err(e) => return Err(fs_err("remove the stale lock", lock)(e).into()),
        }
        if std::fs::hard_link(&mine, lock).is_ok() {
            return link_count(&mine);
        }
        Ok(Some(holder))
    })();
    let _ = std::fs::remove_file(&mine);
    result
}

/// Unlinks `lock` if it is still the file `which` (device, inode) naming the dead `pid` that was
/// read: false when another file has taken its place (a new holder's lock: its inode may be the
/// one freed, its pid is not the dead one) or it is gone.
fn remove_stale(lock: &Path, which: (u64, u64), pid: i32) -> io::Result<bool> {
    match read_holder(lock) {
        Ok((Holder::Pid(now), at)) if now == pid && at == which => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(lock) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// shadow's `check_link_count`: the lock is ours only if our pid file has exactly two links.
fn link_count(mine: &Path) -> Result<Option<Holder>, ShadowLockError> {
    let n = std::fs::metadata(mine)
        .map_err(fs_err("stat", mine))?
        .nlink();
    Ok((n != 2).then_some(Holder::LinkCount(n)))
}

/// The holder a lock file names (shadow reads up to 31 bytes and `get_pid`s them), and the
/// file's device and inode: which lock file it was.
fn read_holder(lock: &Path) -> io::Result<(Holder, (u64, u64))> {
    let mut buf = Vec::new();
    let file = File::open(lock)?;
    let meta = file.metadata()?;
    let which = (meta.dev(), meta.ino());
    file.take(31).read_to_end(&mut buf)?;
    if buf.is_empty() {
        return Ok((Holder::NoPid, which));
    }
    let text = buf.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(text).into_owned();
    Ok((
        parse_pid(&text).map_or(Holder::BadPid(text), Holder::Pid),
        which,
    ))
}

/// shadow's `get_pid`: `strtoll(s, &end, 10)`, all of `s` read, fitting a `pid_t`.
fn parse_pid(s: &str) -> Option<i32> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i32>().ok()
}

/// `kill(pid, 0) == 0`, as shadow tests it: 0 and negative pids name process groups, which
/// exist (our own, at least).
fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => rustix::process::test_kill_process(p).is_ok(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_read_like_get_pid() {
        for (s, want) in [
            ("1234", Some(1234)),
            (" 1234", Some(1234)),
            ("+7", Some(7)),
            ("-1", Some(-1)),
            ("0", Some(0)),
            ("2147483647", Some(i32::MAX)),
            ("2147483648", None),
            ("12 ", None),
            ("12\n", None),
            ("", None),
            ("x", None),
            ("+", None),
        ] {
            assert_eq!(parse_pid(s), want, "{s:?}");
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("subuid");
        std::fs::write(&file, "root:100000:65536\n").unwrap();
        (dir, file)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn takes_and_releases_the_lock() {
        let (dir, file) = setup();
        let lock = ShadowLock::acquire(&file, Duration::ZERO).unwrap();
        // The lock holds our pid and a NUL, as shadow writes it; the pid file is gone.
        let content = std::fs::read(dir.path().join("subuid.lock")).unwrap();
        assert_eq!(content, format!("{}\0", std::process::id()).as_bytes());
        assert_eq!(names(dir.path()), ["subuid", "subuid.lock"]);
        // Held by a live process (us): a second try waits, then names the holder.
        let err = ShadowLock::acquire(&file, Duration::from_millis(50)).unwrap_err();
        let ShadowLockError::Held { holder, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*holder, Holder::Pid(std::process::id() as i32));
        assert!(
            err.to_string()
                .contains(&format!("is held by PID {}", std::process::id()))
        );
        drop(lock);
        assert_eq!(names(dir.path()), ["subuid"]);
        ShadowLock::acquire(&file, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_stale_lock_taken_over_after_it_was_read_is_not_removed() {
        let (dir, file) = setup();
        let lock = with_suffix(&file, ".lock");
        // A holder that died: its pid names no process.
        std::fs::write(&lock, "999999999\0").unwrap();
        let (holder, which) = read_holder(&lock).unwrap();
        assert!(matches!(holder, Holder::Pid(999_999_999)));
        // Before it is removed, the lock is released and a new locker (this process) takes it.
        std::fs::remove_file(&lock).unwrap();
        std::fs::write(&lock, format!("{}\0", std::process::id())).unwrap();
        assert!(!remove_stale(&lock, which, 999_999_999).unwrap());
        assert!(lock.exists(), "the new holder's lock was removed");
        // The file that was read is removed.
        std::fs::write(&lock, "999999999\0").unwrap();
        let (_, which) = read_holder(&lock).unwrap();
        assert!(remove_stale(&lock, which, 999_999_999).unwrap());
        assert!(!lock.exists());
        drop(dir);
    }

    #[test]
    fn a_dead_holder_is_stale_an_unreadable_one_is_not() {
        let (dir, file) = setup();
        let lock = dir.path().join("subuid.lock");
        // A pid that cannot be running (above pid_max).
        std::fs::write(&lock, "2147483647\0").unwrap();
        // A dead locker's pid file goes; a live one's and other names stay.
        for name in ["subuid.2147483646", "subuid.1", "subuid.x1", "subuid-"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let held = ShadowLock::acquire(&file, Duration::ZERO).unwrap();
        assert_eq!(
            std::fs::read(&lock).unwrap(),
            format!("{}\0", std::process::id()).as_bytes()
        );
        assert_eq!(held.removed, [dir.path().join("subuid.2147483646")]);
        drop(held);
        for name in ["subuid.1", "subuid.x1", "subuid-"] {
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
        for (content, holder) in [("", Holder::NoPid), ("12x", Holder::BadPid("12x".into()))] {
            std::fs::write(&lock, content).unwrap();
            let err = ShadowLock::acquire(&file, Duration::ZERO).unwrap_err();
            assert!(
                matches!(&err, ShadowLockError::Held { holder: h, .. } if *h == holder),
                "{err}"
            );
            // Never removed, and no pid file left behind.
            assert_eq!(std::fs::read_to_string(&lock).unwrap(), content);
            assert_eq!(names(dir.path()), ["subuid", "subuid.lock"]);
        }
    }

    /// The kernel's list of POSIX locks (`/proc/locks`) on `path` held by this process.
    fn posix_write_locks(path: &Path) -> usize {
        let ino = std::fs::metadata(path).unwrap().ino();
        let pid = std::process::id().to_string();
        std::fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 5
                    && f[1] == "POSIX"
                    && f[3] == "WRITE"
                    && f[4] == pid
                    && f[5].rsplit(':').next() == Some(&ino.to_string())
            })
            .count()
    }

    #[test]
    fn pwd_lock_is_lckpwdfs_posix_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = PwdLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let path = dir.path().join(".pwd.lock");
        // What glibc's lckpwdf takes: an fcntl (POSIX) write lock, not an flock.
        assert_eq!(posix_write_locks(&path), 1);
        drop(held);
        assert_eq!(posix_write_locks(&path), 0);
    }
}
