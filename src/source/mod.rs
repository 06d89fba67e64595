//! Identity sources: where the canonical users and groups come from (`files` or `ldap`), read
//! into one [`Directory`] type. Resolving shares against a directory is `resolve`'s job.

pub(crate) mod directory;
pub(crate) mod files;
pub(crate) mod ldap;
mod warning;

pub(crate) use directory::{Directory, Group, Member, User};
pub(crate) use files::FilesError;
pub(crate) use ldap::LdapError;
pub(crate) use warning::SourceWarning;

use crate::config::SourceConfig;

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Ldap(#[from] LdapError),
}

/// What a source returned: its directory and the entries it skipped, as warnings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Loaded {
    pub directory: Directory,
    pub warnings: Vec<SourceWarning>,
}

/// Reads a source; `progress` allows a progress indicator on stderr (shown only on a terminal).
///
/// # Errors
/// [`SourceError`] when the source cannot be read completely.
pub(crate) fn load(config: &SourceConfig, progress: bool) -> Result<Loaded, SourceError> {
    match config {
        SourceConfig::Files(files) => Ok(Loaded {
            directory: files::load(files)?,
            warnings: Vec::new(),
        }),
        SourceConfig::Ldap(ldap) => {
            let (directory, warnings) = ldap::load(ldap, progress)?;
            Ok(Loaded {
                directory,
                warnings,
            })
        }
    }
}
