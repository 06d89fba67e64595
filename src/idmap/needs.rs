//! What a map needs from the host and what it grants: its passthroughs, its outside (host) ids, and
//! the `owner:start:count` subid entries root needs for them.
//!
//! Owns the [`Subid`] value (one entry). Reading, checking coverage against and merging into
//! `/etc/subuid` / `/etc/subgid` belong to the `subid` module, not here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{IdRange, IdSet};

use super::extent::Extent;

/// One subordinate-id entry, `root:1005:1`; JSON `{"owner": "root", "start": 1005, "count": 1}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subid {
    pub owner: String,
    pub start: u32,
    pub count: u32,
}

impl Subid {
    /// The entry giving `owner` the ids of `range`.
    pub fn new(owner: &str, range: IdRange) -> Subid {
        Subid {
            owner: owner.to_string(),
            start: range.start(),
            count: range.count(),
        }
    }

    /// The ids it grants, or `None` when the count is 0 or it runs past the last id.
    pub fn range(&self) -> Option<IdRange> {
        IdRange::with_count(u64::from(self.start), u64::from(self.count)).ok()
    }
}

/// The line as written in `/etc/subuid`: `root:1005:1`.
impl fmt::Display for Subid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.owner, self.start, self.count)
    }
}

/// The ids the map passes through: host ids that extents map to themselves.
pub fn passthroughs(extents: &[Extent]) -> IdSet {
    extents
        .iter()
        .filter(|e| e.is_passthrough())
        .filter_map(Extent::outside_range)
        .collect()
}

/// The host id inside id `inside` maps to, if any.
#[cfg(test)]
pub(crate) fn host_id(extents: &[Extent], inside: u32) -> Option<u32> {
    extents.iter().find_map(|e| {
        e.inside_range()
            .filter(|r| r.contains(inside))
            .map(|_| e.outside + (inside - e.inside))
    })
}

/// Every host id of the map, coalesced: what the subid owner's entries must cover for newuidmap
/// to accept it.
pub fn outside_ranges(extents: &[Extent]) -> IdSet {
    extents.iter().filter_map(Extent::outside_range).collect()
}

/// Every inside id of the map, coalesced.
pub fn inside_ranges(extents: &[Extent]) -> IdSet {
    extents.iter().filter_map(Extent::inside_range).collect()
}

/// One entry per range of `ids`, for `owner`.
pub fn subids(ids: &IdSet, owner: &str) -> Vec<Subid> {
    ids.ranges().iter().map(|&r| Subid::new(owner, r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdKind;

    fn seed() -> Vec<Extent> {
        ["u 0 100000 1005", "u 1005 1005 1", "u 1006 101006 64530"]
            .iter()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    #[test]
    fn seed_needs() {
        let m = seed();
        assert_eq!(passthroughs(&m).to_string(), "1005");
        assert_eq!(
            outside_ranges(&m).to_string(),
            "1005,100000-101004,101006-165535"
        );
        assert_eq!(host_id(&m, 0), Some(100000));
        assert_eq!(host_id(&m, 1005), Some(1005));
        assert_eq!(host_id(&m, 1006), Some(101006));
        assert_eq!(host_id(&m, 65535), Some(165535));
        assert_eq!(host_id(&m, 65536), None);
        let lines = subids(&passthroughs(&m), "root");
        assert_eq!(lines, [Subid::new("root", IdRange::single(1005).unwrap())]);
        assert_eq!(lines[0].to_string(), "root:1005:1");
        assert_eq!(
            serde_json::to_string(&lines[0]).unwrap(),
            r#"{"owner":"root","start":1005,"count":1}"#
        );
    }

    #[test]
    fn subids_of_passthroughs_coalesce_across_extents() {
        // Two passthrough extents that touch on the host side but not inside cannot exist in a
        // valid map, but neighbouring passthroughs split by nothing still print as one line.
        let k = IdKind::Gid;
        let m = [
            Extent::new(k, 0, 100000, 2000),
            Extent::new(k, 2000, 2000, 11),
            Extent::new(k, 2011, 2011, 4),
            Extent::new(k, 3000, 3000, 1),
        ];
        let lines: Vec<String> = subids(&passthroughs(&m), "idfed")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(lines, ["idfed:2000:15", "idfed:3000:1"]);
    }
}
