//! The `ldap` source: a simple bind (or anonymous), then two paged subtree searches (users,
//! groups), at once on two connections, read into a [`Directory`]. The connections
//! ([`conn`]) run on a current-thread tokio runtime created here; the rest of idfed is
//! synchronous. ldap3 builds the requests ([`message`]); the responses are read in place
//! ([`ber`], [`entry`]), because ldap3's decoder copied every message twice, most of the time
//! of a pull of 100,000 users (benches/LDAP.md). Certificates are always verified (`ca_file`, else the system
//! roots); the bind password is read here and appears in no message. Any failure fails the whole
//! pull: partial results are never returned.

mod ber;
mod conn;
mod entry;
mod message;
#[cfg(test)]
mod testutil;

use std::io::{IsTerminal, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::LdapConfig;
use crate::fsutil::FsError;

use super::directory::{Directory, Duplicate, Group, Member, User};
use conn::{Conn, ConnError, Security};
use entry::Entry;

/// The environment variable a bind password may come from instead of `bind_password_file`.
pub const PASSWORD_ENV: &str = "IDFED_LDAP_PASSWORD";

/// Why an LDAP pull failed. No variant holds the bind password.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error(transparent)]
    PasswordRead(FsError),
    #[error(
        "bind password file `{}` is readable by group or others (mode {mode:04o}): expected \
         mode 0600 or 0400",
        path.display()
    )]
    PasswordMode { path: PathBuf, mode: u32 },
    #[error(
        "no bind password for `{bind_dn}`: expected `bind_password_file` or the \
         `IDFED_LDAP_PASSWORD` environment variable"
    )]
    NoPassword { bind_dn: String },
    #[error(
        "bind password for `{bind_dn}` is empty: expected a password (an empty one would bind anonymously)"
    )]
    EmptyPassword { bind_dn: String },
    #[error("cannot use CA file `{}`: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot set up TLS: {reason}")]
    Tls { reason: String },
    #[error("cannot start the LDAP client: {reason}")]
    Runtime { reason: String },
    #[error("cannot connect to `{url}`: {reason}")]
    Connect { url: String, reason: String },
    #[error("`{url}` did not answer within {} s while {doing}", timeout.as_secs())]
    Timeout {
        url: String,
        doing: String,
        timeout: Duration,
    },
    #[error("bind as `{bind_dn}` to `{url}` failed: {reason}")]
    Bind {
        url: String,
        bind_dn: String,
        reason: String,
    },
    #[error("search of `{base}` for `{filter}` on `{url}` failed: {reason}")]
    Search {
        url: String,
        base: String,
        filter: String,
        reason: String,
    },
    #[error("{duplicate} (entry `{dn}`)")]
    Duplicate { dn: String, duplicate: Duplicate },
}

/// Reads the users and groups of an LDAP source. `progress` shows a spinner on stderr while it
/// reads, when stderr is a terminal.
///
/// # Errors
/// [`LdapError`] for anything that fails; nothing partial is returned.
pub fn load(config: &LdapConfig, progress: bool) -> Result<(Directory, Vec<String>), LdapError> {
    let password = password(config)?;
    let security = security(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LdapError::Runtime {
            reason: e.to_string(),
        })?;
    let progress = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(indicatif::ProgressStyle::default_spinner());
        bar.set_message(format!("reading `{}`", config.url));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let result = runtime.block_on(pull(
        config,
        password.as_deref(),
        security,
        progress.as_ref(),
    ));
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result
}

/// The bind password, when there is a bind DN: from the file (owner-only) or the environment.
fn password(config: &LdapConfig) -> Result<Option<String>, LdapError> {
    let Some(bind_dn) = &config.bind_dn else {
        return Ok(None);
    };
    let password = match &config.bind_password_file {
        Some(path) => read_password_file(path)?,
        None => std::env::var(PASSWORD_ENV).map_err(|_| LdapError::NoPassword {
            bind_dn: bind_dn.clone(),
        })?,
    };
    if password.is_empty() {
        return Err(LdapError::EmptyPassword {
            bind_dn: bind_dn.clone(),
        });
    }
    Ok(Some(password))
}

