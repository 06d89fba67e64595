//! What plan, emit, apply, report and check all start from, loaded once and in this order: the
//! configuration, the cluster's nodes and CTs (`cluster::discover`), the resolved shares, then the
//! rest of the as-is model (`cluster::load`). The library returns what it skipped; this is where
//! it is said, on stderr, in the order it was found.

use std::time::Instant;

use anyhow::Context as _;

use crate::cluster::{self, ClusterState};
use crate::config::{self, Config};
use crate::fs::Root;
use crate::idmap::MapParams;
use crate::plan::guard::{self, AllowShrink, Guarded};
use crate::plan::{self, Plan};
use crate::resolve::{Cache, FromCache, ResolvedShare, resolve_each};
use crate::store;

use super::{Globals, warn};

/// idfed's records as stored, for a saved plan's fingerprints (`plan::saved`).
pub(crate) struct Records {
    pub managed: std::collections::BTreeMap<u32, store::Managed>,
    pub added: store::AddedLines,
    pub baseline: store::Baseline,
}

/// Everything loaded.
pub(crate) struct Loaded {
    pub config: Config,
    pub params: MapParams,
    /// The shares to plan with: as resolved, or held by the outage guard ([`Loaded::hold`]).
    pub shares: Vec<ResolvedShare>,
    /// The shares as resolved.
    pub resolved: Vec<ResolvedShare>,
    pub cluster: ClusterState,
    /// What the outage guard held and accepted (empty until [`Loaded::hold`]).
    pub guard: Guarded,
    /// `pve_root` under `--root`, as given: what messages name.
    pub pve_dir: std::path::PathBuf,
    /// The directories the sources returned, when asked for ([`load_offline`]): `report --owner`
    /// tells a name no source has from one that owns no share.
    pub directories: Vec<std::sync::Arc<crate::source::Directory>>,
    /// The sources' answers being kept in their caches: [`Loaded::finish_caching`] waits for
    /// them, as dropping the `Loaded` does.
    pub caching: Vec<store::cache::Writing>,
    /// The sources answered from their cache ([`load_offline`] only).
    pub cached: Vec<FromCache>,
    /// Why the shares missing from `shares` did not resolve ([`load_offline`] only: [`load`]
    /// fails instead).
    pub unresolved: Vec<String>,
}

/// Loads everything for a command. A `--node` (or host name) that is not a node of the cluster
/// is a warning for a command that only reads, an error (before anything is resolved or
/// written) for one that `applies`.
///
/// # Errors
/// A configuration, source, cluster or record error.
pub(crate) fn load(globals: &Globals, applies: bool) -> anyhow::Result<Loaded> {
    load_with(globals, applies, false, Cache::Keep(&globals.root))
}

/// [`load`] for `apply`: no source's answer is kept (`apply` writes only what it applies).
///
/// # Errors
/// As [`load`].
pub(crate) fn load_for_apply(globals: &Globals) -> anyhow::Result<Loaded> {
    load_with(globals, true, false, Cache::Mention(&globals.root))
}

/// [`load`] for a command that may answer when a source cannot be read (`check`,
/// `report`): such a source is answered from its cache, each said on stderr and in
/// [`Loaded::cached`]; a share that still does not resolve (no cache) is left out and its error
/// is in [`Loaded::unresolved`].
///
/// # Errors
/// A configuration, cluster or record error.
pub(crate) fn load_offline(globals: &Globals, directories: bool) -> anyhow::Result<Loaded> {
    load_with(globals, false, directories, Cache::Fallback(&globals.root))
}

