//! Dynamic completions: `idfed __complete vmids|shares` lists the cluster's VMIDs or the
//! configuration's shares for the shell, and the bash script clap_complete writes is made to call
//! it for `--ct` and `--share` (clap_complete's static script completes them with nothing).

use crate::cli::{Completable, CompleteArgs};
use crate::config;
use crate::pve::Discovery;

use super::{Globals, Outcome};

/// Runs `idfed __complete`: the names, one a line. Only the configuration (and for VMIDs the
/// cluster's CT configs) are read: no source is asked, so a completion is quick even with a
/// directory down.
///
/// # Errors
/// The configuration or the cluster cannot be read (the script drops stderr: nothing is offered).
pub fn run(globals: &Globals, args: &CompleteArgs) -> anyhow::Result<Outcome> {
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let names: Vec<String> = match args.what {
        Completable::Shares => config.shares.keys().cloned().collect(),
        Completable::Vmids => {
            let found = Discovery::discover(&globals.root, &config.cluster.pve_root)?;
            let mut vmids: Vec<u32> = found.cts.iter().map(|c| c.vmid).collect();
            vmids.sort_unstable();
            vmids.dedup();
            vmids.iter().map(ToString::to_string).collect()
        }
    };
    let mut text = names.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    super::print_stdout(&text)?;
    Ok(Outcome::Ok)
}

/// What clap_complete's bash script does for an option it has no values for.
const STATIC_CASE: &str = "                    COMPREPLY=(\"${cur}\")
                    if [[ \"${BASH_VERSINFO[0]}\" -ge 4 ]]; then
                        compopt -o nospace
                    fi
";

/// The bash script with `--ct` and `--share` completed from `idfed __complete`.
pub fn dynamic_bash(script: &str) -> String {
    let mut out = script.to_string();
    for (opt, what) in [("--ct", "vmids"), ("--share", "shares")] {
        let case = format!("                {opt})\n");
        out = out.replace(
            &format!("{case}{STATIC_CASE}"),
            &format!(
                "{case}                    COMPREPLY=( $(compgen -W \"$(idfed __complete {what} \
                 2>/dev/null)\" -- \"${{cur}}\") )\n"
            ),
        );
    }
    out
}
