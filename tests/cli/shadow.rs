//! shadow-utils as the judge of subid files: the real `newuidmap` reads a file bind-mounted over
//! `/etc/subuid` in a private mount namespace (`unshare -m`; the machine's own file is never
//! touched), and idfed's coverage verdict (`check`) must be the same on the same file, whatever
//! its line ends, number bases, fields or stray bytes. After `apply` on such a file, newuidmap
//! accepts the map.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Test, skip_without_root};
use crate::lxc::idmap_lines;

/// Asks the real newuidmap whether `subuid` lets root map `uid_map` (`lxc.idmap` lines; the `u`
/// ones are used) for a fresh `unshare -U` process. `Err` holds what it said.
pub fn newuidmap_accepts(subuid: &[u8], uid_map: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subuid");
    std::fs::write(&file, subuid).unwrap();
    let mut args = Vec::new();
    for line in uid_map {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 5 && f[1] == "u" {
            args.extend(f[2..].iter().map(|s| s.to_string()));
        }
    }
    assert!(!args.is_empty(), "no uid extent in {uid_map:?}");
    newuidmap(&file, &args)
}

fn newuidmap(subuid: &Path, args: &[String]) -> Result<(), String> {
    // The sleeper enters its user namespace asynchronously: wait for it before mapping.
    let script = r#"mount --bind "$1" /etc/subuid || exit 99
shift
unshare -U sleep 30 & p=$!
me=$(readlink /proc/self/ns/user)
i=0
while ns=$(readlink /proc/$p/ns/user 2>/dev/null); [ -z "$ns" ] || [ "$ns" = "$me" ]; do
  i=$((i+1)); [ $i -gt 2000 ] && { kill $p; echo "unshare -U did not start" >&2; exit 98; }
  sleep 0.005
done
newuidmap $p "$@"; rc=$?
kill $p
exit $rc"#;
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(subuid)
        .args(args)
        .output()
        .expect("`unshare` (util-linux) must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(stderr),
        _ => panic!("newuidmap could not be asked ({}): {stderr}", out.status),
    }
}

/// `check-healthy` at pve1 with `subuid` as pve1's `/etc/subuid`.
fn tree(subuid: &str) -> Test {
    Test::new()
        .fixture("check-healthy")
        .write("etc/subuid", subuid)
        .at_root("pve1")
}

/// Does idfed's check say that pve1's subuid fails CT 101's uid map?
fn check_says_missing(json: &Value) -> bool {
    json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["ct"] == 101 && f["code"] == "subuid-missing")
}

/// Every spelling shadow 4.13 reads differently from a naive parser, and its verdict on CT 101's
/// uid map (`0 100000 1005`, `1005 1005 1`, `1006 101006 64530`).
const CASES: &[(&str, &str, bool)] = &[
    ("plain", "root:100000:65536\nroot:1005:1\n", true),
    ("crlf", "root:100000:65536\r\nroot:1005:1\r\n", false),
    (
        "crlf passthrough",
        "root:100000:65536\nroot:1005:1\r\n",
        false,
    ),
    ("no final newline", "root:100000:65536\nroot:1005:1", true),
    ("final lone cr", "root:100000:65536\nroot:1005:1\r", false),
    (
        "leading zeros are octal",
        "root:0100000:065536\nroot:01005:01\n",
        false,
    ),
    ("octal", "root:0303240:0200000\nroot:01755:1\n", true),
    ("hex", "root:0x186a0:0x10000\nroot:0X3ED:1\n", true),
    ("extra fields", "root:100000:65536:x\nroot:1005:1:\n", true),
    ("too few fields", "root:100000:65536\nroot:1005\n", false),
    (
        "white space and sign",
        "root: 100000:+65536\nroot:\t1005:1\n",
        true,
    ),
    ("trailing space", "root:100000:65536\nroot:1005:1 \n", false),
    (
        "overflow",
        "root:100000:18446744073709551616\nroot:1005:1\n",
        false,
    ),
    (
        "wrapping count",
        "root:100000:18446744073709551615\nroot:1005:1\n",
        false,
    ),
    ("count 0 at 0", "root:0:0\n", true),
    ("negative", "root:-1:100002\nroot:1005:1\n", false),
    (
        "blank and comment lines",
        "# by hand\n\nroot:100000:65536\n   \n#root:1005:1\nroot:1005:1\n",
        true,
    ),
    (
        "a comment is no entry",
        "root:100000:65536\n#root:1005:1\n",
        false,
    ),
    ("nis", "root:100000:65536\n+root:1005:1\n", false),
    ("numeric owner", "0:100000:65536\n0:1005:1\n", true),
    (
        "split lines",
        "root:100000:500\nroot:100500:65036\nroot:1005:1\n",
        true,
    ),
    ("too long", "root:100000:65536\nroot:1005:1:", false), // padded below
    (
        "nul joins lines",
        "root:100000:65536\nroot:1005:1\0\nroot:1:1\n",
        false,
    ),
    (
        "nul on the last line",
        "root:100000:65536\nroot:1005:1\n#\0\n",
        false,
    ),
];

