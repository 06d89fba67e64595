//! A CT mount point (`mp0`..`mp255`): its volume, where it appears inside, and its flags.
//!
//! Parses the property-string value of one `mpN:` key the way pve-container does (comma-separated
//! `key=value` parts, the first bare part being the volume, booleans as `1|on|yes|true` /
//! `0|off|no|false`), and classifies the volume as PVE's `classify_mountpoint` does: an absolute
//! path is a bind mount, except under `/dev/` (a device); anything else is a storage volume. Which
//! share a mount point belongs to is decided in `share`.

use std::fmt;
use std::path::Path;

use serde::Serialize;

/// The highest mount point index PVE accepts (`mp255`).
pub const MAX_MOUNT_POINT: u16 = 255;

/// What a mount point's volume is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host directory bind-mounted into the CT (`/mnt/pve/projects/data`).
    Bind,
    /// A host device node (`/dev/...`).
    Device,
    /// A storage volume (`local-lvm:vm-101-disk-1`, `projects:101/vm-101-disk-0.raw`).
    Volume,
}

impl fmt::Display for MountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountKind::Bind => "bind",
            MountKind::Device => "device",
            MountKind::Volume => "volume",
        })
    }
}

/// One `mpN` entry of a CT config's main section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountPoint {
    /// The config key: `mp0`.
    pub key: String,
    /// The `N` of `mpN`.
    pub index: u16,
    /// The volume as written: a host path or `storage:volume`.
    pub volume: String,
    pub kind: MountKind,
    /// The path inside the CT (`mp=`), if given.
    pub mp: Option<String>,
    /// `ro=1`: mounted read-only.
    pub read_only: bool,
    /// `shared=1`: available on every node (needed to migrate a CT with a bind mount).
    pub shared: bool,
    /// Every other option, as `(key, value)` in file order, values as written.
    pub options: Vec<(String, String)>,
}

/// Why a mount point value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MountPointError {
    #[error("`{key}` has no volume: expected `VOLUME,mp=PATH`, like `/mnt/pve/projects,mp=/data`")]
    NoVolume { key: String },
    #[error("`{key}`: option `{option}` is given twice")]
    Duplicate { key: String, option: String },
    #[error("`{key}`: `{option}={value}` is not a boolean: expected `0` or `1`")]
    NotABool {
        key: String,
        option: String,
        value: String,
    },
    #[error("`{key}`: `{part}` is not an option: expected `KEY=VALUE`")]
    BarePart { key: String, part: String },
}

/// Is `key` a mount point key (`mp0`..`mp255`, no leading zeros)? Returns its index.
pub fn mount_point_index(key: &str) -> Option<u16> {
    let digits = key.strip_prefix("mp")?;
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse::<u16>().ok().filter(|&i| i <= MAX_MOUNT_POINT)
}

/// PVE's boolean: `1|on|yes|true` or `0|off|no|false`, case-insensitive.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// Classifies a volume as PVE does.
pub fn classify(volume: &str) -> MountKind {
    if volume.starts_with('/') {
        if volume.starts_with("/dev/") {
            MountKind::Device
        } else {
            MountKind::Bind
        }
    } else {
        MountKind::Volume
    }
}

