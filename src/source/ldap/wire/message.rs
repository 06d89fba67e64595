//! The LDAP messages idfed sends and reads (RFC 4511): requests are built with ldap3's BER
//! structures and its filter parser, responses are read in place with [`ber`](super::ber). No
//! I/O here.

use bytes::BytesMut;
use ldap3::asn1::{
    ASNTag, Boolean, Enumerated, Integer, Null, OctetString, Sequence, StructureTag, Tag, TagClass,
    write,
};

use super::ber::{self, Class, Malformed, Reader, Tlv, malformed};

/// Protocol operations (`[APPLICATION n]`) idfed meets.
pub(crate) const BIND_REQUEST: u32 = 0;
pub(crate) const BIND_RESPONSE: u32 = 1;
pub(crate) const UNBIND_REQUEST: u32 = 2;
pub(crate) const SEARCH_REQUEST: u32 = 3;
pub(crate) const SEARCH_RESULT_ENTRY: u32 = 4;
pub(crate) const SEARCH_RESULT_DONE: u32 = 5;
pub(crate) const SEARCH_RESULT_REFERENCE: u32 = 19;
pub(crate) const EXTENDED_REQUEST: u32 = 23;
pub(crate) const EXTENDED_RESPONSE: u32 = 24;
pub(crate) const INTERMEDIATE_RESPONSE: u32 = 25;

/// The StartTLS extended operation (RFC 4511 section 4.14).
pub(crate) const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
/// The simple paged results control (RFC 2696).
pub(crate) const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// The filter text is not an RFC 4515 filter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an LDAP filter (RFC 4515)")]
pub(crate) struct BadFilter(pub String);

pub(super) fn octets(bytes: &[u8]) -> Tag {
    Tag::OctetString(OctetString {
        inner: bytes.to_vec(),
        ..Default::default()
    })
}

fn integer(n: i64) -> Tag {
    Tag::Integer(Integer {
        inner: n,
        ..Default::default()
    })
}

fn enumerated(n: i64) -> Tag {
    Tag::Enumerated(Enumerated {
        inner: n,
        ..Default::default()
    })
}

/// The whole LDAPMessage: `SEQUENCE { messageID, protocolOp, controls [0] OPTIONAL }`.
pub(super) fn envelope(id: i32, op: Tag, controls: Vec<Tag>) -> Vec<u8> {
    let mut parts = vec![integer(i64::from(id)), op];
    if !controls.is_empty() {
        parts.push(Tag::Sequence(Sequence {
            class: TagClass::Context,
            id: 0,
            inner: controls,
        }));
    }
    let message: StructureTag = Tag::Sequence(Sequence {
        inner: parts,
        ..Default::default()
    })
    .into_structure();
    let mut buf = BytesMut::new();
    // Writing into memory does not fail.
    write::encode_into(&mut buf, message).expect("BER into memory");
    buf.to_vec()
}

/// A simple bind (`version 3`, the DN, the password as `[0]`).
pub(crate) fn bind(id: i32, dn: &str, password: &str) -> Vec<u8> {
    let op = Tag::Sequence(Sequence {
        class: TagClass::Application,
        id: u64::from(BIND_REQUEST),
        inner: vec![
            integer(3),
            octets(dn.as_bytes()),
            Tag::OctetString(OctetString {
                class: TagClass::Context,
                id: 0,
                inner: password.as_bytes().to_vec(),
            }),
        ],
    });
    envelope(id, op, Vec::new())
}

/// An unbind request (`[APPLICATION 2] NULL`).
pub(crate) fn unbind(id: i32) -> Vec<u8> {
    let op = Tag::Null(Null {
        class: TagClass::Application,
        id: u64::from(UNBIND_REQUEST),
        inner: (),
    });
    envelope(id, op, Vec::new())
}

/// The StartTLS extended request.
pub(crate) fn starttls(id: i32) -> Vec<u8> {
    let op = Tag::Sequence(Sequence {
        class: TagClass::Application,
        id: u64::from(EXTENDED_REQUEST),
        inner: vec![Tag::OctetString(OctetString {
            class: TagClass::Context,
            id: 0,
            inner: STARTTLS_OID.as_bytes().to_vec(),
        })],
    });
    envelope(id, op, Vec::new())
}