fn case_text(name: &str, text: &str) -> String {
    if name == "too long" {
        format!("{text}{}\n", "x".repeat(1020))
    } else {
        text.to_string()
    }
}

#[test]
fn check_agrees_with_newuidmap_on_every_spelling() {
    if skip_without_root("bind mounts and newuidmap") {
        return;
    }
    let conf = crate::harness::fixture_text("check-healthy", "etc/pve/nodes/pve1/lxc/101.conf");
    let map = idmap_lines(&conf);
    for &(name, text, accepted) in CASES {
        let text = case_text(name, text);
        let shadow = newuidmap_accepts(text.as_bytes(), &map);
        assert_eq!(
            shadow.is_ok(),
            accepted,
            "{name}: newuidmap's verdict is not the expected one: {shadow:?}"
        );
        let run = tree(&text).args(["--format", "json", "check"]).run();
        let json = run.json();
        assert_eq!(
            !check_says_missing(&json),
            shadow.is_ok(),
            "{name}: idfed's check disagrees with newuidmap ({shadow:?}): {json:#}"
        );
        // A line shadow skips (blank and comment lines aside) is a problem with its line number.
        let skipped = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "subid-malformed")
            .count();
        // (Valid octal numbers and comment lines are not mistakes shadow skips.)
        let unreported = ["leading zeros are octal", "a comment is no entry"];
        if !accepted && !unreported.contains(&name) {
            assert!(skipped > 0, "{name}: no skipped line reported: {json:#}");
        }
        if [
            "plain",
            "octal",
            "hex",
            "blank and comment lines",
            "count 0 at 0",
        ]
        .contains(&name)
        {
            assert_eq!(skipped, 0, "{name}: {json:#}");
        }

        // apply appends what is missing, in LF lines newuidmap reads.
        let applied = run
            .again()
            .args([
                "-c",
                "{root}/idfed.toml",
                "--root",
                "{root}",
                "--node",
                "pve1",
            ])
            .args(["apply", "--force"])
            .run()
            .success();
        let after = std::fs::read(applied.path().join("etc/subuid")).unwrap();
        assert!(
            after.starts_with(text.trim_end_matches('\n').as_bytes()),
            "{name}: apply changed lines it did not add: {:?}",
            String::from_utf8_lossy(&after)
        );
        let conf = applied.read("etc/pve/nodes/pve1/lxc/101.conf");
        let accepted_after = newuidmap_accepts(&after, &idmap_lines(&conf));
        assert!(
            accepted_after.is_ok(),
            "{name}: after apply newuidmap refuses the map: {accepted_after:?}\n{:?}",
            String::from_utf8_lossy(&after)
        );
        if accepted {
            assert_eq!(
                after,
                text.as_bytes(),
                "{name}: a covering file was changed"
            );
        }
    }
}

#[test]
fn a_skipped_line_is_a_problem_with_its_line_and_fix() {
    let run = tree("root:100000:65536\r\nroot:1005:1\n")
        .args(["--format", "json", "check"])
        .run()
        .code(2);
    let json = run.json();
    let f = crate::harness::finding(&json, "problems", |f| f["code"] == "subid-malformed");
    assert_eq!(f["node"], "pve1");
    assert_eq!(
        f["message"],
        "/etc/subuid on pve1: line 1: `root:100000:65536` counts for nothing with newuidmap: it \
         ends in a carriage return (a CRLF line end), which shadow reads as part of the count \
         (kept)"
    );
    assert_eq!(
        f["fix"],
        "on pve1: convert /etc/subuid to LF line ends: `sed -i 's/\\r$//' /etc/subuid` (line 1 and \
         any other CRLF line)"
    );
}
