//! Resolving a share: its configured users, groups and raw ids, looked up in its source's
//! [`Directory`], become owners and the uid and gid sets to pass through. Pure: the directory is
//! read by the caller; [`resolve_each`] reads each source a batch of shares needs once.
//!
//! Rules: users by name; groups by name, with their members' uids unless `members = false`;
//! every passed-through user's primary gid unless `primary_gids = false`; raw `uids`/`gids`.
//! A name the source does not know is an error (with the closest name as a hint). An id below
//! `min_id` (or 0) is an error when the owner was named in the configuration, and a warning (the
//! id is skipped) when it was only derived: a group member, or a primary group like Debian's
//! `users` (100), which the administrator did not ask for by name.

mod each;
mod warning;

use std::sync::Arc;

use serde::Serialize;

use crate::config::ShareConfig;
use crate::ids::{IdKind, IdRange, IdSet};
use crate::source::{Directory, Member, User};

type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

pub(crate) use each::{Cache, FromCache, SourceSummary, age, resolve_each};
use warning::MemberProblem;
pub(crate) use warning::ResolveWarning;

/// Whether an owner is a user or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OwnerKind {
    User,
    Group,
}

impl OwnerKind {
    /// `user` or `group`, as messages, the text output and the JSON output spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        }
    }
}

impl std::fmt::Display for OwnerKind {
    /// Honours width and alignment (`{:<5}`), for columns.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// An owner of a share: a user (its uid passes through) or a group (its gid).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub(crate) struct Owner {
    pub kind: OwnerKind,
    pub name: String,
    pub id: u32,
    /// The name of the source it came from (shared: one source has many owners).
    pub source: Arc<str>,
}

/// A share's owners and the ids it passes through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ResolvedShare {
    #[serde(skip)]
    pub name: String,
    pub uids: IdSet,
    pub gids: IdSet,
    /// Users first, then groups; each by id, then name; no repeats.
    pub owners: Vec<Owner>,
}

impl ResolvedShare {
    /// The ids of one kind.
    pub(crate) fn ids(&self, kind: IdKind) -> &IdSet {
        match kind {
            IdKind::Uid => &self.uids,
            IdKind::Gid => &self.gids,
        }
    }
}

/// Why a share could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error(
        "share `{share}`: {kind} `{name}` not found in source `{source_name}`{}",
        hint_text(hint)
    )]
    UnknownName {
        share: String,
        source_name: String,
        kind: OwnerKind,
        name: String,
        /// The closest existing name, when one is close.
        hint: Option<String>,
    },
    #[error(
        "share `{share}`: {kind} `{name}` of source `{source_name}` has {id_kind} {id}, below \
         `cluster.min_id` ({min_id}): remove it from the share or lower `min_id` (0 never passes)"
    )]
    BelowMinId {
        share: String,
        source_name: String,
        kind: OwnerKind,
        name: String,
        id_kind: IdKind,
        id: u32,
        min_id: u32,
    },
}

fn hint_text(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (did you mean `{h}`?)"))
        .unwrap_or_default()
}

