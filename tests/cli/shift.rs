//! `idfed shift`: a CT's root filesystem after its map passed uid/gid 1005 through. The fixture
//! is built by the test: a `dir` storage subvolume with files, directories, symlinks (one
//! pointing out of the root), a hard link, a FIFO, setuid/setgid and capability files, access
//! and default ACLs, owned by moving ids (host 101005 → 1005, and host 1007, a passthrough the
//! current map no longer has, → 101007) and by ids that do not move (the CT's root, 1006, an id
//! below `min_id`, an id no map explains).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Run, Test, skip_without_root};
use crate::lxc::{Container, as_user, run_container};

const ROOTFS: &str = "var/lib/vz/images/101/subvol-101-disk-0.subvol";

const CONF: &str = "arch: amd64\nhostname: ct101\nmemory: 512\n\
rootfs: local:101/subvol-101-disk-0.subvol,size=8G\nunprivileged: 1\n\
lxc.idmap: u 0 100000 1005\nlxc.idmap: g 0 100000 1005\n\
lxc.idmap: u 1005 1005 1\nlxc.idmap: g 1005 1005 1\n\
lxc.idmap: u 1006 101006 64530\nlxc.idmap: g 1006 101006 64530\n";

/// The tree as the CT wrote it under the old map (ids are host ids).
const BUILD: &str = r#"set -e
R="$1"
mkdir -p "$R/home/alice/.cache" "$R/home/bob" "$R/usr/bin" "$R/srv/shared" "$R/proc" "$R/tmp"
echo notes > "$R/home/alice/notes"
ln "$R/home/alice/notes" "$R/home/alice/notes.hard"
ln -s notes "$R/home/alice/notes.link"
ln -s /etc/shadow "$R/home/alice/escape"
mkfifo "$R/home/alice/fifo"
echo bob > "$R/home/bob/file"
cp /bin/true "$R/usr/bin/alice-tool"
cp /bin/true "$R/usr/bin/pinger"
cp /bin/true "$R/usr/bin/nscap"
echo data > "$R/srv/shared/data"
echo legacy > "$R/srv/legacy"
echo system > "$R/srv/system"
echo stray > "$R/srv/stray"
chown -R 100000:100000 "$R"
chown -hR 101005:101005 "$R/home/alice" "$R/usr/bin/pinger" "$R/usr/bin/nscap"
chown -R 101006:101006 "$R/home/bob"
chown 101005:100000 "$R/usr/bin/alice-tool"
chmod 6755 "$R/usr/bin/alice-tool"
setcap cap_net_raw+ep "$R/usr/bin/pinger"
chown 101006:101005 "$R/srv/shared" "$R/srv/shared/data"
setfacl -m u:101005:rwx,g:101005:rx,u:101006:r "$R/srv/shared/data"
setfacl -d -m u:101005:rwx,u:1007:r "$R/srv/shared"
setfacl -m u:101005:rw "$R/home/bob/file"
chown 1007:100000 "$R/srv/legacy"
chown 500:500 "$R/srv/system"
chown 200000:200000 "$R/srv/stray"
"#;

fn sh(script: &str, args: &[&Path]) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespaced (version 3) file capability: cap_net_raw, valid for the namespace whose root is
/// host uid `rootid`.
fn v3_cap(rootid: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0300_0001u32.to_le_bytes());
    v.extend_from_slice(&(1u32 << 13).to_le_bytes());
    v.extend_from_slice(&[0; 12]);
    v.extend_from_slice(&rootid.to_le_bytes());
    v
}

/// What the tests that build a rootfs need root for.
const SHIFT_NEEDS: &str = "`idfed shift` tests (chown)";

