//! A scripted hostile LDAP server on loopback, one mode per way a broken or hostile server can
//! try to hold idfed: each must end in exit 1 within `timeout_secs` and a small margin, under
//! 256 MB of peak memory (the child's own `ru_maxrss`), with nothing written. The server
//! answers binds with success and every search as its mode says; its messages are written here
//! byte by byte (BER, RFC 4511), not with idfed's own code.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::Test;

const TIMEOUT_SECS: u64 = 3;
/// What a run may take beyond `timeout_secs`: process start, the error, a loaded machine.
const MARGIN: Duration = Duration::from_millis(2500);
const MAX_RSS: u64 = 256 * 1000 * 1000;

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Entries without end, never a SearchResultDone.
    EndlessEntries,
    /// Every page the same entries and a cookie never sent before: paging without end.
    EndlessCookie,
    /// A whole page, one byte every 1.5 s.
    Drip,
    /// A message header announcing about 1 GiB, then bytes without end.
    HugeHeader,
    /// One page of 1,000,000 attribute values (100 entries of 10,000 values of 70 bytes).
    MillionValues,
    /// No entries: only a SearchResultDone with a referral (rc 10).
    ReferralOnly,
    /// An entry and the SearchResultDone with another message id than the request's.
    OtherId,
    /// Half an entry, then the connection closed.
    Truncated,
}

/// One BER element: the tag byte, the definite length, the contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(contents);
    out
}

fn integer(tag: u8, n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut contents = bytes[skip..].to_vec();
    if contents[0] & 0x80 != 0 {
        contents.insert(0, 0);
    }
    tlv(tag, &contents)
}

fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

/// `LDAPMessage ::= SEQUENCE { messageID, protocolOp, controls [0] OPTIONAL }`.
fn message(id: u32, op: Vec<u8>, controls: Option<Vec<u8>>) -> Vec<u8> {
    let mut contents = integer(0x02, id);
    contents.extend(op);
    if let Some(controls) = controls {
        contents.extend(tlv(0xa0, &controls));
    }
    tlv(0x30, &contents)
}

/// A SearchResultEntry (`[APPLICATION 4]`) with `(type, values)` attributes.
fn entry(id: u32, dn: &str, attrs: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let list: Vec<u8> = attrs
        .iter()
        .flat_map(|(name, values)| {
            attribute(
                name,
                &values.iter().flat_map(|v| octets(v)).collect::<Vec<_>>(),
            )
        })
        .collect();
    message(id, entry_op(dn, &list), None)
}

/// The operation of [`entry`]: its DN and its attributes, already encoded one after another.
fn entry_op(dn: &str, attributes: &[u8]) -> Vec<u8> {
    let mut op = octets(dn.as_bytes());
    op.extend(tlv(0x30, attributes));
    tlv(0x64, &op)
}

/// One attribute of an entry: its type and its values, already encoded one after another.
fn attribute(name: &str, values: &[u8]) -> Vec<u8> {
    let mut attr = octets(name.as_bytes());
    attr.extend(tlv(0x31, values));
    tlv(0x30, &attr)
}

/// [`Mode::MillionValues`]'s 10,000 `memberUid` values of 70 bytes, encoded once (700 KB) before
/// the client starts: encoded per request, a debug build took more than the client's timeout to
/// send the page, so the timeout, not the page bound, ended the test.
fn million_values() -> &'static [u8] {
    static VALUES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    VALUES.get_or_init(|| {
        (0..10_000u32)
            .flat_map(|i| octets(format!("{i:070}").as_bytes()))
            .collect()
    })
}

fn user(id: u32, i: u32) -> Vec<u8> {
    let name = format!("u{i}");
    let number = (10_000 + i).to_string().into_bytes();
    entry(
        id,
        &format!("uid={name},ou=people,dc=example,dc=org"),
        &[
            ("uid", vec![name.clone().into_bytes()]),
            ("uidNumber", vec![number.clone()]),
            ("gidNumber", vec![number]),
        ],
    )
}

/// An LDAPResult operation (`[APPLICATION op] { resultCode, matchedDN, text, referral [3]? }`).
fn result_op(op: u8, rc: u32, referral: Option<&str>) -> Vec<u8> {
    let mut contents = integer(0x0a, rc);
    contents.extend(octets(b""));
    contents.extend(octets(b""));
    if let Some(url) = referral {
        contents.extend(tlv(0xa3, &octets(url.as_bytes())));
    }
    tlv(0x60 | op, &contents)
}

