//! `/etc/subuid` and `/etc/subgid`: lossless parse, coverage as newuidmap sees it, additive
//! merge.
//!
//! Lines are read exactly as shadow-utils 4.13 reads them (`lib/commonio.c`, `commonio_open`, and
//! `lib/subordinateio.c`, `subordinate_parse`): a line is what precedes a `\n` (a `\r` before it
//! stays part of the line); a line starting with `+` or `-` is a NIS entry and skipped; a line of
//! 1024 bytes or more is skipped; the first three `:`-separated fields are owner, start and count
//! (none empty; further fields are ignored); the numbers are read like `strtoul(s, &end, 0)`
//! (leading white space, a sign, `0x` hex, `0` octal, else decimal; nothing may follow; more than
//! 64 bits is an error). A line shadow skips counts for nothing and is reported with the reason
//! and the fix, except blank and `#` comment lines. Coverage follows newuidmap's `have_range`: a
//! line grants `start ..= start + count - 1` computed in 64-bit wrapping arithmetic (so
//! `owner:0:0` grants every id, and a range that wraps grants none); an owner's ids may come from
//! several lines, by name or by the owner's numeric uid. idfed writes `\n` line ends only. The
//! edits are appending lines for what is missing and removing one whole entry line that the caller
//! knows idfed appended itself (`apply --prune`): other lines are never changed or reordered. No
//! I/O here.

use std::fmt;

use crate::ids::{ID_LIMIT, IdRange, IdSet};
use crate::lines::{self, Eol, RawLine};

pub use crate::idmap::Subid;
use crate::idmap::subids;

/// shadow skips lines of this many bytes or more (`subordinate_parse`'s 1024-byte buffer).
const MAX_LINE: usize = 1024;

/// Why shadow-utils skips a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// The line ends in `\r` (a CRLF line end): the count field then holds `\r`.
    CarriageReturn,
    /// A leading `+` or `-`: a NIS entry to shadow.
    Nis,
    /// 1024 bytes or more.
    TooLong { len: usize },
    /// Fewer than three fields, or an empty one.
    Fields,
    /// A start or count that is not a number `strtoul` reads whole, or is over 64 bits.
    Number { field: &'static str, value: String },
    /// Read, but granting no id: a count of 0, a start past the last id, or an end that wraps
    /// past 2^64 (newuidmap tests `start <= id <= start + count - 1` in 64 bits).
    GrantsNothing,
    /// The line holds a NUL byte: shadow cuts it there and joins the next line to it.
    Nul,
    /// The line follows a line with a NUL byte: shadow joins it to that line.
    JoinedToNul { nul_line: usize },
}

/// A line shadow-utils skips: kept as it is, reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubidWarning {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
    pub reason: Skipped,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::CarriageReturn => {
                f.write_str("it ends in a carriage return (a CRLF line end), which shadow reads as part of the count")
            }
            Skipped::Nis => f.write_str("a leading `+` or `-` makes it a NIS entry to shadow"),
            Skipped::TooLong { len } => {
                write!(f, "it is {len} bytes long; shadow reads lines under {MAX_LINE} bytes")
            }
            Skipped::Fields => f.write_str("expected `owner:start:count`, like `root:100000:65536`"),
            Skipped::Number { field, value } => write!(
                f,
                "{field} `{value}` is not a number: expected decimal digits (a leading 0 means octal, 0x hex)"
            ),
            Skipped::GrantsNothing => f.write_str(
                "it grants no id: its count is 0, its start is past the last id, or start + count - 1 wraps past 2^64",
            ),
            Skipped::Nul => f.write_str("it holds a NUL byte, where shadow cuts it and joins the next line"),
            Skipped::JoinedToNul { nul_line } => {
                write!(f, "shadow joins it to line {nul_line}, which holds a NUL byte")
            }
        }
    }
}

impl SubidWarning {
    /// How to correct the line (in `file`, a host path like `/etc/subuid`).
    pub fn fix(&self, file: &str) -> String {
        let n = self.line;
        match &self.reason {
            Skipped::CarriageReturn => format!(
                "convert {file} to LF line ends: `sed -i 's/\\r$//' {file}` (line {n} and any other CRLF line)"
            ),
            Skipped::Nis => format!(
                "remove the leading `{}` of line {n} of {file}, or delete the line",
                &self.text[..1]
            ),
            Skipped::Nul | Skipped::JoinedToNul { .. } => {
                format!("remove the NUL byte near line {n} of {file}: `sed -i 's/\\x0//g' {file}`")
            }
            Skipped::TooLong { .. }
            | Skipped::Fields
            | Skipped::Number { .. }
            | Skipped::GrantsNothing => {
                format!(
                    "correct or delete line {n} of {file} (idfed never edits lines it did not add)"
                )
            }
        }
    }
}