/// A search scope (RFC 4511 section 4.5.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The base entry only.
    Base = 0,
    /// The base and everything below it.
    Subtree = 2,
}

/// One page of a subtree search for `attrs` (aliases never dereferenced, no size or time
/// limit of the client's own), with the paged results control asking for `page_size` entries
/// after `cookie` (empty for the first page).
///
/// # Errors
/// [`BadFilter`] when `filter` is not a filter.
pub(crate) fn search_page(
    id: i32,
    base: &str,
    filter: &str,
    attrs: &[String],
    page_size: i32,
    cookie: &[u8],
) -> Result<Vec<u8>, BadFilter> {
    let mut value = BytesMut::new();
    let paged: StructureTag = Tag::Sequence(Sequence {
        inner: vec![integer(i64::from(page_size)), octets(cookie)],
        ..Default::default()
    })
    .into_structure();
    write::encode_into(&mut value, paged).expect("BER into memory");
    // Not critical: a server without paging answers with everything (or its size limit).
    let control = Tag::Sequence(Sequence {
        inner: vec![octets(PAGED_RESULTS_OID.as_bytes()), octets(&value)],
        ..Default::default()
    });
    search(id, base, Scope::Subtree, filter, attrs, vec![control])
}

/// A search request for `attrs` of `base` (or below it), aliases never dereferenced, no size
/// or time limit of the client's own, with `controls` (none to read one entry;
/// [`search_page`] passes its paging control).
///
/// # Errors
/// [`BadFilter`] when `filter` is not a filter.
pub(crate) fn search(
    id: i32,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[String],
    controls: Vec<Tag>,
) -> Result<Vec<u8>, BadFilter> {
    let filter_tag = ldap3::parse_filter(filter).map_err(|()| BadFilter(filter.to_string()))?;
    let op = Tag::Sequence(Sequence {
        class: TagClass::Application,
        id: u64::from(SEARCH_REQUEST),
        inner: vec![
            octets(base.as_bytes()),
            enumerated(scope as i64),
            enumerated(0), // neverDerefAliases
            integer(0),    // sizeLimit
            integer(0),    // timeLimit
            Tag::Boolean(Boolean {
                inner: false,
                ..Default::default()
            }),
            filter_tag,
            Tag::Sequence(Sequence {
                inner: attrs.iter().map(|a| octets(a.as_bytes())).collect(),
                ..Default::default()
            }),
        ],
    });
    Ok(envelope(id, op, controls))
}

/// A message as read: its id, its operation (`[APPLICATION n]`) and the controls, if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Message<'a> {
    pub id: i32,
    pub op: Tlv<'a>,
    pub controls: Option<Tlv<'a>>,
}

/// Reads the LDAPMessage that is the whole of `bytes`.
///
/// # Errors
/// [`Malformed`] when it is not one.
pub(crate) fn parse(bytes: &[u8]) -> Result<Message<'_>, Malformed> {
    let mut outer = Reader::new(bytes);
    let message = outer.expect("empty message")?;
    if !message.is_universal(ber::SEQUENCE) || !outer.is_empty() {
        return Err(malformed("not an LDAPMessage"));
    }
    let mut parts = message.parts("not an LDAPMessage")?;
    let id = parts.expect("no message id")?;
    if !id.is_universal(ber::INTEGER) {
        return Err(malformed("no message id"));
    }
    let id = i32::try_from(id.integer("message id")?).map_err(|_| malformed("message id"))?;
    let op = parts.expect("no protocol operation")?;
    if op.class != Class::Application {
        return Err(malformed("protocol operation"));
    }
    let mut controls = None;
    while let Some(part) = parts.next()? {
        // Controls are `[0]`; Active Directory puts an extra element in its notice of
        // disconnection, which is skipped like any other unknown trailing element.
        if part.class == Class::Context && part.number == 0 && part.constructed {
            controls = Some(part);
        }
    }
    Ok(Message { id, op, controls })
}

