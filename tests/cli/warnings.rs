//! What every command says about input it cannot use: CT configs that cannot be read, lines of a
//! CT config or of `storage.cfg` that Proxmox ignores, a `--node` that is not a node of the
//! cluster. Over the `sync` fixture (two nodes, `pve1` and `pve2`, as two roots sharing one
//! `etc/pve`).

use crate::harness::{Test, fixture_text, on};

/// The `sync` fixture with a CT 105 on pve1 and a CT 202 on pve2 whose configs cannot be read: a
/// malformed idmap line, and bytes that are not UTF-8.
fn broken() -> Test {
    let t = Test::new().fixture("sync").write(
        "cluster/pve/nodes/pve2/lxc/202.conf",
        "arch: amd64\nunprivileged: 1\nlxc.idmap: u 0 100000\n",
    );
    std::fs::write(
        t.path().join("cluster/pve/nodes/pve1/lxc/105.conf"),
        b"arch: amd64\nhostname: caf\xe9\n",
    )
    .unwrap();
    t
}

const CT_202: &str = "its config cannot be read: line 3 of /etc/pve/nodes/pve2/lxc/202.conf is a \
                      malformed idmap entry: ";

#[test]
fn read_only_commands_name_unreadable_ct_configs() {
    for (args, consequence) in [
        (&["plan"][..], "left out of the plan"),
        (
            &["emit", "--out", "{root}/bundles"][..],
            "left out of the bundles",
        ),
        (&["report"][..], "left out of the report"),
    ] {
        let run = on(broken(), "pve1", args)
            .success()
            .stderr_has(&format!(
                "idfed: warning: CT 202 on pve2: {consequence}: {CT_202}"
            ))
            .stderr_has(&format!(
                "idfed: warning: CT 105 on pve1: {consequence}: its config cannot be read: \
                 failed to read `"
            ))
            .stderr_has("/pve/nodes/pve1/lxc/105.conf`: stream did not contain valid UTF-8");
        // Once each, and each with where to look.
        let stderr = run.stderr();
        assert_eq!(stderr.matches("CT 202 on pve2").count(), 1, "{stderr}");
        assert_eq!(stderr.matches("CT 105 on pve1").count(), 1, "{stderr}");
        assert_eq!(
            stderr.matches("(`idfed check` says more)\n").count(),
            2,
            "{stderr}"
        );
    }
}

/// A config of the node `apply` runs on that cannot be read fails the run; the shares'
/// resolution is recorded as the outage guard's baseline all the same (it was good); the other
/// node's are warnings.
#[test]
fn apply_fails_on_an_unreadable_config_of_its_own_node() {
    let baseline = "cluster/pve/idfed/baseline.json";
    let run = on(broken(), "pve1", &["apply"])
        .failure()
        .stdout_has("error: CT 105 on pve1: its config cannot be read: failed to read `")
        .stderr_has(&format!(
            "idfed: warning: CT 202 on pve2: left out of the plan: {CT_202}"
        ))
        .stderr_has("idfed: error: 1 failure(s), after the report above:")
        .stderr_lacks("CT 105 on pve1: left out");
    assert!(run.path().join(baseline).exists());
    // The other CTs are still handled: the subid lines are added, the coverage published.
    assert!(run.read("pve1/etc/subuid").contains("root:1005:2\n"));
    assert!(
        run.path()
            .join("cluster/pve/idfed/nodes/pve1.json")
            .exists()
    );
    // `--dry-run` fails the same way.
    let run = on(run.again(), "pve1", &["apply", "--dry-run"])
        .failure()
        .stdout_has("error: CT 105 on pve1: its config cannot be read");
    // On pve2, pve1's CT is a warning; pve2's own is the error.
    let run = on(run.again(), "pve2", &["apply"])
        .failure()
        .stdout_has(&format!("error: CT 202 on pve2: {CT_202}"))
        .stderr_has("idfed: warning: CT 105 on pve1: left out of the plan: ");
    std::fs::remove_file(run.path().join("cluster/pve/nodes/pve2/lxc/202.conf")).unwrap();
    let run = on(run.again(), "pve2", &["apply"])
        .success()
        .stderr_has("idfed: warning: CT 105 on pve1: left out of the plan: ");

    // Repaired, pve1's run succeeds.
    std::fs::remove_file(run.path().join("cluster/pve/nodes/pve1/lxc/105.conf")).unwrap();
    on(run.again(), "pve1", &["apply"]).success();
}

/// Lines Proxmox ignores are kept, and said once, with the host path and the line.
#[test]
fn ignored_lines_of_ct_configs_and_storage_cfg_are_warned() {
    let conf = "cluster/pve/nodes/pve2/lxc/201.conf";
    let text = fixture_text("sync", conf);
    let line = text.lines().count() + 1;
    let storage = fixture_text("sync", "cluster/pve/storage.cfg");
    let storage_line = storage.lines().count() + 1;
    let t = Test::new()
        .fixture("sync")
        .write(conf, &format!("{text}what is this\n"))
        .write(
            "cluster/pve/storage.cfg",
            &format!("{storage}garbage here\n"),
        );
    for args in [&["plan"][..], &["check"][..], &["apply", "--dry-run"][..]] {
        let run = on(Test::new().fixture("sync"), "pve1", args);
        assert!(
            !run.stderr().contains("warning: /etc/pve"),
            "{}",
            run.stderr()
        );
    }
    let t = on(t, "pve1", &["plan"])
        .success()
        .stderr_has(&format!(
            "idfed: warning: /etc/pve/nodes/pve2/lxc/201.conf: line {line}: `what is this` is \
             not a config line"
        ))
        .stderr_has(&format!(
            "idfed: warning: /etc/pve/storage.cfg: line {storage_line}: `garbage here` is not a \
             `key value` line: ignored, as PVE does"
        ))
        .again();
    let run = on(t, "pve1", &["apply", "--dry-run"])
        .success()
        .stderr_has("idfed: warning: /etc/pve/nodes/pve2/lxc/201.conf: line ");
    let stderr = run.stderr();
    assert_eq!(stderr.matches("what is this").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("garbage here").count(), 1, "{stderr}");
}

/// `apply` writes and publishes as this node: a name that is not a node of the cluster (a typo
/// of `--node`, a host name that differs) is an error, before anything is written. The commands
/// that only read warn.
#[test]
fn apply_refuses_a_node_that_is_not_in_the_cluster() {
    let node = |t: Test, args: &[&str]| {
        t.args(["-c", "{root}/idfed.toml", "--root", "{root}/pve1"])
            .args(["--node", "pve9"])
            .args(args)
            .run()
    };
    let subuid = fixture_text("sync", "pve1/etc/subuid");
    let mut t = Test::new().fixture("sync");
    for args in [
        &["apply"][..],
        &["apply", "--dry-run"][..],
        &["apply", "--force"][..],
    ] {
        let run = node(t, args)
            .failure()
            .stderr_has("idfed: error: this node `pve9` is not a node of the cluster under `")
            .stderr_has("use --node NAME with one of: pve1, pve2")
            .stdout_is("");
        assert!(!run.path().join("cluster/pve/idfed").exists());
        assert!(!run.path().join("pve1/var/lib/idfed").exists());
        assert_eq!(run.read("pve1/etc/subuid"), subuid);
        t = run.again();
    }
    node(t, &["plan"])
        .success()
        .stderr_has("idfed: warning: this node `pve9` is not a node of the cluster under `");
}
