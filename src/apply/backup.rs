//! Where a run keeps the previous content of the files it replaces:
//! `/var/lib/idfed/backup/<secs>.<nanos>-<pid>/<the file's host path>`.

use std::path::{Path, PathBuf};

use crate::fs::{Root, Written, replace_file};
use crate::store;

use super::{Applied, ApplyError};

/// This run's backup directory.
pub(super) struct Backups {
    root: Root,
    dir: PathBuf,
}

impl Backups {
    pub(super) fn new(root: &Root) -> Backups {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stamp = format!(
            "{}.{:09}-{}",
            now.as_secs(),
            now.subsec_nanos(),
            std::process::id()
        );
        Backups {
            root: root.clone(),
            dir: store::dir(root).join("backup").join(stamp),
        }
    }

    /// The backup location of `path` (a path under the root): its directory and file name.
    fn of(&self, path: &Path) -> (PathBuf, String) {
        let rel = path.strip_prefix(self.root.dir()).unwrap_or(path);
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let dir = match rel.parent() {
            Some(p) => self.dir.join(p),
            None => self.dir.clone(),
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (dir, name)
    }

    /// Replaces `path` with `text`, keeping the old content here first; a file written is listed
    /// in `out`.
    pub(super) fn write(
        &self,
        path: &Path,
        text: &str,
        mode: u32,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let (dir, name) = self.of(path);
        if let Written::Replaced { .. } =
            replace_file(path, text.as_bytes(), mode, Some((&dir, &name)))?
        {
            out.changed_files.push(path.display().to_string());
        }
        Ok(())
    }
}
