//! `idfed resolve`: shares resolved against a `files` source (fixture `sources-files`) and against
//! a real slapd (see `slapd.rs`): RFC 2307 and 2307bis groups, paging past the server's size
//! limit, ldaps:// and StartTLS with a self-signed certificate, wrong passwords, dead and hung
//! servers, entries without POSIX attributes.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::harness::{Run, Test, files_test};
use crate::slapd::{self, Ldif, Slapd};

#[test]
fn files_text_output() {
    let run = files_test()
        .args(["--root", "{root}", "resolve"])
        .run()
        .success();
    insta::assert_snapshot!(run.stdout(), @r"
    share archive
      user   bob    1006  nas
      group  staff  3001  nas
      uids: 1006
      gids: 3001

    share projects
      user   alice     1005  nas
      user   carol     1007  nas
      user   dave      1008  nas
      group  alice     1005  nas
      group  research  3000  nas
      group  lab       5000  nas
      uids: 1005,1007-1008,2000-2010
      gids: 1005,3000,4000,5000
    ");
    run.stderr_is(
        "idfed: warning: share `projects`: group `research`: member `ghost` names no user in \
         source `nas` (deleted?): skipped\n",
    );
}

#[test]
fn files_json_output() {
    let run = files_test()
        .args([
            "--root", "{root}", "--format", "json", "resolve", "projects",
        ])
        .run()
        .success();
    insta::assert_snapshot!(run.stdout(), @r#"
    {
      "shares": {
        "projects": {
          "uids": [
            {
              "start": 1005,
              "count": 1
            },
            {
              "start": 1007,
              "count": 2
            },
            {
              "start": 2000,
              "count": 11
            }
          ],
          "gids": [
            {
              "start": 1005,
              "count": 1
            },
            {
              "start": 3000,
              "count": 1
            },
            {
              "start": 4000,
              "count": 1
            },
            {
              "start": 5000,
              "count": 1
            }
          ],
          "owners": [
            {
              "kind": "user",
              "name": "alice",
              "id": 1005,
              "source": "nas"
            },
            {
              "kind": "user",
              "name": "carol",
              "id": 1007,
              "source": "nas"
            },
            {
              "kind": "user",
              "name": "dave",
              "id": 1008,
              "source": "nas"
            },
            {
              "kind": "group",
              "name": "alice",
              "id": 1005,
              "source": "nas"
            },
            {
              "kind": "group",
              "name": "research",
              "id": 3000,
              "source": "nas"
            },
            {
              "kind": "group",
              "name": "lab",
              "id": 5000,
              "source": "nas"
            }
          ]
        }
      }
    }
    "#);
}

#[test]
fn verbose_says_what_each_source_returned() {
    files_test()
        .args(["--root", "{root}", "-v", "resolve", "archive"])
        .run()
        .success()
        .stderr_has("idfed: source `nas`: 5 users, 6 groups in ");
}

#[test]
fn config_by_flag_and_by_env() {
    files_test()
        .args(["-c", "{root}/etc/idfed/idfed.toml", "resolve", "archive"])
        .run()
        .success()
        .stdout_has("share archive\n");
    files_test()
        .env("IDFED_CONFIG", "{root}/etc/idfed/idfed.toml")
        .args(["resolve", "archive"])
        .run()
        .success()
        .stdout_has("uids: 1006\n");
}

#[test]
fn missing_config_is_a_clear_error() {
    let run = Test::new()
        .args(["--root", "{root}", "resolve"])
        .run()
        .failure();
    let root = run.path().display();
    let want = format!(
        "idfed: error: no configuration: neither `{root}/etc/pve/idfed/idfed.toml` (the cluster's, \
         read first) nor `{root}/etc/idfed/idfed.toml` (this node's) exists: create the first (an \
         example is `/usr/share/doc/idfed/examples/idfed.toml`; in the source tree \
         `config/idfed.example.toml`) or name another with `-c PATH` or `IDFED_CONFIG`\n"
    );
    run.stderr_is(&want);
}

#[test]
fn the_clusters_config_is_read_first_without_c() {
    // The cluster's file in pmxcfs under --root; this node's file is not a configuration at all,
    // so reading it instead would fail.
    let t = files_test();
    let config = std::fs::read_to_string(t.path().join("etc/idfed/idfed.toml")).unwrap();
    let t = t
        .write("etc/pve/idfed/idfed.toml", &config)
        .write("etc/idfed/idfed.toml", "not a configuration\n");
    t.args(["--root", "{root}", "resolve", "archive"])
        .run()
        .success()
        .stdout_has("share archive\n");
}

#[test]
fn a_named_config_that_is_missing_is_named() {
    let run = files_test()
        .args(["--root", "{root}", "-c", "{root}/nosuch.toml", "resolve"])
        .run()
        .failure();
    let want = format!(
        "idfed: error: configuration file `{}/nosuch.toml` not found: name an existing file with \
         `-c PATH` or `IDFED_CONFIG`, or drop both to read the cluster's `/etc/pve/idfed/idfed.toml`\n",
        run.path().display()
    );
    run.stderr_is(&want);
}

#[test]
fn unknown_share_exits_1_naming_it() {
    files_test()
        .args(["--root", "{root}", "resolve", "projcts"])
        .run()
        .failure()
        .stderr_has("unknown share `projcts`")
        .stderr_has("(did you mean `projects`?)");
    files_test()
        .args(["--root", "{root}", "resolve", "zzz"])
        .run()
        .failure()
        .stderr_has("unknown share `zzz`")
        .stderr_has("expected one of `archive`, `projects`");
}

#[test]
fn unknown_user_names_share_source_and_hint() {
    let t = files_test();
    let path = t.path().join("etc/idfed/idfed.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("users = [\"alice\"]", "users = [\"alise\"]");
    t.write("etc/idfed/idfed.toml", &text)
        .args(["--root", "{root}", "resolve"])
        .run()
        .failure()
        .stderr_has("idfed: error: share `projects`: user `alise` not found in source `nas` (did you mean `alice`?)\n");
}

#[test]
fn a_share_that_fails_does_not_hide_the_others() {
    let t = files_test();
    let path = t.path().join("etc/idfed/idfed.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("users = [\"bob\"]", "users = [\"bobb\"]");
    let run = t
        .write("etc/idfed/idfed.toml", &text)
        .args(["--root", "{root}", "resolve"])
        .run()
        .failure()
        .stdout_has("share projects\n")
        .stderr_has(
            "idfed: error: share `archive`: user `bobb` not found in source `nas` (did you mean `bob`?)\n",
        );
    assert!(!run.stdout().contains("archive"));
}

#[test]
fn malformed_passwd_names_file_and_line() {
    let run = files_test()
        .write(
            "nas-etc/passwd",
            "alice:x:1005:1005:::\nbob:x:10o6:100:::\n",
        )
        .args(["--root", "{root}", "resolve"])
        .run()
        .failure();
    let want = format!(
        "idfed: error: cannot read source `nas`: `{}/nas-etc/passwd` line 2: uid `10o6` is not a \
         number: expected 0 to 4294967294\n",
        run.path().display()
    );
    run.stderr_is(&want);
}

#[test]
fn config_error_names_key_and_line() {
    files_test()
        .write(
            "bad.toml",
            "[source.nas]\ntype = \"files\"\npasswd = \"/p\"\ngroup = \"/g\"\n\n[share.x]\nsource = \"nas\"\npath = \"/mnt/x\"\nuids = [1005, \"3000-2000\"]\n",
        )
        .args(["-c", "bad.toml", "resolve"])
        .run()
        .failure()
        .stderr_has("idfed: error: `bad.toml` line 9, column 15: `share.x.uids[1]`: `3000-2000` is reversed");
}

#[test]
fn csv_is_refused() {
    files_test()
        .args(["--root", "{root}", "--format", "csv", "resolve"])
        .run()
        .failure()
        .stderr_has("`resolve` does not write `--format csv`");
}

// ---- LDAP, against a real slapd ----

/// A config with one LDAP source `corp` (`source_extra` appended to it) and one share
/// `projects` (`share` is its owner keys).
fn ldap_config(url: &str, source_extra: &str, share: &str) -> String {
    format!(
        "[source.corp]\ntype = \"ldap\"\nurl = \"{url}\"\nuser_base = \"{}\"\ngroup_base = \"{}\"\n\
         {source_extra}\n\n[share.projects]\nsource = \"corp\"\n\
         path = \"/mnt/pve/projects\"\n{share}\n",
        slapd::PEOPLE,
        slapd::GROUPS
    )
}

fn resolve_json(config: &str) -> Run {
    Test::new()
        .write("idfed.toml", config)
        .args(["-c", "{root}/idfed.toml", "--format", "json", "resolve"])
        .run()
}

fn ranges(run: &Run, kind: &str) -> Vec<(u64, u64)> {
    run.json()["shares"]["projects"][kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["start"].as_u64().unwrap(), r["count"].as_u64().unwrap()))
        .collect()
}

fn people() -> Ldif {
    Ldif::new()
        .user("alice", 1005, 1005)
        .user("bob", 1006, 5000)
        .user("carol", 1007, 5000)
        .posix_group("alice", 1005, &[])
        .posix_group("lab", 5000, &[])
}

#[test]
fn ldap_rfc2307_member_uid_groups() {
    let ldif = people().posix_group("research", 3000, &["bob", "carol", "ghost"]);
    let slapd = Slapd::start(&ldif);
    let run = resolve_json(&ldap_config(
        &slapd.url(),
        "",
        "users = [\"alice\"]\ngroups = [\"research\"]\nuids = [\"2000-2001\"]",
    ))
    .success();
    assert_eq!(ranges(&run, "uids"), [(1005, 3), (2000, 2)]);
    assert_eq!(ranges(&run, "gids"), [(1005, 1), (3000, 1), (5000, 1)]);
    let owners = &run.json()["shares"]["projects"]["owners"];
    assert_eq!(
        owners[0],
        serde_json::json!({"kind": "user", "name": "alice", "id": 1005, "source": "corp"})
    );
    assert_eq!(owners.as_array().unwrap().len(), 6);
    run.stderr_is(
        "idfed: warning: share `projects`: group `research`: member `ghost` names no user in \
         source `corp` (deleted?): skipped\n",
    );
}

/// `nopo` is an entry without POSIX attributes; `gone` names no entry at all (a member deleted
/// from the directory while the group still lists it): each has its own warning.
#[test]
fn ldap_rfc2307bis_member_dns_and_entries_without_posix_attributes() {
    let ldif = people()
        .person("nopo")
        .bis_group("research", 3000, &["bob", "nopo", "gone"]);
    let slapd = Slapd::start(&ldif);
    // The user filter takes every person, so the source itself meets `nopo` without uidNumber.
    let run = resolve_json(&ldap_config(
        &slapd.url(),
        "schema = \"rfc2307bis\"\nuser_filter = \"(objectClass=inetOrgPerson)\"",
        "groups = [\"research\"]",
    ))
    .success();
    assert_eq!(ranges(&run, "uids"), [(1006, 1)]);
    assert_eq!(ranges(&run, "gids"), [(3000, 1), (5000, 1)]);
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "idfed: warning: source `corp`: entry `uid=nopo,{}` has no `uidNumber`: skipped\n",
            slapd::PEOPLE
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "idfed: warning: share `projects`: group `research`: member `uid=nopo,{}` is not a \
             user or a group with POSIX attributes in source `corp`: skipped\n",
            slapd::PEOPLE
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "idfed: warning: share `projects`: group `research`: member `uid=gone,{}` names no \
             entry in source `corp` (deleted, or outside its bases and filters?): skipped\n",
            slapd::PEOPLE
        )),
        "{stderr}"
    );
}

