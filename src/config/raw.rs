//! The configuration file as TOML gives it: serde structs that keep each value's byte span, so
//! that the checks in `check.rs` can name the line of a bad value. No defaults and no rules here
//! beyond types and unknown keys.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub cluster: RawCluster,
    #[serde(default)]
    pub source: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub share: BTreeMap<String, RawShare>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub pve_root: Option<Spanned<String>>,
    pub base: Option<Spanned<u32>>,
    pub size: Option<Spanned<u32>>,
    pub min_id: Option<Spanned<u32>>,
    pub max_extents: Option<Spanned<u32>>,
    pub subid_owner: Option<Spanned<String>>,
    pub publish_max_age_secs: Option<Spanned<u64>>,
    #[serde(default)]
    pub protected: Vec<Spanned<RawIds>>,
    pub over_budget: Option<Spanned<String>>,
}

/// Every key of every source type: which ones belong to the given `type` is checked afterwards,
/// because serde's internally tagged enums lose the spans and key paths of their fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    // ldap
    pub url: Option<Spanned<String>>,
    pub starttls: Option<Spanned<bool>>,
    pub ca_file: Option<Spanned<String>>,
    pub bind_dn: Option<Spanned<String>>,
    pub bind_password_file: Option<Spanned<String>>,
    pub user_base: Option<Spanned<String>>,
    pub group_base: Option<Spanned<String>>,
    pub schema: Option<Spanned<String>>,
    pub user_filter: Option<Spanned<String>>,
    pub group_filter: Option<Spanned<String>>,
    pub user_name_attr: Option<Spanned<String>>,
    pub group_name_attr: Option<Spanned<String>>,
    pub member_attr: Option<Spanned<String>>,
    pub uid_number_attr: Option<Spanned<String>>,
    pub gid_number_attr: Option<Spanned<String>>,
    pub page_size: Option<Spanned<u32>>,
    pub timeout_secs: Option<Spanned<u64>>,
    // files
    pub passwd: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShare {
    pub source: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub storage: Option<Spanned<String>>,
    #[serde(default)]
    pub users: Vec<Spanned<String>>,
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    pub members: Option<bool>,
    pub primary_gids: Option<bool>,
    #[serde(default)]
    pub uids: Vec<Spanned<RawIds>>,
    #[serde(default)]
    pub gids: Vec<Spanned<RawIds>>,
    pub containers: Option<Vec<Spanned<u32>>>,
}

/// One element of `uids` / `gids`: an integer or a range string, checked later.
#[derive(Debug)]
pub(super) enum RawIds {
    Int(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawIds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RawIds, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawIds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id like 1005 or a range string like \"2000-2010\"")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawIds, E> {
                Ok(RawIds::Int(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawIds, E> {
                Ok(RawIds::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawIds, E> {
                Ok(RawIds::Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
