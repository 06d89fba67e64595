//! The `files` source: a passwd file (`name:password:uid:gid:gecos:home:shell`) and a group file
//! (`name:password:gid:member,member`), the NAS's own or `getent` output. Comments and blank
//! lines are allowed; every other line must be well formed, and a bad one is an error with its
//! line number, never skipped.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::FilesConfig;
use crate::fs::{self, FsError};
use crate::ids::{self, ParseIdError};

use super::directory::{Directory, Duplicate, Group, Member, User};

/// Why one line of a passwd or group file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LineError {
    /// 1-based.
    pub line: usize,
    pub kind: LineErrorKind,
}

/// What was wrong with the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineErrorKind {
    FieldCount {
        expected: usize,
        found: usize,
        layout: &'static str,
    },
    EmptyName,
    NotANumber {
        field: &'static str,
        value: String,
    },
    OutOfRange {
        field: &'static str,
        value: String,
    },
    /// A name defined again with another id (said differently from [`Duplicate`]'s own
    /// message: here the line is the second definition).
    Duplicate(Duplicate),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            LineErrorKind::FieldCount {
                expected,
                found,
                layout,
            } => write!(f, "expected {expected} fields `{layout}`, found {found}"),
            LineErrorKind::EmptyName => {
                f.write_str("empty name: expected a name in the first field")
            }
            LineErrorKind::NotANumber { field, value } => {
                write!(
                    f,
                    "{field} `{value}` is not a number: expected 0 to 4294967294"
                )
            }
            LineErrorKind::OutOfRange { field, value } => {
                write!(
                    f,
                    "{field} `{value}` is out of range: expected 0 to 4294967294"
                )
            }
            LineErrorKind::Duplicate(d) => write!(
                f,
                "{} `{}` is defined again with {} {}, before with {}",
                d.kind, d.name, d.id_kind, d.second, d.first
            ),
        }
    }
}

/// Why a passwd or group file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FilesError {
    #[error(transparent)]
    Read(#[from] FsError),
    #[error("`{}` {}", path.display(), list(errors))]
    Malformed {
        path: PathBuf,
        errors: Vec<LineError>,
    },
}

fn list(errors: &[LineError]) -> String {
    const SHOWN: usize = 5;
    let mut out = errors
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > SHOWN {
        out.push_str(&format!(
            " (and {} more malformed lines)",
            errors.len() - SHOWN
        ));
    }
    out
}

const PASSWD_LAYOUT: &str = "name:password:uid:gid:gecos:home:shell";
const GROUP_LAYOUT: &str = "name:password:gid:members";

/// Reads both files of a `files` source into a directory.
///
/// # Errors
/// [`FilesError`] naming the file (and the lines) that could not be read.
pub(crate) fn load(config: &FilesConfig) -> Result<Directory, FilesError> {
    let mut directory = Directory::new();
    let passwd = fs::read_to_string(&config.passwd)?;
    directory.reserve_users(line_count(&passwd));
    add_all(&config.passwd, passwd_entries(&passwd), |user| {
        directory.add_user(user)
    })?;
    let group = fs::read_to_string(&config.group)?;
    directory.reserve_groups(line_count(&group));
    add_all(&config.group, group_entries(&group), |group| {
        directory.add_group(group)
    })?;
    Ok(directory)
}

/// How many lines `text` has at most: room for as many entries.
fn line_count(text: &str) -> usize {
    memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1
}

/// Adds each entry as it is parsed: every malformed line is an error; when there is none, every
/// name defined again with another id (once a line is malformed, nothing more is added: only the
/// malformed lines are said).
fn add_all<T>(
    path: &Path,
    entries: impl Iterator<Item = Result<(usize, T), LineError>>,
    mut add: impl FnMut(T) -> Result<(), Duplicate>,
) -> Result<(), FilesError> {
    let mut malformed = Vec::new();
    let mut duplicates = Vec::new();
    for entry in entries {
        match entry {
            Ok((line, item)) if malformed.is_empty() => {
                if let Err(d) = add(item) {
                    duplicates.push(LineError {
                        line,
                        kind: LineErrorKind::Duplicate(d),
                    });
                }
            }
            Ok(_) => {}
            Err(e) => malformed.push(e),
        }
    }
    let errors = if malformed.is_empty() {
        duplicates
    } else {
        malformed
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(FilesError::Malformed {
            path: path.to_path_buf(),
            errors,
        })
    }
}

