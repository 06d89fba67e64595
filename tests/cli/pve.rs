//! The `pve` and `subid` readers over the fixture clusters (`tests/fixtures/pve-*`): discovery,
//! golden parses, idmap edits as diffs, share matching and subid merges. These call the library
//! directly, to test the readers on their own; the commands drive the same readers (`plan`,
//! `apply`, `check` and the others, in their own modules).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use idfed::fs::Root;
use idfed::idmap::Extent;
use idfed::ids::{IdKind, IdRange, IdSet};
use idfed::pve::{CtConfig, Discovery};
use idfed::subid::SubidFile;

use crate::harness::fixture;

const PVE_ROOT: &str = "/etc/pve";

fn map_1005() -> Vec<Extent> {
    let mut out = Vec::new();
    for (inside, outside, count) in [(0, 100000, 1005), (1005, 1005, 1), (1006, 101006, 64530)] {
        for kind in IdKind::ALL {
            out.push(Extent::new(kind, inside, outside, count));
        }
    }
    out
}

/// Every `lxc/*.conf` under `dir`, sorted.
fn confs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            confs(&p, out);
        } else if p.extension().is_some_and(|e| e == "conf") && p.parent().unwrap().ends_with("lxc")
        {
            out.push(p);
        }
    }
}

/// Shows line endings and a missing final newline, which a snapshot would hide.
fn visible(text: &str) -> String {
    let mut out = text.replace("\r\n", "␍\n");
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str("⏎ (no final newline)\n");
    }
    out
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap().display().to_string()
}

fn describe(cluster: &Discovery, root: &Path) -> String {
    let mut s = String::new();
    writeln!(s, "nodes: {}", cluster.nodes.join(", ")).unwrap();
    for st in cluster.storage.storages() {
        let path = st.path().map(|p| p.display().to_string());
        writeln!(s, "storage {} `{}`: path {path:?}", st.kind, st.id).unwrap();
    }
    for ct in &cluster.cts {
        let c = &ct.config;
        assert_eq!(Path::new("/").join(rel(root, &ct.path)), ct.host_path);
        writeln!(
            s,
            "\nCT {} on {} ({})",
            ct.vmid,
            ct.node,
            ct.host_path.display()
        )
        .unwrap();
        writeln!(
            s,
            "  unprivileged: {}, lock: {:?}, sections: {}",
            c.unprivileged(),
            c.lock(),
            c.sections()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
        .unwrap();
        if !c.description().is_empty() {
            writeln!(s, "  description: {:?}", c.description()).unwrap();
        }
        for e in c.idmap() {
            writeln!(s, "  idmap: {e}").unwrap();
        }
        if !c.deprecated_idmap_lines().is_empty() {
            writeln!(
                s,
                "  deprecated lxc.id_map lines: {:?}",
                c.deprecated_idmap_lines()
            )
            .unwrap();
        }
        let effective: Vec<String> = c
            .effective_idmap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let effective = if effective.is_empty() {
            "none (privileged: ids are not mapped)".to_string()
        } else {
            effective.join(", ")
        };
        writeln!(s, "  effective: {effective}").unwrap();
        for section in &c.sections()[1..] {
            for e in c.section_idmap(section) {
                writeln!(s, "  idmap in {section}: {e}").unwrap();
            }
        }
        for m in c.mount_points() {
            writeln!(
                s,
                "  {}: {} {} mp={:?} ro={} shared={} options={:?}",
                m.key, m.kind, m.volume, m.mp, m.read_only, m.shared, m.options
            )
            .unwrap();
        }
        for w in c.warnings() {
            writeln!(s, "  warning: {w}").unwrap();
        }
    }
    for e in &cluster.errors {
        let msg = format!("{e:#}").replace(&root.display().to_string(), "[root]");
        let cause = std::error::Error::source(e)
            .map(|c| c.to_string().replace(&root.display().to_string(), "[root]"));
        writeln!(s, "\nerror: {msg}\n  cause: {cause:?}").unwrap();
    }
    s
}

#[test]
fn every_fixture_config_round_trips() {
    let mut paths = Vec::new();
    for name in ["pve-basic", "pve-broken"] {
        confs(&fixture(name), &mut paths);
    }
    let mut parsed = 0;
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Ok(c) = CtConfig::parse(&text) {
            assert_eq!(c.render(), text, "{}", path.display());
            parsed += 1;
        }
    }
    assert_eq!(parsed, 9, "{paths:#?}");
}

#[test]
fn discover_basic() {
    let root = fixture("pve-basic");
    let cluster = Discovery::discover(&Root::new(&root), Path::new(PVE_ROOT)).unwrap();
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    insta::assert_snapshot!(describe(&cluster, &root));
}

