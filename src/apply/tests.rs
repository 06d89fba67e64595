//! The engine over a temporary root, without the binary: what it writes, in which order, and what
//! a failure between two writes leaves behind.

use std::path::Path;

use super::*;
use crate::cluster;
use crate::config::Config;
use crate::plan::testutil::share;
use crate::resolve::ResolvedShare;

const CONF: &str = "etc/pve/nodes/pve1/lxc/101.conf";

/// A one-node cluster: CT 101 on pve1 mounts share `projects`, whose owner is uid/gid 1005.
fn tree() -> (tempfile::TempDir, Root, Config) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        CONF,
        "arch: amd64\nmp0: /mnt/pve/projects/data,mp=/data,shared=1\nunprivileged: 1\n",
    );
    write("etc/subuid", "root:100000:65536\n");
    write("etc/subgid", "root:100000:65536\n");
    let config = Config::parse(
        "[source.nas]\ntype = \"files\"\npasswd = \"passwd\"\ngroup = \"group\"\n\n\
         [share.projects]\nsource = \"nas\"\npath = \"/mnt/pve/projects\"\nusers = [\"u1005\"]\n",
        &dir.path().join("idfed.toml"),
    )
    .unwrap();
    (dir, root, config)
}

fn shares() -> Vec<ResolvedShare> {
    vec![share("projects", &[1005], &[1005])]
}

/// Loads the tree and applies its plan.
fn run(root: &Root, config: &Config, opts: Opts) -> (Result<Applied, ApplyError>, Vec<Notice>) {
    let shares = shares();
    let found = cluster::discover(root, config, "pve1".into(), true).unwrap();
    let (state, _) = cluster::load(root, config, found, &shares).unwrap();
    let params = config.cluster.map_params();
    let first = plan::plan_cluster(
        &state,
        &params,
        &shares,
        state.local_coverage(),
        plan::Choices::default(),
    );
    let guard = plan::guard::hold(
        &store::Baseline::default(),
        &shares,
        &plan::guard::AllowShrink::None,
        "idfed apply",
    );
    let input = Input {
        cluster: &state,
        params: &params,
        shares: &shares,
        release: &[],
        config_sha256: &config.sha256,
        baseline: &guard.record,
    };
    let mut notices = Vec::new();
    let out = apply(root, input, &first, opts, &mut |n| notices.push(n));
    (out, notices)
}

fn managed(root: &Root) -> Option<store::Managed> {
    store::managed::load(root, Path::new("/etc/pve"))
        .unwrap()
        .remove(&101)
}

fn read(root: &Root, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

#[test]
fn a_run_appends_claims_rewrites_records_and_publishes_and_a_second_changes_nothing() {
    let (_dir, root, config) = tree();
    let (out, notices) = run(&root, &config, Opts::default());
    let out = out.unwrap();
    assert!(notices.is_empty(), "{notices:?}");
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.restart_required, [101]);
    assert_eq!(
        read(&root, "etc/subuid"),
        "root:100000:65536\nroot:1005:1\n"
    );
    assert_eq!(
        read(&root, "etc/subgid"),
        "root:100000:65536\nroot:1005:1\n"
    );
    // The appended lines are idfed's: recorded, so that --prune may remove them one day.
    let record = store::subids::load(&root).unwrap();
    assert_eq!(record.subuid, out.subuid_added);
    assert_eq!(record.subgid, out.subgid_added);
    assert!(read(&root, CONF).contains("lxc.idmap: u 1005 1005 1\n"));
    let rec = managed(&root).unwrap();
    assert!(
        rec.uids.contains(1005) && rec.gids.contains(1005),
        "{rec:?}"
    );
    assert!(
        out.published
            .as_deref()
            .unwrap()
            .ends_with("nodes/pve1.json")
    );
    // The shares' resolution is the new baseline, cluster-wide, for the next run's outage guard.
    let baseline = store::baseline::load(&root, Path::new("/etc/pve")).unwrap();
    assert_eq!(baseline.shares["projects"].ids(), 2);
    // The previous config is kept in this run's backup directory.
    assert_eq!(out.changed_files.len(), 3, "{:?}", out.changed_files);

    let (again, _) = run(&root, &config, Opts::default());
    let again = again.unwrap();
    assert!(again.changed_files.is_empty(), "{:?}", again.changed_files);
    assert!(again.restart_required.is_empty() && again.subuid_added.is_empty());
}

