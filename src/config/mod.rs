//! The configuration model (DESIGN.md section 4): `[cluster]`, `[source.NAME]`, `[share.NAME]`,
//! their defaults and every rule a value must follow, checked once at load time so the rest of
//! idfed gets typed, valid values. Each error names the file, the key path and the line.
//!
//! Where the file is ([`locate`]): `-c PATH` / `IDFED_CONFIG` as written (relative to the working
//! directory); otherwise the cluster's [`CLUSTER_PATH`] (in pmxcfs, so every node plans from the
//! same file) when it exists, else this node's [`NODE_PATH`]; both host paths under `--root`,
//! like every other host path (so they are themselves on a real node). Paths of idfed's own files written
//! *inside* the file (`passwd`, `group`, `ca_file`, `bind_password_file`) are not under
//! `--root`: taken as written when absolute, else relative to the configuration file's
//! directory. A share's `path` is taken as written; `pve_root` is a host path and is resolved
//! under `--root` by whoever reads the cluster. Neither may contain `..`.

mod check;
mod error;
pub(crate) mod keys;
mod ldap_target;
mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::{self, Root};
use crate::idmap::MapParams;
use crate::ids::IdSet;

pub(crate) use error::{ConfigError, Invalid, UnknownShare};
pub(crate) use ldap_target::LdapTarget;
use raw::RawConfig;

/// The cluster's configuration file, read first when neither `-c` nor `IDFED_CONFIG` names one
/// (a host path: `idfed/idfed.toml` under the default `pve_root`, replicated by pmxcfs).
pub(crate) const CLUSTER_PATH: &str = "/etc/pve/idfed/idfed.toml";

/// This node's configuration file, read when [`CLUSTER_PATH`] does not exist (a host path).
pub(crate) const NODE_PATH: &str = "/etc/idfed/idfed.toml";

/// A whole, valid configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The SHA-256 of the file's bytes ([`crate::digest::sha256_hex`]): what each node publishes
    /// it planned from, and what a saved plan records.
    pub sha256: String,
    pub cluster: ClusterConfig,
    /// Sources by name.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Shares by name.
    pub shares: BTreeMap<String, ShareConfig>,
}

/// `[cluster]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    /// Where the Proxmox cluster filesystem is (a host path, read under `--root`).
    pub pve_root: PathBuf,
    /// What building a map takes from `[cluster]`: `base`, `size`, `min_id`, `max_extents`,
    /// `protected`, `over_budget` (their defaults are [`MapParams`]'s).
    pub map: MapParams,
    /// Whose subuid/subgid lines idfed manages.
    pub subid_owner: String,
    /// `check` warns about a node whose published subid coverage is older than this (seconds).
    pub publish_max_age_secs: u64,
}

impl ClusterConfig {
    /// What building a map takes from `[cluster]`.
    pub(crate) fn map_params(&self) -> MapParams {
        self.map.clone()
    }
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            pve_root: PathBuf::from("/etc/pve"),
            map: MapParams::default(),
            subid_owner: "root".to_string(),
            publish_max_age_secs: 3_600,
        }
    }
}

/// `[source.NAME]`, by its `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SourceConfig {
    Ldap(Box<LdapConfig>),
    Files(FilesConfig),
}

/// `type = "files"`: a passwd and a group file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FilesConfig {
    pub passwd: PathBuf,
    pub group: PathBuf,
}

/// `type = "ldap"`, with the schema preset already applied under the overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`, as written (for messages).
    pub url: String,
    /// `url`, read.
    pub target: LdapTarget,
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub user_base: String,
    pub group_base: String,
    pub schema: LdapSchema,
    /// Entries per page: 1 to `i32::MAX`, the most RFC 2696's `INTEGER (0..maxInt)` holds.
    pub page_size: i32,
    pub timeout: Duration,
}

/// The schema presets of `schema = ...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SchemaPreset {
    /// posixAccount / posixGroup, members as `memberUid` names.
    Rfc2307,
    /// posixAccount / groupOfNames with gidNumber, members as `member` DNs.
    Rfc2307bis,
    /// Active Directory with its POSIX attributes: `sAMAccountName`, `member` DNs.
    Ad,
}

impl SchemaPreset {
    fn parse(name: &str) -> Option<SchemaPreset> {
        match name {
            "rfc2307" => Some(SchemaPreset::Rfc2307),
            "rfc2307bis" => Some(SchemaPreset::Rfc2307bis),
            "ad" => Some(SchemaPreset::Ad),
            _ => None,
        }
    }

