//! A cluster in its desired state, as a timer finds it every 15 minutes: `-q apply` prints
//! nothing, `plan` says "No changes" in one line (the maps with `-v`), `-q check` of a healthy
//! cluster says nothing. The `sync` fixture after `apply` ran on both nodes (twice on pve1: its
//! maps waited for pve2's coverage).

use crate::harness::{Run, Test, on};

const NO_CHANGES: &str = "No changes: every managed container has its desired map and every \
     node's subid files cover them (`idfed plan -v` shows the maps)\n";

fn converged() -> Run {
    let mut t = Test::new().fixture("sync");
    for node in ["pve1", "pve2", "pve1"] {
        t = on(t, node, &["apply"]).success().again();
    }
    on(t, "pve1", &["plan", "--detailed-exitcode"]).success()
}

#[test]
fn quiet_apply_in_a_steady_state_prints_nothing() {
    let run = converged();
    let run = on(run.again(), "pve1", &["-q", "apply"])
        .success()
        .stdout_is("")
        .stderr_is("");
    let run = on(run.again(), "pve2", &["-q", "apply"])
        .success()
        .stdout_is("")
        .stderr_is("");
    // Without -q the run says so (and the CT it skips each time).
    let run = on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has("CT 103: skipped: privileged")
        .stdout_has("no changes: node pve1 is in the desired state");
    // -q keeps what changes: a CT's map written back by hand is rewritten, and said.
    let conf = run.path().join("cluster/pve/nodes/pve2/lxc/201.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let stale: String = text
        .lines()
        .filter(|l| !l.starts_with("lxc.idmap: u 1005"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&conf, stale).unwrap();
    on(run.again(), "pve2", &["-q", "apply"])
        .success()
        .stdout_has("CT 201: got its new map")
        .stdout_lacks("published")
        .stdout_lacks("skipped");
}

#[test]
fn plan_in_a_steady_state_says_no_changes() {
    let run = converged();
    let run = on(run.again(), "pve1", &["plan"])
        .success()
        .stdout_is(NO_CHANGES);
    let run = on(run.again(), "pve1", &["-q", "plan"])
        .success()
        .stdout_is("")
        .stderr_is("");
    // -v: the whole plan, every map in it.
    let run = on(run.again(), "pve1", &["-v", "plan"])
        .success()
        .stdout_has("map for CTs 101, 102:\n  lxc.idmap: u 0 100000 1005\n")
        .stdout_has("nothing to change");
    // JSON is the plan whatever the state.
    let json = on(run.again(), "pve1", &["--format", "json", "plan"])
        .success()
        .json();
    assert_eq!(json["containers"].as_array().unwrap().len(), 4);
    // With a change pending the plan is shown in full, -q or not.
    on(Test::new().fixture("sync"), "pve1", &["-q", "plan"])
        .success()
        .stdout_has("map for CTs 101, 102:");
}

#[test]
fn quiet_check_of_a_healthy_cluster_says_nothing() {
    let run = Test::new()
        .fixture("check-healthy")
        .at_root("pve1")
        .args(["check"])
        .run()
        .success()
        .stdout_has("0 problem(s), 0 warning(s)");
    run.again()
        .at_root("pve1")
        .args(["-q", "check"])
        .run()
        .success()
        .stdout_is("")
        .stderr_is("");
}
