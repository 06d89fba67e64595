//! Configuration tests: defaults, every rule, and the key path and line of every error.

use std::path::Path;

use super::*;

const PATH: &str = "/etc/idfed/idfed.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(PATH))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const BASE: &str = r#"
[source.corp]
type = "ldap"
url = "ldaps://ldap.example.org"
user_base = "ou=people,dc=example,dc=org"
group_base = "ou=groups,dc=example,dc=org"

[source.nas]
type = "files"
passwd = "/srv/nas-etc/passwd"
group = "/srv/nas-etc/group"
"#;

fn with_share(share: &str) -> String {
    format!("{BASE}\n[share.projects]\n{share}")
}

#[test]
fn defaults() {
    let c = parse(&with_share(
        "source = \"nas\"\npath = \"/mnt/pve/projects\"\nusers = [\"alice\"]\n",
    ))
    .unwrap();
    assert_eq!(c.cluster, ClusterConfig::default());
    assert_eq!(c.cluster.map.over_budget, crate::idmap::OverBudget::Unmap);
    assert!(c.cluster.map.protected.is_empty());
    let p = parse(&format!(
        "[cluster]\nover_budget = \"expose\"\nprotected = [64045, \"3000-3010\"]\n{}",
        with_share("source = \"nas\"\npath = \"/p\"\nusers = [\"alice\"]\n")
    ))
    .unwrap();
    assert_eq!(p.cluster.map.over_budget, crate::idmap::OverBudget::Expose);
    assert_eq!(p.cluster.map.protected.to_string(), "3000-3010,64045");
    assert_eq!(c.cluster.pve_root, Path::new("/etc/pve"));
    assert_eq!(
        (
            c.cluster.map.base,
            c.cluster.map.size,
            c.cluster.map.min_id,
            c.cluster.map.max_extents
        ),
        (100_000, 65_536, 1000, 340)
    );
    let SourceConfig::Ldap(ldap) = &c.sources["corp"] else {
        panic!()
    };
    assert_eq!(ldap.page_size, 500);
    assert_eq!(ldap.timeout, Duration::from_secs(10));
    assert!(!ldap.starttls);
    assert_eq!(ldap.schema, SchemaPreset::Rfc2307.schema());
    assert!(ldap.schema.members_are_names());
    let share = &c.shares["projects"];
    assert!(share.members && share.primary_gids);
    assert_eq!(share.path(), Some(Path::new("/mnt/pve/projects")));
    assert_eq!(share.containers, None);
}

#[test]
fn full_share_and_schema_overrides() {
    let text = format!(
        "[cluster]\nmin_id = 500\nbase = 200000\n{}\n[share.projects]\nsource = \"corp\"\nstorage = \"projects\"\nusers = [\"alice\", \"bob\", \"alice\"]\ngroups = [\"research\"]\nmembers = false\nprimary_gids = false\nuids = [1005, \"2000-2010\", 500]\ngids = [\"3000-3004\"]\ncontainers = [102, 101]\n",
        BASE.replace("group_base = \"ou=groups,dc=example,dc=org\"", "group_base = \"ou=groups,dc=example,dc=org\"\nschema = \"rfc2307bis\"\nmember_attr = \"uniqueMember\"\npage_size = 1000\ntimeout_secs = 3")
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.cluster.map.min_id, 500);
    let share = &c.shares["projects"];
    assert_eq!(share.storage(), Some("projects"));
    assert_eq!(share.users, ["alice", "bob"]);
    assert!(!share.members && !share.primary_gids);
    assert_eq!(share.uids.to_string(), "500,1005,2000-2010");
    assert_eq!(share.gids.to_string(), "3000-3004");
    assert_eq!(share.containers, Some(vec![101, 102]));
    let SourceConfig::Ldap(ldap) = &c.sources["corp"] else {
        panic!()
    };
    // The rfc2307bis preset, with one attribute overridden.
    assert_eq!(
        ldap.schema,
        LdapSchema {
            member_attr: "uniqueMember".into(),
            ..SchemaPreset::Rfc2307bis.schema()
        }
    );
    assert_eq!(
        ldap.schema.group_filter,
        "(&(gidNumber=*)(|(objectClass=posixGroup)(objectClass=groupOfNames)))"
    );
    assert!(!ldap.schema.members_are_names());
    assert_eq!(ldap.schema.user_name_attr, "uid");
    assert_eq!(
        (ldap.page_size, ldap.timeout),
        (1000, Duration::from_secs(3))
    );
}

