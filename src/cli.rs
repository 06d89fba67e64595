//! The command line: clap definitions only. Every other module takes plain values; nothing outside
//! this file imports clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

use crate::idmap::{MapParams, OverBudget};
use crate::ids::IdRange;
use crate::plan::Release;
use crate::plan::guard::AllowShrink;

/// Federate the owner ids of shared NFS exports into unprivileged Proxmox VE containers.
#[derive(Debug, Parser)]
#[command(
    name = "idfed",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  idfed map 1005 g:2000-2010\n  idfed plan\n  idfed apply --dry-run\n  idfed report --owner alice\n\nConfiguration: /etc/pve/idfed/idfed.toml (the cluster's), else /etc/idfed/idfed.toml (-c PATH,\nIDFED_CONFIG); every key: `man idfed.toml`. Each command: `idfed COMMAND --help`."
)]
pub struct Cli {
    /// Configuration file [default: /etc/pve/idfed/idfed.toml, else /etc/idfed/idfed.toml]
    #[arg(
        short = 'c',
        long,
        env = "IDFED_CONFIG",
        global = true,
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    /// Directory every host path (/etc/subuid, /etc/pve, /run/lock, /var/lib/idfed) is under
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,

    /// This node's name [default: the short hostname]
    #[arg(long, global = true, value_name = "NAME")]
    pub node: Option<String>,

    /// Output format (csv: `report` and `scan` only)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print only errors, warnings and changes (a run that changes nothing prints nothing)
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Say what was read (each source, the cluster) with counts and times, on stderr
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// How results are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the lxc.idmap lines and subuid/subgid lines that pass the given ids through
    Map(MapArgs),
    /// Show each share's owners and their uid and gid sets
    Resolve(ResolveArgs),
    /// Show what apply would change, per node and per group of containers
    Plan(PlanArgs),
    /// Write per-node bundles (subuid, subgid, lxc/<vmid>.idmap) and plan.json
    Emit(EmitArgs),
    /// Apply the plan on this node: subid lines, then container maps
    Apply(ApplyArgs),
    /// Which containers can write as which share owners
    Report(ReportArgs),
    /// Check every container map and this node's subid files against the kernel's rules
    Check(CheckArgs),
    /// Move a stopped container's files to the ids its new map gives their owners
    Shift(ShiftArgs),
    /// Count an export's entries and bytes per uid and gid, and what each id is to the share
    ///
    /// Walks the share's path (or PATH) once, without following symbolic links or entering another
    /// filesystem, and counts per uid and gid the entries and bytes, each id with its status:
    /// owner, not-owner (a user or group of the source that is not an owner), unknown, system
    /// (below min_id) or container (a host id of the base range, written by a CT: its CT-side id
    /// and whether that id is an owner now). Then the users/groups lines that would cover
    /// --cover percent of the bytes, and the container ids --fix-container hands back. An
    /// unreadable directory is a warning; its entries are not counted.
    Scan(ScanArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    Completions(CompletionsArgs),
    /// Write idfed's man pages: idfed.1 to stdout, or every page (idfed.toml.5 too) into a
    /// directory
    #[command(hide = true)]
    Man(ManArgs),
    /// Print the names a shell completes (the bash, zsh and fish scripts call it): the cluster's
    /// VMIDs or the configuration's shares, one a line
    #[command(name = "__complete", hide = true)]
    Complete(CompleteArgs),
}

#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// What to list
    #[arg(value_enum)]
    pub what: Completable,
}

/// What `__complete` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Completable {
    /// The VMIDs of the cluster's containers
    Vmids,
    /// The shares of the configuration
    Shares,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  idfed map 1005 g:2000-2010")]
