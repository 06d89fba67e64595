//! `idfed resolve --format json`, written straight to the output: the same bytes serde_json's
//! pretty printer writes for `{"shares": {NAME: ResolvedShare}}`, in a third of its time.
//! The owners list is the bulk (100,000 owners are 13 MB), and after the last LDAP page its
//! rendering was the serial tail of the run (benches/LDAP.md). Strings still go through
//! serde_json, which escapes them; the tests compare the two byte for byte.

use std::io::{self, Write};

use crate::resolve::{Owner, ResolvedShare};

/// Writes `{"shares": {...}}` for `shares` (in name order) and a final newline.
///
/// # Errors
/// What writing to `out` returns.
pub fn write(out: &mut impl Write, shares: &[&ResolvedShare]) -> io::Result<()> {
    if shares.is_empty() {
        return out.write_all(b"{\n  \"shares\": {}\n}\n");
    }
    out.write_all(b"{\n  \"shares\": {")?;
    for (i, share) in shares.iter().enumerate() {
        out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        string(out, &share.name)?;
        out.write_all(b": {\n      \"uids\": ")?;
        nested(out, &share.uids, "      ")?;
        out.write_all(b",\n      \"gids\": ")?;
        nested(out, &share.gids, "      ")?;
        out.write_all(b",\n      \"owners\": ")?;
        owners(out, &share.owners)?;
        out.write_all(b"\n    }")?;
    }
    out.write_all(b"\n  }\n}\n")
}

fn owners(out: &mut impl Write, owners: &[Owner]) -> io::Result<()> {
    if owners.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let mut id = itoa::Buffer::new();
    for (i, owner) in owners.iter().enumerate() {
        out.write_all(if i == 0 {
            b"\n        {\n          \"kind\": \""
        } else {
            b",\n        {\n          \"kind\": \""
        })?;
        out.write_all(owner.kind.as_str().as_bytes())?;
        out.write_all(b"\",\n          \"name\": ")?;
        string(out, &owner.name)?;
        out.write_all(b",\n          \"id\": ")?;
        out.write_all(id.format(owner.id).as_bytes())?;
        out.write_all(b",\n          \"source\": ")?;
        string(out, &owner.source)?;
        out.write_all(b"\n        }")?;
    }
    out.write_all(b"\n      ]")
}

/// A JSON string, escaped by serde_json.
fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(io::Error::from)
}

/// A small value (an id set) pretty-printed by serde_json, each line after the first indented
/// by `indent`, as it would be at that depth.
fn nested(out: &mut impl Write, value: &impl serde::Serialize, indent: &str) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::from)?;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
            out.write_all(indent.as_bytes())?;
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{IdRange, IdSet};
    use crate::resolve::OwnerKind;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// What `idfed resolve --format json` wrote before: serde_json's pretty printer.
    fn serde_pretty(shares: &[&ResolvedShare]) -> String {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            shares: BTreeMap<&'a str, &'a ResolvedShare>,
        }
        let doc = Doc {
            shares: shares.iter().map(|s| (s.name.as_str(), *s)).collect(),
        };
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    fn written(shares: &[&ResolvedShare]) -> String {
        let mut out = Vec::new();
        write(&mut out, shares).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn share(name: &str, ids: &[(u32, u32)], owners: Vec<Owner>) -> ResolvedShare {
        let mut set = IdSet::new();
        for &(start, end) in ids {
            set.insert(IdRange::new(start, end).unwrap());
        }
        ResolvedShare {
            name: name.to_string(),
            uids: set.clone(),
            gids: set,
            owners,
        }
    }

    fn owner(kind: OwnerKind, name: &str, id: u32, source: &str) -> Owner {
        Owner {
            kind,
            name: name.to_string(),
            id,
            source: Arc::from(source),
        }
    }

    #[test]
    fn same_bytes_as_serde_json_for_the_edge_cases() {
        let empty = share("empty", &[], Vec::new());
        let full = share(
            "projects \"x\"\n\\",
            &[(1000, 1001), (2000, 2010), (u32::MAX - 2, u32::MAX - 1)],
            vec![
                owner(OwnerKind::User, "alice", 1005, "corp"),
                owner(OwnerKind::User, "bob\u{0}\u{1f}é😀", 0, "files \"local\""),
                owner(OwnerKind::Group, "research", u32::MAX - 1, "corp"),
            ],
        );
        for shares in [vec![], vec![&empty], vec![&full], vec![&empty, &full]] {
            assert_eq!(written(&shares), serde_pretty(&shares));
        }
    }

    proptest! {
        #[test]
        fn same_bytes_as_serde_json(
            shares in proptest::collection::btree_map(
                ".{0,8}",
                (
                    proptest::collection::vec((0u32..5000, 1u32..50), 0..4),
                    proptest::collection::vec((any::<bool>(), ".{0,8}", any::<u32>(), ".{0,5}"), 0..5),
                ),
                0..4,
            )
        ) {
            let shares: Vec<ResolvedShare> = shares
                .into_iter()
                .map(|(name, (ranges, owners))| {
                    let ranges: Vec<_> = ranges.into_iter().map(|(s, n)| (s, s + n)).collect();
                    let owners = owners
                        .into_iter()
                        .map(|(user, name, id, source)| {
                            let kind = if user { OwnerKind::User } else { OwnerKind::Group };
                            owner(kind, &name, id.min(u32::MAX - 1), &source)
                        })
                        .collect();
                    share(&name, &ranges, owners)
                })
                .collect();
            let refs: Vec<_> = shares.iter().collect();
            prop_assert_eq!(written(&refs), serde_pretty(&refs));
        }
    }
}
