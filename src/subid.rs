//! `/etc/subuid` and `/etc/subgid`: lossless parse, coverage test, additive merge.
//!
//! Each line is `owner:start:count` (owner a name or a numeric uid). shadow-utils ignores lines it
//! cannot parse; idfed keeps them byte for byte and reports them as warnings with their line
//! numbers. Coverage follows newuidmap: an owner's ids may come from several lines, overlapping or
//! not, found by name or by the owner's numeric uid. The edits are appending lines for what is
//! missing and removing one whole entry line that the caller knows idfed appended itself
//! (`apply --prune`): other lines are never changed or reordered. No I/O here.

use std::fmt;

use crate::ids::{ID_LIMIT, IdRange, IdSet};
use crate::lines::{self, Eol, RawLine};

pub use crate::idmap::Subid;
use crate::idmap::subids;

/// A line shadow-utils would ignore: kept as it is, reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubidWarning {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
}

impl fmt::Display for SubidWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: `{}` is not a subordinate id entry: expected `owner:start:count`, like `root:100000:65536` (kept, ignored)",
            self.line, self.text
        )
    }
}

/// A parsed entry line. Numbers are kept as read (up to `u64`); coverage clips them to ids.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SubidEntry {
    owner: String,
    start: u64,
    count: u64,
}

impl SubidEntry {
    /// The ids the line grants, clipped to valid ids; `None` when it grants none.
    fn range(&self) -> Option<IdRange> {
        let limit = u64::from(ID_LIMIT);
        let end = self.start.saturating_add(self.count).min(limit);
        let start = self.start.min(limit);
        IdRange::new(start as u32, end as u32)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Entry(SubidEntry),
    Malformed,
}

/// A subuid or subgid file that renders back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubidFile {
    lines: Vec<(RawLine, Kind)>,
}

fn parse_number(field: &str) -> Option<u64> {
    (!field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()))
        .then(|| field.parse().ok())
        .flatten()
}

