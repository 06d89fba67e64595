//! `idfed map`: exact output, JSON shape, refused IDSPECs, and the emitted maps run through the
//! real kernel (`userns`) and a real LXC container (`lxc`).

use serde_json::{Value, json};

use crate::harness::{Test, skip_without_root};
use crate::lxc::{Container, as_user, owner, probe_fitted_map, run_container, shared_dir};
use crate::userns::{EINVAL, MapFile, UserNs, kernel_accepts};

const SEED: &str = "\
lxc.idmap: u 0 100000 1005
lxc.idmap: u 1005 1005 1
lxc.idmap: u 1006 101006 64530
lxc.idmap: g 0 100000 1005
lxc.idmap: g 1005 1005 1
lxc.idmap: g 1006 101006 64530

# /etc/subuid (besides root:100000:65536)
root:1005:1

# /etc/subgid (besides root:100000:65536)
root:1005:1
";

/// `idfed --format json map ARGS`, which must succeed.
fn map_json(args: &[&str]) -> crate::harness::Run {
    Test::new()
        .args(["--format", "json", "map"])
        .args(args)
        .run()
        .success()
}

#[test]
fn seed_example_exact() {
    Test::new()
        .args(["map", "1005"])
        .run()
        .success()
        .stdout_is(SEED);
}

#[test]
fn one_kind_only_keeps_the_other_default() {
    Test::new()
        .args(["map", "u:1005", "g:2000-2010"])
        .run()
        .success()
        .stdout_is(
            "\
lxc.idmap: u 0 100000 1005
lxc.idmap: u 1005 1005 1
lxc.idmap: u 1006 101006 64530
lxc.idmap: g 0 100000 2000
lxc.idmap: g 2000 2000 11
lxc.idmap: g 2011 102011 63525

# /etc/subuid (besides root:100000:65536)
root:1005:1

# /etc/subgid (besides root:100000:65536)
root:2000:11
",
        );
    // Only uids: the gid map is still the whole default map (a custom map replaces both).
    Test::new()
        .args(["map", "u:1005", "--subid-owner", "idfed"])
        .run()
        .success()
        .stdout_has("lxc.idmap: g 0 100000 65536\n\n# /etc/subuid (besides idfed:100000:65536)\nidfed:1005:1\n")
        .stdout_has("# /etc/subgid (besides idfed:100000:65536)\n# nothing to add\n");
}

#[test]
fn json_shape() {
    let run = map_json(&["1005", "g:2000-2010"]);
    assert_eq!(
        run.json(),
        json!({
            "uid_map": [
                {"inside": 0, "outside": 100000, "count": 1005},
                {"inside": 1005, "outside": 1005, "count": 1},
                {"inside": 1006, "outside": 101006, "count": 64530}
            ],
            "gid_map": [
                {"inside": 0, "outside": 100000, "count": 1005},
                {"inside": 1005, "outside": 1005, "count": 1},
                {"inside": 1006, "outside": 101006, "count": 994},
                {"inside": 2000, "outside": 2000, "count": 11},
                {"inside": 2011, "outside": 102011, "count": 63525}
            ],
            "subuid": [{"owner": "root", "start": 1005, "count": 1}],
            "subgid": [
                {"owner": "root", "start": 1005, "count": 1},
                {"owner": "root", "start": 2000, "count": 11}
            ],
            "exposed_uids": [],
            "exposed_gids": [],
            "unmapped_uids": [],
            "unmapped_gids": [],
            "minimal_merge": true,
            "warnings": []
        })
    );
}

#[test]
fn collision_with_the_base_range_warns_on_stderr() {
    let run = map_json(&["u:100005"])
        .stderr_has("idfed: warning: uids `5` inside the container stay unmapped: their base ids `100005` are passed through");
    let doc = run.json();
    assert_eq!(doc["unmapped_uids"], json!([{"start": 5, "count": 1}]));
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);
    Test::new()
        .args(["map", "u:165535"])
        .run()
        .success()
        .stdout_has("lxc.idmap: u 0 100000 65535\nlxc.idmap: u 165535 165535 1\nlxc.idmap: g 0 100000 65536\n")
        .stderr_has("uids `65535` inside")
        // The base range's own subuid line covers the passthrough: nothing to add.
        .stdout_has("# /etc/subuid (besides root:100000:65536)\n# nothing to add\n");
}

