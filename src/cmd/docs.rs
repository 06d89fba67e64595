//! `idfed completions SHELL` and `idfed man`: shell completions and man pages rendered from the
//! clap definitions in `cli`, so they can never drift from the real command line. The Debian
//! package ships their output (see `deploy/build-deb.sh`).
//!
//! Besides `cli`, this is the one module that touches clap: it renders the definitions, it does not
//! parse anything.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

use super::Outcome;

/// What `idfed.1` says below the one-line description clap has.
const MAN_DESCRIPTION: &str = r#".PP
Every node runs \fBidfed apply\fR (the \fBidfed\-sync.timer\fR, every 15 minutes) from the same
configuration, \fI/etc/pve/idfed/idfed.toml\fR, replicated by pmxcfs (see \fBidfed.toml\fR(5)).
Each run resolves every share's owners in its source, computes the \fBlxc.idmap\fR of every
unprivileged container that uses a share, and on its own node: adds the subid lines the maps
need to \fI/etc/subuid\fR and \fI/etc/subgid\fR, publishes what it covers, then rewrites the maps
of the containers it holds once every node the container may run on covers the new map. Only
the \fBlxc.idmap\fR lines idfed manages change; passthroughs written by hand are kept.
.PP
\fBidfed plan\fR shows what a run would change, \fBidfed report\fR who can act as whom in
which container, \fBidfed check\fR whether every map and every node's subid files follow the
kernel's rules. Each command has its page, \fBidfed\-COMMAND\fR(1); every key of the
configuration is in \fBidfed.toml\fR(5).
"#;

/// Sections the generated `idfed.1` lacks: exit codes, files, environment.
const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
success; for \fBplan \-\-detailed\-exitcode\fR: nothing to change
.TP
\fB1\fR
an error: bad input, an unreachable source, a refused change
.TP
\fB2\fR
not in the desired or healthy state: \fBplan \-\-detailed\-exitcode\fR with changes pending,
\fBcheck\fR with problems
.SH FILES
Host paths are read and written under \fB\-\-root\fR; \fIPVE\fR is the configuration's
\fBpve_root\fR, \fI/etc/pve\fR by default.
.TP
\fI/etc/pve/idfed/idfed.toml\fR
the configuration, one for the cluster; read first (\fB\-c\fR and \fBIDFED_CONFIG\fR name another)
.TP
\fI/etc/idfed/idfed.toml\fR
this node's own configuration, read only when the cluster's does not exist
.TP
\fI/etc/pve/priv/idfed/\fR
secrets such as an LDAP bind password file: replicated, readable by root alone
.TP
\fIPVE/nodes/NODE/lxc/VMID.conf\fR
container configurations; only their \fBlxc.idmap\fR lines are edited, under PVE's lock
\fI/run/lock/lxc/pve\-config\-VMID.lock\fR
.TP
\fI/etc/subuid\fR, \fI/etc/subgid\fR
subordinate ids: idfed adds the lines the maps need, under shadow's locks
(\fI/etc/.pwd.lock\fR, then \fI/etc/subuid.lock\fR and \fI/etc/subgid.lock\fR, as \fBuseradd\fR
takes them); \fBapply \-\-prune\fR
removes lines idfed added that no map needs any more; other lines are never touched. A line newuidmap reads as no entry (CRLF, NIS, a number not read whole) is a
\fBcheck\fR problem, \fBsubid\-malformed\fR
.TP
\fI/run/lock/idfed.lock\fR
the node lock (an \fBflock\fR, the file is never written): one \fBapply\fR at a time on a node;
another waits up to \fBapply \-\-wait\fR seconds, then exits 1 naming the holder's PID
.TP
\fIPVE/idfed/managed/VMID.json\fR
the passthroughs idfed put into a container, written by the node holding it; trusted only while
the container's map still passes them all through (a re-created VMID inherits nothing); a record
of a container that exists on no node is removed by any node's \fBapply\fR
.TP
\fIPVE/idfed/nodes/NODE.json\fR
the subid coverage each node published at its last run, with the time of that run
.TP
\fIPVE/idfed/baseline.json\fR
each share's last good owners (count, uids, gids), cluster-wide, for the outage guard: a share
that shrank markedly is held at them until \fBapply \-\-allow\-shrink\fR \fISHARE\fR on any node
.TP
\fI/var/lib/idfed/subids.json\fR
the subid lines idfed added on this node (what \fB\-\-prune\fR may remove)
.TP
\fI/var/lib/idfed/backup/TIME/\fR
the previous content of every file a run rewrote, under its path
.TP
\fI/var/lib/idfed/cache/SOURCE.json\fR
the last good answer of each source (mode 0600), kept after every successful pull by \fBplan\fR,
\fBemit\fR, \fBcheck\fR and \fBreport\fR (not \fBapply\fR: it writes only what it applies); when the source cannot be read,
\fBcheck\fR and \fBreport\fR answer from it and say how old it is, \fBplan\fR and \fBapply\fR
never act on it
.SH ENVIRONMENT
.TP
\fBIDFED_CONFIG\fR
the configuration file, as \fB\-c\fR
.TP
\fBIDFED_LDAP_PASSWORD\fR
the LDAP bind password, for a source without \fBbind_password_file\fR
.SH "SEE ALSO"
\fBidfed.toml\fR(5), \fBidfed\-map\fR(1), \fBidfed\-resolve\fR(1), \fBidfed\-plan\fR(1),
\fBidfed\-emit\fR(1), \fBidfed\-apply\fR(1), \fBidfed\-report\fR(1), \fBidfed\-check\fR(1),
\fBidfed\-scan\fR(1), \fBsubuid\fR(5), \fBlxc.container.conf\fR(5), \fBpct\fR(1)
"#;

