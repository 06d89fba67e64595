//! Why the plan leaves a container's map as it is.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::idmap::{Extent, MapError};
use crate::ids::IdKind;

/// Why idfed does not switch a CT (JSON and text: the sentence [`fmt::Display`] writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// A privileged CT writes as anyone: its map is never edited.
    Privileged,
    /// Its map passes host id 0 through, which idfed never does.
    RootPassthrough { extent: Extent },
    /// Its map has an extent that is neither a passthrough nor part of the base range.
    CustomExtent { extent: Extent, base: u32 },
    /// The map of one kind cannot be built.
    CannotBuild { kind: IdKind, error: MapError },
    /// The map of one kind does not fit the kernel's budget under `cluster.over_budget`
    /// ([`MapError::DoesNotFit`], [`MapError::OverBudget`]: the error says what would fit), for
    /// `owners` owners of that kind of the CT's shares and the `ids` they pass through.
    OverBudget {
        kind: IdKind,
        owners: usize,
        ids: u64,
        error: MapError,
    },
    /// PVE holds the CT's config lock (`lock: backup`, ...): retried on the next run.
    Locked { lock: String },
}

impl SkipReason {
    /// Is this a map that could not be built (not a policy or a lock)?
    pub(crate) fn is_build_failure(&self) -> bool {
        matches!(
            self,
            SkipReason::CannotBuild { .. } | SkipReason::OverBudget { .. }
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Privileged => {
                f.write_str("privileged: it writes as anyone; idfed never edits its map")
            }
            SkipReason::RootPassthrough { extent } => write!(
                f,
                "its map passes host id 0 through (`lxc.idmap: {extent}`); idfed never does"
            ),
            SkipReason::CustomExtent { extent, base } => write!(
                f,
                "its map has a custom extent `lxc.idmap: {extent}` that is neither a passthrough \
                 nor part of the base range {base}: edit it by hand"
            ),
            SkipReason::CannotBuild { kind, error } => {
                write!(f, "its {kind} map cannot be built: {error}")
            }
            SkipReason::OverBudget {
                kind,
                owners,
                ids,
                error,
            } => {
                let (o, i) = (
                    plural(*owners as u64, "owner"),
                    plural(*ids, &kind.to_string()),
                );
                write!(
                    f,
                    "its {kind} map for {o} of its shares ({i}) cannot fit: {error}"
                )
            }
            SkipReason::Locked { lock } => {
                write!(f, "locked (`lock: {lock}`): retried on the next run")
            }
        }
    }
}

/// `1 owner`, `5 owners`.
fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

impl Serialize for SkipReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::SkipReason;
    use crate::idmap::Extent;

    #[test]
    fn json_is_the_sentence_text_prints() {
        let extent: Extent = "u 0 0 1".parse().unwrap();
        for reason in [
            SkipReason::Privileged,
            SkipReason::RootPassthrough { extent },
            SkipReason::Locked {
                lock: "backup".into(),
            },
        ] {
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                serde_json::to_string(&reason.to_string()).unwrap()
            );
        }
        assert_eq!(
            SkipReason::Locked {
                lock: "backup".into()
            }
            .to_string(),
            "locked (`lock: backup`): retried on the next run"
        );
    }

    #[test]
    fn over_budget_counts_owners_and_ids_in_the_singular_too() {
        let error = crate::idmap::MapError::OverBudget {
            kind: crate::ids::IdKind::Gid,
            extents: 4,
            bytes: 60,
            max_extents: 3,
            max_bytes: 4079,
        };
        let reason = SkipReason::OverBudget {
            kind: crate::ids::IdKind::Gid,
            owners: 1,
            ids: 1,
            error,
        };
        assert!(reason.is_build_failure());
        assert!(
            reason.to_string().starts_with(
                "its gid map for 1 owner of its shares (1 gid) cannot fit: the gid map"
            ),
            "{reason}"
        );
    }
}
