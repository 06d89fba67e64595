//! Dynamic completions: `idfed __complete vmids|shares` lists the cluster's VMIDs or the
//! configuration's shares for the shell, and the bash, zsh and fish scripts clap_complete writes
//! are made to call it for `--ct`, `--share` and `shift`'s VMID (clap_complete's static scripts
//! complete them with nothing). The other shells' scripts are left as clap_complete writes them.

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
pub(crate) fn run(globals: &Globals, args: &CompleteArgs) -> anyhow::Result<Outcome> {
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

/// The script clap_complete wrote for `shell`, with VMIDs and share names completed from
/// `idfed __complete` where the shell allows it.
pub(crate) fn dynamic(shell: clap_complete::Shell, script: &str) -> String {
    match shell {
        clap_complete::Shell::Bash => dynamic_bash(script),
        clap_complete::Shell::Zsh => dynamic_zsh(script),
        clap_complete::Shell::Fish => dynamic_fish(script),
        _ => script.to_string(),
    }
}

/// What clap_complete's bash script does for an option it has no values for.
const STATIC_CASE: &str = "                    COMPREPLY=(\"${cur}\")
                    if [[ \"${BASH_VERSINFO[0]}\" -ge 4 ]]; then
                        compopt -o nospace
                    fi
";

/// The bash script with `--ct`, `--share` and `shift`'s VMID completed from `idfed __complete`.
fn dynamic_bash(script: &str) -> String {
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
    // `shift VMID`: clap_complete offers the options where the VMID goes.
    let start = "        idfed__subcmd__shift)\n";
    if let Some(at) = out.find(start) {
        let end = out[at..]
            .find("\n            ;;\n")
            .map_or(out.len(), |e| at + e);
        let block = out[at..end]
            .replace(
                "if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then",
                "if [[ ${cur} == -* ]] ; then",
            )
            .replace(
                "            esac\n            COMPREPLY=( $(compgen -W \"${opts}\" -- \"${cur}\") )",
                "            esac\n            COMPREPLY=( $(compgen -W \"$(idfed __complete vmids \
                 2>/dev/null)\" -- \"${cur}\") )",
            );
        out.replace_range(at..end, &block);
    }
    out
}

/// zsh functions the patched specs call: the names from `idfed __complete`, one a line.
const ZSH_FUNCTIONS: &str = r#"
(( $+functions[_idfed_vmids] )) ||
_idfed_vmids() {
    local -a vmids
    vmids=(${(f)"$(idfed __complete vmids 2>/dev/null)"})
    _wanted vmids expl 'VMID' compadd -a vmids
}
(( $+functions[_idfed_shares] )) ||
_idfed_shares() {
    local -a shares
    shares=(${(f)"$(idfed __complete shares 2>/dev/null)"})
    _wanted shares expl 'share' compadd -a shares
}
"#;

/// The zsh script with `--ct`, `--share` and `shift`'s VMID completed from `idfed __complete`:
/// their specs end in an empty action (`'--ct=[...]:VMID:'`), which gets a function.
fn dynamic_zsh(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + ZSH_FUNCTIONS.len());
    for line in script.split_inclusive('\n') {
        let action = if line.starts_with("'--ct=[") || line.starts_with("':vmid -- ") {
            Some("_idfed_vmids")
        } else if line.starts_with("'--share=[") {
            Some("_idfed_shares")
        } else {
            None
        };
        match action {
            Some(action) if line.ends_with(":' \\\n") => {
                out.push_str(&line[..line.len() - "' \\\n".len()]);
                out.push_str(action);
                out.push_str("' \\\n");
            }
            _ => out.push_str(line),
        }
        if line == "autoload -U is-at-least\n" {
            out.push_str(ZSH_FUNCTIONS);
        }
    }
    out
}

/// The fish script with `--ct`, `--share` and `shift`'s VMID completed from `idfed __complete`.
fn dynamic_fish(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + 256);
    for line in script.lines() {
        out.push_str(line);
        let what = if line.contains(" -l ct ") {
            Some("vmids")
        } else if line.contains(" -l share ") {
            Some("shares")
        } else {
            None
        };
        if let Some(what) = what
            && !line.contains(" -a ")
        {
            out.push_str(&format!(" -a \"(idfed __complete {what} 2>/dev/null)\""));
        }
        out.push('\n');
    }
    out.push_str(
        "complete -c idfed -n \"__fish_idfed_using_subcommand shift\" -f -a \
         \"(idfed __complete vmids 2>/dev/null)\"\n",
    );
    out
}
