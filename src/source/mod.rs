//! Identity sources: where the canonical users and groups come from (`files` or `ldap`), read
//! into one [`Directory`] type. Resolving shares against a directory is `resolve`'s job.

pub mod directory;
pub mod files;
pub mod ldap;
mod warning;

pub use directory::{Directory, Duplicate, Group, Member, User};
pub use files::FilesError;
pub use ldap::LdapError;
pub use warning::SourceWarning;

use crate::config::SourceConfig;

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Ldap(#[from] LdapError),
}

/// What a source returned: its directory and the entries it skipped, as warnings.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub directory: Directory,
    pub warnings: Vec<SourceWarning>,
}

/// Reads a source; `progress` allows a progress indicator on stderr (shown only on a terminal).
///
/// # Errors
/// [`SourceError`] when the source cannot be read completely.
pub fn load(config: &SourceConfig, progress: bool) -> Result<Loaded, SourceError> {
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
