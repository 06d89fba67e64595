//! One LDAP connection: TCP, TLS (`ldaps://` or StartTLS), a simple bind, paged searches read
//! a page at a time into one buffer, unbind. Connecting and binding are each bounded, whole, by
//! the source's timeout; a search is bounded by its caller, all its pages together. What is
//! read is bounded by [`Limits`]. Requests are numbered from 1; a message with another id, or the server's notice of
//! disconnection, ends the connection with an error.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::LdapTarget;

use super::ber::{self, Malformed};
use super::limits::Limits;
use super::message::{self, LdapResult, Message};

/// Why a connection failed, before it is put in words with what was being done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("the server closed the connection")]
    Closed,
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("{0}")]
    Protocol(String),
    /// A message or a page beyond [`Limits`].
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    BadFilter(#[from] message::BadFilter),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How a connection is secured, with the TLS configuration wherever there is TLS: a
/// connection cannot be asked for TLS without one.
#[derive(Clone)]
pub(crate) enum Security {
    /// Plain LDAP (`ldap://` without `starttls`).
    Plain,
    /// TLS from the first byte (`ldaps://`).
    Tls(Arc<rustls::ClientConfig>),
    /// Plain LDAP, then StartTLS before anything else (`ldap://` with `starttls`).
    StartTls(Arc<rustls::ClientConfig>),
}

/// A connection and its read buffer.
pub(crate) struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    last_id: i32,
    timeout: Duration,
    limits: Limits,
}

impl Conn {
    /// Connects to `target`'s host and port (TCP, then TLS as `security` says).
    ///
    /// # Errors
    /// [`ConnError`] when the host cannot be reached or TLS fails.
    pub(crate) async fn connect(
        target: &LdapTarget,
        security: Security,
        timeout: Duration,
        limits: Limits,
    ) -> Result<Conn, ConnError> {
        // One bound for all of it: TCP, StartTLS and the TLS handshake.
        bounded(
            timeout,
            Conn::connect_unbounded(target, security, timeout, limits),
        )
        .await?
    }

