//! The rollout gate over the `rollout` fixture: three nodes (`pve1`, `pve2`, `pve3`) as three roots
//! sharing one `etc/pve`; share `projects` owned by alice (1005), used by CT 101 on pve1. A CT's
//! new map is written only once every node has published subid coverage of it.

use crate::harness::{Run, Test, finding, fixture_text, immutable, on};

fn rollout() -> Test {
    Test::new().fixture("rollout")
}

fn conf_101(run: &Run) -> String {
    run.read("cluster/pve/nodes/pve1/lxc/101.conf")
}

const MAP_101: &str = "\
lxc.idmap: u 0 100000 1005
lxc.idmap: u 1005 1005 1
lxc.idmap: u 1006 101006 64530
lxc.idmap: g 0 100000 1005
lxc.idmap: g 1005 1005 1
lxc.idmap: g 1006 101006 64530
";

fn rollout_of(run: Run, node: &str, ct: u64) -> (Run, serde_json::Value) {
    let run = on(run.again(), node, &["--format", "json", "plan"]).success();
    let json = run.json();
    let c = finding(&json, "containers", |c| c["ct"].as_u64() == Some(ct));
    (run, c["rollout"].clone())
}

/// `idfed.toml` with the share owned by bob (1006) instead of alice.
fn bob_config() -> String {
    fixture_text("rollout", "idfed.toml").replace("users = [\"alice\"]", "users = [\"bob\"]")
}

