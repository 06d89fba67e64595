//! A real unprivileged LXC container for tests: `lxc-execute` from a busybox-static root with the
//! given `lxc.idmap` lines, a bind-mounted host directory at `/shared`, and the given subuid and
//! subgid text bind-mounted over `/etc/subuid` and `/etc/subgid` inside a private mount namespace
//! (`unshare -m`): the machine's own files are never changed.
//!
//! Needs root, `lxc`, `uidmap`, `busybox-static`, `util-linux`. Usage:
//!
//! ```ignore
//! let host = tempfile::tempdir().unwrap();
//! let spec = Container::new(&["u 0 100000 65536", "g 0 100000 65536"])
//!     .subids("root:100000:65536\n", "root:100000:65536\n")
//!     .user("alice", 1005, 1005)
//!     .host_dir(host.path())
//!     .script(&format!("touch /shared/r; {}", as_user("alice", "touch /shared/a")));
//! let out = run_container(&spec).unwrap();   // Err: the start failed (stderr in the message)
//! ```

#![allow(dead_code)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What to start. Build with [`Container::new`] and the chained setters.
#[derive(Clone, Debug)]
pub struct Container {
    /// `lxc.idmap` values (`u 0 100000 1005`); a leading `lxc.idmap:` or `lxc.idmap =` is dropped.
    pub idmap: Vec<String>,
    pub subuid: String,
    pub subgid: String,
    /// `(name, uid, gid)` for the rootfs' `/etc/passwd` (root is always there).
    pub users: Vec<(String, u32, u32)>,
    /// `(name, gid, members)` for the rootfs' `/etc/group` (root is always there).
    pub groups: Vec<(String, u32, Vec<String>)>,
    /// Bind-mounted read-write at `/shared` inside.
    pub host_dir: Option<PathBuf>,
    /// Run by the container's root with `/bin/sh -c`.
    pub script: String,
    /// An existing root filesystem (a CT's own) instead of a fresh one.
    pub rootfs: Option<PathBuf>,
}

impl Container {
    pub fn new<S: AsRef<str>>(idmap: &[S]) -> Container {
        Container {
            idmap: idmap
                .iter()
                .map(|l| {
                    let l = l.as_ref().trim();
                    let l = l
                        .strip_prefix("lxc.idmap:")
                        .or_else(|| l.strip_prefix("lxc.idmap ="))
                        .unwrap_or(l);
                    l.trim().to_string()
                })
                .collect(),
            subuid: String::new(),
            subgid: String::new(),
            users: Vec::new(),
            groups: Vec::new(),
            host_dir: None,
            script: "true".to_string(),
            rootfs: None,
        }
    }

    /// Starts on `dir` as root filesystem (a CT's own tree): what the container needs is added
    /// (busybox and its links, `etc/passwd`, `etc/group`, the mount point directories), owned by
    /// the container's root; nothing already there changes owner. Its parents get search
    /// permission for others where they lack it (LXC opens the rootfs as the container's root).
    pub fn rootfs(mut self, dir: &Path) -> Container {
        self.rootfs = Some(dir.to_path_buf());
        self
    }

    pub fn subids(mut self, subuid: &str, subgid: &str) -> Container {
        self.subuid = subuid.to_string();
        self.subgid = subgid.to_string();
        self
    }

    /// Adds a user and a group of the same name with its primary gid.
    pub fn user(mut self, name: &str, uid: u32, gid: u32) -> Container {
        self.users.push((name.to_string(), uid, gid));
        if !self.groups.iter().any(|g| g.1 == gid) {
            self.groups.push((name.to_string(), gid, Vec::new()));
        }
        self
    }

    pub fn group(mut self, name: &str, gid: u32, members: &[&str]) -> Container {
        self.groups.push((
            name.to_string(),
            gid,
            members.iter().map(|m| m.to_string()).collect(),
        ));
        self
    }

    pub fn host_dir(mut self, dir: &Path) -> Container {
        self.host_dir = Some(dir.to_path_buf());
        self
    }

    pub fn script(mut self, script: &str) -> Container {
        self.script = script.to_string();
        self
    }

    /// The host id inside id 0 of `kind` (`'u'` or `'g'`) maps to: the rootfs' owner.
    fn root_host_id(&self, kind: char) -> u32 {
        self.idmap
            .iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 4 && f[0].starts_with(kind) && f[1] == "0")
                    .then(|| f[2].parse().unwrap())
            })
            .next()
            .unwrap_or(100_000)
    }
}

/// Every `lxc.idmap` line of a CT config (`lxc.idmap:` or `lxc.idmap =`, any section), as
/// written: the map to start a container with.
pub fn idmap_lines(conf: &str) -> Vec<String> {
    conf.lines()
        .filter(|l| {
            l.strip_prefix("lxc.idmap")
                .is_some_and(|rest| rest.starts_with([':', ' ', '=']))
        })
        .map(str::to_string)
        .collect()
}

/// A temporary directory anyone may write to (mode 0777), to bind-mount into a container as a
/// share: the container's users are unprivileged on the host.
pub fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// `su -s /bin/sh USER -c 'CMD'` (busybox has no `setuidgid`); `CMD` must not hold `'`.
pub fn as_user(user: &str, cmd: &str) -> String {
    assert!(!cmd.contains('\''), "as_user: {cmd:?} holds a single quote");
    format!("su -s /bin/sh {user} -c '{cmd}'")
}

/// The applets the rootfs links to busybox.
const APPLETS: &[&str] = &[
    "sh", "touch", "su", "chown", "chmod", "id", "ls", "cat", "echo", "mkdir", "stat", "rm",
];

