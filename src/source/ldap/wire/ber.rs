//! A BER reader over bytes that are already in memory: each element is a view into the buffer,
//! nothing is copied or allocated. Only what LDAP's responses use (RFC 4511 section 5.1):
//! single-byte tag numbers up to 30 and above, definite lengths. No I/O here.

/// A BER element that is not well-formed, or not the one expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed LDAP message from the server: {what}")]
pub(crate) struct Malformed {
    pub what: &'static str,
}

pub(crate) fn malformed(what: &'static str) -> Malformed {
    Malformed { what }
}

/// The class of a tag (X.690 section 8.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Universal,
    Application,
    Context,
    Private,
}

/// One element: its tag and its contents, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
    pub contents: &'a [u8],
}

/// Universal tag numbers LDAP uses.
pub(crate) const INTEGER: u32 = 2;
pub(crate) const OCTET_STRING: u32 = 4;
pub(crate) const ENUMERATED: u32 = 10;
pub(crate) const SEQUENCE: u32 = 16;

/// The header of an element: its tag, and where its contents start and end in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
    pub start: usize,
    pub end: usize,
}

/// The header of the element at the start of `buf`. `Ok(None)` when `buf` ends before the
/// header does (more bytes are needed).
///
/// # Errors
/// [`Malformed`] for an indefinite length, a length of more than 8 bytes, or a tag number
/// that does not fit in 32 bits.
pub(crate) fn header(buf: &[u8]) -> Result<Option<Header>, Malformed> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut at = 1;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        // High tag number form: base-128 digits, the last without the top bit.
        number = 0;
        loop {
            let Some(&byte) = buf.get(at) else {
                return Ok(None);
            };
            at += 1;
            if number > u32::MAX >> 7 {
                return Err(malformed("tag number too large"));
            }
            number = (number << 7) | u32::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                break;
            }
        }
    }
    let Some(&len_byte) = buf.get(at) else {
        return Ok(None);
    };
    at += 1;
    let len = if len_byte & 0x80 == 0 {
        usize::from(len_byte)
    } else {
        let count = usize::from(len_byte & 0x7f);
        if count == 0 {
            return Err(malformed("indefinite length"));
        }
        if count > 8 {
            return Err(malformed("length too large"));
        }
        let Some(bytes) = buf.get(at..at + count) else {
            return Ok(None);
        };
        at += count;
        let len = bytes.iter().fold(0u64, |len, &b| (len << 8) | u64::from(b));
        usize::try_from(len).map_err(|_| malformed("length too large"))?
    };
    let end = at
        .checked_add(len)
        .ok_or_else(|| malformed("length too large"))?;
    Ok(Some(Header {
        class,
        constructed,
        number,
        start: at,
        end,
    }))
}

/// Reads elements one after the other from `buf`.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// The next element, or `None` at the end.
    ///
    /// # Errors
    /// [`Malformed`] when the bytes left are not a whole element.
    pub(crate) fn next(&mut self) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let h = header(self.buf)?.ok_or_else(|| malformed("truncated element"))?;
        let contents = self
            .buf
            .get(h.start..h.end)
            .ok_or_else(|| malformed("truncated element"))?;
        self.buf = &self.buf[h.end..];
        Ok(Some(Tlv {
            class: h.class,
            constructed: h.constructed,
            number: h.number,
            contents,
        }))
    }

    /// The next element, which must be there.
    ///
    /// # Errors
    /// [`Malformed`] naming `what` when there is none.
    pub(crate) fn expect(&mut self, what: &'static str) -> Result<Tlv<'a>, Malformed> {
        self.next()?.ok_or_else(|| malformed(what))
    }
}

impl<'a> Tlv<'a> {
    /// Is this the universal primitive (or constructed, for SEQUENCE and SET) type `number`?
    pub(crate) fn is_universal(&self, number: u32) -> bool {
        self.class == Class::Universal && self.number == number
    }

