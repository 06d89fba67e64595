//! `<pve_root>/storage.cfg`: the cluster's storages, in PVE's section-config format.
//!
//! A section is a `type: id` header line followed by indented `key value` lines (a key alone is a
//! boolean flag such as `disable`) up to the next blank line; lines starting with `#` are comments
//! anywhere. Parsed as pve-common's `SectionConfig::parse_config` does, but loud: a line PVE would
//! ignore is kept as a warning with its line number (every command prints them). idfed never
//! writes this file. No I/O here.

use std::fmt;
use std::path::{Path, PathBuf};

/// Storage types PVE mounts at `/mnt/pve/<id>` when their section has no `path`
/// (their plugins' `check_config`, which `parse_config` runs).
const MOUNTED_TYPES: [&str; 4] = ["nfs", "cifs", "cephfs", "glusterfs"];

/// One storage: its type, id and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// `nfs`, `dir`, `cifs`, `lvmthin`, ... (lowercased, as PVE does).
    pub kind: String,
    pub id: String,
    /// 1-based line number of the header.
    pub line: usize,
    /// Properties in file order; a key without value (`disable`) has an empty value. Repeated
    /// keys are kept in order.
    pub properties: Vec<(String, String)>,
}

impl Storage {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Where the storage is on every node: `path`, or `/mnt/pve/<id>` for network storages
    /// (`nfs`, `cifs`, `cephfs`, `glusterfs`) without one.
    pub fn path(&self) -> Option<PathBuf> {
        match self.get("path") {
            Some(p) => Some(PathBuf::from(p)),
            None if MOUNTED_TYPES.contains(&self.kind.as_str()) => {
                Some(Path::new("/mnt/pve").join(&self.id))
            }
            None => None,
        }
    }
}

/// A line of `storage.cfg` that PVE ignores (kept, reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageWarning {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
    pub message: &'static str,
}

impl fmt::Display for StorageWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}` {}", self.line, self.text, self.message)
    }
}

/// Why `storage.cfg` could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("line {line}: storage `{id}` is defined twice (first on line {first})")]
    Duplicate {
        line: usize,
        first: usize,
        id: String,
        text: String,
    },
}

/// A parsed `storage.cfg`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageCfg {
    storages: Vec<Storage>,
    warnings: Vec<StorageWarning>,
}

fn is_perl_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// `^(\S+):\s*(\S+)\s*$`.
fn parse_header(line: &str) -> Option<(String, String)> {
    if line.starts_with(is_perl_space) {
        return None;
    }
    let (kind, rest) = line.split_once(':')?;
    if kind.is_empty() || kind.contains(is_perl_space) {
        return None;
    }
    let id = rest.trim_matches(is_perl_space);
    (!id.is_empty() && !id.contains(is_perl_space))
        .then(|| (kind.to_ascii_lowercase(), id.to_string()))
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$`.
fn parse_property(line: &str) -> Option<(String, String)> {
    if !line.starts_with(is_perl_space) {
        return None;
    }
    let body = line.trim_matches(is_perl_space);
    if body.is_empty() {
        return None;
    }
    let (key, value) = match body.find(is_perl_space) {
        Some(i) => (&body[..i], body[i..].trim_matches(is_perl_space)),
        None => (body, ""),
    };
    Some((key.to_string(), value.to_string()))
}

/// PVE's storage ids: `[a-z][a-z0-9\-_.]*[a-z0-9]`, case-insensitive.
fn valid_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

impl StorageCfg {
    /// Parses `storage.cfg`.
    ///
    /// # Errors
    /// A [`StorageError`] when a storage id is defined twice (which path would be meant is then
    /// unclear). Other bad lines are warnings.
    pub fn parse(text: &str) -> Result<StorageCfg, StorageError> {
        let mut storages: Vec<Storage> = Vec::new();
        let mut warnings = Vec::new();
        let mut in_section = false;
        // Perl's `split(/\n/)` keeps a trailing `\r`, and `\s*$` then swallows it.
        for (i, line) in text.split('\n').enumerate() {
            let number = i + 1;
            let warn = |message| StorageWarning {
                line: number,
                text: line.trim_end_matches('\r').to_string(),
                message,
            };
            if line.trim_start_matches(is_perl_space).starts_with('#') {
                continue;
            }
            let body = line.strip_suffix('\r').unwrap_or(line);
            if body.is_empty() {
                // PVE ends a section at an empty line (idfed also accepts a CRLF one).
                in_section = false;
                continue;
            }
            if body.chars().all(is_perl_space) {
                // PVE warns about spaces-only lines; they carry nothing, so they are skipped.
                continue;
            }
            if in_section {
                match parse_property(line) {
                    Some(kv) => storages
                        .last_mut()
                        .expect("in a section")
                        .properties
                        .push(kv),
                    None => warnings.push(warn("is not a `key value` line: ignored, as PVE does")),
                }
                continue;
            }
            match parse_header(line) {
                Some((kind, id)) => {
                    if let Some(first) = storages.iter().find(|s| s.id == id) {
                        return Err(StorageError::Duplicate {
                            line: number,
                            first: first.line,
                            id,
                            text: line.to_string(),
                        });
                    }
                    if !valid_storage_id(&id) {
                        warnings.push(warn(
                            "has an invalid storage id: expected letters, digits, `-`, `_`, `.`; section skipped, as PVE does",
                        ));
                        // Still consume its property lines.
                        storages.push(Storage {
                            kind: String::new(),
                            id: String::new(),
                            line: number,
                            properties: Vec::new(),
                        });
                    } else {
                        storages.push(Storage {
                            kind,
                            id,
                            line: number,
                            properties: Vec::new(),
                        });
                    }
                    in_section = true;
                }
                None => warnings.push(warn(
                    "is neither a `type: id` header nor inside a section: ignored, as PVE does",
                )),
            }
        }
        storages.retain(|s| !s.id.is_empty());
        Ok(StorageCfg { storages, warnings })
    }

