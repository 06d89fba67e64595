//! Maps fitted into the kernel's budget (issue 13): the inside ids a map leaves unmapped and the
//! ids it exposes are shown by every command that reads or writes maps, and a CT that cannot fit
//! is named with what would fit. Over the `sync` fixture with a budget of 5 extents: share
//! `projects` passes uids 1005-1006 (alice, bob), 1010 and 1100 through, so CTs 101 and 102 leave
//! uids 1007-1009 and 1011-1099 unmapped, and CT 201 (www-data's 33 kept) cannot fit at all.

use serde_json::json;

use crate::harness::{Test, on};

const FITTED: &str = r#"
[cluster]
max_extents = 5

[source.nas]
type = "files"
passwd = "passwd"
group = "group"

[share.projects]
source = "nas"
path = "/mnt/pve/projects"
users = ["alice"]
groups = ["research"]
uids = [1010, 1100]
"#;

/// The sync fixture with the budget of 5 extents (and `extra` appended to `[cluster]`).
fn fitted(extra: &str) -> Test {
    let config = FITTED.replace("max_extents = 5\n", &format!("max_extents = 5\n{extra}"));
    Test::new().fixture("sync").write("idfed.toml", &config)
}

#[test]
fn plan_lists_the_ids_an_unmap_fitted_map_leaves_unmapped() {
    on(fitted(""), "pve1", &["plan"])
        .success()
        .stdout_has("  CTs 101, 102 on pve1 (shares: projects): waiting for pve1, pve2")
        .stdout_has(
            "    gains: every owner of share projects\n    leaves uids 1007-1009,1011-1099 unmapped \
             to fit the kernel's budget (their files show as nobody inside)\n",
        )
        // Said once: not again as the map's warning.
        .stdout_lacks("warning: uids")
        .stdout_lacks("exposes");
    let doc = on(fitted(""), "pve1", &["--format", "json", "plan"])
        .success()
        .json();
    let ct = &doc["containers"][0];
    assert_eq!(ct["ct"], 101);
    assert_eq!(
        ct["unmapped_uids"],
        json!([{"start": 1007, "count": 3}, {"start": 1011, "count": 89}])
    );
    assert_eq!(ct["unmapped_gids"], json!([]));
    assert_eq!(ct["exposed_uids"], json!([]));
    // The map itself maps none of them.
    let unmapped_extent = ct["uid_map"].as_array().unwrap().iter().any(|e| {
        let (start, count) = (e["inside"].as_u64().unwrap(), e["count"].as_u64().unwrap());
        start < 1100 && start + count > 1011
    });
    assert!(!unmapped_extent, "{}", ct["uid_map"]);
}

/// A passthrough in the base range (100005) leaves inside uid 5 unmapped too, for another reason:
/// the plan says each part with its own.
#[test]
fn plan_says_why_each_part_is_left_unmapped() {
    let config = FITTED
        .replace("max_extents = 5", "max_extents = 8")
        .replace("uids = [1010, 1100]", "uids = [1010, 1100, 100005]");
    let t = Test::new().fixture("sync").write("idfed.toml", &config);
    let run = on(t, "pve1", &["plan"]).success().stdout_has(
        "    leaves uids 1007-1009 unmapped to fit the kernel's budget (their files show as nobody \
         inside)\n\
         \x20   leaves uids 5 unmapped: their base ids are passed through (their files show as \
         nobody inside)\n",
    );
    let doc = on(run.again(), "pve1", &["--format", "json", "plan"])
        .success()
        .json();
    assert_eq!(
        doc["containers"][0]["unmapped_uids"],
        json!([{"start": 5, "count": 1}, {"start": 1007, "count": 3}])
    );
}

/// `t` after `idfed apply` on pve2, then pve1: CTs 101 and 102 have their fitted maps.
fn applied(t: Test) -> Test {
    let t = on(t, "pve2", &["apply"]).success().again();
    on(t, "pve1", &["apply"]).success().again()
}