impl fmt::Display for SubidWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: `{}` counts for nothing with newuidmap: {} (kept)",
            self.line,
            self.text.escape_debug(),
            self.reason
        )
    }
}

/// A parsed entry line. Numbers are kept as shadow reads them (64-bit).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SubidEntry {
    owner: String,
    start: u64,
    count: u64,
}

impl SubidEntry {
    /// The ids the line grants as newuidmap's `find_range` tests them (`first <= id <=
    /// first + count - 1`, wrapping), clipped to valid ids; `None` when it grants none.
    fn range(&self) -> Option<IdRange> {
        let first = self.start;
        let last = first.wrapping_add(self.count).wrapping_sub(1);
        if first > last {
            return None;
        }
        let limit = u64::from(ID_LIMIT);
        let end = last.min(limit - 1) + 1;
        let start = first.min(limit);
        IdRange::new(u32::try_from(start).ok()?, u32::try_from(end).ok()?)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Entry(SubidEntry),
    Skipped(Skipped),
}

/// A subuid or subgid file that renders back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubidFile {
    lines: Vec<(RawLine, Kind)>,
    /// The last line holds a NUL byte and ends in `\n`: shadow then fails to read the whole file
    /// (`commonio_open` reaches the end while joining lines), and nothing is granted.
    unreadable: bool,
}

