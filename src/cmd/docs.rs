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
.TP
\fI/etc/idfed/idfed.toml\fR
the configuration (\fB\-c\fR, \fBIDFED_CONFIG\fR)
.TP
\fI/etc/pve/nodes/NODE/lxc/VMID.conf\fR
container configs; only their \fBlxc.idmap\fR lines are edited
.TP
\fI/etc/subuid\fR, \fI/etc/subgid\fR
subordinate ids; lines are only appended
.TP
\fI/etc/pve/idfed/managed.json\fR
the passthroughs idfed put in each container, cluster\-wide
.TP
\fI/var/lib/idfed/backup/\fR
the previous content of every file idfed rewrote
.SH ENVIRONMENT
.TP
\fBIDFED_CONFIG\fR
the configuration file, as \fB\-c\fR
.TP
\fBIDFED_LDAP_PASSWORD\fR
the LDAP bind password, instead of \fBbind_password_file\fR
.SH "SEE ALSO"
\fBidfed\-map\fR(1), \fBidfed\-resolve\fR(1), \fBidfed\-plan\fR(1), \fBidfed\-emit\fR(1),
\fBidfed\-apply\fR(1), \fBidfed\-report\fR(1), \fBidfed\-check\fR(1), \fBidfed\-scan\fR(1),
\fBsubuid\fR(5),
\fBlxc.container.conf\fR(5), \fBpct\fR(1)
"#;

/// Runs `idfed completions SHELL`: the script on stdout.
///
/// # Errors
/// Only when stdout cannot be written (a closed pipe is not an error).
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "idfed", &mut out);
    super::print_stdout(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Ok)
}

/// The text of `idfed.1`.
///
/// # Errors
/// Only a write error of the renderer, which writes into memory.
pub fn main_page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    out.extend_from_slice(MAN_EXTRA.as_bytes());
    Ok(out)
}

/// Writes `idfed.1` and an `idfed-COMMAND.1` for every visible command into `dir`.
fn write_pages(dir: &Path) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let main = dir.join("idfed.1");
    std::fs::write(&main, main_page()?)
        .with_context(|| format!("cannot write `{}`", main.display()))?;
    let mut written = vec!["idfed.1".to_string()];
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = clap_mangen::Man::new(sub.clone());
        let name = page.get_filename();
        page.generate_to(dir)
            .with_context(|| format!("cannot write `{}`", dir.join(&name).display()))?;
        written.push(name);
    }
    Ok(written)
}

/// Runs `idfed man`: `idfed.1` on stdout, or every page into `--out DIR` (each named on stderr
/// unless `-q`).
///
/// # Errors
/// When a page cannot be written.
pub fn man(globals: &super::Globals, args: &ManArgs) -> anyhow::Result<Outcome> {
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
