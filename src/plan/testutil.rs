//! Values the planner's tests build their inputs from.

use crate::ids::IdSet;
use crate::resolve::{Owner, OwnerKind, ResolvedShare};

/// The set of the given ids.
pub(crate) fn set(ids: &[u32]) -> IdSet {
    let mut s = IdSet::new();
    for &id in ids {
        s.insert_id(id);
    }
    s
}

/// A share owned by users `u<uid>` for each of `uids`, passing `uids` and `gids` through.
pub(crate) fn share(name: &str, uids: &[u32], gids: &[u32]) -> ResolvedShare {
    ResolvedShare {
        name: name.into(),
        owners: uids
            .iter()
            .map(|&id| Owner {
                kind: OwnerKind::User,
                name: format!("u{id}"),
                id,
                source: "files".into(),
            })
            .collect(),
        uids: set(uids),
        gids: set(gids),
    }
}
