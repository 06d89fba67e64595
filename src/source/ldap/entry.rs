//! A search result entry taken apart from the BER structure ldap3 hands over, without copying
//! its values. ldap3's `SearchEntry::construct` copies every value into a `String` and builds two
//! `HashMap`s per entry, then panics on a malformed one; at 100,000 entries that was a tenth of
//! the pull. This module owns only the shape of an entry; what the values mean is `ldap`'s job.

use ldap3::asn1::{PL, StructureTag, TagClass};

/// The tag of a SearchResultEntry: `[APPLICATION 4]` (RFC 4511 section 4.5.2).
const SEARCH_RESULT_ENTRY: u64 = 4;

/// An entry that is not a SearchResultEntry of RFC 4511's shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed search result entry from the server: {what}")]
pub struct MalformedEntry {
    what: &'static str,
}

fn malformed(what: &'static str) -> MalformedEntry {
    MalformedEntry { what }
}

/// One attribute: its type as the server spelled it and its values, the tags as parsed (checked
/// to be primitive: OCTET STRINGs), not copied into a list of their own.
#[derive(Debug)]
struct Attribute {
    name: String,
    values: Vec<StructureTag>,
    /// Every value is UTF-8: checked once here, not on each lookup.
    utf8: bool,
}

/// A search result entry: its DN and attributes, in the order the server sent them.
///
/// An attribute with a value that is not UTF-8 counts as absent, as it did with ldap3's
/// `SearchEntry` (which moves such attributes to `bin_attrs`, where idfed never looked).
#[derive(Debug)]
pub struct Entry {
    pub dn: String,
    attrs: Vec<Attribute>,
}

impl Entry {
    /// Takes apart the tag of a SearchResultEntry.
    ///
    /// # Errors
    /// [`MalformedEntry`] when the tag does not have the shape of one, or the DN is not UTF-8.
    pub fn from_tag(tag: StructureTag) -> Result<Entry, MalformedEntry> {
        if tag.class != TagClass::Application || tag.id != SEARCH_RESULT_ENTRY {
            return Err(malformed("not a SearchResultEntry"));
        }
        let mut parts = constructed(tag, "entry")?.into_iter();
        let dn = parts.next().ok_or_else(|| malformed("no DN"))?;
        let dn = String::from_utf8(primitive(dn, "DN")?).map_err(|_| malformed("DN not UTF-8"))?;
        let list = parts.next().ok_or_else(|| malformed("no attribute list"))?;
        let list = constructed(list, "attribute list")?;
        let mut attrs = Vec::with_capacity(list.len());
        for attr in list {
            let mut attr = constructed(attr, "attribute")?.into_iter();
            let name = attr.next().ok_or_else(|| malformed("no attribute type"))?;
            let name = String::from_utf8(primitive(name, "attribute type")?)
                .map_err(|_| malformed("attribute type not UTF-8"))?;
            let values = attr
                .next()
                .ok_or_else(|| malformed("no attribute values"))?;
            let values = constructed(values, "attribute values")?;
            if values.iter().any(|v| matches!(v.payload, PL::C(_))) {
                return Err(malformed("attribute value"));
            }
            let utf8 = values.iter().all(|v| std::str::from_utf8(bytes(v)).is_ok());
            attrs.push(Attribute { name, values, utf8 });
        }
        Ok(Entry { dn, attrs })
    }

    /// The attribute named `name` (ASCII case-insensitive), when all its values are UTF-8.
    fn find(&self, name: &str) -> Option<usize> {
        self.attrs
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
            .filter(|&i| self.attrs[i].utf8)
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        let value = self.attrs[self.find(name)?].values.first()?;
        std::str::from_utf8(bytes(value)).ok()
    }

    /// Takes the first value of `name` out of the entry (its other values may change order).
    pub fn take_first(&mut self, name: &str) -> Option<String> {
        let i = self.find(name)?;
        let values = &mut self.attrs[i].values;
        if values.is_empty() {
            return None;
        }
        // `from_tag` checked that every value is primitive, `find` that it is UTF-8.
        match values.swap_remove(0).payload {
            PL::P(v) => String::from_utf8(v).ok(),
            PL::C(_) => None,
        }
    }

    /// Takes every value of `name` out of the entry (none when it is absent).
    pub fn take_values(&mut self, name: &str) -> Vec<String> {
        let Some(i) = self.find(name) else {
            return Vec::new();
        };
        std::mem::take(&mut self.attrs[i].values)
            .into_iter()
            // `from_tag` checked that every value is primitive, `find` that it is UTF-8.
            .filter_map(|v| match v.payload {
                PL::P(v) => String::from_utf8(v).ok(),
                PL::C(_) => None,
            })
            .collect()
    }

