//! Id ranges and id sets: the range algebra every other module stands on.
//!
//! One interval rule: an [`IdRange`] is half-open, `[start, end)` on `u32`, never empty. The
//! largest valid id is `u32::MAX - 1` (4294967294): `u32::MAX` is the kernel's "no id" (`-1`), so
//! it can only ever be an exclusive end. An [`IdSet`] is always sorted, disjoint and coalesced
//! (adjacent ranges are one). This module does no I/O and knows nothing about maps or policy
//! (`min_id`, id 0): those rules live in `idmap` and `config`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The exclusive upper bound of every id: `u32::MAX` itself is not an id.
pub const ID_LIMIT: u32 = u32::MAX;

/// User ids or group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    /// Both kinds, uids first (the order maps and subid files are printed in).
    pub const ALL: [IdKind; 2] = [IdKind::Uid, IdKind::Gid];

    /// The letter LXC uses in `lxc.idmap` lines: `u` or `g`.
    pub fn letter(self) -> char {
        match self {
            IdKind::Uid => 'u',
            IdKind::Gid => 'g',
        }
    }

    /// The letter parsed back: `u` or `g`.
    pub fn from_letter(letter: &str) -> Option<IdKind> {
        match letter {
            "u" => Some(IdKind::Uid),
            "g" => Some(IdKind::Gid),
            _ => None,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        })
    }
}

/// Why a range could not be built or parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{input}` is not an id: expected a number like `1005` or a range like `2000-2010`")]
    NotANumber { input: String },
    #[error("`{input}` is too large: ids go up to {max}", max = ID_LIMIT - 1)]
    TooLarge { input: String },
    #[error("`{input}` is reversed: a range is written low-high, like `2000-2010`")]
    Reversed { input: String },
    #[error("an id range starting at {start} with {count} ids is empty or passes {max}", max = ID_LIMIT - 1)]
    BadExtent { start: u64, count: u64 },
}

/// A non-empty half-open range of ids `[start, end)`, `end <= u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdRange {
    start: u32,
    end: u32,
}

impl IdRange {
    /// The range `[start, end)`, or `None` when it is empty.
    pub fn new(start: u32, end: u32) -> Option<IdRange> {
        (start < end).then_some(IdRange { start, end })
    }

    /// The single id `id`.
    ///
    /// # Errors
    /// When `id` is `u32::MAX`, which is not an id.
    pub fn single(id: u32) -> Result<IdRange, IdError> {
        IdRange::with_count(u64::from(id), 1)
    }

    /// `count` ids from `start` on.
    ///
    /// # Errors
    /// When `count` is 0 or the range would pass the last id.
    pub fn with_count(start: u64, count: u64) -> Result<IdRange, IdError> {
        let end = start.checked_add(count);
        match end {
            Some(end) if count > 0 && end <= u64::from(ID_LIMIT) => Ok(IdRange {
                start: start as u32,
                end: end as u32,
            }),
            _ => Err(IdError::BadExtent { start, count }),
        }
    }

    /// The first id.
    pub fn start(self) -> u32 {
        self.start
    }

    /// One past the last id.
    pub fn end(self) -> u32 {
        self.end
    }

    /// The last id (inclusive).
    pub fn last(self) -> u32 {
        self.end - 1
    }

    /// How many ids; never 0.
    pub fn count(self) -> u32 {
        self.end - self.start
    }

    /// Is `id` in the range?
    pub fn contains(self, id: u32) -> bool {
        self.start <= id && id < self.end
    }

    /// Do the two ranges share an id?
    pub fn overlaps(self, other: IdRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Do the two ranges overlap or touch (so their union is one range)?
    pub fn touches(self, other: IdRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The ids in both, if any.
    pub fn intersection(self, other: IdRange) -> Option<IdRange> {
        IdRange::new(self.start.max(other.start), self.end.min(other.end))
    }

    /// Does `self` hold every id of `other`?
    pub fn covers(self, other: IdRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// `1005` for one id, `2000-2010` (inclusive, as administrators write it) for more.
impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count() == 1 {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.last())
        }
    }
}

/// Why a decimal number could not be read by [`parse_id`] or [`parse_u32`]; keeps the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseIdError {
    #[error("`{input}` is not a decimal number: expected digits only, like `1005`")]
    NotDecimal { input: String },
    #[error("`{input}` is too large: expected at most {max}")]
    TooLarge { input: String, max: u32 },
}

