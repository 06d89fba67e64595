//! The searches of a pull: one paged subtree search handing each entry on, and Active
//! Directory's ranged members read range by range; their errors name the search.

use std::hash::BuildHasher;

use crate::config::LdapConfig;

use super::super::directory::Group;
use super::LdapError;
use super::connect::timeout;
use super::schema::member;
use super::wire::conn::{Conn, ConnError};
use super::wire::entry::Entry;
use super::wire::message::{self, LdapResult};

type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// What a search is, for its errors: the base and filter searched, and what was being done
/// (said when the server does not answer in time).
pub(super) struct SearchCtx<'a> {
    pub(super) config: &'a LdapConfig,
    pub(super) base: &'a str,
    pub(super) filter: &'a str,
    pub(super) doing: &'a str,
}

impl SearchCtx<'_> {
    /// The search failed for `reason`.
    pub(super) fn err(&self, reason: impl Into<String>) -> LdapError {
        LdapError::Search {
            url: self.config.url.clone(),
            base: self.base.to_string(),
            filter: self.filter.to_string(),
            reason: reason.into(),
        }
    }

    /// The connection failed during the search: a timeout, or another failure of the search.
    fn conn(&self, e: ConnError) -> LdapError {
        match e {
            ConnError::Timeout => timeout(self.config, self.doing),
            e => self.err(e.to_string()),
        }
    }
}

/// The start of the range after the one an attribute type like `member;range=0-1499` holds:
/// `None` after the last range (`member;range=1500-*`).
///
/// # Errors
/// A text saying what is wrong with the range.
pub(super) fn next_range(attr: &str, prefix: &str) -> Result<Option<u64>, String> {
    let range = attr.get(prefix.len()..).unwrap_or_default();
    let bad =
        || format!("ranged attribute `{attr}`: expected `{prefix}LOW-HIGH` or `{prefix}LOW-*`");
    let (low, high) = range.split_once('-').ok_or_else(bad)?;
    let low: u64 = low.parse().map_err(|_| bad())?;
    if high == "*" {
        return Ok(None);
    }
    let high: u64 = high.parse().map_err(|_| bad())?;
    if high < low {
        return Err(bad());
    }
    Ok(Some(high + 1))
}

/// Reads the rest of a group's members range by range (`member;range=START-*` of its entry),
/// after the group search, on the same connection.
pub(super) async fn read_ranges(
    config: &LdapConfig,
    conn: &mut Conn,
    prefix: &str,
    group: &mut Group,
    start: u64,
) -> Result<(), LdapError> {
    let dn = group.dn.clone().unwrap_or_default();
    let doing = format!("reading the members of `{dn}` by range");
    let ctx = SearchCtx {
        config,
        base: &dn,
        filter: "(objectClass=*)",
        doing: &doing,
    };
    // The timeout bounds all of a group's ranges together, as it bounds a search's pages.
    within(config, &doing, ranges(&ctx, conn, prefix, group, start)).await
}

/// `work`, within the source's timeout; past it, the timeout error saying what was `doing`.
async fn within(
    config: &LdapConfig,
    doing: &str,
    work: impl Future<Output = Result<(), LdapError>>,
) -> Result<(), LdapError> {
    tokio::time::timeout(config.timeout, work)
        .await
        .unwrap_or_else(|_| Err(timeout(config, doing)))
}

/// The ranges of [`read_ranges`], without its time bound.
async fn ranges(
    ctx: &SearchCtx<'_>,
    conn: &mut Conn,
    prefix: &str,
    group: &mut Group,
    mut start: u64,
) -> Result<(), LdapError> {
    let (config, dn) = (ctx.config, ctx.base);
    loop {
        let attrs = [format!("{prefix}{start}-*")];
        let id = conn
            .search_entry(dn, &attrs)
            .await
            .map_err(|e| ctx.conn(e))?;
        let (len, result, _) = conn.read_page(id).await.map_err(|e| ctx.conn(e))?;
        if result.rc != 0 {
            return Err(ctx.err(search_failure(&result)));
        }
        let mut next = None;
        let mut found = false;
        for message in conn.page(len) {
            let message = message.map_err(|e| ctx.err(e.to_string()))?;
            if message.op.number != message::SEARCH_RESULT_ENTRY {
                continue;
            }
            let entry = Entry::from_ber(&message.op).map_err(|e| ctx.err(e.to_string()))?;
            if let Some((attr, values)) = entry.starting_with(prefix) {
                found = true;
                next = next_range(attr, prefix).map_err(|reason| ctx.err(reason))?;
                group.members.extend(values.map(|v| member(config, v)));
            }
        }
        conn.consume(len);
        match next {
            _ if !found => {
                return Err(ctx.err(format!(
                    "no `{prefix}{start}-*` values in the answer: the members would be incomplete"
                )));
            }
            None => return Ok(()),
            Some(after) if after <= start => {
                return Err(ctx.err(format!(
                    "the range after `{start}` does not advance: the members would be incomplete"
                )));
            }
            Some(after) => start = after,
        }
    }
}