/// A line's fields: the first [`Fields::KEPT`] (the rest empty) and how many there are.
struct Fields<'a> {
    kept: [&'a str; Fields::KEPT],
    count: usize,
}

impl<'a> Fields<'a> {
    /// Both layouts read their first four fields only (the last of a group line is all of the
    /// rest when the line has exactly four).
    const KEPT: usize = 4;

    fn of(line: &'a str) -> Fields<'a> {
        // A `:` is never inside a UTF-8 sequence, so each slice is on a boundary.
        let mut kept = [""; Fields::KEPT];
        let mut count = 0;
        let mut start = 0;
        for i in memchr::memchr_iter(b':', line.as_bytes()) {
            if count < Fields::KEPT {
                kept[count] = &line[start..i];
            }
            count += 1;
            start = i + 1;
        }
        if count < Fields::KEPT {
            kept[count] = &line[start..];
        }
        Fields {
            kept,
            count: count + 1,
        }
    }
}

impl<'a> std::ops::Index<usize> for Fields<'a> {
    type Output = &'a str;

    fn index(&self, i: usize) -> &&'a str {
        &self.kept[i]
    }
}

/// The lines that carry an entry: 1-based number and fields; comments and blank lines skipped.
fn entries(text: &str) -> impl Iterator<Item = (usize, Fields<'_>)> {
    // (`lines` drops a `\r` before a `\n`; this drops one that ends the file.)
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            None
        } else {
            Some((i + 1, Fields::of(line)))
        }
    })
}

#[inline]
fn id(field: &'static str, value: &str) -> Result<u32, LineErrorKind> {
    ids::parse_id(value).map_err(|e| match e {
        ParseIdError::NotDecimal { .. } => LineErrorKind::NotANumber {
            field,
            value: value.to_string(),
        },
        ParseIdError::TooLarge { .. } => LineErrorKind::OutOfRange {
            field,
            value: value.to_string(),
        },
    })
}

fn fields(fields: &Fields<'_>, expected: usize, layout: &'static str) -> Result<(), LineErrorKind> {
    if fields.count != expected {
        return Err(LineErrorKind::FieldCount {
            expected,
            found: fields.count,
            layout,
        });
    }
    if fields[0].trim().is_empty() {
        return Err(LineErrorKind::EmptyName);
    }
    Ok(())
}

#[cfg(test)]
/// Parses a passwd file: the users with their line numbers, or every malformed line.
///
/// # Errors
/// One [`LineError`] per malformed line.
pub(crate) fn parse_passwd(text: &str) -> Result<Vec<(usize, User)>, Vec<LineError>> {
    collect(passwd_entries(text))
}

/// The entries of a passwd file one by one: each user with its line number, or why its line is
/// malformed (comments and blank lines skipped).
pub(crate) fn passwd_entries(text: &str) -> impl Iterator<Item = Result<(usize, User), LineError>> {
    entries(text).map(|(line, f)| {
        let user = fields(&f, 7, PASSWD_LAYOUT).and_then(|()| {
            Ok(User {
                name: f[0].trim().to_string(),
                uid: id("uid", f[2])?,
                gid: id("gid", f[3])?,
                dn: None,
            })
        });
        user.map(|u| (line, u))
            .map_err(|kind| LineError { line, kind })
    })
}

#[cfg(test)]
/// Parses a group file: the groups with their line numbers, or every malformed line.
///
/// # Errors
/// One [`LineError`] per malformed line.
pub(crate) fn parse_group(text: &str) -> Result<Vec<(usize, Group)>, Vec<LineError>> {
    collect(group_entries(text))
}

