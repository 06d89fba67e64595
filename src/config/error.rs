//! Configuration errors: each names the file, the key path (`share.projects.uids[2]`) and, where
//! the TOML parser gives one, the line and column; and a share name the configuration lacks.
//! Loading the file and the model live in `mod.rs`.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use crate::fs::FsError;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file named (by `-c` or `IDFED_CONFIG`) does not exist.
    #[error(
        "configuration file `{}` not found: name an existing file with `-c PATH` or `IDFED_CONFIG`, \
         or drop both to read the cluster's `/etc/pve/idfed/idfed.toml`",
        path.display()
    )]
    NotFound { path: PathBuf },
    /// Neither default file exists.
    #[error(
        "no configuration: neither `{}` (the cluster's, read first) nor `{}` (this node's) exists: \
         create the first (an example is `/usr/share/doc/idfed/examples/idfed.toml`; in the source \
         tree `config/idfed.example.toml`) or name another with `-c PATH` or `IDFED_CONFIG`",
        cluster.display(),
        node.display()
    )]
    NoneFound { cluster: PathBuf, node: PathBuf },
    /// The file exists but cannot be read.
    #[error(transparent)]
    Read(#[from] FsError),
    /// The file was read but is not a valid configuration.
    #[error("{0}")]
    Invalid(Box<Invalid>),
}

/// One invalid key or value: where it is and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The file, as given.
    pub path: PathBuf,
    /// The key path, like `share.projects.uids[2]`; empty for the document itself.
    pub key: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Invalid {
    /// An error at `key`, located by the byte `span` of `text` when there is one.
    pub(crate) fn new(
        path: impl Into<PathBuf>,
        text: &str,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Invalid {
        Invalid {
            path: path.into(),
            key: key.into(),
            position: span.map(|s| line_column(text, s.start)),
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, " line {line}, column {column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl From<Invalid> for ConfigError {
    fn from(invalid: Invalid) -> ConfigError {
        ConfigError::Invalid(Box::new(invalid))
    }
}

/// A share name (from the command line) the configuration does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) struct UnknownShare {
    pub name: String,
    /// The configuration file.
    pub path: PathBuf,
    /// The closest share name, when one is close.
    pub hint: Option<String>,
    /// Every share name, in order.
    pub known: Vec<String>,
}

impl fmt::Display for UnknownShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown share `{}` in `{}`",
            self.name,
            self.path.display()
        )?;
        if self.known.is_empty() {
            return f.write_str(" (the configuration defines no share)");
        }
        if let Some(hint) = &self.hint {
            write!(f, " (did you mean `{hint}`?)")?;
        }
        f.write_str(": expected one of ")?;
        for (i, name) in self.known.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}`{name}`")?;
        }
        Ok(())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn display_names_file_position_and_key() {
        let e = Invalid::new(
            "/etc/idfed/idfed.toml",
            "x\ny = 3\n",
            "share.p.uids[2]",
            Some(6..7),
            "boom",
        );
        assert_eq!(
            e.to_string(),
            "`/etc/idfed/idfed.toml` line 2, column 5: `share.p.uids[2]`: boom"
        );
    }
}
