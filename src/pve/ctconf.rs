//! A CT config (`<pve_root>/nodes/<node>/lxc/<vmid>.conf`), read and edited losslessly.
//!
//! The file is kept as its lines, each with its own terminator, so [`CtConfig::render`] gives back
//! every byte of what [`CtConfig::parse`] got. Lines are classified the way pve-container's
//! `parse_pct_config` does: `#` description lines, `key: value` lines, raw `lxc.*` keys in both
//! forms (`lxc.idmap: ...` and `lxc.idmap = ...`), blank lines, and section headers (`[snapshot]`,
//! `[pve:pending]`); everything after the first header belongs to that section. A line PVE would
//! ignore is kept and reported as a warning.
//!
//! The only edit is [`CtConfig::set_idmap`]: it replaces the main section's `lxc.idmap` (and
//! deprecated `lxc.id_map`) lines and touches nothing else. This module does no I/O; discovery
//! (`cluster`) reads the files and adds their paths to errors.

use std::fmt;

use crate::idmap::{Extent, ExtentParseError};
use crate::ids::IdKind;
use crate::lines::{self, Eol, RawLine};
use crate::pve::mountpoint::{self, MountPoint, MountPointError};

/// The raw key idfed writes.
pub const IDMAP_KEY: &str = "lxc.idmap";
/// The deprecated spelling LXC 2 used, still read (and replaced on edit). Current pve-container
/// ignores it with a warning ("deprecated, use lxc.idmap"), so a CT whose map is only written this
/// way runs with the default map: see [`CtConfig::effective_idmap`].
pub const IDMAP_KEY_DEPRECATED: &str = "lxc.id_map";

/// The map PVE gives an unprivileged CT without `lxc.idmap` lines (`parse_id_maps`): fixed, not
/// read from `/etc/subuid`.
pub const PVE_DEFAULT_BASE: u32 = 100000;
/// The size of PVE's default map.
pub const PVE_DEFAULT_SIZE: u32 = 65536;

/// Which part of the file a line belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    /// Everything before the first header: the CT's current configuration.
    Main,
    /// `[pve:pending]`: changes not applied yet.
    Pending,
    /// `[name]`: a snapshot's configuration.
    Snapshot(String),
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Main => f.write_str("main"),
            Section::Pending => f.write_str("[pve:pending]"),
            Section::Snapshot(name) => write!(f, "[{name}]"),
        }
    }
}

/// What one line is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LineKind {
    /// Empty or only whitespace.
    Blank,
    /// `#...`: a line of the (URL-encoded) description, or a comment.
    Comment,
    /// A section header.
    Header(Section),
    /// `key: value`.
    Key(KeyValue),
    /// A raw LXC key: `lxc.key: value` or `lxc.key = value`.
    Raw(KeyValue),
    /// Anything else; PVE ignores it with a warning, idfed keeps it and warns too.
    Unknown,
}

/// Where a line's key and value are in its text: a copy of both per line was most of the memory
/// of a cluster's CT configs (`plan` holds every CT's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyValue {
    /// The key is `text[..key_end]`.
    key_end: usize,
    /// The value is `text[value_start..value_end]`.
    value_start: usize,
    value_end: usize,
}

impl KeyValue {
    /// `key` and `value`, both parts of `text`.
    fn of(text: &str, key: &str, value: &str) -> KeyValue {
        let at = |part: &str| part.as_ptr() as usize - text.as_ptr() as usize;
        debug_assert_eq!(at(key), 0);
        KeyValue {
            key_end: key.len(),
            value_start: at(value),
            value_end: at(value) + value.len(),
        }
    }

