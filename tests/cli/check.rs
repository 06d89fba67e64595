//! `idfed check` over fixture clusters: a healthy one (exit 0, nothing said), one with every
//! problem kind (exit 2), one with every warning kind and no problem (exit 0), and runs that
//! cannot happen (exit 1). Then the kernel's word: every map check calls valid is accepted by a
//! fresh user namespace, every map it calls invalid for overlap or budget is refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use idfed::idmap::{Extent, kernel_text};
use idfed::ids::IdKind;
use idfed::pve::CtConfig;
use serde_json::Value;

use crate::harness::{Run, Test, finding, fixture, skip_without_root};
use crate::lxc::{Container, idmap_lines, run_container};
use crate::userns::{EINVAL, MapFile, kernel_accepts};

fn check(fixture: &str, format: &str) -> Run {
    Test::new()
        .fixture(fixture)
        .at_root("pve1")
        .args(["--format", format, "check"])
        .run()
}

/// The output with the temp dir replaced by `[root]` (a read error names the file on disk).
fn stable(run: &Run) -> String {
    run.stdout().replace(run.path().to_str().unwrap(), "[root]")
}

/// `(ct, code)` of every finding of a list.
fn codes(json: &Value, list: &str) -> BTreeSet<(Option<u64>, String)> {
    json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["ct"].as_u64(), f["code"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn healthy_cluster_exits_0() {
    check("check-healthy", "text")
        .success()
        .stdout_is("0 problem(s), 0 warning(s)\n");
    let run = check("check-healthy", "json").success();
    assert_eq!(
        run.json(),
        serde_json::json!({"problems": [], "warnings": []})
    );
}

#[test]
fn every_problem_kind_exits_2() {
    let run = check("check-problems", "text").code(2);
    insta::assert_snapshot!("problems_text", stable(&run));
    let run = check("check-problems", "json").code(2);
    let json: Value = serde_json::from_str(&stable(&run)).unwrap();
    insta::assert_json_snapshot!("problems_json", json);

    let want: BTreeSet<(Option<u64>, String)> = [
        (301, "map-inside-overlap"),
        (302, "map-outside-overlap"),
        (303, "map-too-many-extents"),
        (303, "map-too-long"),
        (304, "map-too-long"),
        (305, "map-root-unmapped"),
        (306, "map-root-unmapped"),
        (307, "map-malformed"),
        (308, "config-unparsable"),
        (309, "subuid-missing"),
        (310, "config-unreadable"),
    ]
    .into_iter()
    .map(|(ct, code)| (Some(ct), code.to_string()))
    .chain([(None, "subid-malformed".to_string())])
    .collect();
    assert_eq!(codes(&json, "problems"), want);
    assert_eq!(codes(&json, "warnings"), BTreeSet::new());
    // Every finding names its node and CT in the message and has a fix.
    for f in json["problems"].as_array().unwrap() {
        let message = f["message"].as_str().unwrap();
        let Some(ct) = f["ct"].as_u64() else {
            assert!(message.starts_with("/etc/subuid on pve1: line 3: "), "{f}");
            continue;
        };
        assert!(message.starts_with(&format!("CT {ct} on ")), "{message}");
        assert!(!f["fix"].as_str().unwrap().is_empty(), "{f}");
        assert!(
            ["pve1", "pve2"].contains(&f["node"].as_str().unwrap()),
            "{f}"
        );
    }
}

#[test]
fn missing_subids_name_the_ranges_and_the_lines() {
    let run = check("check-problems", "json").code(2);
    let json = run.json();
    let f = finding(&json, "problems", |f| f["code"] == "subuid-missing");
    assert_eq!(f["node"], "pve1");
    assert_eq!(f["ct"], 309);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("does not give `root` host uids 1005"),
        "{f}"
    );
    assert_eq!(
        f["fix"],
        "add to /etc/subuid on pve1 (or run `idfed apply` on pve1):\nroot:1005:1"
    );
}

#[test]
fn a_custom_map_of_one_kind_leaves_the_other_unmapped() {
    let run = check("check-problems", "json").code(2);
    let json = run.json();
    let f = finding(&json, "problems", |f| f["ct"] == 306);
    assert_eq!(f["code"], "map-root-unmapped");
    assert!(
        f["message"].as_str().unwrap().contains("map only gids"),
        "{f}"
    );
    assert_eq!(
        f["fix"],
        "add to /etc/pve/nodes/pve2/lxc/306.conf:\nlxc.idmap: u 0 100000 65536"
    );
}

#[test]
fn every_warning_kind_alone_exits_0() {
    let run = check("check-warnings", "text").success();
    insta::assert_snapshot!("warnings_text", stable(&run));
    let run = check("check-warnings", "json").success();
    let json = run.json();
    insta::assert_json_snapshot!("warnings_json", json);
    let want: BTreeSet<(Option<u64>, String)> = [
        (Some(401), "privileged-share"),
        (Some(402), "not-shared"),
        (Some(403), "drift"),
        (Some(404), "exposure"),
        (Some(405), "exposure"),
        (Some(405), "unmanaged-map"),
        (Some(406), "idmap-deprecated"),
    ]
    .into_iter()
    .map(|(ct, code)| (ct, code.to_string()))
    .collect();
    assert_eq!(codes(&json, "warnings"), want);
    assert_eq!(codes(&json, "problems"), BTreeSet::new());
}

#[test]
fn after_apply_on_pve1_pve2_lacks_the_subids() {
    // pve1's own check is clean of problems; pve2 lacks the subids pve1's converged CTs need.
    let applied = Test::new()
        .fixture("report-cluster")
        .on_node("pve1")
        .args(["apply", "--force"])
        .run()
        .success();
    let pve1 = applied
        .again()
        .on_node("pve1")
        .args(["--format", "json", "check"])
        .run()
        .success();
    let pve2 = pve1
        .again()
        .on_node("pve2")
        .args(["--format", "json", "check"])
        .run()
        .code(2);
    let json = pve2.json();
    let want: BTreeSet<(Option<u64>, String)> = [
        (101, "subuid-missing"),
        (101, "subgid-missing"),
        (102, "subuid-missing"),
        (102, "subgid-missing"),
    ]
    .into_iter()
    .map(|(ct, code)| (Some(ct), code.to_string()))
    .collect();
    assert_eq!(codes(&json, "problems"), want);
    for f in json["problems"].as_array().unwrap() {
        assert_eq!(f["node"], "pve2", "{f}");
    }
}

/// newuidmap agrees: after `apply` on pve1, CT 101's new map starts with pve1's subid files (check
/// on pve1: no problem) and is refused with pve2's (check on pve2: `subuid-missing` for CT 101).
#[test]
fn newuidmap_agrees_with_check_on_coverage() {
    if skip_without_root("starting LXC containers") {
        return;
    }
    let applied = Test::new()
        .fixture("report-cluster")
        .on_node("pve1")
        .args(["apply", "--force"])
        .run()
        .success();
    let conf = applied.read("cluster/pve/nodes/pve1/lxc/101.conf");
    let idmap = idmap_lines(&conf);
    assert!(
        idmap.iter().any(|l| l == "lxc.idmap: u 1005 1005 1"),
        "{conf}"
    );
    let files = |run: &Run, node: &str| {
        (
            run.read(&format!("{node}/etc/subuid")),
            run.read(&format!("{node}/etc/subgid")),
        )
    };

    let pve1 = applied
        .again()
        .on_node("pve1")
        .args(["check"])
        .run()
        .success();
    let (subuid, subgid) = files(&pve1, "pve1");
    let started = run_container(&Container::new(&idmap).subids(&subuid, &subgid));
    assert!(
        started.is_ok(),
        "check passes on pve1, LXC did not start:\n{started:?}"
    );

    let pve2 = pve1
        .again()
        .on_node("pve2")
        .args(["--format", "json", "check"])
        .run()
        .code(2);
    let json = pve2.json();
    assert!(
        codes(&json, "problems").contains(&(Some(101), "subuid-missing".to_string())),
        "{json}"
    );
    let (subuid, subgid) = files(&pve2, "pve2");
    let err = run_container(&Container::new(&idmap).subids(&subuid, &subgid))
        .expect_err("check fails on pve2, LXC started");
    assert!(
        err.contains("newuidmap") && err.contains("not allowed"),
        "{err}"
    );
}

#[test]
fn cannot_run_exits_1() {
    Test::new()
        .args(["-c", "{root}/missing.toml", "--root", "{root}", "check"])
        .run()
        .failure()
        .stderr_has("missing.toml");
    // An LDAP source nobody answers on (port 9, discard: refused).
    Test::new()
        .fixture("check-healthy")
        .write(
            "idfed.toml",
            "[source.corp]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:9\"\n\
             user_base = \"ou=people,dc=example,dc=org\"\ngroup_base = \"ou=groups,dc=example,dc=org\"\n\
             timeout_secs = 2\n\n[share.projects]\nsource = \"corp\"\npath = \"/mnt/pve/projects\"\n\
             users = [\"alice\"]\n",
        )
        .at_root("pve1")
        .args(["check"])
        .run()
        .failure()
        .stderr_has("cannot read source `corp`");
}

/// Every CT config of a fixture (`etc/pve/nodes/*/lxc/*.conf`), by vmid.
fn configs(root: &Path) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    let nodes = root.join("etc/pve/nodes");
    for node in std::fs::read_dir(&nodes).unwrap() {
        let lxc = node.unwrap().path().join("lxc");
        for conf in std::fs::read_dir(&lxc).into_iter().flatten() {
            let path = conf.unwrap().path();
            let vmid = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            out.push((vmid, path));
        }
    }
    out.sort();
    out
}