/// The entries of a group file one by one, as [`passwd_entries`].
fn group_entries(text: &str) -> impl Iterator<Item = Result<(usize, Group), LineError>> {
    entries(text).map(|(line, f)| {
        let group = fields(&f, 4, GROUP_LAYOUT).and_then(|()| {
            Ok(Group {
                name: f[0].trim().to_string(),
                gid: id("gid", f[2])?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(|m| Member::Name(m.to_string()))
                    .collect(),
                dn: None,
            })
        });
        group
            .map(|g| (line, g))
            .map_err(|kind| LineError { line, kind })
    })
}

#[cfg(test)]
fn collect<T>(
    items: impl Iterator<Item = Result<(usize, T), LineError>>,
) -> Result<Vec<(usize, T)>, Vec<LineError>> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for item in items {
        match item {
            Ok(v) => good.push(v),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn passwd_err(text: &str) -> String {
        let errors = parse_passwd(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].to_string()
    }

    fn group_err(text: &str) -> String {
        let errors = parse_group(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].to_string()
    }

    #[test]
    fn passwd_good_lines_comments_and_blanks() {
        let text = "# users\n\nalice:x:1005:1005:Alice A,,,:/home/alice:/bin/bash\r\n  \nbob:*:1006:100::/home/bob:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\nmax:x:4294967294:0:::\n";
        let users = parse_passwd(text).unwrap();
        let got: Vec<_> = users
            .iter()
            .map(|(l, u)| (*l, u.name.as_str(), u.uid, u.gid))
            .collect();
        assert_eq!(
            got,
            [
                (3, "alice", 1005, 1005),
                (5, "bob", 1006, 100),
                (6, "nobody", 65534, 65534),
                (7, "max", 4_294_967_294, 0),
            ]
        );
    }

    #[test]
    fn passwd_malformed_lines() {
        let table = [
            (
                "alice:x:1005:1005:/home/alice:/bin/bash",
                "line 1: expected 7 fields `name:password:uid:gid:gecos:home:shell`, found 6",
            ),
            (
                "alice:x:1005:1005::/home/alice:/bin/bash:extra",
                "line 1: expected 7 fields `name:password:uid:gid:gecos:home:shell`, found 8",
            ),
            (
                "alice",
                "line 1: expected 7 fields `name:password:uid:gid:gecos:home:shell`, found 1",
            ),
            (
                ":x:1005:1005:::",
                "line 1: empty name: expected a name in the first field",
            ),
            (
                "alice:x:abc:1005:::",
                "line 1: uid `abc` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x::1005:::",
                "line 1: uid `` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x:-1:1005:::",
                "line 1: uid `-1` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x:+1005:1005:::",
                "line 1: uid `+1005` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x: 1005:1005:::",
                "line 1: uid ` 1005` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x:1005:x:::",
                "line 1: gid `x` is not a number: expected 0 to 4294967294",
            ),
            (
                "alice:x:4294967295:1005:::",
                "line 1: uid `4294967295` is out of range: expected 0 to 4294967294",
            ),
            (
                "alice:x:99999999999999999999999:1005:::",
                "line 1: uid `99999999999999999999999` is out of range: expected 0 to 4294967294",
            ),
            (
                "alice:x:1005:4294967295:::",
                "line 1: gid `4294967295` is out of range: expected 0 to 4294967294",
            ),
        ];
        for (line, want) in table {
            assert_eq!(passwd_err(line), want, "{line}");
        }
    }

    #[test]
    fn passwd_ids_are_decimal_up_to_the_last_id() {
        // Leading zeros are decimal (as glibc's strtoul in base 10), never octal.
        for (text, uid, gid) in [
            ("a:x:01005:010:::\n", 1005, 10),
            ("a:x:4294967294:0:::\n", 4294967294, 0),
            ("a:x:1005:1006:::\n", 1005, 1006),
        ] {
            let users = parse_passwd(text).unwrap();
            assert_eq!((users[0].1.uid, users[0].1.gid), (uid, gid), "{text}");
        }
    }

    #[test]
    fn passwd_every_bad_line_is_reported_with_its_number() {
        let errors =
            parse_passwd("# c\nok:x:1:1:::\nbad\nok2:x:2:2:::\nworse:x:y:1:::\n").unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn group_good_lines() {
        let groups = parse_group("# g\nresearch:x:3000:alice, bob,,\nempty:x:3001:\n").unwrap();
        assert_eq!(groups[0].0, 2);
        assert_eq!(
            groups[0].1.members,
            [Member::Name("alice".into()), Member::Name("bob".into())]
        );
        assert_eq!(groups[1].1.gid, 3001);
        assert!(groups[1].1.members.is_empty());
    }

    #[test]
    fn group_malformed_lines() {
        let table = [
            (
                "research:x:3000",
                "line 1: expected 4 fields `name:password:gid:members`, found 3",
            ),
            (
                "research:x:3000:alice:bob",
                "line 1: expected 4 fields `name:password:gid:members`, found 5",
            ),
            (
                ":x:3000:",
                "line 1: empty name: expected a name in the first field",
            ),
            (
                "research:x:three:",
                "line 1: gid `three` is not a number: expected 0 to 4294967294",
            ),
            (
                "research:x:4294967296:",
                "line 1: gid `4294967296` is out of range: expected 0 to 4294967294",
            ),
        ];
        for (line, want) in table {
            assert_eq!(group_err(line), want, "{line}");
        }
    }

    #[test]
    fn load_names_file_and_line_for_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(
            &passwd,
            "alice:x:1005:1005:::\nalice:x:1005:1005:::\nalice:x:1007:1005:::\n",
        )
        .unwrap();
        std::fs::write(&group, "g:x:3000:alice\n").unwrap();
        let config = FilesConfig {
            passwd: passwd.clone(),
            group: group.clone(),
        };
        let err = load(&config).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`{}` line 3: user `alice` is defined again with uid 1007, before with 1005",
                passwd.display()
            )
        );
        std::fs::write(&passwd, "alice:x:1005:1005:::\n").unwrap();
        std::fs::write(&group, "g:x:3000:alice\ng:x:3001:\n").unwrap();
        let err = load(&config).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`{}` line 2: group `g` is defined again with gid 3001, before with 3000",
                group.display()
            )
        );
        std::fs::write(&group, "g:x:3000:alice\n").unwrap();
        let d = load(&config).unwrap();
        assert_eq!(d.group("g").unwrap().members.len(), 1);
        // A malformed line and a name defined again: only the malformed line is said, also
        // when the duplicate comes first (what a duplicate means is unsure beside a bad line).
        std::fs::write(&passwd, "a:x:1:1:::\na:x:2:1:::\nbad\n").unwrap();
        let err = load(&config).unwrap_err().to_string();
        assert!(err.contains("line 3") && !err.contains("line 2"), "{err}");
    }

    #[test]
    fn load_names_a_missing_file() {
        let config = FilesConfig {
            passwd: "/nonexistent/idfed/passwd".into(),
            group: "/nonexistent/idfed/group".into(),
        };
        assert_eq!(
            load(&config).unwrap_err().to_string(),
            "failed to read `/nonexistent/idfed/passwd`"
        );
    }

    proptest! {
        /// The fields are `split(':')`'s, whatever stands around the colons (`;` is the byte
        /// right above `:`, where a carry would land; multibyte characters).
        #[test]
        fn fields_are_those_split_gives(line in "[a-z:;9\u{e9}\u{203a}\u{10ffff}]{0,40}") {
            let f = Fields::of(&line);
            let all: Vec<&str> = line.split(':').collect();
            prop_assert_eq!(f.count, all.len());
            for i in 0..Fields::KEPT {
                prop_assert_eq!(f[i], all.get(i).copied().unwrap_or(""));
            }
        }

        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}") {
            let _ = parse_passwd(&text);
            let _ = parse_group(&text);
        }

        #[test]
        fn parsers_never_panic_on_colon_soup(text in "[a-z0-9:,#\n\r -]{0,300}") {
            let _ = parse_passwd(&text);
            let _ = parse_group(&text);
        }
    }
}