#[test]
fn report_and_check_list_the_ids_a_map_leaves_unmapped() {
    let t = applied(fitted(""));
    let run = on(t, "pve1", &["report"]).success().stdout_has(
        "\ninside ids its map leaves unmapped (no process runs as them; their files show as nobody):\n\
         \x20 CT 101 on pve1 leaves 92 uids (1007-1009,1011-1099) unmapped\n\
         \x20 CT 102 on pve1 leaves 92 uids (1007-1009,1011-1099) unmapped\n",
    );
    let run = on(run.again(), "pve1", &["--format", "json", "report"]).success();
    let doc = run.json();
    let fitted_uids = json!([{"start": 1007, "count": 3}, {"start": 1011, "count": 89}]);
    assert_eq!(
        doc["unmapped"],
        json!([
            {"ct": 101, "node": "pve1", "uids": fitted_uids, "gids": []},
            {"ct": 102, "node": "pve1", "uids": fitted_uids, "gids": []},
        ])
    );
    // `--ct` narrows it as it narrows the exposure.
    let run = on(
        run.again(),
        "pve1",
        &["--format", "json", "report", "--ct", "102"],
    )
    .success();
    assert_eq!(run.json()["unmapped"][0]["ct"], 102);
    assert_eq!(run.json()["unmapped"].as_array().unwrap().len(), 1);

    // check: a warning per CT (it starts; those ids cannot be used inside), not a problem.
    let run = on(run.again(), "pve1", &["--format", "json", "check"]).code(2);
    let doc = run.json();
    let unmapped: Vec<&serde_json::Value> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unmapped-ids")
        .collect();
    assert_eq!(unmapped.len(), 2, "{doc:#}");
    assert_eq!(unmapped[0]["ct"], 101);
    assert_eq!(
        unmapped[0]["message"],
        "CT 101 on pve1: its map leaves uids 1007-1009,1011-1099 unmapped inside: no process runs \
         as them there, and their files show as nobody"
    );
    assert!(
        unmapped[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("the desired map of CT 101 leaves them unmapped too"),
        "{}",
        unmapped[0]["fix"]
    );
    let problems = doc["problems"].as_array().unwrap();
    assert!(
        problems.iter().all(|f| f["code"] != "unmapped-ids"),
        "{doc:#}"
    );
}

/// The budget raised again: the desired map maps the ids, and check's fix says to apply it.
#[test]
fn check_says_apply_maps_them_when_the_desired_map_does() {
    let t = applied(fitted("")).write("idfed.toml", &FITTED.replace("max_extents = 5\n", ""));
    let doc = on(t, "pve1", &["--format", "json", "check"]).code(2).json();
    let fixes: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unmapped-ids")
        .map(|f| f["fix"].as_str().unwrap())
        .collect();
    assert_eq!(
        fixes,
        [
            "run `idfed apply` on pve1: the desired map of CT 101 maps them",
            "run `idfed apply` on pve1: the desired map of CT 102 maps them"
        ]
    );
}

/// CT 201 keeps www-data's 33 (hand-written): with it, even every inside id between the
/// passthroughs unmapped needs 7 extents. It is not switched; plan (also when nothing else
/// changes), apply and check name it with its owner count and what would fit.
#[test]
fn a_ct_that_cannot_fit_is_named_with_its_owners_and_what_would_fit() {
    let why = "its uid map for 2 owners of its shares (4 uids) cannot fit: the uid map does not \
               fit the kernel's budget (5 extents, under 4079 bytes) without exposing ids: its 4 \
               passthrough ranges need 7 extents, 88 bytes even with every inside id between them \
               unmapped; about 2 such ranges would fit (`over_budget = \"expose\"` merges ranges \
               instead)";
    let run = on(fitted(""), "pve1", &["plan"])
        .success()
        .stdout_has(&format!(
            "\nleft alone:\n  CT 103 on pve1 (shares: projects): blocked: not switched now: \
             privileged: it writes as anyone; idfed never edits its map\n  CT 201 on pve2 \
             (shares: projects): blocked: not switched now: {why}\n"
        ));
    let doc = on(run.again(), "pve1", &["--format", "json", "plan"])
        .success()
        .json();
    assert_eq!(doc["containers"][3]["ct"], 201);
    assert_eq!(doc["containers"][3]["skipped"], why);
    assert_eq!(doc["containers"][3]["rollout"]["state"], "blocked");

    // Applied on both nodes: nothing changes, and the plan still names it.
    let t = on(fitted(""), "pve2", &["apply"])
        .success()
        .stdout_has(&format!("CT 201: skipped: {why}\n"))
        .again();
    let t = on(t, "pve1", &["apply"]).success().again();
    let run = on(t, "pve1", &["plan"]).success().stdout_is(&format!(
        "No changes: every managed container has its desired map and every node's subid files \
         cover them (`idfed plan -v` shows the maps)\n\
         CT 201 on pve2 (shares: projects): not switched: {why}\n"
    ));
    let run = on(run.again(), "pve1", &["-q", "plan"])
        .success()
        .stdout_is(&format!(
            "CT 201 on pve2 (shares: projects): not switched: {why}\n"
        ));

    // check: its own finding (a warning: the CT runs with its old map), with what would fit.
    let doc = on(run.again(), "pve1", &["--format", "json", "check"])
        .code(2)
        .json();
    let found: Vec<&serde_json::Value> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ct"] == 201 && f["code"] != "exposure")
        .collect();
    assert_eq!(
        found,
        [&json!({
            "node": "pve2",
            "ct": 201,
            "code": "over-budget",
            "message": format!(
                "CT 201 on pve2 uses share(s) `projects` but is not switched: {why}; it keeps its \
                 current map"
            ),
            "fix": "give the shares of CT 201 fewer or closer ids (about 2 passthrough ranges \
                    fit), or set `cluster.over_budget = \"expose\"` to merge passthroughs across \
                    the gaps instead (CT 201 then acts as the host ids between them); then run \
                    `idfed apply` on pve2",
        })]
    );
}

/// Under `expose`, protected ids in both gaps leave nothing to merge: no CT fits, and check's fix
/// says what blocks the merges. A plan that changes nothing still names every such CT.
#[test]
fn expose_that_cannot_merge_names_what_blocks_it() {
    let t = fitted("over_budget = \"expose\"\nprotected = [\"1008\", \"1050\"]\n");
    let run = on(t, "pve1", &["plan"]).success();
    let out = run.stdout();
    assert!(out.starts_with("No changes: "), "{out}");
    for ct in ["101 on pve1", "102 on pve1", "201 on pve2"] {
        assert!(
            out.contains(&format!(
                "CT {ct} (shares: projects): not switched: its uid map for 2 owners of its shares \
                 (4 uids) cannot fit: the uid map cannot fit the kernel's budget (5 extents, under \
                 4079 bytes) even with every passthrough range merged that may be"
            )),
            "{out}"
        );
    }
    let doc = on(run.again(), "pve1", &["--format", "json", "check"])
        .code(2)
        .json();
    let fix = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "over-budget" && f["ct"] == 101)
        .map(|f| f["fix"].clone());
    assert_eq!(
        fix,
        Some(json!(
            "give the shares of CT 101 fewer or closer ids (merged as far as it may be, its map \
             is still 2 extent(s) over the budget): no merge crosses an id below \
             `cluster.min_id`, a protected id (`cluster.protected`), the base id or a hand-written \
             passthrough kept below `min_id`; then run `idfed apply` on pve1"
        ))
    );
}

