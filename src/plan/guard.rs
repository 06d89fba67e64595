//! The outage guard (DESIGN §7): a share that resolves to markedly fewer owners or ids than its
//! baseline (its last good resolution, cluster-wide: `store::baseline`) is **held**: planned with
//! its last good ids added back, so that nothing is removed from any CT for it, while additions,
//! the other shares and new CTs go ahead in the same run. `apply` then exits 1 naming each held
//! share and the command that accepts it (`--allow-shrink SHARE`, or `--allow-shrink` for all);
//! an accepted shrink becomes the new baseline, which releases every node. A directory outage, an
//! ACL change that hides a group's members, a truncated passwd file must not strip access.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::ids::IdSet;
use crate::resolve::ResolvedShare;
use crate::store::{Baseline, ShareBaseline};

use super::Plan;

/// A share's resolution as a baseline (the store keeps it; the guard compares against it).
pub(crate) fn baseline_of(share: &ResolvedShare) -> ShareBaseline {
    ShareBaseline {
        owners: share.owners.len() as u64,
        uids: share.uids.clone(),
        gids: share.gids.clone(),
    }
}

/// Which shrinks the administrator accepts (`--allow-shrink [SHARE]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowShrink {
    #[default]
    None,
    /// `--allow-shrink`: every share.
    All,
    /// `--allow-shrink SHARE`, repeated.
    Shares(Vec<String>),
}

impl AllowShrink {
    /// Does it accept a shrink of `share`?
    pub fn allows(&self, share: &str) -> bool {
        match self {
            AllowShrink::None => false,
            AllowShrink::All => true,
            AllowShrink::Shares(shares) => shares.iter().any(|s| s == share),
        }
    }
}

/// A share that resolves to markedly fewer owners or ids than at its last good resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Shrink {
    pub share: String,
    pub owners_before: u64,
    pub owners_after: u64,
    pub ids_before: u64,
    pub ids_after: u64,
}

impl fmt::Display for Shrink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |before: u64, after: u64| before.saturating_sub(after) * 100 / before.max(1);
        write!(
            f,
            "share `{}` shrank from {} to {} owners (-{}%) and from {} to {} ids (-{}%) since its \
             last good resolution",
            self.share,
            self.owners_before,
            self.owners_after,
            pct(self.owners_before, self.owners_after),
            self.ids_before,
            self.ids_after,
            pct(self.ids_before, self.ids_after)
        )
    }
}

/// What a CT would lose once a held share is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Removal {
    pub ct: u32,
    pub node: String,
    pub uids: IdSet,
    pub gids: IdSet,
}

/// A share held at its last good owners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Held {
    #[serde(flatten)]
    pub shrink: Shrink,
    /// The command that accepts the shrink.
    pub accept: String,
    /// What accepting it would remove, per CT.
    pub would_remove: Vec<Removal>,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: held at its last good owners (nothing is removed for it; additions and the other \
             shares are applied); check the source, or if the owners really left: `{}`",
            self.shrink, self.accept
        )
    }
}

/// The shares to plan with, and what the guard held and let through.
#[derive(Clone, Debug, Default)]
pub(crate) struct Guarded {
    /// The resolved shares, each held one with its last good ids added back.
    pub shares: Vec<ResolvedShare>,
    pub held: Vec<Held>,
    /// Shrinks `--allow-shrink` accepted.
    pub accepted: Vec<Shrink>,
    /// The baseline entries a run records: every share not held, as resolved now.
    pub record: BTreeMap<String, ShareBaseline>,
}

/// Is a drop from `before` to `after` "marked"? More than one and more than 10 %: one user
/// leaving a group is ordinary, a directory that lost most of a group is an outage.
pub(crate) fn is_marked_shrink(before: u64, after: u64) -> bool {
    after < before && before - after > 1 && (before - after) * 10 > before
}

/// `share` against its baseline: a shrink when owners or ids dropped markedly.
fn shrink(base: &ShareBaseline, share: &ResolvedShare) -> Option<Shrink> {
    let now = baseline_of(share);
    (is_marked_shrink(base.owners, now.owners) || is_marked_shrink(base.ids(), now.ids())).then(
        || Shrink {
            share: share.name.clone(),
            owners_before: base.owners,
            owners_after: now.owners,
            ids_before: base.ids(),
            ids_after: now.ids(),
        },
    )
}

