//! The shrink guard: a share that resolves to markedly fewer ids than at the last successful run
//! (a directory outage, a truncated passwd file) must not strip access unless the administrator
//! says so.

use std::collections::BTreeMap;

use crate::resolve::ResolvedShare;
use crate::store::{RunState, ShareCount};

use super::Plan;

/// A plan that removes passthroughs of a share that shrank markedly, refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{shrink}: refusing to remove passthroughs from {} (a directory outage or a truncated passwd \
     file must not strip access); check the source, or run again with --allow-shrink if the \
     owners really left",
    losing.join(", ")
)]
pub struct ShrinkError {
    pub shrink: Shrink,
    /// `CT 101`, ...: the containers that would lose ids.
    pub losing: Vec<String>,
}

/// Refuses a plan that removes passthroughs of a share that shrank markedly since `last`, the
/// last successful run, unless `allow`; with `allow`, returns what it lets through as warnings.
///
/// # Errors
/// The shrink, naming the share, how much it shrank, and the containers that would lose ids.
pub fn shrink_guard(
    last: &RunState,
    shares: &[ResolvedShare],
    plan: &Plan,
    allow: bool,
) -> Result<Vec<String>, ShrinkError> {
    let mut warnings = Vec::new();
    for shrink in shrinks(last, &share_counts(shares)) {
        let losing: Vec<String> = plan
            .containers
            .iter()
            .filter(|c| c.shares.contains(&shrink.share))
            .filter(|c| !c.removed_uids.is_empty() || !c.removed_gids.is_empty())
            .map(|c| format!("CT {}", c.ct))
            .collect();
        if losing.is_empty() {
            continue;
        }
        if !allow {
            return Err(ShrinkError { shrink, losing });
        }
        warnings.push(format!(
            "{shrink}; removing passthroughs from {} as --allow-shrink says",
            losing.join(", ")
        ));
    }
    Ok(warnings)
}

/// Each resolved share's owner and id counts, as recorded after a successful run.
pub fn share_counts(shares: &[ResolvedShare]) -> BTreeMap<String, ShareCount> {
    shares
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                ShareCount {
                    owners: s.owners.len() as u64,
                    ids: s.uids.len() + s.gids.len(),
                },
            )
        })
        .collect()
}

/// A share that now resolves to markedly fewer ids than at the last successful run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrink {
    pub share: String,
    pub before: u64,
    pub after: u64,
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = (self.before - self.after) * 100 / self.before.max(1);
        write!(
            f,
            "share `{}` shrank from {} to {} ids (-{pct}%) since the last successful run",
            self.share, self.before, self.after
        )
    }
}

/// Is a drop from `before` to `after` ids "marked"? More than one id and more than 10 %: one
/// user leaving a group is ordinary, a directory that lost most of a group is an outage.
pub fn is_marked_shrink(before: u64, after: u64) -> bool {
    after < before && before - after > 1 && (before - after) * 10 > before
}

/// The shares of `now` that shrank markedly against `last`.
pub fn shrinks(last: &RunState, now: &BTreeMap<String, ShareCount>) -> Vec<Shrink> {
    now.iter()
        .filter_map(|(name, count)| {
            let before = last.shares.get(name)?.ids;
            is_marked_shrink(before, count.ids).then(|| Shrink {
                share: name.clone(),
                before,
                after: count.ids,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_shrink_boundaries() {
        assert!(!is_marked_shrink(2, 1), "one id less is ordinary");
        assert!(!is_marked_shrink(100, 90), "exactly 10% is not marked");
        assert!(is_marked_shrink(100, 89));
        assert!(!is_marked_shrink(10, 9));
        assert!(is_marked_shrink(10, 8));
        assert!(is_marked_shrink(120, 0));
        assert!(!is_marked_shrink(5, 7), "growth is never a shrink");
    }

    #[test]
    fn shrink_message() {
        let s = Shrink {
            share: "projects".into(),
            before: 120,
            after: 3,
        };
        assert_eq!(
            s.to_string(),
            "share `projects` shrank from 120 to 3 ids (-97%) since the last successful run"
        );
    }
}
