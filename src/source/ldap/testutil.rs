//! What the LDAP tests build their server messages with: lber's structures, as ldap3 builds
//! requests, so that idfed's reader is checked against another BER writer.

use bytes::BytesMut;
use ldap3::asn1::{
    ASNTag, Enumerated, Integer, OctetString, Sequence, Set, StructureTag, Tag, TagClass, write,
};

use super::message::SEARCH_RESULT_ENTRY;

pub fn octets(bytes: &[u8]) -> Tag {
    Tag::OctetString(OctetString {
        inner: bytes.to_vec(),
        ..Default::default()
    })
}

pub fn encode(tag: StructureTag) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write::encode_into(&mut buf, tag).unwrap();
    buf.to_vec()
}

/// A SearchResultEntry operation: the DN and `(type, values)` attributes.
pub fn entry_tag(dn: &[u8], attrs: &[(&[u8], &[&[u8]])]) -> StructureTag {
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
        id: u64::from(SEARCH_RESULT_ENTRY),
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

/// An operation carrying an LDAPResult (`[APPLICATION op] { rc, matchedDN, text }`).
pub fn result_op(op: u32, rc: i64, matched: &str, text: &str) -> Tag {
    Tag::Sequence(Sequence {
        class: TagClass::Application,
        id: u64::from(op),
        inner: vec![
            Tag::Enumerated(Enumerated {
                inner: rc,
                ..Default::default()
            }),
            octets(matched.as_bytes()),
            octets(text.as_bytes()),
        ],
    })
}

/// A whole LDAPMessage without controls.
pub fn message(id: i32, op: Tag) -> Vec<u8> {
    let tag = Tag::Sequence(Sequence {
        inner: vec![
            Tag::Integer(Integer {
                inner: i64::from(id),
                ..Default::default()
            }),
            op,
        ],
        ..Default::default()
    });
    encode(tag.into_structure())
}