    /// The attributes and filters of the preset.
    pub(crate) fn schema(self) -> LdapSchema {
        let s = |v: &str| v.to_string();
        match self {
            SchemaPreset::Rfc2307 => LdapSchema {
                user_filter: s("(objectClass=posixAccount)"),
                group_filter: s("(objectClass=posixGroup)"),
                user_name_attr: s("uid"),
                group_name_attr: s("cn"),
                member_attr: s("memberUid"),
                uid_number_attr: s("uidNumber"),
                gid_number_attr: s("gidNumber"),
            },
            SchemaPreset::Rfc2307bis => LdapSchema {
                user_filter: s("(objectClass=posixAccount)"),
                group_filter: s(
                    "(&(gidNumber=*)(|(objectClass=posixGroup)(objectClass=groupOfNames)))",
                ),
                user_name_attr: s("uid"),
                group_name_attr: s("cn"),
                member_attr: s("member"),
                uid_number_attr: s("uidNumber"),
                gid_number_attr: s("gidNumber"),
            },
            SchemaPreset::Ad => LdapSchema {
                user_filter: s("(&(objectClass=user)(uidNumber=*))"),
                group_filter: s("(&(objectClass=group)(gidNumber=*))"),
                user_name_attr: s("sAMAccountName"),
                group_name_attr: s("sAMAccountName"),
                member_attr: s("member"),
                uid_number_attr: s("uidNumber"),
                gid_number_attr: s("gidNumber"),
            },
        }
    }
}

/// The filters and attribute names an LDAP source reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LdapSchema {
    pub user_filter: String,
    pub group_filter: String,
    pub user_name_attr: String,
    pub group_name_attr: String,
    /// `memberUid` holds user names; any other attribute holds DNs.
    pub member_attr: String,
    pub uid_number_attr: String,
    pub gid_number_attr: String,
}

impl LdapSchema {
    /// Do group members name users (`memberUid`) rather than give their DNs?
    pub(crate) fn members_are_names(&self) -> bool {
        self.member_attr.eq_ignore_ascii_case("memberUid")
    }
}

/// Where a share is: a path, or an `nfs:` storage of `storage.cfg` whose path is looked up later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ShareLocation {
    Path(PathBuf),
    Storage(String),
}

/// `[share.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShareConfig {
    /// The name of a key of [`Config::sources`].
    pub source: String,
    pub location: ShareLocation,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// Pass the members of `groups` through too.
    pub members: bool,
    /// Pass the primary gid of every passed-through user through too.
    pub primary_gids: bool,
    /// Raw uids; every id `>= cluster.min_id`.
    pub uids: IdSet,
    /// Raw gids; every id `>= cluster.min_id`.
    pub gids: IdSet,
    /// Only these CTs, when given.
    pub containers: Option<Vec<u32>>,
}

impl ShareConfig {
    /// The mount path, when the share is given by `path`.
    pub(crate) fn path(&self) -> Option<&Path> {
        match &self.location {
            ShareLocation::Path(p) => Some(p),
            ShareLocation::Storage(_) => None,
        }
    }

    /// The storage name, when the share is given by `storage`.
    pub(crate) fn storage(&self) -> Option<&str> {
        match &self.location {
            ShareLocation::Path(_) => None,
            ShareLocation::Storage(s) => Some(s),
        }
    }
}

/// The configuration file to read: `explicit` (from `-c` or `IDFED_CONFIG`) as written; else
/// [`CLUSTER_PATH`] under `root` when anything is there (an unreadable file is then reported,
/// not skipped), else [`NODE_PATH`] under `root` when it exists.
///
/// # Errors
/// [`ConfigError::NoneFound`], naming both, when neither exists.
pub(crate) fn locate(explicit: Option<&Path>, root: &Root) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let cluster = root.join(CLUSTER_PATH);
    let node = root.join(NODE_PATH);
    let absent = |p: &Path| matches!(std::fs::symlink_metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if !absent(&cluster) {
        Ok(cluster)
    } else if !absent(&node) {
        Ok(node)
    } else {
        Err(ConfigError::NoneFound { cluster, node })
    }
}

/// Finds ([`locate`]) and loads the configuration.
///
/// # Errors
/// As [`locate`] and [`Config::load`].
pub(crate) fn load_from(explicit: Option<&Path>, root: &Root) -> Result<Config, ConfigError> {
    Config::load(&locate(explicit, root)?)
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::NotFound`] when it does not exist, [`ConfigError::Read`] when it cannot be
    /// read, [`ConfigError::Invalid`] for the first invalid key or value.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => {
                return Err(ConfigError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        Config::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the first invalid key or value.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| {
                let key = e
                    .path()
                    .to_string()
                    .replace(".$__serde_spanned_private_value", "");
                let key = if key == "." { String::new() } else { key };
                let inner = e.into_inner();
                let message = inner.message().trim().replace('\n', ": ");
                Invalid::new(path, text, key, inner.span(), message)
            })?;
        let mut config = check::Checker { text, path }.config(raw)?;
        config.sha256 = crate::digest::sha256_hex(text.as_bytes());
        Ok(config)
    }

    /// The share named `name`, for a name given on the command line.
    ///
    /// # Errors
    /// [`UnknownShare`] (with the closest name and the known ones) when there is no such share.
    pub(crate) fn share(&self, name: &str) -> Result<&ShareConfig, UnknownShare> {
        self.shares.get(name).ok_or_else(|| UnknownShare {
            name: name.to_string(),
            path: self.path.clone(),
            hint: crate::suggest::closest(name, self.shares.keys().map(String::as_str)),
            known: self.shares.keys().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests;