/// Splits a property string on commas outside double quotes; empty parts are dropped (as PVE
/// skips them).
fn split_parts(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

impl MountPoint {
    /// Parses the value of the key `key` (`mp0`), like `/mnt/pve/projects,mp=/data,ro=1`.
    ///
    /// # Errors
    /// When there is no volume, an option repeats, `ro`/`shared` is not a boolean, or a part after
    /// the first has no `=`.
    pub fn parse(key: &str, value: &str) -> Result<MountPoint, MountPointError> {
        let index = mount_point_index(key).unwrap_or(0);
        let mut volume: Option<String> = None;
        let mut mp = None;
        let mut read_only = None;
        let mut shared = None;
        let mut options: Vec<(String, String)> = Vec::new();
        let dup = |option: &str| MountPointError::Duplicate {
            key: key.to_string(),
            option: option.to_string(),
        };
        for (i, part) in split_parts(value).into_iter().enumerate() {
            let Some((k, v)) = part
                .split_once('=')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            else {
                if i == 0 {
                    volume = Some(part.to_string());
                    continue;
                }
                return Err(MountPointError::BarePart {
                    key: key.to_string(),
                    part: part.to_string(),
                });
            };
            let flag = |v: &str| {
                parse_bool(v).ok_or_else(|| MountPointError::NotABool {
                    key: key.to_string(),
                    option: k.to_string(),
                    value: v.to_string(),
                })
            };
            match k {
                "volume" if volume.is_none() => volume = Some(v.to_string()),
                "volume" => return Err(dup(k)),
                "mp" if mp.is_none() => mp = Some(v.to_string()),
                "mp" => return Err(dup(k)),
                "ro" if read_only.is_none() => read_only = Some(flag(v)?),
                "ro" => return Err(dup(k)),
                "shared" if shared.is_none() => shared = Some(flag(v)?),
                "shared" => return Err(dup(k)),
                _ if options.iter().any(|(o, _)| o == k) => return Err(dup(k)),
                _ => options.push((k.to_string(), v.to_string())),
            }
        }
        let volume = volume.ok_or_else(|| MountPointError::NoVolume {
            key: key.to_string(),
        })?;
        Ok(MountPoint {
            key: key.to_string(),
            index,
            kind: classify(&volume),
            volume,
            mp,
            read_only: read_only.unwrap_or(false),
            shared: shared.unwrap_or(false),
            options,
        })
    }

    /// The host path of a bind mount; `None` for devices and storage volumes.
    pub fn bind_path(&self) -> Option<&Path> {
        (self.kind == MountKind::Bind).then(|| Path::new(&self.volume))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_table() {
        for (key, want) in [
            ("mp0", Some(0)),
            ("mp9", Some(9)),
            ("mp10", Some(10)),
            ("mp255", Some(255)),
            ("mp256", None),
            ("mp", None),
            ("mp01", None),
            ("mpx", None),
            ("rootfs", None),
            ("unused0", None),
        ] {
            assert_eq!(mount_point_index(key), want, "{key}");
        }
    }

    #[test]
    fn bool_table() {
        for (v, want) in [
            ("1", Some(true)),
            ("yes", Some(true)),
            ("On", Some(true)),
            ("TRUE", Some(true)),
            ("0", Some(false)),
            ("no", Some(false)),
            ("off", Some(false)),
            ("False", Some(false)),
            ("2", None),
            ("", None),
            ("y", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v}");
        }
    }

    #[test]
    fn parses_bind_mount_with_flags() {
        let m = MountPoint::parse(
            "mp0",
            "/mnt/pve/projects/data,mp=/data,ro=1,shared=1,backup=0",
        )
        .unwrap();
        assert_eq!(m.index, 0);
        assert_eq!(m.volume, "/mnt/pve/projects/data");
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!(m.mp.as_deref(), Some("/data"));
        assert!(m.read_only && m.shared);
        assert_eq!(m.options, vec![("backup".into(), "0".into())]);
        assert_eq!(m.bind_path(), Some(Path::new("/mnt/pve/projects/data")));
    }

    #[test]
    fn classifies_volumes() {
        let m = MountPoint::parse("mp3", "projects:101/vm-101-disk-0.raw,mp=/srv,size=8G").unwrap();
        assert_eq!((m.kind, m.index), (MountKind::Volume, 3));
        assert_eq!(m.bind_path(), None);
        let d = MountPoint::parse("mp1", "/dev/sdb1,mp=/disk").unwrap();
        assert_eq!(d.kind, MountKind::Device);
        let v = MountPoint::parse("mp2", "mp=/x,volume=/srv/a,ro=no").unwrap();
        assert_eq!(
            (v.volume.as_str(), v.kind, v.read_only),
            ("/srv/a", MountKind::Bind, false)
        );
        let q = MountPoint::parse("mp4", "/srv/a,mp=/x,mountoptions=\"noatime,nosuid\"").unwrap();
        assert_eq!(
            q.options,
            vec![("mountoptions".into(), "\"noatime,nosuid\"".into())]
        );
    }

    #[test]
    fn errors_say_what_was_expected() {
        for (value, want) in [
            ("mp=/data", "has no volume"),
            ("", "has no volume"),
            ("/a,mp=/x,ro=maybe", "`ro=maybe` is not a boolean"),
            ("/a,mp=/x,mp=/y", "option `mp` is given twice"),
            ("/a,/b", "`/b` is not an option"),
        ] {
            let err = MountPoint::parse("mp0", value).unwrap_err().to_string();
            assert!(err.contains(want), "{value}: {err}");
        }
    }
}