    /// The contents of a constructed element, to read its parts.
    ///
    /// # Errors
    /// [`Malformed`] naming `what` when it is primitive.
    pub(crate) fn parts(&self, what: &'static str) -> Result<Reader<'a>, Malformed> {
        if self.constructed {
            Ok(Reader::new(self.contents))
        } else {
            Err(malformed(what))
        }
    }

    /// The contents of a primitive element.
    ///
    /// # Errors
    /// [`Malformed`] naming `what` when it is constructed.
    pub(crate) fn bytes(&self, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.constructed {
            Err(malformed(what))
        } else {
            Ok(self.contents)
        }
    }

    /// An OCTET STRING (or an implicitly tagged one) as UTF-8 text.
    ///
    /// # Errors
    /// [`Malformed`] naming `what` when it is constructed or not UTF-8.
    pub(crate) fn text(&self, what: &'static str) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| malformed(what))
    }

    /// An INTEGER or ENUMERATED that fits in an `i64` (two's complement, big-endian).
    ///
    /// # Errors
    /// [`Malformed`] naming `what` when it is constructed, empty or longer than 8 bytes.
    pub(crate) fn integer(&self, what: &'static str) -> Result<i64, Malformed> {
        let bytes = self.bytes(what)?;
        if bytes.is_empty() || bytes.len() > 8 {
            return Err(malformed(what));
        }
        let negative = bytes[0] & 0x80 != 0;
        let start = if negative { -1i64 } else { 0 };
        Ok(bytes.iter().fold(start, |n, &b| (n << 8) | i64::from(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ldap3::asn1::{ASNTag, Integer, OctetString, Sequence, Tag, TagClass, write};

    fn encode(tag: Tag) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write::encode_into(&mut buf, tag.into_structure()).unwrap();
        buf.to_vec()
    }

    fn integer(n: i64) -> Vec<u8> {
        encode(Tag::Integer(Integer {
            inner: n,
            ..Default::default()
        }))
    }

    #[test]
    fn integers_read_back_what_lber_wrote() {
        for n in [
            0,
            1,
            127,
            128,
            255,
            256,
            32767,
            32768,
            i64::from(i32::MAX),
            i64::MAX,
        ] {
            let bytes = integer(n);
            let tlv = Reader::new(&bytes).next().unwrap().unwrap();
            assert!(tlv.is_universal(INTEGER));
            assert_eq!(tlv.integer("n"), Ok(n), "{n}");
        }
        // Negative numbers by hand (lber's writer gets some wrong; LDAP sends none idfed reads).
        for (bytes, n) in [
            (&[0xff][..], -1),
            (&[0x80], -128),
            (&[0xff, 0x7f], -129),
            (&[0x80, 0x00], -32768),
            (&[0x80, 0, 0, 0, 0, 0, 0, 0], i64::MIN),
        ] {
            let tlv = Tlv {
                class: Class::Universal,
                constructed: false,
                number: INTEGER,
                contents: bytes,
            };
            assert_eq!(tlv.integer("n"), Ok(n), "{bytes:02x?}");
        }
    }

    #[test]
    fn lengths_short_and_long_form_boundaries() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 1 << 20] {
            let value = vec![b'x'; len];
            let bytes = encode(Tag::OctetString(OctetString {
                inner: value.clone(),
                ..Default::default()
            }));
            let Header {
                class,
                constructed,
                number,
                start,
                end,
            } = header(&bytes).unwrap().unwrap();
            assert_eq!(
                (class, constructed, number),
                (Class::Universal, false, OCTET_STRING)
            );
            assert_eq!(end - start, len);
            assert_eq!(end, bytes.len());
            // Every proper prefix of the header asks for more bytes.
            for cut in 0..start {
                assert_eq!(header(&bytes[..cut]), Ok(None), "len {len} cut {cut}");
            }
            let mut reader = Reader::new(&bytes);
            assert_eq!(reader.next().unwrap().unwrap().bytes("v"), Ok(&value[..]));
            assert!(reader.is_empty());
            // A whole header but missing contents: truncated.
            if len > 0 {
                assert_eq!(
                    Reader::new(&bytes[..bytes.len() - 1]).next(),
                    Err(malformed("truncated element"))
                );
            }
        }
    }

    #[test]
    fn tags_of_every_class_and_high_numbers() {
        let bytes = encode(Tag::Sequence(Sequence {
            class: TagClass::Application,
            id: 4,
            inner: vec![Tag::OctetString(OctetString {
                class: TagClass::Context,
                id: 300,
                inner: b"v".to_vec(),
            })],
        }));
        let tlv = Reader::new(&bytes).next().unwrap().unwrap();
        assert_eq!(
            (tlv.class, tlv.constructed, tlv.number),
            (Class::Application, true, 4)
        );
        let inner = tlv.parts("seq").unwrap().next().unwrap().unwrap();
        assert_eq!(
            (inner.class, inner.constructed, inner.number),
            (Class::Context, false, 300)
        );
        assert_eq!(inner.text("v"), Ok("v"));
        assert_eq!(inner.parts("v").unwrap_err(), malformed("v"));
        assert_eq!(tlv.bytes("seq").unwrap_err(), malformed("seq"));
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        assert_eq!(header(&[0x30, 0x80]), Err(malformed("indefinite length")));
        assert_eq!(header(&[0x30, 0x89]), Err(malformed("length too large")));
        assert_eq!(
            header(&[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(malformed("length too large"))
        );
        assert_eq!(
            header(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]),
            Err(malformed("tag number too large"))
        );
        assert_eq!(
            Reader::new(&[0x02, 0x00])
                .next()
                .unwrap()
                .unwrap()
                .integer("n"),
            Err(malformed("n"))
        );
        assert_eq!(
            Reader::new(&[0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9])
                .next()
                .unwrap()
                .unwrap()
                .integer("n"),
            Err(malformed("n"))
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_reads_past_the_end(bytes: Vec<u8>) {
            let _ = header(&bytes);
            let mut reader = Reader::new(&bytes);
            while let Ok(Some(tlv)) = reader.next() {
                let _ = tlv.integer("n");
                if let Ok(mut parts) = tlv.parts("p") {
                    while let Ok(Some(_)) = parts.next() {}
                }
            }
        }
    }
}