fn load_with(
    globals: &Globals,
    applies: bool,
    directories: bool,
    cache: Cache<'_>,
) -> anyhow::Result<Loaded> {
    let offline = matches!(cache, Cache::Fallback(_));
    let config = config::load_from(globals.config.as_deref(), &globals.root)?;
    let params = config.cluster.map_params();
    let started = Instant::now();
    let node = cluster::node_name(globals.node.as_deref());
    let found = cluster::discover(&globals.root, &config, node, applies)?;
    if globals.verbose > 0 {
        eprintln!(
            "idfed: cluster under `{}`: {} nodes, {} CTs ({} unreadable) in {:.2} s",
            crate::text::Esc(&found.pve_dir.to_string_lossy()),
            found.pve.nodes.len(),
            found.pve.cts.len(),
            found.pve.errors.len(),
            started.elapsed().as_secs_f64()
        );
    }
    found.warnings.iter().for_each(warn);
    let pve_dir = found.pve_dir.clone();
    let mut resolution = resolve_each(&config, &[], !globals.quiet, cache)?;
    let directories = if directories {
        std::mem::take(&mut resolution.directories)
    } else {
        Vec::new()
    };
    if globals.verbose > 0 {
        super::resolve::print_sources(&resolution.sources);
    }
    let cached = std::mem::take(&mut resolution.cached);
    let caching = std::mem::take(&mut resolution.caching);
    cached.iter().for_each(warn);
    let (shares, warnings, unresolved) = if offline {
        (resolution.shares, resolution.warnings, resolution.errors)
    } else {
        let (shares, warnings) = resolution.all()?;
        (shares, warnings, Vec::new())
    };
    warnings.iter().for_each(warn);
    let (cluster, warnings) = cluster::load(&globals.root, &config, found, &shares)?;
    warnings.iter().for_each(warn);
    Ok(Loaded {
        config,
        params,
        resolved: shares.clone(),
        shares,
        cluster,
        guard: Guarded::default(),
        pve_dir,
        directories,
        caching,
        cached,
        unresolved,
    })
}

impl Drop for Loaded {
    fn drop(&mut self) {
        self.finish_caching();
    }
}

impl Loaded {
    /// Waits until the sources' answers are kept in their caches (written while the command
    /// went on), and says on stderr each that could not be. Dropping the `Loaded` does it; a
    /// command that hands it to [`super::Leftover`] (never dropped) calls it first.
    pub(crate) fn finish_caching(&mut self) {
        for writing in self.caching.drain(..) {
            if let Err((source, e)) = writing.wait() {
                warn(crate::resolve::ResolveWarning::NotCached {
                    source,
                    error: e.to_string(),
                });
            }
        }
    }

    /// idfed's records as stored under `root` (every managed record, trusted or not).
    ///
    /// # Errors
    /// A record that cannot be read or parsed.
    pub(crate) fn records(&self, root: &crate::fs::Root) -> anyhow::Result<Records> {
        Ok(Records {
            managed: store::managed::load(root, &self.cluster.pve_root)?,
            added: store::subids::load(root)?,
            baseline: store::baseline::load(root, &self.cluster.pve_root)?,
        })
    }

    /// What a saved plan fingerprints: this, and `records`.
    pub(crate) fn saved_inputs<'a>(&'a self, records: &'a Records) -> plan::saved::Inputs<'a> {
        plan::saved::Inputs {
            config: &self.config,
            cluster: &self.cluster,
            shares: &self.resolved,
            managed: &records.managed,
            added: &records.added,
            baseline: &records.baseline,
        }
    }

    /// The plan for the whole cluster, with this node's subid coverage from its files and the
    /// other nodes' from their published states.
    ///
    /// With shares held by the outage guard, the plan lists them, each with what accepting it
    /// would remove (from a second plan, of the shares as resolved).
    pub(crate) fn plan(&self, choices: plan::Choices<'_>) -> Plan {
        let local = self.cluster.local_coverage();
        let of = |shares: &[ResolvedShare]| {
            plan::plan_cluster(&self.cluster, &self.params, shares, local.clone(), choices)
        };
        let mut plan = of(&self.shares);
        if !self.guard.held.is_empty() {
            let accepted = of(&self.resolved);
            let mut held = self.guard.held.clone();
            guard::fill_removals(&mut held, &plan, &accepted);
            plan.held = held;
        }
        plan
    }