/// The cluster (one node, CT 101 with the map passing 1005 through) and the CT's rootfs.
/// Callers skip first: `if skip_without_root(SHIFT_NEEDS) { return; }`.
fn ct101(conf: &str) -> Test {
    let t = Test::new()
        .write("idfed.toml", "[cluster]\npve_root = \"/etc/pve\"\n")
        .write(
            "etc/pve/storage.cfg",
            "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,vztmpl\n",
        )
        .write("etc/pve/nodes/pve1/lxc/101.conf", conf);
    let rootfs = t.path().join(ROOTFS);
    std::fs::create_dir_all(&rootfs).unwrap();
    sh(BUILD, &[&rootfs]);
    rustix::fs::lsetxattr(
        rootfs.join("usr/bin/nscap"),
        "security.capability",
        &v3_cap(101005),
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    t.at_root("pve1")
}

/// Everything shift may change, per entry below the rootfs: owner, mode, ACLs (sorted lines of
/// `getfacl -n`), capabilities (raw bytes), inode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    uid: u32,
    gid: u32,
    mode: u32,
    ino: u64,
    acl: Vec<String>,
    caps: Option<Vec<u8>>,
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    rustix::fs::lgetxattr(path, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

fn state(rootfs: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(rootfs: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let m = std::fs::symlink_metadata(dir).unwrap();
        let acl = if m.file_type().is_symlink() {
            Vec::new()
        } else {
            let o = Command::new("getfacl")
                .args(["-n", "-p", "-P", "--omit-header"])
                .arg(dir)
                .output()
                .expect("getfacl (package acl) is installed");
            assert!(o.status.success(), "getfacl {}", dir.display());
            let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        };
        let rel = dir.strip_prefix(rootfs).unwrap().to_path_buf();
        out.insert(
            rel,
            Entry {
                uid: m.uid(),
                gid: m.gid(),
                mode: m.mode() & 0o7777,
                ino: m.ino(),
                acl,
                caps: xattr(dir, "security.capability"),
            },
        );
        if m.is_dir() {
            for e in std::fs::read_dir(dir).unwrap() {
                walk(rootfs, &e.unwrap().path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(rootfs, rootfs, &mut out);
    out
}

/// The state `before` must become: exactly the moving ids changed, everything else as it was.
fn shifted(before: &BTreeMap<PathBuf, Entry>) -> BTreeMap<PathBuf, Entry> {
    moved(before, &[(101005, 1005), (1007, 101007)], &[(101005, 1005)])
}

/// `before` with the owners, ACL entries and namespaced capabilities of host uids and gids moved
/// by `uids` and `gids` (from, to).
fn moved(
    before: &BTreeMap<PathBuf, Entry>,
    uids: &[(u32, u32)],
    gids: &[(u32, u32)],
) -> BTreeMap<PathBuf, Entry> {
    let by = |moves: &[(u32, u32)], id: u32| moves.iter().find(|m| m.0 == id).map_or(id, |m| m.1);
    before
        .iter()
        .map(|(p, e)| {
            let mut acl: Vec<String> = e
                .acl
                .iter()
                .map(|l| {
                    let mut l = l.clone();
                    for (tag, moves) in [("user:", uids), ("group:", gids)] {
                        for &(from, to) in moves {
                            l = l.replace(&format!("{tag}{from}:"), &format!("{tag}{to}:"));
                        }
                    }
                    l
                })
                .collect();
            acl.sort();
            let caps = e.caps.clone().map(|c| {
                uids.iter()
                    .find(|m| c == v3_cap(m.0))
                    .map_or(c, |m| v3_cap(m.1))
            });
            let entry = Entry {
                uid: by(uids, e.uid),
                gid: by(gids, e.gid),
                acl,
                caps,
                ..e.clone()
            };
            (p.clone(), entry)
        })
        .collect()
}

/// The state with inode numbers left out: for trees built apart.
fn without_inodes(state: BTreeMap<PathBuf, Entry>) -> BTreeMap<PathBuf, Entry> {
    state
        .into_iter()
        .map(|(p, e)| (p, Entry { ino: 0, ..e }))
        .collect()
}

/// The next run of the test's tree: `idfed ... --node pve1 ARGS`.
fn rerun(run: Run, args: &[&str]) -> Run {
    run.again().at_root("pve1").args(args).run()
}

fn rootfs(run: &Run) -> PathBuf {
    run.path().join(ROOTFS)
}

/// A row of the JSON `moves`: (kind, inside, from, to, entries).
fn moves(json: &serde_json::Value) -> Vec<(String, u64, u64, u64, u64)> {
    json["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_string(),
                m["inside"].as_u64().unwrap(),
                m["from"].as_u64().unwrap(),
                m["to"].as_u64().unwrap(),
                m["entries"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn exactly_the_moving_ids_change_and_a_second_run_changes_nothing() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101(CONF);
    let root = t.path().join(ROOTFS);
    let before = state(&root);
    let want = shifted(&before);
    assert_ne!(before, want);
    let shadow_owner = std::fs::metadata("/etc/shadow")
        .map(|m| (m.uid(), m.gid()))
        .ok();

    let dry = t
        .args(["--format", "json", "shift", "101", "--dry-run"])
        .run()
        .success();
    assert_eq!(state(&rootfs(&dry)), before, "--dry-run changed something");
    let json = dry.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["rootfs"], format!("/{ROOTFS}"));
    let counted = moves(&json);
    assert_eq!(
        counted,
        [
            ("uid".to_string(), 1005, 101005, 1005, 9),
            ("uid".to_string(), 1007, 1007, 101007, 1),
            ("gid".to_string(), 1005, 101005, 1005, 10),
        ]
    );
    assert_eq!(json["changed"], 12, "{json:#}");
    assert_eq!(json["acl_entries"], 5, "{json:#}");

    // The real run, with a tmpfs mounted at /proc inside the rootfs (in a private mount
    // namespace): it holds an entry of a moving owner that must not be touched.
    let proc_dir = root.join("proc");
    let script = format!(
        r#"mount -t tmpfs tmpfs "{p}" && touch "{p}/x" && chown 101005:101005 "{p}/x" "{p}" && "$@"; rc=$?; stat -c 'inside the mount: %u:%g' "{p}" "{p}/x" >&2; exit $rc"#,
        p = proc_dir.display()
    );
    let real = dry
        .again()
        .at_root("pve1")
        .args(["--format", "json", "shift", "101"])
        .under(&[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .run()
        .success();
    let json = real.json();
    assert_eq!(moves(&json), counted);
    assert_eq!(json["changed"], 12);
    assert_eq!(json["acl_entries"], 5);
    assert_eq!(json["other_filesystems"], serde_json::json!(["/proc"]));
    assert_eq!(
        real.stderr(),
        "inside the mount: 101005:101005\ninside the mount: 101005:101005\n"
    );
    let after = state(&rootfs(&real));
    for (path, entry) in &want {
        assert_eq!(after.get(path), Some(entry), "{}", path.display());
    }
    assert_eq!(after, want);
    // The kernel cleared setuid/setgid and the capabilities with the chown: all are back.
    let tool = &after[Path::new("usr/bin/alice-tool")];
    assert_eq!((tool.uid, tool.gid, tool.mode), (1005, 100000, 0o6755));
    assert!(after[Path::new("usr/bin/pinger")].caps.is_some());
    assert_eq!(after[Path::new("usr/bin/nscap")].caps, Some(v3_cap(1005)));
    // The hard link is one inode, changed once; the symlink out of the root was not followed.
    assert_eq!(
        after[Path::new("home/alice/notes")],
        after[Path::new("home/alice/notes.hard")]
    );
    assert_eq!(
        std::fs::metadata("/etc/shadow")
            .map(|m| (m.uid(), m.gid()))
            .ok(),
        shadow_owner
    );
    assert!(!real.path().join("var/lib/idfed/shift/101.journal").exists());

    // Ownership is the state: nothing is left to move.
    let again = rerun(real, &["--format", "json", "shift", "101"]).success();
    let json = again.json();
    assert_eq!(json["changed"], 0);
    assert_eq!(json["acl_entries"], 0);
    assert!(moves(&json).iter().all(|m| m.4 == 0), "{json:#}");
    assert_eq!(state(&rootfs(&again)), want);
    rerun(again, &["shift", "101"])
        .success()
        .stdout_has("CT 101: root filesystem `/var/lib/vz/images/101/subvol-101-disk-0.subvol`\n")
        .stdout_has("  uid 1005: host 101005 → 1005: moved 0 entries (0 bytes)\n")
        .stdout_has("  0 of 24 entries changed owner, 0 ACL entries rewritten\n");
}

/// `cluster.protected` ids were never passed through: an entry of host 1007 (protected) is not
/// taken for a former passthrough's, it and the default ACL entry naming it stay as they are.
#[test]
fn a_protected_id_is_never_taken_for_a_former_passthrough() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101(CONF).write(
        "idfed.toml",
        "[cluster]\npve_root = \"/etc/pve\"\nprotected = [\"1007\"]\n",
    );
    let root = t.path().join(ROOTFS);
    let before = state(&root);
    let run = t.args(["--format", "json", "shift", "101"]).run().success();
    let rows = moves(&run.json());
    assert!(rows.iter().all(|r| r.2 != 1007), "{rows:?}");
    assert!(rows.iter().any(|r| r.2 == 101005), "{rows:?}");
    let after = state(&rootfs(&run));
    let legacy = Path::new("srv/legacy");
    assert_eq!(after[legacy], before[legacy]);
    let shared = Path::new("srv/shared");
    assert!(
        after[shared]
            .acl
            .iter()
            .any(|l| l == "default:user:1007:r--"),
        "{:?}",
        after[shared].acl
    );
    // Without the protection the same file moves (as the first test proves in full).
    assert_ne!(shifted(&before)[legacy], before[legacy]);
}

/// An entry that cannot be changed (immutable) is a problem, exit 1; the setuid file journaled
/// in the same run was put back, so the journal is removed all the same (a stale one would put
/// back, at a later run, a bit someone removed since).
#[test]
fn a_failed_entry_keeps_no_journal_once_the_bits_are_back() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101(CONF);
    let stuck = t.path().join(ROOTFS).join("srv/stuck");
    std::fs::write(&stuck, "x").unwrap();
    sh("chown 101005:101005 \"$1\" && chattr +i \"$1\"", &[&stuck]);
    let run = t.args(["shift", "101"]).run();
    sh("chattr -i \"$1\"", &[&stuck]);
    let run = run.failure();
    assert!(run.stdout().contains("srv/stuck"), "{}", run.stdout());
    let tool = std::fs::metadata(rootfs(&run).join("usr/bin/alice-tool")).unwrap();
    assert_eq!((tool.uid(), tool.mode() & 0o7777), (1005, 0o6755));
    assert!(!run.path().join("var/lib/idfed/shift/101.journal").exists());
}

#[test]
fn refused_with_a_reason_and_nothing_changed() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let cases: [(&str, String, Option<&str>, &str); 6] = [
        (
            "running (cgroup)",
            CONF.to_string(),
            Some("sys/fs/cgroup/lxc/101"),
            "CT 101 is running (its cgroup `/sys/fs/cgroup/lxc/101` exists): stop it first (`pct stop 101`), then shift",
        ),
        (
            "locked",
            CONF.replace("memory: 512\n", "lock: backup\nmemory: 512\n"),
            None,
            "CT 101 is locked (`lock: backup`): wait for it to finish, or `pct unlock 101`",
        ),
        (
            "not switched",
            CONF.lines()
                .filter(|l| !l.starts_with("lxc.idmap"))
                .map(|l| format!("{l}\n"))
                .collect(),
            None,
            "CT 101: its map has not been switched: `lxc.idmap` passes no id through and idfed has no record of a map it replaced; run `idfed apply` first",
        ),
        (
            "privileged",
            CONF.replace("unprivileged: 1\n", ""),
            None,
            "CT 101 is privileged: its files are owned by the host ids they show, nothing to shift",
        ),
        (
            "block volume",
            CONF.replace(
                "local:101/subvol-101-disk-0.subvol",
                "local:101/vm-101-disk-0.raw",
            ),
            None,
            "CT 101: the root filesystem `local:101/vm-101-disk-0.raw` is a disk image on storage `local`, not a directory on this node: mount it with `pct mount 101` and run `idfed shift 101 --rootfs /var/lib/lxc/101/rootfs`",
        ),
        (
            "unknown storage",
            CONF.replace("local:101", "nas:101"),
            None,
            "CT 101: the root filesystem `nas:101/subvol-101-disk-0.subvol` is on storage `nas`, which `storage.cfg` does not define",
        ),
    ];
    for (what, conf, dir, message) in cases {
        let t = ct101(&conf);
        if let Some(d) = dir {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        let before = state(&t.path().join(ROOTFS));
        let run = t.args(["shift", "101"]).run().failure();
        assert_eq!(
            run.stderr(),
            format!("idfed: error: cannot shift CT 101: {message}\n"),
            "{what}"
        );
        assert_eq!(state(&rootfs(&run)), before, "{what}");
    }
    // A CT of another node.
    ct101(CONF)
        .args(["shift", "102"])
        .run()
        .failure()
        .stderr_is("idfed: error: cannot shift CT 102: CT 102 is not on node `pve1` (no `/etc/pve/nodes/pve1/lxc/102.conf`): run `idfed shift 102` on the node that holds it\n");
}

#[test]
fn rootfs_option_reaches_a_mounted_volume() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    // `pct mount` leaves `lock: mounted`: allowed, with the directory given.
    let conf = CONF
        .replace(
            "local:101/subvol-101-disk-0.subvol",
            "local-lvm:vm-101-disk-0",
        )
        .replace("memory: 512\n", "lock: mounted\nmemory: 512\n");
    let t = ct101(&conf);
    let want = shifted(&state(&t.path().join(ROOTFS)));
    let run = t
        .args(["shift", "101", "--rootfs", &format!("/{ROOTFS}")])
        .run()
        .success();
    assert_eq!(state(&rootfs(&run)), want);
}

/// `shift 101` in one walker thread under strace, `calls` written to `trace`.
fn traced(t: Test, trace: &str, calls: &[&str]) -> Test {
    t.args(["shift", "101", "--threads", "1"]).under(&[
        "strace",
        "-f",
        "-qq",
        "-o",
        trace,
        "-e",
        &format!("trace={}", calls.join(",")),
    ])
}

/// A real SIGKILL at every change shift makes (strace injects it at the Nth `fchownat`,
/// `fchmodat`, `lsetxattr`, journal `write` or `fdatasync`; strace counts each system call per
/// thread, so these runs walk with `--threads 1`, in one thread): the rerun ends exactly where
/// an uninterrupted run ends, setuid bits and capabilities included.
#[test]
fn killed_at_any_step_a_rerun_ends_the_same() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let reference = ct101(CONF).args(["shift", "101"]).run().success();
    let want = without_inodes(state(&rootfs(&reference)));
    let calls = ["fchownat", "fchmodat", "lsetxattr", "write", "fdatasync"];
    let counted = tempfile::NamedTempFile::new().unwrap();
    let trace = counted.path().to_str().unwrap();
    traced(ct101(CONF), trace, &calls).run().success();
    let log = std::fs::read_to_string(counted.path()).unwrap();
    let (mut tried, mut restored) = (0, 0);
    for call in calls {
        let count = log
            .lines()
            .filter(|l| l.contains(&format!(" {call}(")))
            .count();
        assert!(count > 0, "no {call} in:\n{log}");
        for n in 1..=count {
            let killed = ct101(CONF)
                .args(["shift", "101", "--threads", "1"])
                .under(&[
                    "strace",
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={call}"),
                    "-e",
                    &format!("inject={call}:signal=KILL:when={n}"),
                ])
                .run()
                .killed();
            let rerun = rerun(killed, &["--format", "json", "shift", "101"]).success();
            if rerun.json()["restored"].as_u64().unwrap() > 0 {
                restored += 1;
            }
            assert_eq!(
                without_inodes(state(&rootfs(&rerun))),
                want,
                "killed at {call} #{n}"
            );
            let journal = rerun.path().join("var/lib/idfed/shift/101.journal");
            assert!(!journal.exists(), "killed at {call} #{n}");
            tried += 1;
        }
    }
    assert!(tried >= 20, "only {tried} kill points");
    // Some kill point fell between a chown and putting the bits back.
    assert!(restored > 0, "no kill point needed the journal");
}

/// Real LXC: a busybox container on the shifted rootfs with the new map. Before the shift,
/// inside uid 1005 cannot write the files it owned under the old map; after, it can.
#[test]
fn the_container_writes_its_files_after_the_shift() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101(CONF);
    let root = t.path().join(ROOTFS);
    let idmap: Vec<String> = CONF
        .lines()
        .filter_map(|l| l.strip_prefix("lxc.idmap: "))
        .map(str::to_string)
        .collect();
    let spec = |rootfs: &Path| {
        Container::new(&idmap)
            .subids(
                "root:100000:65536\nroot:1005:1\n",
                "root:100000:65536\nroot:1005:1\n",
            )
            .user("alice", 1005, 1005)
            .rootfs(rootfs)
            .script(&as_user(
                "alice",
                "echo more >> /home/alice/notes && touch /home/alice/new && echo wrote",
            ))
    };
    let refused = run_container(&spec(&root)).expect_err("alice writes before the shift");
    assert!(refused.contains("Permission denied"), "{refused}");
    let run = t.args(["shift", "101"]).run().success();
    let out = run_container(&spec(&rootfs(&run))).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wrote\n");
    let notes = rootfs(&run).join("home/alice/notes");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "notes\nmore\n");
    let new = std::fs::metadata(rootfs(&run).join("home/alice/new")).unwrap();
    assert_eq!((new.uid(), new.gid()), (1005, 1005));
}

/// A CT on PVE's default map whose share passes alice (1005) through: the files of a host id no
/// switch of idfed's moved (2000, copied in from the host) are left alone.
const SWITCHED_CONF: &str = "arch: amd64\nhostname: ct101\nmemory: 512\n\
mp0: /mnt/pve/projects,mp=/data\n\
rootfs: local:101/subvol-101-disk-0.subvol,size=8G\nunprivileged: 1\n";

/// The configuration with `owners` (a TOML line) as the share's owners.
fn switched_config(owners: &str) -> String {
    format!(
        "[cluster]\npve_root = \"/etc/pve\"\n\n[source.nas]\ntype = \"files\"\npasswd = \"passwd\"\ngroup = \"group\"\n\n\
         [share.projects]\nsource = \"nas\"\npath = \"/mnt/pve/projects\"\n{owners}\n"
    )
}

/// CT 101 on PVE's default map, its share configured by `config`, a rootfs with alice's (host
/// 101005) and bob's (host 101006) homes and a file of host 2000.
fn switched_ct101(config: &str) -> Test {
    let t = Test::new()
        .write("idfed.toml", config)
        .write(
            "passwd",
            "alice:x:1005:1005::/home/alice:/bin/sh\nbob:x:1006:1006::/home/bob:/bin/sh\n",
        )
        .write("group", "alice:x:1005:\nbob:x:1006:\n")
        .write("etc/subuid", "root:100000:65536\n")
        .write("etc/subgid", "root:100000:65536\n")
        .write(
            "etc/pve/storage.cfg",
            "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,vztmpl\n",
        )
        .write("etc/pve/nodes/pve1/lxc/101.conf", SWITCHED_CONF);
    let root = t.path().join(ROOTFS);
    std::fs::create_dir_all(root.join("home/alice")).unwrap();
    std::fs::create_dir_all(root.join("home/bob")).unwrap();
    std::fs::write(root.join("home/alice/notes"), "notes").unwrap();
    std::fs::write(root.join("home/bob/notes"), "notes").unwrap();
    std::fs::write(root.join("host-copy"), "from the host").unwrap();
    sh(
        r#"chown -R 100000:100000 "$1" && chown -R 101005:101005 "$1/home/alice" && chown -R 101006:101006 "$1/home/bob" && chown 2000:2000 "$1/host-copy""#,
        &[&root],
    );

    t
}

/// Owner (uid, gid) of `rel` under the rootfs.
fn owner(run: &Run, rel: &str) -> (u32, u32) {
    let m = std::fs::symlink_metadata(rootfs(run).join(rel)).unwrap();
    (m.uid(), m.gid())
}

/// The rows of the JSON `moves` with their `source`: (kind, inside, from, to, source).
fn move_sources(json: &serde_json::Value) -> Vec<(String, u64, u64, u64, String)> {
    let sources = json["moves"].as_array().unwrap().iter();
    moves(json)
        .into_iter()
        .zip(sources)
        .map(|((kind, inside, from, to, _), m)| {
            let source = m["source"].as_str().unwrap().to_string();
            (kind, inside, from, to, source)
        })
        .collect()
}

/// Issue 18: apply records the map it replaced, and shift moves by that record rather than by
/// inference: by inference, host 2000's file (copied in from the host) would be taken for a
/// former passthrough's and moved to 102000. The return to PVE's default map, from which nothing
/// can be inferred at all, is `shift::tests::the_record_wins_while_it_holds`.
#[test]
fn shift_moves_by_the_map_apply_replaced() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = switched_ct101(&switched_config("users = [\"alice\"]"));
    let rec = |kind: &str, inside, from, to| (kind.to_string(), inside, from, to, "record".into());
    // Per switch: the share's owners, the moves shift makes, then the owners of alice's and
    // bob's files. bob replaces alice, then only a uid above the CT's range passes through
    // (inference would take every entry of a host id in 1000-65535 for a former passthrough's).
    let steps = [
        (
            "users = [\"alice\"]",
            vec![
                rec("uid", 1005, 101005, 1005),
                rec("gid", 1005, 101005, 1005),
            ],
            [(1005, 1005), (101006, 101006)],
        ),
        (
            "users = [\"bob\"]",
            vec![
                rec("uid", 1005, 1005, 101005),
                rec("uid", 1006, 101006, 1006),
                rec("gid", 1005, 1005, 101005),
                rec("gid", 1006, 101006, 1006),
            ],
            [(101005, 101005), (1006, 1006)],
        ),
        (
            "uids = [70000]",
            vec![
                rec("uid", 1006, 1006, 101006),
                rec("gid", 1006, 1006, 101006),
            ],
            [(101005, 101005), (101006, 101006)],
        ),
    ];
    let mut t = t;
    // The whole map replaced, PVE's default included at first.
    let mut old = serde_json::json!(["u 0 100000 65536", "g 0 100000 65536"]);
    for (owners, want, [alice, bob]) in steps {
        let applied = t
            .write("idfed.toml", &switched_config(owners))
            .at_root("pve1")
            .args(["apply", "--allow-shrink"])
            .run()
            .success();
        let record: serde_json::Value =
            serde_json::from_str(&applied.read("etc/pve/idfed/managed/101.json")).unwrap();
        let written: Vec<String> = applied
            .read("etc/pve/nodes/pve1/lxc/101.conf")
            .lines()
            .filter_map(|l| l.strip_prefix("lxc.idmap: "))
            .map(str::to_string)
            .collect();
        assert_eq!(record["switched"]["old"], old, "{owners}: {record:#}");
        assert_eq!(
            record["switched"]["new"],
            serde_json::json!(written),
            "{owners}"
        );
        old = record["switched"]["new"].clone();
        let shifted = rerun(applied, &["--format", "json", "shift", "101"]).success();
        let json = shifted.json();
        assert_eq!(move_sources(&json), want, "{owners}: {json:#}");
        assert_eq!(owner(&shifted, "home/alice/notes"), alice, "{owners}");
        assert_eq!(owner(&shifted, "home/bob/notes"), bob, "{owners}");
        assert_eq!(owner(&shifted, "host-copy"), (2000, 2000), "{owners}");
        t = shifted.again();
    }
}

/// Issue 18: before the switch, `plan` lists the moving ids (and `--scan-rootfs` counts what
/// their old host ids own), `check` warns with the count (`rootfs-pending`); after `apply`, until
/// the shift, `check` warns that they show as nobody (`rootfs-unshifted`); after it, nothing.
#[test]
fn plan_and_check_say_what_moves() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = switched_ct101(&switched_config("users = [\"alice\"]"));
    let run = t
        .at_root("pve1")
        .args(["plan", "--scan-rootfs"])
        .run()
        .success();
    insta::assert_snapshot!("plan_scan_rootfs_text", run.stdout());
    let run = rerun(run, &["--format", "json", "plan", "--scan-rootfs"]).success();
    insta::assert_json_snapshot!(
        "plan_scan_rootfs_json",
        run.json()["containers"][0]["rootfs"]
    );
    // Without --scan-rootfs: the moves, not counted.
    let run = rerun(run, &["--format", "json", "plan"]).success();
    let rootfs = &run.json()["containers"][0]["rootfs"];
    assert_eq!(rootfs["moves"][0]["from"], 101005, "{rootfs:#}");
    assert!(rootfs["moves"][0].get("entries").is_none(), "{rootfs:#}");
    assert!(rootfs.get("path").is_none(), "{rootfs:#}");

    let check = |run: Run| {
        let run = rerun(run, &["--format", "json", "check"]);
        let json = run.json();
        let found: Vec<(String, String, String)> = json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"].as_str().unwrap().starts_with("rootfs-"))
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_string();
                (s("code"), s("message"), s("fix"))
            })
            .collect();
        (run, found)
    };
    let (run, found) = check(run);
    assert_eq!(
        found,
        [(
            "rootfs-pending".to_string(),
            "CT 101: 2 files of uid 1005 (host 101005), 2 files of gid 1005 (host 101005) will show as nobody after the switch; run `idfed shift 101` while it is stopped".to_string(),
            "after `idfed apply` on pve1: pct stop 101; idfed shift 101; pct start 101".to_string(),
        )]
    );
    let run = run.again().at_root("pve1").args(["apply"]).run().success();
    let (run, found) = check(run);
    assert_eq!(
        found,
        [(
            "rootfs-unshifted".to_string(),
            "CT 101: 2 files of uid 1005 (host 101005), 2 files of gid 1005 (host 101005) show as nobody since the switch; run `idfed shift 101` while it is stopped".to_string(),
            "pct stop 101; idfed shift 101; pct start 101".to_string(),
        )]
    );
    let run = rerun(run, &["shift", "101"]).success();
    let (_, found) = check(run);
    assert_eq!(found, []);

    // A disk image is no directory here: not counted, and why.
    let conf = SWITCHED_CONF.replace(
        "local:101/subvol-101-disk-0.subvol",
        "local:101/vm-101-disk-0.raw",
    );
    let run = switched_ct101(&switched_config("users = [\"alice\"]"))
        .write("etc/pve/nodes/pve1/lxc/101.conf", &conf)
        .at_root("pve1")
        .args(["plan", "--scan-rootfs"])
        .run()
        .success()
        .stdout_has("    moves uid 1005: host 101005 → 1005\n")
        .stdout_has("    root filesystem not scanned: CT 101: the root filesystem `local:101/vm-101-disk-0.raw` is a disk image on storage `local`, not a directory on this node: mount it with `pct mount 101` and run `idfed shift 101 --rootfs /var/lib/lxc/101/rootfs`\n");
    // check warns only about what it counted (the drift warning names the change).
    let (_, found) = check(run);
    assert_eq!(found, []);
}

