//! The `ldap` source: a simple bind (or anonymous), then two paged subtree searches (users,
//! groups), at once on two connections, read into a [`Directory`]. The connections
//! ([`wire`]) run on a current-thread tokio runtime created here; the rest of idfed is
//! synchronous. Connecting and binding are [`connect`]'s, the searches [`search`]'s, what an
//! entry means under the schema [`schema`]'s. ldap3 builds the requests; the responses are read
//! in place, because ldap3's decoder copied every message twice, most of the time of a pull of
//! 100,000 users (benches/LDAP.md). Certificates are always verified (`ca_file`, else the
//! system roots); the bind password is read here and appears in no message. Any failure fails
//! the whole pull: partial results are never returned.

mod connect;
mod schema;
mod search;
mod wire;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::LdapConfig;
use crate::fs::FsError;

use super::SourceWarning;
use super::directory::{Directory, Duplicate, Group};
use connect::{connect, password, security};
use schema::{group_from, member, user_from};
use search::{SearchCtx, next_range, read_ranges, search};
use wire::conn::Security;

/// The environment variable a bind password may come from instead of `bind_password_file`.
pub(crate) const PASSWORD_ENV: &str = "IDFED_LDAP_PASSWORD";

/// Why an LDAP pull failed. No variant holds the bind password.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LdapError {
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
    #[error(
        "`{url}` did not answer in full within {} s (`timeout_secs`) while {doing}",
        timeout.as_secs()
    )]
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
pub(crate) fn load(
    config: &LdapConfig,
    progress: bool,
) -> Result<(Directory, Vec<SourceWarning>), LdapError> {
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

async fn pull(
    config: &LdapConfig,
    password: Option<&str>,
    security: Security,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(Directory, Vec<SourceWarning>), LdapError> {
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
                directory.add_skipped(entry.dn, entry.first(&schema.user_name_attr));
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
    // Group entries without POSIX attributes: noted in the directory once the users' search,
    // which holds it, is done.
    let mut skipped_groups: Vec<(String, Option<String>)> = Vec::new();
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
                    let name = entry.first(&schema.group_name_attr).map(str::to_string);
                    skipped_groups.push((entry.dn.to_string(), name));
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
    for (dn, name) in &skipped_groups {
        directory.add_skipped(dn, name.as_deref());
    }
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

#[cfg(test)]
mod tests {
    use super::connect::tls_config;
    use super::wire::message;
    use super::*;
    use crate::config::LdapTarget;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use wire::testutil::{done, entry, fake_server, paged_done, result};

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
        assert_eq!(warnings, Vec::<SourceWarning>::new());
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

    /// Users of a search: `uid=NAME,dc=x` with uid and ids.
    fn user_entry(id: i32, name: &str, uid: &str) -> Vec<u8> {
        entry(
            id,
            &format!("uid={name},dc=x"),
            &[
                ("uid", &[name]),
                ("uidNumber", &[uid]),
                ("gidNumber", &[uid]),
            ],
        )
    }

    /// A server whose every page has the same user and a new cookie: the page bound stops it,
    /// after one page per distinct entry and `extra_pages` more.
    #[test]
    fn a_cookie_that_never_ends_is_an_error() {
        let port = fake_server(|op, _, _, id| {
            if op != message::SEARCH_REQUEST {
                return result(id, message::BIND_RESPONSE, 0, "");
            }
            let mut out = user_entry(id, "alice", "1005");
            out.extend(paged_done(id, format!("page {id}").as_bytes()));
            out
        });
        let config = LdapConfig {
            timeout: Duration::from_secs(30),
            ..config_at(port, None)
        };
        let err = load(
            &LdapConfig {
                bind_dn: None,
                ..config
            },
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("search of `dc=example,dc=org`")
                && err.contains("the server sent 1002 pages for 1 distinct entries"),
            "{err}"
        );
    }

    /// A page cookie the server sent before: the search would go round for ever.
    #[test]
    fn a_repeated_cookie_is_an_error() {
        let port = fake_server(|_, _, _, id| {
            let mut out = user_entry(id, &format!("u{id}"), &format!("{}", 2000 + id));
            out.extend(paged_done(id, if id % 2 == 0 { b"even" } else { b"odd" }));
            out
        });
        let config = LdapConfig {
            bind_dn: None,
            ..config_at(port, None)
        };
        let err = load(&config, false).unwrap_err().to_string();
        assert!(
            err.contains("the server sent page 3 with a paging cookie it had sent before"),
            "{err}"
        );
    }

    /// A search that ends in anything but success fails, naming the result code and the
    /// search; never "no entries". A referral only (rc 10), a size or time limit with some
    /// entries, partial results, an administrative limit.
    #[test]
    fn a_search_that_does_not_end_in_success_is_an_error() {
        fn answer(rc: i64) -> fn(u32, &str, &[String], i32) -> Vec<u8> {
            match rc {
                10 => |_, _, _, id| result(id, message::SEARCH_RESULT_DONE, 10, ""),
                4 => |_, _, _, id| {
                    let mut out = user_entry(id, "alice", "1005");
                    out.extend(result(id, message::SEARCH_RESULT_DONE, 4, "size limit"));
                    out
                },
                3 => |_, _, _, id| result(id, message::SEARCH_RESULT_DONE, 3, ""),
                9 => |_, _, _, id| result(id, message::SEARCH_RESULT_DONE, 9, ""),
                _ => |_, _, _, id| result(id, message::SEARCH_RESULT_DONE, 11, ""),
            }
        }
        for (rc, want) in [
            (
                10,
                "referral (rc 10): the server holds these entries elsewhere",
            ),
            (
                4,
                "sizeLimitExceeded (rc 4): `size limit`: the server's size limit",
            ),
            (3, "timeLimitExceeded (rc 3)"),
            (9, "partialResults (rc 9)"),
            (11, "adminLimitExceeded (rc 11)"),
        ] {
            let port = fake_server(answer(rc));
            let config = LdapConfig {
                bind_dn: None,
                ..config_at(port, None)
            };
            let err = load(&config, false).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "search of `dc=example,dc=org` for `(objectClass=posixAccount)` on \
                     `ldap://127.0.0.1:{port}` failed: {want}"
                )),
                "rc {rc}: {err}"
            );
        }
    }
}