    async fn connect_unbounded(
        target: &LdapTarget,
        security: Security,
        timeout: Duration,
        limits: Limits,
    ) -> Result<Conn, ConnError> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
        // Requests are single writes; a page request should not wait for an ACK.
        tcp.set_nodelay(true)?;
        let mut conn = Conn {
            io: Box::new(tcp),
            buf: Vec::new(),
            last_id: 0,
            timeout,
            limits,
        };
        let tls = match security {
            Security::Plain => return Ok(conn),
            Security::Tls(tls) => tls,
            Security::StartTls(tls) => {
                let id = conn.next_id();
                conn.send(&message::starttls(id)).await?;
                let result = conn.read_result(id, message::EXTENDED_RESPONSE).await?;
                if result.rc != 0 {
                    return Err(ConnError::Protocol(format!(
                        "the server refused StartTLS: {}",
                        describe(&result)
                    )));
                }
                if !conn.buf.is_empty() {
                    return Err(ConnError::Protocol(
                        "the server sent data before the TLS handshake".into(),
                    ));
                }
                tls
            }
        };
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| ConnError::Protocol(format!("`{}`: {e}", target.host)))?;
        let connector = tokio_rustls::TlsConnector::from(tls);
        let Conn {
            io, buf, last_id, ..
        } = conn;
        let stream = connector.connect(name, io).await?;
        Ok(Conn {
            io: Box::new(stream),
            buf,
            last_id,
            timeout,
            limits,
        })
    }

    /// The bounds this connection reads within.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    fn next_id(&mut self) -> i32 {
        self.last_id += 1;
        self.last_id
    }

    /// Writes one request, whole.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.io.write_all(bytes).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// A simple bind; its result (the caller judges the result code).
    ///
    /// # Errors
    /// [`ConnError`] when the exchange fails.
    pub(crate) async fn bind(&mut self, dn: &str, password: &str) -> Result<LdapResult, ConnError> {
        let id = self.next_id();
        bounded(self.timeout, async {
            self.send(&message::bind(id, dn, password)).await?;
            self.read_result(id, message::BIND_RESPONSE).await
        })
        .await?
    }

    /// Sends an unbind and closes the connection, ignoring errors: the pull is over.
    pub(crate) async fn unbind(mut self) {
        let id = self.next_id();
        let _ = bounded(self.timeout, async {
            let _ = self.send(&message::unbind(id)).await;
            self.io.shutdown().await
        })
        .await;
    }

    /// Asks for one page of a search; returns the request's id, to read the page with.
    ///
    /// # Errors
    /// [`ConnError`] when the filter is bad or the request cannot be written.
    pub(crate) async fn search_page(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        page_size: i32,
        cookie: &[u8],
    ) -> Result<i32, ConnError> {
        let id = self.next_id();
        let request = message::search_page(id, base, filter, attrs, page_size, cookie)?;
        self.send(&request).await?;
        Ok(id)
    }

    /// Asks for `attrs` of the one entry `dn` (no paging); returns the request's id, to read the
    /// answer with [`Conn::read_page`].
    ///
    /// # Errors
    /// [`ConnError`] when the request cannot be written.
    pub(crate) async fn search_entry(
        &mut self,
        dn: &str,
        attrs: &[String],
    ) -> Result<i32, ConnError> {
        let id = self.next_id();
        let request = message::search(
            id,
            dn,
            message::Scope::Base,
            "(objectClass=*)",
            attrs,
            Vec::new(),
        )?;
        self.send(&request).await?;
        Ok(id)
    }

    /// Reads the whole answer to search request `id` into the buffer, up to and including its
    /// SearchResultDone, without taking the entries apart. Returns the number of buffered
    /// bytes the page takes, its result and the cookie for the next page.
    ///
    /// # Errors
    /// [`ConnError`] when the connection fails or a message is not part of this search.
    pub(crate) async fn read_page(
        &mut self,
        id: i32,
    ) -> Result<(usize, LdapResult, Vec<u8>), ConnError> {
        let mut at = 0;
        loop {
            let end = self.fill(at, self.limits.max_page).await?;
            let message = message::parse(&self.buf[at..end])?;
            check_id(&message, id)?;
            match message.op.number {
                message::SEARCH_RESULT_ENTRY
                | message::SEARCH_RESULT_REFERENCE
                | message::INTERMEDIATE_RESPONSE => at = end,
                message::SEARCH_RESULT_DONE => {
                    let result = message::result(&message.op)?;
                    let cookie = message::paged_cookie(message.controls.as_ref())?;
                    return Ok((end, result, cookie));
                }
                other => return Err(unexpected(other)),
            }
        }
    }

    /// The messages of a page [`Conn::read_page`] read: the first `len` bytes of the buffer.
    pub(crate) fn page(&self, len: usize) -> PageMessages<'_> {
        PageMessages {
            rest: &self.buf[..len],
        }
    }

    /// Drops the first `len` bytes of the buffer (a page that has been taken apart).
    pub(crate) fn consume(&mut self, len: usize) {
        self.buf.drain(..len);
    }

    /// Reads the response to request `id`, which must be operation `op`, and its result.
    async fn read_result(&mut self, id: i32, op: u32) -> Result<LdapResult, ConnError> {
        let end = self.fill(0, self.limits.max_message).await?;
        let message = message::parse(&self.buf[..end])?;
        check_id(&message, id)?;
        if message.op.number != op {
            return Err(unexpected(message.op.number));
        }
        let result = message::result(&message.op)?;
        self.consume(end);
        Ok(result)
    }

    /// Makes sure a whole message starts at `at` in the buffer, reading as needed; returns
    /// where it ends. The message may be at most [`Limits::max_message`] bytes and end at most
    /// `max_end` bytes into the buffer (a page's bound); both are checked on its header, before
    /// it is read. The buffer grows as bytes arrive, never by what a header announces: each
    /// read takes at most what the message still lacks, or [`Limits::read_chunk`].
    async fn fill(&mut self, at: usize, max_end: usize) -> Result<usize, ConnError> {
        loop {
            let want = match ber::header(&self.buf[at..])? {
                Some(ber::Header { end, .. }) => {
                    let max = self.limits.max_message;
                    if end > max {
                        return Err(ConnError::TooLarge(format!(
                            "a message of {end} bytes: more than idfed reads ({max})"
                        )));
                    }
                    if at + end > max_end {
                        return Err(ConnError::TooLarge(format!(
                            "a page of more than {max_end} bytes: more than idfed reads in one \
                             page (`page_size` entries)"
                        )));
                    }
                    if at + end <= self.buf.len() {
                        return Ok(at + end);
                    }
                    at + end - self.buf.len()
                }
                None => 1,
            };
            let chunk = want.max(self.limits.read_chunk);
            self.buf.reserve(self.limits.read_chunk.min(chunk));
            let limit = u64::try_from(chunk).unwrap_or(u64::MAX);
            let read = (&mut self.io).take(limit).read_buf(&mut self.buf).await?;
            if read == 0 {
                return Err(ConnError::Closed);
            }
        }
    }
}

