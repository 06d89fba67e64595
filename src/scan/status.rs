//! What an id found on an export is to a share: an owner, a known user or group that is not one,
//! an id its source does not know, a system id, or a host id of the containers' base range (written
//! by a CT before its owners passed through). Pure: the share's owners and its source's directory
//! are given.

use serde::Serialize;

use crate::ids::{IdKind, IdSet};
use crate::source::Directory;

/// The status of one id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Status {
    /// An owner of the share per its configuration.
    Owner,
    /// A user or group of the share's source that is not an owner: no CT writes as it.
    NotOwner,
    /// An id the source does not know.
    Unknown,
    /// Below `min_id`: never passed through.
    System,
    /// A host id of the base range: a CT's inside id `id - base`.
    Container,
}

impl Status {
    /// `owner`, `not-owner`, ... as the text, CSV and JSON outputs spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Owner => "owner",
            Status::NotOwner => "not-owner",
            Status::Unknown => "unknown",
            Status::System => "system",
            Status::Container => "container",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The cluster's id parameters that classify an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub min_id: u32,
    /// Host id of a CT's id 0.
    pub base: u32,
    /// Ids in the base range.
    pub size: u32,
}

impl Bounds {
    /// The CT-side id of a host id of the base range.
    pub(crate) fn inside(self, id: u32) -> Option<u32> {
        id.checked_sub(self.base).filter(|i| *i < self.size)
    }
}

/// Classifies the ids of one kind for one share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Classifier<'a> {
    pub kind: IdKind,
    pub bounds: Bounds,
    /// The share's ids of this kind (none when scanning a path no share holds).
    pub owners: &'a IdSet,
    /// The share's source (none when there is no source to ask).
    pub directory: Option<&'a Directory>,
}

/// What a [`Classifier`] says of an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub status: Status,
    pub name: Option<String>,
    /// For [`Status::Container`]: the CT-side id, its name, and whether it is an owner now.
    pub inside: Option<Inside>,
}

/// The CT-side id of a container id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Inside {
    pub id: u32,
    pub name: Option<String>,
    pub owner: bool,
}

impl Classifier<'_> {
    /// The name of `id` in the source: a user's for uids, a group's for gids.
    pub(crate) fn name(&self, id: u32) -> Option<String> {
        let directory = self.directory?;
        match self.kind {
            IdKind::Uid => directory.user_by_uid(id).map(|u| u.name.clone()),
            IdKind::Gid => directory.group_by_gid(id).map(|g| g.name.clone()),
        }
    }

    /// The status of `id`, its name, and for a container id its CT-side id.
    pub(crate) fn classify(&self, id: u32) -> Verdict {
        let name = self.name(id);
        let (status, inside) = if self.owners.contains(id) {
            (Status::Owner, None)
        } else if id < self.bounds.min_id {
            (Status::System, None)
        } else if let Some(inside) = self.bounds.inside(id) {
            let inside = Inside {
                id: inside,
                name: self.name(inside),
                owner: self.owners.contains(inside),
            };
            (Status::Container, Some(inside))
        } else if name.is_some() {
            (Status::NotOwner, None)
        } else {
            (Status::Unknown, None)
        };
        Verdict {
            status,
            name,
            inside,
        }
    }

    /// The id a container id is handed back to by `scan --fix-container`: its CT-side id, when
    /// that is an owner now (the owner's files then belong to the owner on every CT and host).
    pub(crate) fn hand_back(&self, id: u32) -> Option<u32> {
        if self.owners.contains(id) || id < self.bounds.min_id {
            return None;
        }
        self.bounds
            .inside(id)
            .filter(|inside| self.owners.contains(*inside))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Group, User};

    fn directory() -> Directory {
        let mut d = Directory::new();
        for (name, uid) in [("root", 0), ("alice", 1005), ("bob", 1006)] {
            d.add_user(User {
                name: name.into(),
                uid,
                gid: uid,
                dn: None,
            })
            .unwrap();
        }
        d.add_group(Group {
            name: "research".into(),
            gid: 3000,
            members: Vec::new(),
            dn: None,
        })
        .unwrap();
        d
    }

    const BOUNDS: Bounds = Bounds {
        min_id: 1000,
        base: 100_000,
        size: 65_536,
    };

    #[test]
    fn statuses_at_their_boundaries() {
        let d = directory();
        let owners = IdSet::of_counts(&[(1005, 1), (2000, 11)]);
        let c = Classifier {
            kind: IdKind::Uid,
            bounds: BOUNDS,
            owners: &owners,
            directory: Some(&d),
        };
        let status = |id| c.classify(id).status;
        assert_eq!(status(0), Status::System);
        assert_eq!(status(999), Status::System);
        assert_eq!(status(1000), Status::Unknown);
        assert_eq!(status(1005), Status::Owner);
        assert_eq!(status(1006), Status::NotOwner);
        assert_eq!(status(2010), Status::Owner);
        assert_eq!(status(2011), Status::Unknown);
        assert_eq!(status(99_999), Status::Unknown);
        assert_eq!(status(100_000), Status::Container);
        assert_eq!(status(165_535), Status::Container);
        assert_eq!(status(165_536), Status::Unknown);
        assert_eq!(status(u32::MAX - 1), Status::Unknown);
        assert_eq!(c.classify(0).name.as_deref(), Some("root"));
        assert_eq!(c.classify(1006).name.as_deref(), Some("bob"));
    }

    #[test]
    fn container_ids_name_their_inside_id_and_hand_back_only_to_owners() {
        let d = directory();
        let owners = IdSet::of_counts(&[(1005, 1)]);
        let c = Classifier {
            kind: IdKind::Uid,
            bounds: BOUNDS,
            owners: &owners,
            directory: Some(&d),
        };
        let v = c.classify(101_005);
        assert_eq!(v.status, Status::Container);
        assert_eq!(v.name, None);
        assert_eq!(
            v.inside,
            Some(Inside {
                id: 1005,
                name: Some("alice".into()),
                owner: true
            })
        );
        assert_eq!(c.hand_back(101_005), Some(1005));
        assert!(!c.classify(101_006).inside.unwrap().owner);
        assert_eq!(c.hand_back(101_006), None);
        assert_eq!(c.hand_back(101_004), None);
        assert_eq!(c.hand_back(100_000), None);
        assert_eq!(c.hand_back(1005), None);
        // Groups are named from groups.
        let gids = IdSet::of_counts(&[(3000, 1)]);
        let g = Classifier {
            kind: IdKind::Gid,
            owners: &gids,
            ..c
        };
        assert_eq!(g.classify(1005).name, None);
        assert_eq!(g.hand_back(103_000), Some(3000));
        assert_eq!(
            g.classify(103_000).inside.unwrap().name.as_deref(),
            Some("research")
        );
    }

    #[test]
    fn without_a_source_nothing_is_named_and_nothing_is_not_an_owner() {
        let owners = IdSet::new();
        let c = Classifier {
            kind: IdKind::Uid,
            bounds: BOUNDS,
            owners: &owners,
            directory: None,
        };
        assert_eq!(c.classify(1006).status, Status::Unknown);
        assert_eq!(c.classify(0).status, Status::System);
        assert_eq!(c.classify(0).name, None);
        assert_eq!(c.hand_back(101_005), None);
    }

    #[test]
    fn a_base_range_at_the_top_of_the_id_space_does_not_overflow() {
        let b = Bounds {
            min_id: 1000,
            base: u32::MAX - 10,
            size: 65_536,
        };
        assert_eq!(b.inside(u32::MAX - 1), Some(9));
        assert_eq!(b.inside(u32::MAX - 11), None);
    }
}
