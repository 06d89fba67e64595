//! The real kernel as a map checker: a fresh user namespace (`unshare -U sleep`) whose
//! `/proc/PID/uid_map` or `gid_map` a test writes in one `write()`, as newuidmap does.
//!
//! Needs root (writing a map with ids other than one's own). Usage:
//!
//! ```ignore
//! let ns = UserNs::new();
//! assert_eq!(ns.write_map(MapFile::Uid, "0 100000 65536\n"), Ok(()));
//! assert_eq!(UserNs::new().write_map(MapFile::Uid, "0 100000 10\n5 100005 1\n"), Err(EINVAL));
//! ```
//!
//! A map can be written once per namespace and kind: use a new `UserNs` for each attempt.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `EINVAL`: what the kernel answers to a map it refuses.
pub const EINVAL: i32 = 22;

/// Which map file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFile {
    Uid,
    Gid,
}

impl MapFile {
    fn name(self) -> &'static str {
        match self {
            MapFile::Uid => "uid_map",
            MapFile::Gid => "gid_map",
        }
    }
}

/// A process sleeping in a new user namespace with no map yet; killed on drop.
pub struct UserNs {
    child: Child,
}

impl UserNs {
    /// Starts `unshare -U sleep 60` and waits until it is in its own user namespace.
    ///
    /// # Panics
    /// When `unshare` cannot start or does not enter a new namespace within 10 s.
    pub fn new() -> UserNs {
        let child = Command::new("unshare")
            .args(["-U", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .expect("`unshare` (util-linux) must be installed");
        let ns = UserNs { child };
        let mine = std::fs::read_link("/proc/self/ns/user").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/user", ns.pid()));
            if theirs.as_ref().is_ok_and(|t| *t != mine) {
                return ns;
            }
            assert!(
                Instant::now() < deadline,
                "`unshare -U` did not enter a new user namespace: user namespaces must work here"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `text` to the namespace's map file in one `write()`: `Err(errno)` when the kernel
    /// refuses it (or takes only part of it, reported as `EINVAL`).
    pub fn write_map(&self, file: MapFile, text: &str) -> Result<(), i32> {
        let path = format!("/proc/{}/{}", self.pid(), file.name());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        match f.write(text.as_bytes()) {
            Ok(n) if n == text.len() => Ok(()),
            Ok(_) => Err(EINVAL),
            Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
        }
    }

    /// The map as the kernel shows it (columns padded), after a successful write.
    pub fn read_map(&self, file: MapFile) -> String {
        std::fs::read_to_string(format!("/proc/{}/{}", self.pid(), file.name())).unwrap()
    }
}

impl Drop for UserNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` as a map of a fresh namespace: the kernel's verdict on it.
pub fn kernel_accepts(file: MapFile, text: &str) -> Result<(), i32> {
    UserNs::new().write_map(file, text)
}