/// rfc2307bis nested groups from a real slapd: `outer` lists `inner` by DN, `inner` lists
/// `outer` back (a cycle) and bob; alice and bob are members of `outer`, `inner`'s gid is not
/// an owner of the share.
#[test]
fn ldap_rfc2307bis_nested_groups() {
    let (users, groups) = (slapd::PEOPLE, slapd::GROUPS);
    let group = |name: &str, gid: u32, members: &[String]| {
        let mut text = format!(
            "dn: cn={name},{groups}\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n\
             cn: {name}\ngidNumber: {gid}\n"
        );
        for m in members {
            text.push_str(&format!("member: {m}\n"));
        }
        text + "\n"
    };
    let ldif = people()
        .raw(&group(
            "outer",
            4000,
            &[format!("cn=inner,{groups}"), format!("uid=alice,{users}")],
        ))
        .raw(&group(
            "inner",
            4001,
            &[format!("CN=outer, {groups}"), format!("uid=bob,{users}")],
        ));
    let slapd = Slapd::start(&ldif);
    let run = resolve_json(&ldap_config(
        &slapd.url(),
        "schema = \"rfc2307bis\"",
        "groups = [\"outer\"]\nprimary_gids = false",
    ))
    .success();
    assert_eq!(ranges(&run, "uids"), [(1005, 2)]);
    assert_eq!(ranges(&run, "gids"), [(4000, 1)]);
    run.stderr_is("");
}