/// `strtoul(s, &end, 0)` with `getulong`'s checks: `None` unless all of `s` is read and fits.
fn strtoul(s: &str) -> Option<u64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
        && hex.starts_with(|c: char| c.is_ascii_hexdigit())
    {
        (16, hex)
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    // `from_str_radix` takes a sign itself: only digits may be left.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = u64::from_str_radix(digits, radix).ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// What shadow makes of one line (its text as shadow sees it: with the `\r` of a CRLF end).
fn classify(text: &str) -> Kind {
    if text.trim().is_empty() {
        return Kind::Blank;
    }
    if text.trim_start().starts_with('#') {
        return Kind::Comment;
    }
    if text.starts_with(['+', '-']) {
        return Kind::Skipped(Skipped::Nis);
    }
    if text.len() >= MAX_LINE {
        return Kind::Skipped(Skipped::TooLong { len: text.len() });
    }
    let mut fields = text.splitn(4, ':');
    let (Some(owner), Some(start), Some(count)) = (fields.next(), fields.next(), fields.next())
    else {
        return Kind::Skipped(Skipped::Fields);
    };
    // `subordinate_parse` cuts the count at the next `:`; what follows is ignored.
    if owner.is_empty() || start.is_empty() || count.is_empty() {
        return Kind::Skipped(Skipped::Fields);
    }
    let number = |field, value: &str| {
        strtoul(value).ok_or_else(|| {
            if let Some(v) = value.strip_suffix('\r')
                && strtoul(v).is_some()
                && field == "count"
            {
                Skipped::CarriageReturn
            } else {
                Skipped::Number {
                    field,
                    value: value.to_string(),
                }
            }
        })
    };
    match (number("start", start), number("count", count)) {
        (Ok(start), Ok(count)) => {
            let entry = SubidEntry {
                owner: owner.to_string(),
                start,
                count,
            };
            match entry.range() {
                Some(_) => Kind::Entry(entry),
                None => Kind::Skipped(Skipped::GrantsNothing),
            }
        }
        (Err(e), _) | (_, Err(e)) => Kind::Skipped(e),
    }
}

impl SubidFile {
    /// Parses a subuid/subgid file. Never fails: lines shadow skips are kept and listed by
    /// [`SubidFile::warnings`].
    pub fn parse(text: &str) -> SubidFile {
        let raw = lines::split(text);
        let mut lines = Vec::with_capacity(raw.len());
        let mut unreadable = false;
        // The 1-based number of the line with a NUL byte that the next line is joined to.
        let mut joined_to: Option<usize> = None;
        for (i, raw) in raw.into_iter().enumerate() {
            let shadow_text = match raw.eol {
                Eol::CrLf => format!("{}\r", raw.text),
                _ => raw.text.clone(),
            };
            let kind = if let Some(nul_line) = joined_to.take() {
                if shadow_text.contains('\0') && raw.eol != Eol::None {
                    joined_to = Some(nul_line);
                }
                Kind::Skipped(Skipped::JoinedToNul { nul_line })
            } else if shadow_text.contains('\0') {
                if raw.eol != Eol::None {
                    joined_to = Some(i + 1);
                }
                Kind::Skipped(Skipped::Nul)
            } else {
                classify(&shadow_text)
            };
            lines.push((raw, kind));
        }
        if joined_to.is_some() {
            unreadable = true;
        }
        SubidFile { lines, unreadable }
    }

    /// The file's text: byte-identical to the parsed text until something is appended.
    pub fn render(&self) -> String {
        self.lines.iter().map(|(raw, _)| raw.to_string()).collect()
    }

    /// Every entry line, in file order; none when shadow cannot read the file.
    fn entries(&self) -> impl Iterator<Item = &SubidEntry> {
        self.lines
            .iter()
            .filter(|_| !self.unreadable)
            .filter_map(|(_, k)| match k {
                Kind::Entry(e) => Some(e),
                _ => None,
            })
    }

    /// The lines shadow-utils skips (blank and comment lines aside).
    pub fn warnings(&self) -> Vec<SubidWarning> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, (raw, k))| match k {
                Kind::Skipped(reason) => Some(SubidWarning {
                    line: i + 1,
                    text: raw.text.clone(),
                    reason: reason.clone(),
                }),
                _ => None,
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

    /// Appends one `owner:start:count` line per range of `ids` (coalesced, ascending), each ending
    /// in `\n` whatever the file uses, after a `\n` when the file lacks a final one (and after an
    /// empty line when the last line holds a NUL byte, which shadow would join to the first new
    /// line). Returns the entries added; nothing changes when `ids` is empty.
    pub fn append(&mut self, owner: &str, ids: &IdSet) -> Vec<Subid> {
        let added = subids(ids, owner);
        if added.is_empty() {
            return added;
        }
        let mut text = self.render();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if self
            .lines
            .last()
            .is_some_and(|(raw, _)| raw.text.contains('\0'))
        {
            text.push('\n');
        }
        for s in &added {
            text.push_str(&s.to_string());
            text.push('\n');
        }
        *self = SubidFile::parse(&text);
        added
    }

    /// Does the file hold the entry line `owner:start:count`, exactly as idfed writes it?
    pub fn has_line(&self, line: &Subid) -> bool {
        self.find_line(line).is_some()
    }

    /// The index of the last entry line whose text is exactly `line`.
    fn find_line(&self, line: &Subid) -> Option<usize> {
        let text = line.to_string();
        self.lines
            .iter()
            .rposition(|(raw, k)| matches!(k, Kind::Entry(_)) && raw.text == text)
    }

    /// Removes the last entry line whose text is exactly `owner:start:count`; every other line
    /// keeps its bytes and order. Returns whether a line was removed. Only for lines idfed
    /// appended itself (the last occurrence: idfed appends at the end).
    pub fn remove_line(&mut self, line: &Subid) -> bool {
        let Some(i) = self.find_line(line) else {
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
        *self = SubidFile::parse(&self.render());
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
        let text = "# managed by hand\nroot:100000:65536\r\n\r\nalice:165536:65536\nbroken line\nroot:1005\n:1:2\nroot:1:2:3\nroot:x:1\nroot: 1:1\n+root:1:1\n-x\nroot:08:1\nroot:1:2 \n   \n";
        let f = SubidFile::parse(text);
        assert_eq!(f.render(), text);
        let warned: Vec<(usize, Skipped)> = f
            .warnings()
            .into_iter()
            .map(|w| (w.line, w.reason))
            .collect();
        let number = |field, value: &str| Skipped::Number {
            field,
            value: value.into(),
        };
        assert_eq!(
            warned,
            vec![
                (2, Skipped::CarriageReturn),
                (5, Skipped::Fields),
                (6, Skipped::Fields),
                (7, Skipped::Fields),
                (9, number("start", "x")),
                (11, Skipped::Nis),
                (12, Skipped::Nis),
                (13, number("start", "08")),
                (14, number("count", "2 ")),
            ]
        );
        assert_eq!(
            f.warnings()[0].to_string(),
            "line 2: `root:100000:65536` counts for nothing with newuidmap: it ends in a carriage return (a CRLF line end), which shadow reads as part of the count (kept)"
        );
        assert_eq!(
            f.warnings()[0].fix("/etc/subuid"),
            "convert /etc/subuid to LF line ends: `sed -i 's/\\r$//' /etc/subuid` (line 2 and any other CRLF line)"
        );
        assert_eq!(
            f.warnings()[4].fix("/etc/subuid"),
            "correct or delete line 9 of /etc/subuid (idfed never edits lines it did not add)"
        );
        // Extra fields are ignored and white space before a number is skipped, as shadow does.
        assert_eq!(f.covered("root", None), set(&[(1, 2)]));
        assert_eq!(f.entries().count(), 3);
    }

    #[test]
    fn numbers_are_read_like_strtoul_base_0() {
        for (field, want) in [
            ("100000", Some(100_000)),
            ("0100000", Some(0o100000)),
            ("065536", Some(0o65536)),
            ("0x186a0", Some(100_000)),
            ("0X186A0", Some(100_000)),
            ("0", Some(0)),
            ("00", Some(0)),
            ("+5", Some(5)),
            (" \t5", Some(5)),
            ("\r5", Some(5)),
            ("-1", Some(u64::MAX)),
            ("-0x10", Some(0u64.wrapping_sub(16))),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("0x", None),
            ("0xg", None),
            ("08", None),
            ("5 ", None),
            ("5\r", None),
            ("+", None),
            ("--5", None),
            ("+-5", None),
            ("", None),
            (" ", None),
            ("1e3", None),
            ("٣", None),
        ] {
            assert_eq!(strtoul(field), want, "{field:?}");
        }
    }

    #[test]
    fn coverage_is_have_range_in_64_bits() {
        for (line, want) in [
            // first ..= first + count - 1
            ("root:100000:1", Some((100_000, 1))),
            // count 0 at 0: last wraps to 2^64 - 1, every id
            ("root:0:0", Some((0, u64::from(ID_LIMIT)))),
            ("root:5:0", None),
            // a start past the ids, a wrapping end
            ("root:4294967295:1", None),
            ("root:4294967294:1", Some((4_294_967_294, 1))),
            ("root:4294967290:100", Some((4_294_967_290, 5))),
            ("root:-1:2", None),
            ("root:-100:200", None),
            ("root:1:-1", Some((1, u64::from(ID_LIMIT) - 1))),
            ("root:2:-1", None),
            ("root:99999999999:1", None),
        ] {
            let f = SubidFile::parse(line);
            let want = want.map_or_else(IdSet::new, |(s, c)| {
                IdRange::with_count(s, c).into_iter().collect()
            });
            assert_eq!(f.covered("root", None), want, "{line}");
        }
    }

    #[test]
    fn nul_bytes_join_lines_as_fgets_does() {
        let f = SubidFile::parse("root:1:1\nroot:5\0x:1\nroot:10:1\nroot:20:1\n");
        let warned: Vec<(usize, Skipped)> = f
            .warnings()
            .into_iter()
            .map(|w| (w.line, w.reason))
            .collect();
        assert_eq!(
            warned,
            vec![(2, Skipped::Nul), (3, Skipped::JoinedToNul { nul_line: 2 })]
        );
        assert_eq!(f.covered("root", None), set(&[(1, 1), (20, 1)]));
        // The last line holds a NUL and ends in `\n`: shadow reads nothing of the file.
        let mut f = SubidFile::parse("root:1:1\nroot:5\0\n");
        assert_eq!(f.covered("root", None), IdSet::new());
        // Appending puts an empty line between, so the new lines are read.
        f.merge("root", None, &set(&[(1, 1)]));
        assert_eq!(f.render(), "root:1:1\nroot:5\0\n\nroot:1:1\n");
        assert_eq!(f.covered("root", None), set(&[(1, 1)]));
        // Unterminated: read up to the NUL, nothing joined.
        let f = SubidFile::parse("root:1:1\nroot:5\0");
        assert_eq!(f.covered("root", None), set(&[(1, 1)]));
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
                "# hand\r\nroot:100000:65536\r\n\r\nbackup:1005:2\r\nroot:1005:2\n",
                line(1005, 2),
                "# hand\r\nroot:100000:65536\r\n\r\nbackup:1005:2\r\n",
                true,
            ),
            // A CRLF line is no entry to shadow: never idfed's.
            ("root:1005:2\r\n", line(1005, 2), "root:1005:2\r\n", false),
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
    fn merge_writes_lf_only() {
        // No final newline: one is added before appending.
        let mut f = SubidFile::parse("root:100000:65536");
        f.merge("root", None, &set(&[(1005, 1)]));
        assert_eq!(f.render(), "root:100000:65536\nroot:1005:1\n");
        // A CRLF file gets LF lines (its own lines count for nothing: shadow skips them).
        let mut f = SubidFile::parse("root:100000:65536\r\n");
        f.merge("root", None, &set(&[(1005, 1), (1007, 1)]));
        assert_eq!(
            f.render(),
            "root:100000:65536\r\nroot:1005:1\nroot:1007:1\n"
        );
        assert_eq!(f.covered("root", None), set(&[(1005, 1), (1007, 1)]));
        // A last line ending in a lone CR without a newline: the new line starts on its own.
        let mut f = SubidFile::parse("root:100000:65536\r");
        f.merge("root", None, &set(&[(1005, 1)]));
        assert_eq!(f.render(), "root:100000:65536\r\nroot:1005:1\n");
        assert_eq!(f.covered("root", None), set(&[(1005, 1)]));
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
        /// (A count of 0 is `coverage_is_have_range_in_64_bits`'s.)
        #[test]
        fn coverage_matches_a_model(
            lines in prop::collection::vec((0usize..4, 0u32..300, 1u32..40), 0..10),
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
