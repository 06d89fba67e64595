//! `idfed scan`: an export built by the test on a tmpfs in a private mount namespace (`unshare
//! -m`), so that sizes are exact and nothing leaks to the machine: files of owners, a non-owner,
//! an unknown id, root, container ids 101005 and 103000, a symbolic link loop, a tmpfs mounted
//! inside (not entered), and a directory root cannot read. Root reads everything, so idfed runs
//! under `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: the 0700 directory of another
//! user is then unreadable, as it is to root on an NFS export that squashes root. Without
//! CAP_CHOWN too, a `chown` fails with EPERM as on such an export. `find` (with every capability)
//! lists each entry's owner before and after, as the independent witness of what changed.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::{Run, files_test, skip_without_root};

/// Builds the export under `$ROOT/mnt/pve/projects` and runs the steps; `$1` is idfed.
const SCRIPT: &str = r#"
set -eu
BIN=$1
E="$ROOT/mnt/pve/projects"
mkdir -p "$E"
mount -t tmpfs -o mode=0755 export "$E"
cd "$E"
mkdir -p alice/deep bob misc ct research private scratch
printf '%0100d' 0 > alice/notes.txt
printf '%01000d' 0 > alice/deep/data.bin
chown 1005:1005 alice alice/deep alice/deep/data.bin
chown 1005:3000 alice/notes.txt
printf '%0500d' 0 > bob/report.pdf
printf '%07d' 0 > bob/other
chown 1006:100 bob bob/report.pdf
chown 4242:4242 bob/other
printf '%0300d' 0 > misc/blob
chown 4242:4242 misc/blob
printf '%064d' 0 > ct/written
printf '%032d' 0 > ct/other
ln -s ../bob/other ct/link
chown 101005:103000 ct/written
chmod 4755 ct/written
chown 103000:103000 ct/other
chown -h 101005:101005 ct/link ct
chown 0:3000 research
chmod 2775 research
ln -s .. research/up
ln -s b research/a
ln -s a research/b
printf '%09d' 0 > private/secret
chown 4343:4343 private/secret
chown 1006:1006 private
chmod 0700 private
mount -t tmpfs -o uid=1007,gid=5000,mode=0755 scratch scratch
printf 'hidden' > scratch/hidden
chown 1006:1006 scratch/hidden
cd "$ROOT"

# idfed as root on an export that squashes root: no reading past permissions.
idfed() { setpriv --bounding-set -dac_override,-dac_read_search -- "$BIN" --root "$ROOT" "$@"; }
# Runs idfed, keeping stdout, stderr and the exit code as files named $1.
step() { name=$1; shift; rc=0; idfed "$@" > "$name.out" 2> "$name.err" || rc=$?; echo $rc > "$name.rc"; }
owners() { find "$E" -xdev -printf '%P %U %G %m %y\n' | sort > "$1.txt"; }

owners before
step scan scan projects --format json
step text scan projects
step csv scan projects --format csv
step dry scan projects --fix-container --dry-run --format json
owners dry
step fix scan projects --fix-container --format json
owners fixed
step again scan projects --fix-container --format json
owners again
# The same with CAP_CHOWN gone: the chown is refused.
chown -h 101005:101005 "$E/ct/link"
idfed() { setpriv --bounding-set -dac_override,-dac_read_search,-chown -- "$BIN" --root "$ROOT" "$@"; }
step squashed scan projects --fix-container --format json
owners squashed
# Back with CAP_CHOWN: a set-user-id file a CT wrote, and a fix killed (SIGKILL from strace) at
# the first `fchmodat`, between that file's chown and putting its bit back; then a rerun.
idfed() { setpriv --bounding-set -dac_override,-dac_read_search -- "$BIN" --root "$ROOT" "$@"; }
printf '%08d' 0 > "$E/ct/tool"
chown 101005:101005 "$E/ct/tool"
chmod 4755 "$E/ct/tool"
rc=0
strace -f -qq -o /dev/null -e trace=fchmodat -e inject=fchmodat:signal=KILL:when=1 \
    setpriv --bounding-set -dac_override,-dac_read_search -- "$BIN" --root "$ROOT" \
    scan projects --fix-container > killed.out 2> killed.err || rc=$?
echo $rc > killed.rc
owners killed
step rerun scan projects --fix-container --format json
owners rerun
ls "$ROOT/var/lib/idfed/scan" > journals.txt 2>/dev/null || true
"#;

/// What the export tests need root for.
const SCAN_NEEDS: &str = "scan's export (tmpfs mounts, dropped capabilities)";