/// The codes check gives for maps the kernel refuses.
const KERNEL_CODES: [&str; 4] = [
    "map-inside-overlap",
    "map-outside-overlap",
    "map-too-many-extents",
    "map-too-long",
];

/// The kind a map finding is about: its message names `the uid map` or extents `u ...`.
fn kind_named(message: &str) -> IdKind {
    if message.contains("the uid map") || message.contains("`u ") {
        IdKind::Uid
    } else {
        assert!(
            message.contains("the gid map") || message.contains("`g "),
            "{message}"
        );
        IdKind::Gid
    }
}

#[test]
fn the_kernel_agrees_with_check() {
    if skip_without_root("writing maps into user namespaces") {
        return;
    }
    let (mut accepted, mut refused) = (0, 0);
    for name in ["check-healthy", "check-problems", "check-warnings"] {
        let run = check(name, "json");
        let json = run.json();
        for (vmid, path) in configs(&fixture(name)) {
            let Ok(config) = std::fs::read_to_string(&path)
                .map_err(|_| ())
                .and_then(|t| CtConfig::parse(&t).map_err(|_| ()))
            else {
                continue; // unreadable or malformed: no map to write
            };
            if !config.unprivileged() {
                continue; // no user namespace
            }
            let map = config.effective_idmap();
            let findings: Vec<&Value> = json["problems"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["ct"].as_u64() == Some(vmid))
                .filter(|f| f["code"].as_str().unwrap().starts_with("map-"))
                .collect();
            let bad_kinds: BTreeSet<IdKind> = findings
                .iter()
                .filter(|f| KERNEL_CODES.contains(&f["code"].as_str().unwrap()))
                .map(|f| kind_named(f["message"].as_str().unwrap()))
                .collect();
            for (kind, file) in [(IdKind::Uid, MapFile::Uid), (IdKind::Gid, MapFile::Gid)] {
                let extents: Vec<Extent> = map.iter().filter(|e| e.kind == kind).copied().collect();
                if extents.is_empty() {
                    continue; // a one-kind map: check calls it invalid for root, not the kernel
                }
                let text = kernel_text(&extents);
                let verdict = kernel_accepts(file, &text);
                if bad_kinds.contains(&kind) {
                    assert_eq!(
                        verdict,
                        Err(EINVAL),
                        "{name} CT {vmid}: check calls the {kind} map invalid, the kernel took it:\n{text}"
                    );
                    refused += 1;
                } else if findings.is_empty() {
                    assert_eq!(
                        verdict,
                        Ok(()),
                        "{name} CT {vmid}: check calls the {kind} map valid, the kernel refused it:\n{text}"
                    );
                    accepted += 1;
                }
            }
        }
    }
    // 301, 302, 303, 304: one uid map each.
    assert_eq!(refused, 4);
    assert!(accepted >= 16, "only {accepted} valid maps written");
}