    /// The key and the value in `text`, the line this was made from.
    fn get(self, text: &str) -> (&str, &str) {
        (
            &text[..self.key_end],
            &text[self.value_start..self.value_end],
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    raw: RawLine,
    kind: LineKind,
    /// Index into `CtConfig::sections`.
    section: usize,
}

impl Line {
    /// The line `raw` in section `section`, classified. `kind` holds spans into `raw.text`, so
    /// the text is never changed afterwards: another text is another `Line`.
    fn new(raw: RawLine, section: usize) -> Line {
        Line {
            kind: classify(&raw.text),
            raw,
            section,
        }
    }

    /// The key and value of a `key: value` line.
    fn key_value(&self) -> Option<(&str, &str)> {
        match self.kind {
            LineKind::Key(kv) => Some(kv.get(&self.raw.text)),
            _ => None,
        }
    }

    /// The key and value of a raw `lxc.*` line.
    fn raw_key_value(&self) -> Option<(&str, &str)> {
        match self.kind {
            LineKind::Raw(kv) => Some(kv.get(&self.raw.text)),
            _ => None,
        }
    }

    /// The value of a raw `lxc.idmap` line (with `deprecated`, of `lxc.id_map` too).
    fn idmap_value(&self, deprecated: bool) -> Option<&str> {
        self.raw_key_value()
            .filter(|(key, _)| *key == IDMAP_KEY || (deprecated && *key == IDMAP_KEY_DEPRECATED))
            .map(|(_, value)| value)
    }
}

/// A line of the config that PVE would ignore (kept as it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtConfigWarning {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
}

impl fmt::Display for CtConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: `{}` is not a config line: expected `key: value`, `lxc.key: value`, `#comment` or `[section]`",
            self.line, self.text
        )
    }
}

/// Why a CT config could not be read: the line, its text, and what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct CtConfigError {
    /// 1-based line number.
    pub line: usize,
    /// The whole line as written (without its terminator).
    pub text: String,
    pub kind: CtConfigErrorKind,
}

/// What was wrong with the line of a [`CtConfigError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CtConfigErrorKind {
    #[error("malformed idmap entry: {0}")]
    Idmap(#[source] ExtentParseError),
    #[error("malformed mount point: {0}")]
    MountPoint(#[source] MountPointError),
}

/// A parsed CT config that renders back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtConfig {
    lines: Vec<Line>,
    sections: Vec<Section>,
    mount_points: Vec<MountPoint>,
    warnings: Vec<CtConfigWarning>,
}

fn is_perl_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
}

/// `[pve:pending]` or `[name]` with `name` = `[a-z][a-z0-9_-]+` (case-insensitive), then spaces.
fn parse_header(text: &str) -> Option<Section> {
    let inner = text.strip_prefix('[')?;
    let close = inner.find(']')?;
    let (name, rest) = (&inner[..close], &inner[close + 1..]);
    if !rest.chars().all(is_perl_space) {
        return None;
    }
    if name.eq_ignore_ascii_case("pve:pending") {
        return Some(Section::Pending);
    }
    let b = name.as_bytes();
    let valid = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    valid.then(|| Section::Snapshot(name.to_string()))
}

/// `lxc.key` then `:` or spaces and `=`, then the value with surrounding spaces trimmed.
fn parse_raw_key(text: &str) -> Option<KeyValue> {
    if !text.starts_with("lxc.") {
        return None;
    }
    let end = text
        .bytes()
        .position(|b| !is_key_char(b))
        .unwrap_or(text.len());
    let (key, rest) = text.split_at(end);
    let value = match rest.strip_prefix(':') {
        Some(v) => v,
        None => rest.trim_start_matches(is_perl_space).strip_prefix('=')?,
    };
    Some(KeyValue::of(text, key, value.trim_matches(is_perl_space)))
}

/// `key: value` with `key` = `[a-z][a-z_]*\d*` and a non-empty value.
fn parse_key(text: &str) -> Option<KeyValue> {
    let (key, value) = text.split_once(':')?;
    let b = key.as_bytes();
    let letters = b
        .iter()
        .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
        .count();
    let valid =
        !b.is_empty() && b[0].is_ascii_lowercase() && b[letters..].iter().all(u8::is_ascii_digit);
    let value = value.trim_matches(is_perl_space);
    (valid && !value.is_empty()).then(|| KeyValue::of(text, key, value))
}

fn classify(text: &str) -> LineKind {
    if text.chars().all(is_perl_space) {
        LineKind::Blank
    } else if let Some(section) = parse_header(text) {
        LineKind::Header(section)
    } else if text.starts_with('#') {
        LineKind::Comment
    } else if let Some(kv) = parse_raw_key(text) {
        LineKind::Raw(kv)
    } else if let Some(kv) = parse_key(text) {
        LineKind::Key(kv)
    } else {
        LineKind::Unknown
    }
}