/// Text for roff: escapes, and `code` in bold.
fn roff(text: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for c in text.chars() {
        match c {
            '`' => {
                out.push_str(if bold { "\\fR" } else { "\\fB" });
                bold = !bold;
            }
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '"' => out.push_str("\\(dq"),
            _ => out.push(c),
        }
    }
    if bold {
        out.push_str("\\fR");
    }
    // A line starting with `.` or `'` would be a request.
    out.split('\n')
        .map(|line| {
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of `idfed.toml.5`: every key of [`config::keys::KEYS`], the schema presets from
/// [`config::SchemaPreset`], so the page says what the code does.
pub(crate) fn config_page() -> String {
    use crate::config::SchemaPreset;
    use crate::config::keys::{Absent, KEYS, Table};

    let mut out = format!(
        ".TH idfed.toml 5 \"\" \"idfed {}\"\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        r#".SH NAME
idfed.toml \- idfed's configuration
.SH SYNOPSIS
\fI/etc/pve/idfed/idfed.toml\fR (the cluster's), else \fI/etc/idfed/idfed.toml\fR (this node's)
.SH DESCRIPTION
One file for the whole cluster: \fI/etc/pve/idfed/idfed.toml\fR, which pmxcfs replicates, so
every node plans from the same configuration. When it does not exist, \fBidfed\fR reads
\fI/etc/idfed/idfed.toml\fR; \fB\-c PATH\fR or \fBIDFED_CONFIG\fR name another file. Both default
paths are host paths, read under \fB\-\-root\fR.
.PP
The file is TOML: a \fB[cluster]\fR table, a \fB[source.NAME]\fR table for each source of users
and groups, a \fB[share.NAME]\fR table for each share. An unknown key is an error; every error
names the file, the key's path (\fBshare.projects.users[1]\fR) and its line and column.
.PP
Paths of idfed's own files (\fBpasswd\fR, \fBgroup\fR, \fBca_file\fR, \fBbind_password_file\fR)
are taken as written when absolute, else relative to the configuration file's directory; they
are not under \fB\-\-root\fR. \fBpve_root\fR and a share's \fBpath\fR are absolute host paths.
.PP
Secrets: keep an LDAP bind password in a file under \fI/etc/pve/priv/idfed/\fR (replicated to
every node, readable by root alone) and name it with \fBbind_password_file\fR, or give it in
\fBIDFED_LDAP_PASSWORD\fR. The password itself never goes into this file.
"#,
    );
    let sections = [
        (
            Table::Cluster,
            "[cluster]",
            "Cluster-wide parameters; the table may be left out.",
        ),
        (
            Table::Source,
            "[source.NAME]",
            "A source of users and groups, named by its key.",
        ),
        (Table::Ldap, "type = \"ldap\"", "An LDAP directory."),
        (
            Table::Files,
            "type = \"files\"",
            "A passwd and a group file (the NAS's own, or getent output).",
        ),
        (
            Table::Share,
            "[share.NAME]",
            "A share: an export mounted at the same path on every node, and who owns its files.",
        ),
    ];
    for (table, title, intro) in sections {
        out.push_str(&format!(".SH \"{}\"\n{}\n", roff(title), roff(intro)));
        for key in KEYS.iter().filter(|k| k.table == table) {
            let absent = match key.absent {
                Absent::Required => "Required.".to_string(),
                Absent::Optional => String::new(),
                Absent::Value(v) => format!("Default: `{v}`."),
                Absent::Preset => "Default: the `schema` preset's.".to_string(),
            };
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR = \\fI{}\\fR\n{}",
                roff(key.name),
                roff(key.value),
                roff(key.text)
            ));
            if !absent.is_empty() {
                out.push(' ');
                out.push_str(&roff(&absent));
            }
            out.push('\n');
        }
    }
    // The fixed bounds are `source::ldap`'s `Limits::default()`; its tests hold this text to it.
    out.push_str(
        r#".SH "LDAP BOUNDS"
An LDAP pull reads only what it can bound: a broken or hostile server ends the run with an error
(exit 1, nothing written). Besides \fBtimeout_secs\fR (connecting, the bind, and each whole search
with all its pages), fixed bounds which no real directory meets: 32 MiB per message,
48 MiB per page, at most 1,000 more pages than distinct entries, and a paging cookie never repeated. Buffers grow
as bytes arrive, never by what a length header announces. A search that ends in anything but
success (a referral, a size or time limit, partial results) is an error naming the result code,
never "no entries".
"#,
    );
    out.push_str(".SH \"SCHEMA PRESETS\"\nWhat each \\fBschema\\fR gives the keys it presets:\n");
    for (name, preset) in [
        ("rfc2307", SchemaPreset::Rfc2307),
        ("rfc2307bis", SchemaPreset::Rfc2307bis),
        ("ad", SchemaPreset::Ad),
    ] {
        let s = preset.schema();
        out.push_str(&format!(".TP\n\\fB{name}\\fR\n"));
        let values = [
            ("user_filter", &s.user_filter),
            ("group_filter", &s.group_filter),
            ("user_name_attr", &s.user_name_attr),
            ("group_name_attr", &s.group_name_attr),
            ("member_attr", &s.member_attr),
            ("uid_number_attr", &s.uid_number_attr),
            ("gid_number_attr", &s.gid_number_attr),
        ];
        let lines: Vec<String> = values
            .iter()
            .map(|(k, v)| roff(&format!("`{k}` = {v}")))
            .collect();
        out.push_str(&lines.join("\n.br\n"));
        out.push('\n');
    }
    out.push_str(
        r#".SH EXAMPLE
A commented file showing every key: \fI/usr/share/doc/idfed/examples/idfed.toml\fR
(\fIconfig/idfed.example.toml\fR in the source tree).
.PP
.nf
[source.corp]
type = "ldap"
url = "ldaps://ldap.example.org"
bind_dn = "cn=idfed,ou=services,dc=example,dc=org"
bind_password_file = "/etc/pve/priv/idfed/corp.pw"
user_base = "ou=people,dc=example,dc=org"
group_base = "ou=groups,dc=example,dc=org"

[share.projects]
source = "corp"
path = "/mnt/pve/projects"
groups = ["research"]
.fi
.SH "SEE ALSO"
\fBidfed\fR(1), \fBidfed\-plan\fR(1), \fBidfed\-apply\fR(1), \fBsubuid\fR(5)
"#,
    );
    out
}

/// What completions are written from: the definitions without the hidden commands, which
/// clap_complete would offer like any other.
fn completion_command() -> clap::Command {
    let full = Cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("idfed")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .args(full.get_arguments().cloned())
        .subcommands(visible)
}

/// Runs `idfed completions SHELL`: the script on stdout.
///
/// # Errors
/// Only when stdout cannot be written (a closed pipe is not an error).
pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = completion_command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "idfed", &mut out);
    let script = super::complete::dynamic(args.shell, &String::from_utf8_lossy(&out));
    super::print_stdout(&script)?;
    Ok(Outcome::Ok)
}