/// CT 101 of the `ct101` fixture on PVE's default map, with its share's owner alice (1005)
/// configured: `apply` switches it to pass 1005 through.
fn ct101_before_the_switch() -> Test {
    let conf: String = CONF
        .lines()
        .filter(|l| !l.starts_with("lxc.idmap"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "mp0: /mnt/pve/projects,mp=/data\n";
    ct101(&conf)
        .write("idfed.toml", &switched_config("users = [\"alice\"]"))
        .write(
            "passwd",
            "alice:x:1005:1005::/home/alice:/bin/sh\nbob:x:1006:1006::/home/bob:/bin/sh\n",
        )
        .write("group", "alice:x:1005:\nbob:x:1006:\n")
        .write("etc/subuid", "root:100000:65536\n")
        .write("etc/subgid", "root:100000:65536\n")
}

/// Issue 18: `apply --shift-rootfs` switches a stopped CT and shifts its root filesystem in the
/// same run, by the map it replaced: exactly uid and gid 1005 move (host 1007's entries, which
/// inference would take for a former passthrough's, stay), setuid bits, capabilities and ACLs
/// included; `--dry-run` and a second run change nothing.
#[test]
fn apply_shift_rootfs_switches_then_shifts_a_stopped_ct() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101_before_the_switch();
    let before = state(&t.path().join(ROOTFS));
    let want = moved(&before, &[(101005, 1005)], &[(101005, 1005)]);
    assert_ne!(want, before);
    let conf_before =
        std::fs::read_to_string(t.path().join("etc/pve/nodes/pve1/lxc/101.conf")).unwrap();

    let dry = t
        .args(["apply", "--dry-run", "--shift-rootfs"])
        .run()
        .success();
    assert_eq!(state(&rootfs(&dry)), before);
    assert_eq!(dry.read("etc/pve/nodes/pve1/lxc/101.conf"), conf_before);

    let run = rerun(dry, &["--format", "json", "apply", "--shift-rootfs"]).success();
    let json = run.json();
    assert_eq!(
        json["restart_required"],
        serde_json::json!([101]),
        "{json:#}"
    );
    assert!(
        run.read("etc/pve/nodes/pve1/lxc/101.conf")
            .contains("lxc.idmap: u 1005 1005 1\n")
    );
    let shifted = &json["shifted"][0];
    assert_eq!(
        moves(shifted),
        [
            ("uid".to_string(), 1005, 101005, 1005, 9),
            ("gid".to_string(), 1005, 101005, 1005, 10),
        ],
        "{json:#}"
    );
    assert_eq!(shifted["acl_entries"], 4, "{json:#}");
    assert_eq!(state(&rootfs(&run)), want);
    let record: serde_json::Value =
        serde_json::from_str(&run.read("etc/pve/idfed/managed/101.json")).unwrap();
    assert_eq!(record["switched"]["shifted"], true, "{record:#}");

    let again = rerun(run, &["apply", "--shift-rootfs"])
        .success()
        .stdout_has("no changes: node pve1 is in the desired state\n");
    assert_eq!(state(&rootfs(&again)), want);

    // Killed midway through the shift (after the switch, at the third owner change): the record
    // is not marked shifted, so the next run finishes it.
    let killed = ct101_before_the_switch()
        .args(["apply", "--shift-rootfs"])
        .under(&[
            "strace",
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=fchownat",
            "-e",
            "inject=fchownat:signal=KILL:when=3",
        ])
        .run()
        .killed();
    assert!(
        killed
            .read("etc/pve/nodes/pve1/lxc/101.conf")
            .contains("lxc.idmap: u 1005 1005 1\n")
    );
    assert_ne!(
        without_inodes(state(&rootfs(&killed))),
        without_inodes(want.clone())
    );
    let rerun = rerun(killed, &["--format", "json", "apply", "--shift-rootfs"]).success();
    assert_eq!(rerun.json()["restart_required"], serde_json::json!([]));
    assert_eq!(without_inodes(state(&rootfs(&rerun))), without_inodes(want));
}

/// A running CT is switched (its new map takes effect at its next start) but not shifted: the
/// run says what will show as nobody; a later run, once the CT is stopped, shifts it.
#[test]
fn apply_shift_rootfs_leaves_a_running_ct_for_a_later_run() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101_before_the_switch();
    let cgroup = t.path().join("sys/fs/cgroup/lxc/101");
    std::fs::create_dir_all(&cgroup).unwrap();
    let before = state(&t.path().join(ROOTFS));
    let run = t
        .args(["apply", "--shift-rootfs"])
        .run()
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_has(
            "CT 101: not shifted now: CT 101 is running (its cgroup `/sys/fs/cgroup/lxc/101` \
             exists): stop it first (`pct stop 101`), then shift; CT 101: files of uid 1005 (host \
             101005), files of gid 1005 (host 101005) will show as nobody after the switch; run \
             `idfed shift 101` while it is stopped\n",
        );
    assert_eq!(state(&rootfs(&run)), before);
    // Still running: said again, nothing changed.
    let run = rerun(run, &["-q", "apply", "--shift-rootfs"])
        .success()
        .stdout_has("CT 101: not shifted now: CT 101 is running");
    assert_eq!(state(&rootfs(&run)), before);
    // `pct stop 101`: the next run shifts it.
    std::fs::remove_dir(run.path().join("sys/fs/cgroup/lxc/101")).unwrap();
    let run = rerun(run, &["--format", "json", "apply", "--shift-rootfs"]).success();
    let json = run.json();
    assert_eq!(json["restart_required"], serde_json::json!([]), "{json:#}");
    assert_eq!(json["shifted"][0]["changed"], 11, "{json:#}");
    assert_eq!(
        state(&rootfs(&run)),
        moved(&before, &[(101005, 1005)], &[(101005, 1005)])
    );
}

