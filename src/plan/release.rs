//! Releasing adopted passthroughs: `apply --release VMID[:u|g[:IDS]]`. An adopted id (taken under
//! management by `apply --adopt`) is passed through whatever the shares say until it is released;
//! released, it is one of idfed's ordinary passthroughs again, kept while a share owns it and
//! removed when none does.

use std::fmt;
use std::str::FromStr;

use crate::ids::{IdError, IdKind, IdRange, IdSet};

/// What to release: every adopted id of a CT, of one kind, or the ids of one range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub vmid: u32,
    /// `None`: both kinds.
    pub kind: Option<IdKind>,
    /// `None`: every adopted id of the kind(s).
    pub ids: Option<IdRange>,
}

/// A `--release` value that is not `VMID[:u|g[:IDS]]`.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(
        "`{input}`: `{vmid}` is not a VMID: expected `VMID[:u|g[:IDS]]`, like `201`, `201:u` or `201:g:2000-2010`"
    )]
    Vmid { input: String, vmid: String },
    #[error("`{input}`: `{kind}` is not a kind: expected `u` or `g`, like `201:u:33`")]
    Kind { input: String, kind: String },
    #[error("`{input}`: {source}")]
    Ids {
        input: String,
        #[source]
        source: IdError,
    },
}

impl FromStr for Release {
    type Err = ReleaseError;

    fn from_str(input: &str) -> Result<Release, ReleaseError> {
        let mut parts = input.splitn(3, ':');
        let vmid = parts.next().unwrap_or_default();
        let vmid = vmid
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 0 && !vmid.starts_with('+'))
            .ok_or_else(|| ReleaseError::Vmid {
                input: input.to_string(),
                vmid: vmid.to_string(),
            })?;
        let kind = parts
            .next()
            .map(|k| {
                IdKind::from_letter(k).ok_or_else(|| ReleaseError::Kind {
                    input: input.to_string(),
                    kind: k.to_string(),
                })
            })
            .transpose()?;
        let ids = parts
            .next()
            .map(|ids| {
                ids.parse::<IdRange>().map_err(|source| ReleaseError::Ids {
                    input: input.to_string(),
                    source,
                })
            })
            .transpose()?;
        Ok(Release { vmid, kind, ids })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.vmid)?;
        if let Some(kind) = self.kind {
            write!(f, ":{}", kind.letter())?;
        }
        if let Some(ids) = self.ids {
            write!(f, ":{ids}")?;
        }
        Ok(())
    }
}

/// The ids of `adopted` (CT `vmid`'s adopted ids of `kind`) that `release` names.
pub(crate) fn released(release: &[Release], vmid: u32, kind: IdKind, adopted: &IdSet) -> IdSet {
    let mut out = IdSet::new();
    for r in release
        .iter()
        .filter(|r| r.vmid == vmid && r.kind.is_none_or(|k| k == kind))
    {
        match r.ids {
            None => return adopted.clone(),
            Some(range) => out = out.union(&adopted.clip(range)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testutil::set;

    #[test]
    fn release_specs() {
        for (input, vmid, kind, ids) in [
            ("201", 201, None, None),
            ("201:u", 201, Some(IdKind::Uid), None),
            ("201:g:33", 201, Some(IdKind::Gid), IdRange::new(33, 34)),
            (
                "201:u:2000-2010",
                201,
                Some(IdKind::Uid),
                IdRange::new(2000, 2011),
            ),
        ] {
            let r: Release = input.parse().unwrap();
            assert_eq!((r.vmid, r.kind, r.ids), (vmid, kind, ids), "{input}");
            assert_eq!(r.to_string(), input);
        }
        for (input, says) in [
            ("", "`` is not a VMID"),
            ("0", "`0` is not a VMID"),
            ("+201", "`+201` is not a VMID"),
            ("x:u", "`x` is not a VMID"),
            ("201:x", "`x` is not a kind"),
            ("201:", "`` is not a kind"),
            ("201:u:", "`` is not an id"),
            ("201:u:10-9", "reversed"),
            ("201:u:4294967295", "too large"),
        ] {
            let e = input.parse::<Release>().unwrap_err().to_string();
            assert!(e.contains(says), "{input}: {e}");
        }
    }

    #[test]
    fn released_ids_are_the_adopted_ones_named() {
        let adopted = set(&[33, 1005, 1006, 2000]);
        let r = |s: &str| s.parse::<Release>().unwrap();
        let of = |rs: &[Release], kind| released(rs, 201, kind, &adopted);
        assert_eq!(of(&[r("201")], IdKind::Gid), adopted);
        assert_eq!(of(&[r("201:u")], IdKind::Gid), IdSet::new());
        assert_eq!(of(&[r("202")], IdKind::Uid), IdSet::new());
        assert_eq!(
            of(&[r("201:u:1005-1999"), r("201:u:33")], IdKind::Uid),
            set(&[33, 1005, 1006])
        );
        // Naming an id that is not adopted releases nothing.
        assert_eq!(of(&[r("201:u:34")], IdKind::Uid), IdSet::new());
    }
}
