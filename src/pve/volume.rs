//! Where a CT's root filesystem is on the host: its `rootfs:` volume resolved against
//! `storage.cfg` the way pve-storage's plugins compute a volume's path.
//!
//! Only volumes that are directories on the host can be reached this way: a subvolume on a
//! directory-like storage (`dir`, `nfs`, `cifs`, `btrfs`: `<path>/images/<vmid>/<name>.subvol`,
//! `images` being overridable by `content-dirs`), a ZFS subvolume (`<mountpoint>/<name>`, the pool's
//! mountpoint defaulting to `/<pool>`), or a host directory given as the volume itself. Raw images,
//! zvols, LVM and Ceph volumes are block devices: the caller says how to mount them (`pct mount`)
//! and pass the directory with `--rootfs`. Paths returned are host paths (the caller puts them
//! under `--root`). No I/O here.

use std::path::PathBuf;

use super::mountpoint::{MountKind, MountPoint};
use super::storage::{Storage, StorageCfg};

/// Where `pct mount VMID` mounts a CT's root filesystem.
pub fn pct_mount_dir(vmid: u32) -> PathBuf {
    PathBuf::from(format!("/var/lib/lxc/{vmid}/rootfs"))
}

/// Storage types whose volumes live as files and directories under the storage's `path`, laid
/// out by pve-storage's `Plugin::filesystem_path` (`<path>/images/<vmid>/<name>`).
const DIR_LIKE: [&str; 4] = ["dir", "nfs", "cifs", "btrfs"];

/// Why a CT's root filesystem directory could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("CT {vmid} has no `rootfs:` line")]
    NoRootfs { vmid: u32 },
    #[error("CT {vmid}: `rootfs: {value}` cannot be read: {reason}")]
    BadValue {
        vmid: u32,
        value: String,
        reason: String,
    },
    #[error(
        "CT {vmid}: the root filesystem `{volume}` is on storage `{storage}`, which `storage.cfg` does not define"
    )]
    UnknownStorage {
        vmid: u32,
        volume: String,
        storage: String,
    },
    #[error(
        "CT {vmid}: `{volume}` is not a volume name storage `{storage}` (type `{kind}`) uses: expected {expected}"
    )]
    BadVolumeName {
        vmid: u32,
        volume: String,
        storage: String,
        kind: String,
        expected: &'static str,
    },
    #[error("CT {vmid}: storage `{storage}` has no `{key}` in `storage.cfg`")]
    MissingKey {
        vmid: u32,
        storage: String,
        key: &'static str,
    },
    #[error(
        "CT {vmid}: the root filesystem `{volume}` is {what}, not a directory on this node: mount it with `pct mount {vmid}` and run `idfed shift {vmid} --rootfs {mount}`",
        mount = pct_mount_dir(*vmid).display()
    )]
    NotADirectory {
        vmid: u32,
        volume: String,
        what: String,
    },
    /// The path the volume (or `--rootfs`) names is no directory under the root.
    #[error("CT {vmid}: `{path}` is not a directory: expected the CT's root filesystem", path = path.display())]
    Missing { vmid: u32, path: PathBuf },
}

/// The host directory of CT `vmid`'s root filesystem, from the value of its `rootfs:` key
/// (`local-zfs:subvol-101-disk-0,size=8G`).
///
/// # Errors
/// A [`VolumeError`] saying why the directory cannot be known, and for block volumes how to
/// mount them.
pub fn rootfs_dir(vmid: u32, value: &str, storage: &StorageCfg) -> Result<PathBuf, VolumeError> {
    let mp = MountPoint::parse("rootfs", value).map_err(|e| VolumeError::BadValue {
        vmid,
        value: value.to_string(),
        reason: e.to_string(),
    })?;
    match mp.kind {
        MountKind::Bind => Ok(PathBuf::from(&mp.volume)),
        MountKind::Device => Err(VolumeError::NotADirectory {
            vmid,
            what: "a block device".to_string(),
            volume: mp.volume,
        }),
        MountKind::Volume => volume_dir(vmid, &mp.volume, storage),
    }
}

/// `storage:volname` (pve-storage's `parse_volume_id`).
fn split_volume_id(volume: &str) -> Option<(&str, &str)> {
    let (id, name) = volume.split_once(':')?;
    (!id.is_empty() && !name.is_empty()).then_some((id, name))
}