/// Resolves one share against the directory of its source.
///
/// `name` is the share's name, `source` its source's name (both for messages and owners).
/// Returns the resolved share and warnings (unresolvable members, skipped low ids).
///
/// # Errors
/// [`ResolveError`] for a name the directory lacks or a named owner below `min_id`.
pub(crate) fn resolve_share(
    name: &str,
    share: &ShareConfig,
    directory: &Directory,
    min_id: u32,
) -> Result<(ResolvedShare, Vec<ResolveWarning>), ResolveError> {
    let mut r = Resolver {
        share: name,
        source: Arc::from(share.source.as_str()),
        min_id,
        owners: Vec::new(),
        uids: Vec::new(),
        gids: Vec::new(),
        warnings: Vec::new(),
        last_primary_gid: None,
    };
    for user_name in &share.users {
        let user = directory.user(user_name).ok_or_else(|| {
            r.unknown(
                OwnerKind::User,
                user_name,
                directory.users().iter().map(|u| u.name.as_str()),
            )
        })?;
        r.named(OwnerKind::User, &user.name, user.uid)?;
        if share.primary_gids {
            r.primary_gid(user, directory);
        }
    }
    for group_name in &share.groups {
        let group = directory.group(group_name).ok_or_else(|| {
            r.unknown(
                OwnerKind::Group,
                group_name,
                directory.groups().iter().map(|g| g.name.as_str()),
            )
        })?;
        r.named(OwnerKind::Group, &group.name, group.gid)?;
        if !share.members {
            continue;
        }
        r.owners.reserve(group.members.len());
        r.uids.reserve(group.members.len());
        // The members, and the members of member groups (nested groups, given by DN), each
        // group once whatever the cycles: a user of a nested group is a member too (as sssd
        // and Active Directory count it). The nested groups' own gids do not own the share.
        // `seen` is a set: each nested group is looked up once, so a directory of 100,000
        // nested groups is expanded in time linear in its members, not in its groups squared.
        let mut pending = vec![group];
        let mut seen: HashSet<&str> = HashSet::default();
        seen.insert(group.name.as_str());
        while let Some(at) = pending.pop() {
            let why = || {
                if std::ptr::eq(at, group) {
                    format!("member of group `{}`", group.name)
                } else {
                    format!("member of group `{}` through `{}`", group.name, at.name)
                }
            };
            for member in &at.members {
                if let Some(user) = directory.member(member) {
                    if r.derived(OwnerKind::User, &user.name, user.uid, why) && share.primary_gids {
                        r.primary_gid(user, directory);
                    }
                } else if let Some(inner) = directory.member_group(member) {
                    if seen.insert(inner.name.as_str()) {
                        pending.push(inner);
                    }
                } else {
                    // Skipped by the source, or no entry at all: most often a member deleted
                    // from the directory while the group still lists it.
                    r.warnings.push(ResolveWarning::Member {
                        share: name.to_string(),
                        group: at.name.clone(),
                        member: member.to_string(),
                        dn: matches!(member, Member::Dn(_)),
                        source: share.source.clone(),
                        problem: if directory.was_skipped(member) {
                            MemberProblem::NotPosix
                        } else {
                            MemberProblem::Missing
                        },
                    });
                }
            }
        }
    }
    let mut owners = r.owners;
    owners.sort_by(|a, b| (a.kind, a.id, &a.name).cmp(&(b.kind, b.id, &b.name)));
    // An owner reached twice (named and a member, a member of two groups, a primary group) is
    // listed once: the copies are equal, and next to each other once sorted.
    owners.dedup_by(|a, b| (a.kind, a.id, &a.name) == (b.kind, b.id, &b.name));
    Ok((
        ResolvedShare {
            name: name.to_string(),
            uids: with_ids(&share.uids, r.uids),
            gids: with_ids(&share.gids, r.gids),
            owners,
        },
        r.warnings,
    ))
}

/// `set` with `ids` added. One sort for all of them: inserting 100,000 scattered ids one by one
/// into the sorted ranges would move half the ranges each time.
fn with_ids(set: &IdSet, ids: Vec<u32>) -> IdSet {
    let mut set = set.clone();
    set.extend(ids.into_iter().filter_map(|id| IdRange::single(id).ok()));
    set
}

struct Resolver<'a> {
    share: &'a str,
    /// The source's name, shared by every owner.
    source: Arc<str>,
    min_id: u32,
    /// In any order, repeats allowed (sorted and deduplicated at the end: cheaper than a set of
    /// 100,000 names hashed one by one).
    owners: Vec<Owner>,
    /// Ids to add to the share's raw `uids` and `gids`, in any order, repeats allowed.
    uids: Vec<u32>,
    gids: Vec<u32>,
    warnings: Vec<ResolveWarning>,
    /// The primary gid last added as a group owner: every member of a large group usually has
    /// the same one, and adding it again would change nothing.
    last_primary_gid: Option<u32>,
}

