//! The walk of a tree (an export for `scan`, a CT's root filesystem for `shift`): every entry
//! below a path, once, without following symbolic links or crossing into another filesystem,
//! with many `stat`s in flight (NFS is bound by latency, not by CPU). Threads share a stack of
//! directories to read; each entry is handed to the thread's [`Visitor`], which counts it (the
//! scan) or changes it (scan's fix, shift). A directory that cannot be
//! read is a [`Problem`], never the end of the walk.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Threads of a walk: enough requests in flight to hide an NFS server's latency; on a local disk
/// they mostly wait their turn for the CPU.
pub(crate) const THREADS: usize = 32;

/// Entries and bytes seen so far, for a progress display on another thread.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
}

/// One entry as the walk found it.
pub(crate) struct Entry<'a> {
    /// The directory it is in (the current directory for the walk's own path).
    pub dir: BorrowedFd<'a>,
    /// Its name in `dir` (the whole path for the walk's own path).
    pub name: &'a CStr,
    /// Its path relative to the walk's path (empty for the path itself).
    pub rel: &'a Path,
    /// What `lstat` said.
    pub stat: &'a Stat,
}

/// What each thread does with the entries it finds.
pub(crate) trait Visitor: Send {
    fn visit(&mut self, entry: &Entry<'_>);
}

/// A directory that could not be read, or an entry that could not be looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Relative to the walk's path.
    pub rel: PathBuf,
    pub action: &'static str,
    pub errno: Errno,
}

/// What a walk returns: each thread's visitor, the problems and the mount points not crossed.
pub(crate) struct Walked<V> {
    pub visitors: Vec<V>,
    pub problems: Vec<Problem>,
    /// Directories on another filesystem (counted, not entered), relative to the walk's path.
    pub mounts: Vec<PathBuf>,
}

/// Why a walk could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot look at `{path}`")]
pub(crate) struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

struct Queue {
    dirs: Vec<PathBuf>,
    /// Threads reading a directory now (they may push more).
    busy: usize,
}

struct Shared<'a> {
    root: &'a Path,
    dev: u64,
    queue: Mutex<Queue>,
    ready: Condvar,
    progress: &'a Progress,
    found: Mutex<(Vec<Problem>, Vec<PathBuf>)>,
}

/// Walks `root` (followed when it is a symbolic link; nothing below it is) with `threads`
/// threads, each visiting with its own visitor from `make`.
///
/// # Errors
/// [`WalkError`] when `root` itself cannot be looked at.
pub(crate) fn walk<V: Visitor>(
    root: &Path,
    threads: usize,
    progress: &Progress,
    make: impl Fn() -> V + Sync,
) -> Result<Walked<V>, WalkError> {
    let stat = rustix::fs::stat(root).map_err(|e| WalkError {
        path: root.to_path_buf(),
        source: e.into(),
    })?;
    let name = std::ffi::CString::new(root.as_os_str().as_bytes()).map_err(|e| WalkError {
        path: root.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })?;
    let mut first = make();
    first.visit(&Entry {
        dir: CWD,
        name: &name,
        rel: Path::new(""),
        stat: &stat,
    });
    progress.entries.fetch_add(1, Ordering::Relaxed);
    progress.bytes.fetch_add(size_of(&stat), Ordering::Relaxed);
    let dirs = if FileType::from_raw_mode(stat.st_mode).is_dir() {
        vec![PathBuf::new()]
    } else {
        Vec::new()
    };
    let shared = Shared {
        root,
        dev: stat.st_dev,
        queue: Mutex::new(Queue { dirs, busy: 0 }),
        ready: Condvar::new(),
        progress,
        found: Mutex::new((Vec::new(), Vec::new())),
    };
    let threads = threads.max(1);
    let mut visitors = vec![first];
    std::thread::scope(|scope| {
        let shared = &shared;
        let make = &make;
        let workers: Vec<_> = (1..threads)
            .map(|_| scope.spawn(move || shared.work(make())))
            .collect();
        let own = visitors.pop().expect("the first visitor");
        visitors.push(shared.work(own));
        for w in workers {
            visitors.push(w.join().expect("a walk thread panicked"));
        }
    });
    let (mut problems, mut mounts) = shared.found.into_inner().expect("walk lock");
    problems.sort_by(|a, b| a.rel.cmp(&b.rel));
    mounts.sort();
    Ok(Walked {
        visitors,
        problems,
        mounts,
    })
}

/// The apparent size, as `find -printf %s` prints it.
fn size_of(stat: &Stat) -> u64 {
    u64::try_from(stat.st_size).unwrap_or(0)
}