/// The `sources-files` fixture (its config at the default path), the export built and every step
/// run in one private mount namespace. Callers skip first without root ([`SCAN_NEEDS`]).
fn scanned() -> Run {
    files_test()
        .env("ROOT", "{root}")
        .under(&["unshare", "-m", "sh", "-c", SCRIPT, "sh"])
        .run()
        .success()
}

fn json(run: &Run, step: &str) -> Value {
    let text = run.read(&format!("{step}.out"));
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{step}: not JSON ({e}):\n{text}\n--- stderr\n{}",
            run.read(&format!("{step}.err"))
        )
    })
}

fn code(run: &Run, step: &str) -> i32 {
    run.read(&format!("{step}.rc")).trim().parse().unwrap()
}

/// The lines of a `find` listing that differ between two steps.
fn changed(run: &Run, from: &str, to: &str) -> (Vec<String>, Vec<String>) {
    let a: BTreeSet<String> = run
        .read(&format!("{from}.txt"))
        .lines()
        .map(String::from)
        .collect();
    let b: BTreeSet<String> = run
        .read(&format!("{to}.txt"))
        .lines()
        .map(String::from)
        .collect();
    (
        a.difference(&b).cloned().collect(),
        b.difference(&a).cloned().collect(),
    )
}

#[test]
fn counts_statuses_and_fix_on_an_export_with_a_loop_a_mount_and_an_unreadable_directory() {
    if skip_without_root(SCAN_NEEDS) {
        return;
    }
    let run = scanned();
    assert_eq!(code(&run, "scan"), 0, "{}", run.read("scan.err"));
    let scan = json(&run, "scan");
    // Every count and status, exact: tmpfs sizes are the same on every run.
    insta::assert_json_snapshot!("export", scan);

    // Independent count: `find -xdev` (with every capability) lists the export and 20 entries
    // below it, `private/secret` among them, which idfed could not read.
    let listed = run.read("before.txt").lines().count();
    assert_eq!(listed, 21);
    assert_eq!(scan["entries"], (listed - 1) as u64);
    let err = run.read("scan.err");
    assert!(
        err.contains("idfed: warning: cannot read the directory `/mnt/pve/projects/private`: Permission denied"),
        "{err}"
    );
    assert_eq!(
        scan["mounts"],
        serde_json::json!(["/mnt/pve/projects/scratch"])
    );
    // Not crossed: nothing of the inner tmpfs (bob's `hidden`) is counted; the mount point is.
    let bob = scan["uids"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1006)
        .unwrap();
    assert_eq!(
        bob["entries"], 3,
        "bob/, bob/report.pdf, private/ (not scratch/hidden)"
    );

    // Text and CSV say the same.
    let text = run.read("text.out");
    assert!(
        text.contains("share projects: /mnt/pve/projects: 20 entries"),
        "{text}"
    );
    assert!(text.contains("`idfed scan projects --fix-container` can hand back:\n  uid 101005 → 1005 (alice): 3 entries\n  gid 101005 → 1005 (alice): 2 entries\n  gid 103000 → 3000 (research): 2 entries\n"), "{text}");
    assert!(text.contains("  users = [\"alice\", \"bob\"]"), "{text}");
    assert!(
        text.contains("\nleft as they are (their CT-side id is not an owner): uid 103000\n"),
        "{text}"
    );
    assert!(
        text.contains("\nnot entered: `/mnt/pve/projects/scratch`"),
        "{text}"
    );
    let csv = run.read("csv.out");
    assert!(
        csv.starts_with("kind,id,name,status,inside,inside_owner,entries,bytes\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nuid,101005,,container,1005,true,3,"),
        "{csv}"
    );
    assert!(
        csv.contains("\nuid,103000,,container,3000,false,1,32\n"),
        "{csv}"
    );

    // --dry-run: the same hand-back, nothing changed.
    assert_eq!(code(&run, "dry"), 0);
    let dry = json(&run, "dry");
    assert_eq!(dry["fix"]["dry_run"], true);
    assert_eq!(dry["fix"]["changed"], scan["hand_back"]);
    assert_eq!(changed(&run, "before", "dry"), (vec![], vec![]));

    // The fix: exactly the eligible entries, uid and gid each on their own; the set-user-id bit
    // restored; the symbolic link changed itself (its target, bob/other, kept 4242).
    assert_eq!(code(&run, "fix"), 0, "{}", run.read("fix.err"));
    let fix = json(&run, "fix");
    assert_eq!(fix["fix"]["changed"], scan["hand_back"]);
    assert_eq!(fix["fix"]["refused"], Value::Null);
    let (old, new) = changed(&run, "before", "fixed");
    assert_eq!(
        old,
        [
            "ct 101005 101005 755 d",
            "ct/link 101005 101005 777 l",
            "ct/other 103000 103000 644 f",
            "ct/written 101005 103000 4755 f",
        ]
    );
    assert_eq!(
        new,
        [
            "ct 1005 1005 755 d",
            "ct/link 1005 1005 777 l",
            "ct/other 103000 3000 644 f",
            "ct/written 1005 3000 4755 f",
        ]
    );

    // A second run changes nothing and finds nothing to hand back.
    assert_eq!(code(&run, "again"), 0);
    let again = json(&run, "again");
    assert_eq!(again["fix"]["changed"], serde_json::json!([]));
    assert_eq!(again["hand_back"], serde_json::json!([]));
    assert_eq!(changed(&run, "fixed", "again"), (vec![], vec![]));

    // Refused (no CAP_CHOWN, as under root squash): said once, with the file server's commands,
    // exit 1, nothing changed.
    assert_eq!(code(&run, "squashed"), 1);
    let err = run.read("squashed.err");
    assert_eq!(err.matches("idfed: error:").count(), 1, "{err}");
    assert!(
        err.contains("idfed: error: cannot change the owner of `/mnt/pve/projects/ct"),
        "{err}"
    );
    assert!(
        err.contains("  find . -xdev -uid 101005 -exec chown -h 1005 {} +\n"),
        "{err}"
    );
    assert!(
        err.contains("  find . -xdev -gid 101005 -exec chgrp -h 1005 {} +\n"),
        "{err}"
    );
    let squashed = json(&run, "squashed");
    assert_eq!(squashed["fix"]["changed"], serde_json::json!([]));
    assert_eq!(
        changed(&run, "fixed", "squashed").1,
        ["ct/link 101005 101005 777 l"]
    );
}