/// The messages of one page, in order, read in place.
pub(crate) struct PageMessages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PageMessages<'a> {
    type Item = Result<Message<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        // `read_page` framed these bytes already.
        let end = match ber::header(self.rest) {
            Ok(Some(h)) if h.end <= self.rest.len() => h.end,
            _ => return Some(Err(ber::malformed("truncated message"))),
        };
        let (message, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(message::parse(message))
    }
}

/// A message for another request: the notice of disconnection (id 0), or a broken server.
fn check_id(message: &Message<'_>, id: i32) -> Result<(), ConnError> {
    if message.id == id {
        return Ok(());
    }
    if message.id == 0 {
        let why = message::result(&message.op)
            .map(|r| describe(&r))
            .unwrap_or_else(|_| "no reason given".to_string());
        return Err(ConnError::Protocol(format!(
            "the server ended the connection: {why}"
        )));
    }
    Err(ConnError::Protocol(format!(
        "an answer to request {} while waiting for request {id}",
        message.id
    )))
}

fn unexpected(op: u32) -> ConnError {
    ConnError::Protocol(format!("unexpected operation [APPLICATION {op}]"))
}

/// A result code with the server's text: `rc 52: shutting down`.
fn describe(result: &LdapResult) -> String {
    if result.text.is_empty() {
        format!("rc {}", result.rc)
    } else {
        format!("rc {}: `{}`", result.rc, result.text)
    }
}

