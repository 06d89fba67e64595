//! Issue 16, offline: a real slapd stopped mid-run. While it answers, every pull keeps its answer
//! under `/var/lib/idfed/cache/` (0600); once it is down, `check` still runs (its structural
//! findings, then the share checks against the cache, saying how old it is) and `report` answers
//! from the cache, while `plan` and `apply` refuse to act on it and write nothing.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Run, Test};
use crate::slapd::{self, Ldif, Slapd};

const CACHE: &str = "var/lib/idfed/cache/corp.json";

fn directory() -> Ldif {
    Ldif::new()
        .user("alice", 1005, 1005)
        .user("bob", 1006, 1006)
        .posix_group("research", 3000, &["alice"])
}

/// The `check-healthy` cluster with an LDAP source, plus CT 103 on pve1 whose map passes 2001
/// through, which this node's subids do not give: a structural problem no directory is needed
/// for.
fn cluster(slapd: &Slapd) -> Test {
    let config = format!(
        "[source.corp]\ntype = \"ldap\"\nurl = \"{}\"\nuser_base = \"{}\"\ngroup_base = \"{}\"\n\
         timeout_secs = 2\n\n[share.projects]\nsource = \"corp\"\npath = \"/mnt/pve/projects\"\n\
         users = [\"alice\"]\ngroups = [\"research\"]\n",
        slapd.url(),
        slapd::PEOPLE,
        slapd::GROUPS
    );
    Test::new()
        .fixture("check-healthy")
        .write("idfed.toml", &config)
        .write(
            "etc/pve/nodes/pve1/lxc/103.conf",
            "arch: amd64\nhostname: tools\nunprivileged: 1\nlxc.idmap: u 0 100000 2001\n\
             lxc.idmap: g 0 100000 65536\nlxc.idmap: u 2001 2001 1\n\
             lxc.idmap: u 2002 102002 63534\n",
        )
}

fn idfed(t: Test, args: &[&str]) -> Run {
    t.at_root("pve1").args(args).run()
}

/// `(code, ct)` of each finding of a list.
fn codes(run: &Run, list: &str) -> Vec<(String, Option<u64>)> {
    run.json()[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["ct"].as_u64()))
        .collect()
}

#[test]
fn with_the_source_down_check_and_report_answer_from_the_cache_plan_and_apply_refuse() {
    let mut slapd = Slapd::start(&directory());
    let t = cluster(&slapd);
    assert!(!t.path().join(CACHE).exists());

    // Up: a pull keeps the answer, readable by root alone.
    let run = idfed(t, &["--format", "json", "check"]).code(2);
    assert_eq!(
        codes(&run, "problems"),
        [("subuid-missing".into(), Some(103))]
    );
    assert_eq!(codes(&run, "warnings"), []);
    let cache = run.path().join(CACHE);
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(run.read(CACHE).contains("\"name\":\"alice\""));
    let up = idfed(run.again(), &["report", "--owner", "alice"]).success();
    let answer = up.stdout();
    assert!(
        answer.contains("writes as alice: CT 101 on pve1\n"),
        "{answer}"
    );

    slapd.stop();
    let url = slapd.url();
    let down = format!("cannot read source `corp`: cannot connect to `{url}`");

    // check: its structural problem, and the share checks against the cache, said as such.
    let run = idfed(up.again(), &["--format", "json", "check"]).code(2);
    assert_eq!(
        codes(&run, "problems"),
        [("subuid-missing".into(), Some(103))]
    );
    assert_eq!(codes(&run, "warnings"), [("source-cached".into(), None)]);
    let message = run.json()["warnings"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(
            "source `corp` cannot be read: the checks that need its owners used its cache of 20"
        ) && message.contains(" s old): ")
            && message.contains(&down),
        "{message}"
    );
    let run = run
        .stderr_has(&format!("idfed: warning: {down}"))
        .stderr_has(": answering from its cache of 20");
    let run = idfed(run.again(), &["check"])
        .code(2)
        .stdout_has("warning [source-cached] source `corp` cannot be read: ");

    // report: the same answer as when the source was up, from the cache.
    let run = idfed(run.again(), &["report", "--owner", "alice"])
        .success()
        .stderr_has(": answering from its cache of ");
    assert_eq!(run.stdout(), answer);

    // plan and apply act on no cached answer: exit 1, saying so; nothing written.
    let subuid = run.read("etc/subuid");
    let conf = run.read("etc/pve/nodes/pve1/lxc/101.conf");
    let run = idfed(run.again(), &["plan"])
        .failure()
        .stderr_has(&down)
        .stderr_has("`plan` and `apply` never act on it");
    let run = idfed(run.again(), &["apply"])
        .failure()
        .stderr_has("`plan` and `apply` never act on it");
    assert_eq!(run.read("etc/subuid"), subuid);
    assert_eq!(run.read("etc/pve/nodes/pve1/lxc/101.conf"), conf);
    assert!(!run.path().join("etc/pve/idfed/nodes/pve1.json").exists());

    // Without a cache, check still gives its structural findings, then exits 1 saying what did
    // not run; report has nothing to answer from.
    std::fs::remove_file(run.path().join(CACHE)).unwrap();
    let run = idfed(run.again(), &["check"])
        .failure()
        .stdout_has("problem [subuid-missing] CT 103 on pve1 cannot start here (pve1)")
        .stderr_has("only the checks that need no directory ran (maps, subids, configs): ")
        .stderr_has(&down);
    idfed(run.again(), &["report", "--owner", "alice"])
        .failure()
        .stderr_has(&down);
}

/// Each command that pulls keeps the answer while it goes on (on a thread of its own), and has
/// kept it when it ends; an answer that cannot be kept is a warning once the output is written,
/// the command's outcome unchanged.
#[test]
fn every_pull_is_kept_by_the_end_and_one_that_cannot_be_is_a_warning_after_the_output() {
    const NAS: &str = "var/lib/idfed/cache/nas.json";
    let t = Test::new().fixture("check-healthy");
    let run = t.at_root("pve1").args(["plan"]).run().success();
    let planned = run.stdout();
    assert!(run.read(NAS).contains("\"name\":\"alice\""));
    assert_eq!(run.stderr(), "");
    let mut run = run;
    for command in ["report", "check", "emit"] {
        std::fs::remove_file(run.path().join(NAS)).unwrap();
        let mut args = vec![command];
        if command == "emit" {
            args.extend(["--out", "{root}/bundle"]);
        }
        run = run.again().at_root("pve1").args(args).run().success();
        assert!(run.read(NAS).contains("\"name\":\"alice\""), "{command}");
    }

    // The cache directory is a file: nothing can be kept there.
    std::fs::remove_dir_all(run.path().join("var/lib/idfed/cache")).unwrap();
    let mut t = run
        .again()
        .write("var/lib/idfed/cache", "not a directory\n");
    let warning = "idfed: warning: source `nas`: cannot keep its answer: failed to create `";
    for command in ["plan", "report", "check"] {
        let run = t.at_root("pve1").args([command]).run().success();
        let stderr = run.stderr();
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with(warning), "{command}: {stderr}");
        assert_eq!(stderr.matches(warning).count(), 1, "{command}: {stderr}");
        if command == "plan" {
            assert_eq!(run.stdout(), planned);
        }
        t = run.again();
    }
}