#[test]
fn merging_to_fit_reports_exposed_ids() {
    let run = map_json(&[
        "--max-extents",
        "2",
        "--over-budget",
        "expose",
        "u:200000",
        "u:200002",
    ])
    .stderr_has("uids `200001` (1 id) are passed through too, not asked for");
    let doc = run.json();
    assert_eq!(
        doc["uid_map"],
        json!([
            {"inside": 0, "outside": 100000, "count": 65536},
            {"inside": 200000, "outside": 200000, "count": 3}
        ])
    );
    assert_eq!(doc["exposed_uids"], json!([{"start": 200001, "count": 1}]));
    assert_eq!(
        doc["subuid"],
        json!([{"owner": "root", "start": 200000, "count": 3}])
    );
}

#[test]
fn refused_idspecs() {
    let table: &[(&[&str], &str)] = &[
        (&["abc"], "IDSPEC `abc`: `abc` is not an id"),
        (&["0"], "IDSPEC `0`: cannot pass through uid `0`"),
        (&["g:0-5"], "IDSPEC `g:0-5`: cannot pass through gid `0`"),
        (
            &["4294967295"],
            "IDSPEC `4294967295`: `4294967295` is too large: ids go up to 4294967294",
        ),
        (
            &["3000-2000"],
            "IDSPEC `3000-2000`: `3000-2000` is reversed",
        ),
        (
            &["999"],
            "IDSPEC `999`: cannot pass through uid `999`: ids below 1000",
        ),
        (&["--min-id", "2000", "1999"], "ids below 2000"),
        (&["x:5"], "IDSPEC `x:5`: kind `x` is neither `u` nor `g`"),
        (
            &["100000"],
            "`100000`: it is the host id of the container's root",
        ),
        (&["1005", "u:"], "IDSPEC `u:`"),
        (
            &["--base", "0", "1005"],
            "base range (base `0`, size `65536`)",
        ),
        (
            &["--max-extents", "341", "1005"],
            "max_extents `341` is out of range: expected 1 to 340",
        ),
        (
            &["--format", "csv", "1005"],
            "`map` does not write `--format csv`",
        ),
        (
            &["--max-extents", "2", "--over-budget", "expose", "1005"],
            "the uid map cannot fit the kernel's budget (2 extents, under 4079 bytes) even with every passthrough range merged that may be: it needs 3 extents",
        ),
        (
            &["--max-extents", "2", "1005"],
            "the uid map does not fit the kernel's budget (2 extents, under 4079 bytes) without exposing ids: its 1 passthrough ranges need 3 extents",
        ),
    ];
    for (args, want) in table {
        let run = Test::new()
            .args(["map"])
            .args(args.iter())
            .run()
            .failure()
            .stderr_has(want);
        assert!(run.stdout().is_empty(), "{args:?}");
        assert!(run.stderr().starts_with("idfed: error: "), "{args:?}");
    }
    // The boundary ids themselves pass.
    Test::new()
        .args(["map", "1000", "u:4294967294"])
        .run()
        .success();
}

/// The uid and gid maps `idfed map --over-budget POLICY ARGS` prints, as kernel text.
fn emitted(policy: &str, args: &[String]) -> (String, String, Value) {
    let run = Test::new()
        .args(["--format", "json", "map", "--over-budget", policy])
        .args(args)
        .run()
        .success();
    let doc = run.json();
    let text = |key: &str| {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {}\n", e["inside"], e["outside"], e["count"]))
            .collect::<String>()
    };
    (text("uid_map"), text("gid_map"), doc)
}

/// The kernel's own rendering of a map, back as `inside outside count` lines.
fn normalize(kernel: &str) -> String {
    kernel
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect()
}