#[test]
fn errors_name_file_key_and_line() {
    let share =
        |extra: &str| with_share(&format!("source = \"nas\"\npath = \"/mnt/pve/p\"\n{extra}"));
    // BASE has 11 lines (plus a leading newline), the share header is line 13.
    let table: Vec<(String, &str)> = vec![
        (
            share("uids = [1005, \"2000-2010\", \"2010-2000\"]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 28: `share.projects.uids[2]`: `2010-2000` is reversed: a range is written low-high, like `2000-2010`",
        ),
        (
            share("uids = [0]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.uids[0]`: `0` holds id 0 (root), which is never passed through",
        ),
        (
            share("gids = [\"0-2000\"]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.gids[0]`: `0-2000` holds id 0 (root), which is never passed through",
        ),
        (
            share("uids = [1005, 999]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 15: `share.projects.uids[1]`: `999` goes below `cluster.min_id` (1000): expected ids of 1000 or more",
        ),
        (
            share("uids = [-5]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.uids[0]`: `-5` is not an id: expected 0 to 4294967294",
        ),
        (
            share("uids = [4294967295]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.uids[0]`: `4294967295` is not an id: expected 0 to 4294967294",
        ),
        (
            share("uids = [\"abc\"]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.uids[0]`: `abc` is not an id: expected a number like `1005` or a range like `2000-2010`",
        ),
        (
            share("uids = [true]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 9: `share.projects.uids[0]`: invalid type: boolean `true`, expected an id like 1005 or a range string like \"2000-2010\"",
        ),
        (
            share("users = [\"alice\", 7]\n"),
            "`/etc/idfed/idfed.toml` line 16, column 19: `share.projects.users[1]`: invalid type: integer `7`, expected a string",
        ),
        (
            share("members = \"yes\"\n"),
            "`/etc/idfed/idfed.toml` line 16, column 11: `share.projects.members`: invalid type: string \"yes\", expected a boolean",
        ),
        (
            share("users = [\"a\"]\nowner = \"alice\"\n"),
            "`/etc/idfed/idfed.toml` line 17, column 1: `share.projects.owner`: unknown field `owner`, expected one of `source`, `path`, `storage`, `users`, `groups`, `members`, `primary_gids`, `uids`, `gids`, `containers`",
        ),
        (
            share("users = [\"a\"]\nstorage = \"x\"\n"),
            "`/etc/idfed/idfed.toml` line 17, column 11: `share.projects.storage`: both `path` and `storage` are given: expected one of them",
        ),
        (
            share(""),
            "`/etc/idfed/idfed.toml`: `share.projects`: the share passes nothing through: expected at least one of `users`, `groups`, `uids`, `gids`",
        ),
        (
            share("users = [\"a\"]\ncontainers = [\"101\"]\n"),
            "`/etc/idfed/idfed.toml` line 17, column 15: `share.projects.containers[0]`: invalid type: string \"101\", expected u32",
        ),
        (
            share("users = [\"a\"]\ncontainers = [101, 99]\n"),
            "`/etc/idfed/idfed.toml` line 17, column 20: `share.projects.containers[1]`: `99` is not a container id: expected 100 to 999999999",
        ),
        (
            with_share("source = \"crop\"\npath = \"/p\"\nusers = [\"a\"]\n"),
            "`/etc/idfed/idfed.toml` line 14, column 10: `share.projects.source`: unknown source `crop`: expected one of `corp`, `nas`",
        ),
        (
            with_share("path = \"/p\"\nusers = [\"a\"]\n"),
            "`/etc/idfed/idfed.toml`: `share.projects`: missing key `source`: expected the name of a `[source.NAME]`",
        ),
        (
            with_share("source = \"nas\"\npath = \"mnt/p\"\nusers = [\"a\"]\n"),
            "`/etc/idfed/idfed.toml` line 15, column 8: `share.projects.path`: `mnt/p` is not an absolute path: expected one starting with `/`",
        ),
        (
            "[cluster]\nmin_id = 0\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 10: `cluster.min_id`: `0` is not allowed: id 0 (root) is never passed through; expected 1 or more",
        ),
        (
            "[cluster]\nmax_extents = 341\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 15: `cluster.max_extents`: `341` is out of range: expected 1 to 340 (the kernel's limit)",
        ),
        (
            "[cluster]\nover_budget = \"merge\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 15: `cluster.over_budget`: `merge` is not an over-budget policy: expected `unmap` or `expose`",
        ),
        (
            "[cluster]\nprotected = [64045, \"3010-3000\"]\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 21: `cluster.protected[1]`: `3010-3000` is reversed: a range is written low-high, like `2000-2010`",
        ),
        (
            "[cluster]\npublish_max_age_secs = 0\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 24: `cluster.publish_max_age_secs`: `0` is not allowed: expected a number of seconds, larger than the interval of the `idfed apply` job",
        ),
        (
            "[cluster]\nbase = -1\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 8: `cluster.base`: invalid value: integer `-1`, expected u32",
        ),
        (
            "[clusters]\n".to_string(),
            "`/etc/idfed/idfed.toml` line 1, column 2: `clusters`: unknown field `clusters`, expected one of `cluster`, `source`, `share`",
        ),
        (
            "[source.x]\ntype = \"nis\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 8: `source.x.type`: unknown source type `nis`: expected `ldap` or `files`",
        ),
        (
            "[source.x]\npasswd = \"/p\"\n".to_string(),
            "`/etc/idfed/idfed.toml`: `source.x`: missing key `type`: expected `type = \"ldap\"` or `type = \"files\"`",
        ),
        (
            "[source.x]\ntype = \"files\"\npasswd = \"/p\"\ngroup = \"/g\"\nurl = \"ldap://x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 5, column 7: `source.x.url`: `url` is not a key of a `files` source",
        ),
        (
            "[source.x]\ntype = \"files\"\npasswd = \"/p\"\n".to_string(),
            "`/etc/idfed/idfed.toml`: `source.x`: missing key `group`: expected the path of a group file",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"http://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 3, column 7: `source.x.url`: `http://x` is not an LDAP url: expected `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldaps://x\"\nstarttls = true\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 4, column 12: `source.x.starttls`: `starttls = true` needs an `ldap://` url: `ldaps://` is TLS already",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nschema = \"openldap\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 4, column 10: `source.x.schema`: unknown schema `openldap`: expected `rfc2307`, `rfc2307bis` or `ad`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nbind_password_file = \"/s\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 4, column 22: `source.x.bind_password_file`: a password without `bind_dn`: expected `bind_dn` too (or neither, for an anonymous bind)",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nbind_password = \"hunter2\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 4, column 1: `source.x.bind_password`: unknown field `bind_password`, expected one of `type`, `url`, `starttls`, `ca_file`, `bind_dn`, `bind_password_file`, `user_base`, `group_base`, `schema`, `user_filter`, `group_filter`, `user_name_attr`, `group_name_attr`, `member_attr`, `uid_number_attr`, `gid_number_attr`, `page_size`, `timeout_secs`, `passwd`, `group`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\ngroup_filter = \"(objectClass=posixGroup\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 6, column 16: `source.x.group_filter`: `(objectClass=posixGroup` is not an LDAP filter: expected RFC 4515 syntax, such as `(&(objectClass=posixAccount)(uidNumber=*))`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\nuser_filter = \"objectClass=posixAccount)\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 6, column 15: `source.x.user_filter`: `objectClass=posixAccount)` is not an LDAP filter: expected RFC 4515 syntax, such as `(&(objectClass=posixAccount)(uidNumber=*))`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\npage_size = 0\n".to_string(),
            "`/etc/idfed/idfed.toml` line 6, column 13: `source.x.page_size`: `0` is out of range: expected 1 to 2147483647 entries per page",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\npage_size = 2147483648\n".to_string(),
            "`/etc/idfed/idfed.toml` line 6, column 13: `source.x.page_size`: `2147483648` is out of range: expected 1 to 2147483647 entries per page",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\npage_size = 3000000000\n".to_string(),
            "`/etc/idfed/idfed.toml` line 6, column 13: `source.x.page_size`: `3000000000` is out of range: expected 1 to 2147483647 entries per page",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://h:x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 3, column 7: `source.x.url`: `ldap://h:x` is not an LDAP url: `x` is not a port: expected 1 to 65535",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://h:0\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 3, column 7: `source.x.url`: `ldap://h:0` is not an LDAP url: `0` is not a port: expected 1 to 65535",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldap://[::1\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 3, column 7: `source.x.url`: `ldap://[::1` is not an LDAP url: unclosed `[` in the host: expected an IPv6 address as `[ADDRESS]`",
        ),
        (
            "[source.x]\ntype = \"ldap\"\nurl = \"ldaps:///dc=x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 3, column 7: `source.x.url`: `ldaps:///dc=x` is not an LDAP url: no host: expected `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`",
        ),
        (
            "[cluster]\npve_root = \"/../x\"\n".to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 12: `cluster.pve_root`: `/../x` goes up with `..`: expected an absolute path without `..`",
        ),
        (
            with_share("source = \"nas\"\npath = \"/mnt/pve/../../etc\"\nusers = [\"a\"]\n"),
            "`/etc/idfed/idfed.toml` line 15, column 8: `share.projects.path`: `/mnt/pve/../../etc` goes up with `..`: expected an absolute path without `..`",
        ),
        (
            "[share.p\n".to_string(),
            "`/etc/idfed/idfed.toml` line 1, column 9: invalid table header: expected `.`, `]`",
        ),
    ];
    let mismatches: Vec<String> = table
        .iter()
        .filter(|(text, want)| err(text) != *want)
        .map(|(text, want)| format!("{text}\n  want: {want}\n   got: {}", err(text)))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn boundaries_that_are_accepted() {
    let ldap = |extra: &str| {
        let text = format!(
            "[source.x]\ntype = \"ldap\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\n{extra}"
        );
        let c = parse(&text).unwrap();
        let SourceConfig::Ldap(ldap) = &c.sources["x"] else {
            panic!("not an ldap source")
        };
        (**ldap).clone()
    };
    let c = ldap("url = \"ldap://h\"\npage_size = 1\n");
    assert_eq!(c.page_size, 1);
    let c = ldap("url = \"ldap://h\"\npage_size = 2147483647\n");
    assert_eq!(c.page_size, i32::MAX);
    let c = ldap("url = \"ldaps://[::1]:65535/\"\n");
    assert_eq!(
        c.target,
        LdapTarget {
            host: "::1".into(),
            port: 65535,
            tls: true
        }
    );
    let c = ldap("url = \"ldap://h:1\"\nstarttls = true\n");
    assert_eq!((c.target.port, c.target.tls, c.starttls), (1, false, true));
    // A `..` inside a name is not a parent directory.
    let text = "[cluster]\npve_root = \"/etc/pve..old/x..\"\n";
    assert_eq!(
        parse(text).unwrap().cluster.pve_root,
        Path::new("/etc/pve..old/x..")
    );
}

#[test]
fn unknown_shares_name_the_closest_and_the_known() {
    let c = parse(&with_share(
        "source = \"nas\"\npath = \"/mnt/pve/projects\"\nusers = [\"alice\"]\n",
    ))
    .unwrap();
    assert_eq!(c.share("projects").unwrap().users, ["alice"]);
    for (name, want) in [
        (
            "projcts",
            "unknown share `projcts` in `/etc/idfed/idfed.toml` (did you mean `projects`?): expected one of `projects`",
        ),
        (
            "zzz",
            "unknown share `zzz` in `/etc/idfed/idfed.toml`: expected one of `projects`",
        ),
    ] {
        assert_eq!(c.share(name).unwrap_err().to_string(), want, "{name}");
    }
    let none = parse(BASE).unwrap();
    assert_eq!(
        none.share("projects").unwrap_err().to_string(),
        "unknown share `projects` in `/etc/idfed/idfed.toml` (the configuration defines no share)"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = Config::load(Path::new("/nonexistent/idfed.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        "configuration file `/nonexistent/idfed.toml` not found: name an existing file with `-c PATH` or `IDFED_CONFIG`, or drop both to read the cluster's `/etc/pve/idfed/idfed.toml`"
    );
}

#[test]
fn locate_reads_the_clusters_file_first_then_the_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cluster = dir.path().join("etc/pve/idfed/idfed.toml");
    let node = dir.path().join("etc/idfed/idfed.toml");
    // Neither: an error naming both, the cluster's first.
    let err = locate(None, &root).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no configuration: neither `{}` (the cluster's, read first) nor `{}` (this node's) \
             exists: create the first (an example is `/usr/share/doc/idfed/examples/idfed.toml`; \
             in the source tree `config/idfed.example.toml`) or name another with `-c PATH` or \
             `IDFED_CONFIG`",
            cluster.display(),
            node.display()
        )
    );
    // Only the node's.
    std::fs::create_dir_all(node.parent().unwrap()).unwrap();
    std::fs::write(&node, "").unwrap();
    assert_eq!(locate(None, &root).unwrap(), node);
    // Both: the cluster's wins.
    std::fs::create_dir_all(cluster.parent().unwrap()).unwrap();
    std::fs::write(&cluster, "").unwrap();
    assert_eq!(locate(None, &root).unwrap(), cluster);
    // A dangling symlink is there: reported by the load, not skipped for the node's file.
    std::fs::remove_file(&cluster).unwrap();
    std::os::unix::fs::symlink("/nonexistent/idfed.toml", &cluster).unwrap();
    assert_eq!(locate(None, &root).unwrap(), cluster);
    assert!(matches!(
        load_from(None, &root),
        Err(ConfigError::NotFound { path }) if path == cluster
    ));
    // -c / IDFED_CONFIG: as written, whatever exists.
    assert_eq!(
        locate(Some(Path::new("x.toml")), &root).unwrap(),
        Path::new("x.toml")
    );
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/idfed.example.toml");
    let c = Config::load(&path).unwrap();
    assert!(!c.shares.is_empty());
    assert!(
        c.sources
            .values()
            .any(|s| matches!(s, SourceConfig::Ldap(_)))
    );
    assert!(
        c.sources
            .values()
            .any(|s| matches!(s, SourceConfig::Files(_)))
    );
}

#[test]
fn schema_presets() {
    let bis = SchemaPreset::Rfc2307bis.schema();
    assert_eq!(bis.member_attr, "member");
    assert!(!bis.members_are_names());
    let ad = SchemaPreset::Ad.schema();
    assert_eq!(
        (
            ad.user_name_attr.as_str(),
            ad.group_name_attr.as_str(),
            ad.member_attr.as_str()
        ),
        ("sAMAccountName", "sAMAccountName", "member")
    );
    assert_eq!(ad.user_filter, "(&(objectClass=user)(uidNumber=*))");
    let text = "[source.x]\ntype = \"ldap\"\nurl = \"ldap://x\"\nuser_base = \"dc=x\"\ngroup_base = \"dc=x\"\nschema = \"ad\"\ngroup_filter = \"(cn=nas-*)\"\n";
    let c = parse(text).unwrap();
    let SourceConfig::Ldap(ldap) = &c.sources["x"] else {
        panic!()
    };
    assert_eq!(
        ldap.schema,
        LdapSchema {
            group_filter: "(cn=nas-*)".into(),
            ..SchemaPreset::Ad.schema()
        }
    );
    assert_eq!(ldap.schema.group_filter, "(cn=nas-*)");
    assert_eq!(
        ldap.schema.user_filter,
        "(&(objectClass=user)(uidNumber=*))"
    );
    assert_eq!(ldap.schema.user_name_attr, "sAMAccountName");
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(text in "(\\[(cluster|source\\.x|share\\.p)\\]\n|(type|url|users|groups|uids|gids|path|storage|source|min_id|base|size|passwd|group|starttls|page_size|user_base|group_base|containers|[a-z_]{1,8}) = (\"[a-z0-9/:=,-]{0,12}\"|-?[0-9]{1,11}|true|\\[[0-9\", -]{0,20}\\])\n){0,12}") {
        let _ = parse(&text);
    }
}

#[test]
fn own_files_resolve_against_the_config_directory() {
    let text = "[source.nas]\ntype = \"files\"\npasswd = \"nas/passwd\"\ngroup = \"/srv/group\"\n\
                [source.corp]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
                user_base = \"ou=people\"\ngroup_base = \"ou=groups\"\nca_file = \"ca.pem\"\n";
    let c = Config::parse(text, Path::new("/srv/cfg/idfed.toml")).unwrap();
    let SourceConfig::Files(files) = &c.sources["nas"] else {
        panic!("not a files source")
    };
    assert_eq!(files.passwd, Path::new("/srv/cfg/nas/passwd"));
    assert_eq!(
        files.group,
        Path::new("/srv/group"),
        "absolute paths are taken as written"
    );
    let SourceConfig::Ldap(ldap) = &c.sources["corp"] else {
        panic!("not an ldap source")
    };
    assert_eq!(ldap.ca_file.as_deref(), Some(Path::new("/srv/cfg/ca.pem")));
}