/// Holds each share of `shares` that shrank markedly against `baseline` and that `allow` does not
/// accept. `command` is the accepting command's prefix (`idfed apply`).
pub(crate) fn hold(
    baseline: &Baseline,
    shares: &[ResolvedShare],
    allow: &AllowShrink,
    command: &str,
) -> Guarded {
    let mut out = Guarded::default();
    for share in shares {
        let found = baseline
            .shares
            .get(&share.name)
            .and_then(|base| Some((base, shrink(base, share)?)));
        match found {
            Some((base, shrink)) if !allow.allows(&share.name) => {
                out.shares.push(ResolvedShare {
                    uids: share.uids.union(&base.uids),
                    gids: share.gids.union(&base.gids),
                    ..share.clone()
                });
                out.held.push(Held {
                    accept: format!("{command} --allow-shrink {}", share.name),
                    shrink,
                    would_remove: Vec::new(),
                });
            }
            found => {
                if let Some((_, shrink)) = found {
                    out.accepted.push(shrink);
                }
                out.shares.push(share.clone());
                out.record.insert(share.name.clone(), baseline_of(share));
            }
        }
    }
    out
}

/// Fills in what accepting each held share would remove: what `accepted` (the plan of the shares
/// as resolved) removes from a CT of that share beyond what `held` (the plan with them held)
/// removes.
pub(crate) fn fill_removals(held_shares: &mut [Held], held: &Plan, accepted: &Plan) {
    for h in held_shares {
        for c in accepted
            .containers
            .iter()
            .filter(|c| c.shares.contains(&h.shrink.share))
        {
            let (uids, gids) = match held.container(c.ct) {
                Some(k) => (
                    c.removed_uids.difference(&k.removed_uids),
                    c.removed_gids.difference(&k.removed_gids),
                ),
                None => (c.removed_uids.clone(), c.removed_gids.clone()),
            };
            if !uids.is_empty() || !gids.is_empty() {
                h.would_remove.push(Removal {
                    ct: c.ct,
                    node: c.node.clone(),
                    uids,
                    gids,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testutil::{set, share};

    #[test]
    fn marked_shrink_boundaries() {
        assert!(!is_marked_shrink(2, 1), "one less is ordinary");
        assert!(!is_marked_shrink(100, 90), "exactly 10% is not marked");
        assert!(is_marked_shrink(100, 89));
        assert!(!is_marked_shrink(10, 9));
        assert!(is_marked_shrink(10, 8));
        assert!(is_marked_shrink(120, 0));
        assert!(!is_marked_shrink(5, 7), "growth is never a shrink");
    }

    /// A group of 40 emptied beside a raw range of 1,000 ids: 80 of 81 owners lost, 7 % of ids.
    #[test]
    fn owners_count_as_well_as_ids_and_a_held_share_keeps_its_last_good_ids() {
        let members: Vec<u32> = (2000..2040).collect();
        let raw: Vec<u32> = (5000..6000).collect();
        let before_uids: Vec<u32> = raw.iter().chain(&members).copied().collect();
        let mut before = share("lab", &before_uids, &members);
        before.owners.truncate(81);
        let mut now = share("lab", &raw, &[]);
        now.owners.truncate(1);
        let baseline = Baseline {
            shares: BTreeMap::from([("lab".into(), baseline_of(&before))]),
        };
        let other = share("other", &[1005, 1006], &[]);
        let g = hold(
            &baseline,
            &[now.clone(), other.clone()],
            &AllowShrink::None,
            "idfed apply",
        );
        assert_eq!(g.held.len(), 1);
        let h = &g.held[0];
        assert_eq!(
            (h.shrink.owners_before, h.shrink.owners_after),
            (81, 1),
            "{h:?}"
        );
        assert_eq!((h.shrink.ids_before, h.shrink.ids_after), (1080, 1000));
        assert!(
            !is_marked_shrink(1080, 1000),
            "the ids alone would not hold it"
        );
        assert_eq!(h.accept, "idfed apply --allow-shrink lab");
        assert_eq!(g.shares[0].uids, set(&before_uids));
        assert_eq!(g.shares[0].gids, set(&members));
        assert_eq!(g.shares[1], other);
        // Only the shares not held are recorded: the held one keeps its last good baseline.
        assert_eq!(g.record.keys().collect::<Vec<_>>(), ["other"]);

        for allow in [AllowShrink::All, AllowShrink::Shares(vec!["lab".into()])] {
            let g = hold(&baseline, &[now.clone()], &allow, "idfed apply");
            assert!(g.held.is_empty());
            assert_eq!(g.accepted.len(), 1);
            assert_eq!(g.shares[0], now);
            assert_eq!(g.record["lab"], baseline_of(&now));
        }
        let g = hold(
            &baseline,
            &[now.clone()],
            &AllowShrink::Shares(vec!["other".into()]),
            "idfed apply",
        );
        assert_eq!(g.held.len(), 1);
    }

    #[test]
    fn shrink_message() {
        let s = Shrink {
            share: "projects".into(),
            owners_before: 81,
            owners_after: 1,
            ids_before: 1081,
            ids_after: 1001,
        };
        assert_eq!(
            s.to_string(),
            "share `projects` shrank from 81 to 1 owners (-98%) and from 1081 to 1001 ids (-7%) \
             since its last good resolution"
        );
    }
}
