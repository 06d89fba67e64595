//! What resolving the shares skipped or could not do, and why.

use std::fmt;

use crate::source::SourceWarning;

use super::{OwnerKind, id_kind};

/// Why a group member is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemberProblem {
    /// The source skipped its entry (no POSIX attributes).
    NotPosix,
    /// No entry at all (most often deleted from the directory while the group still lists it).
    Missing,
}

/// A warning of `resolve` (and of every command that resolves the shares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ResolveWarning {
    /// An entry the source skipped.
    Source {
        source: String,
        warning: SourceWarning,
    },
    /// The source's answer could not be kept in the offline cache.
    NotCached { source: String, error: String },
    /// A group member that is not taken: its entry was skipped, or there is none.
    Member {
        share: String,
        group: String,
        member: String,
        /// The member is a DN (it may name a group), not a user name.
        dn: bool,
        source: String,
        problem: MemberProblem,
    },
    /// An owner that follows from another (a member, a primary group) whose id is below
    /// `cluster.min_id`.
    BelowMin {
        share: String,
        kind: OwnerKind,
        name: String,
        /// How it follows (`member of group `staff``).
        why: String,
        id: u32,
        min_id: u32,
    },
    /// A primary gid without a group entry, below `cluster.min_id`.
    PrimaryGidBelowMin {
        share: String,
        gid: u32,
        why: String,
        min_id: u32,
    },
}

impl fmt::Display for ResolveWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveWarning::Source { source, warning } => write!(f, "source `{source}`: {warning}"),
            ResolveWarning::NotCached { source, error } => {
                write!(f, "source `{source}`: cannot keep its answer: {error}")
            }
            ResolveWarning::Member {
                share,
                group,
                member,
                dn,
                source,
                problem,
            } => {
                write!(f, "share `{share}`: group `{group}`: member `{member}` ")?;
                match (problem, dn) {
                    (MemberProblem::NotPosix, false) => f.write_str("is not a user")?,
                    (MemberProblem::NotPosix, true) => f.write_str("is not a user or a group")?,
                    (MemberProblem::Missing, false) => f.write_str("names no user")?,
                    (MemberProblem::Missing, true) => f.write_str("names no entry")?,
                }
                match (problem, dn) {
                    (MemberProblem::NotPosix, _) => {
                        write!(f, " with POSIX attributes in source `{source}`: skipped")
                    }
                    (MemberProblem::Missing, false) => {
                        write!(f, " in source `{source}` (deleted?): skipped")
                    }
                    (MemberProblem::Missing, true) => write!(
                        f,
                        " in source `{source}` (deleted, or outside its bases and filters?): \
                         skipped"
                    ),
                }
            }
            ResolveWarning::BelowMin {
                share,
                kind,
                name,
                why,
                id,
                min_id,
            } => write!(
                f,
                "share `{share}`: {kind} `{name}` ({why}) has {} {id}, below `cluster.min_id` \
                 ({min_id}): skipped",
                id_kind(*kind)
            ),
            ResolveWarning::PrimaryGidBelowMin {
                share,
                gid,
                why,
                min_id,
            } => write!(
                f,
                "share `{share}`: gid {gid} ({why}) is below `cluster.min_id` ({min_id}): skipped"
            ),
        }
    }
}