async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ConnError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ConnError::Timeout)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{done, entry, result};
    use super::*;
    use std::io::{Read, Write};

    /// A user's entry: `uid=UID,dc=x` with its `uid`.
    fn user(id: i32, uid: &str) -> Vec<u8> {
        entry(id, &format!("uid={uid},dc=x"), &[("uid", &[uid])])
    }

    /// A server on 127.0.0.1 that reads one request, answers `reply`, `chunk` bytes at a
    /// time, and closes the connection.
    fn server(reply: Vec<u8>, chunk: usize) -> (LdapTarget, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).unwrap();
            for part in reply.chunks(chunk) {
                if stream.write_all(part).is_err() {
                    return;
                }
                stream.flush().unwrap();
            }
        });
        let target = LdapTarget {
            host: "127.0.0.1".into(),
            port,
            tls: false,
        };
        (target, handle)
    }

    /// Reads one page of a search against a server answering `reply`: the uids of its
    /// entries and the cookie, or the error in words.
    fn read_one_page(reply: Vec<u8>, chunk: usize) -> Result<(Vec<String>, Vec<u8>), String> {
        read_one_page_within(reply, chunk, Limits::default())
    }

    /// [`read_one_page`] within `limits`.
    fn read_one_page_within(
        reply: Vec<u8>,
        chunk: usize,
        limits: Limits,
    ) -> Result<(Vec<String>, Vec<u8>), String> {
        let (target, server) = server(reply, chunk);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = runtime.block_on(async {
            let mut conn = Conn::connect(&target, Security::Plain, Duration::from_secs(5), limits)
                .await
                .map_err(|e| e.to_string())?;
            let id = conn
                .search_page("dc=x", "(uid=*)", &["uid".into()], 10, b"")
                .await
                .map_err(|e| e.to_string())?;
            let (len, result, cookie) = conn.read_page(id).await.map_err(|e| e.to_string())?;
            assert_eq!(result.rc, 0);
            let mut uids = Vec::new();
            for message in conn.page(len) {
                let message = message.map_err(|e| e.to_string())?;
                if message.op.number == message::SEARCH_RESULT_ENTRY {
                    let entry = super::super::entry::Entry::from_ber(&message.op)
                        .map_err(|e| e.to_string())?;
                    uids.extend(entry.first("uid").map(str::to_string));
                }
            }
            conn.consume(len);
            Ok((uids, cookie))
        });
        drop(runtime);
        server.join().unwrap();
        got
    }

    /// A whole page of request 1: alice, bob and carol, then the SearchResultDone.
    fn three_users() -> Vec<u8> {
        let mut page = Vec::new();
        for uid in ["alice", "bob", "carol"] {
            page.extend(user(1, uid));
        }
        page.extend(done(1));
        page
    }

    #[test]
    fn a_page_arriving_a_byte_at_a_time_reads_whole() {
        let reply = three_users();
        for chunk in [1, 2, 7, 4096] {
            assert_eq!(
                read_one_page(reply.clone(), chunk),
                Ok((
                    vec!["alice".into(), "bob".into(), "carol".into()],
                    Vec::new()
                )),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_page_cut_short_or_mixed_up_is_an_error() {
        let mut cut = user(1, "alice");
        cut.extend(&done(1)[..4]);
        let mut notice = user(1, "alice");
        notice.extend(result(0, message::EXTENDED_RESPONSE, 52, "shutting down"));
        let mut other_id = user(1, "alice");
        other_id.extend(user(5, "mallory"));
        let mut bind_response = user(1, "alice");
        bind_response.extend(result(1, message::BIND_RESPONSE, 0, ""));
        // A length of 2 GiB announced: refused before reading (or allocating) it.
        let huge = vec![0x30, 0x84, 0x80, 0x00, 0x00, 0x00];
        for (reply, want) in [
            (cut, "the server closed the connection"),
            (
                notice,
                "the server ended the connection: rc 52: `shutting down`",
            ),
            (
                other_id,
                "an answer to request 5 while waiting for request 1",
            ),
            (bind_response, "unexpected operation [APPLICATION 1]"),
            (
                huge,
                "a message of 2147483654 bytes: more than idfed reads (33554432)",
            ),
        ] {
            assert_eq!(read_one_page(reply, 4096), Err(want.to_string()));
        }
    }

    /// A message up to `max_message` bytes and a page up to `max_page` bytes are read; one
    /// byte more of either is refused.
    #[test]
    fn a_message_or_a_page_beyond_the_limits_is_an_error() {
        let page = three_users();
        let message = user(1, "alice").len();
        let uids = || {
            Ok((
                vec!["alice".into(), "bob".into(), "carol".into()],
                Vec::new(),
            ))
        };
        let within = |max_message, max_page| Limits {
            max_message,
            max_page,
            ..Limits::default()
        };
        assert_eq!(
            read_one_page_within(page.clone(), 4096, within(message, page.len())),
            uids()
        );
        assert_eq!(
            read_one_page_within(page.clone(), 4096, within(message - 1, page.len())),
            Err(format!(
                "a message of {message} bytes: more than idfed reads ({})",
                message - 1
            ))
        );
        assert_eq!(
            read_one_page_within(page.clone(), 4096, within(message, page.len() - 1)),
            Err(format!(
                "a page of more than {} bytes: more than idfed reads in one page (`page_size` \
                 entries)",
                page.len() - 1
            ))
        );
    }

    /// The buffer grows as bytes arrive: a header announcing 30 MiB (within the limit) followed
    /// by a few bytes and the end of the stream reserves nothing near 30 MiB.
    #[test]
    fn a_length_header_reserves_nothing() {
        let mut reply = vec![0x30, 0x84, 0x01, 0xe0, 0x00, 0x00];
        reply.extend([0u8; 100]);
        let (target, server) = server(reply, 4096);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let limits = Limits::default();
            let mut conn = Conn::connect(&target, Security::Plain, Duration::from_secs(5), limits)
                .await
                .unwrap();
            let id = conn
                .search_page("dc=x", "(uid=*)", &[], 10, b"")
                .await
                .unwrap();
            let err = conn.read_page(id).await.unwrap_err();
            assert_eq!(err.to_string(), "the server closed the connection");
            assert_eq!(conn.buf.len(), 106);
            assert!(
                conn.buf.capacity() <= 2 * limits.read_chunk,
                "{}",
                conn.buf.capacity()
            );
        });
        drop(runtime);
        server.join().unwrap();
    }
}