/// Issue 18's speed, by what the kernel is asked (no timing): one listing of the extended
/// attributes per entry says which ACLs and capabilities there are to read, and an entry with
/// nothing to put back is changed by name with one `fchownat`, as `chown -R` does. Only the
/// three entries with set-id bits or capabilities are pinned by a handle (`O_PATH`), and only
/// the three ACLs there are read (before: a handle per moved entry, two ACL reads per directory
/// and one per other entry).
#[test]
fn shift_reads_and_pins_only_what_it_must() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101(CONF);
    let want = shifted(&state(&t.path().join(ROOTFS)));
    let trace = tempfile::NamedTempFile::new().unwrap();
    let calls = ["openat", "lgetxattr", "getxattr", "llistxattr", "fchownat"];
    let run = traced(t, trace.path().to_str().unwrap(), &calls)
        .run()
        .success();
    assert_eq!(state(&rootfs(&run)), want);
    let log = std::fs::read_to_string(trace.path()).unwrap();
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(count("O_PATH"), 3, "{log}");
    assert_eq!(count("lgetxattr("), 3, "{log}");
    let defaults = log
        .lines()
        .filter(|l| l.contains("lgetxattr(") && l.contains("posix_acl_default"))
        .count();
    assert_eq!(defaults, 1, "{log}");
    // Every entry but the symbolic links is listed once; every moved entry is one chown.
    assert_eq!(count("llistxattr("), 21, "{log}");
    assert_eq!(count("fchownat("), 12, "{log}");

    // `plan --scan-rootfs` counts owners only: no extended attribute is listed or read.
    let trace = tempfile::NamedTempFile::new().unwrap();
    ct101_before_the_switch()
        .args(["plan", "--scan-rootfs"])
        .under(&[
            "strace",
            "-f",
            "-qq",
            "-o",
            trace.path().to_str().unwrap(),
            "-e",
            "trace=llistxattr,lgetxattr,getxattr",
        ])
        .run()
        .success()
        .stdout_has("    moves uid 1005: host 101005 → 1005: 9 entries");
    let log = std::fs::read_to_string(trace.path()).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("xattr(")).count(),
        0,
        "{log}"
    );
}