/// Reads an id written in decimal: `0` to `4294967294` (`u32::MAX` is the kernel's "no id").
///
/// The one reader of ids from text (passwd/group, LDAP attributes, config, `IDSPEC`). Digits only:
/// no sign (`+1005`, `-1`), no whitespace, no base prefix. Leading zeros are decimal (`01005` is
/// 1005), as glibc reads passwd (`strtoul` in base 10); `/etc/subuid` is not read with this (shadow
/// auto-detects the base there, so `01005` is octal: see `subid`).
///
/// # Errors
/// [`ParseIdError::NotDecimal`] for anything but ASCII digits (also the empty text),
/// [`ParseIdError::TooLarge`] above `4294967294`.
#[inline]
pub(crate) fn parse_id(text: &str) -> Result<u32, ParseIdError> {
    parse_decimal(text, ID_LIMIT - 1)
}

/// Reads a decimal `u32` up to `u32::MAX` itself: a count or an `lxc.idmap` field, where
/// `4294967295` is meaningful (`u 0 0 4294967295` maps every id). Same syntax as [`parse_id`].
///
/// # Errors
/// As [`parse_id`], with `4294967295` as the largest value.
pub(crate) fn parse_u32(text: &str) -> Result<u32, ParseIdError> {
    parse_decimal(text, u32::MAX)
}

#[inline]
fn parse_decimal(text: &str, max: u32) -> Result<u32, ParseIdError> {
    // One pass: the digits are checked and summed together (checking first and then `parse`
    // read each id twice, and ids are read by the hundred thousand from passwd files).
    let not_decimal = || ParseIdError::NotDecimal {
        input: text.to_string(),
    };
    if text.is_empty() {
        return Err(not_decimal());
    }
    let mut value = 0u64;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return Err(not_decimal());
        }
        // Held at `u32::MAX + 1`, above every `max`, once larger: the rest is still checked for
        // digits.
        value = (value * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX) + 1);
    }
    match u32::try_from(value) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ParseIdError::TooLarge {
            input: text.to_string(),
            max,
        }),
    }
}

/// One end of a range: the error names the whole range text.
fn range_end(part: &str, input: &str) -> Result<u32, IdError> {
    parse_id(part).map_err(|e| match e {
        ParseIdError::NotDecimal { .. } => IdError::NotANumber {
            input: input.to_string(),
        },
        ParseIdError::TooLarge { .. } => IdError::TooLarge {
            input: input.to_string(),
        },
    })
}

/// Parses `1005` or the inclusive range `2000-2010`.
impl FromStr for IdRange {
    type Err = IdError;

    fn from_str(input: &str) -> Result<IdRange, IdError> {
        let (lo, hi) = match input.split_once('-') {
            Some((lo, hi)) => (range_end(lo, input)?, range_end(hi, input)?),
            None => {
                let id = range_end(input, input)?;
                (id, id)
            }
        };
        if lo > hi {
            return Err(IdError::Reversed {
                input: input.to_string(),
            });
        }
        // hi < ID_LIMIT, so hi + 1 cannot overflow.
        Ok(IdRange {
            start: lo,
            end: hi + 1,
        })
    }
}

/// JSON shape `{"start": 1005, "count": 1}` (DESIGN.md section 5, `range`).
impl Serialize for IdRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("IdRange", 2)?;
        s.serialize_field("start", &self.start)?;
        s.serialize_field("count", &self.count())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for IdRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IdRange, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            start: u64,
            count: u64,
        }
        let raw = Raw::deserialize(deserializer)?;
        IdRange::with_count(raw.start, raw.count).map_err(serde::de::Error::custom)
    }
}

