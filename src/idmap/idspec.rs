//! `IDSPEC`: how an administrator names ids to pass through on the command line: `1005`,
//! `2000-2010` (both kinds), `u:1005`, `g:2000-2010` (one kind).
//!
//! Owns parsing only; whether an id may pass through (`min_id`, id 0) is `build`'s rule.

use std::fmt;
use std::str::FromStr;

use crate::ids::{IdError, IdKind, IdRange};

/// Ids of one kind, or of both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSpec {
    /// `None`: both uids and gids.
    pub kind: Option<IdKind>,
    pub range: IdRange,
}

impl IdSpec {
    /// Does the spec name ids of `kind`?
    pub fn applies_to(&self, kind: IdKind) -> bool {
        self.kind.is_none_or(|k| k == kind)
    }
}

/// Why an IDSPEC could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdSpecError {
    #[error(
        "IDSPEC `{input}`: kind `{kind}` is neither `u` nor `g`: expected `1005`, `2000-2010`, `u:1005` or `g:2000-2010`"
    )]
    Kind { input: String, kind: String },
    #[error("IDSPEC `{input}`: {error}")]
    Range { input: String, error: IdError },
}

impl FromStr for IdSpec {
    type Err = IdSpecError;

    fn from_str(input: &str) -> Result<IdSpec, IdSpecError> {
        let (kind, ids) = match input.split_once(':') {
            Some((letter, ids)) => {
                let kind = IdKind::from_letter(letter).ok_or_else(|| IdSpecError::Kind {
                    input: input.to_string(),
                    kind: letter.to_string(),
                })?;
                (Some(kind), ids)
            }
            None => (None, input),
        };
        let range = ids.parse().map_err(|error| IdSpecError::Range {
            input: input.to_string(),
            error,
        })?;
        Ok(IdSpec { kind, range })
    }
}

impl fmt::Display for IdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(k) => write!(f, "{}:{}", k.letter(), self.range),
            None => write!(f, "{}", self.range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("1005", None, "1005"),
            ("2000-2010", None, "2000-2010"),
            ("u:1005", Some(IdKind::Uid), "1005"),
            ("g:2000-2010", Some(IdKind::Gid), "2000-2010"),
            ("u:4294967294", Some(IdKind::Uid), "4294967294"),
        ];
        // Leading zeros are decimal; the spec prints back without them.
        assert_eq!("u:01005".parse::<IdSpec>().unwrap().to_string(), "u:1005");
        for (input, kind, range) in ok {
            let spec: IdSpec = input.parse().unwrap();
            assert_eq!(spec.kind, kind, "{input}");
            assert_eq!(spec.range.to_string(), range, "{input}");
            assert_eq!(spec.to_string(), input);
        }
        let bad = [
            ("abc", "not an id"),
            ("x:5", "kind `x`"),
            (":5", "kind ``"),
            ("u:", "not an id"),
            ("u:g:5", "not an id"),
            ("4294967295", "too large"),
            ("u:4294967295", "too large"),
            ("+1005", "not an id"),
            ("-1", "not an id"),
            ("u: 1005", "not an id"),
            ("3000-2000", "reversed"),
        ];
        for (input, want) in bad {
            let err = input.parse::<IdSpec>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
            assert!(err.contains(&format!("IDSPEC `{input}`")), "{input}: {err}");
        }
    }

    #[test]
    fn applies_to() {
        let both: IdSpec = "1005".parse().unwrap();
        let g: IdSpec = "g:1005".parse().unwrap();
        assert!(both.applies_to(IdKind::Uid) && both.applies_to(IdKind::Gid));
        assert!(!g.applies_to(IdKind::Uid) && g.applies_to(IdKind::Gid));
    }
}