/// A CT running through two switches wrote every file under the first map: the shift once it is
/// stopped moves the ids of both switches (by the record's `earlier` maps), not only the last
/// switch's (bob's 1006: alice's 1005 would stay at host 101005, `nobody` inside).
#[test]
fn apply_shift_rootfs_after_two_switches_moves_both() {
    if skip_without_root(SHIFT_NEEDS) {
        return;
    }
    let t = ct101_before_the_switch();
    std::fs::create_dir_all(t.path().join("sys/fs/cgroup/lxc/101")).unwrap();
    let before = state(&t.path().join(ROOTFS));
    let run = t
        .args(["apply", "--shift-rootfs"])
        .run()
        .success()
        .stdout_has("CT 101: not shifted now");
    let run = rerun(
        run.again()
            .write(
                "idfed.toml",
                &switched_config("users = [\"alice\", \"bob\"]"),
            )
            .run(),
        &["apply", "--shift-rootfs"],
    )
    .success()
    .stdout_has("files of uids 1005-1006 (host 101005-101006)");
    assert_eq!(state(&rootfs(&run)), before);
    std::fs::remove_dir(run.path().join("sys/fs/cgroup/lxc/101")).unwrap();
    let run = rerun(run, &["--format", "json", "apply", "--shift-rootfs"]).success();
    let json = run.json();
    assert_eq!(
        moves(&json["shifted"][0]),
        [
            ("uid".to_string(), 1005, 101005, 1005, 9),
            ("uid".to_string(), 1006, 101006, 1006, 4),
            ("gid".to_string(), 1005, 101005, 1005, 10),
            ("gid".to_string(), 1006, 101006, 1006, 2),
        ],
        "{json:#}"
    );
    let both = [(101005, 1005), (101006, 1006)];
    assert_eq!(state(&rootfs(&run)), moved(&before, &both, &both));
}
