//! The last good answer of each source, `/var/lib/idfed/cache/<source>.json` (0600, in a 0700
//! directory): every user and group the source returned at its last successful pull, and when.
//! Written after each successful pull of `plan`, `emit`, `check` and `report` (not `apply`: it
//! writes only what it applies), on a thread of its own ([`Writing`]) while the command goes on;
//! read only when the source cannot be read, by the commands
//! that may answer from it (`check`, `report`), never by those that act (`plan`, `apply`).
//!
//! What the cache means (which command may use it, what it says) is the commands' concern; this
//! is only the record.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::fs::{self, FsError, Root, create_or_replace};
use crate::source::{Directory, Group, User};

use super::StoreError;

/// One source's cached answer.
#[derive(Debug)]
pub(crate) struct Cached {
    pub directory: Directory,
    /// When it was pulled, seconds since the epoch.
    pub pulled_at: u64,
}

/// The file's shape.
#[derive(Serialize)]
struct Record<'a> {
    source: &'a str,
    pulled_at: u64,
    pulled_at_utc: String,
    users: &'a [User],
    groups: &'a [Group],
}

#[derive(Deserialize)]
struct Read {
    pulled_at: u64,
    users: Vec<User>,
    groups: Vec<Group>,
}

/// The cache directory, `/var/lib/idfed/cache`.
pub(crate) fn dir(root: &Root) -> PathBuf {
    super::dir(root).join("cache")
}

/// The cache file of `source`. A name that is not a plain file name (the configuration's keys
/// may hold any character) is written in hex.
pub(crate) fn path(root: &Root, source: &str) -> PathBuf {
    let plain = !source.is_empty()
        && !source.starts_with('.')
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let name = if plain {
        format!("{source}.json")
    } else {
        let hex: String = source.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x-{hex}.json")
    };
    dir(root).join(name)
}

/// Keeps `directory` as the last good answer of `source`, pulled at `pulled_at`: written whole
/// to a temporary file and renamed over the old one, mode 0600 in a 0700 directory.
///
/// # Errors
/// When the directory or the file cannot be written.
pub(crate) fn save(
    root: &Root,
    source: &str,
    directory: &Directory,
    pulled_at: u64,
) -> Result<(), StoreError> {
    let dir = dir(root);
    if !dir.is_dir() {
        std::fs::create_dir_all(super::dir(root)).map_err(|e| FsError {
            action: "create",
            path: super::dir(root),
            source: e,
        })?;
        let made = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        if let Err(e) = made
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(FsError {
                action: "create",
                path: dir,
                source: e,
            }
            .into());
        }
    }
    let record = Record {
        source,
        pulled_at,
        pulled_at_utc: super::nodes::rfc3339(pulled_at),
        users: directory.users(),
        groups: directory.groups(),
    };
    let path = path(root, source);
    // Room for the whole text at once, more than it takes (pages never written are never
    // touched): grown from empty, 3 MB were copied over and over.
    let members: usize = directory.groups().iter().map(|g| g.members.len()).sum();
    let mut text = Vec::with_capacity(
        128 * (directory.users().len() + directory.groups().len()) + 64 * members,
    );
    serde_json::to_writer(&mut text, &record).map_err(|e| StoreError::Parse {
        path: path.clone(),
        what: "a source cache",
        source: e,
    })?;
    text.push(b'\n');
    create_or_replace(&path, &text, 0o600)?;
    Ok(())
}

/// What the thread of a [`Writing`] returns: whether it saved.
type Saved = Result<(), StoreError>;

/// What the thread of a [`Writing`] runs.
type Job = Box<dyn FnOnce() -> Saved + Send>;

/// A source's answer being kept ([`save`]) on a thread of its own: serializing a directory of
/// 50,000 users is a fifth of a small cluster's `plan`, and nothing the command does next
/// depends on it. Dropping it waits for the file (a command that ends early leaves no temporary
/// behind); [`Writing::wait`] also says whether it was written.
#[derive(Debug)]
pub(crate) struct Writing {
    source: String,
    /// Lets go of the directory as soon as it is written: when the command holds it no more
    /// (`plan` does not), it is freed there and then, not kept until the command's output is
    /// written (the directory of the 20,000-CT sparse bench cluster held through the plan made
    /// its peak 17-20 MB higher: over issue 13's 200 MB).
    progress: Progress,
}