#[test]
fn kernel_accepts_emitted_maps_for_hard_cases() {
    if skip_without_root("the kernel map test") {
        return;
    }
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        (
            // Merging across base-range ids is never allowed: as many as fit unmerged.
            "100 sparse ids inside the base range",
            "expose",
            (0..100).map(|i| format!("{}", 100_001 + 79 * i)).collect(),
        ),
        (
            "800 sparse ids inside the container's range",
            "expose",
            (0..800).map(|i| format!("u:{}", 1000 + 81 * i)).collect(),
        ),
        (
            "300 sparse ids inside the container's range, unmapped between",
            "unmap",
            (0..300).map(|i| format!("u:{}", 1000 + 7 * i)).collect(),
        ),
        (
            "400 ids above 65535",
            "expose",
            (0..400).map(|i| format!("{}", 65_536 + 1013 * i)).collect(),
        ),
        (
            "400 ten-digit ids (the byte budget binds first)",
            "expose",
            (0..400)
                .map(|i| format!("{}", 4_000_000_000u32 + 7919 * i))
                .collect(),
        ),
        (
            "collisions and boundaries",
            "unmap",
            [
                "1005",
                "101005",
                "99999",
                "100001",
                "165535",
                "165536",
                "65535",
                "65536",
                "4294967294",
                "2000-2010",
                "102000-102010",
            ]
            .map(String::from)
            .to_vec(),
        ),
    ];
    for (what, policy, args) in cases {
        let (uid, gid, doc) = emitted(policy, &args);
        assert!(uid.len() < 4079 && uid.lines().count() <= 340, "{what}");
        for (file, text) in [(MapFile::Uid, &uid), (MapFile::Gid, &gid)] {
            let ns = UserNs::new();
            assert_eq!(
                ns.write_map(file, text),
                Ok(()),
                "{what}: kernel refused\n{text}"
            );
            assert_eq!(normalize(&ns.read_map(file)), *text, "{what}");
        }
        // Every id asked for is a passthrough of the map.
        let through: Vec<(u64, u64)> = doc["uid_map"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["inside"] == e["outside"])
            .map(|e| (e["inside"].as_u64().unwrap(), e["count"].as_u64().unwrap()))
            .collect();
        for arg in &args {
            let id: u64 = arg
                .trim_start_matches("u:")
                .split('-')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                through.iter().any(|&(s, c)| s <= id && id < s + c),
                "{what}: {id} is not passed through"
            );
        }
    }
}

#[test]
fn kernel_refuses_what_validate_refuses() {
    if skip_without_root("the kernel map test") {
        return;
    }
    // Both sides overlap; the outside only; 341 extents; 4096 bytes (../shared/REAL-STACK.md,
    // outside the repository).
    assert_eq!(
        kernel_accepts(MapFile::Uid, "0 100000 10\n5 100005 1\n"),
        Err(EINVAL)
    );
    assert_eq!(
        kernel_accepts(MapFile::Uid, "0 100000 10\n20 100005 1\n"),
        Err(EINVAL)
    );
    let lines = |n: u32, base: u32| {
        (0..n)
            .map(|i| format!("{} {} 1\n", 10 + i, base + i))
            .collect::<String>()
    };
    assert_eq!(kernel_accepts(MapFile::Uid, &lines(340, 2020)), Ok(()));
    assert_eq!(kernel_accepts(MapFile::Uid, &lines(341, 2020)), Err(EINVAL));
    assert!(lines(340, 200_020).len() >= 4096);
    assert_eq!(
        kernel_accepts(MapFile::Gid, &lines(340, 200_020)),
        Err(EINVAL)
    );
    // And `validate` agrees with the kernel on pseudo-random small maps (inside 0 aside: the
    // kernel allows it unmapped, LXC does not).
    let mut seed: u64 = 0x1d_fed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _ in 0..150 {
        let extents: Vec<idfed::idmap::Extent> = (0..1 + next(4))
            .map(|_| {
                idfed::idmap::Extent::new(
                    idfed::ids::IdKind::Uid,
                    next(40) as u32,
                    next(40) as u32 + 1000,
                    1 + next(12) as u32,
                )
            })
            .collect();
        let text = idfed::idmap::kernel_text(&extents);
        let problems: Vec<_> = idfed::idmap::validate(idfed::ids::IdKind::Uid, &extents, 340)
            .into_iter()
            .filter(|p| !matches!(p, idfed::idmap::MapProblem::InsideZeroUnmapped { .. }))
            .collect();
        assert_eq!(
            kernel_accepts(MapFile::Uid, &text).is_ok(),
            problems.is_empty(),
            "kernel and validate disagree on\n{text}{problems:?}"
        );
    }
}

