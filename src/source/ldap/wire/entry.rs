//! A search result entry read in place from the bytes of its message: the DN, attribute types
//! and values are views into the connection's buffer, nothing is copied until the caller keeps
//! a value. This module owns only the shape of an entry; what the values mean is `ldap`'s job.

use super::ber::{Class, Malformed, Reader, Tlv, malformed};
use super::message::SEARCH_RESULT_ENTRY;

/// One attribute: its type as the server spelled it and the contents of its `SET OF` values.
#[derive(Debug)]
struct Attribute<'a> {
    name: &'a str,
    values: &'a [u8],
    /// Every value is UTF-8: checked when the entry is read, so that the attribute counts as
    /// absent when one is not. The values are decoded again when taken ([`strings`]): the
    /// same check, cheap next to reading the entry.
    utf8: bool,
}

/// A search result entry: its DN and attributes, in the order the server sent them.
///
/// An attribute with a value that is not UTF-8 counts as absent, as it did with ldap3's
/// `SearchEntry` (which moves such attributes to `bin_attrs`, where idfed never looked).
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub dn: &'a str,
    attrs: Vec<Attribute<'a>>,
}

impl<'a> Entry<'a> {
    /// Reads a SearchResultEntry (`[APPLICATION 4] SEQUENCE { objectName, attributes }`),
    /// checking its whole shape: every value is an OCTET STRING.
    ///
    /// # Errors
    /// [`Malformed`] when the operation does not have the shape of one, or the DN or an
    /// attribute type is not UTF-8.
    pub(crate) fn from_ber(op: &Tlv<'a>) -> Result<Entry<'a>, Malformed> {
        if op.class != Class::Application || op.number != SEARCH_RESULT_ENTRY {
            return Err(malformed("not a SearchResultEntry"));
        }
        let mut parts = op.parts("entry")?;
        let dn = parts.expect("no DN")?;
        let dn = dn.text("DN not UTF-8")?;
        let list = parts.expect("no attribute list")?;
        let mut list = list.parts("attribute list")?;
        let mut attrs = Vec::with_capacity(4);
        while let Some(attr) = list.next()? {
            let mut attr = attr.parts("attribute")?;
            let name = attr.expect("no attribute type")?;
            let name = name.text("attribute type not UTF-8")?;
            let values = attr.expect("no attribute values")?;
            let values = values.parts("attribute values")?;
            let mut utf8 = true;
            let mut each = values.clone();
            while let Some(value) = each.next()? {
                let value = value.bytes("attribute value")?;
                utf8 &= std::str::from_utf8(value).is_ok();
            }
            attrs.push(Attribute {
                name,
                values: values.rest(),
                utf8,
            });
        }
        Ok(Entry { dn, attrs })
    }

    /// The attribute named `name` (ASCII case-insensitive), when all its values are UTF-8.
    fn find(&self, name: &str) -> Option<&Attribute<'a>> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .filter(|a| a.utf8)
    }

    /// The first value of `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&'a str> {
        self.values(name).next()
    }

    /// Every value of `name` (none when it is absent).
    pub(crate) fn values(&self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        strings(self.find(name).map_or(&[][..], |a| a.values))
    }

    /// The first attribute whose type starts with `prefix` (ASCII case-insensitive) and whose
    /// values are all UTF-8: its type as sent, and its values. Active Directory's ranged
    /// values come this way: `member;range=0-1499`.
    pub(crate) fn starting_with(
        &self,
        prefix: &str,
    ) -> Option<(&'a str, impl Iterator<Item = &'a str> + use<'a>)> {
        let attr = self.attrs.iter().find(|a| {
            a.name
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
        })?;
        attr.utf8.then(|| (attr.name, strings(attr.values)))
    }
}

/// The values of an attribute (the contents of its `SET OF`), as text. `from_ber` checked that
/// each is a primitive and, for an attribute that is taken, UTF-8: nothing is skipped.
fn strings(values: &[u8]) -> impl Iterator<Item = &str> {
    let mut values = Reader::new(values);
    std::iter::from_fn(move || {
        let value = values.next().ok()??;
        std::str::from_utf8(value.contents).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{encode, entry_tag};
    use super::*;
    use ldap3::SearchEntry;
    use ldap3::asn1::PL;

    fn read(bytes: &[u8]) -> Result<Entry<'_>, Malformed> {
        let op = Reader::new(bytes).expect("op")?;
        Entry::from_ber(&op)
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
                (b"empty", &[]),
            ],
        );
        let bytes = encode(tag.clone());
        let reference = SearchEntry::construct(ldap3::ResultEntry::new(tag));
        let entry = read(&bytes).unwrap();
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
            "empty",
        ] {
            assert_eq!(
                entry.first(name),
                expected(name).first().map(String::as_str),
                "{name}"
            );
            assert_eq!(
                entry.values(name).collect::<Vec<_>>(),
                expected(name),
                "{name}"
            );
        }
        let starting_with = |prefix: &str| {
            entry
                .starting_with(prefix)
                .map(|(name, values)| (name, values.collect::<Vec<_>>()))
        };
        assert_eq!(
            starting_with("MEMBER;range="),
            Some(("member;range=0-1499", vec!["cn=a"]))
        );
        assert_eq!(starting_with("memberUid;"), None);
        assert_eq!(starting_with("jpeg"), None, "not UTF-8");
        assert_eq!(starting_with("a-very-long-prefix-beyond-any-name"), None);
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let good = entry_tag(b"cn=x", &[(b"cn", &[b"x"])]);
        let mut not_entry = good.clone();
        not_entry.id = 19;
        let mut primitive_payload = good.clone();
        primitive_payload.payload = PL::P(b"x".to_vec());
        let bad_dn = entry_tag(b"cn=\xff", &[]);
        let bad_type = entry_tag(b"cn=x", &[(b"c\xffn", &[b"x"])]);
        let mut no_attrs = good.clone();
        if let PL::C(parts) = &mut no_attrs.payload {
            parts.truncate(1);
        }
        let mut constructed_value = good.clone();
        if let PL::C(parts) = &mut constructed_value.payload
            && let PL::C(attrs) = &mut parts[1].payload
            && let PL::C(attr) = &mut attrs[0].payload
            && let PL::C(values) = &mut attr[1].payload
        {
            values[0].payload = PL::C(vec![]);
        }
        for (tag, what) in [
            (not_entry, "not a SearchResultEntry"),
            (primitive_payload, "entry"),
            (bad_dn, "DN not UTF-8"),
            (bad_type, "attribute type not UTF-8"),
            (no_attrs, "no attribute list"),
            (constructed_value, "attribute value"),
        ] {
            assert_eq!(read(&encode(tag)).unwrap_err(), malformed(what));
        }
        assert_eq!(
            malformed("no DN").to_string(),
            "malformed LDAP message from the server: no DN"
        );
    }

    proptest::proptest! {
        /// Whatever the bytes, reading an entry and its values never panics.
        #[test]
        fn never_panics(bytes: Vec<u8>) {
            if let Ok(entry) = read(&bytes) {
                for name in ["cn", "uid"] {
                    let _ = entry.values(name).count();
                }
            }
        }
    }
}