impl<'a> Resolver<'a> {
    fn add(&mut self, kind: OwnerKind, name: &'a str, id: u32) {
        match kind {
            OwnerKind::User => self.uids.push(id),
            OwnerKind::Group => self.gids.push(id),
        }
        self.owners.push(Owner {
            kind,
            name: name.to_string(),
            id,
            source: Arc::clone(&self.source),
        });
    }

    /// Is `id` too low to pass through (below `min_id`, or 0 whatever `min_id` says)?
    fn too_low(&self, id: u32) -> bool {
        id < self.min_id || id == 0
    }

    /// A name the configuration gives that the directory lacks, with the closest of `known`.
    fn unknown<'n>(
        &self,
        kind: OwnerKind,
        name: &str,
        known: impl Iterator<Item = &'n str>,
    ) -> ResolveError {
        ResolveError::UnknownName {
            share: self.share.to_string(),
            source_name: self.source.to_string(),
            kind,
            name: name.to_string(),
            hint: crate::suggest::closest(name, known),
        }
    }

    /// An owner the configuration names: a low id is an error.
    fn named(&mut self, kind: OwnerKind, name: &'a str, id: u32) -> Result<(), ResolveError> {
        if self.too_low(id) {
            return Err(ResolveError::BelowMinId {
                share: self.share.to_string(),
                source_name: self.source.to_string(),
                kind,
                name: name.to_string(),
                id_kind: id_kind(kind),
                id,
                min_id: self.min_id,
            });
        }
        self.add(kind, name, id);
        Ok(())
    }

    /// An owner that follows from another (`why`, only spelled out for a warning): a low id is
    /// skipped with a warning. Returns whether it was added.
    fn derived(
        &mut self,
        kind: OwnerKind,
        name: &'a str,
        id: u32,
        why: impl FnOnce() -> String,
    ) -> bool {
        if self.too_low(id) {
            self.warnings.push(ResolveWarning::BelowMin {
                share: self.share.to_string(),
                kind,
                name: name.to_string(),
                why: why(),
                id,
                min_id: self.min_id,
            });
            return false;
        }
        self.add(kind, name, id);
        true
    }

    /// A passed-through user's primary group.
    fn primary_gid(&mut self, user: &User, directory: &'a Directory) {
        if self.last_primary_gid == Some(user.gid) {
            return;
        }
        let why = || format!("primary group of user `{}`", user.name);
        match directory.group_by_gid(user.gid) {
            Some(group) => {
                if self.derived(OwnerKind::Group, &group.name, user.gid, why) {
                    self.last_primary_gid = Some(user.gid);
                }
            }
            None if self.too_low(user.gid) => {
                self.warnings.push(ResolveWarning::PrimaryGidBelowMin {
                    share: self.share.to_string(),
                    gid: user.gid,
                    why: why(),
                    min_id: self.min_id,
                });
            }
            // A primary gid without a group entry still passes through; it has no name to list.
            None => self.gids.push(user.gid),
        }
    }
}