/// The kill between a chown and putting the set-user-id bit back: the journal (written before the
/// chown) puts the bit back on the rerun, which then removes it.
#[test]
fn a_fix_killed_between_chown_and_chmod_keeps_the_set_id_bit() {
    if skip_without_root(SCAN_NEEDS) {
        return;
    }
    let run = scanned();
    assert_eq!(code(&run, "killed"), 128 + 9, "{}", run.read("killed.err"));
    let listed = |step: &str| {
        run.read(&format!("{step}.txt"))
            .lines()
            .find(|l| l.starts_with("ct/tool "))
            .map(String::from)
    };
    // Killed after the chown, before the chmod: the bit is gone for now.
    assert_eq!(listed("killed").as_deref(), Some("ct/tool 1005 1005 755 f"));
    assert_eq!(code(&run, "rerun"), 0, "{}", run.read("rerun.err"));
    assert_eq!(json(&run, "rerun")["fix"]["restored"], 1);
    assert_eq!(listed("rerun").as_deref(), Some("ct/tool 1005 1005 4755 f"));
    assert_eq!(run.read("journals.txt"), "");
}

#[test]
fn a_path_in_no_share_is_named_from_the_only_source() {
    let t = files_test().write("srv/new/a", "12345");
    std::os::unix::fs::chown(t.path().join("srv/new/a"), Some(1006), Some(3001)).unwrap();
    let run = t
        .args(["--root", "{root}", "scan", "/srv/new/a", "--format", "json"])
        .run()
        .success();
    let json = run.json();
    assert_eq!(json["share"], Value::Null);
    assert_eq!(json["entries"], 1);
    assert_eq!(json["bytes"], 5);
    assert_eq!(json["uids"][0]["name"], "bob");
    assert_eq!(json["uids"][0]["status"], "not-owner");
    assert_eq!(json["gids"][0]["name"], "staff");
    assert_eq!(
        json["suggestion"]["users"]["names"],
        serde_json::json!(["bob"])
    );
}

#[test]
fn bad_targets_are_errors_that_say_what_was_expected() {
    let run = files_test()
        .args(["--root", "{root}", "scan", "projcts"])
        .run()
        .failure()
        .stderr_has("projcts")
        .stderr_has("did you mean `projects`");
    let run = run
        .again()
        .args(["--root", "{root}", "scan", "projects"])
        .run()
        .failure()
        .stderr_has("idfed: error: cannot scan `/mnt/pve/projects`: cannot look at `");
    run.again()
        .args(["--root", "{root}", "scan", "projects", "--dry-run"])
        .run()
        .failure()
        .stderr_has("--fix-container");
}
