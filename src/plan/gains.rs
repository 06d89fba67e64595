//! The owners a container gains, stored compactly: per share it uses, "all of the share's
//! owners" or the indices of the owners it gains, pointing into one table of the shares' owners
//! per plan. A cluster's first plan lists millions of gains (every member of every group of
//! every share, per CT); a copy of the share and owner names per gain was most of `idfed plan`'s
//! memory. Serialized, a gain is still `{"share", "kind", "name", "id"}`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::resolve::{OwnerKind, ResolvedShare};

/// An owner as a gain names it: kind, name, id.
type Entry = (OwnerKind, String, u32);

/// The shares' names and owners, once per plan.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnerTable {
    shares: Vec<(String, Vec<Entry>)>,
}

impl OwnerTable {
    /// The table of `shares`, in their order: a [`Gains`] names a share by its index here.
    pub(crate) fn from_shares(shares: &[ResolvedShare]) -> Self {
        OwnerTable {
            shares: shares
                .iter()
                .map(|s| {
                    let owners = s
                        .owners
                        .iter()
                        .map(|o| (o.kind, o.name.clone(), o.id))
                        .collect();
                    (s.name.clone(), owners)
                })
                .collect(),
        }
    }
}

/// An owner a container gains access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Gain<'a> {
    pub share: &'a str,
    pub kind: OwnerKind,
    pub name: &'a str,
    pub id: u32,
}

/// Which owners of one share are gained.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Owners {
    /// Every owner of the share (a CT that passes none of them through yet).
    All,
    /// These owners, by index; never empty and never all of them.
    Some(Box<[u32]>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ShareGains {
    share: u32,
    owners: Owners,
}

/// The owners one container gains, share by share in the order they were added.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gains {
    table: Arc<OwnerTable>,
    parts: Vec<ShareGains>,
}

impl Gains {
    /// No gains yet, naming owners of `table`.
    pub(crate) fn new(table: Arc<OwnerTable>) -> Self {
        Gains {
            table,
            parts: Vec::new(),
        }
    }

    /// Adds the owners of share `share` (its index in the table) for which `gained` is true.
    pub(crate) fn add_share(
        &mut self,
        share: usize,
        mut gained: impl FnMut(OwnerKind, u32) -> bool,
    ) {
        let owners = &self.table.shares[share].1;
        let picked: Vec<u32> = (0..owners.len())
            .filter(|&i| {
                let (kind, _, id) = owners[i];
                gained(kind, id)
            })
            .map(|i| u32::try_from(i).expect("fewer than 2^32 owners"))
            .collect();
        let owners = if picked.is_empty() {
            return;
        } else if picked.len() == owners.len() {
            Owners::All
        } else {
            Owners::Some(picked.into_boxed_slice())
        };
        self.parts.push(ShareGains {
            share: u32::try_from(share).expect("fewer than 2^32 shares"),
            owners,
        });
    }

    /// Keeps only the gains of share `name`.
    pub(crate) fn retain_share(&mut self, name: &str) {
        let table = &self.table;
        self.parts
            .retain(|p| table.shares[p.share as usize].0 == name);
    }

    /// Are there no gains?
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The gains share by share: the share's name, whether they are every owner of it, and
    /// the gains.
    pub(crate) fn by_share(&self) -> impl Iterator<Item = (&str, bool, GainIter<'_>)> {
        self.parts.iter().map(move |p| {
            let (share, owners) = &self.table.shares[p.share as usize];
            let picked: Box<dyn Iterator<Item = &Entry>> = match &p.owners {
                Owners::All => Box::new(owners.iter()),
                Owners::Some(ix) => Box::new(ix.iter().map(|&i| &owners[i as usize])),
            };
            let gains: GainIter<'_> = Box::new(picked.map(move |(kind, name, id)| Gain {
                share,
                kind: *kind,
                name,
                id: *id,
            }));
            (share.as_str(), matches!(p.owners, Owners::All), gains)
        })
    }

    /// The gains, share by share.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Gain<'_>> {
        self.by_share().flat_map(|(_, _, gains)| gains)
    }
}

/// The gains of one share.
pub(crate) type GainIter<'a> = Box<dyn Iterator<Item = Gain<'a>> + 'a>;
impl PartialEq for Gains {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.table, &other.table) {
            self.parts == other.parts
        } else {
            self.iter().eq(other.iter())
        }
    }
}

impl Eq for Gains {}

/// Consistent with `eq` for gains of one plan (one table), which is where it is used.
impl Hash for Gains {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.hash(state);
    }
}

impl Serialize for Gains {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for g in self.iter() {
            seq.serialize_element(&g)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdSet;
    use crate::resolve::Owner;

    fn table() -> Arc<OwnerTable> {
        let owner = |kind, name: &str, id| Owner {
            kind,
            name: name.into(),
            id,
            source: "files".into(),
        };
        Arc::new(OwnerTable::from_shares(&[
            ResolvedShare {
                name: "a".into(),
                uids: IdSet::new(),
                gids: IdSet::new(),
                owners: vec![
                    owner(OwnerKind::User, "alice", 1005),
                    owner(OwnerKind::Group, "research", 3000),
                ],
            },
            ResolvedShare {
                name: "b".into(),
                uids: IdSet::new(),
                gids: IdSet::new(),
                owners: vec![owner(OwnerKind::User, "bob", 1006)],
            },
        ]))
    }

    #[test]
    fn all_some_none_and_the_json_shape() {
        let t = table();
        let mut g = Gains::new(t.clone());
        g.add_share(0, |kind, _| kind == OwnerKind::Group);
        g.add_share(1, |_, _| true);
        let mut none = Gains::new(t);
        none.add_share(0, |_, _| false);
        assert!(none.is_empty());
        assert_eq!(
            serde_json::to_value(&g).unwrap(),
            serde_json::json!([
                {"share": "a", "kind": "group", "name": "research", "id": 3000},
                {"share": "b", "kind": "user", "name": "bob", "id": 1006},
            ])
        );
        g.retain_share("b");
        assert_eq!(
            g.iter().map(|x| x.name).collect::<Vec<_>>(),
            ["bob"],
            "only share b's"
        );
    }

    #[test]
    fn equal_across_tables_by_content() {
        let (t1, t2) = (table(), table());
        let mut a = Gains::new(t1.clone());
        a.add_share(0, |_, _| true);
        let mut b = Gains::new(t2);
        // All of share a's owners, picked one by one in another table: the same gains.
        b.add_share(0, |_, id| id == 1005 || id == 3000);
        assert_eq!(a, b);
        let mut c = Gains::new(t1);
        c.add_share(0, |_, id| id == 1005);
        assert_ne!(a, c);
    }
}