/// A command's page as clap_mangen renders it, with three changes: `description` (roff) added
/// to DESCRIPTION; the command's after-help (its examples) as an EXAMPLES section that keeps
/// lines as they are (clap_mangen would fill them into one paragraph); `extra` (roff) at the end.
fn page(cmd: clap::Command, description: &str, extra: &str) -> std::io::Result<Vec<u8>> {
    let after = cmd.get_after_help().map(ToString::to_string);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.after_help(None::<&str>)).render(&mut out)?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if !description.is_empty() {
        // DESCRIPTION is followed by OPTIONS: every command has options (--help at least).
        let at = text.find("\n.SH OPTIONS").map_or(text.len(), |i| i + 1);
        text.insert_str(at, description);
    }
    if let Some(after) = after {
        text.push_str(".SH EXAMPLES\n");
        for (i, block) in after.trim().split("\n\n").enumerate() {
            let block = ["Examples:\n", "Example:\n"]
                .iter()
                .find_map(|p| block.strip_prefix(p))
                .unwrap_or(block);
            if i == 0 {
                text.push_str(".nf\n");
                for line in block.lines() {
                    text.push_str(&roff(line.trim_start()));
                    text.push('\n');
                }
                text.push_str(".fi\n");
            } else {
                text.push_str(".PP\n");
                text.push_str(&roff(block));
                text.push('\n');
            }
        }
    }
    text.push_str(extra);
    Ok(text.into_bytes())
}