/// The `lxc.idmap` values and the subuid/subgid lines of `idfed map` text output.
fn parse_text(out: &str) -> (Vec<String>, String, String) {
    let idmap = out
        .lines()
        .filter_map(|l| l.strip_prefix("lxc.idmap: "))
        .map(String::from)
        .collect();
    let section = |file: &str| {
        let header = format!("# /etc/{file} ");
        out.lines()
            .skip_while(|l| !l.starts_with(&header))
            .skip(1)
            .take_while(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    (idmap, section("subuid"), section("subgid"))
}

#[test]
fn lxc_container_writes_as_the_passthrough() {
    if skip_without_root("the LXC test") {
        return;
    }
    let run = Test::new().args(["map", "1005"]).run().success();
    let (idmap, subuid, subgid) = parse_text(&run.stdout());
    assert_eq!(subuid, "root:1005:1\n");
    assert_eq!(subgid, "root:1005:1\n");
    let host = shared_dir();
    let base = "root:100000:65536\n";
    let spec = Container::new(&idmap)
        .subids(&format!("{base}{subuid}"), &format!("{base}{subgid}"))
        .user("alice", 1005, 1005)
        .user("bob", 1006, 1006)
        .host_dir(host.path())
        .script(&format!(
            "touch /shared/root && {} && {}",
            as_user("alice", "touch /shared/alice"),
            as_user("bob", "touch /shared/bob")
        ));
    run_container(&spec).unwrap();
    assert_eq!(owner(&host.path().join("root")), (100_000, 100_000));
    assert_eq!(owner(&host.path().join("alice")), (1005, 1005));
    assert_eq!(owner(&host.path().join("bob")), (101_006, 101_006));

    // Without the printed subuid line newuidmap refuses the map: the line is needed.
    let err = run_container(&spec.subids(base, &format!("{base}{subgid}"))).unwrap_err();
    assert!(err.contains("newuidmap"), "{err}");
}

#[test]
fn lxc_starts_the_longest_emitted_map() {
    if skip_without_root("the LXC test") {
        return;
    }
    // 400 ten-digit ids: the merged map ends just under LXC's byte limit.
    let args: Vec<String> = (0..400)
        .map(|i| format!("{}", 4_000_000_000u32 + 7919 * i))
        .collect();
    let run = Test::new()
        .args(["map", "--over-budget", "expose"])
        .args(&args)
        .run()
        .success();
    let (idmap, subuid, subgid) = parse_text(&run.stdout());
    let (uid_text, _, _) = emitted("expose", &args);
    assert!(
        (4000..4079).contains(&uid_text.len()),
        "{} bytes",
        uid_text.len()
    );
    let base = "root:100000:65536\n";
    let spec = Container::new(&idmap)
        .subids(&format!("{base}{subuid}"), &format!("{base}{subgid}"))
        .script("true");
    run_container(&spec).unwrap();
}

/// The default policy's map of 300 sparse uids (fitted by leaving inside ids unmapped) starts a
/// container: a passthrough lands as itself, and a host file owned by an unmapped inside id's
/// base id shows as nobody (65534) inside, while a mapped neighbour's shows as itself.
#[test]
fn lxc_starts_an_unmap_fitted_map() {
    if skip_without_root("the LXC test") {
        return;
    }
    let args: Vec<String> = (0..300).map(|i| format!("u:{}", 1000 + 7 * i)).collect();
    let run = Test::new().args(["map"]).args(&args).run().success();
    let (idmap, subuid, subgid) = parse_text(&run.stdout());
    let (_, _, doc) = emitted("unmap", &args);
    assert_eq!(doc["exposed_uids"], json!([]));
    let unmapped = doc["unmapped_uids"][0]["start"].as_u64().unwrap() as u32;
    // The lowest unmapped run follows a passthrough; the id below that is mapped on the base range.
    let mapped = unmapped - 2;
    assert!(
        unmapped > 1000 && !(mapped - 1000).is_multiple_of(7),
        "{unmapped}"
    );
    let base = "root:100000:65536\n";
    probe_fitted_map(
        &idmap,
        (&format!("{base}{subuid}"), &format!("{base}{subgid}")),
        unmapped,
        mapped,
        1007,
    );
}

/// Regression: LXC refuses a map the kernel takes (4083 bytes): its newuidmap command buffer
/// holds 4096 bytes including `newuidmap PID`. This is why the budget is 4079, not 4096.
#[test]
fn lxc_refuses_a_map_under_the_kernel_limit() {
    if skip_without_root("the LXC test") {
        return;
    }
    let mut lines = vec![
        "u 0 100000 65536".to_string(),
        "g 0 100000 65536".to_string(),
    ];
    let mut text = String::from("0 100000 65536\n");
    for i in 0..226 {
        let id = 1_000_000 + 2 * i;
        lines.push(format!("u {id} {id} 1"));
        text.push_str(&format!("{id} {id} 1\n"));
    }
    assert_eq!(text.len(), 4083);
    assert_eq!(kernel_accepts(MapFile::Uid, &text), Ok(()));
    let subids = "root:100000:65536\nroot:1000000:1000\n";
    let err = run_container(&Container::new(&lines).subids(subids, subids)).unwrap_err();
    assert!(err.contains("Too many uid mappings defined"), "{err}");
    // One line fewer (4065 bytes) starts.
    lines.pop();
    run_container(&Container::new(&lines).subids(subids, subids)).unwrap();
}

/// A passthrough inside the base range needs no subid line of its own: the base range's covers
/// it, and the inside id it shadows stays unmapped.
#[test]
fn lxc_collision_needs_only_the_base_subid_line() {
    if skip_without_root("the LXC test") {
        return;
    }
    let run = Test::new().args(["map", "100005"]).run().success();
    let (idmap, subuid, subgid) = parse_text(&run.stdout());
    assert_eq!((subuid.as_str(), subgid.as_str()), ("", ""));
    let host = shared_dir();
    let base = "root:100000:65536\n";
    let spec = Container::new(&idmap)
        .subids(base, base)
        .user("carol", 100_005, 100_005)
        .user("dave", 6, 6)
        .host_dir(host.path())
        .script(&format!(
            "{} && {}",
            as_user("carol", "touch /shared/carol"),
            as_user("dave", "touch /shared/dave")
        ));
    run_container(&spec).unwrap();
    assert_eq!(owner(&host.path().join("carol")), (100_005, 100_005));
    assert_eq!(owner(&host.path().join("dave")), (100_006, 100_006));
}

/// Over budget, `unmap` (the default) leaves the fewest inside ids between passthroughs
/// unmapped and grants nothing; `expose` merges instead; a protected id never passes.
#[test]
fn over_budget_policies_and_protected_ids() {
    let run = map_json(&["--max-extents", "5", "u:1005", "u:1010", "u:1100"])
        .stderr_has("uids `1006-1009,1011-1099` (93 ids) inside the container stay unmapped");
    let doc = run.json();
    assert_eq!(doc["exposed_uids"], json!([]));
    assert_eq!(
        doc["unmapped_uids"],
        json!([{"start": 1006, "count": 4}, {"start": 1011, "count": 89}])
    );
    assert_eq!(doc["minimal_merge"], json!(true));
    let run = map_json(&[
        "--max-extents",
        "3",
        "--over-budget",
        "expose",
        "u:1005",
        "u:1010",
        "u:1100",
    ]);
    assert_eq!(
        run.json()["uid_map"],
        json!([
            {"inside": 0, "outside": 100000, "count": 1005},
            {"inside": 1005, "outside": 1005, "count": 96},
            {"inside": 1101, "outside": 101101, "count": 64435}
        ])
    );
    Test::new()
        .args(["map", "--over-budget", "merge", "1005"])
        .run()
        .failure()
        .stderr_has("`merge` is not an over-budget policy: expected `unmap` or `expose`");
    Test::new()
        .args(["map", "--protected", "64045,3000-3010", "u:64045", "u:1005"])
        .run()
        .success()
        .stderr_has("uids `64045` are protected: not passed through")
        .stdout_has("lxc.idmap: u 1005 1005 1\n");
}
