//! One `lxc.idmap` line: kind, inside start, outside start, count.
//!
//! Owns the extent's LXC text form (`u 0 100000 1005`) and its JSON shape. It knows nothing about
//! what makes a whole map valid (see `validate`) or how maps are built (see `build`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::ids::{self, IdKind, IdRange};

/// One extent of a map: inside ids `[inside, inside + count)` are host ids
/// `[outside, outside + count)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extent {
    pub kind: IdKind,
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// Why an `lxc.idmap` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtentParseError {
    #[error(
        "`{input}` is not an idmap entry: expected `u|g INSIDE OUTSIDE COUNT`, like `u 0 100000 65536`"
    )]
    Shape { input: String },
    #[error("`{input}`: kind `{kind}` is neither `u` nor `g`")]
    Kind { input: String, kind: String },
    #[error("`{input}`: `{field}` is not a number from 0 to 4294967295")]
    Number { input: String, field: String },
    #[error(
        "`{input}`: the count must be at least 1 and the extent must end at or below 4294967295"
    )]
    Bounds { input: String },
}

impl Extent {
    /// Builds an extent.
    pub fn new(kind: IdKind, inside: u32, outside: u32, count: u32) -> Extent {
        Extent {
            kind,
            inside,
            outside,
            count,
        }
    }

    /// The inside ids as a range, or `None` when the count is 0 or it runs past `u32::MAX`.
    pub fn inside_range(&self) -> Option<IdRange> {
        IdRange::with_count(u64::from(self.inside), u64::from(self.count)).ok()
    }

    /// The outside (host) ids as a range, or `None` when the count is 0 or it runs past `u32::MAX`.
    pub fn outside_range(&self) -> Option<IdRange> {
        IdRange::with_count(u64::from(self.outside), u64::from(self.count)).ok()
    }

    /// Does this extent map its ids to themselves?
    pub fn is_passthrough(&self) -> bool {
        self.inside == self.outside
    }

    /// The line newuidmap writes to `/proc/PID/uid_map` for it: `"0 100000 1005\n"`.
    pub fn kernel_line(&self) -> String {
        format!("{} {} {}\n", self.inside, self.outside, self.count)
    }

    /// The length in bytes of [`Extent::kernel_line`], without building it.
    pub fn kernel_line_len(&self) -> usize {
        line_len(self.inside, self.outside, self.count) as usize
    }
}

/// Decimal digits of `n`: `digits(0) == 1`, `digits(4294967295) == 10`.
pub(crate) fn digits(n: u64) -> u32 {
    n.checked_ilog10().unwrap_or(0) + 1
}

/// Bytes of the kernel line `"{inside} {outside} {count}\n"`.
pub(crate) fn line_len(inside: u32, outside: u32, count: u32) -> u32 {
    digits(inside.into()) + digits(outside.into()) + digits(count.into()) + 3
}

/// LXC syntax, as written after `lxc.idmap:`: `u 0 100000 1005`.
impl fmt::Display for Extent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written piece by piece (a `write!` of four arguments cost about 1,000 instructions a
        // line, and a plan prints maps by the ten thousand lines).
        let mut n = itoa::Buffer::new();
        fmt::Write::write_char(f, self.kind.letter())?;
        f.write_str(" ")?;
        f.write_str(n.format(self.inside))?;
        f.write_str(" ")?;
        f.write_str(n.format(self.outside))?;
        f.write_str(" ")?;
        f.write_str(n.format(self.count))
    }
}

/// Parses `u 0 100000 1005` (any run of spaces or tabs between fields).
impl FromStr for Extent {
    type Err = ExtentParseError;

    fn from_str(input: &str) -> Result<Extent, ExtentParseError> {
        let fields: Vec<&str> = input.split_ascii_whitespace().collect();
        let [kind, inside, outside, count] = fields[..] else {
            return Err(ExtentParseError::Shape {
                input: input.to_string(),
            });
        };
        let kind = IdKind::from_letter(kind).ok_or_else(|| ExtentParseError::Kind {
            input: input.to_string(),
            kind: kind.to_string(),
        })?;
        let num = |field: &str| {
            ids::parse_u32(field).map_err(|_| ExtentParseError::Number {
                input: input.to_string(),
                field: field.to_string(),
            })
        };
        let e = Extent::new(kind, num(inside)?, num(outside)?, num(count)?);
        if e.inside_range().is_none() || e.outside_range().is_none() {
            return Err(ExtentParseError::Bounds {
                input: input.to_string(),
            });
        }
        Ok(e)
    }
}

/// JSON shape `{"inside": 0, "outside": 100000, "count": 1005}` (DESIGN.md section 5); the kind is
/// given by the field that holds the list (`uid_map` or `gid_map`).
impl Serialize for Extent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Extent", 3)?;
        s.serialize_field("inside", &self.inside)?;
        s.serialize_field("outside", &self.outside)?;
        s.serialize_field("count", &self.count)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let e: Extent = "u 0 100000 1005".parse().unwrap();
        assert_eq!(e, Extent::new(IdKind::Uid, 0, 100000, 1005));
        assert_eq!(e.to_string(), "u 0 100000 1005");
        let g: Extent = "g\t1005  1005 1".parse().unwrap();
        assert_eq!(g, Extent::new(IdKind::Gid, 1005, 1005, 1));
        assert!(g.is_passthrough());
        assert_eq!(e.kernel_line(), "0 100000 1005\n");
        assert_eq!(e.kernel_line_len(), e.kernel_line().len());
        let big = Extent::new(IdKind::Uid, 4294967294, 4294967294, 1);
        assert_eq!(big.kernel_line_len(), big.kernel_line().len());
    }

    #[test]
    fn parse_errors() {
        for (input, want) in [
            ("u 0 100000", "expected `u|g"),
            ("u 0 100000 1 2", "expected `u|g"),
            ("x 0 100000 1", "kind `x`"),
            ("u -1 100000 1", "`-1`"),
            ("u 0 abc 1", "`abc`"),
            ("u 0 4294967296 1", "`4294967296`"),
            ("u +0 100000 1", "`+0`"),
            ("u 0 100000 +1005", "`+1005`"),
            ("u 0 100000 0", "count"),
            ("u 4294967295 0 1", "count"),
            ("u 0 4294967290 10", "count"),
        ] {
            let err = input.parse::<Extent>().unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
        // The last id fits exactly; a count may be 4294967295 (every id); zeros are decimal.
        assert!("u 0 4294967294 1".parse::<Extent>().is_ok());
        assert_eq!(
            "u 0 0 4294967295".parse::<Extent>(),
            Ok(Extent::new(IdKind::Uid, 0, 0, u32::MAX))
        );
        assert_eq!(
            "u 01005 01005 01".parse::<Extent>(),
            Ok(Extent::new(IdKind::Uid, 1005, 1005, 1))
        );
    }

    #[test]
    fn json_shape() {
        let e = Extent::new(IdKind::Gid, 0, 100000, 1005);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"inside":0,"outside":100000,"count":1005}"#
        );
    }
}
