//! What the entries mean under the source's schema: users and groups from their attributes,
//! entries without them skipped with a warning, members as names or DNs.

use crate::config::LdapConfig;
use crate::ids;
use crate::source::SourceWarning;

use super::super::directory::{Group, Member, User};
use super::wire::entry::Entry;

/// A required attribute: its value, or a warning naming the entry and `None`.
fn required<'e>(
    entry: &Entry<'e>,
    name: &str,
    warnings: &mut Vec<SourceWarning>,
) -> Option<&'e str> {
    let value = entry.first(name);
    if value.is_none() {
        warnings.push(SourceWarning::MissingAttribute {
            dn: entry.dn.to_string(),
            attr: name.to_string(),
        });
    }
    value
}

/// A required id attribute (`uidNumber`, `gidNumber`), read by [`ids::parse_id`] as passwd's ids
/// are: a value passwd would refuse (`+1005`, ` 1005`) is not taken from a directory either.
fn number(entry: &Entry<'_>, name: &str, warnings: &mut Vec<SourceWarning>) -> Option<u32> {
    let value = required(entry, name, warnings)?;
    match ids::parse_id(value) {
        Ok(id) => Some(id),
        Err(_) => {
            warnings.push(SourceWarning::NotAnId {
                dn: entry.dn.to_string(),
                attr: name.to_string(),
                value: value.to_string(),
            });
            None
        }
    }
}

pub(super) fn user_from(
    config: &LdapConfig,
    entry: &Entry<'_>,
    warnings: &mut Vec<SourceWarning>,
) -> Option<User> {
    let s = &config.schema;
    let name = required(entry, &s.user_name_attr, warnings)?;
    let uid = number(entry, &s.uid_number_attr, warnings)?;
    let gid = number(entry, &s.gid_number_attr, warnings)?;
    Some(User {
        name: name.to_string(),
        uid,
        gid,
        dn: Some(entry.dn.to_string()),
    })
}

/// A member value as the schema reads it: a user name (`memberUid`) or a DN.
pub(super) fn member(config: &LdapConfig, value: &str) -> Member {
    if config.schema.members_are_names() {
        Member::Name(value.to_string())
    } else {
        Member::Dn(value.to_string())
    }
}

pub(super) fn group_from(
    config: &LdapConfig,
    entry: &Entry<'_>,
    warnings: &mut Vec<SourceWarning>,
) -> Option<Group> {
    let s = &config.schema;
    let name = required(entry, &s.group_name_attr, warnings)?.to_string();
    let gid = number(entry, &s.gid_number_attr, warnings)?;
    let members = entry
        .values(&s.member_attr)
        .map(|v| member(config, v))
        .collect();
    Some(Group {
        name,
        gid,
        members,
        dn: Some(entry.dn.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::wire::ber::Reader;
    use super::super::wire::testutil::{encode, entry_tag};
    use super::*;

    /// `uidNumber` values against what passwd's reader (`source::files`) takes: the same ids,
    /// the same refusals, including the signed and padded forms `str::parse` would accept.
    #[test]
    fn id_attributes_are_read_as_passwd_reads_ids() {
        let cases: &[(&str, Option<u32>)] = &[
            ("0", Some(0)),
            ("1005", Some(1005)),
            ("01005", Some(1005)),
            ("4294967294", Some(4_294_967_294)),
            ("4294967295", None),
            ("+1005", None),
            ("-1", None),
            (" 1005", None),
            ("1005 ", None),
            ("0x3ed", None),
            ("", None),
        ];
        for &(value, expected) in cases {
            let bytes = encode(entry_tag(
                b"uid=alice,dc=x",
                &[(b"uidNumber", &[value.as_bytes()])],
            ));
            let op = Reader::new(&bytes).expect("op").unwrap();
            let entry = Entry::from_ber(&op).unwrap();
            let mut warnings = Vec::new();
            assert_eq!(
                number(&entry, "uidNumber", &mut warnings),
                expected,
                "{value:?}"
            );
            assert_eq!(expected, ids::parse_id(value).ok(), "{value:?}");
            if expected.is_none() {
                assert_eq!(
                    warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    [format!(
                        "entry `uid=alice,dc=x` has `uidNumber` `{value}`, \
                         not an id (0 to 4294967294): skipped"
                    )]
                );
            } else {
                assert!(warnings.is_empty(), "{warnings:?}");
            }
        }
    }
}