/// apply says what every map it writes exposes (issue 13: it wrote `u 33 33 973` silently) and
/// leaves unmapped, in text and JSON, dry run included; a run that writes nothing says neither.
#[test]
fn apply_reports_every_exposed_range_it_writes() {
    let t = fitted("over_budget = \"expose\"\n");
    // pve2 first: it publishes its coverage; CT 201 waits for pve1.
    let t = on(t, "pve2", &["apply"])
        .success()
        .stdout_lacks("exposed")
        .again();
    let run = on(t, "pve1", &["--format", "json", "apply"]).success();
    let doc = run.json();
    assert_eq!(doc["restart_required"], json!([101, 102]));
    let through = json!([{"start": 1007, "count": 3}]);
    assert_eq!(
        doc["exposed"],
        json!([
            {"ct": 101, "uids": through, "gids": []},
            {"ct": 102, "uids": through, "gids": []},
        ])
    );
    assert_eq!(doc["unmapped"], json!([]));
    assert!(
        run.read("cluster/pve/nodes/pve1/lxc/101.conf")
            .contains("lxc.idmap: u 1005 1005 6\n")
    );
    let t = run.again();
    let run = on(t, "pve2", &["apply", "--dry-run"]).success().stdout_has(
        "CT 201: its new map would pass uids 1007-1009,1011-1099, gids 1007-2999 through, which \
         no owner asked for (merged to fit the kernel's budget)\n",
    );
    // www-data's 33 is kept as it is, never widened: the merge starts at 1005.
    // Said with -q too: the map written is a change.
    let run = on(run.again(), "pve2", &["-q", "apply"])
        .success()
        .stdout_has(
            "\nCT 201: got its new map: it takes effect at the next start (`pct reboot 201`)\n\
         CT 201: its new map passes uids 1007-1009,1011-1099, gids 1007-2999 through, which no \
         owner asked for (merged to fit the kernel's budget)\n",
        );
    let conf = run.read("cluster/pve/nodes/pve2/lxc/201.conf");
    assert!(
        conf.contains(
            "lxc.idmap: u 33 33 1\nlxc.idmap: u 34 100034 971\nlxc.idmap: u 1005 1005 96\n"
        ),
        "{conf}"
    );
    on(run.again(), "pve2", &["apply"])
        .success()
        .stdout_lacks("through");
}