fn parse_entry(text: &str) -> Option<SubidEntry> {
    let mut fields = text.split(':');
    let (Some(owner), Some(start), Some(count), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    if owner.is_empty() {
        return None;
    }
    Some(SubidEntry {
        owner: owner.to_string(),
        start: parse_number(start)?,
        count: parse_number(count)?,
    })
}

impl SubidFile {
    /// Parses a subuid/subgid file. Never fails: unreadable lines are kept and listed by
    /// [`SubidFile::warnings`].
    pub fn parse(text: &str) -> SubidFile {
        let lines = lines::split(text)
            .into_iter()
            .map(|raw| {
                let kind = if raw.text.trim().is_empty() {
                    Kind::Blank
                } else if raw.text.trim_start().starts_with('#') {
                    Kind::Comment
                } else {
                    parse_entry(&raw.text).map_or(Kind::Malformed, Kind::Entry)
                };
                (raw, kind)
            })
            .collect();
        SubidFile { lines }
    }

    /// The file's text: byte-identical to the parsed text until something is appended.
    pub fn render(&self) -> String {
        self.lines.iter().map(|(raw, _)| raw.to_string()).collect()
    }

    /// Every entry line, in file order.
    fn entries(&self) -> impl Iterator<Item = &SubidEntry> {
        self.lines.iter().filter_map(|(_, k)| match k {
            Kind::Entry(e) => Some(e),
            _ => None,
        })
    }

    /// The lines shadow-utils would ignore.
    pub fn warnings(&self) -> Vec<SubidWarning> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, (_, k))| *k == Kind::Malformed)
            .map(|(i, (raw, _))| SubidWarning {
                line: i + 1,
                text: raw.text.clone(),
            })
            .collect()
    }

    /// The ids granted to `owner`: lines naming it, and lines naming its numeric `uid` when given
    /// (newuidmap accepts both; pass `Some(0)` for root).
    pub fn covered(&self, owner: &str, uid: Option<u32>) -> IdSet {
        let uid = uid.map(|u| u.to_string());
        self.entries()
            .filter(|e| e.owner == owner || uid.as_deref() == Some(e.owner.as_str()))
            .filter_map(SubidEntry::range)
            .collect()
    }

    /// The ids of `needs` that `owner` is not granted.
    pub fn missing(&self, owner: &str, uid: Option<u32>, needs: &IdSet) -> IdSet {
        needs.difference(&self.covered(owner, uid))
    }

    /// Appends one `owner:start:count` line per range of `ids` (coalesced, ascending), in the
    /// file's line ending, after a newline when the file lacks a final one. Returns the entries
    /// added; nothing changes when `ids` is empty.
    pub fn append(&mut self, owner: &str, ids: &IdSet) -> Vec<Subid> {
        let added = subids(ids, owner);
        if added.is_empty() {
            return added;
        }
        let eol = lines::file_eol(self.lines.iter().map(|(r, _)| r));
        if let Some((last, _)) = self.lines.last_mut()
            && last.eol == Eol::None
        {
            last.eol = eol;
        }
        for s in &added {
            let entry = SubidEntry {
                owner: s.owner.clone(),
                start: u64::from(s.start),
                count: u64::from(s.count),
            };
            self.lines
                .push((RawLine::new(s.to_string(), eol), Kind::Entry(entry)));
        }
        added
    }

    /// Does the file hold the entry line `owner:start:count`, exactly as idfed writes it?
    pub fn has_line(&self, line: &Subid) -> bool {
        let text = line.to_string();
        self.lines
            .iter()
            .any(|(raw, k)| matches!(k, Kind::Entry(_)) && raw.text == text)
    }

    /// Removes the last entry line whose text is exactly `owner:start:count`; every other line
    /// keeps its bytes and order. Returns whether a line was removed. Only for lines idfed
    /// appended itself (the last occurrence: idfed appends at the end).
    pub fn remove_line(&mut self, line: &Subid) -> bool {
        let text = line.to_string();
        let Some(i) = self
            .lines
            .iter()
            .rposition(|(raw, k)| matches!(k, Kind::Entry(_)) && raw.text == text)
        else {
            return false;
        };
        let (removed, _) = self.lines.remove(i);
        if i == self.lines.len()
            && removed.eol == Eol::None
            && let Some((last, _)) = self.lines.last_mut()
        {
            // The removed line was the unterminated last one: the file keeps ending as it did.
            last.eol = Eol::None;
        }
        true
    }

    /// Appends lines for the ids of `needs` that `owner` lacks; returns them. A file that already
    /// covers `needs` is left byte-identical.
    pub fn merge(&mut self, owner: &str, uid: Option<u32>, needs: &IdSet) -> Vec<Subid> {
        let missing = self.missing(owner, uid, needs);
        self.append(owner, &missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u32, u32)]) -> IdSet {
        IdSet::of_counts(ranges)
    }

    #[test]
    fn round_trips_and_warns() {
        let text = "# managed by hand\r\nroot:100000:65536\r\n\r\nalice:165536:65536\r\nbroken line\r\nroot:1005\r\n:1:2\r\nroot:1:2:3\r\nroot:x:1\r\nroot: 1:1";
        let f = SubidFile::parse(text);
        assert_eq!(f.render(), text);
        let warned: Vec<usize> = f.warnings().iter().map(|w| w.line).collect();
        assert_eq!(warned, vec![5, 6, 7, 8, 9, 10]);
        assert_eq!(
            f.warnings()[0].to_string(),
            "line 5: `broken line` is not a subordinate id entry: expected `owner:start:count`, like `root:100000:65536` (kept, ignored)"
        );
        assert_eq!(f.entries().count(), 2);
    }

    #[test]
    fn coverage_spans_lines_and_owner_spellings() {
        let f = SubidFile::parse(
            "root:100000:500\nroot:100500:500\nalice:101000:10\n0:101000:5\nroot:1005:1\n",
        );
        // Split lines cover a range together (newuidmap's have_range).
        assert_eq!(f.covered("root", None), set(&[(1005, 1), (100000, 1000)]));
        // The numeric uid counts for root too.
        assert_eq!(
            f.covered("root", Some(0)),
            set(&[(1005, 1), (100000, 1005)])
        );
        let needs = set(&[(1004, 3), (100000, 1006)]);
        assert_eq!(
            f.missing("root", Some(0), &needs),
            set(&[(1004, 1), (1006, 1), (101005, 1)])
        );
        assert!(
            f.missing("root", Some(0), &set(&[(100000, 1005)]))
                .is_empty()
        );
        assert_eq!(f.covered("bob", None), IdSet::new());
    }

    #[test]
    fn boundary_pairs() {
        let f = SubidFile::parse("root:100000:65536\n");
        for (start, count, missing) in [
            (100000, 1, None),
            (165535, 1, None),
            (165536, 1, Some((165536, 1))),
            (99999, 1, Some((99999, 1))),
            (99999, 2, Some((99999, 1))),
            (165535, 2, Some((165536, 1))),
        ] {
            let got = f.missing("root", None, &set(&[(start, count)]));
            let want = missing.map_or_else(IdSet::new, |m| set(&[m]));
            assert_eq!(got, want, "{start}+{count}");
        }
        // Counts running past the last id are clipped, not wrapped.
        let big = SubidFile::parse("root:4294967290:100\nroot:99999999999:1\n");
        assert_eq!(big.covered("root", None), set(&[(4294967290, 5)]));
    }

    #[test]
    fn remove_line_is_lossless() {
        let line = |s, c| Subid::new("root", IdRange::with_count(s, c).unwrap());
        for (before, remove, after, removed) in [
            // idfed's own line at the end goes; comments, blanks, CRLF and other owners stay.
            (
                "# hand\r\nroot:100000:65536\r\n\r\nbackup:1005:2\r\nroot:1005:2\r\n",
                line(1005, 2),
                "# hand\r\nroot:100000:65536\r\n\r\nbackup:1005:2\r\n",
                true,
            ),
            // Only an exact line matches: never a line that merely covers the ids.
            ("root:1000:10\n", line(1005, 2), "root:1000:10\n", false),
            ("root:1005:3\n", line(1005, 2), "root:1005:3\n", false),
            ("root:01005:2\n", line(1005, 2), "root:01005:2\n", false),
            // A duplicate: the last one goes (the one idfed appended).
            (
                "root:1005:2\nx\nroot:1005:2\nroot:9:1\n",
                line(1005, 2),
                "root:1005:2\nx\nroot:9:1\n",
                true,
            ),
            // The unterminated last line: the file still ends without a newline.
            ("a:1:1\nroot:1005:2", line(1005, 2), "a:1:1", true),
            ("root:1005:2", line(1005, 2), "", true),
            // A malformed line with the same text is never an entry.
            ("#root:1005:2\n", line(1005, 2), "#root:1005:2\n", false),
        ] {
            let mut f = SubidFile::parse(before);
            assert_eq!(f.has_line(&remove), removed, "{before:?}");
            assert_eq!(f.remove_line(&remove), removed, "{before:?}");
            assert_eq!(f.render(), after, "{before:?}");
            // Parsing the result gives the same file.
            assert_eq!(f, SubidFile::parse(after), "{before:?}");
        }
    }

    #[test]
    fn merge_appends_only_what_is_missing() {
        let text = "root:100000:65536\nalice:165536:65536\nroot:1005:1\n";
        let mut f = SubidFile::parse(text);
        let added = f.merge(
            "root",
            Some(0),
            &set(&[(1005, 1), (2000, 11), (2011, 1), (100000, 10)]),
        );
        assert_eq!(
            added,
            vec![Subid {
                owner: "root".into(),
                start: 2000,
                count: 12
            }]
        );
        assert_eq!(f.render(), format!("{text}root:2000:12\n"));
        // Idempotent: the second merge changes nothing.
        let again = f.render();
        assert!(
            f.merge("root", Some(0), &set(&[(2000, 12), (1005, 1)]))
                .is_empty()
        );
        assert_eq!(f.render(), again);
    }

    #[test]
    fn merge_keeps_line_endings() {
        // No final newline: one is added before appending.
        let mut f = SubidFile::parse("root:100000:65536");
        f.merge("root", None, &set(&[(1005, 1)]));
        assert_eq!(f.render(), "root:100000:65536\nroot:1005:1\n");
        // CRLF files get CRLF lines.
        let mut f = SubidFile::parse("root:100000:65536\r\n");
        f.merge("root", None, &set(&[(1005, 1), (1007, 1)]));
        assert_eq!(
            f.render(),
            "root:100000:65536\r\nroot:1005:1\r\nroot:1007:1\r\n"
        );
        // An empty file.
        let mut f = SubidFile::parse("");
        f.merge("root", None, &set(&[(1005, 1)]));
        assert_eq!(f.render(), "root:1005:1\n");
        // Covered already: byte-identical, even without a final newline.
        let mut f = SubidFile::parse("root:1000:10");
        assert!(f.merge("root", None, &set(&[(1005, 1)])).is_empty());
        assert_eq!(f.render(), "root:1000:10");
    }

    #[test]
    fn json_shape() {
        let s = Subid {
            owner: "root".into(),
            start: 1005,
            count: 1,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"owner":"root","start":1005,"count":1}"#
        );
        assert_eq!(s.to_string(), "root:1005:1");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_and_round_trips(text in "([a-z0-9:#\r ]{0,16}\n?){0,8}", start in 0u32..200_000, count in 1u32..70_000) {
            let mut f = SubidFile::parse(&text);
            prop_assert_eq!(f.render(), text.clone());
            let needs: IdSet = IdRange::with_count(u64::from(start), u64::from(count)).into_iter().collect();
            let before = f.render();
            let added = f.merge("root", Some(0), &needs);
            let out = f.render();
            // Additive: the old text is a prefix (up to a final newline added), and coverage is met.
            let old = before.strip_suffix("\n").unwrap_or(&before);
            prop_assert!(out.starts_with(old));
            prop_assert!(SubidFile::parse(&out).missing("root", Some(0), &needs).is_empty());
            if added.is_empty() {
                prop_assert_eq!(out, before);
            }
        }

        #[test]
        fn arbitrary_input_never_panics(text in any::<String>()) {
            let f = SubidFile::parse(&text);
            prop_assert_eq!(f.render(), text);
        }

        /// Coverage against a model: every id of every line of the owner (by name or by uid 0).
        #[test]
        fn coverage_matches_a_model(
            lines in prop::collection::vec((0usize..4, 0u32..300, 0u32..40), 0..10),
            needs in prop::collection::vec((0u32..340, 1u32..30), 0..5),
        ) {
            let owners = ["root", "0", "alice", "1000"];
            let text: String = lines
                .iter()
                .map(|&(o, start, count)| format!("{}:{start}:{count}\n", owners[o]))
                .collect();
            let f = SubidFile::parse(&text);
            let mut model = std::collections::BTreeSet::new();
            for &(o, start, count) in &lines {
                if o < 2 {
                    model.extend(start..start + count);
                }
            }
            let covered = f.covered("root", Some(0));
            prop_assert_eq!(covered.ids().collect::<std::collections::BTreeSet<_>>(), model.clone());
            let needs = IdSet::of_counts(&needs);
            let missing = f.missing("root", Some(0), &needs);
            for id in needs.ids() {
                prop_assert_eq!(missing.contains(id), !model.contains(&id));
            }
            let mut merged = f.clone();
            let added = merged.merge("root", Some(0), &needs);
            // One line per missing range: coalesced.
            prop_assert_eq!(added.len(), missing.ranges().len());
            prop_assert!(merged.missing("root", Some(0), &needs).is_empty());
        }
    }
}