/// Decodes PVE's description encoding (`%XX` escapes, then UTF-8).
fn decode_text(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl CtConfig {
    /// Parses a CT config.
    ///
    /// # Errors
    /// A [`CtConfigError`] with the line number and text when a main-section `lxc.idmap` value or
    /// `mpN` value cannot be read. Lines PVE would ignore are not errors: see
    /// [`CtConfig::warnings`].
    pub fn parse(text: &str) -> Result<CtConfig, CtConfigError> {
        let mut sections = vec![Section::Main];
        let mut lines = Vec::new();
        let mut mount_points = Vec::new();
        let mut warnings = Vec::new();
        for (i, raw) in lines::split(text).into_iter().enumerate() {
            let number = i + 1;
            let mut line = Line::new(raw, 0);
            if let LineKind::Header(section) = &line.kind {
                sections.push(section.clone());
            }
            // A header opens its own section.
            line.section = sections.len() - 1;
            let error = |kind| CtConfigError {
                line: number,
                text: line.raw.text.clone(),
                kind,
            };
            if line.kind == LineKind::Unknown {
                warnings.push(CtConfigWarning {
                    line: number,
                    text: line.raw.text.clone(),
                });
            } else if line.section != 0 {
                // Other sections are never edited: read leniently.
            } else if let Some(value) = line.idmap_value(true) {
                value
                    .parse::<Extent>()
                    .map_err(|e| error(CtConfigErrorKind::Idmap(e)))?;
            } else if let Some((key, value)) = line.key_value()
                && mountpoint::mount_point_index(key).is_some()
            {
                let mp = MountPoint::parse(key, value)
                    .map_err(|e| error(CtConfigErrorKind::MountPoint(e)))?;
                // PVE keeps the last value of a repeated key.
                mount_points.retain(|m: &MountPoint| m.key != mp.key);
                mount_points.push(mp);
            }
            lines.push(line);
        }
        mount_points.sort_by_key(|m| m.index);
        // A cluster's configs stay in memory while idfed plans: no room to grow.
        lines.shrink_to_fit();
        Ok(CtConfig {
            lines,
            sections,
            mount_points,
            warnings,
        })
    }

    /// The file's text: byte-identical to the parsed text unless [`CtConfig::set_idmap`] changed it.
    pub fn render(&self) -> String {
        self.to_string()
    }

    /// The sections in file order, [`Section::Main`] first.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The lines PVE would ignore, with their numbers.
    pub fn warnings(&self) -> &[CtConfigWarning] {
        &self.warnings
    }

    fn main_lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().take_while(|l| l.section == 0)
    }

    /// The value of a `key: value` line of the main section (the last one when repeated, as PVE).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.main_lines()
            .filter_map(|l| l.key_value().filter(|(k, _)| *k == key))
            .map(|(_, value)| value)
            .last()
    }

    /// Is the CT unprivileged (`unprivileged: 1`, or any PVE true value)?
    ///
    /// A missing or unreadable value means privileged, the safe reading: idfed never edits a
    /// privileged CT's map.
    pub fn unprivileged(&self) -> bool {
        self.get("unprivileged")
            .and_then(mountpoint::parse_bool)
            .unwrap_or(false)
    }

    /// The `lock:` value (`backup`, `migrate`, `snapshot`, ...): the CT must not be touched.
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }

    /// The main section's description: its `#` lines, decoded, one per line.
    pub fn description(&self) -> String {
        self.main_lines()
            .filter(|l| l.kind == LineKind::Comment)
            .map(|l| decode_text(&l.raw.text[1..]))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The main section's id map, in file order (both spellings of the key).
    pub fn idmap(&self) -> Vec<Extent> {
        self.main_lines()
            // Checked by `parse`: main-section idmap values are valid.
            .filter_map(|l| l.idmap_value(true)?.parse().ok())
            .collect()
    }

    /// The map current PVE applies when the CT starts: the main section's `lxc.idmap` lines
    /// (deprecated `lxc.id_map` lines are ignored, as PVE does), or, when there are none, PVE's
    /// default `u|g 0 100000 65536` for an unprivileged CT. Empty for a privileged CT (no user
    /// namespace: every id is itself).
    pub fn effective_idmap(&self) -> Vec<Extent> {
        if !self.unprivileged() {
            return Vec::new();
        }
        let map: Vec<Extent> = self
            .main_lines()
            .filter_map(|l| l.idmap_value(false)?.parse().ok())
            .collect();
        if !map.is_empty() {
            return map;
        }
        IdKind::ALL
            .iter()
            .map(|&kind| Extent::new(kind, 0, PVE_DEFAULT_BASE, PVE_DEFAULT_SIZE))
            .collect()
    }

    /// The line numbers of main-section `lxc.id_map` lines (deprecated; ignored by current PVE).
    pub fn deprecated_idmap_lines(&self) -> Vec<usize> {
        self.main_lines()
            .enumerate()
            .filter(|(_, l)| {
                l.raw_key_value()
                    .is_some_and(|(key, _)| key == IDMAP_KEY_DEPRECATED)
            })
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// The id map of another section, skipping values that cannot be read (they are not ours
    /// to judge: snapshots and pending changes are never edited).
    pub fn section_idmap(&self, section: &Section) -> Vec<Extent> {
        let Some(index) = self.sections.iter().position(|s| s == section) else {
            return Vec::new();
        };
        self.lines
            .iter()
            .filter(|l| l.section == index)
            .filter_map(|l| l.idmap_value(true)?.parse().ok())
            .collect()
    }

    /// The maps the CT would start with from its other sections, in file order: each snapshot's
    /// (a rollback makes it the CT's config: its `lxc.idmap` lines, which LXC applies whatever
    /// `unprivileged` says, else PVE's default map when it is unprivileged), and `[pve:pending]`'s
    /// when it has `lxc.idmap` lines (they replace the main section's at the next start). Lines
    /// that cannot be read are skipped, as in [`CtConfig::section_idmap`].
    pub fn other_maps(&self) -> Vec<(Section, Vec<Extent>)> {
        let mut out = Vec::new();
        for (index, section) in self.sections.iter().enumerate().skip(1) {
            let lines = || self.lines.iter().filter(move |l| l.section == index);
            let map: Vec<Extent> = lines()
                .filter_map(|l| l.idmap_value(false)?.parse().ok())
                .collect();
            match section {
                Section::Main => {}
                Section::Pending if map.is_empty() => {}
                Section::Pending => out.push((section.clone(), map)),
                // Raw `lxc.idmap` lines give LXC the map whatever `unprivileged` says.
                Section::Snapshot(_) if !map.is_empty() => out.push((section.clone(), map)),
                Section::Snapshot(_) => {
                    let unprivileged = lines()
                        .filter_map(|l| l.key_value().filter(|(key, _)| *key == "unprivileged"))
                        .map(|(_, value)| value)
                        .next_back()
                        .and_then(mountpoint::parse_bool)
                        .unwrap_or(false);
                    if unprivileged {
                        let default = IdKind::ALL
                            .iter()
                            .map(|&kind| Extent::new(kind, 0, PVE_DEFAULT_BASE, PVE_DEFAULT_SIZE))
                            .collect();
                        out.push((section.clone(), default));
                    }
                }
            }
        }
        out
    }

    /// The main section's mount points `mp0`..`mp255`, by index.
    pub fn mount_points(&self) -> &[MountPoint] {
        &self.mount_points
    }

    /// Replaces the main section's id map with `extents`; returns whether the text changed.
    ///
    /// Every `lxc.idmap` and `lxc.id_map` line of the main section is removed; the new lines
    /// (`lxc.idmap: u 0 100000 1005`, in the file's line ending) go where the first old one was,
    /// else after the main section's last non-blank line (where PVE writes `lxc.*` keys, before the
    /// blank line that separates the first section). Nothing else changes, except that the line
    /// which ends the file gets or keeps the file's final-newline state. When the current map
    /// already equals `extents` and is written with `lxc.idmap` keys (either separator), nothing
    /// is touched; deprecated `lxc.id_map` lines are always rewritten, since PVE ignores them.
    pub fn set_idmap(&mut self, extents: &[Extent]) -> bool {
        if self.idmap() == extents && self.deprecated_idmap_lines().is_empty() {
            return false;
        }
        let eol = lines::file_eol(self.lines.iter().map(|l| &l.raw));
        let had_final_newline = self.lines.last().is_none_or(|l| l.raw.eol != Eol::None);
        let main_end = self
            .lines
            .iter()
            .position(|l| l.section != 0)
            .unwrap_or(self.lines.len());
        let is_old = |l: &Line| l.section == 0 && l.idmap_value(true).is_some();
        let first_old = self.lines[..main_end].iter().position(is_old);
        let at = match first_old {
            Some(i) => i,
            None => self.lines[..main_end]
                .iter()
                .rposition(|l| l.kind != LineKind::Blank)
                .map_or(0, |i| i + 1),
        };
        let new_lines = extents
            .iter()
            .map(|e| Line::new(RawLine::new(format!("{IDMAP_KEY}: {e}"), eol), 0));
        let mut out: Vec<Line> = Vec::with_capacity(self.lines.len() + extents.len());
        let mut inserted = false;
        for (i, line) in std::mem::take(&mut self.lines).into_iter().enumerate() {
            if i == at {
                out.extend(new_lines.clone());
                inserted = true;
            }
            if !is_old(&line) {
                out.push(line);
            }
        }
        if !inserted {
            out.extend(new_lines);
        }
        // Only the last line may lack a terminator, and it keeps the file's final-newline state.
        let n = out.len();
        for (i, line) in out.iter_mut().enumerate() {
            if i + 1 < n && line.raw.eol == Eol::None {
                line.raw.eol = eol;
            }
        }
        if let Some(last) = out.last_mut() {
            last.raw.eol = match (had_final_newline, last.raw.eol) {
                (false, _) => Eol::None,
                (true, Eol::None) => eol,
                (true, e) => e,
            };
        }
        self.lines = out;
        true
    }
}

impl fmt::Display for CtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            write!(f, "{}", l.raw)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map_1005() -> Vec<Extent> {
        let mut out = Vec::new();
        for (inside, outside, count) in [(0, 100000, 1005), (1005, 1005, 1), (1006, 101006, 64530)]
        {
            for kind in IdKind::ALL {
                out.push(Extent::new(kind, inside, outside, count));
            }
        }
        out
    }

    const MAP_1005: &str = "lxc.idmap: u 0 100000 1005\nlxc.idmap: g 0 100000 1005\n\
                            lxc.idmap: u 1005 1005 1\nlxc.idmap: g 1005 1005 1\n\
                            lxc.idmap: u 1006 101006 64530\nlxc.idmap: g 1006 101006 64530\n";

    /// A line's kind with its key and value as strings.
    #[derive(Debug, PartialEq)]
    enum Want {
        Blank,
        Comment,
        Header(Section),
        Key { key: String, value: String },
        Raw { key: String, value: String },
        Unknown,
    }

    impl Want {
        fn of(text: &str) -> Want {
            let owned = |kv: KeyValue| {
                let (key, value) = kv.get(text);
                (key.to_string(), value.to_string())
            };
            match classify(text) {
                LineKind::Blank => Want::Blank,
                LineKind::Comment => Want::Comment,
                LineKind::Header(section) => Want::Header(section),
                LineKind::Key(kv) => {
                    let (key, value) = owned(kv);
                    Want::Key { key, value }
                }
                LineKind::Raw(kv) => {
                    let (key, value) = owned(kv);
                    Want::Raw { key, value }
                }
                LineKind::Unknown => Want::Unknown,
            }
        }
    }

    #[test]
    fn classifies_lines_like_pve() {
        for (text, want) in [
            ("", Want::Blank),
            ("  \t", Want::Blank),
            ("#descr%3A x", Want::Comment),
            ("[snap1]", Want::Header(Section::Snapshot("snap1".into()))),
            (
                "[Before-Upgrade_2] ",
                Want::Header(Section::Snapshot("Before-Upgrade_2".into())),
            ),
            ("[pve:pending]", Want::Header(Section::Pending)),
            ("[PVE:Pending]", Want::Header(Section::Pending)),
            ("[1snap]", Want::Unknown),
            ("[a]", Want::Unknown),
            (
                "memory: 512",
                Want::Key {
                    key: "memory".into(),
                    value: "512".into(),
                },
            ),
            (
                "mp10:  /a,mp=/b  ",
                Want::Key {
                    key: "mp10".into(),
                    value: "/a,mp=/b".into(),
                },
            ),
            ("memory:", Want::Unknown),
            ("Memory: 512", Want::Unknown),
            (
                "lxc.idmap: u 0 1 2",
                Want::Raw {
                    key: "lxc.idmap".into(),
                    value: "u 0 1 2".into(),
                },
            ),
            (
                "lxc.idmap = u 0 1 2",
                Want::Raw {
                    key: "lxc.idmap".into(),
                    value: "u 0 1 2".into(),
                },
            ),
            (
                "lxc.id_map=g 0 1 2",
                Want::Raw {
                    key: "lxc.id_map".into(),
                    value: "g 0 1 2".into(),
                },
            ),
            (
                "lxc.cgroup2.devices.allow: c 10:200 rwm",
                Want::Raw {
                    key: "lxc.cgroup2.devices.allow".into(),
                    value: "c 10:200 rwm".into(),
                },
            ),
            ("lxc.idmap u 0 1 2", Want::Unknown),
            ("just text", Want::Unknown),
        ] {
            assert_eq!(Want::of(text), want, "{text:?}");
        }
    }

    /// The maps a rollback or the next start would give the CT (issue 14: prune and check keep
    /// them covered).
    #[test]
    fn other_maps_of_snapshots_and_pending() {
        let text = "unprivileged: 1\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n\n\
                    [pve:pending]\nmemory: 512\n\
                    [plain]\nunprivileged: 1\n\
                    [mapped]\nunprivileged: 1\nlxc.idmap: u 0 100000 2001\nlxc.idmap: u 2001 2001 1\n\
                    lxc.idmap: bogus\nlxc.id_map: g 0 1 1\n\
                    [privileged]\nunprivileged: 0\nmemory: 5\n\
                    [unsaid]\nlxc.idmap: u 0 100000 5\n";
        let c = CtConfig::parse(text).unwrap();
        let ext = |kind, inside, outside, count| Extent::new(kind, inside, outside, count);
        assert_eq!(
            c.other_maps(),
            vec![
                (
                    Section::Snapshot("plain".into()),
                    vec![
                        ext(IdKind::Uid, 0, 100000, 65536),
                        ext(IdKind::Gid, 0, 100000, 65536)
                    ]
                ),
                (
                    Section::Snapshot("mapped".into()),
                    vec![
                        ext(IdKind::Uid, 0, 100000, 2001),
                        ext(IdKind::Uid, 2001, 2001, 1)
                    ]
                ),
                (
                    Section::Snapshot("unsaid".into()),
                    vec![ext(IdKind::Uid, 0, 100000, 5)]
                ),
            ]
        );
        // Pending with lxc.idmap lines: they are the next start's map.
        let c = CtConfig::parse("unprivileged: 1\n[pve:pending]\nlxc.idmap = u 0 1 2\n").unwrap();
        assert_eq!(
            c.other_maps(),
            vec![(Section::Pending, vec![ext(IdKind::Uid, 0, 1, 2)])]
        );
    }

    #[test]
    fn reads_the_main_section_only() {
        let text = "#Line one%0A\n#a%25b\nunprivileged: 1\nlock: backup\nlxc.idmap = u 0 100000 65536\n\
                    lxc.id_map: g 0 100000 65536\n\n[pve:pending]\nlxc.idmap: u 0 200000 5\nunprivileged: 0\n\
                    [snap]\nlock: snapshot\nlxc.idmap: bogus\n";
        let c = CtConfig::parse(text).unwrap();
        assert!(c.unprivileged());
        assert_eq!(c.lock(), Some("backup"));
        assert_eq!(c.description(), "Line one\n\na%b");
        assert_eq!(
            c.idmap(),
            vec![
                Extent::new(IdKind::Uid, 0, 100000, 65536),
                Extent::new(IdKind::Gid, 0, 100000, 65536)
            ]
        );
        assert_eq!(
            c.section_idmap(&Section::Pending),
            vec![Extent::new(IdKind::Uid, 0, 200000, 5)]
        );
        // A bad value outside the main section is not ours to judge.
        assert_eq!(c.section_idmap(&Section::Snapshot("snap".into())), vec![]);
        assert_eq!(
            c.sections(),
            &[
                Section::Main,
                Section::Pending,
                Section::Snapshot("snap".into())
            ]
        );
        assert_eq!(c.render(), text);
    }

    #[test]
    fn unprivileged_values() {
        for (text, want) in [
            ("unprivileged: 1\n", true),
            ("unprivileged: yes\n", true),
            ("unprivileged: 0\n", false),
            ("unprivileged: maybe\n", false),
            ("", false),
            ("unprivileged: 1\nunprivileged: 0\n", false),
            ("[snap]\nunprivileged: 1\n", false),
        ] {
            assert_eq!(
                CtConfig::parse(text).unwrap().unprivileged(),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_idmap_is_an_error_with_line_and_text() {
        let err = CtConfig::parse("arch: amd64\nlxc.idmap: u 0 100000\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.text, "lxc.idmap: u 0 100000");
        assert_eq!(
            err.to_string(),
            "line 2: malformed idmap entry: `u 0 100000` is not an idmap entry: expected `u|g INSIDE OUTSIDE COUNT`, like `u 0 100000 65536`"
        );
        let err = CtConfig::parse("mp0: /a,mp=/b,shared=2\r\n").unwrap_err();
        assert_eq!((err.line, err.text.as_str()), (1, "mp0: /a,mp=/b,shared=2"));
        assert!(
            err.to_string().contains("`shared=2` is not a boolean"),
            "{err}"
        );
    }

    #[test]
    fn unknown_lines_are_kept_and_warned() {
        let text = "arch: amd64\nwhat is this\nmemory: 512\n";
        let c = CtConfig::parse(text).unwrap();
        assert_eq!(c.warnings().len(), 1);
        assert_eq!(c.warnings()[0].line, 2);
        assert!(
            c.warnings()[0]
                .to_string()
                .starts_with("line 2: `what is this` is not a config line")
        );
        assert_eq!(c.render(), text);
    }

    fn edited(text: &str, map: &[Extent]) -> String {
        let mut c = CtConfig::parse(text).unwrap();
        c.set_idmap(map);
        let out = c.render();
        // The result reads back as the map it was given.
        assert_eq!(CtConfig::parse(&out).unwrap().idmap(), map, "{out:?}");
        out
    }

    #[test]
    fn set_idmap_placement() {
        let map = map_1005();
        // Replaces the old lines where the first one was; other lines keep their places.
        assert_eq!(
            edited(
                "arch: amd64\nlxc.idmap: u 0 100000 65536\nlxc.apparmor.profile: unconfined\nlxc.id_map = g 0 100000 65536\n",
                &map
            ),
            format!("arch: amd64\n{MAP_1005}lxc.apparmor.profile: unconfined\n")
        );
        // No old lines: after the last non-blank line of the main section.
        assert_eq!(
            edited(
                "arch: amd64\nmemory: 512\n\n[snap]\nlxc.idmap: u 0 100000 65536\n",
                &map
            ),
            format!("arch: amd64\nmemory: 512\n{MAP_1005}\n[snap]\nlxc.idmap: u 0 100000 65536\n")
        );
        assert_eq!(
            edited("arch: amd64\n", &map),
            format!("arch: amd64\n{MAP_1005}")
        );
        assert_eq!(
            edited("arch: amd64\n\n\n", &map),
            format!("arch: amd64\n{MAP_1005}\n\n")
        );
        assert_eq!(edited("", &map), MAP_1005);
        assert_eq!(
            edited("[snap]\nmemory: 1\n", &map),
            format!("{MAP_1005}[snap]\nmemory: 1\n")
        );
        // Snapshot and pending idmaps stay.
        let text = "lxc.idmap: u 0 100000 65536\n\n[pve:pending]\nlxc.idmap: u 0 100000 65536\n";
        assert_eq!(
            edited(text, &map),
            format!("{MAP_1005}\n[pve:pending]\nlxc.idmap: u 0 100000 65536\n")
        );
    }

    #[test]
    fn set_idmap_keeps_line_endings() {
        let map = map_1005();
        let crlf = MAP_1005.replace('\n', "\r\n");
        // No final newline, appended: the new last line has none either.
        assert_eq!(
            edited("arch: amd64\r\nmemory: 512", &map),
            format!(
                "arch: amd64\r\nmemory: 512\r\n{}",
                crlf.strip_suffix("\r\n").unwrap()
            )
        );
        // No final newline, replaced in the last line.
        assert_eq!(
            edited("arch: amd64\nlxc.idmap: u 0 100000 65536", &map),
            format!("arch: amd64\n{}", MAP_1005.strip_suffix('\n').unwrap())
        );
        // Removing the whole map keeps the missing final newline.
        assert_eq!(
            edited("arch: amd64\nlxc.idmap: u 0 100000 65536", &[]),
            "arch: amd64"
        );
        assert_eq!(
            edited("arch: amd64\nlxc.idmap: u 0 100000 65536\n", &[]),
            "arch: amd64\n"
        );
    }

    #[test]
    fn set_idmap_same_map_is_untouched() {
        let text = "lxc.idmap = u 0 100000 65536\nlxc.idmap:g 0 100000 65536";
        let mut c = CtConfig::parse(text).unwrap();
        let same = c.idmap();
        assert!(!c.set_idmap(&same));
        assert_eq!(c.render(), text);
        assert!(c.set_idmap(&map_1005()));
        assert!(!c.set_idmap(&map_1005()));
        // The same map in the deprecated spelling is rewritten: PVE ignores `lxc.id_map`.
        let text = "lxc.id_map = u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n";
        let mut c = CtConfig::parse(text).unwrap();
        assert_eq!(c.deprecated_idmap_lines(), [1]);
        let same = c.idmap();
        assert!(c.set_idmap(&same));
        assert_eq!(
            c.render(),
            "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n"
        );
        assert!(c.deprecated_idmap_lines().is_empty());
    }

    #[test]
    fn effective_idmap_is_what_pve_applies() {
        let default = vec![
            Extent::new(IdKind::Uid, 0, 100000, 65536),
            Extent::new(IdKind::Gid, 0, 100000, 65536),
        ];
        let eff = |t: &str| CtConfig::parse(t).unwrap().effective_idmap();
        assert_eq!(eff("unprivileged: 1\n"), default);
        assert_eq!(eff("unprivileged: 0\nlxc.idmap: u 0 100000 5\n"), vec![]);
        // Deprecated lines are ignored by PVE: the default applies.
        assert_eq!(eff("unprivileged: 1\nlxc.id_map: u 0 200000 5\n"), default);
        // A gid-only custom map leaves uids unmapped: it is the whole map.
        assert_eq!(
            eff("unprivileged: 1\nlxc.idmap: g 0 100000 65536\n"),
            vec![Extent::new(IdKind::Gid, 0, 100000, 65536)]
        );
        // Other sections do not count.
        assert_eq!(
            eff("unprivileged: 1\n[snap]\nlxc.idmap: u 0 1 1\n"),
            default
        );
    }

    fn config_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just(String::new()),
            Just("#descr%20x".to_string()),
            Just("unprivileged: 1".to_string()),
            Just("lock: backup".to_string()),
            Just("[snap]".to_string()),
            Just("[pve:pending]".to_string()),
            Just("lxc.idmap: u 0 100000 65536".to_string()),
            Just("lxc.idmap = g 0 100000 65536".to_string()),
            Just("mp0: /mnt/pve/projects,mp=/p,ro=1".to_string()),
            "[a-z.:=, /\\[\\]#0-9\t\r]{0,30}",
            any::<String>(),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("")];
        prop::collection::vec((line, eol), 0..12)
            .prop_map(|ls| ls.into_iter().map(|(l, e)| format!("{l}{e}")).collect())
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(
            text in config_text(),
            map in prop::collection::vec((any::<bool>(), 0u32..200_000, 0u32..200_000, 1u32..70_000), 0..8),
        ) {
            let map: Vec<Extent> = map
                .into_iter()
                .map(|(u, i, o, c)| Extent::new(if u { IdKind::Uid } else { IdKind::Gid }, i, o, c))
                .collect();
            if let Ok(mut c) = CtConfig::parse(&text) {
                prop_assert_eq!(c.render(), text.clone());
                let before_main: Vec<Section> = c.sections().to_vec();
                let changed = c.set_idmap(&map);
                let out = c.render();
                prop_assert_eq!(changed, out != text);
                let again = CtConfig::parse(&out).unwrap();
                prop_assert_eq!(again.idmap(), map);
                prop_assert_eq!(again.warnings().len(), c.warnings().len());
                prop_assert_eq!(again.sections(), &before_main[..]);
                // Other sections are byte-identical.
                let tail = |t: &str| {
                    let ls = lines::split(t);
                    let i = ls.iter().position(|l| parse_header(&l.text).is_some());
                    i.map(|i| lines::join(&ls[i..]))
                };
                prop_assert_eq!(tail(&out), tail(&text));
            }
        }

        #[test]
        fn arbitrary_input_never_panics(text in any::<String>()) {
            if let Ok(c) = CtConfig::parse(&text) {
                prop_assert_eq!(c.render(), text);
            }
        }
    }
}
