//! `idfed report` over the two-node fixture `report-cluster` (roots `pve1/` and `pve2/` sharing
//! `cluster/pve`): the grid, the `--owner` list, CSV and JSON, the filters, and the report after
//! `apply` on one node only (one CT converged, one stale, one privileged, one read-only mount).

use std::process::Command;

use serde_json::Value;

use crate::harness::{Run, Test, copy_tree, fixture};

const FIXTURE: &str = "report-cluster";

/// `idfed` as `node` of the report-cluster fixture, after the runs of `run` (a fresh copy of
/// the fixture when `None`); the run must succeed.
fn step(run: Option<Run>, node: &str, args: &[&str]) -> Run {
    let t = match run {
        Some(run) => run.again(),
        None => Test::new().fixture(FIXTURE),
    };
    t.on_node(node).args(args).run().success()
}

/// The access of every (owner kind, name, ct) row of a JSON report.
fn cells(report: &Value) -> Vec<(String, String, String, u64, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["share"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
                r["ct"].as_u64().unwrap(),
                r["access"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn grid_before_apply() {
    let run = Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["report"])
        .run()
        .success();
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn report_after_apply_on_one_of_two_nodes() {
    // `--force`: the other node has not published its subid coverage (it has not run apply).
    let applied = step(None, "pve1", &["apply", "--force"]);

    let run = step(Some(applied), "pve1", &["report"]);
    let grid = run.stdout();
    insta::assert_snapshot!("grid_after_apply_on_pve1", grid);
    // The report reads the shared /etc/pve: pve2 sees the same grid.
    let run = step(Some(run), "pve2", &["report"]);
    assert_eq!(run.stdout(), grid);

    let run = step(Some(run), "pve1", &["--format", "json", "report"]);
    let json = run.json();
    let rows = cells(&json);
    let access = |share: &str, kind: &str, name: &str, ct: u64| -> String {
        rows.iter()
            .find(|r| r.0 == share && r.1 == kind && r.2 == name && r.3 == ct)
            .unwrap_or_else(|| panic!("no row {share} {kind} {name} CT {ct}: {rows:?}"))
            .4
            .clone()
    };
    // Converged on pve1: writable mount, passed through.
    assert_eq!(access("projects", "user", "alice", 101), "rw");
    assert_eq!(access("projects", "group", "research", 101), "rw");
    // Converged, but the mount is ro=1.
    assert_eq!(access("projects", "user", "alice", 102), "ro");
    // Privileged: writes as anyone, whatever its (absent) map.
    assert_eq!(access("projects", "user", "alice", 103), "privileged");
    assert_eq!(access("media", "group", "media", 103), "privileged");
    // On pve2, where apply has not run: still the default map.
    assert_eq!(access("projects", "user", "alice", 201), "unmapped");
    assert_eq!(access("media", "group", "media", 203), "unmapped");
    // CT 202 uses no share: no rows at all.
    assert!(rows.iter().all(|r| r.3 != 202), "{rows:?}");
    // The `report` row shape of ../shared/DESIGN.md (outside the repository), exactly.
    for row in json["rows"].as_array().unwrap() {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["access", "ct", "id", "kind", "name", "node", "share"]
        );
    }
    // The converged maps reach no host id beyond their owners.
    assert_eq!(json["exposure"], serde_json::json!([]));

    let run = step(Some(run), "pve1", &["report", "--owner", "alice"]);
    insta::assert_snapshot!("owner_alice_after_apply_on_pve1", run.stdout());
    // By id: the group research.
    let run = step(Some(run), "pve1", &["report", "--owner", "3000"]);
    assert_eq!(
        run.stdout(),
        "group research (3000), share projects:\n  writes as research: CT 101 on pve1\n  \
         privileged, writes as anyone: CT 103 on pve1\n  mapped, read-only mount: CT 102 on pve1\n  \
         unmapped, sees nobody: CT 201 on pve2\n"
    );

    let run = step(Some(run), "pve1", &["--format", "csv", "report"]);
    let csv = run.stdout();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("share,kind,name,id,ct,node,access"));
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), rows.len());
    assert!(
        body.contains(&"projects,user,alice,1005,101,pve1,rw"),
        "{csv}"
    );
    assert!(
        body.contains(&"projects,user,alice,1005,102,pve1,ro"),
        "{csv}"
    );
    assert!(
        body.contains(&"projects,user,alice,1005,103,pve1,privileged"),
        "{csv}"
    );
    assert!(
        body.contains(&"projects,user,alice,1005,201,pve2,unmapped"),
        "{csv}"
    );
}

#[test]
fn filters_by_ct_and_share() {
    let run = Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["--format", "json", "report", "--ct", "203"])
        .run()
        .success();
    let rows = cells(&run.json());
    assert_eq!(
        rows,
        [(
            "media".to_string(),
            "group".to_string(),
            "media".to_string(),
            203,
            "unmapped".to_string()
        )]
    );

    let run = Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["--format", "json", "report", "--share", "media"])
        .run()
        .success();
    let rows = cells(&run.json());
    assert!(rows.iter().all(|r| r.0 == "media"), "{rows:?}");
    assert_eq!(
        rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        [103, 203],
        "{rows:?}"
    );
}

#[test]
fn a_ct_without_shares_gives_no_rows() {
    Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["report", "--ct", "202"])
        .run()
        .success()
        .stdout_is("no container uses a share (or nothing matches the filter)\n");
}

#[test]
fn unknown_share_or_ct_is_an_error() {
    Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["report", "--share", "medai"])
        .run()
        .failure()
        .stderr_has("unknown share `medai`")
        .stderr_has("expected one of `media`, `projects`");
    Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["report", "--ct", "999"])
        .run()
        .failure()
        .stderr_has("CT 999 is not a container of the cluster");
    Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["--format", "csv", "check"])
        .run()
        .failure()
        .stderr_has("`check` does not write `--format csv`");
}