/// Each node publishes the digest of the configuration it planned from and its version: a node
/// that planned from another configuration is a `config-differs` warning on the others (the
/// nodes of the `sync` fixture, pve2 with a configuration of its own).
#[test]
fn nodes_that_planned_from_different_configurations_are_a_warning() {
    use crate::harness::on;

    let t = Test::new().fixture("sync");
    let t = on(t, "pve1", &["apply"]).success().again();
    let t = on(t, "pve2", &["apply"]).success().again();
    let run = on(t, "pve1", &["--format", "json", "check"]).success();
    let same = run.json();
    assert!(
        !codes(&same, "warnings").contains(&(None, "config-differs".to_string())),
        "{same:#}"
    );
    let published: Value =
        serde_json::from_str(&run.read("cluster/pve/idfed/nodes/pve2.json")).unwrap();
    let digest = published["config_sha256"].as_str().unwrap();
    assert_eq!(digest.len(), 64, "{published:#}");
    assert_eq!(published["version"], env!("CARGO_PKG_VERSION"));

    // pve2 plans from a file of its own, with bob as an owner too.
    let own = run
        .read("idfed.toml")
        .replace("users = [\"alice\"]", "users = [\"alice\", \"bob\"]");
    let run = run
        .again()
        .write("idfed-pve2.toml", &own)
        .args(["-c", "{root}/idfed-pve2.toml", "--root", "{root}/pve2"])
        .args(["--node", "pve2", "apply"])
        .run()
        .success();
    let run = on(run.again(), "pve1", &["--format", "json", "check"]).success();
    let json = run.json();
    let f = finding(&json, "warnings", |f| f["code"] == "config-differs");
    assert_eq!(f["node"], "pve2");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("node pve2 planned from another configuration than this node's"),
        "{f:#}"
    );
    on(run.again(), "pve1", &["check"])
        .success()
        .stdout_has("warning [config-differs] node pve2 planned from another configuration");
}

