//! Is a CT running on this node? PVE runs a CT in the cgroup `/sys/fs/cgroup/lxc/<vmid>` (cgroup
//! v2) and LXC's monitor listens on the abstract socket `@/var/lib/lxc/<vmid>/command` while it
//! runs. Both are looked for under `--root` (`<root>/proc/net/unix` lists the sockets), so tests
//! can stand in for a running CT.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::fs::{self, FsError, Root};

/// What shows that a CT runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    /// Its cgroup exists (the host path).
    Cgroup(PathBuf),
    /// LXC's command socket is listening (its abstract name).
    CommandSocket(String),
}

impl fmt::Display for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Running::Cgroup(p) => write!(f, "its cgroup `{}` exists", p.display()),
            Running::CommandSocket(s) => write!(f, "LXC's command socket `{s}` is listening"),
        }
    }
}

/// The host path of CT `vmid`'s cgroup.
pub fn cgroup_path(vmid: u32) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/lxc/{vmid}"))
}

/// The abstract name of CT `vmid`'s LXC command socket as `/proc/net/unix` shows it.
pub fn command_socket(vmid: u32) -> String {
    format!("@/var/lib/lxc/{vmid}/command")
}

/// Does the text of `/proc/net/unix` list `name` (the last field of a line)?
pub fn lists_socket(proc_net_unix: &str, name: &str) -> bool {
    proc_net_unix
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(7) == Some(name))
}

/// Whether CT `vmid` runs on this node, and what shows it.
///
/// # Errors
/// When `/proc/net/unix` exists under the root but cannot be read.
pub fn running(root: &Root, vmid: u32) -> Result<Option<Running>, FsError> {
    let cgroup = cgroup_path(vmid);
    if root.join(&cgroup).is_dir() {
        return Ok(Some(Running::Cgroup(cgroup)));
    }
    let socket = command_socket(vmid);
    let unix = fs::read_optional(root.join(Path::new("/proc/net/unix")))?;
    Ok(unix
        .filter(|text| lists_socket(text, &socket))
        .map(|_| Running::CommandSocket(socket)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIX: &str = "Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 31337 @/var/lib/lxc/101/command\n\
0000000000000000: 00000002 00000000 00010000 0001 01 31338 @/var/lib/lxc/1011/command\n\
0000000000000000: 00000003 00000000 00000000 0001 03 20001\n";

    #[test]
    fn the_command_socket_is_matched_whole() {
        assert!(lists_socket(UNIX, &command_socket(101)));
        assert!(lists_socket(UNIX, &command_socket(1011)));
        assert!(!lists_socket(UNIX, &command_socket(10)));
        assert!(!lists_socket(UNIX, &command_socket(102)));
        // The header line is no socket.
        assert!(!lists_socket(UNIX, "Path"));
    }

    #[test]
    fn cgroup_or_socket_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert_eq!(running(&root, 101).unwrap(), None);
        std::fs::create_dir_all(dir.path().join("sys/fs/cgroup/lxc/101")).unwrap();
        assert_eq!(
            running(&root, 101).unwrap(),
            Some(Running::Cgroup(cgroup_path(101)))
        );
        std::fs::create_dir_all(dir.path().join("proc/net")).unwrap();
        std::fs::write(dir.path().join("proc/net/unix"), UNIX).unwrap();
        assert_eq!(
            running(&root, 1011).unwrap().unwrap().to_string(),
            "LXC's command socket `@/var/lib/lxc/1011/command` is listening"
        );
        assert_eq!(running(&root, 102).unwrap(), None);
    }
}