#[test]
fn discover_broken_keeps_the_good_cts() {
    let root = fixture("pve-broken");
    let cluster = Discovery::discover(&Root::new(&root), Path::new(PVE_ROOT)).unwrap();
    let good: Vec<u32> = cluster.cts.iter().map(|c| c.vmid).collect();
    assert_eq!(good, [302, 305]);
    let bad: Vec<u32> = cluster.errors.iter().map(|e| e.vmid).collect();
    assert_eq!(bad, [301, 303, 304]);
    insta::assert_snapshot!(describe(&cluster, &root));
}

#[test]
fn discover_without_storage_cfg_or_nodes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/pve/nodes/pve1")).unwrap();
    let cluster = Discovery::discover(&Root::new(dir.path()), Path::new(PVE_ROOT)).unwrap();
    assert_eq!(cluster.nodes, ["pve1"]);
    assert!(cluster.cts.is_empty() && cluster.storage.storages().is_empty());
    // No nodes directory at all: an error naming the path.
    let empty = tempfile::tempdir().unwrap();
    let err = Discovery::discover(&Root::new(empty.path()), Path::new(PVE_ROOT)).unwrap_err();
    assert!(
        err.to_string().starts_with("failed to list `")
            && err.to_string().ends_with("etc/pve/nodes`"),
        "{err}"
    );
}

#[test]
fn share_users_at_component_boundaries() {
    let root = fixture("pve-basic");
    let cluster = Discovery::discover(&Root::new(&root), Path::new(PVE_ROOT)).unwrap();
    let mut s = String::new();
    for (share, containers) in [
        ("/mnt/pve/projects", Some(&[202u32, 999][..])),
        ("/mnt/pve/projects2", None),
        ("/mnt/pve/proj", None),
    ] {
        writeln!(s, "share {share} containers {containers:?}").unwrap();
        for u in cluster.share_users(Path::new(share), containers) {
            writeln!(
                s,
                "  CT {} on {}: listed={} privileged={} lock={:?}",
                u.ct.vmid,
                u.ct.node,
                u.listed,
                u.privileged,
                u.ct.config.lock()
            )
            .unwrap();
            for m in &u.mounts {
                writeln!(
                    s,
                    "    {} {} -> {:?} ro={} shared={}",
                    m.key, m.host_path, m.ct_path, m.read_only, m.shared
                )
                .unwrap();
            }
        }
    }
    // The share may also be named by storage: its path comes from storage.cfg.
    assert_eq!(
        cluster.storage.path_of("projects").as_deref(),
        Some(Path::new("/mnt/pve/projects"))
    );
    insta::assert_snapshot!(s);
}

#[test]
fn set_idmap_diffs() {
    let root = fixture("pve-basic");
    let mut paths = Vec::new();
    confs(&root, &mut paths);
    let mut s = String::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut c = CtConfig::parse(&text).unwrap();
        let changed = c.set_idmap(&map_1005());
        let out = c.render();
        assert_eq!(changed, out != text);
        assert_eq!(CtConfig::parse(&out).unwrap().idmap(), map_1005());
        // Idempotent.
        let mut again = CtConfig::parse(&out).unwrap();
        assert!(!again.set_idmap(&map_1005()));
        // Privileged and locked CTs are edited here only to show the text edit; the planner
        // skips them.
        writeln!(
            s,
            "=== {} (changed: {changed}, unprivileged: {}, lock: {:?})",
            rel(&root, &path),
            c.unprivileged(),
            c.lock()
        )
        .unwrap();
        let (old, new) = (visible(&text), visible(&out));
        let diff = similar::TextDiff::from_lines(&old, &new);
        write!(s, "{}", diff.unified_diff().context_radius(2)).unwrap();
    }
    insta::assert_snapshot!(s);
}

#[test]
fn subid_merge_on_fixture_files() {
    let root = fixture("pve-basic");
    let needs: IdSet = [
        "100000-101004".parse::<IdRange>().unwrap(),
        "1005".parse().unwrap(),
        "101006-165535".parse().unwrap(),
        "2000-2010".parse().unwrap(),
    ]
    .into_iter()
    .collect();
    let mut s = String::new();
    for name in ["etc/subuid", "etc/subgid"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let mut f = SubidFile::parse(&text);
        let added = f.merge("root", Some(0), &needs);
        writeln!(s, "=== {name}").unwrap();
        for a in &added {
            writeln!(s, "added {a} {}", serde_json::to_string(a).unwrap()).unwrap();
        }
        write!(s, "{}", visible(&f.render())).unwrap();
        let mut again = SubidFile::parse(&f.render());
        assert!(again.merge("root", Some(0), &needs).is_empty());
    }
    insta::assert_snapshot!(s);
}
