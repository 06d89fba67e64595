//! One container as it is now: its node, whether it is unprivileged or locked, the map PVE gives
//! it, and the shares it uses.

use crate::idmap::{Extent, MapParams};
use crate::ids::IdKind;
use crate::pve::Section;

/// One container as it is now.
#[derive(Clone, Debug)]
pub(crate) struct CtState {
    pub vmid: u32,
    pub node: String,
    pub unprivileged: bool,
    /// The `lock:` value, when the CT is locked.
    pub lock: Option<String>,
    /// The map PVE applies when the CT starts (`CtConfig::effective_idmap`): the main section's
    /// `lxc.idmap` entries, or PVE's default map when there are none. Empty for a privileged CT:
    /// it has no map at all.
    pub idmap: Vec<Extent>,
    /// The shares it uses (by bind mount or by a share's `containers`), one entry per mount.
    pub uses: Vec<ShareUse>,
    /// The maps its snapshots and `[pve:pending]` would give it (`CtConfig::other_maps`): a
    /// rollback or the next start needs them covered too.
    pub other_maps: Vec<(Section, Vec<Extent>)>,
}

/// How a container uses a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShareUse {
    pub share: String,
    /// The mount point key (`mp0`), or `None` when the share lists the CT in `containers`
    /// without a bind mount of it.
    pub key: Option<String>,
    pub read_only: bool,
    pub shared: bool,
}

impl CtState {
    /// The names of the shares it uses, each once, sorted.
    pub(crate) fn share_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.uses.iter().map(|u| u.share.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Proxmox's map for a CT without `lxc.idmap` lines: `0 → base` for `size` ids.
pub(crate) fn default_map(kind: IdKind, params: &MapParams) -> Vec<Extent> {
    vec![Extent::new(kind, 0, params.base, params.size)]
}

/// The current map of one kind: the written entries, or the default map when there are none at
/// all (a custom map of one kind leaves the other kind unmapped, as in LXC).
pub(crate) fn current_map(idmap: &[Extent], kind: IdKind, params: &MapParams) -> Vec<Extent> {
    if idmap.is_empty() {
        return default_map(kind, params);
    }
    let mut map: Vec<Extent> = idmap.iter().filter(|e| e.kind == kind).copied().collect();
    map.sort_by_key(|e| e.inside);
    map
}

impl CtState {
    /// Its current map of one kind (see [`current_map`]).
    pub(crate) fn current_map(&self, kind: IdKind, params: &MapParams) -> Vec<Extent> {
        current_map(&self.idmap, kind, params)
    }
}
