//! Where an LDAP source connects: its `url` read into host, port and whether the connection is
//! TLS from the start (`ldaps://`). Read once, by the configuration check, so that a bad url is
//! an error with the file and line, not a failure of the first pull.

/// Where to connect, from an LDAP source's `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LdapTarget {
    pub host: String,
    pub port: u16,
    /// `ldaps://`: TLS from the first byte (StartTLS is the source's `starttls`).
    pub tls: bool,
}

/// Why a url is not an LDAP url; each says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadLdapUrl {
    #[error("expected `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`")]
    Scheme,
    #[error("no host: expected `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`")]
    NoHost,
    #[error("unclosed `[` in the host: expected an IPv6 address as `[ADDRESS]`")]
    UnclosedBracket,
    #[error("`{0}` is not a port: expected 1 to 65535")]
    Port(String),
}

impl LdapTarget {
    /// `ldap://HOST[:PORT][/...]` or `ldaps://HOST[:PORT][/...]`; IPv6 hosts in brackets.
    ///
    /// # Errors
    /// [`BadLdapUrl`] saying what is wrong with the url.
    pub(crate) fn parse(url: &str) -> Result<LdapTarget, BadLdapUrl> {
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("ldaps://") {
            (rest, true, 636)
        } else if let Some(rest) = url.strip_prefix("ldap://") {
            (rest, false, 389)
        } else {
            return Err(BadLdapUrl::Scheme);
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(BadLdapUrl::UnclosedBracket)?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(BadLdapUrl::NoHost);
        }
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| BadLdapUrl::Port(port.to_string()))?,
        };
        Ok(LdapTarget {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_urls() {
        let t = |host: &str, port, tls| LdapTarget {
            host: host.into(),
            port,
            tls,
        };
        for (url, want) in [
            ("ldap://ldap.example.org", t("ldap.example.org", 389, false)),
            ("ldaps://ldap.example.org", t("ldap.example.org", 636, true)),
            ("ldap://127.0.0.1:3890/", t("127.0.0.1", 3890, false)),
            ("ldaps://h:1/dc=x??sub", t("h", 1, true)),
            ("ldap://[::1]:65535", t("::1", 65535, false)),
            ("ldaps://[fe80::1]", t("fe80::1", 636, true)),
        ] {
            assert_eq!(LdapTarget::parse(url), Ok(want), "{url}");
        }
        for (url, why) in [
            ("http://x", BadLdapUrl::Scheme),
            ("ldap://", BadLdapUrl::NoHost),
            ("ldap://:389", BadLdapUrl::NoHost),
            ("ldap://h:0", BadLdapUrl::Port("0".into())),
            ("ldap://h:65536", BadLdapUrl::Port("65536".into())),
            ("ldap://h:x", BadLdapUrl::Port("x".into())),
            ("ldap://[::1", BadLdapUrl::UnclosedBracket),
        ] {
            assert_eq!(LdapTarget::parse(url), Err(why), "{url}");
        }
    }
}
