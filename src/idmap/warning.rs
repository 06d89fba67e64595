//! What a human should know about a built map: one sentence per finding and kind.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::ids::{IdKind, IdSet};

use super::budget::LXC_MAX_BYTES;

/// A finding about a built map of one kind (JSON: the sentence [`fmt::Display`] writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapWarning {
    /// Inside ids of the base range left unmapped because their base ids (`hosts`) pass through.
    Holes {
        kind: IdKind,
        ids: IdSet,
        hosts: IdSet,
    },
    /// Ids passed through that nobody asked for: merged to fit the budget (`expose`).
    Exposed {
        kind: IdKind,
        ids: IdSet,
        max_extents: u32,
    },
    /// Inside ids left unmapped to fit the budget (`unmap`).
    Unmapped {
        kind: IdKind,
        ids: IdSet,
        max_extents: u32,
    },
    /// Ids asked for that are protected: not passed through.
    Withheld { kind: IdKind, ids: IdSet },
}

impl MapWarning {
    /// The kind of the map it is about.
    pub fn kind(&self) -> IdKind {
        match self {
            MapWarning::Holes { kind, .. }
            | MapWarning::Exposed { kind, .. }
            | MapWarning::Unmapped { kind, .. }
            | MapWarning::Withheld { kind, .. } => *kind,
        }
    }
}

/// `93 ids`, `1 id`.
fn count(n: u64) -> String {
    format!("{n} {}", if n == 1 { "id" } else { "ids" })
}

impl fmt::Display for MapWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapWarning::Holes { kind, ids, hosts } => write!(
                f,
                "{kind}s `{ids}` inside the container stay unmapped: their base ids `{hosts}` are \
                 passed through"
            ),
            MapWarning::Exposed {
                kind,
                ids,
                max_extents,
            } => write!(
                f,
                "{kind}s `{ids}` ({}) are passed through too, not asked for: merged to fit the \
                 kernel's budget of {max_extents} extents under {LXC_MAX_BYTES} bytes (the fewest \
                 ids that fit)",
                count(ids.len())
            ),
            MapWarning::Unmapped {
                kind,
                ids,
                max_extents,
            } => write!(
                f,
                "{kind}s `{ids}` ({}) inside the container stay unmapped: left out to fit the \
                 kernel's budget of {max_extents} extents under {LXC_MAX_BYTES} bytes (the fewest \
                 ids that fit)",
                count(ids.len())
            ),
            MapWarning::Withheld { kind, ids } => {
                write!(f, "{kind}s `{ids}` are protected: not passed through")
            }
        }
    }
}

impl Serialize for MapWarning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A map warning as a CT's plan gives it: prefixed with its kind (`uids: ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindWarning(pub MapWarning);

impl fmt::Display for KindWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s: {}", self.0.kind(), self.0)
    }
}

impl Serialize for KindWarning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