/// Issue 14: a snapshot whose map this node's subids do not cover cannot be rolled back to (the
/// CT would not start after `pct rollback`); once the lines are there, the cluster is healthy.
#[test]
fn a_snapshot_map_the_node_does_not_cover_is_a_problem() {
    let conf = "etc/pve/nodes/pve1/lxc/101.conf";
    let current = crate::harness::fixture_text("check-healthy", conf);
    let with_snapshot = format!(
        "{current}parent: before-switch\n\n[before-switch]\narch: amd64\nhostname: notebook\n\
         memory: 512\nostype: debian\nrootfs: local-lvm:vm-101-disk-0,size=4G\nsnaptime: \
         1764000000\nunprivileged: 1\nlxc.idmap: u 0 100000 2001\nlxc.idmap: g 0 100000 2001\n\
         lxc.idmap: u 2001 2001 1\nlxc.idmap: g 2001 2001 1\nlxc.idmap: u 2002 102002 63534\n\
         lxc.idmap: g 2002 102002 63534\n"
    );
    let run = Test::new()
        .fixture("check-healthy")
        .write(conf, &with_snapshot)
        .at_root("pve1")
        .args(["--format", "json", "check"])
        .run()
        .code(2);
    let json = run.json();
    assert_eq!(
        codes(&json, "problems"),
        [
            (Some(101), "snapshot-subgid-missing".to_string()),
            (Some(101), "snapshot-subuid-missing".to_string())
        ]
        .into_iter()
        .collect()
    );
    let f = finding(&json, "problems", |f| {
        f["code"] == "snapshot-subuid-missing"
    });
    assert_eq!(
        f["message"],
        "CT 101 on pve1 cannot start here (pve1) after a rollback to snapshot [before-switch]: \
         this node's /etc/subuid does not give `root` host uids 2001 (newuidmap: uid range not \
         allowed)"
    );
    assert_eq!(
        f["fix"],
        "add to /etc/subuid on pve1 (or `pct delsnapshot 101 before-switch` if the snapshot is \
         not needed):\nroot:2001:1"
    );
    // With the lines added, nothing is left to say.
    let subid = |file: &str| crate::harness::fixture_text("check-healthy", file);
    Test::new()
        .fixture("check-healthy")
        .write(conf, &with_snapshot)
        .write("etc/subuid", &(subid("etc/subuid") + "root:2001:1\n"))
        .write("etc/subgid", &(subid("etc/subgid") + "root:2001:1\n"))
        .at_root("pve1")
        .args(["check"])
        .run()
        .success()
        .stdout_is("0 problem(s), 0 warning(s)\n");
}