#[test]
fn a_dry_run_writes_nothing() {
    let (dir, root, config) = tree();
    let before = read(&root, CONF);
    let (out, _) = run(
        &root,
        &config,
        Opts {
            dry_run: true,
            ..Opts::default()
        },
    );
    let out = out.unwrap();
    assert_eq!(out.restart_required, [101]);
    assert_eq!(out.subuid_added.len(), 1);
    assert_eq!(read(&root, CONF), before);
    assert_eq!(read(&root, "etc/subuid"), "root:100000:65536\n");
    assert!(!dir.path().join("var/lib/idfed").exists());
    assert!(!dir.path().join("etc/pve/idfed").exists());
}

#[test]
fn a_config_that_cannot_be_written_leaves_the_claim_and_fails_only_that_ct() {
    let (dir, root, config) = tree();
    // The config itself, not its directory: the probe of `/etc/pve` must pass, the rename fail.
    let lxc = dir.path().join(CONF);
    let immutable = |on: bool| {
        let status = std::process::Command::new("chattr")
            .arg(if on { "+i" } else { "-i" })
            .arg(&lxc)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the test needs a filesystem with attributes"
        );
    };
    immutable(true);
    let (out, _) = run(&root, &config, Opts::default());
    immutable(false);
    let out = out.unwrap();
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(out.errors[0].starts_with("CT 101: "), "{:?}", out.errors);
    assert!(out.restart_required.is_empty());
    // The record was claimed before the write: 1005 is claimed (idfed's wherever the map holds
    // it, so the next run never takes it for a foreign passthrough), not listed as managed (the
    // config lacks it: a listed id would make the record stale).
    let rec = managed(&root).unwrap();
    assert!(rec.claimed_uids.contains(1005), "{rec:?}");
    assert!(rec.uids.is_empty(), "{rec:?}");
    assert!(!read(&root, CONF).contains("lxc.idmap"));
    // A failed CT does not make the resolution bad: the baseline is recorded all the same.
    let baseline = store::baseline::load(&root, Path::new("/etc/pve")).unwrap();
    assert_eq!(baseline.shares["projects"].owners, 1);

    let (again, _) = run(&root, &config, Opts::default());
    let again = again.unwrap();
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(again.restart_required, [101]);
    assert!(read(&root, CONF).contains("lxc.idmap: g 1005 1005 1\n"));
    let rec = managed(&root).unwrap();
    assert!(
        rec.uids.contains(1005) && rec.claimed_uids.is_empty(),
        "{rec:?}"
    );
}

#[test]
fn prune_removes_only_the_lines_idfed_added_that_no_map_needs() {
    let (dir, root, config) = tree();
    run(&root, &config, Opts::default()).0.unwrap();
    // The share loses its owner: the CT's map drops 1005, and the line idfed added is stale.
    // A hand-written line for another id is never touched.
    std::fs::write(
        dir.path().join("etc/subuid"),
        "root:100000:65536\nroot:1005:1\nroot:2000:1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(CONF), "arch: amd64\nunprivileged: 1\n").unwrap();
    let (out, _) = run(
        &root,
        &config,
        Opts {
            prune: true,
            ..Opts::default()
        },
    );
    let out = out.unwrap();
    assert_eq!(out.subuid_pruned.len(), 1, "{out:?}");
    assert_eq!(
        read(&root, "etc/subuid"),
        "root:100000:65536\nroot:2000:1\n"
    );
    assert!(store::subids::load(&root).unwrap().subuid.is_empty());
}