/// Under `unmap` apply says which inside ids each map it writes leaves unmapped.
#[test]
fn apply_reports_the_ids_a_map_it_writes_leaves_unmapped() {
    let t = on(fitted(""), "pve2", &["apply"]).success().again();
    let run = on(t, "pve1", &["--format", "json", "apply", "--dry-run"]).success();
    let doc = run.json();
    let left = json!([{"start": 1007, "count": 3}, {"start": 1011, "count": 89}]);
    assert_eq!(
        doc["unmapped"],
        json!([
            {"ct": 101, "uids": left, "gids": []},
            {"ct": 102, "uids": left, "gids": []},
        ])
    );
    assert_eq!(doc["exposed"], json!([]));
    on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_has(
            "CT 101: its new map leaves uids 1007-1009,1011-1099 unmapped (their files show as \
             nobody inside)\n\
             CT 102: its new map leaves uids 1007-1009,1011-1099 unmapped (their files show as \
             nobody inside)\n",
        )
        .stdout_lacks("through");
}

/// 300 sparse uids as a long-lived directory scatters them (a fixed pseudo-random draw): 280 of
/// 1000-9999, 20 above the container's range, some in the millions. (280 five-digit passthroughs
/// alone are over LXC's 4079 bytes: no map of them fits without merging.)
fn sparse_uids() -> Vec<u32> {
    let mut seed: u64 = 0x0005_eed1_dfed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < 280 {
        ids.insert(1000 + next(9_000) as u32);
    }
    while ids.len() < 300 {
        let far = if ids.len() % 2 == 0 {
            3_000_000
        } else {
            70_000
        };
        ids.insert(far + next(500_000) as u32);
    }
    ids.into_iter().collect()
}

/// The sync fixture with share `projects` also passing `sparse_uids` through, under `policy`.
fn sparse(policy: &str) -> Test {
    let uids: Vec<String> = sparse_uids().iter().map(u32::to_string).collect();
    let config = FITTED
        .replace(
            "max_extents = 5\n",
            &format!("over_budget = \"{policy}\"\n"),
        )
        .replace(
            "uids = [1010, 1100]",
            &format!("uids = [{}]", uids.join(", ")),
        );
    Test::new().fixture("sync").write("idfed.toml", &config)
}

