//! The `Directory`: the users and groups one source returned, with lookups by name, id and DN.
//! Both sources build it; `resolve` reads it. No I/O here.

use std::collections::hash_map::Entry;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

// foldhash rather than std's SipHash: these maps are idfed's own (names and ids from the
// configured sources, looked up once per member), and hashing 100,000 names with SipHash was
// a tenth of building the directory. Its seeds are still random per process.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// A user: its name, uid and primary gid. Serialized for the source cache (`store::cache`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct User {
    pub name: String,
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// The entry's DN, for users read from LDAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dn: Option<String>,
}

/// A group: its name, gid and members as the source gave them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<Member>,
    /// The entry's DN, for groups read from LDAP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dn: Option<String>,
}

/// A member of a group: a user name (`memberUid`, group files) or a DN (`member`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Member {
    Name(String),
    Dn(String),
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Member::Name(n) | Member::Dn(n) => f.write_str(n),
        }
    }
}

/// Two entries with the same name and different ids.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{name}` is defined twice, with {id_kind} {first} and {second}")]
pub(crate) struct Duplicate {
    /// `user` or `group`.
    pub kind: &'static str,
    /// `uid` or `gid`.
    pub id_kind: &'static str,
    pub name: String,
    pub first: u32,
    pub second: u32,
}

/// Users and groups of one source.
#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    users: Vec<User>,
    groups: Vec<Group>,
    user_by_name: HashMap<String, usize>,
    group_by_name: HashMap<String, usize>,
    /// Built on the first DN lookup: only `member` DNs need it, and normalizing 100,000 DNs up
    /// front cost more than the rest of building the directory.
    user_by_dn: OnceLock<HashMap<String, usize>>,
    /// Likewise, for member DNs that name groups (nested groups).
    group_by_dn: OnceLock<HashMap<String, usize>>,
    user_by_uid: HashMap<u32, usize>,
    group_by_gid: HashMap<u32, usize>,
    /// Entries the source read but could not take (no `uidNumber`, say): their normalized DNs
    /// and their names, so that a member naming one is told from a member naming no entry at
    /// all (deleted).
    skipped: HashSet<String>,
}

impl Directory {
    /// An empty directory.
    pub(crate) fn new() -> Directory {
        Directory::default()
    }

    /// Room for `more` users (a passwd file's lines): the lists and indexes are not grown and
    /// rehashed step by step.
    pub(crate) fn reserve_users(&mut self, more: usize) {
        self.users.reserve(more);
        self.user_by_name.reserve(more);
        self.user_by_uid.reserve(more);
    }

    /// Room for `more` groups, as [`Directory::reserve_users`].
    pub(crate) fn reserve_groups(&mut self, more: usize) {
        self.groups.reserve(more);
        self.group_by_name.reserve(more);
        self.group_by_gid.reserve(more);
    }

    /// Adds a user; the same name with the same uid again is ignored.
    ///
    /// # Errors
    /// [`Duplicate`] when the name is already there with another uid.
    pub(crate) fn add_user(&mut self, user: User) -> Result<(), Duplicate> {
        self.try_add_user(user).map_err(|rejected| rejected.1)
    }