pub struct MapArgs {
    /// Host id of the container's uid/gid 0
    #[arg(long, default_value_t = MapParams::default().base)]
    pub base: u32,
    /// Ids in the base range
    #[arg(long, default_value_t = MapParams::default().size)]
    pub size: u32,
    /// Lowest id that may be passed through
    #[arg(long, default_value_t = MapParams::default().min_id)]
    pub min_id: u32,
    /// Most extents per map (the kernel takes at most 340)
    #[arg(long, default_value_t = MapParams::default().max_extents)]
    pub max_extents: u32,
    /// Owner of the printed subuid/subgid lines
    #[arg(long, default_value = "root")]
    pub subid_owner: String,
    /// Over the kernel's budget: `unmap` leaves the fewest inside ids between passthroughs
    /// unmapped (grants nothing), `expose` merges passthroughs exposing the fewest ids
    #[arg(long, value_name = "POLICY", default_value_t = MapParams::default().over_budget, value_parser = parse_over_budget)]
    pub over_budget: OverBudget,
    /// Ids never passed through nor merged across: 64045,3000-3010
    #[arg(long, value_name = "IDS", value_delimiter = ',', value_parser = parse_id_range)]
    pub protected: Vec<IdRange>,
    /// Ids to pass through: 1005, 2000-2010 (both kinds), u:1005, g:2000-2010 (one kind)
    #[arg(required = true, value_name = "IDSPEC")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  idfed resolve\n  idfed resolve projects --format json")]
pub struct ResolveArgs {
    /// Shares to resolve [default: all]
    #[arg(value_name = "SHARE", value_hint = ValueHint::Other)]
    pub shares: Vec<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed plan\n  idfed plan --share projects    what onboarding `projects` changes\n  idfed plan --detailed-exitcode -q >/dev/null || echo changes pending\n  idfed plan --out reviewed.plan    then, approved: idfed apply --plan reviewed.plan"
)]
pub struct PlanArgs {
    /// Only this share: what onboarding it changes
    #[arg(long, value_name = "SHARE", value_hint = ValueHint::Other)]
    pub share: Option<String>,
    /// Only this container
    #[arg(long, value_name = "VMID", value_hint = ValueHint::Other)]
    pub ct: Option<u32>,
    /// Exit 2 when changes are pending, 0 when there are none
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Show what `apply --adopt` would do: which foreign passthroughs it adopts
    #[arg(long)]
    pub adopt: bool,
    /// Show what `apply --release` would do (VMID, VMID:u|g, or VMID:u|g:IDS; repeatable)
    #[arg(long, value_name = "VMID[:u|g[:IDS]]", value_parser = parse_release)]
    pub release: Vec<Release>,
    /// Accept that a share shrank markedly (owners or ids) since its last good resolution,
    /// instead of holding it at its last good owners: SHARE (repeatable), or every share
    #[arg(long, value_name = "SHARE", num_args = 0..=1, action = clap::ArgAction::Append)]
    pub allow_shrink: Option<Vec<String>>,
    /// Save the whole plan, with a fingerprint of each input, for `idfed apply --plan FILE`
    #[arg(long, value_name = "FILE", conflicts_with_all = ["share", "ct"])]
    pub out: Option<PathBuf>,
    /// Count the entries and bytes each moving id owns in the root filesystem of this node's CTs
    /// whose map changes (a read-only walk of each)
    #[arg(long)]
    pub scan_rootfs: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  idfed emit --out /tmp/idfed-bundle    then copy /tmp/idfed-bundle/<node>/ to each node"
)]
pub struct EmitArgs {
    /// Directory to write the bundles into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Accept that a share shrank markedly (owners or ids) since its last good resolution,
    /// instead of holding it at its last good owners: SHARE (repeatable), or every share
    #[arg(long, value_name = "SHARE", num_args = 0..=1, action = clap::ArgAction::Append)]
    pub allow_shrink: Option<Vec<String>>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed apply --dry-run\n  idfed apply\n  idfed plan --adopt     what adopting would do\n  idfed apply --adopt    keep hand-written passthroughs as adopted: kept until released\n  idfed apply --release 201:u:33    the shares decide about uid 33 of CT 201 again"
)]
pub struct ApplyArgs {
    /// Show what would change and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply exactly this saved plan (`idfed plan --out FILE`, its --adopt, --release and
    /// --allow-shrink too); refused when an input changed since: the cluster, the configuration,
    /// idfed's records or a share's owners
    #[arg(long, value_name = "FILE", conflicts_with_all = ["adopt", "release", "allow_shrink"])]
    pub plan: Option<PathBuf>,
    /// Take foreign (hand-written) passthroughs under management as adopted: kept whatever the
    /// shares say, until released
    #[arg(long)]
    pub adopt: bool,
    /// Release adopted passthroughs: VMID (all of a CT's), VMID:u|g (one kind), VMID:u|g:IDS
    /// (`201:u:33`, `201:g:2000-2010`); released, an id is kept while a share owns it and removed
    /// when none does. Repeatable
    #[arg(long, value_name = "VMID[:u|g[:IDS]]", value_parser = parse_release)]
    pub release: Vec<Release>,
    /// Accept that a share shrank markedly (owners or ids) since its last good resolution,
    /// instead of holding it at its last good owners: SHARE (repeatable), or every share
    #[arg(long, value_name = "SHARE", num_args = 0..=1, action = clap::ArgAction::Append)]
    pub allow_shrink: Option<Vec<String>>,
    /// Switch maps even when other nodes have not published subid coverage for them
    #[arg(long)]
    pub force: bool,
    /// Remove subid lines idfed added that no container map needs any more
    #[arg(long)]
    pub prune: bool,
    /// Right after switching a stopped CT's map, shift its root filesystem (`idfed shift`); a
    /// running CT is shifted by a later run, once stopped
    #[arg(long)]
    pub shift_rootfs: bool,
    /// Wait up to SECS for another apply on this node, and for shadow's locks on /etc/subuid and
    /// /etc/subgid (those at most 15 s, as shadow waits)
    #[arg(long, value_name = "SECS", default_value_t = crate::apply::node_lock::NODE_LOCK_TIMEOUT.as_secs())]
    pub wait: u64,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed report --owner alice\n  idfed report --share projects --format csv > projects-access.csv"
)]
pub struct ReportArgs {
    /// Only this owner (name or id)
    #[arg(long, value_name = "NAME|ID", value_hint = ValueHint::Other)]
    pub owner: Option<String>,
    /// Only this container
    #[arg(long, value_name = "VMID", value_hint = ValueHint::Other)]
    pub ct: Option<u32>,
    /// Only this share
    #[arg(long, value_name = "SHARE", value_hint = ValueHint::Other)]
    pub share: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  idfed check\n  idfed check --format json")]
pub struct CheckArgs {}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed shift 101 --dry-run\n  idfed shift 101\n  pct mount 102 && idfed shift 102 --rootfs /var/lib/lxc/102/rootfs; pct unmount 102"
)]
pub struct ShiftArgs {
    /// The container (stopped, on this node)
    #[arg(value_name = "VMID", value_hint = ValueHint::Other)]
    pub vmid: u32,
    /// Count what would move; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The container's root filesystem directory [default: from its `rootfs:` volume and storage.cfg]
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Threads walking the tree [default: the number of CPUs, at least 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed scan projects\n  idfed scan /mnt/pve/newexport --format csv > newexport-owners.csv\n  idfed scan projects --fix-container --dry-run"
)]
pub struct ScanArgs {
    /// A share, or a path: part of a share, or an export no share holds yet
    #[arg(value_name = "SHARE|PATH")]
    pub target: String,
    /// Where to name the ids of a path no share holds [default: the only source]
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Suggest the owners to add until the owners own this percentage of the bytes
    #[arg(long, value_name = "PERCENT", default_value_t = 95,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub cover: u8,
    /// Hand files of container ids (host base+N) back to N where N is an owner now
    #[arg(long)]
    pub fix_container: bool,
    /// With --fix-container: count what would change, change nothing
    #[arg(long, requires = "fix_container")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed completions bash > /etc/bash_completion.d/idfed\n  idfed completions zsh > /usr/local/share/zsh/site-functions/_idfed\n  idfed completions fish > ~/.config/fish/completions/idfed.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  idfed man | man -l -\n  idfed man --out /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// Write idfed.1, idfed-COMMAND.1 and idfed.toml.5 into this directory instead of idfed.1 to
    /// stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Does a command line clap refused ask for `--format json` (`--format json`, `--format=json`)?
/// Its usage error is then a JSON document on stdout too.
pub fn asks_for_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_format = false;
    for arg in args {
        if arg == "--" {
            return false;
        }
        if (previous_was_format && arg == "json") || arg == "--format=json" {
            return true;
        }
        previous_was_format = arg == "--format";
    }
    false
}