/// Where a [`Writing`] is.
#[derive(Debug)]
enum Progress {
    /// Being written on its own thread.
    Running(JoinHandle<Saved>),
    /// Written, and whether it was: on the caller's thread when no thread could be started, or
    /// once waited for.
    Done(Saved),
}

impl Writing {
    /// Starts keeping `directory` as the last good answer of `source`, pulled at `pulled_at`.
    pub(crate) fn start(
        root: &Root,
        source: &str,
        directory: Arc<Directory>,
        pulled_at: u64,
    ) -> Writing {
        Writing::start_on(root, source, directory, pulled_at, |job| {
            std::thread::Builder::new()
                .name("idfed-cache".to_string())
                .spawn(job)
        })
    }

    /// [`Writing::start`] with the thread made by `spawn`; when it cannot make one, the file is
    /// written on the caller's thread.
    fn start_on(
        root: &Root,
        source: &str,
        directory: Arc<Directory>,
        pulled_at: u64,
        spawn: impl FnOnce(Job) -> std::io::Result<JoinHandle<Saved>>,
    ) -> Writing {
        let (root_, source_, directory_) = (root.clone(), source.to_string(), directory.clone());
        let started = spawn(Box::new(move || {
            save(&root_, &source_, &directory_, pulled_at)
        }));
        let progress = match started {
            Ok(thread) => Progress::Running(thread),
            // No thread to be had: kept here and now.
            Err(_) => Progress::Done(save(root, source, &directory, pulled_at)),
        };
        Writing {
            source: source.to_string(),
            progress,
        }
    }

    /// Waits until the file is written: the source's name, and why it could not be.
    ///
    /// # Errors
    /// As [`save`].
    pub(crate) fn wait(mut self) -> Result<(), (String, StoreError)> {
        let done = self.finish();
        done.map_err(|e| (std::mem::take(&mut self.source), e))
    }