#[test]
fn apply_waits_for_every_node_then_switches() {
    // pve1 alone: its own subid lines, published; the CT waits for the two others.
    let run = on(rollout(), "pve1", &["apply"])
        .success()
        .stdout_has("pve1: /etc/subuid: added root:1005:1")
        .stdout_has("CT 101: waiting for pve2, pve3: not switched")
        .stdout_lacks("got its new map");
    assert_eq!(
        conf_101(&run),
        fixture_text("rollout", "cluster/pve/nodes/pve1/lxc/101.conf")
    );
    let published: serde_json::Value =
        serde_json::from_str(&run.read("cluster/pve/idfed/nodes/pve1.json")).unwrap();
    assert_eq!(published["node"], "pve1");
    assert_eq!(published["subid_owner"], "root");
    assert_eq!(published["version"], env!("CARGO_PKG_VERSION"));
    assert!(published["published_at"].as_u64().unwrap() > 1_700_000_000);
    assert!(
        published["published_at_utc"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        published["uids"],
        serde_json::json!([
            {"start": 1005, "count": 1},
            {"start": 5000, "count": 1},
            {"start": 100000, "count": 65536}
        ])
    );
    let (run, state) = rollout_of(run, "pve1", 101);
    assert_eq!(
        state,
        serde_json::json!({"state": "waiting", "nodes": ["pve2", "pve3"]})
    );
    // plan lists what the published nodes lack, and those that never published.
    let run = on(run.again(), "pve2", &["--format", "json", "plan"]).success();
    let json = run.json();
    assert_eq!(json["nodes"]["pve1"]["subuid_add"], serde_json::json!([]));
    assert_eq!(
        json["nodes"]["pve2"]["subuid_add"],
        serde_json::json!([{"owner": "root", "start": 1005, "count": 1}])
    );
    assert_eq!(json["unpublished"], serde_json::json!(["pve3"]));
    let run = on(run.again(), "pve1", &["plan"])
        .success()
        .stdout_has("CT 101 on pve1 (shares: projects): waiting for pve2, pve3")
        .stdout_has("node pve3: never published");

    // pve2 runs: the CT now waits for pve3 only.
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_has("pve2: /etc/subuid: added root:1005:1");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve3:");
    assert!(!conf_101(&run).contains("lxc.idmap"));

    // pve3 runs: the CT is ready, and pve1's next run switches it.
    let run = on(run.again(), "pve3", &["apply"]).success();
    let (run, state) = rollout_of(run, "pve1", 101);
    assert_eq!(state, serde_json::json!({"state": "ready"}));
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map");
    assert_eq!(
        conf_101(&run),
        fixture_text("rollout", "cluster/pve/nodes/pve1/lxc/101.conf") + MAP_101
    );
    let (run, state) = rollout_of(run, "pve1", 101);
    assert_eq!(state, serde_json::json!({"state": "applied"}));
    // Every node covers it: check finds nothing.
    on(run.again(), "pve2", &["check"])
        .success()
        .stdout_has("0 problem(s), 0 warning(s)");
}

#[test]
fn a_node_that_never_runs_blocks_and_force_switches_loudly() {
    let run = on(rollout(), "pve2", &["apply"]).success();
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve3:");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve3:");
    assert!(!conf_101(&run).contains("lxc.idmap"));
    // check warns that pve3 never published: idfed may not run there.
    let run = on(run.again(), "pve1", &["--format", "json", "check"]).success();
    let json = run.json();
    finding(&json, "warnings", |w| {
        w["code"] == "node-unpublished" && w["node"] == "pve3"
    });

    let run = on(run.again(), "pve1", &["apply", "--force"])
        .success()
        .stderr_has("--force: CT 101 gets a map that pve3 do(es) not cover")
        .stdout_has("CT 101: forced: pve3")
        .stdout_has("CT 101: got its new map");
    assert!(conf_101(&run).ends_with(MAP_101));

    // Removing a passthrough (alice's primary gid) waits for nobody, not even pve3.
    let t = run.again().write(
        "idfed.toml",
        &(fixture_text("rollout", "idfed.toml") + "primary_gids = false\n"),
    );
    let run = on(t, "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_lacks("waiting")
        .stderr_lacks("--force");
    assert!(conf_101(&run).ends_with("lxc.idmap: g 0 100000 65536\n"));
}

#[test]
fn force_then_check_names_the_node_that_would_fail() {
    // pve3 ran once, when the share belonged to bob: its published coverage lacks alice's 1005.
    let t = rollout().write("idfed.toml", &bob_config());
    let run = on(t, "pve3", &["apply"])
        .success()
        .stdout_has("pve3: /etc/subuid: added root:1006:1");
    let t = run
        .again()
        .write("idfed.toml", &fixture_text("rollout", "idfed.toml"));
    let run = on(t, "pve2", &["apply"]).success();
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve3:");
    let run = on(run.again(), "pve1", &["apply", "--force"])
        .success()
        .stderr_has("pve3");
    let run = on(run.again(), "pve1", &["--format", "json", "check"]).code(2);
    let json = run.json();
    let problems = json["problems"].as_array().unwrap();
    let nodes: Vec<&str> = problems
        .iter()
        .map(|p| p["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["pve3", "pve3"], "{json:#}");
    assert_eq!(problems[0]["code"], "subuid-missing");
    assert_eq!(problems[0]["ct"], 101);
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains("CT 101 on pve1 cannot start on pve3: its published /etc/subuid"),
        "{message}"
    );
    // Once pve3 runs, the problem is gone.
    let run = on(run.again(), "pve3", &["apply"]).success();
    on(run.again(), "pve1", &["check"])
        .success()
        .stdout_has("0 problem(s)");
}

#[test]
fn check_warns_about_a_stale_node_after_the_configured_age() {
    let t = rollout().write(
        "idfed.toml",
        &format!(
            "[cluster]\npublish_max_age_secs = 600\n\n{}",
            fixture_text("rollout", "idfed.toml")
        ),
    );
    let mut run = on(t, "pve2", &["apply"]).success();
    for node in ["pve3", "pve1"] {
        run = on(run.again(), node, &["apply"]).success();
    }
    let run = on(run.again(), "pve1", &["check"])
        .success()
        .stdout_lacks("node-stale");
    // pve2 last published 601 seconds ago: one second past the age.
    let path = run.path().join("cluster/pve/idfed/nodes/pve2.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    state["published_at"] = serde_json::json!(now - 601);
    std::fs::write(&path, state.to_string()).unwrap();
    let run = on(run.again(), "pve1", &["check"])
        .success()
        .stdout_has("warning [node-stale] node pve2 last published")
        .stdout_has("`cluster.publish_max_age_secs` = 600");
    // A state left behind by a node that left the cluster (it covers nothing) is ignored.
    state["node"] = serde_json::json!("pve9");
    state["uids"] = serde_json::json!([]);
    state["gids"] = serde_json::json!([]);
    let t = run
        .again()
        .write("cluster/pve/idfed/nodes/pve9.json", &state.to_string());
    let run = on(t, "pve1", &["check"]).success().stdout_lacks("pve9");
    let run = on(run.again(), "pve1", &["--format", "json", "plan"]).success();
    assert!(run.json()["nodes"].get("pve9").is_none());
}

/// Issue 15: a node whose published state is 30 days old (its subid files reset since, by a
/// reinstall) still counted as covering, and CT 101 was switched to a map that fails there after
/// an HA failover. Now the gate counts a state only while it is younger than
/// `cluster.publish_max_age_secs`, names the node in "waiting for", and `--force` still passes.
#[test]
fn a_30_day_old_state_claiming_coverage_does_not_count() {
    let run = on(rollout(), "pve2", &["apply"]).success();
    let run = on(run.again(), "pve3", &["apply"]).success();
    let path = run.path().join("cluster/pve/idfed/nodes/pve2.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(state["uids"].to_string().contains("1005"), "{state}");
    state["published_at"] =
        serde_json::json!(state["published_at"].as_u64().unwrap() - 30 * 86_400);
    std::fs::write(&path, state.to_string()).unwrap();
    // pve2 was reinstalled since: its files have the base range only (what counts is what it
    // published, and that is too old).
    let t = run.again().write("pve2/etc/subuid", "root:100000:65536\n");
    let run = on(t, "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve2: not switched")
        .stdout_lacks("got its new map");
    assert!(!conf_101(&run).contains("lxc.idmap"));
    let (run, rollout) = rollout_of(run, "pve1", 101);
    assert_eq!(
        rollout,
        serde_json::json!({"state": "waiting", "nodes": ["pve2"]})
    );
    let run = on(run.again(), "pve1", &["--format", "json", "plan"]).success();
    let json = run.json();
    assert_eq!(json["stale"][0]["node"], "pve2", "{json:#}");
    assert!(json["stale"][0]["age_secs"].as_u64().unwrap() >= 30 * 86_400);
    assert_eq!(json["unpublished"], serde_json::json!([]));
    let run = on(run.again(), "pve1", &["plan"])
        .success()
        .stdout_has("node pve2: its subid coverage was published at")
        .stdout_has("it does not count");
    let run = on(run.again(), "pve1", &["apply", "--force"])
        .success()
        .stderr_has("--force: CT 101 gets a map that pve2 do(es) not cover")
        .stdout_has("CT 101: got its new map");
    assert!(conf_101(&run).ends_with(MAP_101));
}

/// Every node applies, and CT 101 gets alice's map.
fn all_applied(t: Test) -> Run {
    let run = on(t, "pve2", &["apply"]).success();
    let run = on(run.again(), "pve3", &["apply"]).success();
    on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map")
}

#[test]
fn a_map_that_drops_and_adds_waits_for_what_it_adds_then_prune_removes_only_idfeds_lines() {
    // pve3 had alice's line by hand before idfed ever ran there.
    let t = rollout().write("pve3/etc/subuid", "root:100000:65536\nroot:1005:1\n");
    let run = all_applied(t);
    assert_eq!(
        run.read("pve3/etc/subuid"),
        "root:100000:65536\nroot:1005:1\n"
    );
    // The share passes to bob: 101 drops 1005 and adds 1006, and waits for what it adds.
    let t = run.again().write("idfed.toml", &bob_config());
    let run = on(t, "pve1", &["apply", "--prune"])
        .success()
        .stdout_has("CT 101: waiting for pve2, pve3:")
        .stdout_lacks("removed");
    // Nothing is pruned while 101's current map still passes 1005 through.
    assert!(run.read("pve1/etc/subuid").contains("root:1005:1\n"));
    let run = on(run.again(), "pve2", &["apply"]).success();
    let run = on(run.again(), "pve3", &["apply", "--prune"])
        .success()
        .stdout_lacks("removed");
    // The dry run says what would go, and removes nothing.
    let run = on(run.again(), "pve1", &["apply", "--prune", "--dry-run"])
        .success()
        .stdout_has("CT 101: would get its new map")
        .stdout_has("pve1: /etc/subuid: would remove root:1005:1");
    assert!(run.read("pve1/etc/subuid").contains("root:1005:1\n"));
    // Switch and prune in one run: 1005 is in no map any more.
    let run = on(run.again(), "pve1", &["apply", "--prune"])
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_has("pve1: /etc/subuid: removed root:1005:1")
        .stdout_has("pve1: /etc/subgid: removed root:1005:1");
    assert!(conf_101(&run).contains("lxc.idmap: u 1006 1006 1\n"));
    // The hand-written line stays, and so do the comment and the base range.
    assert_eq!(
        run.read("pve1/etc/subuid"),
        "root:100000:65536\n# by hand, for an old experiment\nroot:5000:1\nroot:1006:1\n"
    );
    assert_eq!(
        run.read("pve1/etc/subgid"),
        "root:100000:65536\nroot:1006:1\n"
    );
    let record: serde_json::Value =
        serde_json::from_str(&run.read("pve1/var/lib/idfed/subids.json")).unwrap();
    assert_eq!(
        record["subuid"],
        serde_json::json!([{"owner": "root", "start": 1006, "count": 1}])
    );
    // The published coverage follows the pruned files.
    let published: serde_json::Value =
        serde_json::from_str(&run.read("cluster/pve/idfed/nodes/pve1.json")).unwrap();
    assert!(
        !published["uids"].to_string().contains("1005"),
        "{published}"
    );
    // pve3's hand-written copy of alice's subuid line is never idfed's to remove; the subgid
    // line idfed added there goes.
    let run = on(run.again(), "pve3", &["apply", "--prune"])
        .success()
        .stdout_has("pve3: /etc/subgid: removed root:1005:1")
        .stdout_lacks("/etc/subuid: removed");
    assert_eq!(
        run.read("pve3/etc/subuid"),
        "root:100000:65536\nroot:1005:1\nroot:1006:1\n"
    );
    // While a CT config cannot be read, its map is unknown: nothing is pruned.
    let broken = "cluster/pve/nodes/pve2/lxc/202.conf";
    let t = run.again().write(
        broken,
        "arch: amd64\nunprivileged: 1\nlxc.idmap: u 0 100000\n",
    );
    let run = on(t, "pve2", &["apply", "--prune"])
        .failure()
        .stderr_has("--prune: not pruning: 1 container config(s) could not be read")
        .stdout_lacks("removed");
    assert!(run.read("pve2/etc/subuid").contains("root:1005:1\n"));
    std::fs::remove_file(run.path().join(broken)).unwrap();
    // pve2's own line goes.
    on(run.again(), "pve2", &["apply", "--prune"])
        .success()
        .stdout_has("pve2: /etc/subuid: removed root:1005:1");
}

/// A snapshot (or `[pve:pending]`) that maps an id keeps the subid line for it through `--prune`:
/// after `pct rollback` the CT must still start on every node.
#[test]
fn prune_keeps_the_lines_a_snapshot_or_pending_map_needs() {
    let run = all_applied(rollout());
    let conf = conf_101(&run);
    // A snapshot taken with alice's map, then the share passes to bob.
    let snapshot = format!("\n[before-bob]\n{}snaptime: 1764000000\n", MAP_101);
    let t = run
        .again()
        .write(
            "cluster/pve/nodes/pve1/lxc/101.conf",
            &format!("{conf}{snapshot}"),
        )
        .write("idfed.toml", &bob_config());
    let run = on(t, "pve2", &["apply"]).success();
    let run = on(run.again(), "pve3", &["apply"]).success();
    let run = on(run.again(), "pve1", &["apply", "--prune"])
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_lacks("removed");
    assert!(conf_101(&run).contains("lxc.idmap: u 1006 1006 1\n"));
    assert!(conf_101(&run).contains(&snapshot));
    for file in ["pve1/etc/subuid", "pve1/etc/subgid"] {
        assert!(run.read(file).contains("root:1005:1\n"), "{file}");
    }
    // The snapshot is deleted, a pending change maps 1005 again: the line still stays.
    let main = conf_101(&run).replace(&snapshot, "");
    let pending = "\n[pve:pending]\nlxc.idmap: u 0 100000 1005\nlxc.idmap: u 1005 1005 1\n\
                   lxc.idmap: u 1006 101006 64530\nlxc.idmap: g 0 100000 65536\n";
    let t = run.again().write(
        "cluster/pve/nodes/pve1/lxc/101.conf",
        &format!("{main}{pending}"),
    );
    let run = on(t, "pve1", &["apply", "--prune"])
        .success()
        .stdout_lacks("/etc/subuid: removed")
        .stdout_has("pve1: /etc/subgid: removed root:1005:1");
    assert!(run.read("pve1/etc/subuid").contains("root:1005:1\n"));
    // Neither any more: the line goes.
    let t = run
        .again()
        .write("cluster/pve/nodes/pve1/lxc/101.conf", &main);
    on(t, "pve1", &["apply", "--prune"])
        .success()
        .stdout_has("pve1: /etc/subuid: removed root:1005:1");
}

#[test]
fn a_crash_at_each_step_leaves_a_state_the_next_run_converges_from() {
    if crate::harness::skip_without_root("the failure-injection test (chattr +i)") {
        return;
    }
    // Step 1: the subid file cannot be written after idfed recorded the line as its own.
    let t = rollout();
    let subuid = t.path().join("pve2/etc/subuid");
    immutable(&subuid, true);
    let run = on(t, "pve2", &["apply"]);
    immutable(&subuid, false);
    let run = run.failure().stderr_has("cannot update this node's subuid");
    assert_eq!(run.read("pve2/etc/subuid"), "root:100000:65536\n");
    // Nothing was published: nobody switches a map on pve2's behalf.
    assert!(
        !run.path()
            .join("cluster/pve/idfed/nodes/pve2.json")
            .exists()
    );
    let record: serde_json::Value =
        serde_json::from_str(&run.read("pve2/var/lib/idfed/subids.json")).unwrap();
    assert_eq!(
        record["subuid"],
        serde_json::json!([{"owner": "root", "start": 1005, "count": 1}])
    );

    // Step 2: the subid files are written, but publishing fails (a directory where pve2's state
    // goes; a frozen nodes directory is found before anything is written: see sync.rs).
    let t = run.again();
    let published = t.path().join("cluster/pve/idfed/nodes/pve2.json");
    std::fs::create_dir_all(&published).unwrap();
    let run = on(t, "pve2", &["apply"]);
    std::fs::remove_dir(&published).unwrap();
    let run = run
        .failure()
        .stderr_has("cannot publish this node's subid coverage");
    assert_eq!(
        run.read("pve2/etc/subuid"),
        "root:100000:65536\nroot:1005:1\n"
    );
    // The claim of the failed run was dropped and made again: one line, one claim.
    let record: serde_json::Value =
        serde_json::from_str(&run.read("pve2/var/lib/idfed/subids.json")).unwrap();
    assert_eq!(
        record["subuid"],
        serde_json::json!([{"owner": "root", "start": 1005, "count": 1}])
    );
    let run = on(run.again(), "pve3", &["apply"]).success();
    // pve1 still waits for pve2, whose files are ready but unpublished: the safe side.
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: waiting for pve2:");

    // Step 3: the CT config cannot be written after the gate opened.
    let run = on(run.again(), "pve2", &["apply"]).success();
    let conf = run.path().join("cluster/pve/nodes/pve1/lxc/101.conf");
    immutable(&conf, true);
    let run = on(run.again(), "pve1", &["apply"]);
    immutable(&conf, false);
    let run = run.failure().stdout_has("error: CT 101");
    assert_eq!(
        conf_101(&run),
        fixture_text("rollout", "cluster/pve/nodes/pve1/lxc/101.conf")
    );
    // The node still published: its files are what they are.
    assert!(
        run.path()
            .join("cluster/pve/idfed/nodes/pve1.json")
            .exists()
    );

    // Step 4: a run killed between claiming a line and appending it, whose line is no longer
    // needed (the record claims `root:7000:3`, which the file lacks): the next run drops the stale
    // claim, so a hand-written `root:7000:3` could never be taken for idfed's later.
    let t = run.again().write(
        "pve1/var/lib/idfed/subids.json",
        r#"{"subuid": [{"owner": "root", "start": 1005, "count": 1}, {"owner": "root", "start": 7000, "count": 3}], "subgid": []}"#,
    );
    let run = on(t, "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map");
    assert!(conf_101(&run).ends_with(MAP_101));
    let record: serde_json::Value =
        serde_json::from_str(&run.read("pve1/var/lib/idfed/subids.json")).unwrap();
    assert_eq!(
        record["subuid"],
        serde_json::json!([{"owner": "root", "start": 1005, "count": 1}])
    );
    // Converged: the desired state, and a further run changes nothing.
    let run = on(run.again(), "pve1", &["plan", "--detailed-exitcode"]).success();
    on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("no changes: node pve1 is in the desired state");
}

/// The real thing: the map pve1 switched to only after every node published starts a real
/// container with pve1's applied subid files; a node that lags (its files as they were) cannot
/// start it, as `check` said after `--force`.
#[test]
fn a_switched_map_starts_where_subids_exist_and_fails_where_check_said() {
    use crate::lxc::{Container, as_user, idmap_lines, owner, run_container, shared_dir};

    if crate::harness::skip_without_root("the LXC test") {
        return;
    }
    let run = all_applied(rollout());
    let idmap = idmap_lines(&conf_101(&run));
    assert_eq!(idmap.join("\n") + "\n", MAP_101);
    let share = shared_dir();
    let spec = Container::new(&idmap)
        .subids(&run.read("pve1/etc/subuid"), &run.read("pve1/etc/subgid"))
        .user("alice", 1005, 1005)
        .host_dir(share.path())
        .script(&as_user("alice", "touch /shared/alice"));
    run_container(&spec).unwrap();
    assert_eq!(owner(&share.path().join("alice")), (1005, 1005));

    // A lagging node: pve3 as it was before idfed ran there, with --force switching anyway.
    let t = rollout();
    let lagging = (
        t.path().join("pve3/etc/subuid"),
        t.path().join("pve3/etc/subgid"),
    );
    let lagging = (
        std::fs::read_to_string(&lagging.0).unwrap(),
        std::fs::read_to_string(&lagging.1).unwrap(),
    );
    let t = t.write("idfed.toml", &bob_config());
    let run = on(t, "pve3", &["apply"]).success();
    let t = run
        .again()
        .write("idfed.toml", &fixture_text("rollout", "idfed.toml"));
    let run = on(t, "pve2", &["apply"]).success();
    let run = on(run.again(), "pve1", &["apply", "--force"]).success();
    let run = on(run.again(), "pve1", &["check"])
        .code(2)
        .stdout_has("cannot start on pve3");
    let forced = idmap_lines(&conf_101(&run));
    assert_eq!(forced, idmap);
    // pve3's files as they are (bob's line, not alice's), and as they were before idfed: refused.
    for (subuid, subgid) in [
        (run.read("pve3/etc/subuid"), run.read("pve3/etc/subgid")),
        lagging,
    ] {
        let bare = Container::new(&forced)
            .subids(&subuid, &subgid)
            .host_dir(share.path());
        let err = run_container(&bare).unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }
}

/// The `lab` share of the outage guard's tests: group `lab` of 40 members (m2000..m2039, each
/// with a personal group) beside a raw range of 1,000 uids, and share `other` (alice; `others`
/// more) on CT 101 too.
fn lab(t: Test, lab_members: bool, others: &[&str]) -> Test {
    let mut passwd = fixture_text("rollout", "passwd");
    let mut group = fixture_text("rollout", "group");
    let members: Vec<String> = (2000..2040).map(|id| format!("m{id}")).collect();
    for (i, m) in members.iter().enumerate() {
        let id = 2000 + i;
        passwd.push_str(&format!("{m}:x:{id}:{id}::/home/{m}:/bin/sh\n"));
        group.push_str(&format!("{m}:x:{id}:\n"));
    }
    let list = if lab_members {
        members.join(",")
    } else {
        String::new()
    };
    group.push_str(&format!("lab:x:3100:{list}\n"));
    let users: Vec<String> = ["alice"]
        .iter()
        .chain(others)
        .map(|u| format!("\"{u}\""))
        .collect();
    let config = format!(
        "[source.nas]\ntype = \"files\"\npasswd = \"passwd\"\ngroup = \"group\"\n\n\
         [share.lab]\nsource = \"nas\"\npath = \"/mnt/pve/projects\"\ngroups = [\"lab\"]\n\
         uids = [\"5000-5999\"]\n\n\
         [share.other]\nsource = \"nas\"\npath = \"/srv/other\"\nusers = [{}]\n\
         containers = [101]\n",
        users.join(", ")
    );
    t.write("passwd", &passwd)
        .write("group", &group)
        .write("idfed.toml", &config)
}

/// Issue 15: the guard counted ids only (a group of 40 emptied beside 1,000 raw ids is 80 of 81
/// owners but 7 % of ids: apply exited 0 and stripped them), refused the whole run when it
/// tripped, and kept its baseline per node. Now the share is held at its last good owners while
/// another share's new owner is applied in the same run (exit 1, naming the share, its counts and
/// the command that accepts it), and one acceptance on one node releases all three.
#[test]
fn a_group_emptied_beside_a_raw_range_is_held_and_one_acceptance_releases_every_node() {
    let mut run = on(lab(rollout(), true, &[]), "pve2", &["apply"]).success();
    for node in ["pve3", "pve1"] {
        run = on(run.again(), node, &["apply"]).success();
    }
    let conf = conf_101(&run);
    assert!(conf.contains("lxc.idmap: u 2000 2000 40\n"), "{conf}");
    assert!(conf.contains("lxc.idmap: u 5000 5000 1000\n"), "{conf}");
    assert!(!conf.contains("lxc.idmap: u 1006 1006"), "{conf}");

    // An ACL change hides lab's members; bob joins share `other` at the same time.
    let t = lab(run.again(), false, &["bob"]);
    let held = "share `lab` shrank from 81 to 1 owners (-98%) and from 1081 to 1001 ids (-7%) \
                since its last good resolution: held at its last good owners";
    let accept = "`idfed apply --allow-shrink lab`";
    let mut run = on(t, "pve2", &["apply"])
        .failure()
        .stdout_has(held)
        .stderr_has(accept);
    run = on(run.again(), "pve3", &["apply"])
        .failure()
        .stdout_has(held);
    // pve1: bob's new passthrough is applied in the same run, lab's members stay.
    let run = on(run.again(), "pve1", &["apply"])
        .failure()
        .stdout_has("CT 101: got its new map")
        .stdout_has(held)
        .stdout_has("once accepted, CT 101 on pve1 loses uids 2000-2039, gids 2000-2039")
        .stderr_has("1 share(s) held at their last good owners")
        .stderr_has(accept);
    let conf = conf_101(&run);
    assert!(conf.contains("lxc.idmap: u 1005 1005 2\n"), "{conf}");
    assert!(conf.contains("lxc.idmap: u 2000 2000 40\n"), "{conf}");
    assert!(conf.contains("lxc.idmap: g 2000 2000 40\n"), "{conf}");
    // plan shows the held share and what accepting it removes; JSON too.
    let run = on(run.again(), "pve1", &["plan"])
        .success()
        .stdout_has(held)
        .stdout_has("once accepted, CT 101 on pve1 loses uids 2000-2039, gids 2000-2039");
    let run = on(run.again(), "pve1", &["--format", "json", "plan"]).success();
    let json = run.json();
    assert_eq!(json["held"][0]["share"], "lab", "{json:#}");
    assert_eq!(json["held"][0]["owners_before"], 81);
    assert_eq!(json["held"][0]["owners_after"], 1);
    assert_eq!(json["held"][0]["accept"], "idfed apply --allow-shrink lab");
    assert_eq!(json["held"][0]["would_remove"][0]["ct"], 101);
    // An unknown share is an error, not an acceptance.
    let run = on(run.again(), "pve3", &["apply", "--allow-shrink", "labs"])
        .failure()
        .stderr_has("unknown share `labs`");

    // Accepted on pve3, which holds no CT: every node is released.
    let run = on(run.again(), "pve3", &["apply", "--allow-shrink", "lab"])
        .success()
        .stderr_has("accepted by --allow-shrink");
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_lacks("held");
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 101: got its new map")
        .stdout_lacks("held");
    let conf = conf_101(&run);
    assert!(!conf.contains("lxc.idmap: u 2000 2000"), "{conf}");
    assert!(conf.contains("lxc.idmap: u 5000 5000 1000\n"), "{conf}");
    on(run.again(), "pve1", &["apply"]).success();
}
