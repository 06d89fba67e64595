//! The per-id tally of a walk: entries and bytes per uid and per gid. Pure: the walk feeds it one
//! entry's owner and size at a time, and merges the tallies of its threads at the end.

use foldhash::HashMap;

/// Entries and bytes (apparent sizes, as `find -printf %s` reads them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Count {
    pub entries: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.entries += other.entries;
        self.bytes += other.bytes;
    }
}

/// What a walk found, per uid and per gid, and in all.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub uids: HashMap<u32, Count>,
    pub gids: HashMap<u32, Count>,
    pub total: Count,
}

impl Tally {
    /// Counts one entry owned by `uid`:`gid` of `bytes` bytes.
    pub(crate) fn add(&mut self, uid: u32, gid: u32, bytes: u64) {
        let one = Count { entries: 1, bytes };
        self.uids.entry(uid).or_default().add(one);
        self.gids.entry(gid).or_default().add(one);
        self.total.add(one);
    }

    /// Adds another tally (another thread's) to this one.
    pub(crate) fn merge(&mut self, other: Tally) {
        for (id, c) in other.uids {
            self.uids.entry(id).or_default().add(c);
        }
        for (id, c) in other.gids {
            self.gids.entry(id).or_default().add(c);
        }
        self.total.add(other.total);
    }
}

#[cfg(test)]
mod tests {
    use super::{Count, Tally};

    #[test]
    fn add_and_merge_sum_per_id_and_in_all() {
        let mut a = Tally::default();
        a.add(1005, 3000, 10);
        a.add(1005, 1005, 0);
        let mut b = Tally::default();
        b.add(1005, 3000, 5);
        b.add(u32::MAX - 1, 0, u64::from(u32::MAX));
        a.merge(b);
        assert_eq!(
            a.uids[&1005],
            Count {
                entries: 3,
                bytes: 15
            }
        );
        assert_eq!(a.uids[&(u32::MAX - 1)].bytes, u64::from(u32::MAX));
        assert_eq!(
            a.gids[&3000],
            Count {
                entries: 2,
                bytes: 15
            }
        );
        assert_eq!(
            a.gids[&1005],
            Count {
                entries: 1,
                bytes: 0
            }
        );
        assert_eq!(a.gids[&0].entries, 1);
        assert_eq!(
            a.total,
            Count {
                entries: 4,
                bytes: 15 + u64::from(u32::MAX)
            }
        );
        // Every entry is counted once per kind.
        assert_eq!(
            a.uids.values().map(|c| c.entries).sum::<u64>(),
            a.total.entries
        );
        assert_eq!(a.gids.values().map(|c| c.bytes).sum::<u64>(), a.total.bytes);
    }
}