impl Shared<'_> {
    /// One thread: takes directories until none is left and no thread can add more.
    fn work<V: Visitor>(&self, mut visitor: V) -> V {
        let mut subdirs = Vec::new();
        loop {
            let dir = {
                let mut q = self.queue.lock().expect("walk lock");
                loop {
                    if let Some(dir) = q.dirs.pop() {
                        q.busy += 1;
                        break Some(dir);
                    }
                    if q.busy == 0 {
                        break None;
                    }
                    q = self.ready.wait(q).expect("walk lock");
                }
            };
            let Some(dir) = dir else {
                self.ready.notify_all();
                return visitor;
            };
            self.read(&dir, &mut visitor, &mut subdirs);
            let mut q = self.queue.lock().expect("walk lock");
            q.busy -= 1;
            let added = subdirs.len();
            q.dirs.append(&mut subdirs);
            drop(q);
            match added {
                0 => self.ready.notify_all(),
                1 => self.ready.notify_one(),
                _ => self.ready.notify_all(),
            }
        }
    }

    fn problem(&self, rel: PathBuf, action: &'static str, errno: Errno) {
        self.found
            .lock()
            .expect("walk lock")
            .0
            .push(Problem { rel, action, errno });
    }

    /// Reads one directory: visits every entry, queues the subdirectories of the same filesystem.
    fn read<V: Visitor>(&self, rel: &Path, visitor: &mut V, subdirs: &mut Vec<PathBuf>) {
        let path = self.root.join(rel);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(CWD, &path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(errno) => return self.problem(rel.to_path_buf(), "read the directory", errno),
        };
        let Ok(mut dir) = Dir::new(fd) else { return };
        let (mut entries, mut bytes) = (0u64, 0u64);
        loop {
            let entry = match dir.read() {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(errno)) => {
                    self.problem(rel.to_path_buf(), "read the directory", errno);
                    break;
                }
            };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let Ok(fd) = dir.fd() else { break };
            let child = rel.join(OsStr::from_bytes(name.to_bytes()));
            let stat = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => stat,
                // Removed since the directory was read: it is not there to count.
                Err(Errno::NOENT) => continue,
                Err(errno) => {
                    self.problem(child, "look at", errno);
                    continue;
                }
            };
            entries += 1;
            bytes += size_of(&stat);
            visitor.visit(&Entry {
                dir: fd,
                name,
                rel: &child,
                stat: &stat,
            });
            if FileType::from_raw_mode(stat.st_mode).is_dir() {
                if stat.st_dev == self.dev {
                    subdirs.push(child);
                } else {
                    self.found.lock().expect("walk lock").1.push(child);
                }
            }
        }
        self.progress.entries.fetch_add(entries, Ordering::Relaxed);
        self.progress.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<(PathBuf, u64)>);

    impl Visitor for Names {
        fn visit(&mut self, entry: &Entry<'_>) {
            self.0
                .push((entry.rel.to_path_buf(), entry.stat.st_size as u64));
        }
    }

    fn names(root: &Path, threads: usize) -> (Vec<(PathBuf, u64)>, Vec<Problem>) {
        let progress = Progress::default();
        let walked = walk(root, threads, &progress, || Names(Vec::new())).unwrap();
        let mut all: Vec<_> = walked.visitors.into_iter().flat_map(|v| v.0).collect();
        all.sort();
        assert_eq!(progress.entries.into_inner(), all.len() as u64);
        (all, walked.problems)
    }

    #[test]
    fn every_entry_once_links_not_followed_whatever_the_threads() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/b/c/f"), "12345").unwrap();
        std::fs::write(root.join("top"), "1").unwrap();
        std::os::unix::fs::symlink("..", root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", root.join("dangling")).unwrap();
        for threads in [1, 2, 32] {
            let (all, problems) = names(root, threads);
            let rels: Vec<&str> = all.iter().map(|(p, _)| p.to_str().unwrap()).collect();
            assert_eq!(
                rels,
                [
                    "", "a", "a/b", "a/b/c", "a/b/c/f", "a/b/up", "dangling", "top"
                ],
                "{threads} threads"
            );
            assert!(problems.is_empty());
            let size = |rel: &str| all.iter().find(|(p, _)| p == Path::new(rel)).unwrap().1;
            assert_eq!(size("a/b/c/f"), 5);
            assert_eq!(
                size("a/b/up"),
                2,
                "the link's own size, its target's length"
            );
        }
    }

    #[test]
    fn a_file_as_the_path_is_one_entry_and_a_missing_path_an_error() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "abc").unwrap();
        let (all, _) = names(&t.path().join("f"), 4);
        assert_eq!(all, [(PathBuf::new(), 3)]);
        let err = walk(&t.path().join("nope"), 2, &Progress::default(), || {
            Names(Vec::new())
        })
        .err()
        .unwrap();
        assert!(err.to_string().starts_with("cannot look at `"), "{err}");
    }
}