    /// Like [`Directory::add_user`], handing the user back with the error (its DN names the
    /// entry in a message) without the caller keeping a copy of every user it adds.
    ///
    /// # Errors
    /// The user and the [`Duplicate`] when the name is already there with another uid.
    pub(crate) fn try_add_user(&mut self, user: User) -> Result<(), Box<(User, Duplicate)>> {
        let i = self.users.len();
        // One lookup for both the check and the insert: the name is hashed once.
        match self.user_by_name.entry(user.name.clone()) {
            Entry::Occupied(known) => {
                let first = &self.users[*known.get()];
                if first.uid != user.uid {
                    let duplicate = Duplicate {
                        kind: "user",
                        id_kind: "uid",
                        name: user.name.clone(),
                        first: first.uid,
                        second: user.uid,
                    };
                    return Err(Box::new((user, duplicate)));
                }
                return Ok(());
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        self.user_by_uid.entry(user.uid).or_insert(i);
        self.users.push(user);
        self.user_by_dn.take();
        Ok(())
    }

    /// Adds a group; the same name with the same gid again adds its members to the first.
    ///
    /// # Errors
    /// [`Duplicate`] when the name is already there with another gid.
    pub(crate) fn add_group(&mut self, group: Group) -> Result<(), Duplicate> {
        self.try_add_group(group).map_err(|rejected| rejected.1)
    }

    /// Like [`Directory::add_group`], handing the group back with the error.
    ///
    /// # Errors
    /// The group and the [`Duplicate`] when the name is already there with another gid.
    pub(crate) fn try_add_group(&mut self, group: Group) -> Result<(), Box<(Group, Duplicate)>> {
        if let Some(&i) = self.group_by_name.get(&group.name) {
            let first = &mut self.groups[i];
            if first.gid != group.gid {
                let duplicate = Duplicate {
                    kind: "group",
                    id_kind: "gid",
                    name: group.name.clone(),
                    first: first.gid,
                    second: group.gid,
                };
                return Err(Box::new((group, duplicate)));
            }
            // A set, not `contains` on the list: two entries of a 100,000-member group would
            // otherwise compare every member with every other.
            let fresh: Vec<Member> = {
                let mut known: HashSet<&Member> = first.members.iter().collect();
                group
                    .members
                    .iter()
                    .filter(|m| known.insert(m))
                    .cloned()
                    .collect()
            };
            first.members.extend(fresh);
            return Ok(());
        }
        let i = self.groups.len();
        self.group_by_name.insert(group.name.clone(), i);
        self.group_by_gid.entry(group.gid).or_insert(i);
        self.groups.push(group);
        self.group_by_dn.take();
        Ok(())
    }

    /// Every user, in the order the source gave them.
    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    /// Every group, in the order the source gave them.
    pub(crate) fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The user named `name`.
    pub(crate) fn user(&self, name: &str) -> Option<&User> {
        self.user_by_name.get(name).map(|&i| &self.users[i])
    }

    /// The group named `name`.
    pub(crate) fn group(&self, name: &str) -> Option<&Group> {
        self.group_by_name.get(name).map(|&i| &self.groups[i])
    }

    /// The first user with uid `uid`.
    pub(crate) fn user_by_uid(&self, uid: u32) -> Option<&User> {
        self.user_by_uid.get(&uid).map(|&i| &self.users[i])
    }

    /// The first group with gid `gid`.
    pub(crate) fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.group_by_gid.get(&gid).map(|&i| &self.groups[i])
    }

    /// The user whose DN is `dn` (compared case-insensitively, spaces around `,` and `=` ignored).
    pub(crate) fn user_by_dn(&self, dn: &str) -> Option<&User> {
        let index = self.user_by_dn.get_or_init(|| {
            let mut index = HashMap::default();
            for (i, user) in self.users.iter().enumerate() {
                if let Some(dn) = &user.dn {
                    // The last user with a DN wins, as when the index was built while adding.
                    index.insert(normalize_dn(dn), i);
                }
            }
            index
        });
        index.get(&normalize_dn(dn)).map(|&i| &self.users[i])
    }

    /// The group whose DN is `dn` (compared as [`Directory::user_by_dn`] compares).
    pub(crate) fn group_by_dn(&self, dn: &str) -> Option<&Group> {
        let index = self.group_by_dn.get_or_init(|| {
            let mut index = HashMap::default();
            for (i, group) in self.groups.iter().enumerate() {
                if let Some(dn) = &group.dn {
                    index.insert(normalize_dn(dn), i);
                }
            }
            index
        });
        index.get(&normalize_dn(dn)).map(|&i| &self.groups[i])
    }

    /// Notes an entry the source read and skipped (its DN, and its name when it had one).
    pub(crate) fn add_skipped(&mut self, dn: &str, name: Option<&str>) {
        self.skipped.insert(normalize_dn(dn));
        if let Some(name) = name {
            self.skipped.insert(name.to_string());
        }
    }

    /// Is `member` an entry the source read and skipped ([`Directory::add_skipped`])? A member
    /// that is neither a user, a group nor a skipped entry names nothing the source has.
    pub(crate) fn was_skipped(&self, member: &Member) -> bool {
        match member {
            Member::Name(name) => self.skipped.contains(name),
            Member::Dn(dn) => self.skipped.contains(&normalize_dn(dn)),
        }
    }

    /// The user a group member stands for.
    pub(crate) fn member(&self, member: &Member) -> Option<&User> {
        match member {
            Member::Name(name) => self.user(name),
            Member::Dn(dn) => self.user_by_dn(dn),
        }
    }

    /// The group a group member stands for (a nested group): only members given by DN
    /// (rfc2307bis, Active Directory) can be groups; a `memberUid` names a user.
    pub(crate) fn member_group(&self, member: &Member) -> Option<&Group> {
        match member {
            Member::Name(_) => None,
            Member::Dn(dn) => self.group_by_dn(dn),
        }
    }
}

/// A DN in the form DN lookups compare: lowercase, no spaces around `,` and `=`.
fn normalize_dn(dn: &str) -> String {
    if !dn.is_ascii() {
        return normalize_dn_unicode(dn);
    }
    // The same as `normalize_dn_unicode` for ASCII, in one buffer instead of a few per RDN.
    let mut out = String::with_capacity(dn.len());
    for (i, rdn) in dn.split(',').enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, part) in rdn.split('=').enumerate() {
            if j > 0 {
                out.push('=');
            }
            out.push_str(part.trim());
        }
    }
    out.make_ascii_lowercase();
    out
}