/// A usage error's message, one line, without clap's `error: ` and its usage and help lines.
pub fn usage_message(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn parse_over_budget(s: &str) -> Result<OverBudget, String> {
    s.parse()
        .map_err(|e: crate::idmap::OverBudgetParseError| e.to_string())
}

/// `--allow-shrink [SHARE]` as the guard takes it: absent, bare (every share), or shares.
pub fn allow_shrink(arg: Option<&Vec<String>>) -> AllowShrink {
    match arg {
        None => AllowShrink::None,
        Some(shares) if shares.is_empty() => AllowShrink::All,
        Some(shares) => AllowShrink::Shares(shares.clone()),
    }
}

fn parse_release(s: &str) -> Result<Release, String> {
    s.parse()
        .map_err(|e: <Release as std::str::FromStr>::Err| e.to_string())
}

fn parse_id_range(s: &str) -> Result<IdRange, String> {
    s.parse()
        .map_err(|e: <IdRange as std::str::FromStr>::Err| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::asks_for_json;

    #[test]
    fn asks_for_json_reads_both_spellings_and_stops_at_the_separator() {
        let asks = |args: &[&str]| asks_for_json(args.iter().map(Into::into));
        assert!(asks(&["idfed", "--format", "json", "plan"]));
        assert!(asks(&["idfed", "plan", "--format=json"]));
        assert!(!asks(&["idfed", "--format", "text", "json"]));
        assert!(!asks(&["idfed", "--format=jsonl"]));
        assert!(!asks(&["idfed", "resolve", "json"]));
        assert!(!asks(&["idfed", "--", "--format", "json"]));
        assert!(!asks(&["idfed", "--format"]));
    }
}