/// A SearchResultDone (`[APPLICATION 5]`), with the paged results control carrying `cookie`.
fn done(id: u32, rc: u32, cookie: &[u8]) -> Vec<u8> {
    let mut value = integer(0x02, 0);
    value.extend(octets(cookie));
    let mut control = octets(b"1.2.840.113556.1.4.319");
    control.extend(octets(&tlv(0x30, &value)));
    message(id, result_op(5, rc, None), Some(tlv(0x30, &control)))
}

/// Reads one request: its message id and operation number, or `None` at the end.
fn request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u32, u8)> {
    loop {
        // `30 LEN 02 IDLEN ID... OP`: short or long form lengths.
        if buf.len() >= 2 {
            let (len, at) = if buf[1] & 0x80 == 0 {
                (usize::from(buf[1]), 2)
            } else {
                let n = usize::from(buf[1] & 0x7f);
                let len = buf.get(2..2 + n).map(|b| {
                    b.iter()
                        .fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
                });
                (len.unwrap_or(usize::MAX - 2 - n), 2 + n)
            };
            if buf.len() >= at + len {
                let id_len = usize::from(buf[at + 1]);
                let id = buf[at + 2..at + 2 + id_len]
                    .iter()
                    .fold(0u32, |id, &b| (id << 8) | u32::from(b));
                let op = buf[at + 2 + id_len] & 0x1f;
                buf.drain(..at + len);
                return Some((id, op));
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `bytes` again and again until the client goes away.
fn forever(stream: &mut TcpStream, bytes: &[u8]) {
    while stream.write_all(bytes).is_ok() {}
}

/// Answers one search request `id` as `mode` says; `false` when the connection is done.
fn answer(stream: &mut TcpStream, mode: Mode, id: u32, page: &mut u32) -> bool {
    match mode {
        Mode::EndlessEntries => {
            let chunk: Vec<u8> = (0..10_000).flat_map(|i| user(id, i)).collect();
            forever(stream, &chunk);
            false
        }
        Mode::EndlessCookie => {
            *page += 1;
            let mut out: Vec<u8> = (0..10).flat_map(|i| user(id, i)).collect();
            out.extend(done(id, 0, format!("cookie {page}").as_bytes()));
            stream.write_all(&out).is_ok()
        }
        Mode::Drip => {
            let mut out = user(id, 1);
            out.extend(done(id, 0, b""));
            for byte in out {
                if stream.write_all(&[byte]).is_err() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1500));
            }
            true
        }
        Mode::HugeHeader => {
            let _ = stream.write_all(&[0x30, 0x84, 0x3f, 0xff, 0xff, 0xf0]);
            forever(stream, &[0u8; 1 << 16]);
            false
        }
        Mode::MillionValues => {
            for i in 0..100 {
                let mut list = attribute("cn", &octets(format!("g{i}").as_bytes()));
                list.extend(attribute(
                    "gidNumber",
                    &octets((20_000 + i).to_string().as_bytes()),
                ));
                list.extend(attribute("memberUid", million_values()));
                let dn = format!("cn=g{i},ou=groups,dc=example,dc=org");
                if stream
                    .write_all(&message(id, entry_op(&dn, &list), None))
                    .is_err()
                {
                    return false;
                }
            }
            stream.write_all(&done(id, 0, b"")).is_ok()
        }
        Mode::ReferralOnly => {
            let referral = result_op(
                5,
                10,
                Some("ldap://elsewhere.example.org/dc=example,dc=org"),
            );
            stream.write_all(&message(id, referral, None)).is_ok()
        }
        Mode::OtherId => {
            let mut out = user(id + 7, 1);
            out.extend(done(id + 7, 0, b""));
            stream.write_all(&out).is_ok()
        }
        Mode::Truncated => {
            let whole = user(id, 1);
            let _ = stream.write_all(&whole[..whole.len() / 2]);
            false
        }
    }
}

/// Starts the server; returns its port. Each connection is served in its own thread until
/// the client goes away.
fn start(mode: Mode) -> u16 {
    if matches!(mode, Mode::MillionValues) {
        million_values();
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut page = 0;
                while let Some((id, op)) = request(&mut stream, &mut buf) {
                    let go_on = match op {
                        // A bind: success.
                        0 => stream
                            .write_all(&message(id, result_op(1, 0, None), None))
                            .is_ok(),
                        3 => answer(&mut stream, mode, id, &mut page),
                        // An unbind, or anything else: the end.
                        _ => false,
                    };
                    if !go_on {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Every file under `dir` with its contents, to compare before and after a run; the node's
/// empty lock file (`run/lock/`, which apply takes before anything else) is not a write.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                if !(name.starts_with("run/lock/") && bytes.is_empty()) {
                    out.push((name, bytes));
                }
            }
        }
    }
    out.sort();
    out
}

/// `idfed apply` on node pve1 of the `pve-basic` fixture, its share owned by a group of an
/// LDAP source served by `mode`: exit 1 in time, within the memory bound, with `want` (one of
/// them) on stderr and nothing written.
fn hostile(mode: Mode, want: &[&str]) {
    hostile_within(mode, TIMEOUT_SECS, want);
}

/// [`hostile`] with the source's `timeout_secs` set to `timeout_secs`.
fn hostile_within(mode: Mode, timeout_secs: u64, want: &[&str]) {
    let port = start(mode);
    let url = format!("ldap://127.0.0.1:{port}");
    let config = format!(
        "[source.corp]\ntype = \"ldap\"\nurl = \"{url}\"\nuser_base = \"ou=people,dc=example,dc=org\"\n\
         group_base = \"ou=groups,dc=example,dc=org\"\ntimeout_secs = {timeout_secs}\n\n\
         [share.projects]\nsource = \"corp\"\npath = \"/mnt/pve/projects\"\ngroups = [\"g1\"]\n"
    );
    let t = Test::new()
        .fixture("pve-basic")
        .write("idfed.toml", &config)
        .at_root("pve1")
        .args(["apply"]);
    let before = tree(t.path());
    let started = Instant::now();
    let (run, peak) = t.run_with_peak_rss();
    let elapsed = started.elapsed();
    let run = run.failure();
    let stderr = run.stderr();
    eprintln!(
        "{mode:?}: exit 1 after {elapsed:.2?}, peak RSS {:.1} MiB: {}",
        peak as f64 / f64::from(1 << 20),
        stderr.trim_end()
    );
    assert!(
        stderr.starts_with("idfed: error: cannot read source `corp`: "),
        "{mode:?}: {stderr}"
    );
    assert!(
        want.iter().any(|w| stderr.contains(w)),
        "{mode:?}: expected one of {want:?}: {stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(timeout_secs) + MARGIN,
        "{mode:?}: {elapsed:?}"
    );
    assert!(peak < MAX_RSS, "{mode:?}: peak RSS {peak} bytes");
    let after = tree(run.path());
    let changed: Vec<&str> = after
        .iter()
        .filter(|file| !before.contains(file))
        .chain(before.iter().filter(|file| !after.contains(file)))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(changed.is_empty(), "{mode:?}: written: {changed:?}");
}

const TIMED_OUT: &str = "did not answer in full within 3 s (`timeout_secs`) while searching";

#[test]
fn endless_entries_without_search_result_done() {
    hostile(
        Mode::EndlessEntries,
        &["a page of more than 50331648 bytes", TIMED_OUT],
    );
}

#[test]
fn a_paging_cookie_that_never_ends() {
    hostile(
        Mode::EndlessCookie,
        &["pages for 10 distinct entries", TIMED_OUT],
    );
}

#[test]
fn one_byte_every_one_and_a_half_seconds() {
    hostile(Mode::Drip, &[TIMED_OUT]);
}

#[test]
fn a_header_announcing_a_gibibyte() {
    hostile(
        Mode::HugeHeader,
        &["a message of 1073741814 bytes: more than idfed reads (33554432)"],
    );
}

/// The page bound, not the timeout, ends it: a timeout well past the time a loaded machine
/// takes to send 50 MB on loopback (about 2 s in a debug build).
#[test]
fn a_page_of_a_million_values() {
    hostile_within(
        Mode::MillionValues,
        20,
        &["a page of more than 50331648 bytes: more than idfed reads in one page"],
    );
}

#[test]
fn a_referral_only_answer() {
    hostile(
        Mode::ReferralOnly,
        &["failed: referral (rc 10): the server holds these entries elsewhere"],
    );
}

#[test]
fn an_answer_with_another_message_id() {
    hostile(
        Mode::OtherId,
        &["an answer to request 8 while waiting for request 1"],
    );
}

#[test]
fn a_truncated_stream() {
    hostile(Mode::Truncated, &["the server closed the connection"]);
}

/// The harness's peak RSS is the binary's alone: with 256 MiB touched in this test process
/// first, `idfed map 1005` still reads well under it. `wait4` on the child this process spawned
/// read at least those 256 MiB (the child starts on the parent's memory and Linux keeps the
/// high-water mark across `exec`), and so every hostile test's bound measured the test binary.
#[test]
fn peak_rss_is_the_binarys_alone() {
    let ballast = vec![1u8; 256 << 20];
    let (run, peak) = Test::new().args(["map", "1005"]).run_with_peak_rss();
    run.success();
    assert!(peak > 0 && peak < 64 << 20, "peak RSS {peak} bytes");
    std::hint::black_box(&ballast);
}