    /// Is there an attribute whose type starts with `prefix` (ASCII case-insensitive)?
    pub fn has_attr_starting_with(&self, prefix: &str) -> bool {
        self.attrs.iter().any(|a| {
            a.name
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
        })
    }
}

/// The bytes of a value (`from_tag` checked it is primitive).
fn bytes(tag: &StructureTag) -> &[u8] {
    match &tag.payload {
        PL::P(bytes) => bytes,
        PL::C(_) => &[],
    }
}

fn constructed(tag: StructureTag, what: &'static str) -> Result<Vec<StructureTag>, MalformedEntry> {
    match tag.payload {
        PL::C(tags) => Ok(tags),
        PL::P(_) => Err(malformed(what)),
    }
}

fn primitive(tag: StructureTag, what: &'static str) -> Result<Vec<u8>, MalformedEntry> {
    match tag.payload {
        PL::P(bytes) => Ok(bytes),
        PL::C(_) => Err(malformed(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::SearchEntry;
    use ldap3::asn1::{ASNTag, OctetString, Sequence, Set, Tag};

    fn octets(bytes: &[u8]) -> Tag {
        Tag::OctetString(OctetString {
            inner: bytes.to_vec(),
            ..Default::default()
        })
    }

    /// The tag a server's SearchResultEntry parses to, built the way ldap3 builds requests.
    fn entry_tag(dn: &[u8], attrs: &[(&[u8], &[&[u8]])]) -> StructureTag {
        let attrs = attrs
            .iter()
            .map(|(name, values)| {
                Tag::Sequence(Sequence {
                    inner: vec![
                        octets(name),
                        Tag::Set(Set {
                            inner: values.iter().map(|v| octets(v)).collect(),
                            ..Default::default()
                        }),
                    ],
                    ..Default::default()
                })
            })
            .collect();
        Tag::Sequence(Sequence {
            class: TagClass::Application,
            id: SEARCH_RESULT_ENTRY,
            inner: vec![
                octets(dn),
                Tag::Sequence(Sequence {
                    inner: attrs,
                    ..Default::default()
                }),
            ],
        })
        .into_structure()
    }

    #[test]
    fn reads_what_search_entry_reads() {
        let tag = entry_tag(
            b"uid=alice,ou=people,dc=x",
            &[
                (b"uid", &[b"alice"]),
                (b"UIDNumber", &[b"1005"]),
                (b"memberUid", &[b"bob", b"carol"]),
                (b"jpegPhoto", &[b"\xff\xd8", b"ok"]),
                (b"member;range=0-1499", &[b"cn=a"]),
            ],
        );
        let reference = SearchEntry::construct(ldap3::ResultEntry::new(tag.clone()));
        let mut entry = Entry::from_tag(tag).unwrap();
        assert_eq!(entry.dn, reference.dn);
        let expected = |name: &str| {
            reference
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        for name in [
            "uid",
            "uidNumber",
            "UIDNUMBER",
            "memberUid",
            "jpegPhoto",
            "cn",
        ] {
            assert_eq!(
                entry.first(name),
                expected(name).first().map(String::as_str),
                "{name}"
            );
        }
        // Taking the values leaves none behind.
        for name in ["uid", "UIDNUMBER", "memberUid", "jpegPhoto", "cn"] {
            assert_eq!(entry.take_values(name), expected(name), "{name}");
            assert_eq!(entry.take_values(name), Vec::<String>::new(), "{name}");
        }
        assert!(entry.has_attr_starting_with("MEMBER;range="));
        assert!(!entry.has_attr_starting_with("memberUid;"));
        assert!(!entry.has_attr_starting_with("a-very-long-prefix-beyond-any-name"));
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let good = entry_tag(b"cn=x", &[(b"cn", &[b"x"])]);
        let mut not_entry = good.clone();
        not_entry.id = 19;
        let mut primitive_payload = good.clone();
        primitive_payload.payload = PL::P(b"x".to_vec());
        let bad_dn = entry_tag(b"cn=\xff", &[]);
        let mut no_attrs = good.clone();
        if let PL::C(parts) = &mut no_attrs.payload {
            parts.truncate(1);
        }
        for (tag, what) in [
            (not_entry, "not a SearchResultEntry"),
            (primitive_payload, "entry"),
            (bad_dn, "DN not UTF-8"),
            (no_attrs, "no attribute list"),
        ] {
            assert_eq!(Entry::from_tag(tag).unwrap_err(), malformed(what));
        }
        assert_eq!(
            malformed("no DN").to_string(),
            "malformed search result entry from the server: no DN"
        );
    }
}