#[test]
fn ldap_unknown_group_hints_the_closest_name() {
    let slapd = Slapd::start(&people().posix_group("research", 3000, &[]));
    resolve_json(&ldap_config(&slapd.url(), "", "groups = [\"reserch\"]"))
        .failure()
        .stderr_has("share `projects`: group `reserch` not found in source `corp` (did you mean `research`?)");
}

#[test]
fn ldap_paging_past_the_size_limit_as_a_non_root_reader() {
    const N: u32 = 1200;
    let mut ldif = Ldif::new();
    let names: Vec<String> = (0..N).map(|i| format!("u{i:05}")).collect();
    for (i, name) in names.iter().enumerate() {
        ldif = ldif.user(name, 10_000 + i as u32, 9000);
    }
    let members: Vec<&str> = names.iter().map(String::as_str).collect();
    ldif = ldif.posix_group("many", 9000, &members);
    let slapd = Slapd::start(&ldif);
    // The limit is real: an unpaged search by the reader stops at 500 (rc 4, sizeLimitExceeded).
    let (code, _) = slapd.ldapsearch(&[
        "-x",
        "-D",
        slapd::READER_DN,
        "-w",
        slapd::READER_PASSWORD,
        "-b",
        slapd::PEOPLE,
        "(objectClass=posixAccount)",
        "dn",
    ]);
    assert_eq!(code, 4, "an unpaged search should hit the size limit");

    let t = Test::new();
    let secret = t.path().join("ldap.secret");
    std::fs::write(&secret, format!("{}\n", slapd::READER_PASSWORD)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = ldap_config(
        &slapd.url(),
        &format!(
            "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
            slapd::READER_DN,
            secret.display()
        ),
        "groups = [\"many\"]",
    );
    let run = t
        .write("idfed.toml", &config)
        .args(["-c", "{root}/idfed.toml", "--format", "json", "resolve"])
        .run()
        .success();
    assert_eq!(ranges(&run, "uids"), [(10_000, u64::from(N))]);
    assert_eq!(ranges(&run, "gids"), [(9000, 1)]);
    run.stderr_is("");
}

#[test]
fn ldap_group_readable_password_file_is_refused() {
    let t = Test::new();
    let secret = t.path().join("ldap.secret");
    std::fs::write(&secret, "whatever\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = ldap_config(
        "ldap://127.0.0.1:9",
        &format!(
            "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
            slapd::READER_DN,
            secret.display()
        ),
        "users = [\"alice\"]",
    );
    t.write("idfed.toml", &config)
        .args(["-c", "{root}/idfed.toml", "resolve"])
        .run()
        .failure()
        .stderr_has("is readable by group or others (mode 0640): expected mode 0600 or 0400");
}

#[test]
fn ldap_wrong_password_is_a_bind_error_that_does_not_show_it() {
    let slapd = Slapd::start(&people());
    let password = "Wr0ng-pa55word-x9";
    let config = ldap_config(
        &slapd.url(),
        &format!("bind_dn = \"{}\"", slapd::READER_DN),
        "users = [\"alice\"]",
    );
    let run = Test::new()
        .write("idfed.toml", &config)
        .env("IDFED_LDAP_PASSWORD", password)
        .args(["-c", "{root}/idfed.toml", "-v", "resolve"])
        .run()
        .failure()
        .stderr_has(&format!(
            "idfed: error: cannot read source `corp`: bind as `{}` to `{}` failed: invalid \
             credentials (rc 49): check `bind_dn` and the password",
            slapd::READER_DN,
            slapd.url()
        ))
        .stderr_lacks(password);
    assert!(!run.stdout().contains(password));
    // And the right one works, from the environment.
    Test::new()
        .write("idfed.toml", &config)
        .env("IDFED_LDAP_PASSWORD", slapd::READER_PASSWORD)
        .args(["-c", "{root}/idfed.toml", "resolve"])
        .run()
        .success()
        .stdout_has("uids: 1005\n")
        .stderr_lacks(slapd::READER_PASSWORD);
}

#[test]
fn ldaps_with_a_self_signed_certificate_needs_ca_file() {
    let slapd = Slapd::start(&people());
    let trusted = format!("ca_file = \"{}\"", slapd.ca_file().display());
    resolve_json(&ldap_config(
        &slapd.ldaps_url(),
        &trusted,
        "users = [\"alice\"]",
    ))
    .success();
    resolve_json(&ldap_config(&slapd.ldaps_url(), "", "users = [\"alice\"]"))
        .failure()
        .stderr_has(&format!("cannot connect to `{}`", slapd.ldaps_url()))
        .stderr_has("invalid peer certificate")
        .stderr_has("set `ca_file`");
}

#[test]
fn starttls_with_a_self_signed_certificate_needs_ca_file() {
    let slapd = Slapd::start(&people());
    let trusted = format!(
        "starttls = true\nca_file = \"{}\"",
        slapd.ca_file().display()
    );
    resolve_json(&ldap_config(&slapd.url(), &trusted, "users = [\"alice\"]")).success();
    resolve_json(&ldap_config(
        &slapd.url(),
        "starttls = true",
        "users = [\"alice\"]",
    ))
    .failure()
    .stderr_has("certificate");
}

#[test]
fn ldap_server_stopped_is_a_clear_error() {
    let mut slapd = Slapd::start(&people());
    let url = slapd.url();
    slapd.stop();
    let started = Instant::now();
    resolve_json(&ldap_config(
        &url,
        "timeout_secs = 2",
        "users = [\"alice\"]",
    ))
    .failure()
    .stderr_has(&format!(
        "idfed: error: cannot read source `corp`: cannot connect to `{url}`"
    ));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn ldap_hung_server_times_out_within_timeout_secs() {
    let slapd = Slapd::start(&people());
    slapd.pause();
    let started = Instant::now();
    resolve_json(&ldap_config(
        &slapd.url(),
        "timeout_secs = 2",
        "users = [\"alice\"]",
    ))
    .failure()
    .stderr_has(&format!(
        "`{}` did not answer in full within 2 s (`timeout_secs`)",
        slapd.url()
    ));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}

/// A size limit fails the search on whichever page it stops: never fewer users than there
/// are. The reader may page through 150 entries in all with pages of 100 (the second page
/// fails), or through 2 with pages of 500 (the first page fails, after two users).
#[test]
fn ldap_search_failing_midway_fails_the_run() {
    let mut many = Ldif::new();
    for i in 0..300 {
        many = many.user(&format!("u{i:03}"), 10_000 + i, 9000);
    }
    for (ldif, total, page_size) in [
        (many.posix_group("many", 9000, &["u000"]), 150, 100),
        (people().posix_group("many", 9000, &["alice"]), 2, 500),
    ] {
        let slapd = Slapd::start_with(
            &ldif,
            &format!(
                "limits dn.exact=\"{}\" size.prtotal={total}",
                slapd::READER_DN
            ),
        );
        let config = ldap_config(
            &slapd.url(),
            &format!(
                "bind_dn = \"{}\"\npage_size = {page_size}",
                slapd::READER_DN
            ),
            "groups = [\"many\"]",
        );
        let run = Test::new()
            .write("idfed.toml", &config)
            .env("IDFED_LDAP_PASSWORD", slapd::READER_PASSWORD)
            .args(["-c", "{root}/idfed.toml", "resolve"])
            .run()
            .failure()
            .stderr_has(&format!(
                "idfed: error: cannot read source `corp`: search of `{}` for `(objectClass=posixAccount)` on `{}` failed: sizeLimitExceeded (rc 4)",
                slapd::PEOPLE,
                slapd.url()
            ));
        assert_eq!(run.stdout(), "");
    }
}

#[test]
fn ldap_missing_base_is_a_search_error() {
    let slapd = Slapd::start(&people());
    resolve_json(
        &ldap_config(&slapd.url(), "", "users = [\"alice\"]").replace(
            "ou=groups,dc=example,dc=org",
            "ou=nowhere,dc=example,dc=org",
        ),
    )
    .failure()
    .stderr_has("search of `ou=nowhere,dc=example,dc=org` for `(objectClass=posixGroup)`")
    .stderr_has("failed: noSuchObject (rc 32)\n");
}

#[test]
fn ldap_same_name_with_two_uids_is_an_error() {
    let ldif = people().raw(&format!(
        "dn: cn=alice2,{}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: alice\n\
         cn: alice2\nsn: alice\nuidNumber: 2005\ngidNumber: 1005\nhomeDirectory: /home/alice2\n",
        slapd::PEOPLE
    ));
    let slapd = Slapd::start(&ldif);
    resolve_json(&ldap_config(&slapd.url(), "", "users = [\"bob\"]"))
        .failure()
        .stderr_has("user `alice` is defined twice, with uid ")
        .stderr_has("(entry `");
}

#[test]
fn ldap_bind_dn_without_any_password_is_refused() {
    resolve_json(&ldap_config(
        "ldap://127.0.0.1:9",
        &format!("bind_dn = \"{}\"", slapd::READER_DN),
        "users = [\"alice\"]",
    ))
    .failure()
    .stderr_has(&format!(
        "no bind password for `{}`: expected `bind_password_file` or the `IDFED_LDAP_PASSWORD` \
         environment variable",
        slapd::READER_DN
    ));
}

#[test]
fn ldap_referrals_are_ignored_not_fatal() {
    let ldif = people().raw(&format!(
        "dn: ou=elsewhere,{}\nobjectClass: referral\nobjectClass: extensibleObject\n\
         ou: elsewhere\nref: ldap://127.0.0.1:9/ou=elsewhere,dc=example,dc=org\n",
        slapd::PEOPLE
    ));
    let slapd = Slapd::start(&ldif);
    // The server really answers with a search reference.
    let (code, out) = slapd.ldapsearch(&[
        "-x",
        "-b",
        slapd::PEOPLE,
        "(objectClass=posixAccount)",
        "dn",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("ref: ldap://127.0.0.1:9/"), "{out}");
    let run = resolve_json(&ldap_config(
        &slapd.url(),
        "",
        "users = [\"alice\", \"bob\"]",
    ))
    .success();
    assert_eq!(ranges(&run, "uids"), [(1005, 2)]);
}