fn volume_dir(vmid: u32, volume: &str, storage: &StorageCfg) -> Result<PathBuf, VolumeError> {
    let (id, volname) = split_volume_id(volume).ok_or_else(|| VolumeError::BadValue {
        vmid,
        value: volume.to_string(),
        reason: "expected `STORAGE:VOLUME`".to_string(),
    })?;
    let Some(store) = storage.get(id) else {
        return Err(VolumeError::UnknownStorage {
            vmid,
            volume: volume.to_string(),
            storage: id.to_string(),
        });
    };
    let bad_name = |expected| VolumeError::BadVolumeName {
        vmid,
        volume: volume.to_string(),
        storage: id.to_string(),
        kind: store.kind.clone(),
        expected,
    };
    let missing = |key| VolumeError::MissingKey {
        vmid,
        storage: id.to_string(),
        key,
    };
    let not_dir = |what: String| VolumeError::NotADirectory {
        vmid,
        volume: volume.to_string(),
        what,
    };
    match store.kind.as_str() {
        kind if DIR_LIKE.contains(&kind) => {
            let (owner, name) = parse_dir_volname(volname).ok_or_else(|| {
                bad_name("`VMID/NAME.subvol` (or a linked clone's `BASEVMID/BASE/VMID/NAME`)")
            })?;
            if !name.ends_with(".subvol") {
                return Err(not_dir(format!("a disk image on storage `{id}`")));
            }
            let path = store.path().ok_or_else(|| missing("path"))?;
            Ok(path.join(images_subdir(store)).join(owner).join(name))
        }
        "zfspool" => {
            let name = parse_zfs_volname(volname).ok_or_else(|| {
                bad_name(
                    "`subvol-VMID-NAME` (or a linked clone's `basevol-VMID-NAME/subvol-VMID-NAME`)",
                )
            })?;
            if !(name.starts_with("subvol-") || name.starts_with("basevol-")) {
                return Err(not_dir(format!("a zvol on storage `{id}`")));
            }
            let mountpoint = match store.get("mountpoint") {
                Some(m) => PathBuf::from(m),
                None => {
                    let pool = store.get("pool").ok_or_else(|| missing("pool"))?;
                    PathBuf::from(format!("/{pool}"))
                }
            };
            Ok(mountpoint.join(name))
        }
        kind => Err(not_dir(format!(
            "a volume on storage `{id}` of type `{kind}`"
        ))),
    }
}