/// A set of ids: sorted, disjoint, coalesced ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<IdRange>", into = "Vec<IdRange>")]
pub struct IdSet {
    ranges: Vec<IdRange>,
}

impl From<Vec<IdRange>> for IdSet {
    fn from(ranges: Vec<IdRange>) -> IdSet {
        ranges.into_iter().collect()
    }
}

impl From<IdSet> for Vec<IdRange> {
    fn from(set: IdSet) -> Vec<IdRange> {
        set.ranges
    }
}

impl From<IdRange> for IdSet {
    fn from(range: IdRange) -> IdSet {
        IdSet {
            ranges: vec![range],
        }
    }
}

impl FromIterator<IdRange> for IdSet {
    fn from_iter<I: IntoIterator<Item = IdRange>>(iter: I) -> IdSet {
        let mut ranges: Vec<IdRange> = iter.into_iter().collect();
        ranges.sort_unstable();
        IdSet {
            ranges: coalesce_sorted(ranges),
        }
    }
}

impl Extend<IdRange> for IdSet {
    fn extend<I: IntoIterator<Item = IdRange>>(&mut self, iter: I) {
        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.extend(iter);
        // The set's own ranges are one sorted run, and what is added is often another (a map
        // fit's closed gaps): the stable sort finds the runs and merges them in linear time.
        ranges.sort();
        self.ranges = coalesce_sorted(ranges);
    }
}

/// Merges overlapping and touching neighbours of a sorted list.
fn coalesce_sorted(ranges: Vec<IdRange>) -> Vec<IdRange> {
    let mut out: Vec<IdRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if last.touches(r) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// One value per id kind (`uid`, `gid`), indexed by [`IdKind`]: instead of twin fields or a pair
/// indexed by position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByKind<T> {
    pub uid: T,
    pub gid: T,
}

impl<T> ByKind<T> {
    /// The value of each kind, from `f`.
    pub fn from_fn(mut f: impl FnMut(IdKind) -> T) -> ByKind<T> {
        ByKind {
            uid: f(IdKind::Uid),
            gid: f(IdKind::Gid),
        }
    }

    /// Each value through `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> ByKind<U> {
        ByKind {
            uid: f(self.uid),
            gid: f(self.gid),
        }
    }
}

/// Both values with their kind, uid first.
impl<T> IntoIterator for ByKind<T> {
    type Item = (IdKind, T);
    type IntoIter = std::array::IntoIter<(IdKind, T), 2>;

    fn into_iter(self) -> Self::IntoIter {
        [(IdKind::Uid, self.uid), (IdKind::Gid, self.gid)].into_iter()
    }
}

impl<T> std::ops::Index<IdKind> for ByKind<T> {
    type Output = T;
    fn index(&self, kind: IdKind) -> &T {
        match kind {
            IdKind::Uid => &self.uid,
            IdKind::Gid => &self.gid,
        }
    }
}

impl<T> std::ops::IndexMut<IdKind> for ByKind<T> {
    fn index_mut(&mut self, kind: IdKind) -> &mut T {
        match kind {
            IdKind::Uid => &mut self.uid,
            IdKind::Gid => &mut self.gid,
        }
    }
}

#[cfg(test)]
impl IdSet {
    /// A set from `(start, count)` pairs: the tests' shorthand.
    pub fn of_counts(ranges: &[(u32, u32)]) -> IdSet {
        ranges
            .iter()
            .map(|&(s, c)| IdRange::with_count(u64::from(s), u64::from(c)).unwrap())
            .collect()
    }
}

impl IdSet {
    /// The empty set.
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// The sorted, disjoint, coalesced ranges.
    pub fn ranges(&self) -> &[IdRange] {
        &self.ranges
    }