    fn finish(&mut self) -> Saved {
        match std::mem::replace(&mut self.progress, Progress::Done(Ok(()))) {
            Progress::Running(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Progress::Done(saved) => saved,
        }
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if matches!(self.progress, Progress::Running(_)) && !std::thread::panicking() {
            let _ = self.finish();
        }
    }
}

/// The last good answer of `source`, if one was kept.
///
/// # Errors
/// When the file exists but cannot be read or is not a cache.
pub(crate) fn load(root: &Root, source: &str) -> Result<Option<Cached>, StoreError> {
    let path = path(root, source);
    let Some(text) = fs::read_optional(&path)? else {
        return Ok(None);
    };
    let read: Read = super::parse(&path, "a source cache", &text)?;
    let mut directory = Directory::new();
    // Kept from a directory: no name is there twice with two ids.
    for user in read.users {
        let _ = directory.add_user(user);
    }
    for group in read.groups {
        let _ = directory.add_group(group);
    }
    Ok(Some(Cached {
        directory,
        pulled_at: read.pulled_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Member;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn a_directory_comes_back_as_it_was_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        assert!(load(&root, "corp").unwrap().is_none());
        let mut d = Directory::new();
        d.add_user(User {
            name: "alice".into(),
            uid: 1005,
            gid: 1005,
            dn: Some("uid=alice,ou=people,dc=example,dc=org".into()),
        })
        .unwrap();
        d.add_user(User {
            name: "b\u{1b}ob\n".into(),
            uid: 4_294_967_294,
            gid: 0,
            dn: None,
        })
        .unwrap();
        d.add_group(Group {
            name: "research".into(),
            gid: 3000,
            members: vec![
                Member::Name("alice".into()),
                Member::Dn("uid=alice,ou=people,dc=example,dc=org".into()),
            ],
            dn: Some("cn=research,ou=groups,dc=example,dc=org".into()),
        })
        .unwrap();
        save(&root, "corp", &d, 1_764_000_000).unwrap();
        let back = load(&root, "corp").unwrap().unwrap();
        assert_eq!(back.pulled_at, 1_764_000_000);
        assert_eq!(back.directory.users(), d.users());
        assert_eq!(back.directory.groups(), d.groups());
        assert_eq!(back.directory.user_by_uid(1005).unwrap().name, "alice");
        let file = path(&root, "corp");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir(&root)), 0o700);
        // Another source's cache is its own file.
        assert!(load(&root, "nas").unwrap().is_none());
    }

    /// The thread lets go of the directory once it is written, not when the command waits for
    /// it at its end: `plan` holds the directory no more, and keeping it through the plan made
    /// the peak of 20,000 sparse CTs 17-20 MB higher.
    #[test]
    fn a_directory_being_kept_is_freed_once_written_before_anyone_waits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let d = Arc::new(directory_of(1005..1006));
        let held = Arc::downgrade(&d);
        let writing = Writing::start(&root, "corp", d, 1_764_000_000);
        // Written: the file is there; freed: nobody holds the directory. A generous bound on
        // the thread's time, not a speed target.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while held.upgrade().is_some() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            held.upgrade().is_none(),
            "the writing thread still holds the directory"
        );
        writing.wait().unwrap();
        assert_eq!(kept_users(&root, "corp"), 1);
    }

    /// A directory of one user per uid of `uids`, each in the group of its uid.
    fn directory_of(uids: std::ops::Range<u32>) -> Directory {
        let mut d = Directory::new();
        for uid in uids {
            d.add_user(User {
                name: format!("u{uid}"),
                uid,
                gid: uid,
                dn: None,
            })
            .unwrap();
        }
        d
    }

    /// How many users the cache of `source` holds.
    fn kept_users(root: &Root, source: &str) -> usize {
        load(root, source).unwrap().unwrap().directory.users().len()
    }

    /// With no thread to be had, the file is written at once on the caller's thread, and waiting
    /// says whether it was.
    #[test]
    fn with_no_thread_to_be_had_the_directory_is_kept_at_once_on_the_callers_thread() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let no_thread = |_| Err(std::io::Error::other("no threads left"));
        let d = Arc::new(directory_of(1000..1100));
        let held = Arc::downgrade(&d);
        let writing = Writing::start_on(&root, "corp", d, 1_764_000_000, no_thread);
        assert!(matches!(writing.progress, Progress::Done(Ok(()))));
        // Written already, before any wait, and the directory let go of.
        assert_eq!(kept_users(&root, "corp"), 100);
        assert_eq!(held.strong_count(), 0);
        writing.wait().unwrap();
        // A failure is still said: the cache directory is a file here.
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let cache_dir = dir(&root);
        std::fs::create_dir_all(cache_dir.parent().unwrap()).unwrap();
        std::fs::write(&cache_dir, "not a directory").unwrap();
        let writing = Writing::start_on(&root, "corp", Arc::new(directory_of(1..2)), 1, no_thread);
        let (source, _) = writing.wait().unwrap_err();
        assert_eq!(source, "corp");
    }

    /// A command that ends without waiting (an early error) still leaves the whole file and no
    /// temporary beside it: dropping waits for the thread.
    #[test]
    fn a_writing_dropped_unwaited_leaves_the_whole_file_and_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let d = directory_of(1000..21_000);
        drop(Writing::start(&root, "corp", Arc::new(d), 1_764_000_000));
        let names: Vec<String> = std::fs::read_dir(dir(&root))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let file = path(&root, "corp");
        assert_eq!(
            names,
            [file.file_name().unwrap().to_string_lossy().into_owned()]
        );
        assert_eq!(kept_users(&root, "corp"), 20_000);
    }

    #[test]
    fn file_names() {
        let root = Root::new("/r");
        for (source, name) in [
            ("corp", "corp.json"),
            ("corp-2_b.x", "corp-2_b.x.json"),
            ("../x", "x-2e2e2f78.json"),
            (".hidden", "x-2e68696464656e.json"),
            ("a b", "x-612062.json"),
        ] {
            assert_eq!(
                path(&root, source),
                Path::new("/r/var/lib/idfed/cache").join(name)
            );
        }
    }

    #[test]
    fn a_file_that_is_not_a_cache_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let file = path(&root, "corp");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "{\"users\": 1}").unwrap();
        let e = load(&root, "corp").unwrap_err().to_string();
        assert!(e.contains("is not a source cache"), "{e}");
        assert!(e.contains("var/lib/idfed/cache/corp.json"), "{e}");
    }
}