/// Applies the sparse share on both nodes; returns the run of pve1's apply (JSON) and CT 101's
/// `lxc.idmap` lines as written.
fn apply_sparse(policy: &str) -> (crate::harness::Run, serde_json::Value, Vec<String>) {
    let t = on(sparse(policy), "pve2", &["apply"]).success().again();
    let run = on(t, "pve1", &["--format", "json", "apply"]).success();
    let doc = run.json();
    assert_eq!(doc["restart_required"], json!([101, 102]), "{doc:#}");
    let idmap = crate::lxc::idmap_lines(&run.read("cluster/pve/nodes/pve1/lxc/101.conf"));
    (run, doc, idmap)
}

/// The first id of the first range of `ids` (`[{"start", "count"}]`).
fn first(ids: &serde_json::Value) -> u32 {
    ids[0]["start"].as_u64().unwrap() as u32
}

/// Real kernel and LXC: the map `apply` wrote for 300 sparse uids under `unmap` (over 340
/// extents unfitted) starts a container; a passthrough lands as itself, a host file of an inside
/// id apply said it leaves unmapped shows as nobody (65534), a mapped one as itself.
#[test]
fn lxc_starts_the_unmap_fitted_map_apply_wrote_for_300_sparse_uids() {
    use crate::lxc::probe_fitted_map;

    if crate::harness::skip_without_root("the LXC test") {
        return;
    }
    let (run, doc, idmap) = apply_sparse("unmap");
    assert_eq!(doc["exposed"], json!([]));
    assert_eq!(doc["unmapped"][0]["ct"], 101);
    let unmapped = first(&doc["unmapped"][0]["uids"]);
    // An unmapped run lies between passthroughs: the id before it is one (alice's 1005-1006 or a
    // sparse one).
    let pass = unmapped - 1;
    assert!(sparse_uids().contains(&pass) || pass == 1006, "{pass}");
    // An inside id above min_id the map keeps on the base range.
    let mapped = idmap
        .iter()
        .filter_map(|l| {
            let e = l.strip_prefix("lxc.idmap: u ")?;
            let f: Vec<u32> = e.split(' ').map(|n| n.parse().unwrap()).collect();
            (f[0] > 1006 && f[1] == 100_000 + f[0]).then_some(f[0])
        })
        .next()
        .unwrap();
    probe_fitted_map(
        &idmap,
        (&run.read("pve1/etc/subuid"), &run.read("pve1/etc/subgid")),
        unmapped,
        mapped,
        pass,
    );
}

/// Real kernel and LXC: the map `apply` wrote for the same uids under `expose` starts a
/// container; a passthrough lands as itself, and so does an id apply said it exposes (what
/// "exposed" means: the CT acts as that host id).
#[test]
fn lxc_starts_the_expose_fitted_map_apply_wrote_for_300_sparse_uids() {
    use crate::lxc::{Container, as_user, owner, run_container, shared_dir};

    if crate::harness::skip_without_root("the LXC test") {
        return;
    }
    let (run, doc, idmap) = apply_sparse("expose");
    assert_eq!(doc["unmapped"], json!([]));
    assert_eq!(doc["exposed"][0]["ct"], 101);
    let exposed = first(&doc["exposed"][0]["uids"]);
    let ids = sparse_uids();
    assert!(!ids.contains(&exposed) && exposed >= 1000, "{exposed}");
    let pass = ids[0];
    let host = shared_dir();
    let spec = Container::new(&idmap)
        .subids(&run.read("pve1/etc/subuid"), &run.read("pve1/etc/subgid"))
        .user("pat", pass, 0)
        .user("eve", exposed, 0)
        .host_dir(host.path())
        .script(&format!(
            "{} && {}",
            as_user("pat", "touch /shared/pat"),
            as_user("eve", "touch /shared/eve")
        ));
    run_container(&spec).unwrap();
    assert_eq!(owner(&host.path().join("pat")), (pass, 100_000));
    assert_eq!(owner(&host.path().join("eve")), (exposed, 100_000));
}