/// Starts the container, runs the script, and returns what `lxc-execute` printed.
///
/// # Errors
/// The start or the script failed: the message holds the exit status, stdout and stderr.
pub fn run_container(spec: &Container) -> Result<Output, String> {
    let dir = tempfile::Builder::new()
        .prefix("idfed-lxc")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let top = dir.path();
    // LXC opens the rootfs as the container's root: every parent must be traversable.
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (uid0, gid0) = (spec.root_host_id('u'), spec.root_host_id('g'));
    let rootfs = match &spec.rootfs {
        Some(dir) => {
            let mut up = dir.parent();
            while let Some(p) = up {
                let mode = std::fs::metadata(p).unwrap().permissions().mode();
                if mode & 0o001 == 0 {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o011))
                        .unwrap();
                }
                up = p.parent();
            }
            dir.clone()
        }
        None => top.join("rootfs"),
    };
    // What is added to an existing rootfs is chowned to the container's root one by one.
    let mut added = Vec::new();
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "shared"] {
        if !rootfs.join(d).exists() {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
            added.push(rootfs.join(d));
        }
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .map_err(|e| format!("busybox-static must be installed (/bin/busybox): {e}"))?;
    added.push(rootfs.join("bin/busybox"));
    for applet in APPLETS {
        let link = rootfs.join("bin").join(applet);
        if link.symlink_metadata().is_err() {
            symlink("busybox", &link).unwrap();
            added.push(link);
        }
    }
    let mut passwd = String::from("root:x:0:0:root:/:/bin/sh\n");
    for (name, uid, gid) in &spec.users {
        passwd.push_str(&format!("{name}:x:{uid}:{gid}::/:/bin/sh\n"));
    }
    let mut group = String::from("root:x:0:\n");
    for (name, gid, members) in &spec.groups {
        group.push_str(&format!("{name}:x:{gid}:{}\n", members.join(",")));
    }
    std::fs::write(rootfs.join("etc/passwd"), passwd).unwrap();
    std::fs::write(rootfs.join("etc/group"), group).unwrap();
    added.extend([rootfs.join("etc/passwd"), rootfs.join("etc/group")]);
    if spec.rootfs.is_none() {
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        chown_tree(&rootfs, uid0, gid0);
    } else {
        for path in &added {
            std::os::unix::fs::lchown(path, Some(uid0), Some(gid0)).unwrap();
        }
    }

    let name = top
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let mut conf = format!(
        "lxc.uts.name = {name}\nlxc.rootfs.path = dir:{}\n",
        rootfs.display()
    );
    for line in &spec.idmap {
        conf.push_str(&format!("lxc.idmap = {line}\n"));
    }
    if let Some(host) = &spec.host_dir {
        conf.push_str(&format!(
            "lxc.mount.entry = {} shared none bind,create=dir 0 0\n",
            host.display()
        ));
    }
    conf.push_str(
        "lxc.mount.auto = proc:mixed sys:ro\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n",
    );
    conf.push_str(&format!(
        "lxc.log.file = {}\nlxc.log.level = WARN\n",
        top.join("lxc.log").display()
    ));
    let conf_path = top.join("config");
    std::fs::write(&conf_path, conf).unwrap();
    let (subuid, subgid) = (top.join("subuid"), top.join("subgid"));
    std::fs::write(&subuid, &spec.subuid).unwrap();
    std::fs::write(&subgid, &spec.subgid).unwrap();
    let lxcpath = top.join("lxc");
    std::fs::create_dir(&lxcpath).unwrap();

    // The bind mounts live and die with the private mount namespace of `unshare -m`.
    let output = Command::new("timeout")
        .arg("120")
        .args(["unshare", "-m", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            r#"mount --bind "$1" /etc/subuid && mount --bind "$2" /etc/subgid && exec lxc-execute -n "$3" -f "$4" -P "$5" -- /bin/sh -c "$6""#,
        )
        .arg("sh")
        .arg(&subuid)
        .arg(&subgid)
        .arg(&name)
        .arg(&conf_path)
        .arg(&lxcpath)
        .arg(&spec.script)
        .output()
        .map_err(|e| format!("cannot run `unshare` / `lxc-execute`: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "container failed ({}):\n--- stdout\n{}--- stderr\n{}--- lxc.log\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(top.join("lxc.log")).unwrap_or_default()
        ))
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// The host owner `(uid, gid)` of a file.
pub fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

/// Starts a container on `idmap` with the subid files `subids` (subuid, subgid) and proves what
/// a fitted map does: host files owned by the base ids of inside uids `unmapped` and `mapped`
/// show as nobody (65534) and as `mapped` inside, and a user of inside uid `pass` (a
/// passthrough) writes to the share as host uid `pass`.
pub fn probe_fitted_map(
    idmap: &[String],
    subids: (&str, &str),
    unmapped: u32,
    mapped: u32,
    pass: u32,
) {
    let host = shared_dir();
    for (file, uid) in [
        ("unmapped", 100_000 + unmapped),
        ("mapped", 100_000 + mapped),
    ] {
        let path = host.path().join(file);
        std::fs::write(&path, "").unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(100_000)).unwrap();
    }
    let spec = Container::new(idmap)
        .subids(subids.0, subids.1)
        .user("pat", pass, 0)
        .host_dir(host.path())
        .script(&format!(
            "stat -c %u /shared/unmapped /shared/mapped && {}",
            as_user("pat", "touch /shared/pat")
        ));
    let out = run_container(&spec).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("65534\n{mapped}\n")
    );
    assert_eq!(owner(&host.path().join("pat")), (pass, 100_000));
}