    /// Checks a command's `--share` and `--ct` filters against the configuration and the
    /// cluster: a typo is an error, not an empty result.
    ///
    /// # Errors
    /// An unknown share (with the closest name), a CT the cluster does not have, or one whose
    /// config cannot be read.
    pub(crate) fn check_filters(&self, share: Option<&str>, ct: Option<u32>) -> anyhow::Result<()> {
        if let Some(share) = share {
            self.config.share(share)?;
        }
        let cts = &self.cluster.cts;
        if let Some(vmid) = ct
            && !cts.iter().any(|c| c.vmid == vmid)
        {
            if let Some(e) = self.cluster.ct_errors.iter().find(|e| e.vmid == Some(vmid)) {
                anyhow::bail!("CT {vmid}: {} (run `idfed check`)", e.unreadable());
            }
            let range = match (cts.first(), cts.last()) {
                (Some(first), Some(last)) => format!(
                    "it has {} CTs, from {} to {}",
                    cts.len(),
                    first.vmid,
                    last.vmid
                ),
                _ => "it has no CTs".to_string(),
            };
            anyhow::bail!(
                "CT {vmid} is not a container of the cluster under `{}` ({range})",
                self.pve_dir.display()
            );
        }
        Ok(())
    }

    /// Checks `--release` values against the records: releasing what is not adopted is an error
    /// (a typo must not pass for a release), before anything is planned or written.
    ///
    /// # Errors
    /// A value naming a CT without adopted ids, or ids it has not adopted.
    pub(crate) fn check_release(&self, release: &[plan::Release]) -> anyhow::Result<()> {
        use crate::ids::{IdKind, uids_gids};
        for r in release {
            let record = self
                .cluster
                .managed
                .get(&r.vmid)
                .cloned()
                .unwrap_or_default();
            let named = |kind| {
                plan::release::released(std::slice::from_ref(r), r.vmid, kind, record.adopted(kind))
            };
            if named(IdKind::Uid).is_empty() && named(IdKind::Gid).is_empty() {
                let has = uids_gids(&record.adopted_uids, &record.adopted_gids)
                    .map_or_else(|| "none".to_string(), |ids| format!("adopted: {ids}"));
                anyhow::bail!(
                    "--release `{r}`: CT {} has no such adopted passthrough ({has}): expected \
                     `VMID[:u|g[:IDS]]` naming ids that `idfed apply --adopt` took over",
                    r.vmid
                );
            }
        }
        Ok(())
    }

    /// Says on stderr, for each CT config that cannot be read (on every node but `except`), what
    /// that means for this command (`consequence`: "left out of the plan"); `idfed check` gives
    /// the fix.
    pub(crate) fn warn_unreadable_cts(&self, consequence: &str, except: Option<&str>) {
        for e in &self.cluster.ct_errors {
            if except.is_some_and(|node| node == e.node) {
                continue;
            }
            warn(format_args!(
                "{}: {consequence}: {} (`idfed check` says more)",
                e.who(),
                e.unreadable()
            ));
        }
    }

    /// The outage guard (`plan::guard`) against the cluster-wide baseline: each share that
    /// shrank markedly and that `allow` does not accept is held (planned with its last good ids);
    /// what `allow` accepts is said on stderr. `command` is the command that would accept a held
    /// share (`idfed apply`).
    ///
    /// # Errors
    /// An `--allow-shrink SHARE` that is not a share of the configuration, or a baseline that
    /// cannot be read.
    pub(crate) fn hold(
        &mut self,
        root: &Root,
        allow: &AllowShrink,
        command: &str,
    ) -> anyhow::Result<()> {
        if let AllowShrink::Shares(names) = allow {
            for name in names {
                self.config.share(name).context("--allow-shrink")?;
            }
        }
        let baseline = store::baseline::load(root, &self.cluster.pve_root)?;
        self.guard = guard::hold(&baseline, &self.resolved, allow, command);
        self.shares = std::mem::take(&mut self.guard.shares);
        for s in &self.guard.accepted {
            warn(format_args!(
                "{s}: accepted by --allow-shrink: the owners that left lose their passthroughs"
            ));
        }
        Ok(())
    }
}
