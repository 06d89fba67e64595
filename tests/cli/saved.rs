//! Saved plans: `plan --out FILE`, then `apply --plan FILE`, on the `sync` fixture (pve2 applied
//! first, so pve1's maps can switch). A plan whose inputs changed since is refused with nothing
//! written; a fresh one does what a plain `apply` does.

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::{Run, Test, on};

/// `sync` with pve2 applied and pve1's plan saved to `{root}/reviewed.plan`.
fn planned() -> Run {
    let t = on(Test::new().fixture("sync"), "pve2", &["apply"])
        .success()
        .again();
    on(t, "pve1", &["plan", "--out", "{root}/reviewed.plan"])
        .success()
        .stderr_has("saved the plan to `")
}

/// Every file under `dir` with its bytes, every directory, every symlink: what a run must leave
/// as it is. Left out: the node lock's empty file and its directories (`run/lock/`), which
/// `apply` takes before anything else.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            let ty = e.file_type().unwrap();
            if name.ends_with("/run") || name.contains("/run/") {
                continue;
            }
            if ty.is_dir() {
                stack.push(p);
                out.insert(format!("{name}/"), Vec::new());
            } else if ty.is_symlink() {
                out.insert(
                    name,
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(name, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn refused(run: Run, changed: &str) {
    let before = tree(run.path());
    let run = on(
        run.again(),
        "pve1",
        &["apply", "--plan", "{root}/reviewed.plan"],
    )
    .failure()
    .stdout_is("")
    .stderr_has("reviewed.plan` is stale: ")
    .stderr_has(changed)
    .stderr_has("nothing was written; make the plan again");
    let after = tree(run.path());
    let differ: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(differ.is_empty(), "apply --plan wrote {differ:?}");
}

#[test]
fn a_stale_saved_plan_is_refused_with_nothing_written() {
    // A CT config edited since.
    let run = planned();
    let conf = run.path().join("cluster/pve/nodes/pve1/lxc/101.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("memory: 2048", "memory: 4096")).unwrap();
    refused(
        run,
        "CT 101's config `/etc/pve/nodes/pve1/lxc/101.conf` changed",
    );
    // A source's answer: bob left group research.
    let run = planned();
    let group = run.path().join("group");
    let text = std::fs::read_to_string(&group).unwrap();
    std::fs::write(
        &group,
        text.replace("research:x:3000:alice,bob", "research:x:3000:alice"),
    )
    .unwrap();
    refused(run, "share `projects`'s owners from source `nas` changed");
    // The configuration.
    let run = planned();
    let config = run.path().join("idfed.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}# reviewed\n")).unwrap();
    refused(run, "the configuration `");
    // Another node's published coverage: a line was added to pve2's subuid, and it applied again.
    let run = planned();
    let subuid = run.path().join("pve2/etc/subuid");
    let text = std::fs::read_to_string(&subuid).unwrap();
    std::fs::write(&subuid, format!("{text}root:5000:1\n")).unwrap();
    let run = on(run.again(), "pve2", &["apply"]).success();
    refused(run, "node pve2's published subid coverage changed");
}

#[test]
fn a_fresh_saved_plan_does_what_apply_does() {
    let run = planned();
    let saved = on(
        run.again(),
        "pve1",
        &["apply", "--plan", "{root}/reviewed.plan"],
    )
    .success()
    .stdout_has("CT 101: got its new map");
    let plain = on(Test::new().fixture("sync"), "pve2", &["apply"])
        .success()
        .again();
    let plain = on(plain, "pve1", &["apply"]).success();
    for file in [
        "cluster/pve/nodes/pve1/lxc/101.conf",
        "cluster/pve/nodes/pve1/lxc/102.conf",
        "cluster/pve/idfed/managed/101.json",
        "cluster/pve/idfed/managed/102.json",
        "pve1/etc/subuid",
        "pve1/etc/subgid",
        "pve1/var/lib/idfed/subids.json",
    ] {
        assert_eq!(saved.read(file), plain.read(file), "{file}");
    }
    // Applied, the plan is spent: its inputs changed.
    on(
        saved.again(),
        "pve1",
        &["apply", "--plan", "{root}/reviewed.plan"],
    )
    .failure()
    .stderr_has("is stale: ");
}

#[test]
fn a_saved_plan_is_the_whole_plan_of_its_node() {
    // Filters make a partial plan: not saved.
    on(
        Test::new().fixture("sync"),
        "pve1",
        &["plan", "--ct", "101", "--out", "{root}/p"],
    )
    .failure()
    .stderr_has("cannot be used with");
    // Another node applies only a plan made on it.
    let run = planned();
    let run = on(
        run.again(),
        "pve2",
        &["apply", "--plan", "{root}/reviewed.plan"],
    )
    .failure()
    .stderr_has("it was made on node pve1, this is node pve2");
    // Not a saved plan.
    on(
        run.again().write("other.json", "{\"nodes\": {}}"),
        "pve1",
        &["apply", "--plan", "{root}/other.json"],
    )
    .failure()
    .stderr_has("other.json` is not a saved plan: expected the file `idfed plan --out` writes");
}
