//! What the LDAP tests build their server messages with, and a scripted server to answer them:
//! lber's structures, written by the same lber writer the requests go through
//! ([`message::envelope`]), while idfed reads them with its own reader ([`ber`]).

use bytes::BytesMut;
use ldap3::asn1::{ASNTag, Enumerated, Integer, Sequence, Set, StructureTag, Tag, TagClass, write};

use super::ber;
use super::message::{self, SEARCH_RESULT_DONE, SEARCH_RESULT_ENTRY, envelope, octets};

pub(crate) fn encode(tag: StructureTag) -> Vec<u8> {
    let mut buf = BytesMut::new();
    write::encode_into(&mut buf, tag).unwrap();
    buf.to_vec()
}

/// A SearchResultEntry operation: the DN and `(type, values)` attributes, as bytes (which
/// need not be UTF-8).
pub(crate) fn entry_tag(dn: &[u8], attrs: &[(&[u8], &[&[u8]])]) -> StructureTag {
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

/// A whole SearchResultEntry message: the DN and `(type, values)` attributes.
pub(crate) fn entry(id: i32, dn: &str, attrs: &[(&str, &[&str])]) -> Vec<u8> {
    let attrs: Vec<(&[u8], Vec<&[u8]>)> = attrs
        .iter()
        .map(|(n, vs)| (n.as_bytes(), vs.iter().map(|v| v.as_bytes()).collect()))
        .collect();
    let attrs: Vec<(&[u8], &[&[u8]])> = attrs.iter().map(|(n, v)| (*n, &v[..])).collect();
    let op = Tag::StructureTag(entry_tag(dn.as_bytes(), &attrs));
    envelope(id, op, Vec::new())
}

/// An operation carrying an LDAPResult (`[APPLICATION op] { rc, matchedDN, text }`).
pub(crate) fn result_op(op: u32, rc: i64, matched: &str, text: &str) -> Tag {
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

/// A whole response message with an LDAPResult and no controls.
pub(crate) fn result(id: i32, op: u32, rc: i64, text: &str) -> Vec<u8> {
    envelope(id, result_op(op, rc, "", text), Vec::new())
}

/// A successful SearchResultDone without controls: the last (or only) page.
pub(crate) fn done(id: i32) -> Vec<u8> {
    result(id, SEARCH_RESULT_DONE, 0, "")
}

/// A successful SearchResultDone with the paged results control carrying `cookie`: a page
/// with more after it (an empty cookie: the last page).
pub(crate) fn paged_done(id: i32, cookie: &[u8]) -> Vec<u8> {
    let value = encode(
        Tag::Sequence(Sequence {
            inner: vec![
                Tag::Integer(Integer {
                    inner: 0,
                    ..Default::default()
                }),
                octets(cookie),
            ],
            ..Default::default()
        })
        .into_structure(),
    );
    let control = Tag::Sequence(Sequence {
        inner: vec![
            octets(message::PAGED_RESULTS_OID.as_bytes()),
            octets(&value),
        ],
        ..Default::default()
    });
    envelope(id, result_op(SEARCH_RESULT_DONE, 0, "", ""), vec![control])
}

/// A scripted LDAP server on 127.0.0.1; returns its port. Each connection is served in its own
/// thread, each request answered with what `answer` gives for (operation, a search's base,
/// a search's requested attributes, message id); an unbind closes the connection.
pub(crate) fn fake_server(answer: fn(u32, &str, &[String], i32) -> Vec<u8>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let end = match ber::header(&buf).unwrap() {
                        Some(h) if h.end <= buf.len() => h.end,
                        _ => {
                            let n = stream.read(&mut chunk).unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            continue;
                        }
                    };
                    let request: Vec<u8> = buf.drain(..end).collect();
                    let message = message::parse(&request).unwrap();
                    if message.op.number == message::UNBIND_REQUEST {
                        return;
                    }
                    let mut parts = message.op.parts("request").unwrap();
                    let base = parts.next().unwrap().unwrap().text("base").unwrap_or("");
                    let mut attrs = Vec::new();
                    while let Ok(Some(part)) = parts.next() {
                        if part.is_universal(ber::SEQUENCE) {
                            let mut list = part.parts("attrs").unwrap();
                            while let Ok(Some(a)) = list.next() {
                                attrs.push(a.text("attr").unwrap().to_string());
                            }
                        }
                    }
                    let reply = answer(message.op.number, base, &attrs, message.id);
                    if stream.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}