#[test]
fn unreadable_cts_are_named_on_stderr() {
    Test::new()
        .fixture("check-problems")
        .at_root("pve1")
        .args(["report"])
        .run()
        .success()
        .stderr_has("idfed: warning: CT 307 on pve2: left out of the report")
        .stderr_has("idfed: warning: CT 310 on pve2: left out of the report")
        .stdout_has("309");
}

/// An owner name no source has is an error (a typo, with the closest owner), not an empty
/// answer; a user of the source who owns no share gets the answer.
#[test]
fn an_unknown_owner_is_an_error() {
    let report = |owner: &str| {
        Test::new()
            .fixture(FIXTURE)
            .on_node("pve1")
            .args(["report", "--owner", owner])
            .run()
    };
    report("alise").failure().stdout_is("").stderr_is(
        "idfed: error: `--owner alise`: no source has a user or group `alise` (did you mean \
             `alice`?): expected an owner's name or a numeric id\n",
    );
    report("nosuch")
        .failure()
        .stderr_has("no source has a user or group `nosuch`: expected");
    let json = Test::new()
        .fixture(FIXTURE)
        .on_node("pve1")
        .args(["--format", "json", "report", "--owner", "nosuch"])
        .run()
        .failure();
    assert!(json.stderr().contains("`nosuch`"), "{}", json.stderr());
    // carol is a user of the sync fixture's source who owns no share.
    Test::new()
        .fixture("sync")
        .on_node("pve1")
        .args(["report", "--owner", "carol"])
        .run()
        .success()
        .stdout_is(
            "`carol` owns no share, no container uses its shares, or the filter leaves none\n",
        );
}

/// `--owner 33`, an id no share owner has: the answer comes from the CTs' maps, each way a CT
/// acts as it (CT 201 of the sync fixture passes 33 through by hand; 103 is privileged).
#[test]
fn an_id_no_owner_has_is_answered_from_the_maps() {
    let run = Test::new()
        .fixture("sync")
        .on_node("pve1")
        .args(["report", "--owner", "33"])
        .run()
        .success()
        .stdout_is(
            "`33` is no owner of a share (or the filter leaves none); through their maps:
  CT 103 on pve1 can act as uid 33: privileged, acts as anyone
  CT 201 on pve2 can act as uid 33: foreign passthrough (not written by idfed)
  CT 103 on pve1 can act as gid 33: privileged, acts as anyone
  CT 201 on pve2 can act as gid 33: foreign passthrough (not written by idfed)
",
        );
    // Adopted, the passthrough is idfed's, kept until released (once pve1 published, pve2's map
    // is switched and the record written); `--ct` narrows; JSON names how.
    let run = run.again().on_node("pve1").args(["apply"]).run().success();
    let run = run
        .again()
        .on_node("pve2")
        .args(["apply", "--adopt"])
        .run()
        .success();
    let json = run
        .again()
        .on_node("pve1")
        .args(["--format", "json", "report", "--owner", "33", "--ct", "201"])
        .run()
        .success()
        .json();
    assert_eq!(
        json["acting"],
        serde_json::json!([
            {"ct": 201, "node": "pve2", "kind": "uid", "id": 33, "how": "adopted_passthrough"},
            {"ct": 201, "node": "pve2", "kind": "gid", "id": 33, "how": "adopted_passthrough"}
        ])
    );
    // A CT's own base range: host 100033 is inside uid 33 of every CT on the default map.
    Test::new()
        .fixture("sync")
        .on_node("pve1")
        .args(["report", "--owner", "100033", "--ct", "104"])
        .run()
        .success()
        .stdout_has("CT 104 on pve1 can act as uid 100033: mapped from its inside id 33\n");
}

/// Exposure: a hand-written passthrough of www-data (33) and a CT on its own base range reach host
/// ids no share owner has; the grid says how many, and which.
#[test]
fn exposure_beyond_the_owners() {
    let run = Test::new()
        .fixture("check-warnings")
        .at_root("pve1")
        .args(["report"])
        .run()
        .success();
    insta::assert_snapshot!(run.stdout());
    let json = Test::new()
        .fixture("check-warnings")
        .at_root("pve1")
        .args(["--format", "json", "report"])
        .run()
        .success()
        .json();
    assert_eq!(
        json["exposure"],
        serde_json::json!([
            {"ct": 404, "node": "pve2",
             "extra_uids": [{"start": 33, "count": 1}], "extra_gids": [{"start": 33, "count": 1}]},
            {"ct": 405, "node": "pve2",
             "extra_uids": [{"start": 200000, "count": 65536}],
             "extra_gids": [{"start": 200000, "count": 65536}]}
        ])
    );
}

/// Regression: `idfed report | head` panicked with "failed printing to stdout: Broken pipe"
/// (and `emit`, which printed with `println!`).
#[test]
fn a_reader_that_stops_early_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(FIXTURE), dir.path());
    let root = dir.path().to_str().unwrap();
    let bundles = format!("{root}/bundles");
    for args in [
        &["report"][..],
        &["--format", "json", "check"][..],
        &["plan"][..],
        &["--format", "json", "plan"][..],
        &["resolve"][..],
        &["emit", "--out", &bundles][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idfed"))
            .env_clear()
            .args(["-c", &format!("{root}/idfed.toml")])
            .args(["--root", &format!("{root}/pve1"), "--node", "pve1"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before idfed has loaded anything, so its write meets EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
    // emit writes its bundles all the same.
    assert!(dir.path().join("bundles/plan.json").is_file());
}