fn id_kind(kind: OwnerKind) -> IdKind {
    match kind {
        OwnerKind::User => IdKind::Uid,
        OwnerKind::Group => IdKind::Gid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ShareLocation;
    use crate::source::{Group, Member};

    /// Users alice, bob, carol, root; groups alice, users, research (carol and `ghost`, whom
    /// the source never saw), staff (bob, `printer`, an entry the source read without POSIX
    /// attributes, and `gone`, a DN naming no entry), wheel.
    fn directory() -> Directory {
        let mut d = Directory::new();
        d.add_skipped("CN=printer, dc=x", Some("printer"));
        for (name, uid, gid) in [
            ("alice", 1005, 1005),
            ("bob", 1006, 100),
            ("carol", 1007, 5000),
            ("root", 0, 0),
        ] {
            d.add_user(User {
                name: name.into(),
                uid,
                gid,
                dn: Some(format!("uid={name},ou=people,dc=x")),
            })
            .unwrap();
        }
        for (name, gid, members) in [
            ("alice", 1005, vec![]),
            ("users", 100, vec![]),
            (
                "research",
                3000,
                vec![Member::Name("carol".into()), Member::Name("ghost".into())],
            ),
            (
                "staff",
                3001,
                vec![
                    Member::Dn("UID=bob,ou=people,dc=x".into()),
                    Member::Dn("cn=printer,dc=x".into()),
                    Member::Dn("uid=gone,ou=people,dc=x".into()),
                ],
            ),
            ("wheel", 10, vec![]),
        ] {
            d.add_group(Group {
                name: name.into(),
                gid,
                members,
                dn: None,
            })
            .unwrap();
        }
        d
    }

    fn share(users: &[&str], groups: &[&str]) -> ShareConfig {
        ShareConfig {
            source: "corp".into(),
            location: ShareLocation::Path("/mnt/pve/projects".into()),
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            members: true,
            primary_gids: true,
            uids: IdSet::new(),
            gids: IdSet::new(),
            containers: None,
        }
    }

    fn ids(s: &IdSet) -> String {
        s.to_string()
    }

    #[test]
    fn owner_kinds_pad_like_strings() {
        assert_eq!(OwnerKind::User.as_str(), "user");
        assert_eq!(OwnerKind::Group.as_str(), "group");
        assert_eq!(
            format!(
                "[{:<5}][{:<5}][{}]",
                OwnerKind::User,
                OwnerKind::Group,
                OwnerKind::User
            ),
            "[user ][group][user]"
        );
    }

    #[test]
    fn users_groups_members_primary_gids_and_raw_ids() {
        let mut s = share(&["alice"], &["research", "staff"]);
        s.uids.insert("2000-2010".parse::<IdRange>().unwrap());
        s.gids.insert_id(4000);
        let (r, warnings) = resolve_share("projects", &s, &directory(), 1000).unwrap();
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(ids(&r.uids), "1005-1007,2000-2010");
        assert_eq!(ids(&r.gids), "1005,3000-3001,4000,5000");
        let owners: Vec<_> = r
            .owners
            .iter()
            .map(|o| format!("{} {} {}", o.kind, o.name, o.id))
            .collect();
        assert_eq!(
            owners,
            [
                "user alice 1005",
                "user bob 1006",
                "user carol 1007",
                "group alice 1005",
                "group research 3000",
                "group staff 3001"
            ]
        );
        assert_eq!(
            warnings,
            [
                "share `projects`: group `research`: member `ghost` names no user in source `corp` (deleted?): skipped",
                "share `projects`: group `users` (primary group of user `bob`) has gid 100, below `cluster.min_id` (1000): skipped",
                "share `projects`: group `staff`: member `cn=printer,dc=x` is not a user or a group with POSIX attributes in source `corp`: skipped",
                "share `projects`: group `staff`: member `uid=gone,ou=people,dc=x` names no entry in source `corp` (deleted, or outside its bases and filters?): skipped",
            ]
        );
    }

    /// rfc2307bis and AD list member groups by DN: their users are members too, through any
    /// depth and around cycles; the nested groups' gids are not owners.
    #[test]
    fn nested_groups_are_expanded_once() {
        let mut d = directory();
        let dn = |cn: &str| format!("cn={cn},ou=groups,dc=x");
        for (name, gid, members) in [
            (
                "outer",
                4000,
                vec![dn("inner"), "uid=alice,ou=people,dc=x".into()],
            ),
            (
                "inner",
                4001,
                vec![dn("deeper"), dn("outer"), "uid=bob,ou=people,dc=x".into()],
            ),
            (
                "deeper",
                4002,
                vec![
                    dn("inner"),
                    "uid=carol,ou=people,dc=x".into(),
                    "uid=root,ou=people,dc=x".into(),
                ],
            ),
        ] {
            d.add_group(Group {
                name: name.into(),
                gid,
                members: members.into_iter().map(Member::Dn).collect(),
                dn: Some(dn(name)),
            })
            .unwrap();
        }
        let mut s = share(&[], &["outer"]);
        s.primary_gids = false;
        let (r, warnings) = resolve_share("p", &s, &d, 1000).unwrap();
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(ids(&r.uids), "1005-1007");
        assert_eq!(ids(&r.gids), "4000");
        let owners: Vec<_> = r
            .owners
            .iter()
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect();
        assert_eq!(
            owners,
            ["user alice", "user bob", "user carol", "group outer"]
        );
        assert_eq!(
            warnings,
            [
                "share `p`: user `root` (member of group `outer` through `deeper`) has uid 0, below `cluster.min_id` (1000): skipped"
            ]
        );
        // `memberUid` names are users only: a group's name there is not expanded.
        let mut d = directory();
        d.add_group(Group {
            name: "named".into(),
            gid: 4003,
            members: vec![Member::Name("research".into())],
            dn: None,
        })
        .unwrap();
        let (r, warnings) = resolve_share("p", &share(&[], &["named"]), &d, 1000).unwrap();
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert!(r.uids.is_empty(), "{}", ids(&r.uids));
        assert_eq!(
            warnings,
            [
                "share `p`: group `named`: member `research` names no user in source `corp` (deleted?): skipped"
            ]
        );
    }

    /// Nested groups as a chain 20,000 deep (each group one user and the next group; the last
    /// lists the first again) and as a fan of 20,000 groups under one: every user once, each
    /// group expanded once.
    #[test]
    fn deep_chains_and_wide_fans_of_nested_groups() {
        const N: u32 = 20_000;
        let user_dn = |i: u32| format!("uid=u{i},ou=people,dc=x");
        let group_dn = |i: u32| format!("cn=g{i},ou=groups,dc=x");
        let mut d = Directory::new();
        for i in 0..N {
            d.add_user(User {
                name: format!("u{i}"),
                uid: 10_000 + i,
                gid: 100,
                dn: Some(user_dn(i)),
            })
            .unwrap();
        }
        let group = |name: String, gid, members: Vec<String>, dn| Group {
            name,
            gid,
            members: members.into_iter().map(Member::Dn).collect(),
            dn: Some(dn),
        };
        for i in 0..N {
            // The chain: g0 -> g1 -> ... -> g(N-1) -> g0.
            let next = group_dn((i + 1) % N);
            d.add_group(group(
                format!("g{i}"),
                200_000 + i,
                vec![user_dn(i), next],
                group_dn(i),
            ))
            .unwrap();
            // The fan: every fI under `fan`, each with its user and `fan` again.
            let fan_dn = "cn=fan,ou=groups,dc=x".to_string();
            let dn = format!("cn=f{i},ou=groups,dc=x");
            d.add_group(group(
                format!("f{i}"),
                300_000 + i,
                vec![user_dn(i), fan_dn],
                dn,
            ))
            .unwrap();
        }
        let fan = (0..N).map(|i| format!("cn=f{i},ou=groups,dc=x")).collect();
        d.add_group(group(
            "fan".into(),
            400_000,
            fan,
            "cn=fan,ou=groups,dc=x".into(),
        ))
        .unwrap();
        for name in ["g0", "g12345", "fan"] {
            let mut s = share(&[], &[name]);
            s.primary_gids = false;
            let (r, warnings) = resolve_share("p", &s, &d, 1000).unwrap();
            let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
            assert_eq!(ids(&r.uids), format!("10000-{}", 10_000 + N - 1), "{name}");
            assert_eq!(r.owners.len(), N as usize + 1, "{name}");
            assert_eq!(r.gids.len(), 1, "{name}");
            assert_eq!(warnings, Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn an_owner_reached_several_ways_is_listed_once() {
        // carol: named twice, and a member of `research` (named twice); group `alice`: named,
        // and user alice's primary group.
        let s = share(
            &["carol", "alice", "carol"],
            &["research", "alice", "research"],
        );
        let (r, _) = resolve_share("p", &s, &directory(), 1000).unwrap();
        let owners: Vec<_> = r
            .owners
            .iter()
            .map(|o| format!("{} {} {} {}", o.kind, o.name, o.id, o.source))
            .collect();
        assert_eq!(
            owners,
            [
                "user alice 1005 corp",
                "user carol 1007 corp",
                "group alice 1005 corp",
                "group research 3000 corp"
            ]
        );
        assert_eq!(ids(&r.uids), "1005,1007");
        assert_eq!(ids(&r.gids), "1005,3000,5000");
    }

    #[test]
    fn members_and_primary_gids_can_be_off() {
        let mut s = share(&["alice"], &["research"]);
        s.members = false;
        s.primary_gids = false;
        let (r, warnings) = resolve_share("p", &s, &directory(), 1000).unwrap();
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(ids(&r.uids), "1005");
        assert_eq!(ids(&r.gids), "3000");
        assert!(warnings.is_empty());
    }

    #[test]
    fn unknown_names_get_a_hint() {
        let err =
            resolve_share("projects", &share(&["alise"], &[]), &directory(), 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "share `projects`: user `alise` not found in source `corp` (did you mean `alice`?)"
        );
        let err =
            resolve_share("projects", &share(&[], &["zzzzzz"]), &directory(), 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "share `projects`: group `zzzzzz` not found in source `corp`"
        );
    }

    #[test]
    fn named_owners_below_min_id_are_errors() {
        let err = resolve_share("p", &share(&["root"], &[]), &directory(), 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "share `p`: user `root` of source `corp` has uid 0, below `cluster.min_id` (1000): remove it from the share or lower `min_id` (0 never passes)"
        );
        assert!(resolve_share("p", &share(&[], &["wheel"]), &directory(), 1000).is_err());
        assert!(resolve_share("p", &share(&[], &["wheel"]), &directory(), 10).is_ok());
    }

    #[test]
    fn ids_added_at_once_equal_ids_added_one_by_one() {
        let raw: IdSet = ["1000-1009", "5000"]
            .into_iter()
            .map(|r| r.parse::<IdRange>().unwrap())
            .collect();
        // Scattered, out of order, repeated, touching the raw range on both sides, and
        // `u32::MAX`, which is not an id and is ignored either way.
        let ids = vec![
            4_294_967_294,
            7,
            1010,
            999,
            3,
            1005,
            7,
            4_294_967_295,
            5001,
            4999,
            2,
        ];
        let mut one_by_one = raw.clone();
        for &id in &ids {
            if let Ok(r) = IdRange::single(id) {
                one_by_one.insert(r);
            }
        }
        let at_once = with_ids(&raw, ids);
        assert_eq!(at_once, one_by_one);
        assert_eq!(at_once.to_string(), "2-3,7,999-1010,4999-5001,4294967294");
    }

    #[test]
    fn shared_primary_gids_once_as_owners_low_ones_warned_for_each_member() {
        let mut d = Directory::new();
        for (name, uid, gid) in [
            ("a", 1005, 5000),
            ("b", 1006, 5000),
            ("c", 1007, 100),
            ("e", 1008, 100),
        ] {
            d.add_user(User {
                name: name.into(),
                uid,
                gid,
                dn: None,
            })
            .unwrap();
        }
        for (name, gid, members) in [
            ("staff", 5000, vec![]),
            ("users", 100, vec![]),
            ("all", 3000, vec!["a", "c", "b", "e"]),
        ] {
            d.add_group(Group {
                name: name.into(),
                gid,
                members: members
                    .into_iter()
                    .map(|m| Member::Name(m.into()))
                    .collect(),
                dn: None,
            })
            .unwrap();
        }
        let (r, warnings) = resolve_share("p", &share(&[], &["all"]), &d, 1000).unwrap();
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(ids(&r.gids), "3000,5000");
        let groups: Vec<_> = r
            .owners
            .iter()
            .filter(|o| o.kind == OwnerKind::Group)
            .collect();
        assert_eq!(groups.len(), 2);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("primary group of user `c`"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("primary group of user `e`"),
            "{warnings:?}"
        );
    }
}