/// Reads the password file, once its mode says only its owner may read it. The mode is that
/// of the file opened, not of whatever the path names by the time it is read.
fn read_password_file(path: &Path) -> Result<String, LdapError> {
    let failed = |action: &'static str| {
        move |source| {
            LdapError::PasswordRead(FsError {
                action,
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut file = std::fs::File::open(path).map_err(failed("read"))?;
    let mode = file
        .metadata()
        .map_err(failed("inspect"))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(LdapError::PasswordMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(failed("read"))?;
    // Only the line end goes: spaces may be part of a password.
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
}

/// How the source's connections are secured: TLS for `ldaps://` and for StartTLS, trusting
/// `ca_file` (else the system roots), or plain.
fn security(config: &LdapConfig) -> Result<Security, LdapError> {
    Ok(if config.target.tls {
        Security::Tls(tls_config(config.ca_file.as_deref())?)
    } else if config.starttls {
        Security::StartTls(tls_config(config.ca_file.as_deref())?)
    } else {
        Security::Plain
    })
}

/// A rustls client configuration (ring) trusting `ca_file`, or the system roots without one.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_err = |reason: String| LdapError::CaFile {
                path: path.to_path_buf(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_err(format!("not PEM: {e}")))?;
            if certs.is_empty() {
                return Err(ca_err(
                    "no certificate in it: expected PEM `BEGIN CERTIFICATE` blocks".to_string(),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ca_err(format!("unusable certificate: {e}")))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(LdapError::Tls {
                    reason: "no system CA certificates found: install `ca-certificates` or set \
                             `ca_file`"
                        .to_string(),
                });
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::Tls {
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection, bound when there is a bind DN.
async fn connect(
    config: &LdapConfig,
    password: Option<&str>,
    security: Security,
) -> Result<Conn, LdapError> {
    let url = &config.url;
    let mut conn = Conn::connect(&config.target, security, config.timeout)
        .await
        .map_err(|e| match e {
            ConnError::Timeout => timeout(config, "connecting"),
            e => {
                let mut reason = e.to_string();
                if reason.contains("certificate") && config.ca_file.is_none() {
                    reason.push_str(
                        " (the server's certificate is not trusted by the system roots: set \
                         `ca_file` to the CA that signed it)",
                    );
                }
                LdapError::Connect {
                    url: url.clone(),
                    reason,
                }
            }
        })?;
    if let (Some(bind_dn), Some(password)) = (&config.bind_dn, password) {
        let bind_err = |reason: String| LdapError::Bind {
            url: url.clone(),
            bind_dn: bind_dn.clone(),
            reason,
        };
        let result = conn.bind(bind_dn, password).await.map_err(|e| match e {
            ConnError::Timeout => timeout(config, "binding"),
            e => bind_err(e.to_string()),
        })?;
        if result.rc != 0 {
            let reason = if result.rc == 49 {
                "invalid credentials (rc 49): check `bind_dn` and the password".to_string()
            } else {
                result_code(result.rc, &result.text)
            };
            return Err(bind_err(reason));
        }
    }
    Ok(conn)
}

fn timeout(config: &LdapConfig, doing: &str) -> LdapError {
    LdapError::Timeout {
        url: config.url.clone(),
        doing: doing.to_string(),
        timeout: config.timeout,
    }
}

async fn pull(
    config: &LdapConfig,
    password: Option<&str>,
    security: Security,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(Directory, Vec<String>), LdapError> {
    // Two connections, one per search, so that both run at once: the server builds the group
    // entries (one with 100,000 members, say) while idfed reads the pages of users. One
    // connection will not do: OpenLDAP keeps one paged search per connection.
    // The second connects only once the first has bound: a wrong password is one failed bind,
    // not two (account lockout policies count them). It connects while the first already reads
    // users: its round trips (TCP, TLS, bind) are not added to the pull's.
    let mut user_conn = connect(config, password, security.clone()).await?;

    let schema = &config.schema;
    let mut warnings = Vec::new();
    let mut directory = Directory::new();
    let user_attrs = vec![
        schema.user_name_attr.clone(),
        schema.uid_number_attr.clone(),
        schema.gid_number_attr.clone(),
    ];
    let users = search(
        config,
        &mut user_conn,
        &config.user_base,
        &schema.user_filter,
        &user_attrs,
        progress,
        "users",
        |entry| {
            let Some(user) = user_from(config, &entry, &mut warnings) else {
                return Ok(());
            };
            directory
                .try_add_user(user)
                .map_err(|rejected| duplicate(rejected.0.dn, rejected.1))
        },
    );
    let ranged = format!("{};range=", schema.member_attr);
    let group_attrs = vec![
        schema.group_name_attr.clone(),
        schema.gid_number_attr.clone(),
        schema.member_attr.clone(),
    ];
    let mut group_warnings = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    // Groups whose members come in ranges: their index in `groups`, the next range's start.
    let mut ranged_groups: Vec<(usize, u64)> = Vec::new();
    let group_search = async {
        let mut group_conn = connect(config, password, security).await?;
        search(
            config,
            &mut group_conn,
            &config.group_base,
            &schema.group_filter,
            &group_attrs,
            progress,
            "groups",
            |entry| {
                let Some(mut group) = group_from(config, &entry, &mut group_warnings) else {
                    return Ok(());
                };
                // Active Directory hands out a large group's members a range at a time
                // (`member;range=0-1499`): the first range here, the rest once the search is done.
                if let Some((attr, values)) = entry.starting_with(&ranged) {
                    let next = next_range(attr, &ranged).map_err(|reason| {
                        let ctx = SearchCtx {
                            config,
                            base: entry.dn,
                            filter: &schema.group_filter,
                            doing: "searching groups",
                        };
                        ctx.err(reason)
                    })?;
                    group.members.extend(values.map(|v| member(config, v)));
                    if let Some(next) = next {
                        ranged_groups.push((groups.len(), next));
                    }
                }
                groups.push(group);
                Ok(())
            },
        )
        .await?;
        // The rest of the ranged groups' members, now that this connection is free.
        for &(i, start) in &ranged_groups {
            read_ranges(config, &mut group_conn, &ranged, &mut groups[i], start).await?;
        }
        Ok::<_, LdapError>(group_conn)
    };
    // Both searches at once, one per connection. The users' error, when both fail, is the one
    // reported, as when they ran one after the other.
    let (users, group_search) = tokio::join!(users, group_search);
    users?;
    let group_conn = group_search?;
    warnings.append(&mut group_warnings);
    for group in groups {
        directory
            .try_add_group(group)
            .map_err(|rejected| duplicate(rejected.0.dn, rejected.1))?;
    }
    tokio::join!(user_conn.unbind(), group_conn.unbind());
    Ok((directory, warnings))
}

/// A name the directory has with another id; `dn` is the entry that came second.
fn duplicate(dn: Option<String>, duplicate: Duplicate) -> LdapError {
    LdapError::Duplicate {
        dn: dn.unwrap_or_default(),
        duplicate,
    }
}

/// What a search is, for its errors: the base and filter searched, and what was being done
/// (said when the server does not answer in time).
struct SearchCtx<'a> {
    config: &'a LdapConfig,
    base: &'a str,
    filter: &'a str,
    doing: &'a str,
}

impl SearchCtx<'_> {
    /// The search failed for `reason`.
    fn err(&self, reason: impl Into<String>) -> LdapError {
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
fn next_range(attr: &str, prefix: &str) -> Result<Option<u64>, String> {
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
async fn read_ranges(
    config: &LdapConfig,
    conn: &mut Conn,
    prefix: &str,
    group: &mut Group,
    mut start: u64,
) -> Result<(), LdapError> {
    let dn = group.dn.clone().unwrap_or_default();
    let doing = format!("reading the members of `{dn}` by range");
    let ctx = SearchCtx {
        config,
        base: &dn,
        filter: "(objectClass=*)",
        doing: &doing,
    };
    loop {
        let attrs = [format!("{prefix}{start}-*")];
        let id = conn
            .search_entry(&dn, &attrs)
            .await
            .map_err(|e| ctx.conn(e))?;
        let (len, result, _) = conn.read_page(id).await.map_err(|e| ctx.conn(e))?;
        if result.rc != 0 {
            return Err(ctx.err(result_code(result.rc, &result.text)));
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
/// caller throws away what it collected).
///
/// Each page is read off the connection whole, the next page asked for, and only then are its
/// entries taken apart: the server builds the next page while idfed works on this one, instead
/// of each waiting for the other at every page boundary. A page is at most `page_size` entries,
/// held as the bytes the server sent.
#[allow(clippy::too_many_arguments)] // one call per kind of entry; a struct would only rename them
async fn search(
    config: &LdapConfig,
    conn: &mut Conn,
    base: &str,
    filter: &str,
    attrs: &[String],
    progress: Option<&indicatif::ProgressBar>,
    what: &str,
    mut on_entry: impl FnMut(Entry<'_>) -> Result<(), LdapError>,
) -> Result<(), LdapError> {
    let doing = format!("searching {what} under `{base}`");
    let ctx = SearchCtx {
        config,
        base,
        filter,
        doing: &doing,
    };
    let mut id = conn
        .search_page(base, filter, attrs, config.page_size, &[])
        .await
        .map_err(|e| ctx.conn(e))?;
    let mut count = 0usize;
    loop {
        let (len, result, cookie) = conn.read_page(id).await.map_err(|e| ctx.conn(e))?;
        // 10 is a referral: ignored, not fatal. Any other failure, on any page, fails the search.
        if result.rc != 0 && result.rc != 10 {
            let mut reason = result_code(result.rc, &result.text);
            if result.rc == 4 {
                reason.push_str(
                    ": the server's size limit for this bind DN stopped the paged search \
                     (OpenLDAP: `limits ... size.prtotal=unlimited`)",
                );
            }
            return Err(ctx.err(reason));
        }
        let last = cookie.is_empty();
        if !last {
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
    }
}

/// An LDAP result code with its RFC 4511 name, and the server's text when it gave one.
fn result_code(rc: u32, text: &str) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
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

/// A required attribute: its value, or a warning naming the entry and `None`.
fn required<'e>(entry: &Entry<'e>, name: &str, warnings: &mut Vec<String>) -> Option<&'e str> {
    let value = entry.first(name);
    if value.is_none() {
        warnings.push(format!("entry `{}` has no `{name}`: skipped", entry.dn));
    }
    value
}

fn number(entry: &Entry<'_>, name: &str, warnings: &mut Vec<String>) -> Option<u32> {
    let value = required(entry, name, warnings)?;
    match value.parse::<u32>() {
        Ok(id) if id < u32::MAX => Some(id),
        _ => {
            warnings.push(format!(
                "entry `{}` has `{name}` `{value}`, not an id (0 to 4294967294): skipped",
                entry.dn
            ));
            None
        }
    }
}

fn user_from(config: &LdapConfig, entry: &Entry<'_>, warnings: &mut Vec<String>) -> Option<User> {
    let s = &config.schema;
    let name = required(entry, &s.user_name_attr, warnings)?;
    let uid = number(entry, &s.uid_number_attr, warnings)?;
    let gid = number(entry, &s.gid_number_attr, warnings)?;
    Some(User {
        name: name.to_string(),
        uid,
        gid,
        dn: Some(entry.dn.to_string()),
    })
}

/// A member value as the schema reads it: a user name (`memberUid`) or a DN.
fn member(config: &LdapConfig, value: &str) -> Member {
    if config.schema.members_are_names() {
        Member::Name(value.to_string())
    } else {
        Member::Dn(value.to_string())
    }
}

fn group_from(config: &LdapConfig, entry: &Entry<'_>, warnings: &mut Vec<String>) -> Option<Group> {
    let s = &config.schema;
    let name = required(entry, &s.group_name_attr, warnings)?.to_string();
    let gid = number(entry, &s.gid_number_attr, warnings)?;
    let members = entry
        .values(&s.member_attr)
        .map(|v| member(config, v))
        .collect();
    Some(Group {
        name,
        gid,
        members,
        dn: Some(entry.dn.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LdapTarget;
    use std::io::Write;
    use testutil::{done, entry, fake_server, result};

    /// A source with a bind DN, at port `port` of 127.0.0.1.
    fn config_at(port: u16, file: Option<PathBuf>) -> LdapConfig {
        LdapConfig {
            url: format!("ldap://127.0.0.1:{port}"),
            target: LdapTarget {
                host: "127.0.0.1".into(),
                port,
                tls: false,
            },
            starttls: false,
            ca_file: None,
            bind_dn: Some("cn=reader,dc=example,dc=org".into()),
            bind_password_file: file,
            user_base: "dc=example,dc=org".into(),
            group_base: "dc=example,dc=org".into(),
            schema: crate::config::SchemaPreset::Rfc2307.schema(),
            page_size: 500,
            timeout: Duration::from_secs(1),
        }
    }

    fn config(file: Option<PathBuf>) -> LdapConfig {
        config_at(1, file)
    }

    /// An Active Directory source, bound anonymously.
    fn ad_config(port: u16) -> LdapConfig {
        LdapConfig {
            bind_dn: None,
            user_base: "ou=people,dc=x".into(),
            group_base: "ou=groups,dc=x".into(),
            schema: crate::config::SchemaPreset::Ad.schema(),
            ..config_at(port, None)
        }
    }

    fn group_entry(id: i32, attrs: &[(&str, &[&str])]) -> Vec<u8> {
        entry(id, "cn=big,ou=groups,dc=x", attrs)
    }

    /// Active Directory's ranged retrieval: a group of five members handed out two at a time.
    #[test]
    fn ranged_members_are_read_range_by_range() {
        let port = fake_server(|_, base, attrs, id| {
            let dn = |u: &str| format!("cn={u},ou=people,dc=x");
            let (a, b, c, d, e) = (dn("a"), dn("b"), dn("c"), dn("d"), dn("e"));
            let mut out = match (base, attrs.first().map(String::as_str)) {
                ("ou=groups,dc=x", _) => group_entry(
                    id,
                    &[
                        ("sAMAccountName", &["big"]),
                        ("gidNumber", &["4000"]),
                        ("member;range=0-1", &[&a, &b]),
                    ],
                ),
                ("cn=big,ou=groups,dc=x", Some("member;range=2-*")) => {
                    group_entry(id, &[("member;range=2-3", &[&c, &d])])
                }
                ("cn=big,ou=groups,dc=x", Some("member;range=4-*")) => {
                    group_entry(id, &[("member;range=4-*", &[&e])])
                }
                _ => Vec::new(),
            };
            out.extend(done(id));
            out
        });
        let (directory, warnings) = load(&ad_config(port), false).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        let members: Vec<String> = directory
            .group("big")
            .unwrap()
            .members
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            members,
            ["a", "b", "c", "d", "e"].map(|u| format!("cn={u},ou=people,dc=x"))
        );
    }

    /// A server whose ranges do not advance would loop forever: it is an error instead.
    #[test]
    fn ranges_that_do_not_advance_are_an_error() {
        let port = fake_server(|_, base, _, id| {
            let mut out = if base == "ou=people,dc=x" {
                Vec::new()
            } else {
                group_entry(
                    id,
                    &[
                        ("sAMAccountName", &["big"]),
                        ("gidNumber", &["4000"]),
                        ("member;range=0-1", &["cn=a,dc=x", "cn=b,dc=x"]),
                    ],
                )
            };
            out.extend(done(id));
            out
        });
        let err = load(&ad_config(port), false).unwrap_err().to_string();
        assert!(
            err.contains("search of `cn=big,ou=groups,dc=x`")
                && err.contains("the range after `2` does not advance"),
            "{err}"
        );
        for (attr, want) in [
            ("member;range=0-1499", Ok(Some(1500))),
            ("member;range=1500-*", Ok(None)),
            ("MEMBER;range=0-0", Ok(Some(1))),
        ] {
            assert_eq!(next_range(attr, "member;range="), want, "{attr}");
        }
        for attr in [
            "member;range=5-4",
            "member;range=x-1",
            "member;range=0",
            "member;range=",
        ] {
            assert!(next_range(attr, "member;range=").is_err(), "{attr}");
        }
    }

    #[test]
    fn password_file_must_be_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"s3cret pw\n").unwrap();
        for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = password(&config(Some(path.clone())));
            if ok {
                assert_eq!(got.unwrap().as_deref(), Some("s3cret pw"), "{mode:o}");
            } else {
                let err = got.unwrap_err().to_string();
                assert!(err.contains("readable by group or others"), "{err}");
                assert!(!err.contains("s3cret"), "{err}");
            }
        }
    }

    /// The promise of `pull`: the group connection binds only after the user connection's bind
    /// succeeded, so a wrong password is one failed bind on the server, not two (account
    /// lockout policies count them).
    #[test]
    fn a_wrong_password_is_one_failed_bind() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static BINDS: AtomicUsize = AtomicUsize::new(0);
        let port = fake_server(|op, _, _, id| {
            if op == message::BIND_REQUEST {
                BINDS.fetch_add(1, Ordering::SeqCst);
                result(id, message::BIND_RESPONSE, 49, "")
            } else {
                done(id)
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "wrong\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&config_at(port, Some(path)), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "bind as `cn=reader,dc=example,dc=org` to `ldap://127.0.0.1:{port}` failed: \
                 invalid credentials (rc 49): check `bind_dn` and the password"
            )
        );
        assert_eq!(BINDS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = tls_config(Some(&path)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot use CA file `{}`", path.display())),
            "{err}"
        );
    }
}