    /// The storages in file order.
    pub fn storages(&self) -> &[Storage] {
        &self.storages
    }

    /// The storage with id `id`.
    pub fn get(&self, id: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.id == id)
    }

    /// The path of storage `id` on every node (see [`Storage::path`]).
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        self.get(id).and_then(Storage::path)
    }

    /// The lines PVE ignores.
    pub fn warnings(&self) -> &[StorageWarning] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
# the NAS\n\
nfs: projects\n\texport /export/projects\n\tpath /mnt/pve/projects\n\tserver 10.0.0.20\n\
\tcontent images,rootdir\n\toptions vers=4.2\n\n\
nfs: archive\n  export /export/archive\n  server nas.example.org\n  # inline comment\n  disable\n\n\
lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n";

    #[test]
    fn parses_sections() {
        let cfg = StorageCfg::parse(CFG).unwrap();
        assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
        let ids: Vec<(&str, &str)> = cfg
            .storages()
            .iter()
            .map(|s| (s.kind.as_str(), s.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("dir", "local"),
                ("nfs", "projects"),
                ("nfs", "archive"),
                ("lvmthin", "local-lvm")
            ]
        );
        let p = cfg.get("projects").unwrap();
        assert_eq!(p.get("server"), Some("10.0.0.20"));
        assert_eq!(p.get("export"), Some("/export/projects"));
        assert_eq!(p.get("options"), Some("vers=4.2"));
        assert_eq!(p.get("content"), Some("images,rootdir"));
        assert_eq!(p.get("disable"), None);
        // A key alone (a flag) has an empty value; the comment inside the section is no key.
        assert_eq!(
            cfg.get("archive").unwrap().properties,
            [
                ("export".to_string(), "/export/archive".to_string()),
                ("server".to_string(), "nas.example.org".to_string()),
                ("disable".to_string(), String::new()),
            ]
        );
        assert_eq!(cfg.get("projects").unwrap().line, 6);
    }

    #[test]
    fn paths_and_nfs_default() {
        let cfg = StorageCfg::parse(CFG).unwrap();
        for (id, want) in [
            ("local", Some("/var/lib/vz")),
            ("projects", Some("/mnt/pve/projects")),
            // An NFS storage without `path` is mounted at /mnt/pve/<id> (NFSPlugin check_config).
            ("archive", Some("/mnt/pve/archive")),
            ("local-lvm", None),
            ("nope", None),
        ] {
            assert_eq!(cfg.path_of(id), want.map(PathBuf::from), "{id}");
        }
    }

    #[test]
    fn bad_lines_are_warnings_duplicates_errors() {
        let text = "\tpath /orphan\nnfs: ok\n\tpath /mnt/x\n\n  \ngarbage here\nnfs: 1bad\n\tpath /y\n\ndir: z9\n\tpath /z\n";
        let cfg = StorageCfg::parse(text).unwrap();
        let lines: Vec<usize> = cfg.warnings().iter().map(|w| w.line).collect();
        assert_eq!(lines, [1, 6, 7]);
        assert_eq!(
            cfg.warnings()[1].to_string(),
            "line 6: `garbage here` is neither a `type: id` header nor inside a section: ignored, as PVE does"
        );
        let ids: Vec<&str> = cfg.storages().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["ok", "z9"]);

        let err = StorageCfg::parse("dir: a1\n\tpath /a\n\nnfs: a1\n\tpath /b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4: storage `a1` is defined twice (first on line 1)"
        );
    }

    #[test]
    fn crlf_is_read() {
        let cfg = StorageCfg::parse(
            "nfs: projects\r\n\tpath /mnt/pve/p\r\n\r\ndir: local\r\n\tpath /v\r\n",
        )
        .unwrap();
        assert_eq!(cfg.path_of("projects"), Some(PathBuf::from("/mnt/pve/p")));
        assert_eq!(cfg.path_of("local"), Some(PathBuf::from("/v")));
        assert!(cfg.warnings().is_empty());
    }

    /// What a parse says about lines points at those lines: each warning quotes its line, each
    /// storage's header names it.
    fn lines_agree(text: &str, cfg: &StorageCfg) -> Result<(), TestCaseError> {
        let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
        for w in cfg.warnings() {
            prop_assert_eq!(lines.get(w.line - 1).copied(), Some(w.text.as_str()));
        }
        for s in cfg.storages() {
            let header = lines.get(s.line - 1).copied().unwrap_or_default();
            prop_assert!(header.contains(s.id.as_str()), "{:?}: {:?}", header, s);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_and_names_its_lines(text in "([a-z0-9:#\t \r.-]{0,20}\n?){0,10}") {
            if let Ok(cfg) = StorageCfg::parse(&text) {
                lines_agree(&text, &cfg)?;
            }
        }

        #[test]
        fn arbitrary_input_never_panics(text in any::<String>()) {
            if let Ok(cfg) = StorageCfg::parse(&text) {
                lines_agree(&text, &cfg)?;
            }
        }
    }
}
