//! Which mount points of a CT use a share: bind mounts at or below the share's host path.
//!
//! Paths are compared whole component by component after lexical normalisation (`//`, `.`,
//! trailing `/`, and `..` against its parent), so `/mnt/pve/projects2` is not below
//! `/mnt/pve/projects`. Storage volumes (`projects:101/vm-101-disk-0.raw`) are disk images on the
//! share's storage, not binds of it, and device mounts are neither: only bind mounts count.
//! Selecting CTs by a share's `containers` list happens in `cluster`.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::pve::ctconf::CtConfig;
use crate::pve::mountpoint::MountPoint;

/// One bind mount of a CT that reaches into a share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShareMount {
    /// The config key: `mp0`.
    pub key: String,
    /// The host path as written in the config.
    pub host_path: String,
    /// The path inside the CT (`mp=`), if given.
    pub ct_path: Option<String>,
    /// `ro=1`.
    pub read_only: bool,
    /// `shared=1`.
    pub shared: bool,
}

/// `path` without `//`, `.`, trailing `/`, and with `..` applied to the part before it.
///
/// Lexical only (no symlinks are followed): PVE refuses bind mount paths with symlinks anyway.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            Component::CurDir => {}
            _ => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Is `path` the directory `dir` or below it, comparing whole components?
pub fn is_at_or_below(path: &Path, dir: &Path) -> bool {
    Comparable::of(path).is_at_or_below(&normalize(dir))
}

/// A path made ready to compare with many directories: the usual case, an absolute path without
/// `//`, `.` or `..`, as it is (compared byte by byte); anything else normalized. A cluster-wide
/// plan compares every mount point of every CT with every share: the check for the usual case
/// was made again for each share.
struct Comparable<'a> {
    /// Borrowed exactly when the path was plain.
    path: Cow<'a, Path>,
}

impl<'a> Comparable<'a> {
    fn of(path: &'a Path) -> Comparable<'a> {
        use std::os::unix::ffi::OsStrExt as _;
        let p = path.as_os_str().as_bytes();
        let plain = p.first() == Some(&b'/')
            && !p.windows(2).any(|w| w == b"//")
            && !p.split(|&b| b == b'/').any(|c| c == b"." || c == b"..");
        Comparable {
            path: if plain {
                Cow::Borrowed(path)
            } else {
                Cow::Owned(normalize(path))
            },
        }
    }

    /// Is it the directory `dir` (normalized) or below it, comparing whole components?
    fn is_at_or_below(&self, dir: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt as _;
        let d = dir.as_os_str().as_bytes();
        let plain = matches!(self.path, Cow::Borrowed(_));
        if !plain || d.first() != Some(&b'/') {
            return self.path.starts_with(dir);
        }
        let p = self.path.as_os_str().as_bytes();
        d == b"/" || (p.starts_with(d) && (p.len() == d.len() || p[d.len()] == b'/'))
    }
}

/// The bind mounts of `ct` at or below `share_path`, by mount point index.
/// (A plan over many CTs normalizes each share's path once and uses [`BindMounts`].)
pub fn share_uses(ct: &CtConfig, share_path: &Path) -> Vec<ShareMount> {
    BindMounts::of(ct).share_uses(&normalize(share_path))
}

/// A CT's bind mounts with their host paths ready to compare with every share's.
pub(crate) struct BindMounts<'a> {
    mounts: Vec<(&'a MountPoint, Comparable<'a>)>,
}

impl<'a> BindMounts<'a> {
    pub(crate) fn of(ct: &'a CtConfig) -> BindMounts<'a> {
        BindMounts {
            mounts: ct
                .mount_points()
                .iter()
                .filter_map(|m| Some((m, Comparable::of(m.bind_path()?))))
                .collect(),
        }
    }

    /// The bind mounts at or below `share_dir` (normalized), by mount point index.
    pub(crate) fn share_uses(&self, share_dir: &Path) -> Vec<ShareMount> {
        self.mounts
            .iter()
            .filter(|(_, path)| path.is_at_or_below(share_dir))
            .map(|(m, _)| ShareMount {
                key: m.key.clone(),
                host_path: m.volume.clone(),
                ct_path: m.mp.clone(),
                read_only: m.read_only,
                shared: m.shared,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_boundaries() {
        let share = Path::new("/mnt/pve/projects");
        for (path, want) in [
            ("/mnt/pve/projects", true),
            ("/mnt/pve/projects/", true),
            ("/mnt/pve/projects/data", true),
            ("/mnt/pve//projects///data/", true),
            ("/mnt/pve/./projects/data", true),
            ("/mnt/pve/projects2", false),
            ("/mnt/pve/projects2/data", false),
            ("/mnt/pve/project", false),
            ("/mnt/pve", false),
            ("/mnt/pve/other/../projects/x", true),
            ("/mnt/pve/projects/../projects2", false),
            ("/mnt/pve/projects/..", false),
            ("/mnt/pve/projects/.", true),
            ("/mnt/pve/projects//", true),
            ("/mnt/pve/projects.d", false),
            ("mnt/pve/projects", false),
            ("/", false),
        ] {
            assert_eq!(is_at_or_below(Path::new(path), share), want, "{path}");
        }
        // The share path itself is normalised too.
        assert!(is_at_or_below(
            Path::new("/mnt/pve/projects/a"),
            Path::new("/mnt/pve//projects/")
        ));
        assert!(is_at_or_below(Path::new("/srv/x"), Path::new("/")));
        assert!(is_at_or_below(Path::new("/"), Path::new("/")));
        assert!(is_at_or_below(
            Path::new("/mnt/pve/projects/a"),
            Path::new("/mnt/pve/other/../projects")
        ));
    }

    #[test]
    fn only_bind_mounts_use_a_share() {
        let ct = CtConfig::parse(
            "unprivileged: 1\n\
             mp0: /mnt/pve/projects/data,mp=/data,shared=1\n\
             mp1: projects:101/vm-101-disk-0.raw,mp=/disk,size=8G\n\
             mp2: /mnt/pve/projects2,mp=/other\n\
             mp3: /mnt/pve/projects,mp=/ro,ro=1,shared=yes\n\
             mp4: /dev/sdb1,mp=/dev-disk\n",
        )
        .unwrap();
        let uses = share_uses(&ct, Path::new("/mnt/pve/projects"));
        assert_eq!(
            uses,
            vec![
                ShareMount {
                    key: "mp0".into(),
                    host_path: "/mnt/pve/projects/data".into(),
                    ct_path: Some("/data".into()),
                    read_only: false,
                    shared: true,
                },
                ShareMount {
                    key: "mp3".into(),
                    host_path: "/mnt/pve/projects".into(),
                    ct_path: Some("/ro".into()),
                    read_only: true,
                    shared: true,
                },
            ]
        );
        assert!(share_uses(&ct, Path::new("/mnt/pve/proj")).is_empty());
        assert_eq!(share_uses(&ct, Path::new("/mnt/pve/projects2")).len(), 1);
    }

    proptest::proptest! {
        /// The byte comparison agrees with comparing normalized paths component by component.
        #[test]
        fn fast_path_agrees_with_normalize(path in "/?(/|a|b|ab|\\.|\\.\\.){0,8}", dir in "/?(/|a|b|ab|\\.|\\.\\.){0,5}") {
            let (path, dir) = (Path::new(&path), Path::new(&dir));
            proptest::prop_assert_eq!(
                is_at_or_below(path, dir),
                normalize(path).starts_with(normalize(dir)),
                "{} below {}", path.display(), dir.display()
            );
        }
    }
}