/// The definitions pages are rendered from: built, without clap's `help` command (no page).
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The text of `idfed.1`.
///
/// # Errors
/// Only a write error of the renderer, which writes into memory.
pub(crate) fn main_page() -> std::io::Result<Vec<u8>> {
    page(command(), MAN_DESCRIPTION, MAN_EXTRA)
}

/// Writes `idfed.1`, `idfed.toml.5` and an `idfed-COMMAND.1` for every visible command into
/// `dir`.
fn write_pages(dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut pages = vec![
        ("idfed.1".to_string(), main_page()?),
        ("idfed.toml.5".to_string(), config_page().into_bytes()),
    ];
    for sub in command().get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = clap_mangen::Man::new(sub.clone()).get_filename();
        let see_also = ".SH \"SEE ALSO\"\n\\fBidfed\\fR(1), \\fBidfed.toml\\fR(5)\n";
        pages.push((name, page(sub.clone(), "", see_also)?));
    }
    let mut written = Vec::new();
    for (name, text) in pages {
        let path = dir.join(&name);
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

/// Runs `idfed man`: `idfed.1` on stdout, or every page into `--out DIR` (each named on stderr
/// unless `-q`).
///
/// # Errors
/// When a page cannot be written.
pub(crate) fn man(globals: &super::Globals, args: &ManArgs) -> anyhow::Result<Outcome> {
    match &args.out {
        None => super::print_stdout(&String::from_utf8_lossy(&main_page()?))?,
        Some(dir) => {
            for name in write_pages(dir)? {
                if !globals.quiet {
                    eprintln!("idfed: wrote `{}`", dir.join(name).display());
                }
            }
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::{Absent, KEYS};

    #[test]
    fn the_config_page_gives_every_key_with_its_default() {
        let page = config_page();
        for key in KEYS {
            let entry = format!(
                ".TP\n\\fB{}\\fR = \\fI{}\\fR\n",
                roff(key.name),
                roff(key.value)
            );
            let at = page
                .find(&entry)
                .unwrap_or_else(|| panic!("no entry for `{}`", key.name));
            let body = page[at + entry.len()..].lines().next().unwrap();
            let absent = match key.absent {
                Absent::Required => "Required.".to_string(),
                Absent::Optional => String::new(),
                Absent::Value(v) => roff(&format!("Default: `{v}`.")),
                Absent::Preset => roff("Default: the `schema` preset's."),
            };
            assert!(body.ends_with(&absent), "`{}`: {body}", key.name);
        }
    }

    #[test]
    fn roff_escapes_requests_dashes_and_code() {
        assert_eq!(roff("a-b `c` \"d\""), "a\\-b \\fBc\\fR \\(dqd\\(dq");
        assert_eq!(roff(".x\n'y\nz.\\"), "\\&.x\n\\&'y\nz.\\e");
        assert_eq!(roff("`open"), "\\fBopen\\fR");
    }
}