    /// Has the set no id?
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many ids (up to 2^32, hence `u64`).
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| u64::from(r.count())).sum()
    }

    /// Adds the ids of `range`.
    pub fn insert(&mut self, range: IdRange) {
        // Find the run of ranges that touch `range` and replace it by their union.
        let lo = self.ranges.partition_point(|r| r.end < range.start);
        let hi = self.ranges.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if lo < hi {
            merged.start = merged.start.min(self.ranges[lo].start);
            merged.end = merged.end.max(self.ranges[hi - 1].end);
        }
        self.ranges.splice(lo..hi, [merged]);
    }

    /// Adds one id.
    ///
    /// # Panics
    /// Never for a valid id; `u32::MAX` is not one and is ignored in release, asserted in debug.
    pub fn insert_id(&mut self, id: u32) {
        debug_assert!(id < ID_LIMIT, "u32::MAX is not an id");
        if let Ok(r) = IdRange::single(id) {
            self.insert(r);
        }
    }

    /// Is `id` in the set?
    pub fn contains(&self, id: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= id);
        self.ranges.get(i).is_some_and(|r| r.contains(id))
    }

    /// Does the set hold every id of `range`?
    pub fn covers(&self, range: IdRange) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(i).is_some_and(|r| r.covers(range))
    }

    /// Does the set hold every id of `other`?
    pub fn is_superset(&self, other: &IdSet) -> bool {
        other.ranges.iter().all(|&r| self.covers(r))
    }

    /// Does the set share an id with `range`?
    pub fn overlaps(&self, range: IdRange) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(i).is_some_and(|r| r.overlaps(range))
    }

    /// The ids in either set.
    pub fn union(&self, other: &IdSet) -> IdSet {
        let mut all = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        // Merge two sorted lists, then coalesce: linear.
        let (mut a, mut b) = (
            self.ranges.iter().peekable(),
            other.ranges.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            all.extend(next.copied());
        }
        IdSet {
            ranges: coalesce_sorted(all),
        }
    }

    /// The ids in `self` but not in `other`.
    pub fn difference(&self, other: &IdSet) -> IdSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &r in &self.ranges {
            let mut start = r.start;
            while j < other.ranges.len() && other.ranges[j].end <= start {
                j += 1;
            }
            let mut k = j;
            while start < r.end {
                match other.ranges.get(k) {
                    Some(o) if o.start < r.end => {
                        if o.start > start {
                            out.push(IdRange {
                                start,
                                end: o.start,
                            });
                        }
                        start = start.max(o.end);
                        k += 1;
                    }
                    _ => {
                        out.push(IdRange { start, end: r.end });
                        break;
                    }
                }
            }
        }
        IdSet { ranges: out }
    }

    /// The ids in both sets.
    pub fn intersection(&self, other: &IdSet) -> IdSet {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            if let Some(x) = a.intersection(b) {
                out.push(x);
            }
            if a.end <= b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        IdSet { ranges: out }
    }

    /// The ids of `self` that lie in `range`.
    pub fn clip(&self, range: IdRange) -> IdSet {
        self.intersection(&IdSet::from(range))
    }

    /// The smallest id, if any.
    pub fn first(&self) -> Option<u32> {
        self.ranges.first().map(|r| r.start)
    }

    /// Every id in order (for tests and small sets; sets may hold billions).
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|r| r.start..r.end)
    }
}