/// The subdirectory holding images: `content-dirs`' `images=` override, else `images`.
fn images_subdir(store: &Storage) -> String {
    store
        .get("content-dirs")
        .and_then(|dirs| {
            dirs.split(',')
                .filter_map(|part| part.trim().split_once('='))
                .find(|(vtype, _)| *vtype == "images")
                .map(|(_, dir)| dir.trim_start_matches('/').to_string())
        })
        .filter(|dir| !dir.is_empty())
        .unwrap_or_else(|| "images".to_string())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn no_space(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

/// pve-storage `Plugin::parse_volname` for images: `VMID/NAME` or `BASEVMID/BASENAME/VMID/NAME`;
/// returns the owning VMID and the name.
fn parse_dir_volname(volname: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = volname.split('/').collect();
    let (owner, name) = match parts.as_slice() {
        [owner, name] => (*owner, *name),
        [base_vmid, base, owner, name] if is_digits(base_vmid) && no_space(base) => (*owner, *name),
        _ => return None,
    };
    (is_digits(owner) && no_space(name)).then_some((owner, name))
}

/// pve-storage `ZFSPoolPlugin::parse_volname`: `[BASE/]NAME` where each is
/// `(base|basevol|vm|subvol)-VMID-REST`; returns NAME.
fn parse_zfs_volname(volname: &str) -> Option<&str> {
    fn zfs_name(s: &str, prefixes: &[&str]) -> bool {
        let Some((prefix, rest)) = s.split_once('-') else {
            return false;
        };
        let Some((vmid, tail)) = rest.split_once('-') else {
            return false;
        };
        prefixes.contains(&prefix) && is_digits(vmid) && no_space(tail)
    }
    let (base, name) = match volname.split_once('/') {
        Some((base, name)) => (Some(base), name),
        None => (None, volname),
    };
    if let Some(base) = base
        && !zfs_name(base, &["base", "basevol"])
    {
        return None;
    }
    zfs_name(name, &["base", "basevol", "vm", "subvol"]).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,rootdir\n\n\
zfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n\n\
zfspool: tank\n\tpool tank/ct\n\tmountpoint /srv/tank-ct\n\n\
lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\n\
dir: custom\n\tpath /data/pve\n\tcontent-dirs iso=isos,images=vm-images\n\n\
btrfs: bt\n\tpath /mnt/btrfs\n\n\
dir: nopath\n\tcontent rootdir\n\n\
zfspool: nopool\n\tcontent rootdir\n";

    fn dir(value: &str) -> Result<PathBuf, VolumeError> {
        rootfs_dir(101, value, &StorageCfg::parse(CFG).unwrap())
    }

    #[test]
    fn directories_as_pve_computes_them() {
        for (value, want) in [
            (
                "local:101/subvol-101-disk-0.subvol,size=8G",
                "/var/lib/vz/images/101/subvol-101-disk-0.subvol",
            ),
            // A linked clone: the image directory is the clone's own VMID.
            (
                "local:100/base-100-disk-0.subvol/101/subvol-101-disk-0.subvol",
                "/var/lib/vz/images/101/subvol-101-disk-0.subvol",
            ),
            (
                "custom:101/subvol-101-disk-1.subvol",
                "/data/pve/vm-images/101/subvol-101-disk-1.subvol",
            ),
            (
                "bt:101/subvol-101-disk-0.subvol",
                "/mnt/btrfs/images/101/subvol-101-disk-0.subvol",
            ),
            // No mountpoint: `/<pool>`.
            (
                "local-zfs:subvol-101-disk-0,size=8G",
                "/rpool/data/subvol-101-disk-0",
            ),
            (
                "local-zfs:basevol-100-disk-0/subvol-101-disk-0",
                "/rpool/data/subvol-101-disk-0",
            ),
            ("tank:subvol-101-disk-0", "/srv/tank-ct/subvol-101-disk-0"),
            // A host directory as rootfs (privileged setups).
            ("/srv/ct101", "/srv/ct101"),
        ] {
            assert_eq!(dir(value), Ok(PathBuf::from(want)), "{value}");
        }
    }

    #[test]
    fn block_volumes_say_how_to_mount() {
        for (value, what) in [
            (
                "local-lvm:vm-101-disk-0,size=8G",
                "a volume on storage `local-lvm` of type `lvmthin`",
            ),
            (
                "local:101/vm-101-disk-0.raw",
                "a disk image on storage `local`",
            ),
            ("local-zfs:vm-101-disk-0", "a zvol on storage `local-zfs`"),
            ("/dev/sdb1", "a block device"),
        ] {
            let err = dir(value).unwrap_err();
            assert!(
                matches!(&err, VolumeError::NotADirectory { what: w, .. } if w == what),
                "{value}: {err:?}"
            );
            assert!(
                err.to_string().ends_with(
                    "not a directory on this node: mount it with `pct mount 101` and run `idfed shift 101 --rootfs /var/lib/lxc/101/rootfs`"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_values_name_what_was_expected() {
        let msg = |v: &str| dir(v).unwrap_err().to_string();
        assert_eq!(
            msg("nas:101/subvol-101-disk-0.subvol"),
            "CT 101: the root filesystem `nas:101/subvol-101-disk-0.subvol` is on storage `nas`, which `storage.cfg` does not define"
        );
        assert_eq!(
            msg("local:subvol-101-disk-0.subvol"),
            "CT 101: `local:subvol-101-disk-0.subvol` is not a volume name storage `local` (type `dir`) uses: expected `VMID/NAME.subvol` (or a linked clone's `BASEVMID/BASE/VMID/NAME`)"
        );
        assert!(msg("local-zfs:101/subvol-101-disk-0").contains("expected `subvol-VMID-NAME`"));
        assert!(msg("local-zfs:subvol-x-disk-0").contains("expected `subvol-VMID-NAME`"));
        assert_eq!(
            msg("nopath:101/subvol-101-disk-0.subvol"),
            "CT 101: storage `nopath` has no `path` in `storage.cfg`"
        );
        assert_eq!(
            msg("nopool:subvol-101-disk-0"),
            "CT 101: storage `nopool` has no `pool` in `storage.cfg`"
        );
        assert_eq!(
            msg("size=8G"),
            "CT 101: `rootfs: size=8G` cannot be read: `rootfs` has no volume: expected `VOLUME,mp=PATH`, like `/mnt/pve/projects,mp=/data`"
        );
        assert_eq!(
            msg("local"),
            "CT 101: `rootfs: local` cannot be read: expected `STORAGE:VOLUME`"
        );
    }

    #[test]
    fn volume_name_boundaries() {
        assert_eq!(parse_dir_volname("101/a.subvol"), Some(("101", "a.subvol")));
        assert_eq!(parse_dir_volname("x101/a.subvol"), None);
        assert_eq!(parse_dir_volname("101/"), None);
        assert_eq!(parse_dir_volname("101/a b"), None);
        assert_eq!(parse_dir_volname("1/b/2/c"), Some(("2", "c")));
        assert_eq!(parse_dir_volname("1/b/x/c"), None);
        assert_eq!(parse_zfs_volname("subvol-1-d"), Some("subvol-1-d"));
        assert_eq!(parse_zfs_volname("subvol-1-"), None);
        assert_eq!(parse_zfs_volname("other-1-d"), None);
        assert_eq!(parse_zfs_volname("vm-1-d/subvol-2-d"), None);
    }
}