/// One paged subtree search, each entry handed to `on_entry`; all of it or an error (the
/// caller throws away what it collected). The source's timeout bounds the whole search, all its
/// pages together.
///
/// Each page is read off the connection whole, the next page asked for, and only then are its
/// entries taken apart: the server builds the next page while idfed works on this one, instead
/// of each waiting for the other at every page boundary. A page is at most `page_size` entries,
/// held as the bytes the server sent (at most [`Limits::max_page`](super::wire::limits::Limits)).
/// A page cookie seen before, or more pages than distinct entries plus
/// [`Limits::extra_pages`](super::wire::limits::Limits), is an error: a server that pages
/// forever.
#[allow(clippy::too_many_arguments)] // one call per kind of entry; a struct would only rename them
pub(super) async fn search(
    config: &LdapConfig,
    conn: &mut Conn,
    base: &str,
    filter: &str,
    attrs: &[String],
    progress: Option<&indicatif::ProgressBar>,
    what: &str,
    on_entry: impl FnMut(Entry<'_>) -> Result<(), LdapError>,
) -> Result<(), LdapError> {
    let doing = format!("searching {what} under `{base}`");
    let ctx = SearchCtx {
        config,
        base,
        filter,
        doing: &doing,
    };
    let pages = pages(&ctx, conn, attrs, progress, what, on_entry);
    within(config, &doing, pages).await
}

/// The pages of [`search`], without its time bound.
async fn pages(
    ctx: &SearchCtx<'_>,
    conn: &mut Conn,
    attrs: &[String],
    progress: Option<&indicatif::ProgressBar>,
    what: &str,
    mut on_entry: impl FnMut(Entry<'_>) -> Result<(), LdapError>,
) -> Result<(), LdapError> {
    let (config, base, filter) = (ctx.config, ctx.base, ctx.filter);
    let limits = conn.limits();
    let hasher = foldhash::fast::RandomState::default();
    // Hashes of the DNs and cookies seen: 8 bytes each, whatever a server sends.
    let mut dns: HashSet<u64> = HashSet::default();
    let mut cookies: HashSet<u64> = HashSet::default();
    let mut page_count = 0u64;
    let mut id = conn
        .search_page(base, filter, attrs, config.page_size, &[])
        .await
        .map_err(|e| ctx.conn(e))?;
    let mut count = 0usize;
    loop {
        let (len, result, cookie) = conn.read_page(id).await.map_err(|e| ctx.conn(e))?;
        page_count += 1;
        // Anything but success, on any page, fails the search: a referral (the entries are
        // elsewhere), a size or time limit (some entries are missing), and the rest.
        if result.rc != 0 {
            return Err(ctx.err(search_failure(&result)));
        }
        let last = cookie.is_empty();
        if !last {
            if !cookies.insert(hasher.hash_one(&cookie)) {
                return Err(ctx.err(format!(
                    "the server sent page {page_count} with a paging cookie it had sent \
                     before: the search would never end"
                )));
            }
            id = conn
                .search_page(base, filter, attrs, config.page_size, &cookie)
                .await
                .map_err(|e| ctx.conn(e))?;
        }
        for message in conn.page(len) {
            let message = message.map_err(|e| ctx.err(e.to_string()))?;
            // Search references (referrals) and intermediate responses are ignored, not fatal;
            // the page ends with its SearchResultDone, read above.
            if message.op.number != message::SEARCH_RESULT_ENTRY {
                continue;
            }
            let entry = Entry::from_ber(&message.op).map_err(|e| ctx.err(e.to_string()))?;
            dns.insert(hasher.hash_one(entry.dn));
            on_entry(entry)?;
            count += 1;
            if let Some(bar) = progress
                && count.is_multiple_of(100)
            {
                bar.set_message(format!("reading {what} from `{}`: {count}", config.url));
            }
        }
        conn.consume(len);
        if last {
            return Ok(());
        }
        let distinct = dns.len() as u64;
        if page_count > distinct + limits.extra_pages {
            return Err(ctx.err(format!(
                "the server sent {page_count} pages for {distinct} distinct entries: more than \
                 one page per entry and {} more; a paging cookie that never ends",
                limits.extra_pages
            )));
        }
    }
}

/// Why a search whose result is not success failed: the result code, and what to do about it
/// when that is known.
fn search_failure(result: &LdapResult) -> String {
    let mut reason = result_code(result.rc, &result.text);
    match result.rc {
        4 => reason.push_str(
            ": the server's size limit for this bind DN stopped the paged search \
             (OpenLDAP: `limits ... size.prtotal=unlimited`)",
        ),
        10 => reason.push_str(
            ": the server holds these entries elsewhere and idfed does not follow referrals: \
             point `url` and the base at the server that holds them",
        ),
        _ => {}
    }
    reason
}

/// An LDAP result code with its RFC 4511 name, and the server's text when it gave one.
pub(super) fn result_code(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        9 => "partialResults",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "error",
    };
    if text.is_empty() {
        format!("{name} (rc {rc})")
    } else {
        format!("{name} (rc {rc}): `{text}`")
    }
}
