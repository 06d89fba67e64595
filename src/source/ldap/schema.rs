//! What the entries mean under the source's schema: users and groups from their attributes,
//! entries without them skipped with a warning, members as names or DNs.

use crate::config::LdapConfig;

use super::super::directory::{Group, Member, User};
use super::wire::entry::Entry;

/// A required attribute: its value, or a warning naming the entry and `None`.
fn required<'e>(entry: &Entry<'e>, name: &str, warnings: &mut Vec<String>) -> Option<&'e str> {
    let value = entry.first(name);
    if value.is_none() {
        warnings.push(format!("entry `{}` has no `{name}`: skipped", entry.dn));
    }
    value
}

fn number(entry: &Entry<'_>, name: &str, warnings: &mut Vec<String>) -> Option<u32> {
    let value = required(entry, name, warnings)?;
    match value.parse::<u32>() {
        Ok(id) if id < u32::MAX => Some(id),
        _ => {
            warnings.push(format!(
                "entry `{}` has `{name}` `{value}`, not an id (0 to 4294967294): skipped",
                entry.dn
            ));
            None
        }
    }
}

pub(super) fn user_from(
    config: &LdapConfig,
    entry: &Entry<'_>,
    warnings: &mut Vec<String>,
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
    warnings: &mut Vec<String>,
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
