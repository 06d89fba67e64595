//! plan, apply and emit over the `sync` fixture: two nodes (`pve1`, `pve2`) as two roots sharing
//! one `etc/pve`; share `projects` owned by alice (1005) and group research (3000: alice, bob).

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Run, Test, fixture_text, hold_config_lock, immutable, on};

fn sync() -> Test {
    Test::new().fixture("sync")
}

/// `t` after `idfed apply` ran on `node`: that node published its subid coverage, so the other
/// node's maps are no longer waiting for it (the rollout gate).
fn after(t: Test, node: &str) -> Test {
    on(t, node, &["apply"]).success().again()
}

fn conf(run: &Run, node: &str, vmid: u32) -> String {
    run.read(&format!("cluster/pve/nodes/{node}/lxc/{vmid}.conf"))
}

const WANT_101: &str = "\
lxc.idmap: u 0 100000 1005
lxc.idmap: u 1005 1005 2
lxc.idmap: u 1007 101007 64529
lxc.idmap: g 0 100000 1005
lxc.idmap: g 1005 1005 2
lxc.idmap: g 1007 101007 1993
lxc.idmap: g 3000 3000 1
lxc.idmap: g 3001 103001 62535
";

#[test]
fn plan_text_snapshot() {
    let run = on(sync(), "pve1", &["plan"]).success();
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn verbose_says_what_was_read_and_the_output_is_unchanged() {
    let quiet = on(sync(), "pve1", &["plan"]).success();
    let run = on(sync(), "pve1", &["-v", "plan"])
        .success()
        .stderr_has("idfed: cluster under `")
        .stderr_has("/pve1/etc/pve`: 2 nodes, ")
        .stderr_has("idfed: source `");
    assert_eq!(run.stdout(), quiet.stdout());
    assert!(
        !quiet.stderr().contains("idfed: source `"),
        "{}",
        quiet.stderr()
    );
}

#[test]
fn plan_json_snapshot_and_shape() {
    let run = on(sync(), "pve1", &["--format", "json", "plan"]).success();
    let json = run.json();
    let cts: Vec<u64> = json["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ct"].as_u64().unwrap())
        .collect();
    // 104 uses no share: never listed, never touched.
    assert_eq!(cts, [101, 102, 103, 201]);
    assert_eq!(json["groups"][0]["cts"], serde_json::json!([101, 102]));
    assert_eq!(
        json["nodes"]["pve1"]["subuid_add"],
        serde_json::json!([
            {"owner": "root", "start": 33, "count": 1},
            {"owner": "root", "start": 1005, "count": 2}
        ])
    );
    assert_eq!(
        json["containers"][2]["skipped"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("privileged")
    );
    insta::assert_json_snapshot!(json);
}

/// A subid owner other than root: its lines count by name or by its uid on the node (what
/// newuidmap accepts), so numeric lines written by hand are not added again by name.
#[test]
fn a_non_root_subid_owner_is_matched_by_name_or_uid() {
    let config = fixture_text("sync", "idfed.toml") + "\n[cluster]\nsubid_owner = \"lxcadm\"\n";
    let t = sync()
        .write("idfed.toml", &config)
        .write(
            "pve1/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nlxcadm:x:2000:2000::/home/lxcadm:/bin/sh\n",
        )
        .write(
            "pve1/etc/subuid",
            "2000:100000:65536\n2000:33:1\nlxcadm:1005:2\n",
        )
        .write(
            "pve1/etc/subgid",
            "lxcadm:100000:65536\n2000:33:1\n2000:1005:2\n2000:3000:1\n",
        );
    let run = on(t, "pve1", &["--format", "json", "plan"]).success();
    let json = run.json();
    assert_eq!(json["nodes"]["pve1"]["subuid_add"], serde_json::json!([]));
    assert_eq!(json["nodes"]["pve1"]["subgid_add"], serde_json::json!([]));
    // Without the uid (no passwd entry), the numeric lines do not count: lines by name.
    let run = on(
        run.again()
            .write("pve1/etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        "pve1",
        &["--format", "json", "plan"],
    )
    .success();
    assert_eq!(
        run.json()["nodes"]["pve1"]["subuid_add"],
        serde_json::json!([
            {"owner": "lxcadm", "start": 33, "count": 1},
            {"owner": "lxcadm", "start": 100000, "count": 1005},
            {"owner": "lxcadm", "start": 101007, "count": 64529}
        ])
    );
}

/// A mistyped filter is an error, not an empty plan; a CT without a share is said to be left
/// alone.
#[test]
fn plan_filters_that_match_nothing_say_so() {
    // The cluster's path as this run reads it: under `--root` as given (relative here), not
    // `/etc/pve` of the host.
    sync()
        .args(["-c", "idfed.toml", "--root", "pve1", "--node", "pve1"])
        .args(["plan", "--ct", "999"])
        .run()
        .failure()
        .stderr_is("idfed: error: CT 999 is not a container of the cluster under `pve1/etc/pve` (it has 5 CTs, from 101 to 201)\n");
    on(sync(), "pve1", &["plan", "--share", "project"])
        .failure()
        .stderr_has("unknown share `project` in `")
        .stderr_has("(did you mean `projects`?): expected one of `projects`");
    let run = on(sync(), "pve1", &["plan", "--ct", "104"])
        .success()
        .stderr_has(
            "idfed: note: CT 104 uses no share of the configuration: idfed leaves its map alone",
        );
    assert!(!run.stdout().contains("CT 104"), "{}", run.stdout());
}

#[test]
fn detailed_exitcode_is_2_with_changes() {
    on(sync(), "pve1", &["plan", "--detailed-exitcode"]).code(2);
}

#[test]
fn apply_on_both_nodes_converges_and_is_idempotent() {
    // pve1 alone: its subid lines, but its CTs wait for pve2 (which never published).
    let run = on(sync(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve2");
    assert_eq!(
        conf(&run, "pve1", 101),
        fixture_text("sync", "cluster/pve/nodes/pve1/lxc/101.conf")
    );
    // pve2 adds its lines, and switches 201: pve1 published coverage of its map.
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("CT 201: got its new map");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_has("pct reboot 101")
        .stdout_has("CT 103: skipped: privileged");
    // CT 101: the map replaces nothing (it had none) and goes at the end of the main section.
    assert_eq!(
        conf(&run, "pve1", 101),
        fixture_text("sync", "cluster/pve/nodes/pve1/lxc/101.conf") + WANT_101
    );
    // Other users' subid lines and comments are untouched; root's are appended, for every CT
    // of the cluster (CTs migrate): 201's foreign 33 too.
    assert_eq!(
        run.read("pve1/etc/subuid"),
        "root:100000:65536\nbackup:200000:65536\n# kept: a comment\nroot:33:1\nroot:1005:2\n"
    );
    assert_eq!(
        run.read("pve1/etc/subgid"),
        "root:100000:65536\nbackup:200000:65536\nroot:33:1\nroot:1005:2\nroot:3000:1\n"
    );
    // The foreign passthrough 33 is kept, and its subid lines are added on pve2.
    assert!(conf(&run, "pve2", 201).contains("lxc.idmap: u 33 33 1\n"));
    assert_eq!(
        run.read("pve2/etc/subuid"),
        "root:100000:65536\nroot:33:1\nroot:1005:2\n"
    );

    // Both nodes are now in the desired state.
    let run = on(run.again(), "pve1", &["plan", "--detailed-exitcode"]).success();
    let run = on(run.again(), "pve2", &["plan", "--detailed-exitcode"]).success();

    // Idempotence: a second apply writes no file at all.
    let snapshot = tree_state(run.path());
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("no changes: node pve1 is in the desired state");
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("no changes");
    assert_eq!(
        tree_state(run.path()),
        snapshot,
        "a second apply rewrote files"
    );
}

/// Every file under `dir` with its content and modification time, except idfed's run state and
/// the published node states (a heartbeat: every apply refreshes its time).
fn tree_state(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ty = e.file_type().unwrap();
            let p = e.path();
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file()
                && !p.ends_with("var/lib/idfed/state.json")
                && !p.parent().unwrap().ends_with("idfed/nodes")
            {
                let meta = e.metadata().unwrap();
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                    meta.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn untouched_cts_stay_byte_identical() {
    let t = sync().write(
        "cluster/pve/nodes/pve1/lxc/102.conf",
        &(fixture_text("sync", "cluster/pve/nodes/pve1/lxc/102.conf").replacen(
            "arch: amd64\n",
            "arch: amd64\nlock: backup\n",
            1,
        )),
    );
    let before_102 = std::fs::read(t.path().join("cluster/pve/nodes/pve1/lxc/102.conf")).unwrap();
    let run = on(t, "pve1", &["apply"])
        .success()
        .stdout_has("CT 102: skipped: locked (`lock: backup`)");
    assert_eq!(conf(&run, "pve1", 102).into_bytes(), before_102);
    for vmid in [103, 104] {
        assert_eq!(
            conf(&run, "pve1", vmid),
            fixture_text("sync", &format!("cluster/pve/nodes/pve1/lxc/{vmid}.conf"))
        );
    }
    // A locked CT keeps the plan pending.
    on(run.again(), "pve1", &["plan", "--detailed-exitcode"]).code(2);
}

#[test]
fn apply_rewrites_only_the_main_section() {
    let run = on(after(sync(), "pve2"), "pve1", &["apply"]).success();
    let text = conf(&run, "pve1", 102);
    let (main, snapshot) = text.split_once("\n[before-upgrade]\n").unwrap();
    assert!(main.contains("lxc.idmap: u 1005 1005 2\n"), "{main}");
    // The old lines' place is kept: the map is where the old lines were, before the blank line.
    assert!(main.ends_with("lxc.idmap: g 3001 103001 62535\n"), "{main}");
    let fixture = fixture_text("sync", "cluster/pve/nodes/pve1/lxc/102.conf");
    assert_eq!(
        snapshot,
        fixture.split_once("\n[before-upgrade]\n").unwrap().1
    );
    // The old content is kept as a backup.
    let backups = run.path().join("pve1/var/lib/idfed/backup");
    let stamp = std::fs::read_dir(&backups)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(stamp.join("etc/pve/nodes/pve1/lxc/102.conf")).unwrap(),
        fixture
    );
}

#[test]
fn dry_run_writes_nothing() {
    let t = sync();
    let before = tree_state(t.path());
    let run = on(t, "pve1", &["apply", "--dry-run"])
        .success()
        .stdout_has("would add root:33:1, root:1005:2")
        .stdout_has("CT 101: waiting for pve2")
        .stdout_lacks("published");
    assert_eq!(tree_state(run.path()), before);
    assert!(!run.path().join("cluster/pve/idfed").exists());
    // Once pve2 published, the dry run says what a real run would switch, and still writes nothing.
    let t = after(run.again(), "pve2");
    let before = tree_state(t.path());
    let run = on(t, "pve1", &["apply", "--dry-run"])
        .success()
        .stdout_has("CT 101: would get its new map");
    assert_eq!(tree_state(run.path()), before);
}

#[test]
fn failure_mid_apply_leaves_files_old_or_new_and_the_next_run_converges() {
    let t = after(sync(), "pve2");
    let blocked = t.path().join("cluster/pve/nodes/pve1/lxc/102.conf");
    if crate::harness::skip_without_root("the failure-injection test (chattr +i)") {
        return;
    }
    immutable(&blocked, true);
    let run = on(t, "pve1", &["apply"]);
    immutable(&blocked, false);
    let run = run
        .failure()
        .stdout_has("error: CT 102")
        .stderr_has("1 failure(s), after the report above:\n  CT 102: ");
    // 101 is new, 102 is old, and neither has a temporary file beside it.
    assert!(conf(&run, "pve1", 101).ends_with(WANT_101));
    assert_eq!(
        conf(&run, "pve1", 102),
        fixture_text("sync", "cluster/pve/nodes/pve1/lxc/102.conf")
    );
    let names: Vec<String> = std::fs::read_dir(run.path().join("cluster/pve/nodes/pve1/lxc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".conf")), "{names:?}");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 102: got its new map");
    assert!(conf(&run, "pve1", 102).contains("lxc.idmap: u 1005 1005 2\n"));
}

/// Runs idfed inside a private mount namespace (`unshare -m`) after `script` (sh, with `$0` the
/// temp dir) prepared its mounts: they vanish with the run.
fn in_mount_ns(t: Test, script: &str) -> Test {
    let dir = t.path().to_str().unwrap().to_string();
    let script = format!("{script} && exec \"$@\"");
    t.under(&[
        "unshare",
        "-m",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        &script,
        &dir,
    ])
}

/// pmxcfs without quorum: `/etc/pve` read-only (a read-only bind mount). apply says so before
/// writing anything, anywhere, and still prints its report; exit 1.
#[test]
fn a_read_only_etc_pve_is_found_before_anything_is_written() {
    if crate::harness::skip_without_root("mount namespaces") {
        return;
    }
    // A temporary a killed run left in pve1's writable /etc: removing it is a write too, so it
    // waits for the probe.
    let t = after(sync(), "pve2").write("pve1/etc/.subuid.idfed-2147483647.tmp", "");
    let (before, stale) = files_of(t.path());
    assert_eq!(stale, ["pve1/etc/.subuid.idfed-2147483647.tmp"]);
    let t = in_mount_ns(
        t,
        r#"mount --bind "$0/cluster/pve" "$0/cluster/pve" && mount -o remount,bind,ro "$0/cluster/pve""#,
    );
    let run = on(t, "pve1", &["--format", "json", "apply"])
        .failure()
        .stderr_has("is `/etc/pve` read-only (no quorum?); nothing was written there");
    let json = run.json();
    assert_eq!(json["node"], "pve1");
    assert_eq!(json["errors"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["published"], serde_json::Value::Null);
    let unlocked = |mut files: BTreeMap<String, String>| {
        files.retain(|path, _| !path.contains("run/lock"));
        files
    };
    let (files, tmps) = files_of(run.path());
    assert_eq!(unlocked(files), unlocked(before));
    assert_eq!(tmps, stale);
    // Text: the report (nothing done), then the failure.
    let run = on(
        in_mount_ns(
            run.again(),
            r#"mount --bind "$0/cluster/pve" "$0/cluster/pve" && mount -o remount,bind,ro "$0/cluster/pve""#,
        ),
        "pve1",
        &["apply"],
    )
    .failure();
    assert!(
        run.stdout()
            .ends_with("no quorum?); nothing was written there\n"),
        "{}",
        run.stdout()
    );
}

/// A full disk under the CT configs (a tiny tmpfs, filled): the subid lines and the records are
/// written, the configs stay old, and the whole report is printed before the failures; exit 1.
/// The next run, with room again, converges.
#[test]
fn a_full_disk_keeps_the_report_and_old_files() {
    if crate::harness::skip_without_root("mount namespaces") {
        return;
    }
    let t = after(sync(), "pve2");
    let lxc = "cluster/pve/nodes/pve1/lxc";
    let old_101 = std::fs::read_to_string(t.path().join(lxc).join("101.conf")).unwrap();
    let t = in_mount_ns(
        t,
        &format!(
            // cd after mounting (a cwd stays on the directory under the mount); the fill is
            // bounded and written only once the directory is the tmpfs.
            r#"d="$0/{lxc}" && mkdir "$d.saved" && cp -a "$d/." "$d.saved" && mount -t tmpfs -o size=64k tmpfs "$d" && cd "$d" && [ "$(stat -f -c %T .)" = tmpfs ] && cp -a "$d.saved/." . && rm -r "$d.saved" && (dd if=/dev/zero of=fill bs=4k count=64 2>/dev/null; true)"#
        ),
    );
    let run = on(t, "pve1", &["apply"]).failure();
    let stdout = run.stdout();
    assert!(
        stdout.contains("pve1: /etc/subuid: added root:33:1, root:1005:2\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("published this node's subid coverage"),
        "{stdout}"
    );
    assert!(stdout.contains("error: CT 101: "), "{stdout}");
    assert!(stdout.contains("No space left on device"), "{stdout}");
    // The failures come last.
    let first_error = stdout.find("error: ").unwrap();
    assert!(
        !stdout[first_error..]
            .lines()
            .any(|l| !l.starts_with("error: ")),
        "{stdout}"
    );
    let run = run.stderr_has("failure(s), after the report above:");
    // The tmpfs is gone with the namespace: the configs on disk are the old ones.
    assert_eq!(conf(&run, "pve1", 101), old_101);
    assert!(run.read("pve1/etc/subuid").contains("root:1005:2\n"));
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map");
    assert!(conf(&run, "pve1", 101).ends_with(WANT_101));
}

/// Every file of a tree by path, but the backups and the nodes' published states (which hold
/// times); and the idfed temporaries (`.NAME.idfed-PID.tmp`) outside the backups.
fn files_of(dir: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>, tmps: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.contains("var/lib/idfed/backup") {
                continue;
            }
            let ty = entry.file_type().unwrap();
            if ty.is_dir() {
                walk(root, &path, files, tmps);
            } else if ty.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.contains(".idfed-") && name.ends_with(".tmp") {
                    tmps.push(rel);
                } else if !rel.contains("idfed/nodes/") {
                    files.insert(rel, std::fs::read_to_string(&path).unwrap());
                }
            }
        }
    }
    let (mut files, mut tmps) = (BTreeMap::new(), Vec::new());
    walk(dir, dir, &mut files, &mut tmps);
    (files, tmps)
}

/// A real SIGKILL at every rename, write and fsync of an apply that switches two CTs (strace
/// injects it at the Nth such system call): each CT config and subid file is then its old or
/// its new self, and the next run ends where an uninterrupted run ends, leaving no temporary.
#[test]
fn killed_at_any_step_the_next_run_converges() {
    assert!(
        std::process::Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "this test kills idfed with strace's fault injection: install strace (as .ci/run does)"
    );
    let steps = ["rename,renameat,renameat2", "write", "fsync,fdatasync"];
    let reference = on(after(sync(), "pve2"), "pve1", &["apply"]).success();
    let (want, _) = files_of(reference.path());
    let before_run = after(sync(), "pve2");
    let (before, _) = files_of(before_run.path());
    let watched = [
        "pve1/etc/subuid",
        "pve1/etc/subgid",
        "cluster/pve/nodes/pve1/lxc/101.conf",
        "cluster/pve/nodes/pve1/lxc/102.conf",
    ];
    for w in watched {
        assert_ne!(before.get(w), want.get(w), "{w}: the run must change it");
    }
    // How many of each system call an uninterrupted run makes.
    let counted = tempfile::NamedTempFile::new().unwrap();
    let trace = counted.path().to_str().unwrap();
    on(
        before_run.under(&[
            "strace",
            "-f",
            "-qq",
            "-o",
            trace,
            "-e",
            "trace=rename,renameat,renameat2,write,fsync,fdatasync",
        ]),
        "pve1",
        &["apply"],
    )
    .success();
    let log = std::fs::read_to_string(counted.path()).unwrap();
    let mut tried = 0;
    // Kill points after which a `.NAME.idfed-PID.tmp` was left: the next run must remove them,
    // so some kill point has to leave one for that to be tested at all.
    let mut left_temporaries = 0;
    for calls in steps {
        let count = log
            .lines()
            .filter(|l| calls.split(',').any(|c| l.contains(&format!(" {c}("))))
            .count();
        assert!(count > 0, "no {calls} in:\n{log}");
        for n in 1..=count {
            let inject = format!("inject={calls}:signal=KILL:when={n}");
            let killed = on(
                after(sync(), "pve2").under(&[
                    "strace",
                    "-f",
                    "-qq",
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={calls}"),
                    "-e",
                    &inject,
                ]),
                "pve1",
                &["apply"],
            )
            .killed();
            let (now, left) = files_of(killed.path());
            if !left.is_empty() {
                left_temporaries += 1;
            }
            for w in watched {
                assert!(
                    now.get(w) == before.get(w) || now.get(w) == want.get(w),
                    "killed at {calls} #{n}: {w} is neither old nor new:\n{:?}",
                    now.get(w)
                );
            }
            let recovered = on(killed.again(), "pve1", &["apply"]).success();
            let (now, tmps) = files_of(recovered.path());
            assert_eq!(now, want, "killed at {calls} #{n}, then one more run");
            assert_eq!(tmps, Vec::<String>::new(), "killed at {calls} #{n}");
            tried += 1;
        }
    }
    assert!(tried >= 30, "only {tried} kill points");
    assert!(
        left_temporaries > 0,
        "none of the {tried} kill points left a temporary file for the next run to remove"
    );
}

#[test]
fn shrink_guard_holds_then_allows() {
    let run = on(after(sync(), "pve2"), "pve1", &["apply"]).success();
    // The group loses its members (a truncated file, a directory outage): 5 ids → 3.
    let t = run
        .again()
        .write(
            "group",
            &fixture_text("sync", "group").replace("research:x:3000:alice,bob", "research:x:3000:"),
        )
        .write("passwd", &fixture_text("sync", "passwd"));
    let run = on(t, "pve1", &["plan"])
        .success()
        .stdout_has("share `projects` shrank from 5 to 3 owners (-40%) and from 5 to 3 ids")
        .stdout_has("once accepted, CT 101 on pve1 loses uids 1006, gids 1006");
    let run = on(run.again(), "pve1", &["apply"])
        .failure()
        .stderr_has("`idfed apply --allow-shrink projects`");
    assert!(conf(&run, "pve1", 101).contains("lxc.idmap: u 1005 1005 2\n"));
    let run = on(run.again(), "pve1", &["apply", "--allow-shrink"])
        .success()
        .stderr_has("accepted by --allow-shrink");
    assert!(conf(&run, "pve1", 101).contains("lxc.idmap: u 1005 1005 1\n"));
}

#[test]
fn adopted_ids_stay_until_released() {
    let run = on(sync(), "pve2", &["plan"])
        .success()
        .stdout_has("keeps foreign uids 33, gids 33")
        .stdout_has("`idfed plan --adopt` shows adopting them");
    // plan --adopt shows exactly what adopting does, and writes nothing.
    let run = on(
        after(run.again(), "pve1"),
        "pve2",
        &["plan", "--adopt", "--ct", "201"],
    )
    .success()
    .stdout_has(
        "adopts foreign uids 33, gids 33: idfed's from now on, kept whatever the shares say \
             until released (`idfed apply --release 201`)",
    )
    .stdout_lacks("keeps foreign");
    assert!(
        !run.path()
            .join("cluster/pve/idfed/managed/201.json")
            .exists()
    );
    let run = on(
        run.again(),
        "pve2",
        &["--format", "json", "plan", "--adopt"],
    )
    .success();
    let json = run.json();
    let c = crate::harness::finding(&json, "containers", |c| c["ct"] == 201);
    assert_eq!(
        c["adopting_uids"],
        serde_json::json!([{"start": 33, "count": 1}])
    );
    assert_eq!(
        c["adopted_gids"],
        serde_json::json!([{"start": 33, "count": 1}])
    );

    let run = on(run.again(), "pve2", &["apply", "--adopt"]).success();
    let record: serde_json::Value =
        serde_json::from_str(&run.read("cluster/pve/idfed/managed/201.json")).unwrap();
    let ids_33 = serde_json::json!([{"start": 33, "count": 1}]);
    assert_eq!(record["adopted_uids"], ids_33, "{record}");
    assert_eq!(record["adopted_gids"], ids_33, "{record}");
    // The timer's plain apply keeps them.
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("no changes");
    let map = conf(&run, "pve2", 201);
    assert!(
        map.contains("lxc.idmap: u 33 33 1\n") && map.contains("lxc.idmap: g 33 33 1\n"),
        "{map}"
    );
    let run = on(run.again(), "pve2", &["plan", "-v", "--ct", "201"])
        .success()
        .stdout_has("keeps adopted uids 33, gids 33 (whatever the shares say, until `idfed apply --release 201`)")
        .stdout_lacks("foreign")
        .stdout_lacks("drops");
    let run = on(run.again(), "pve2", &["report", "--ct", "201"])
        .success()
        .stdout_has("adopted: uids 33, gids 33 (kept until `idfed apply --release 201`)");
    let run = on(run.again(), "pve2", &["report", "--owner", "33"])
        .success()
        .stdout_has("CT 201 on pve2 can act as uid 33: adopted passthrough");
    let run = on(run.again(), "pve2", &["--format", "json", "check"]).success();
    let json = run.json();
    let f = crate::harness::finding(&json, "warnings", |f| {
        f["code"] == "exposure" && f["ct"] == 201
    });
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("(adopted: uids 33, gids 33)"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("`idfed apply --release 201` on pve2"),
        "{f}"
    );

    // Releasing what is not adopted is an error that changes nothing.
    let run = on(run.again(), "pve2", &["apply", "--release", "201:u:34"])
        .failure()
        .stderr_has("--release `201:u:34`: CT 201 has no such adopted passthrough (adopted: uids 33, gids 33)");
    let run = on(run.again(), "pve2", &["apply", "--release", "x"])
        .failure()
        .stderr_has("`x` is not a VMID");
    // Released, uid 33 is up to the shares again (none owns it: removed); gid 33 stays adopted.
    let run = on(
        run.again(),
        "pve2",
        &["plan", "--release", "201:u:33", "--ct", "201"],
    )
    .success()
    .stdout_has("releases adopted uids 33 (kept while a share owns them, removed when none does)")
    .stdout_has("drops uids 33")
    .stdout_has("keeps adopted gids 33");
    let run = on(run.again(), "pve2", &["apply", "--release", "201:u:33"])
        .success()
        .stdout_has("CT 201: got its new map");
    let map = conf(&run, "pve2", 201);
    assert!(!map.contains("lxc.idmap: u 33 33 1\n"), "{map}");
    assert!(map.contains("lxc.idmap: g 33 33 1\n"), "{map}");
    on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("no changes");
}

#[test]
fn plan_share_shows_onboarding_gains() {
    let run = on(
        sync(),
        "pve1",
        &["plan", "--share", "projects", "--ct", "101"],
    )
    .success();
    let out = run.stdout();
    // CT 101 gains all of the share's owners: they are listed once, and the CT refers to them.
    assert!(
        out.contains("owners of share projects: user alice (1005), user bob (1006)"),
        "{out}"
    );
    assert!(
        out.contains("gains: every owner of share projects"),
        "{out}"
    );
    assert!(!out.contains("102"), "{out}");
    on(run.again(), "pve1", &["plan", "--share", "nope"])
        .failure()
        .stderr_has("unknown share `nope`");
}

#[test]
fn emit_writes_bundles_and_keeps_other_files() {
    let t = sync().write("out/README", "mine\n");
    let run = on(t, "pve1", &["emit", "--out", "{root}/out"]).success();
    assert_eq!(run.read("out/README"), "mine\n");
    for node in ["pve1", "pve2"] {
        assert_eq!(
            run.read(&format!("out/{node}/subuid")),
            "root:33:1\nroot:1005:2\n"
        );
        assert_eq!(
            run.read(&format!("out/{node}/subgid")),
            "root:33:1\nroot:1005:2\nroot:3000:1\n"
        );
    }
    assert_eq!(run.read("out/pve1/lxc/101.idmap"), WANT_101);
    assert!(
        run.read("out/pve2/lxc/201.idmap")
            .contains("lxc.idmap: u 33 33 1\n")
    );
    assert!(
        !run.path().join("out/pve1/lxc/103.idmap").exists(),
        "privileged CTs get no map"
    );
    let plan: serde_json::Value = serde_json::from_str(&run.read("out/plan.json")).unwrap();
    assert_eq!(plan["groups"][0]["cts"], serde_json::json!([101, 102]));
    // Emitting again changes nothing.
    on(run.again(), "pve1", &["emit", "--out", "{root}/out"])
        .success()
        .stdout_has("every bundle file is up to date");
}

/// The real thing: after `apply`, a real unprivileged container started with the `lxc.idmap`
/// lines idfed wrote into CT 101's config and the node's applied subuid/subgid (bound over the
/// system's in a private mount namespace) writes as the share's owners.
#[test]
fn applied_map_starts_a_real_container_that_writes_as_the_owners() {
    use crate::lxc::{Container, as_user, idmap_lines, owner, run_container, shared_dir};

    if crate::harness::skip_without_root("the LXC test") {
        return;
    }
    let run = on(after(sync(), "pve2"), "pve1", &["apply"]).success();
    let idmap = idmap_lines(&conf(&run, "pve1", 101));
    assert_eq!(idmap.join("\n") + "\n", WANT_101);
    let share = shared_dir();
    let spec = Container::new(&idmap)
        .subids(&run.read("pve1/etc/subuid"), &run.read("pve1/etc/subgid"))
        .user("alice", 1005, 1005)
        .user("bob", 1006, 1006)
        .user("carol", 1007, 1007)
        .group("research", 3000, &["alice", "bob"])
        .host_dir(share.path())
        .script(&format!(
            "{} && {} && {} && touch /shared/group && chown 0:3000 /shared/group",
            as_user("alice", "touch /shared/alice"),
            as_user("bob", "touch /shared/bob"),
            as_user("carol", "touch /shared/carol"),
        ));
    run_container(&spec).unwrap();
    assert_eq!(owner(&share.path().join("alice")), (1005, 1005));
    assert_eq!(owner(&share.path().join("bob")), (1006, 1006));
    // carol owns no share: she lands in the base range.
    assert_eq!(owner(&share.path().join("carol")), (101_007, 101_007));
    // The group owner's gid passes through.
    assert_eq!(owner(&share.path().join("group")), (100_000, 3000));

    // Without the lines apply added, the same map cannot start (newuidmap refuses it).
    let bare = Container::new(&idmap)
        .subids("root:100000:65536\n", "root:100000:65536\n")
        .host_dir(share.path());
    let err = run_container(&bare).unwrap_err();
    assert!(err.contains("not allowed"), "{err}");
}

/// apply takes PVE's config lock: while another process holds CT 101's lock, apply waits for it.
#[test]
fn apply_waits_for_the_pve_config_lock() {
    let t = after(sync(), "pve2");
    let file = hold_config_lock(&t, "pve1", 101);
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(file);
    });
    let started = std::time::Instant::now();
    let run = on(t, "pve1", &["apply"]).success();
    let waited = started.elapsed();
    holder.join().unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(1400),
        "apply did not wait for the lock ({waited:?})"
    );
    assert!(conf(&run, "pve1", 101).ends_with(WANT_101));
}

/// A config lock held past PVE's 10 s: CT 101 fails, named once (regression: `error: CT 101:
/// CT 101: config lock ...`, the engine and the lock error both naming it), and CT 102 is
/// still switched.
#[test]
fn a_config_lock_held_too_long_fails_that_ct_named_once() {
    let t = after(sync(), "pve2");
    let file = hold_config_lock(&t, "pve1", 101);
    let run = on(t, "pve1", &["apply"])
        .failure()
        .stdout_has("error: CT 101: config lock `")
        .stderr_has("idfed: error: 1 failure(s), after the report above:\n  CT 101: config lock `")
        .stdout_lacks("CT 101: CT 101")
        .stderr_lacks("CT 101: CT 101");
    drop(file);
    assert!(conf(&run, "pve1", 102).contains("lxc.idmap: u 1005 1005 2\n"));
    assert!(!conf(&run, "pve1", 101).contains("lxc.idmap: u 1005 1005 2\n"));
}

#[test]
fn apply_json_says_what_it_did() {
    let run = on(
        after(sync(), "pve2"),
        "pve1",
        &["--format", "json", "apply"],
    )
    .success();
    let json = run.json();
    assert_eq!(json["waiting"], serde_json::json!([]));
    assert!(
        json["published"]
            .as_str()
            .unwrap()
            .ends_with("idfed/nodes/pve1.json")
    );
    assert_eq!(json["node"], "pve1");
    assert_eq!(json["restart_required"], serde_json::json!([101, 102]));
    assert_eq!(
        json["subgid_added"],
        serde_json::json!([
            {"owner": "root", "start": 33, "count": 1},
            {"owner": "root", "start": 1005, "count": 2},
            {"owner": "root", "start": 3000, "count": 1}
        ])
    );
    assert_eq!(json["skipped"][0]["ct"], 103);
    assert_eq!(json["errors"], serde_json::json!([]));
}

/// A share may name an `nfs:` storage of storage.cfg instead of a path: its `path` is used.
#[test]
fn share_by_storage_plans_like_share_by_path() {
    let by_path = on(sync(), "pve1", &["--format", "json", "plan"])
        .success()
        .json();
    let config = fixture_text("sync", "idfed.toml")
        .replace("path = \"/mnt/pve/projects\"", "storage = \"projects\"");
    assert!(config.contains("storage = \"projects\""));
    let run = on(
        sync().write("idfed.toml", &config),
        "pve1",
        &["--format", "json", "plan"],
    )
    .success();
    assert_eq!(run.json(), by_path);
    // An unknown storage is an error that names it and what exists.
    let bad = config.replace("storage = \"projects\"", "storage = \"projets\"");
    on(run.again().write("idfed.toml", &bad), "pve1", &["plan"])
        .failure()
        .stderr_has("share `projects`: storage `projets` is not in storage.cfg")
        .stderr_has("`local`, `projects`");
}

/// Issue 14: CT 101's config copied to pve2 as well (a broken copy). Its shares were merged into
/// the first node's CT; now the vmid is an error naming both files, neither file is touched, and
/// the other CTs are still applied.
#[test]
fn a_vmid_on_two_nodes_is_an_error_and_left_alone() {
    let copy = fixture_text("sync", "cluster/pve/nodes/pve1/lxc/101.conf")
        .replace("/mnt/pve/projects/data", "/mnt/pve/projects/other");
    let t = sync().write("cluster/pve/nodes/pve2/lxc/101.conf", &copy);
    let both = "/etc/pve/nodes/pve1/lxc/101.conf: its VMID is also configured in \
                /etc/pve/nodes/pve2/lxc/101.conf";
    let run = on(t, "pve2", &["apply"]).failure().stderr_has(both);
    let run = on(run.again(), "pve1", &["apply"])
        .failure()
        .stderr_has("CT 101 on pve1: ")
        .stderr_has(both)
        .stdout_has("CT 102: got its new map");
    let run = on(run.again(), "pve2", &["apply"])
        .failure()
        .stdout_has("CT 201: got its new map")
        .stdout_lacks("CT 101:");
    assert_eq!(
        conf(&run, "pve1", 101),
        fixture_text("sync", "cluster/pve/nodes/pve1/lxc/101.conf")
    );
    assert_eq!(conf(&run, "pve2", 101), copy);
    // plan leaves it out and says why; check reports it with the fix.
    let run = on(run.again(), "pve1", &["--format", "json", "plan"]).success();
    let cts = run.json()["containers"].clone();
    assert!(
        cts.as_array().unwrap().iter().all(|c| c["ct"] != 101),
        "{cts}"
    );
    let run = on(run.again(), "pve1", &["--format", "json", "check"]).code(2);
    let json = run.json();
    let found: Vec<_> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "vmid-duplicate")
        .map(|f| (f["node"].as_str().unwrap(), f["ct"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, [("pve1", 101), ("pve2", 101)], "{json}");
    let f = crate::harness::finding(&json, "problems", |f| {
        f["code"] == "vmid-duplicate" && f["node"] == "pve1"
    });
    assert_eq!(
        f["message"],
        "CT 101 on pve1: /etc/pve/nodes/pve1/lxc/101.conf and /etc/pve/nodes/pve2/lxc/101.conf \
         configure the same VMID (a copy left behind?): idfed plans and applies neither until \
         one is gone"
    );
    on(run.again(), "pve1", &["report", "--ct", "101"])
        .failure()
        .stderr_has(both);
}

/// Issue 15: `managed/<vmid>.json` outlived `pct destroy`, and a new CT under the same VMID lost
/// a hand-written passthrough of an id the old CT had from idfed ("drops uids 2001").
#[test]
fn a_recreated_vmid_inherits_nothing_from_the_destroyed_ct() {
    let config = fixture_text("sync", "idfed.toml");
    let t = sync().write("idfed.toml", &format!("{config}uids = [2001]\n"));
    let run = on(after(t, "pve2"), "pve1", &["apply"]).success();
    assert!(conf(&run, "pve1", 101).contains("lxc.idmap: u 2001 2001 1\n"));
    // `pct destroy 101`, the raw id leaves the share, `pct create 101` with a hand-written
    // passthrough of 2001.
    let reborn = "\
arch: amd64
hostname: reborn
mp0: /mnt/pve/projects/data,mp=/data,shared=1
rootfs: local-lvm:vm-101-disk-0,size=8G
unprivileged: 1
lxc.idmap: u 0 100000 2001
lxc.idmap: u 2001 2001 1
lxc.idmap: u 2002 102002 63534
lxc.idmap: g 0 100000 65536
";
    let t = run
        .again()
        .write("idfed.toml", &config)
        .write("cluster/pve/nodes/pve1/lxc/101.conf", reborn);
    let run = on(t, "pve1", &["plan", "--ct", "101"])
        .success()
        .stderr_has("CT 101: idfed's record lists uids 1005-1006")
        .stdout_has("keeps foreign uids 2001")
        .stdout_lacks("drops");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: dropped idfed's record of it: its map no longer holds what it lists");
    let conf = conf(&run, "pve1", 101);
    assert!(conf.contains("lxc.idmap: u 2001 2001 1\n"), "{conf}");
    assert!(conf.contains("lxc.idmap: u 1005 1005 2\n"), "{conf}");
    // Not idfed's (the record also keeps the map it replaced, which held 2001: issue 18).
    let record: serde_json::Value =
        serde_json::from_str(&run.read("cluster/pve/idfed/managed/101.json")).unwrap();
    assert_eq!(
        record["uids"],
        serde_json::json!([{"start": 1005, "count": 2}]),
        "{record:#}"
    );
    assert!(
        record["switched"]["old"]
            .as_array()
            .unwrap()
            .contains(&"u 2001 2001 1".into()),
        "{record:#}"
    );
    // The new record is the new CT's: the next run trusts it, keeps 2001, says nothing more.
    on(run.again(), "pve1", &["apply"])
        .success()
        .stderr_lacks("record")
        .stdout_has("no changes");
}

/// A record whose CT exists on no node is removed, by any node: here pve2, which never held it.
#[test]
fn a_record_of_a_ct_on_no_node_is_removed_by_any_node() {
    let run = on(after(sync(), "pve2"), "pve1", &["apply"]).success();
    assert!(
        run.path()
            .join("cluster/pve/idfed/managed/101.json")
            .exists()
    );
    std::fs::remove_file(run.path().join("cluster/pve/nodes/pve1/lxc/101.conf")).unwrap();
    let run = on(run.again(), "pve2", &["apply", "--dry-run"])
        .success()
        .stderr_has("CT 101 exists on no node")
        .stdout_has("CT 101: would drop idfed's record of it: the CT exists on no node");
    assert!(
        run.path()
            .join("cluster/pve/idfed/managed/101.json")
            .exists()
    );
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("CT 101: dropped idfed's record of it");
    assert!(
        !run.path()
            .join("cluster/pve/idfed/managed/101.json")
            .exists()
    );
    assert!(
        run.path()
            .join("cluster/pve/idfed/managed/102.json")
            .exists()
    );
}
