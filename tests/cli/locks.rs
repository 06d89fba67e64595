//! Writers beside apply: shadow's own tools (`useradd`, `usermod` with `--prefix`, racing apply
//! on the same files), other applies on the same node (four at once), and locks held by others
//! (shadow's `<file>.lock` with a live or a dead holder, idfed's node lock).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::harness::{Test, skip_without_root};

/// `idfed -c ROOT/idfed.toml --root ROOT --node pve1 ARGS...`, run directly (several at once).
fn idfed(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idfed"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("-c")
        .arg(root.join("idfed.toml"))
        .arg("--root")
        .arg(root)
        .args(["--node", "pve1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "idfed failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What shadow's tools need under `--prefix ROOT`.
fn shadow_etc(root: &Path) {
    for (name, text) in [
        ("passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("group", "root:x:0:\n"),
        ("shadow", "root:*:19000:0:99999:7:::\n"),
        ("gshadow", "root:*::\n"),
        (
            "login.defs",
            "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n\
             SUB_UID_MIN 100000\nSUB_UID_MAX 600100000\nSUB_UID_COUNT 65536\n\
             SUB_GID_MIN 100000\nSUB_GID_MAX 600100000\nSUB_GID_COUNT 65536\n",
        ),
    ] {
        std::fs::write(root.join("etc").join(name), text).unwrap();
    }
}

/// Lets share `projects` of `check-healthy` pass through the users `f0..fN` (uids 2000 + i) as
/// well, so that the next apply adds `root:2000+N:1`.
fn share_users(root: &Path, n: usize) {
    let mut passwd = std::fs::read_to_string(root.join("passwd")).unwrap();
    passwd.push_str(&format!("f{n}:x:{}:{}::/:/bin/sh\n", 2000 + n, 2000 + n));
    std::fs::write(root.join("passwd"), passwd).unwrap();
    let users: Vec<String> = std::iter::once("\"alice\"".to_string())
        .chain((0..=n).map(|i| format!("\"f{i}\"")))
        .collect();
    let toml = std::fs::read_to_string(root.join("idfed.toml")).unwrap();
    let toml = toml
        .lines()
        .map(|l| {
            if l.starts_with("users = ") {
                format!("users = [{}]", users.join(", "))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(root.join("idfed.toml"), toml).unwrap();
}

/// The lines of `text` that occur more than once.
fn doubled(text: &str) -> Vec<&str> {
    let mut seen = BTreeMap::new();
    for l in text.lines() {
        *seen.entry(l).or_insert(0) += 1;
    }
    seen.into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(l, _)| l)
        .collect()
}

#[test]
fn useradd_and_usermod_racing_apply_lose_and_double_nothing() {
    if skip_without_root("useradd --prefix") {
        return;
    }
    let t = Test::new().fixture("check-healthy");
    let root = t.path().to_path_buf();
    shadow_etc(&root);
    let done = AtomicBool::new(false);
    const APPLIES: usize = 12;
    const EXTRA: usize = 500_000_000;
    let (users, added) = std::thread::scope(|s| {
        let shadow = s.spawn(|| {
            let mut users = 0;
            while !done.load(Ordering::SeqCst) || users < 12 {
                let name = format!("u{users}");
                // usermod's extra range lies far above the 65536-id ranges useradd hands out
                // from 100000 on (at 800000 it met u9's own range once ten users were made,
                // and usermod then added nothing).
                for args in [
                    vec!["useradd", "-M", &name],
                    vec![
                        "usermod",
                        "--add-subuids",
                        &format!("{}-{}", EXTRA + users * 10, EXTRA + 9 + users * 10),
                        &name,
                    ],
                ] {
                    let out = Command::new(args[0])
                        .arg("--prefix")
                        .arg(&root)
                        .args(&args[1..])
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{args:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                users += 1;
            }
            users
        });
        let mut added = Vec::new();
        for n in 0..APPLIES {
            share_users(&root, n);
            let out = ok(&idfed(&root, &["--format", "json", "apply", "--force"]));
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            let lines = json["subuid_added"].as_array().unwrap().clone();
            assert_eq!(lines.len(), 1, "apply {n} added {lines:?}");
            added.push(format!(
                "{}:{}:{}",
                lines[0]["owner"].as_str().unwrap(),
                lines[0]["start"],
                lines[0]["count"]
            ));
        }
        done.store(true, Ordering::SeqCst);
        (shadow.join().unwrap(), added)
    });
    let subuid = std::fs::read_to_string(root.join("etc/subuid")).unwrap();
    let subgid = std::fs::read_to_string(root.join("etc/subgid")).unwrap();
    assert_eq!(doubled(&subuid), Vec::<&str>::new(), "{subuid}");
    assert_eq!(doubled(&subgid), Vec::<&str>::new(), "{subgid}");
    // Every line apply added is there, once.
    for (n, line) in added.iter().enumerate() {
        assert_eq!(line, &format!("root:{}:1", 2000 + n));
        assert_eq!(subuid.lines().filter(|l| l == line).count(), 1, "{subuid}");
    }
    // Every user useradd made has its subuid and subgid range, usermod's range too.
    for u in 0..users {
        let name = format!("u{u}:");
        let extra = format!("u{u}:{}:10", EXTRA + u * 10);
        assert_eq!(
            subuid.lines().filter(|l| l.starts_with(&name)).count(),
            2,
            "{name} {subuid}"
        );
        assert!(subuid.lines().any(|l| l == extra), "{extra}: {subuid}");
        assert_eq!(
            subgid.lines().filter(|l| l.starts_with(&name)).count(),
            1,
            "{name} {subgid}"
        );
    }
    // No lock or pid file is left behind.
    let left: Vec<String> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".lock") && n != ".pwd.lock" || n.starts_with("subuid."))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// Every file of the tree at `root` that a run's outcome consists of (not the backups, not the
/// published state's time, not the locks).
fn outcome(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.ends_with("/backup") || rel.contains("idfed/nodes") || rel.starts_with("run") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn four_concurrent_applies_leave_what_one_leaves() {
    let one = Test::new().fixture("check-healthy");
    share_users(one.path(), 0);
    ok(&idfed(one.path(), &["apply", "--force"]));
    let want = outcome(one.path());
    assert!(
        String::from_utf8_lossy(&want["etc/subuid"]).contains("root:2000:1\n"),
        "the apply adds a line"
    );

    let four = Test::new().fixture("check-healthy");
    share_users(four.path(), 0);
    let outs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| idfed(four.path(), &["apply", "--force"])))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for out in &outs {
        ok(out);
    }
    let got = outcome(four.path());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert_eq!(
            String::from_utf8_lossy(&got[path]),
            String::from_utf8_lossy(bytes),
            "{path}"
        );
    }
}

#[test]
fn a_held_node_lock_makes_a_second_apply_exit_1_naming_it() {
    let t = Test::new().fixture("check-healthy");
    let lock = t.path().join("run/lock/idfed.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // util-linux flock(1) takes the same flock(2) (`-o`: its sleeping child does not inherit the
    // lock; both are killed as a group).
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(r#"exec flock -o "$1" sleep 60"#)
        .arg("sh")
        .arg(&lock)
        .process_group(0)
        .spawn()
        .unwrap();
    while std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .all(|l| !l.contains(&format!(" FLOCK  ADVISORY  WRITE {} ", holder.id())))
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let subuid = std::fs::read(t.path().join("etc/subuid")).unwrap();
    let run = t
        .at_root("pve1")
        .args(["apply", "--force", "--wait", "1"])
        .run()
        .failure()
        .stderr_has(&format!(
            "another idfed apply (PID {}) holds the node lock `{}` (waited 1.",
            holder.id(),
            lock.display()
        ));
    assert_eq!(
        std::fs::read(run.path().join("etc/subuid")).unwrap(),
        subuid
    );
    let group = rustix::process::Pid::from_raw(holder.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
    holder.wait().unwrap();
    // Released: the next run goes ahead.
    run.again()
        .at_root("pve1")
        .args(["apply", "--force"])
        .run()
        .success();
}

#[test]
fn shadow_locks_held_by_a_live_process_stop_apply_a_dead_ones_are_stale() {
    let t = Test::new().fixture("check-healthy");
    share_users(t.path(), 0);
    let lock = t.path().join("etc/subgid.lock");
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(&lock, format!("{}\0", sleeper.id())).unwrap();
    let before = outcome(t.path());
    let run = t
        .at_root("pve1")
        .args(["apply", "--force", "--wait", "1"])
        .run()
        .failure()
        .stderr_has(&format!(
            "`{}` is held by PID {} (waited 1.",
            lock.display(),
            sleeper.id()
        ));
    // Nothing written: subuid's lock was taken first and released; no CT was touched.
    let after = outcome(run.path());
    for path in [
        "etc/subuid",
        "etc/subgid",
        "etc/pve/nodes/pve1/lxc/101.conf",
    ] {
        assert_eq!(after[path], before[path], "{path}");
    }
    assert!(!run.path().join("etc/subuid.lock").exists());
    assert!(lock.exists());
    // The holder dies: its lock is stale, removed, and apply goes ahead.
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let run = run
        .again()
        .at_root("pve1")
        .args(["apply", "--force", "--wait", "1"])
        .run()
        .success();
    assert!(run.read("etc/subuid").contains("root:2000:1\n"));
    assert!(!lock.exists());
}