/// `1005,2000-2010`; `-` for the empty set.
/// `uids 1005, gids 3000`: the non-empty sets of a pair, for messages; `None` when both are empty.
pub(crate) fn uids_gids(uids: &IdSet, gids: &IdSet) -> Option<String> {
    let parts: Vec<String> = [("uids", uids), ("gids", gids)]
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(label, set)| format!("{label} {set}"))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl fmt::Display for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("-");
        }
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn r(start: u32, end: u32) -> IdRange {
        IdRange::new(start, end).unwrap()
    }

    #[test]
    fn parse_table() {
        let ok = [
            ("1005", (1005, 1006)),
            ("0", (0, 1)),
            ("2000-2010", (2000, 2011)),
            ("7-7", (7, 8)),
            ("4294967294", (4294967294, 4294967295)),
            ("4294967293-4294967294", (4294967293, 4294967295)),
            ("01005", (1005, 1006)),
        ];
        for (input, (s, e)) in ok {
            assert_eq!(input.parse::<IdRange>(), Ok(r(s, e)), "{input}");
        }
        let bad = [
            ("abc", "not an id"),
            ("", "not an id"),
            ("-5", "not an id"),
            ("5-", "not an id"),
            ("+5", "not an id"),
            ("1 2", "not an id"),
            (" 1005", "not an id"),
            ("2000 - 2010", "not an id"),
            ("4294967295", "too large"),
            ("1-4294967295", "too large"),
            ("99999999999999999999", "too large"),
            ("3000-2000", "reversed"),
            ("2001-2000", "reversed"),
        ];
        for (input, want) in bad {
            let err = input.parse::<IdRange>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
            assert!(err.contains(&format!("`{input}`")), "{input}: {err}");
        }
    }

    #[test]
    fn parse_id_boundaries() {
        use ParseIdError::*;
        let not = |s: &str| NotDecimal {
            input: s.to_string(),
        };
        let big = |s: &str, max| TooLarge {
            input: s.to_string(),
            max,
        };
        type Parsed = Result<u32, ParseIdError>;
        // The text, then what parse_id and parse_u32 make of it.
        let table: [(&str, Parsed, Parsed); 17] = [
            ("1005", Ok(1005), Ok(1005)),
            ("1006", Ok(1006), Ok(1006)),
            ("0", Ok(0), Ok(0)),
            // Leading zeros are decimal, never octal.
            ("01005", Ok(1005), Ok(1005)),
            ("010", Ok(10), Ok(10)),
            ("00000000000000000001", Ok(1), Ok(1)),
            ("4294967294", Ok(4294967294), Ok(4294967294)),
            (
                "4294967295",
                Err(big("4294967295", 4294967294)),
                Ok(u32::MAX),
            ),
            (
                "4294967296",
                Err(big("4294967296", 4294967294)),
                Err(big("4294967296", u32::MAX)),
            ),
            (
                "99999999999999999999",
                Err(big("99999999999999999999", 4294967294)),
                Err(big("99999999999999999999", u32::MAX)),
            ),
            ("+1005", Err(not("+1005")), Err(not("+1005"))),
            ("-1", Err(not("-1")), Err(not("-1"))),
            ("", Err(not("")), Err(not(""))),
            (" 1005", Err(not(" 1005")), Err(not(" 1005"))),
            ("1005\n", Err(not("1005\n")), Err(not("1005\n"))),
            ("0x10", Err(not("0x10")), Err(not("0x10"))),
            // Not a number, though too large before its letter.
            (
                "99999999999x",
                Err(not("99999999999x")),
                Err(not("99999999999x")),
            ),
        ];
        for (input, id, n) in table {
            assert_eq!(parse_id(input), id, "parse_id {input:?}");
            assert_eq!(parse_u32(input), n, "parse_u32 {input:?}");
        }
        let err = parse_id("+1005").unwrap_err().to_string();
        assert_eq!(
            err,
            "`+1005` is not a decimal number: expected digits only, like `1005`"
        );
        let err = parse_id("4294967295").unwrap_err().to_string();
        assert_eq!(
            err,
            "`4294967295` is too large: expected at most 4294967294"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["1005", "2000-2010", "0", "4294967294", "65535-65536"] {
            assert_eq!(s.parse::<IdRange>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn with_count_boundaries() {
        assert_eq!(
            IdRange::with_count(100000, 65536).unwrap(),
            r(100000, 165536)
        );
        assert_eq!(
            IdRange::with_count(u64::from(u32::MAX) - 1, 1).unwrap(),
            r(u32::MAX - 1, u32::MAX)
        );
        assert!(IdRange::with_count(u64::from(u32::MAX), 1).is_err());
        assert!(IdRange::with_count(u64::from(u32::MAX) - 1, 2).is_err());
        assert!(IdRange::with_count(5, 0).is_err());
        assert!(IdRange::single(u32::MAX).is_err());
        assert_eq!(IdRange::single(u32::MAX - 1).unwrap().count(), 1);
    }

    #[test]
    fn range_predicates() {
        let a = r(100000, 165536);
        assert!(a.contains(100000) && a.contains(165535));
        assert!(!a.contains(99999) && !a.contains(165536));
        assert!(a.overlaps(r(165535, 165536)));
        assert!(!a.overlaps(r(165536, 165537)));
        assert!(a.touches(r(165536, 165537)));
        assert!(!a.touches(r(165537, 165538)));
        assert!(a.covers(r(100000, 165536)));
        assert!(!a.covers(r(99999, 100001)));
    }

    #[test]
    fn set_insert_coalesces() {
        let mut s = IdSet::new();
        s.insert(r(10, 20));
        s.insert(r(30, 40));
        assert_eq!(s.ranges(), &[r(10, 20), r(30, 40)]);
        s.insert(r(20, 30)); // touches both
        assert_eq!(s.ranges(), &[r(10, 40)]);
        s.insert(r(5, 6));
        s.insert(r(41, 42));
        assert_eq!(s.ranges(), &[r(5, 6), r(10, 40), r(41, 42)]);
        s.insert(r(0, 100));
        assert_eq!(s.ranges(), &[r(0, 100)]);
        assert_eq!(s.len(), 100);
    }

    #[test]
    fn set_contains_covers_boundaries() {
        let s: IdSet = [r(1005, 1006), r(2000, 2011)].into_iter().collect();
        assert!(s.contains(1005) && !s.contains(1004) && !s.contains(1006));
        assert!(s.contains(2010) && !s.contains(2011));
        assert!(s.covers(r(2000, 2011)) && !s.covers(r(2000, 2012)));
        assert!(!s.covers(r(1005, 2001)));
        assert!(s.overlaps(r(1000, 1006)) && !s.overlaps(r(1006, 2000)));
        assert_eq!(s.to_string(), "1005,2000-2010");
        assert_eq!(IdSet::new().to_string(), "-");
    }

    #[test]
    fn set_json_shape() {
        let s: IdSet = [r(1005, 1006), r(2000, 2011)].into_iter().collect();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"[{"start":1005,"count":1},{"start":2000,"count":11}]"#
        );
        let back: IdSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<IdSet>(r#"[{"start":4294967295,"count":1}]"#).is_err());
    }

    fn model(s: &IdSet) -> BTreeSet<u32> {
        s.ids().collect()
    }

    fn arb_set() -> impl Strategy<Value = IdSet> {
        prop::collection::vec((0u32..200, 1u32..20), 0..8)
            .prop_map(|v| v.into_iter().map(|(s, c)| r(s, s + c)).collect())
    }

    fn is_canonical(s: &IdSet) -> bool {
        s.ranges().windows(2).all(|w| w[0].end < w[1].start)
    }

    proptest! {
        #[test]
        fn algebra_matches_model(a in arb_set(), b in arb_set()) {
            let (ma, mb) = (model(&a), model(&b));
            let u = a.union(&b);
            let d = a.difference(&b);
            let i = a.intersection(&b);
            prop_assert!(is_canonical(&a) && is_canonical(&u) && is_canonical(&d) && is_canonical(&i));
            prop_assert_eq!(model(&u), ma.union(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(model(&d), ma.difference(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(model(&i), ma.intersection(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(u.len(), ma.union(&mb).count() as u64);
            for id in 0..230 {
                prop_assert_eq!(a.contains(id), ma.contains(&id));
            }
            prop_assert_eq!(a.is_superset(&b), mb.is_subset(&ma));
            let mut ins = a.clone();
            for &rg in b.ranges() { ins.insert(rg); }
            prop_assert_eq!(&ins, &u);
            // Extending by the other set's ranges, in order and backwards (one sorted run, or
            // none), is the union too.
            let mut ext = a.clone();
            ext.extend(b.ranges().iter().copied());
            prop_assert_eq!(&ext, &u);
            let mut ext = a.clone();
            ext.extend(b.ranges().iter().rev().copied());
            prop_assert_eq!(&ext, &u);
        }
    }
}
