//! Connecting to the source: the bind password (a file only its owner may read, or the
//! environment), TLS (`ca_file` or the system roots), and a connection bound as `bind_dn`.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::LdapConfig;
use crate::fs::FsError;

use super::LdapError;
use super::PASSWORD_ENV;
use super::search::result_code;
use super::wire::conn::{Conn, ConnError, Security};
use super::wire::limits::Limits;

/// The bind password, when there is a bind DN: from the file (owner-only) or the environment.
pub(super) fn password(config: &LdapConfig) -> Result<Option<String>, LdapError> {
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
pub(super) fn security(config: &LdapConfig) -> Result<Security, LdapError> {
    Ok(if config.target.tls {
        Security::Tls(tls_config(config.ca_file.as_deref())?)
    } else if config.starttls {
        Security::StartTls(tls_config(config.ca_file.as_deref())?)
    } else {
        Security::Plain
    })
}

/// A rustls client configuration (ring) trusting `ca_file`, or the system roots without one.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, LdapError> {
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
pub(super) async fn connect(
    config: &LdapConfig,
    password: Option<&str>,
    security: Security,
) -> Result<Conn, LdapError> {
    let url = &config.url;
    let mut conn = Conn::connect(&config.target, security, config.timeout, Limits::default())
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

pub(super) fn timeout(config: &LdapConfig, doing: &str) -> LdapError {
    LdapError::Timeout {
        url: config.url.clone(),
        doing: doing.to_string(),
        timeout: config.timeout,
    }
}