/// [`normalize_dn`] for any DN: Unicode trimming and lowercasing, one RDN at a time.
fn normalize_dn_unicode(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            rdn.split('=')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("=")
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32, dn: Option<&str>) -> User {
        User {
            name: name.into(),
            uid,
            gid: 100,
            dn: dn.map(Into::into),
        }
    }

    #[test]
    fn lookups() {
        let mut d = Directory::new();
        d.add_user(user("alice", 1005, Some("uid=alice,ou=People,dc=x")))
            .unwrap();
        d.add_user(user("bob", 1006, None)).unwrap();
        assert_eq!(d.user("alice").unwrap().uid, 1005);
        assert_eq!(d.user_by_uid(1006).unwrap().name, "bob");
        assert_eq!(
            d.user_by_dn("UID=alice, ou=people,DC=x").unwrap().name,
            "alice"
        );
        assert_eq!(
            d.member(&Member::Dn("uid=alice,ou=people,dc=x".into()))
                .unwrap()
                .uid,
            1005
        );
        assert!(d.member(&Member::Name("carol".into())).is_none());
    }

    #[test]
    fn duplicates() {
        let mut d = Directory::new();
        d.add_user(user("alice", 1005, None)).unwrap();
        d.add_user(user("alice", 1005, None)).unwrap();
        assert_eq!(d.users().len(), 1);
        let err = d.add_user(user("alice", 1007, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user `alice` is defined twice, with uid 1005 and 1007"
        );
        let g = |members: &[&str], gid| Group {
            name: "research".into(),
            gid,
            members: members
                .iter()
                .map(|m| Member::Name(m.to_string()))
                .collect(),
            dn: None,
        };
        d.add_group(g(&["alice"], 3000)).unwrap();
        d.add_group(g(&["bob", "alice"], 3000)).unwrap();
        assert_eq!(d.group("research").unwrap().members.len(), 2);
        assert!(d.add_group(g(&[], 3001)).is_err());
    }

    #[test]
    fn normalize_dn_ascii_matches_the_unicode_way() {
        for (dn, normal) in [
            ("uid=alice,ou=people,dc=x", "uid=alice,ou=people,dc=x"),
            ("UID = Alice , OU=People,DC=X", "uid=alice,ou=people,dc=x"),
            ("\tcn=a\t,dc=x ", "cn=a,dc=x"),
            ("cn=a=b,,dc=x", "cn=a=b,,dc=x"),
            ("", ""),
            (" , = ", ",="),
        ] {
            assert_eq!(normalize_dn(dn), normal, "{dn:?}");
            assert_eq!(normalize_dn_unicode(dn), normal, "{dn:?}");
        }
        // Not ASCII: the Unicode way itself.
        assert_eq!(normalize_dn("CN=ÉMILE,\u{a0}dc=x"), "cn=émile,dc=x");
    }

    #[test]
    fn dn_index_follows_users_added_after_a_lookup() {
        let mut d = Directory::new();
        d.add_user(user("alice", 1005, Some("uid=alice,dc=x")))
            .unwrap();
        assert!(d.user_by_dn("uid=bob,dc=x").is_none());
        d.add_user(user("bob", 1006, Some("uid=bob,dc=x"))).unwrap();
        assert_eq!(d.user_by_dn("UID=bob,dc=x").unwrap().uid, 1006);
        // Two users with one DN: the last one, as before the index was built lazily.
        d.add_user(user("bob2", 1007, Some("uid=bob, dc=x")))
            .unwrap();
        assert_eq!(d.user_by_dn("uid=bob,dc=x").unwrap().uid, 1007);
    }

    #[test]
    fn rejected_entries_come_back_with_the_error() {
        let mut d = Directory::new();
        d.add_user(user("alice", 1005, Some("uid=alice,dc=x")))
            .unwrap();
        let rejected = d
            .try_add_user(user("alice", 2005, Some("cn=alice2,dc=x")))
            .unwrap_err();
        assert_eq!(rejected.0.dn.as_deref(), Some("cn=alice2,dc=x"));
        assert_eq!((rejected.1.first, rejected.1.second), (1005, 2005));
    }

    #[test]
    fn group_seen_twice_merges_members_once_each() {
        let g = |members: &[&str]| Group {
            name: "everyone".into(),
            gid: 9000,
            members: members
                .iter()
                .map(|m| Member::Name(m.to_string()))
                .collect(),
            dn: None,
        };
        let mut d = Directory::new();
        d.add_group(g(&["a", "b"])).unwrap();
        d.add_group(g(&["b", "c", "c", "a", "d"])).unwrap();
        let members: Vec<_> = d
            .group("everyone")
            .unwrap()
            .members
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(members, ["a", "b", "c", "d"]);
    }
}
