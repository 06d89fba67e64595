//! Issue 16: directory data never reaches a terminal raw. A real slapd holds a user whose `uid`
//! has an ESC sequence (set the terminal's title), a BEL and a newline (a forged line of output),
//! and a group naming a member that does not exist with an ESC colour sequence: `resolve` and
//! `report` text and the warnings print them escaped; JSON keeps them exact.

use serde_json::Value;

use crate::harness::{Run, Test};
use crate::slapd::{self, Ldif, Slapd};

/// The hostile name: a title-setting OSC sequence ended by BEL, then a newline and a fake line.
const EVIL: &str = "ev\u{1b}]0;pwned\u{7}il\nidfed: all good";
/// How text output writes it.
const EVIL_TEXT: &str = "ev\\u{1b}]0;pwned\\u{7}il\\nidfed: all good";
/// A member name with a colour sequence, for a warning.
const GHOST: &str = "gh\u{1b}[31most\u{9b}2J";
const GHOST_TEXT: &str = "gh\\u{1b}[31most\\u{9b}2J";

/// Standard base64 (LDIF's `attr:: value` for values LDIF cannot write plainly).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn directory() -> Ldif {
    Ldif::new().user("alice", 1005, 1005).raw(&format!(
        "dn: cn=evil,{people}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid:: {uid}\ncn: evil\nsn: evil\nuidNumber: 1010\ngidNumber: 1010\n\
             homeDirectory: /home/evil\n\n\
             dn: cn=research,{groups}\nobjectClass: posixGroup\ncn: research\ngidNumber: 3000\n\
             memberUid: alice\nmemberUid:: {ghost}\n\n",
        people = slapd::PEOPLE,
        groups = slapd::GROUPS,
        uid = base64(EVIL.as_bytes()),
        ghost = base64(GHOST.as_bytes()),
    ))
}

/// The `check-healthy` cluster (CT 101 on pve1 binds the share) with an LDAP source instead.
fn test(slapd: &Slapd) -> Test {
    let evil_toml = serde_json::to_string(EVIL).unwrap();
    let config = format!(
        "[source.corp]\ntype = \"ldap\"\nurl = \"{}\"\nuser_base = \"{}\"\ngroup_base = \"{}\"\n\n\
         [share.projects]\nsource = \"corp\"\npath = \"/mnt/pve/projects\"\n\
         users = [\"alice\", {evil_toml}]\ngroups = [\"research\"]\n",
        slapd.url(),
        slapd::PEOPLE,
        slapd::GROUPS
    );
    Test::new()
        .fixture("check-healthy")
        .write("idfed.toml", &config)
        .at_root("pve1")
}

fn idfed(slapd: &Slapd, args: &[&str]) -> Run {
    test(slapd).args(args).run()
}

/// Not one byte a terminal acts on, but the line breaks of the layout.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && idfed::text::is_unsafe(c))
        .collect();
    assert!(bad.is_empty(), "{what}: {bad:?} in\n{text}");
}

#[test]
fn directory_names_print_escaped_in_text_and_exact_in_json() {
    let slapd = Slapd::start(&directory());
    // The member that names no user: one warning line, its name escaped.
    let warning = |stderr: String| {
        let want =
            format!("idfed: warning: share `projects`: group `research`: member `{GHOST_TEXT}` ");
        assert!(
            stderr.starts_with(&want)
                && stderr.ends_with(": skipped\n")
                && stderr.lines().count() == 1,
            "{stderr}"
        );
    };

    let run = idfed(&slapd, &["resolve"]).success();
    assert!(
        run.stdout()
            .contains(&format!("  user   {EVIL_TEXT}  1010  corp\n")),
        "{}",
        run.stdout()
    );
    assert_inert("resolve", &run.stdout());
    warning(run.stderr());

    let run = idfed(&slapd, &["--format", "json", "resolve"]).success();
    let owners = run.json()["shares"]["projects"]["owners"].clone();
    let names: Vec<&str> = owners
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&EVIL), "{owners}");
    // JSON's own escapes only (stderr's warning is text all the same).
    warning(run.stderr());

    let run = idfed(&slapd, &["report"]).success();
    assert!(
        run.stdout()
            .contains(&format!("projects  {EVIL_TEXT}  1010")),
        "{}",
        run.stdout()
    );
    assert_inert("report", &run.stdout());
    warning(run.stderr());

    let run = idfed(&slapd, &["report", "--owner", EVIL]).success();
    assert!(
        run.stdout()
            .starts_with(&format!("user {EVIL_TEXT} (1010), share projects:\n")),
        "{}",
        run.stdout()
    );
    assert_inert("report --owner", &run.stdout());

    let run = idfed(&slapd, &["--format", "json", "report"]).success();
    let rows: Value = run.json()["rows"].clone();
    assert!(
        rows.as_array().unwrap().iter().any(|r| r["name"] == EVIL),
        "{rows}"
    );
    let run = idfed(&slapd, &["--format", "csv", "report"]).success();
    assert!(
        run.stdout()
            .contains(&format!("projects,user,\"{EVIL}\",1010,101,pve1,")),
        "{}",
        run.stdout()
    );
}