/// Two gaps of 3 ids (1007-1009 and 1011-1013) and room for one merge: two fits expose as few
/// ids. A CT already on either one keeps it: another version of idfed may pick the other, and a
/// switch would restart the CT and shift its files for nothing (issue 13).
#[test]
fn a_ct_on_the_other_equally_minimal_fit_keeps_its_map() {
    let t = Test::new().fixture("sync").write(
        "idfed.toml",
        &FITTED
            .replace(
                "max_extents = 5\n",
                "max_extents = 5\nover_budget = \"expose\"\n",
            )
            .replace("uids = [1010, 1100]", "uids = [1010, 1014]"),
    );
    let t = on(t, "pve2", &["apply"]).success().again();
    let run = on(t, "pve1", &["apply"]).success();
    let conf = "cluster/pve/nodes/pve1/lxc/101.conf";
    let record = "cluster/pve/idfed/managed/101.json";
    // The two fits: their uid lines, passthroughs and exposed uids.
    let gap_a = (
        ["u 1005 1005 6", "u 1011 101011 3", "u 1014 1014 1"],
        json!([{"start": 1005, "count": 6}, {"start": 1014, "count": 1}]),
        json!([{"start": 1007, "count": 3}]),
        "1007-1009",
    );
    let gap_b = (
        ["u 1005 1005 2", "u 1007 101007 3", "u 1010 1010 5"],
        json!([{"start": 1005, "count": 2}, {"start": 1010, "count": 5}]),
        json!([{"start": 1011, "count": 3}]),
        "1011-1013",
    );
    let written = run.read(conf);
    let (from, to) = if written.contains("lxc.idmap: u 1005 1005 6\n") {
        (gap_a, gap_b)
    } else {
        (gap_b, gap_a)
    };
    // CT 101 as another version of idfed would have left it: on the other fit, in its config
    // and in idfed's record of it (its passthroughs, and the switch it made).
    let swap = |text: &str| {
        let mut text = text.to_string();
        for (a, b) in from.0.iter().zip(&to.0) {
            assert!(text.contains(a), "{a} not in\n{text}");
            text = text.replace(a, b);
        }
        text
    };
    let mut kept: serde_json::Value = serde_json::from_str(&swap(&run.read(record))).unwrap();
    assert_eq!(kept["uids"], from.1);
    kept["uids"] = to.1.clone();
    let t = run
        .again()
        .write(conf, &swap(&written))
        .write(record, &kept.to_string());
    let run = on(t, "pve1", &["--format", "json", "plan"]).success();
    let doc = run.json();
    let ct = |vmid: u32| {
        doc["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["ct"] == vmid)
            .unwrap()
            .clone()
    };
    let (moved, stayed) = (ct(101), ct(102));
    assert_eq!(moved["changed"], false, "{moved}");
    assert_eq!(moved["restart_required"], false, "{moved}");
    // Its own exposure, nothing foreign.
    assert_eq!(moved["exposed_uids"], to.2, "{moved}");
    assert_eq!(moved["foreign_uids"], json!([]), "{moved}");
    // CT 102 on the fit idfed picks: kept too.
    assert_eq!(stayed["changed"], false, "{stayed}");
    assert_eq!(stayed["exposed_uids"], from.2, "{stayed}");
    // Nothing to apply; the text says so.
    let run = on(run.again(), "pve1", &["plan"])
        .success()
        .stdout_has(&format!(
            "CT 101 on pve1 (shares: projects): applied: unchanged\n    exposes uids {} (no owner",
            to.3
        ));
    on(run.again(), "pve1", &["apply"])
        .success()
        .stdout_lacks("CT 101");
}