/// The LDAPResult of a response: result code, matched DN, diagnostic message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LdapResult {
    pub rc: u32,
    pub matched: String,
    pub text: String,
}

/// Reads the LDAPResult at the start of a response's contents (bind, search done, extended).
///
/// # Errors
/// [`Malformed`] when the operation has no such result.
pub(crate) fn result(op: &Tlv<'_>) -> Result<LdapResult, Malformed> {
    let mut parts = op.parts("result")?;
    let rc = parts.expect("no result code")?;
    if !rc.is_universal(ber::ENUMERATED) {
        return Err(malformed("result code"));
    }
    let rc = u32::try_from(rc.integer("result code")?).map_err(|_| malformed("result code"))?;
    let lossy = |tlv: Option<Tlv<'_>>| {
        tlv.map(|t| String::from_utf8_lossy(t.contents).into_owned())
            .unwrap_or_default()
    };
    let matched = lossy(parts.next()?);
    let text = lossy(parts.next()?);
    Ok(LdapResult { rc, matched, text })
}

/// The cookie of the paged results control among a SearchResultDone's controls: empty after
/// the last page, or from a server that does not page.
///
/// # Errors
/// [`Malformed`] when a control, or the paged results value, is not well-formed.
pub(crate) fn paged_cookie(controls: Option<&Tlv<'_>>) -> Result<Vec<u8>, Malformed> {
    let Some(controls) = controls else {
        return Ok(Vec::new());
    };
    let mut list = controls.parts("controls")?;
    while let Some(control) = list.next()? {
        let mut parts = control.parts("control")?;
        let oid = parts.expect("control type")?.bytes("control type")?;
        if oid != PAGED_RESULTS_OID.as_bytes() {
            continue;
        }
        let mut value = None;
        while let Some(part) = parts.next()? {
            if part.is_universal(ber::OCTET_STRING) {
                value = Some(part.bytes("control value")?);
            }
        }
        let value = value.ok_or_else(|| malformed("paged results control without a value"))?;
        let mut outer = Reader::new(value);
        let mut fields = outer
            .expect("paged results value")?
            .parts("paged results value")?;
        let _size = fields.expect("paged results size")?;
        let cookie = fields.expect("paged results cookie")?;
        return Ok(cookie.bytes("paged results cookie")?.to_vec());
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{encode, result_op};
    use super::*;
    use ldap3::controls::{PagedResults, RawControl};

    /// A response the way a server sends it, built with lber.
    fn response(id: i32, op: Tag, controls: Vec<RawControl>) -> Vec<u8> {
        let controls = controls
            .into_iter()
            .map(|c| {
                let mut inner = vec![octets(c.ctype.as_bytes())];
                if c.crit {
                    inner.push(Tag::Boolean(Boolean {
                        inner: true,
                        ..Default::default()
                    }));
                }
                if let Some(val) = c.val {
                    inner.push(octets(&val));
                }
                Tag::Sequence(Sequence {
                    inner,
                    ..Default::default()
                })
            })
            .collect();
        envelope(id, op, controls)
    }

    #[test]
    fn search_result_done_with_a_paged_cookie() {
        for cookie in [&b""[..], b"\x00\x01next-page", &[7u8; 300]] {
            let paged: RawControl = PagedResults {
                size: 0,
                cookie: cookie.to_vec(),
            }
            .into();
            let other = RawControl {
                ctype: "1.2.3.4".into(),
                crit: true,
                val: Some(b"not a cookie".to_vec()),
            };
            let bytes = response(
                7,
                result_op(SEARCH_RESULT_DONE, 0, "", ""),
                vec![other, paged],
            );
            let message = parse(&bytes).unwrap();
            assert_eq!(message.id, 7);
            assert_eq!(message.op.number, SEARCH_RESULT_DONE);
            assert_eq!(
                result(&message.op).unwrap(),
                LdapResult {
                    rc: 0,
                    matched: String::new(),
                    text: String::new()
                }
            );
            assert_eq!(paged_cookie(message.controls.as_ref()).unwrap(), cookie);
        }
        // No controls at all: no cookie (a server that does not page).
        let bytes = response(
            2,
            result_op(SEARCH_RESULT_DONE, 4, "dc=x", "size limit"),
            Vec::new(),
        );
        let message = parse(&bytes).unwrap();
        assert!(paged_cookie(message.controls.as_ref()).unwrap().is_empty());
        let result = result(&message.op).unwrap();
        assert_eq!(
            (result.rc, &*result.matched, &*result.text),
            (4, "dc=x", "size limit")
        );
    }

    #[test]
    fn requests_parse_back_with_their_parts() {
        let bytes = search_page(
            3,
            "ou=people,dc=x",
            "(&(objectClass=posixAccount)(uid=a*))",
            &["uid".to_string(), "uidNumber".to_string()],
            1000,
            b"cookie",
        )
        .unwrap();
        let message = parse(&bytes).unwrap();
        assert_eq!((message.id, message.op.number), (3, SEARCH_REQUEST));
        let mut parts = message.op.parts("search").unwrap();
        assert_eq!(
            parts.next().unwrap().unwrap().text("base"),
            Ok("ou=people,dc=x")
        );
        assert_eq!(parts.next().unwrap().unwrap().integer("scope"), Ok(2));
        // The control ldap3 would have sent for the same page.
        let controls = message.controls.unwrap();
        let mut list = controls.parts("controls").unwrap();
        let control = list.next().unwrap().unwrap();
        let expected: RawControl = PagedResults {
            size: 1000,
            cookie: b"cookie".to_vec(),
        }
        .into();
        let mut fields = control.parts("control").unwrap();
        assert_eq!(
            fields.next().unwrap().unwrap().text("oid"),
            Ok(PAGED_RESULTS_OID)
        );
        assert_eq!(
            fields.next().unwrap().unwrap().bytes("value"),
            Ok(&expected.val.unwrap()[..])
        );
        assert_eq!(
            search_page(1, "dc=x", "(uid=a", &[], 10, b""),
            Err(BadFilter("(uid=a".into()))
        );

        let bind = bind(1, "cn=reader,dc=x", "pw");
        let message = parse(&bind).unwrap();
        assert_eq!((message.id, message.op.number), (1, BIND_REQUEST));
        let unbind = unbind(9);
        assert_eq!(unbind, [0x30, 0x05, 0x02, 0x01, 0x09, 0x42, 0x00]);
        let starttls = starttls(1);
        let message = parse(&starttls).unwrap();
        assert_eq!(message.op.number, EXTENDED_REQUEST);
    }

    /// Active Directory's notice of disconnection puts the response name `[10]` after the
    /// ExtendedResponse, where the controls belong: still read, with its result, and no controls.
    #[test]
    fn active_directory_notice_of_disconnection() {
        let op = result_op(
            EXTENDED_RESPONSE,
            52,
            "",
            "00002024: the server is shutting down",
        );
        let oid = Tag::OctetString(OctetString {
            class: TagClass::Context,
            id: 10,
            inner: b"1.3.6.1.4.1.1466.20036".to_vec(),
        });
        let message: StructureTag = Tag::Sequence(Sequence {
            inner: vec![integer(0), op, oid],
            ..Default::default()
        })
        .into_structure();
        let bytes = encode(message);
        let message = parse(&bytes).unwrap();
        assert_eq!((message.id, message.op.number), (0, EXTENDED_RESPONSE));
        assert!(message.controls.is_none());
        let result = result(&message.op).unwrap();
        assert_eq!(result.rc, 52);
        assert_eq!(result.text, "00002024: the server is shutting down");
    }

    #[test]
    fn malformed_messages_are_errors() {
        // Not a SEQUENCE; a SEQUENCE without an id; an id that is not an INTEGER; trailing bytes.
        for bytes in [
            &[0x04, 0x00][..],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x04, 0x01, 0x01],
            &[0x30, 0x03, 0x02, 0x01, 0x01, 0x00],
            &[0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00],
        ] {
            assert!(parse(bytes).is_err(), "{bytes:02x?}");
        }
    }
}
