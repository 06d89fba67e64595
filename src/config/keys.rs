//! Every key of `idfed.toml`: its table, its default and what it means. The one description the
//! man page `idfed.toml(5)` is rendered from (`cmd::docs`); the tests below hold it against the
//! TOML model (`raw.rs`: every key it accepts is here and every key here is accepted), against
//! the defaults the checks apply (each documented default, written out, loads the same
//! configuration as leaving it out), and against `config/idfed.example.toml` (which shows every
//! key).

/// The table a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// `[cluster]`.
    Cluster,
    /// `[source.NAME]`, any type.
    Source,
    /// `[source.NAME]` with `type = "ldap"`.
    Ldap,
    /// `[source.NAME]` with `type = "files"`.
    Files,
    /// `[share.NAME]`.
    Share,
}

/// What leaving a key out means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Absent {
    /// An error: the key must be given.
    Required,
    /// Allowed; what that means is said in the key's text.
    Optional,
    /// The same as this TOML value.
    Value(&'static str),
    /// The value of the source's `schema` preset.
    Preset,
}

/// One key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    pub(crate) table: Table,
    pub(crate) name: &'static str,
    /// The value's type, as the man page states it: `INTEGER`, `"STRING"`, `BOOLEAN`...
    pub(crate) value: &'static str,
    pub(crate) absent: Absent,
    /// What it means, one or more plain sentences (rendered as they are; `code` in backticks).
    pub(crate) text: &'static str,
}

const fn key(
    table: Table,
    name: &'static str,
    value: &'static str,
    absent: Absent,
    text: &'static str,
) -> Key {
    Key {
        table,
        name,
        value,
        absent,
        text,
    }
}

use Absent::{Optional, Preset, Required, Value};
use Table::{Cluster, Files, Ldap, Share, Source};

