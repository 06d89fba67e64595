//! POSIX ACLs as the kernel stores them in the `system.posix_acl_access` and
//! `system.posix_acl_default` extended attributes, and rewriting the ids they name. Pure.
//!
//! The value is a little-endian `u32` version (2) followed by 8-byte entries: `u16` tag, `u16`
//! permissions, `u32` id. Only named-user (`ACL_USER`) and named-group (`ACL_GROUP`) entries carry
//! an id; the kernel wants each of those sorted by id without duplicates, so a rewrite re-sorts
//! them (keeping the rewritten entry when it lands on an id already named: the moved entry is the
//! one written for that inside id under the old map).

use crate::ids::IdKind;

/// The access ACL's attribute name.
pub(crate) const ACCESS: &str = "system.posix_acl_access";
/// A directory's default ACL's attribute name.
pub(crate) const DEFAULT: &str = "system.posix_acl_default";

const VERSION: u32 = 2;
const TAG_USER: u16 = 0x02;
const TAG_GROUP: u16 = 0x08;

/// Why an ACL value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AclError {
    #[error("an ACL of {len} bytes: expected 4 + 8 per entry")]
    Length { len: usize },
    #[error("an ACL of version {version}: expected 2")]
    Version { version: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

fn parse(value: &[u8]) -> Result<Vec<Entry>, AclError> {
    if value.len() < 4 || !(value.len() - 4).is_multiple_of(8) {
        return Err(AclError::Length { len: value.len() });
    }
    let version = u32::from_le_bytes(value[..4].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(AclError::Version { version });
    }
    Ok(value[4..]
        .chunks_exact(8)
        .map(|c| Entry {
            tag: u16::from_le_bytes([c[0], c[1]]),
            perm: u16::from_le_bytes([c[2], c[3]]),
            id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

fn render(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 8 * entries.len());
    out.extend_from_slice(&VERSION.to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.perm.to_le_bytes());
        out.extend_from_slice(&e.id.to_le_bytes());
    }
    out
}

/// The ids an ACL names: `(kind, id)` of its named-user and named-group entries.
///
/// # Errors
/// An [`AclError`] for a value that is not a version-2 ACL.
#[cfg(test)]
pub(crate) fn named_ids(value: &[u8]) -> Result<Vec<(IdKind, u32)>, AclError> {
    Ok(parse(value)?
        .into_iter()
        .filter_map(|e| match e.tag {
            TAG_USER => Some((IdKind::Uid, e.id)),
            TAG_GROUP => Some((IdKind::Gid, e.id)),
            _ => None,
        })
        .collect())
}

/// Rewrites the ids `map` moves; `None` when no entry changes, else the new value and how many
/// entries were rewritten.
///
/// # Errors
/// An [`AclError`] for a value that is not a version-2 ACL.
pub(crate) fn shift(
    value: &[u8],
    map: impl Fn(IdKind, u32) -> Option<u32>,
) -> Result<Option<(Vec<u8>, u64)>, AclError> {
    let mut entries = parse(value)?;
    let mut moved = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        let kind = match e.tag {
            TAG_USER => IdKind::Uid,
            TAG_GROUP => IdKind::Gid,
            _ => continue,
        };
        if let Some(to) = map(kind, e.id) {
            e.id = to;
            moved.push(i);
        }
    }
    if moved.is_empty() {
        return Ok(None);
    }
    let changed = moved.len() as u64;
    // A stale entry already naming a target id gives way to the moved one.
    let mut keep: Vec<Entry> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let named = e.tag == TAG_USER || e.tag == TAG_GROUP;
        let clash = named
            && !moved.contains(&i)
            && moved
                .iter()
                .any(|&m| entries[m].tag == e.tag && entries[m].id == e.id);
        if !clash {
            keep.push(*e);
        }
    }
    // The kernel's order: by tag, named entries by id (a stable sort keeps the rest as it was).
    keep.sort_by_key(|e| {
        (
            e.tag,
            if e.tag == TAG_USER || e.tag == TAG_GROUP {
                e.id
            } else {
                0
            },
        )
    });
    Ok(Some((render(&keep), changed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_OBJ: u16 = 0x01;
    const GROUP_OBJ: u16 = 0x04;
    const MASK: u16 = 0x10;
    const OTHER: u16 = 0x20;
    const NONE: u32 = u32::MAX;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        render(
            &entries
                .iter()
                .map(|&(tag, perm, id)| Entry { tag, perm, id })
                .collect::<Vec<_>>(),
        )
    }

    fn moves(kind: IdKind, id: u32) -> Option<u32> {
        match (kind, id) {
            (IdKind::Uid, 101005) => Some(1005),
            (IdKind::Gid, 102000) => Some(2000),
            (IdKind::Uid, 1007) => Some(101007),
            _ => None,
        }
    }

    #[test]
    fn named_entries_move_and_stay_sorted() {
        let before = acl(&[
            (USER_OBJ, 6, NONE),
            (TAG_USER, 6, 1006),
            (TAG_USER, 4, 101005),
            (GROUP_OBJ, 4, NONE),
            (TAG_GROUP, 5, 102000),
            (MASK, 7, NONE),
            (OTHER, 0, NONE),
        ]);
        let (after, n) = shift(&before, moves).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            after,
            acl(&[
                (USER_OBJ, 6, NONE),
                (TAG_USER, 4, 1005),
                (TAG_USER, 6, 1006),
                (GROUP_OBJ, 4, NONE),
                (TAG_GROUP, 5, 2000),
                (MASK, 7, NONE),
                (OTHER, 0, NONE),
            ])
        );
        // Repeatable: the result names no id that moves.
        assert_eq!(shift(&after, moves).unwrap(), None);
        assert_eq!(
            named_ids(&after).unwrap(),
            [
                (IdKind::Uid, 1005),
                (IdKind::Uid, 1006),
                (IdKind::Gid, 2000)
            ]
        );
    }

    #[test]
    fn obj_entries_and_other_kinds_are_not_ids() {
        // USER_OBJ carries no id even if its field held a moving number; a gid is not a uid.
        let value = acl(&[
            (USER_OBJ, 6, 101005),
            (TAG_GROUP, 4, 101005),
            (OTHER, 0, NONE),
        ]);
        assert_eq!(shift(&value, moves).unwrap(), None);
    }

    #[test]
    fn a_stale_entry_on_the_target_gives_way() {
        let value = acl(&[
            (USER_OBJ, 6, NONE),
            (TAG_USER, 1, 1005),
            (TAG_USER, 6, 101005),
            (GROUP_OBJ, 4, NONE),
            (MASK, 7, NONE),
            (OTHER, 0, NONE),
        ]);
        let (after, n) = shift(&value, moves).unwrap().unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            after,
            acl(&[
                (USER_OBJ, 6, NONE),
                (TAG_USER, 6, 1005),
                (GROUP_OBJ, 4, NONE),
                (MASK, 7, NONE),
                (OTHER, 0, NONE),
            ])
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(shift(&[2, 0, 0], moves), Err(AclError::Length { len: 3 }));
        assert_eq!(
            shift(&[2, 0, 0, 0, 1], moves),
            Err(AclError::Length { len: 5 })
        );
        assert_eq!(
            shift(&[1, 0, 0, 0], moves),
            Err(AclError::Version { version: 1 })
        );
        // Just the header: no entries, nothing to move.
        assert_eq!(shift(&[2, 0, 0, 0], moves), Ok(None));
    }
}