/// Every key, in the order the man page gives them.
pub(crate) const KEYS: &[Key] = &[
    key(
        Cluster,
        "pve_root",
        "\"PATH\"",
        Value("\"/etc/pve\""),
        "Where the Proxmox cluster filesystem is: the nodes, their containers' configurations and \
         `storage.cfg`, and idfed's own records under `idfed/`. An absolute host path with no `..` \
         in it (read under `--root`).",
    ),
    key(
        Cluster,
        "base",
        "INTEGER",
        Value("100000"),
        "Host id of an unprivileged container's uid and gid 0 (Proxmox's default).",
    ),
    key(
        Cluster,
        "size",
        "INTEGER",
        Value("65536"),
        "Ids in that base range: container ids 0 to size-1 map to base and on. The range must end \
         below 4294967295.",
    ),
    key(
        Cluster,
        "min_id",
        "INTEGER",
        Value("1000"),
        "Lowest id a share may pass through; 0 (root) is never allowed. A passthrough below it \
         written by hand (foreign) is kept as it stands, never widened.",
    ),
    key(
        Cluster,
        "max_extents",
        "INTEGER",
        Value("340"),
        "Most lxc.idmap lines per map and kind, 1 to 340 (the kernel's limit).",
    ),
    key(
        Cluster,
        "subid_owner",
        "\"NAME\"",
        Value("\"root\""),
        "Whose /etc/subuid and /etc/subgid lines idfed manages (the user LXC maps containers \
         for).",
    ),
    key(
        Cluster,
        "publish_max_age_secs",
        "INTEGER",
        Value("3600"),
        "A node's published subid coverage (`<pve_root>/idfed/nodes/<node>.json`, written by \
         every `idfed apply`) older than this many seconds no longer counts, and `idfed check` \
         warns about the node. Keep it a few times the interval of the apply job (the shipped \
         timer runs every 15 minutes). Not 0.",
    ),
    key(
        Cluster,
        "over_budget",
        "\"unmap\" | \"expose\"",
        Value("\"unmap\""),
        "What to do with a map over the kernel's budget (340 lines, under 4079 bytes): `unmap` \
         leaves the fewest container ids between passthroughs unmapped and grants nothing (a \
         container that cannot fit even so is not switched; plan and check name it); `expose` \
         merges passthroughs across the gaps that expose the fewest ids (an exact minimum, \
         reported by plan and apply). No merge ever crosses an id below min_id, a protected id \
         or a host id of the base range.",
    ),
    key(
        Cluster,
        "protected",
        "[ID | \"FIRST-LAST\", ...]",
        Optional,
        "Ids never passed through nor merged across, whatever a share or a merge says (ceph's \
         64045, say).",
    ),
    key(
        Source,
        "type",
        "\"ldap\" | \"files\"",
        Required,
        "What the source is: an LDAP directory or a passwd and a group file. The keys each type \
         takes follow; a key of the other type is an error.",
    ),
    key(
        Ldap,
        "url",
        "\"URL\"",
        Required,
        "`ldap://HOST[:PORT]` (plain, or STARTTLS with `starttls = true`) or \
         `ldaps://HOST[:PORT]`.",
    ),
    key(
        Ldap,
        "starttls",
        "BOOLEAN",
        Value("false"),
        "Upgrade an `ldap://` connection with STARTTLS before binding.",
    ),
    key(
        Ldap,
        "ca_file",
        "\"PATH\"",
        Optional,
        "CA certificates (PEM) to verify the server with; the system's roots when absent. \
         Relative to the configuration file's directory.",
    ),
    key(
        Ldap,
        "bind_dn",
        "\"DN\"",
        Optional,
        "The DN to bind as; an anonymous bind when absent.",
    ),
    key(
        Ldap,
        "bind_password_file",
        "\"PATH\"",
        Optional,
        "The file holding the bind password (first line), readable by its owner alone (mode 0600 \
         or 0400, else refused): keep it in /etc/pve/priv/idfed/, which pmxcfs replicates to \
         every node and lets only root read. Without it the password comes from \
         IDFED_LDAP_PASSWORD. Needs `bind_dn`. Relative to the configuration file's directory. \
         Never the password itself.",
    ),
    key(
        Ldap,
        "user_base",
        "\"DN\"",
        Required,
        "Where users are searched (the whole subtree).",
    ),
    key(
        Ldap,
        "group_base",
        "\"DN\"",
        Required,
        "Where groups are searched (the whole subtree).",
    ),
    key(
        Ldap,
        "schema",
        "\"rfc2307\" | \"rfc2307bis\" | \"ad\"",
        Value("\"rfc2307\""),
        "The preset the next seven keys default to (see SCHEMA PRESETS): `rfc2307` (posixGroup, \
         members as memberUid names), `rfc2307bis` (members as member DNs), `ad` (Active \
         Directory: sAMAccountName, member DNs).",
    ),
    key(
        Ldap,
        "user_filter",
        "\"FILTER\"",
        Preset,
        "The filter users are searched with (RFC 4515).",
    ),
    key(
        Ldap,
        "group_filter",
        "\"FILTER\"",
        Preset,
        "The filter groups are searched with (RFC 4515).",
    ),
    key(
        Ldap,
        "user_name_attr",
        "\"ATTRIBUTE\"",
        Preset,
        "The attribute holding a user's name, as `users` names them.",
    ),
    key(
        Ldap,
        "group_name_attr",
        "\"ATTRIBUTE\"",
        Preset,
        "The attribute holding a group's name, as `groups` names them.",
    ),
    key(
        Ldap,
        "member_attr",
        "\"ATTRIBUTE\"",
        Preset,
        "The attribute holding a group's members: `memberUid` holds user names, any other \
         (`member`, `uniqueMember`) holds DNs, and member groups count with their users, at any \
         depth. Active Directory's ranged values are read range by range.",
    ),
    key(
        Ldap,
        "uid_number_attr",
        "\"ATTRIBUTE\"",
        Preset,
        "The attribute holding a user's uid.",
    ),
    key(
        Ldap,
        "gid_number_attr",
        "\"ATTRIBUTE\"",
        Preset,
        "The attribute holding a group's gid, and a user's primary gid.",
    ),
    key(
        Ldap,
        "page_size",
        "INTEGER",
        Value("500"),
        "Entries per page of a paged search (RFC 2696): servers cap unpaged searches (OpenLDAP \
         at 500). 1 to 2147483647; the server's own per-page limit still applies.",
    ),
    key(
        Ldap,
        "timeout_secs",
        "INTEGER",
        Value("10"),
        "Seconds allowed for connecting and for each whole operation (bind, each search), 1 to \
         3600.",
    ),
    key(
        Files,
        "passwd",
        "\"PATH\"",
        Required,
        "A passwd(5) file: the users, their uids and primary gids (the NAS's own, or `getent \
         passwd` output). Relative to the configuration file's directory.",
    ),
    key(
        Files,
        "group",
        "\"PATH\"",
        Required,
        "A group(5) file: the groups, their gids and members. Relative to the configuration \
         file's directory.",
    ),
    key(
        Share,
        "source",
        "\"NAME\"",
        Required,
        "The `[source.NAME]` the share's owners are looked up in.",
    ),
    key(
        Share,
        "path",
        "\"PATH\"",
        Optional,
        "Where the export is mounted on every node, an absolute path without `..`; the \
         containers with a bind mount at or below it use the share. Exactly one of `path` and \
         `storage` is given.",
    ),
    key(
        Share,
        "storage",
        "\"NAME\"",
        Optional,
        "Instead of `path`: a storage of storage.cfg with a path (nfs, cifs, cephfs, dir...), \
         whose path is used.",
    ),
    key(
        Share,
        "users",
        "[\"NAME\", ...]",
        Value("[]"),
        "Users by name: their uids pass through.",
    ),
    key(
        Share,
        "groups",
        "[\"NAME\", ...]",
        Value("[]"),
        "Groups by name: their gids pass through, and their members' uids unless `members = \
         false`. The nested groups' own gids do not.",
    ),
    key(
        Share,
        "members",
        "BOOLEAN",
        Value("true"),
        "Pass the members of `groups` through too.",
    ),
    key(
        Share,
        "primary_gids",
        "BOOLEAN",
        Value("true"),
        "Pass every passed-through user's primary gid through too.",
    ),
    key(
        Share,
        "uids",
        "[ID | \"FIRST-LAST\", ...]",
        Value("[]"),
        "Raw uids and inclusive ranges, each at least `min_id`. A share names at least one of \
         `users`, `groups`, `uids`, `gids`.",
    ),
    key(
        Share,
        "gids",
        "[ID | \"FIRST-LAST\", ...]",
        Value("[]"),
        "Raw gids and inclusive ranges, each at least `min_id`.",
    ),
    key(
        Share,
        "containers",
        "[VMID, ...]",
        Optional,
        "Only these containers; when absent, every unprivileged container with a bind mount at \
         or below the share's path.",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::config::raw::RawConfig;

    fn names(tables: &[Table]) -> BTreeSet<&'static str> {
        KEYS.iter()
            .filter(|k| tables.contains(&k.table))
            .map(|k| k.name)
            .collect()
    }

    /// The keys serde accepts in a table of the model: its error for an unknown key lists them
    /// all ("unknown field `x`, expected one of `a`, `b`").
    fn accepted(doc: &str) -> BTreeSet<String> {
        let err = toml::from_str::<RawConfig>(doc).unwrap_err().to_string();
        let list = err
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("no field list in: {err}"));
        let list = list.lines().next().unwrap();
        list.split(", ")
            .map(|s| s.trim().trim_matches('`').to_string())
            .collect()
    }

    fn owned(set: BTreeSet<&str>) -> BTreeSet<String> {
        set.into_iter().map(String::from).collect()
    }

    #[test]
    fn every_key_the_model_accepts_is_documented_and_no_other() {
        assert_eq!(
            accepted("[cluster]\nzz_unknown = 1\n"),
            owned(names(&[Cluster]))
        );
        assert_eq!(
            accepted("[source.s]\nzz_unknown = 1\n"),
            owned(names(&[Source, Ldap, Files]))
        );
        assert_eq!(
            accepted("[share.s]\nzz_unknown = 1\n"),
            owned(names(&[Share]))
        );
        // The tables themselves.
        assert_eq!(
            accepted("zz_unknown = 1\n"),
            owned(["cluster", "source", "share"].into())
        );
    }

    #[test]
    fn no_key_is_documented_twice() {
        let mut seen = BTreeSet::new();
        for k in KEYS {
            let table = match k.table {
                Source | Ldap | Files => Source,
                t => t,
            };
            assert!(seen.insert((format!("{table:?}"), k.name)), "{}", k.name);
        }
    }

    /// A valid configuration with every required key, each table once.
    const MINIMAL: &str = "[cluster]\n\
        [source.corp]\ntype = \"ldap\"\nurl = \"ldap://ldap.example.org\"\n\
        user_base = \"ou=people\"\ngroup_base = \"ou=groups\"\n\
        [source.nas]\ntype = \"files\"\npasswd = \"/p\"\ngroup = \"/g\"\n\
        [share.projects]\nsource = \"corp\"\npath = \"/mnt/pve/projects\"\n\
        users = [\"alice\"]\nuids = [1005]\n";

    fn is_header_of(line: &str, table: Table) -> bool {
        match table {
            Cluster => line == "[cluster]",
            Source | Ldap => line == "[source.corp]",
            Files => line == "[source.nas]",
            Share => line == "[share.projects]",
        }
    }

    /// `text` without the line setting `key` in its table, and with `add` (if any) at the end
    /// of that table instead.
    fn edit(text: &str, key: &Key, add: Option<&str>) -> (String, bool) {
        let mut out = String::new();
        let mut dropped = false;
        let mut in_table = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_table = is_header_of(line, key.table);
            }
            if in_table && line.starts_with(&format!("{} = ", key.name)) {
                dropped = true;
                continue;
            }
            out.push_str(line);
            out.push('\n');
            if in_table
                && line.starts_with('[')
                && let Some(add) = add
            {
                out.push_str(add);
                out.push('\n');
            }
        }
        (out, dropped)
    }

    /// The configuration `text` means: its digest (of the bytes, which differ) left out.
    fn load(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/pve/idfed/idfed.toml"))
            .map(|c| Config {
                sha256: String::new(),
                ..c
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_documented_default_is_the_default() {
        for k in KEYS {
            let Value(value) = k.absent else { continue };
            let (without, _) = edit(MINIMAL, k, None);
            let (with, _) = edit(MINIMAL, k, Some(&format!("{} = {value}", k.name)));
            let without = load(&without).unwrap_or_else(|e| panic!("{}: {e}", k.name));
            let with = load(&with).unwrap_or_else(|e| panic!("{}: {e}", k.name));
            assert_eq!(
                with, without,
                "`{}` written as its default `{value}`",
                k.name
            );
        }
    }

    #[test]
    fn each_required_key_is_required() {
        load(MINIMAL).unwrap();
        for k in KEYS.iter().filter(|k| k.absent == Required) {
            let (text, dropped) = edit(MINIMAL, k, None);
            assert!(dropped, "`{}` is not in the minimal configuration", k.name);
            let err = load(&text).unwrap_err();
            assert!(
                err.contains(&format!("missing key `{}`", k.name)),
                "{}: {err}",
                k.name
            );
        }
    }

    #[test]
    fn the_example_shows_every_key_in_its_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/idfed.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        // (table, key) of every `key = ` line, commented out (`# key = `) or not.
        let mut shown = BTreeSet::new();
        let mut table = "";
        for line in text.lines() {
            let line = line.trim_start_matches("# ").trim();
            if let Some(header) = line.strip_prefix('[') {
                table = header.split(['.', ']']).next().unwrap();
            } else if let Some((key, _)) = line.split_once(" = ")
                && !key.contains(' ')
            {
                shown.insert((table.to_string(), key.to_string()));
            }
        }
        let documented: BTreeSet<_> = KEYS
            .iter()
            .map(|k| {
                let table = match k.table {
                    Cluster => "cluster",
                    Source | Ldap | Files => "source",
                    Share => "share",
                };
                (table.to_string(), k.name.to_string())
            })
            .collect();
        assert_eq!(shown, documented);
    }
}
