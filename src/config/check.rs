//! The rules of the configuration: turns the raw file (`raw.rs`) into the model (`mod.rs`),
//! checking every value once, with the key path and span of each error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::idmap::{KERNEL_MAX_EXTENTS, MapParams};
use crate::ids::{IdRange, IdSet};

use super::raw::{RawCluster, RawConfig, RawIds, RawShare, RawSource};
use super::{
    ClusterConfig, Config, ConfigError, FilesConfig, Invalid, LdapConfig, LdapTarget, SchemaPreset,
    ShareConfig, ShareLocation, SourceConfig,
};

/// Turns the raw file into the model, one rule at a time.
pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) path: &'a Path,
}

type Checked<T> = Result<T, ConfigError>;

impl Checker<'_> {
    fn err(
        &self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        msg: impl Into<String>,
    ) -> ConfigError {
        Invalid::new(self.path, self.text, key, span, msg).into()
    }

    pub(super) fn config(&self, raw: RawConfig) -> Checked<Config> {
        let cluster = self.cluster(raw.cluster)?;
        let mut sources = BTreeMap::new();
        for (name, source) in raw.source {
            let checked = self.source(&name, source)?;
            sources.insert(name, checked);
        }
        let mut shares = BTreeMap::new();
        for (name, share) in raw.share {
            let checked = self.share(&name, share, &cluster, &sources)?;
            shares.insert(name, checked);
        }
        Ok(Config {
            path: self.path.to_path_buf(),
            // Set by `Config::parse`, which has the text.
            sha256: String::new(),
            cluster,
            sources,
            shares,
        })
    }

    fn cluster(&self, raw: RawCluster) -> Checked<ClusterConfig> {
        let d = ClusterConfig::default();
        let pick = |v: Option<Spanned<u32>>, default: u32| {
            v.map_or((default, None), |s| (*s.get_ref(), Some(s.span())))
        };
        let (base, _) = pick(raw.base, d.map.base);
        let (size, size_span) = pick(raw.size, d.map.size);
        let (min_id, min_span) = pick(raw.min_id, d.map.min_id);
        let (max_extents, ext_span) = pick(raw.max_extents, d.map.max_extents);
        if min_id == 0 {
            return Err(self.err(
                "cluster.min_id",
                min_span,
                "`0` is not allowed: id 0 (root) is never passed through; expected 1 or more",
            ));
        }
        if size == 0 || u64::from(base) + u64::from(size) > u64::from(u32::MAX) {
            return Err(self.err(
                "cluster.size",
                size_span,
                format!(
                    "`{size}` ids from `cluster.base` {base} on do not fit: expected 1 or more ids \
                     ending below 4294967295"
                ),
            ));
        }
        if !(1..=KERNEL_MAX_EXTENTS).contains(&max_extents) {
            return Err(self.err(
                "cluster.max_extents",
                ext_span,
                format!(
                    "`{max_extents}` is out of range: expected 1 to {KERNEL_MAX_EXTENTS} (the \
                     kernel's limit)"
                ),
            ));
        }
        let pve_root = match raw.pve_root {
            Some(s) => self.absolute("cluster.pve_root", s)?,
            None => d.pve_root,
        };
        let subid_owner = match raw.subid_owner {
            Some(s) => self.non_empty("cluster.subid_owner", s)?,
            None => d.subid_owner,
        };
        let publish_max_age_secs = match raw.publish_max_age_secs {
            None => d.publish_max_age_secs,
            Some(s) if *s.get_ref() == 0 => {
                return Err(self.err(
                    "cluster.publish_max_age_secs",
                    Some(s.span()),
                    "`0` is not allowed: expected a number of seconds, larger than the interval \
                     of the `idfed apply` job",
                ));
            }
            Some(s) => s.into_inner(),
        };
        let protected = self.ids("cluster.protected", raw.protected, 0)?;
        let over_budget = match raw.over_budget {
            None => d.map.over_budget,
            Some(s) => s
                .get_ref()
                .parse()
                .map_err(|e: crate::idmap::OverBudgetParseError| {
                    self.err("cluster.over_budget", Some(s.span()), e.to_string())
                })?,
        };
        Ok(ClusterConfig {
            pve_root,
            map: MapParams {
                base,
                size,
                min_id,
                max_extents,
                protected,
                over_budget,
            },
            subid_owner,
            publish_max_age_secs,
        })
    }

    fn non_empty(&self, key: &str, value: Spanned<String>) -> Checked<String> {
        if value.get_ref().trim().is_empty() {
            return Err(self.err(key, Some(value.span()), "empty value: expected a name"));
        }
        Ok(value.into_inner())
    }

    /// A path to a file of idfed's own (passwd, group, CA, password): taken as written when
    /// absolute, else relative to the configuration file's directory, so that a configuration and
    /// its files can move together (like the demo cluster's).
    fn local_file(&self, value: Spanned<String>) -> PathBuf {
        let path = PathBuf::from(value.into_inner());
        if path.is_absolute() {
            return path;
        }
        match self.path.parent() {
            Some(dir) => dir.join(path),
            None => path,
        }
    }

    /// A host path (`pve_root`, a share's `path`): absolute, and without `..`, which could
    /// climb out of `--root`.
    fn absolute(&self, key: &str, value: Spanned<String>) -> Checked<PathBuf> {
        let path = Path::new(value.get_ref());
        let problem = if !value.get_ref().starts_with('/') {
            "is not an absolute path: expected one starting with `/`"
        } else if path.components().any(|c| c == Component::ParentDir) {
            "goes up with `..`: expected an absolute path without `..`"
        } else {
            return Ok(PathBuf::from(value.into_inner()));
        };
        Err(self.err(
            key,
            Some(value.span()),
            format!("`{}` {problem}", value.get_ref()),
        ))
    }

    fn required(
        &self,
        table: &str,
        key: &str,
        value: Option<Spanned<String>>,
        what: &str,
    ) -> Checked<Spanned<String>> {
        value.ok_or_else(|| self.err(table, None, format!("missing key `{key}`: expected {what}")))
    }

    fn source(&self, name: &str, raw: RawSource) -> Checked<SourceConfig> {
        let table = format!("source.{name}");
        let kind = raw.kind.as_ref().ok_or_else(|| {
            self.err(
                &table,
                None,
                "missing key `type`: expected `type = \"ldap\"` or `type = \"files\"`",
            )
        })?;
        match kind.get_ref().as_str() {
            "ldap" => self
                .ldap(&table, raw)
                .map(|l| SourceConfig::Ldap(Box::new(l))),
            "files" => self.files(&table, raw).map(SourceConfig::Files),
            other => Err(self.err(
                format!("{table}.type"),
                Some(kind.span()),
                format!("unknown source type `{other}`: expected `ldap` or `files`"),
            )),
        }
    }

    /// Refuses keys that belong to the other source type.
    fn foreign_keys(
        &self,
        table: &str,
        kind: &str,
        keys: &[(&str, Option<Range<usize>>)],
    ) -> Checked<()> {
        for (key, span) in keys {
            if let Some(span) = span {
                return Err(self.err(
                    format!("{table}.{key}"),
                    Some(span.clone()),
                    format!("`{key}` is not a key of a `{kind}` source"),
                ));
            }
        }
        Ok(())
    }

    fn files(&self, table: &str, raw: RawSource) -> Checked<FilesConfig> {
        let sp = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
        let spb = |v: &Option<Spanned<bool>>| v.as_ref().map(Spanned::span);
        self.foreign_keys(
            table,
            "files",
            &[
                ("url", sp(&raw.url)),
                ("starttls", spb(&raw.starttls)),
                ("ca_file", sp(&raw.ca_file)),
                ("bind_dn", sp(&raw.bind_dn)),
                ("bind_password_file", sp(&raw.bind_password_file)),
                ("user_base", sp(&raw.user_base)),
                ("group_base", sp(&raw.group_base)),
                ("schema", sp(&raw.schema)),
                ("user_filter", sp(&raw.user_filter)),
                ("group_filter", sp(&raw.group_filter)),
                ("user_name_attr", sp(&raw.user_name_attr)),
                ("group_name_attr", sp(&raw.group_name_attr)),
                ("member_attr", sp(&raw.member_attr)),
                ("uid_number_attr", sp(&raw.uid_number_attr)),
                ("gid_number_attr", sp(&raw.gid_number_attr)),
                ("page_size", raw.page_size.as_ref().map(Spanned::span)),
                ("timeout_secs", raw.timeout_secs.as_ref().map(Spanned::span)),
            ],
        )?;
        let passwd = self.required(table, "passwd", raw.passwd, "the path of a passwd file")?;
        let group = self.required(table, "group", raw.group, "the path of a group file")?;
        Ok(FilesConfig {
            passwd: self.local_file(passwd),
            group: self.local_file(group),
        })
    }

    fn ldap(&self, table: &str, raw: RawSource) -> Checked<LdapConfig> {
        self.foreign_keys(
            table,
            "ldap",
            &[
                ("passwd", raw.passwd.as_ref().map(Spanned::span)),
                ("group", raw.group.as_ref().map(Spanned::span)),
            ],
        )?;
        let url = self.required(table, "url", raw.url, "`ldap://HOST` or `ldaps://HOST`")?;
        // Read here, as the connection will read it, so that a bad url names its line.
        let target = LdapTarget::parse(url.get_ref()).map_err(|e| {
            self.err(
                format!("{table}.url"),
                Some(url.span()),
                format!("`{}` is not an LDAP url: {e}", url.get_ref()),
            )
        })?;
        let url = url.into_inner();
        let starttls = raw.starttls.as_ref().is_some_and(|s| *s.get_ref());
        if starttls && target.tls {
            return Err(self.err(
                format!("{table}.starttls"),
                raw.starttls.as_ref().map(Spanned::span),
                "`starttls = true` needs an `ldap://` url: `ldaps://` is TLS already",
            ));
        }
        let ca_file = raw.ca_file.map(|v| self.local_file(v));
        let bind_dn = raw
            .bind_dn
            .map(|v| self.non_empty(&format!("{table}.bind_dn"), v))
            .transpose()?;
        if bind_dn.is_none()
            && let Some(file) = &raw.bind_password_file
        {
            return Err(self.err(
                format!("{table}.bind_password_file"),
                Some(file.span()),
                "a password without `bind_dn`: expected `bind_dn` too (or neither, for an anonymous bind)",
            ));
        }
        let bind_password_file = raw.bind_password_file.map(|v| self.local_file(v));
        let user_base = self.required(
            table,
            "user_base",
            raw.user_base,
            "the DN users are searched under",
        )?;
        let group_base = self.required(
            table,
            "group_base",
            raw.group_base,
            "the DN groups are searched under",
        )?;
        let mut schema = match raw.schema {
            None => SchemaPreset::Rfc2307.schema(),
            Some(name) => SchemaPreset::parse(name.get_ref())
                .ok_or_else(|| {
                    self.err(
                        format!("{table}.schema"),
                        Some(name.span()),
                        format!(
                            "unknown schema `{}`: expected `rfc2307`, `rfc2307bis` or `ad`",
                            name.get_ref()
                        ),
                    )
                })?
                .schema(),
        };
        let overrides = [
            ("user_filter", raw.user_filter, &mut schema.user_filter),
            ("group_filter", raw.group_filter, &mut schema.group_filter),
            (
                "user_name_attr",
                raw.user_name_attr,
                &mut schema.user_name_attr,
            ),
            (
                "group_name_attr",
                raw.group_name_attr,
                &mut schema.group_name_attr,
            ),
            ("member_attr", raw.member_attr, &mut schema.member_attr),
            (
                "uid_number_attr",
                raw.uid_number_attr,
                &mut schema.uid_number_attr,
            ),
            (
                "gid_number_attr",
                raw.gid_number_attr,
                &mut schema.gid_number_attr,
            ),
        ];
        for (key, value, slot) in overrides {
            if let Some(value) = value {
                let span = value.span();
                *slot = self.non_empty(&format!("{table}.{key}"), value)?;
                // A filter is checked here, where the error can name the line, not at the
                // first search.
                if key.ends_with("_filter") && ldap3::parse_filter(slot.as_str()).is_err() {
                    return Err(self.err(
                        format!("{table}.{key}"),
                        Some(span),
                        format!(
                            "`{slot}` is not an LDAP filter: expected RFC 4515 syntax, such as \
                             `(&(objectClass=posixAccount)(uidNumber=*))`"
                        ),
                    ));
                }
            }
        }
        // The paged results control's size is an `INTEGER (0..maxInt)` (RFC 2696).
        let page_size = match raw.page_size {
            None => 500,
            Some(v) => match i32::try_from(*v.get_ref()) {
                Ok(size) if size >= 1 => size,
                _ => {
                    return Err(self.err(
                        format!("{table}.page_size"),
                        Some(v.span()),
                        format!(
                            "`{}` is out of range: expected 1 to {} entries per page",
                            v.get_ref(),
                            i32::MAX
                        ),
                    ));
                }
            },
        };
        let timeout_secs = match raw.timeout_secs {
            None => 10,
            Some(v) if (1..=3600).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                return Err(self.err(
                    format!("{table}.timeout_secs"),
                    Some(v.span()),
                    format!(
                        "`{}` is out of range: expected 1 to 3600 seconds",
                        v.get_ref()
                    ),
                ));
            }
        };
        Ok(LdapConfig {
            url,
            target,
            starttls,
            ca_file,
            bind_dn,
            bind_password_file,
            user_base: self.non_empty(&format!("{table}.user_base"), user_base)?,
            group_base: self.non_empty(&format!("{table}.group_base"), group_base)?,
            schema,
            page_size,
            timeout: Duration::from_secs(timeout_secs),
        })
    }

    fn share(
        &self,
        name: &str,
        raw: RawShare,
        cluster: &ClusterConfig,
        sources: &BTreeMap<String, SourceConfig>,
    ) -> Checked<ShareConfig> {
        let table = format!("share.{name}");
        let source = self.required(
            &table,
            "source",
            raw.source,
            "the name of a `[source.NAME]`",
        )?;
        if !sources.contains_key(source.get_ref()) {
            let known = sources.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>();
            let expected = if known.is_empty() {
                "no `[source.NAME]` is defined".to_string()
            } else {
                format!("expected one of {}", known.join(", "))
            };
            return Err(self.err(
                format!("{table}.source"),
                Some(source.span()),
                format!("unknown source `{}`: {expected}", source.get_ref()),
            ));
        }
        let location = match (raw.path, raw.storage) {
            (Some(path), None) => {
                ShareLocation::Path(self.absolute(&format!("{table}.path"), path)?)
            }
            (None, Some(storage)) => {
                ShareLocation::Storage(self.non_empty(&format!("{table}.storage"), storage)?)
            }
            (Some(_), Some(storage)) => {
                return Err(self.err(
                    format!("{table}.storage"),
                    Some(storage.span()),
                    "both `path` and `storage` are given: expected one of them",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    &table,
                    None,
                    "missing key `path` or `storage`: expected where the share is mounted",
                ));
            }
        };
        let names = |key: &str, list: Vec<Spanned<String>>| -> Checked<Vec<String>> {
            let mut out: Vec<String> = Vec::new();
            for (i, v) in list.into_iter().enumerate() {
                let v = self.non_empty(&format!("{table}.{key}[{i}]"), v)?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(out)
        };
        let users = names("users", raw.users)?;
        let groups = names("groups", raw.groups)?;
        let uids = self.ids(&format!("{table}.uids"), raw.uids, cluster.map.min_id)?;
        let gids = self.ids(&format!("{table}.gids"), raw.gids, cluster.map.min_id)?;
        if users.is_empty() && groups.is_empty() && uids.is_empty() && gids.is_empty() {
            return Err(self.err(
                &table,
                None,
                "the share passes nothing through: expected at least one of `users`, `groups`, \
                 `uids`, `gids`",
            ));
        }
        let containers = match raw.containers {
            None => None,
            Some(list) => {
                let mut cts = Vec::with_capacity(list.len());
                for (i, ct) in list.into_iter().enumerate() {
                    // Proxmox VE's own range of guest ids.
                    if !(100..=999_999_999).contains(ct.get_ref()) {
                        return Err(self.err(
                            format!("{table}.containers[{i}]"),
                            Some(ct.span()),
                            format!(
                                "`{}` is not a container id: expected 100 to 999999999",
                                ct.get_ref()
                            ),
                        ));
                    }
                    cts.push(ct.into_inner());
                }
                cts.sort_unstable();
                cts.dedup();
                Some(cts)
            }
        };
        Ok(ShareConfig {
            source: source.into_inner(),
            location,
            users,
            groups,
            members: raw.members.unwrap_or(true),
            primary_gids: raw.primary_gids.unwrap_or(true),
            uids,
            gids,
            containers,
        })
    }

    fn ids(&self, key: &str, list: Vec<Spanned<RawIds>>, min_id: u32) -> Checked<IdSet> {
        let mut set = IdSet::new();
        for (i, item) in list.into_iter().enumerate() {
            let key = format!("{key}[{i}]");
            let span = Some(item.span());
            let range = match item.into_inner() {
                RawIds::Int(id) => match u32::try_from(id)
                    .ok()
                    .and_then(|id| IdRange::single(id).ok())
                {
                    Some(r) => r,
                    None => {
                        return Err(self.err(
                            key,
                            span,
                            format!("`{id}` is not an id: expected 0 to 4294967294"),
                        ));
                    }
                },
                RawIds::Text(text) => text
                    .parse::<IdRange>()
                    .map_err(|e| self.err(&key, span.clone(), e.to_string()))?,
            };
            if range.start() == 0 {
                return Err(self.err(
                    key,
                    span,
                    format!("`{range}` holds id 0 (root), which is never passed through"),
                ));
            }
            if range.start() < min_id {
                return Err(self.err(
                    key,
                    span,
                    format!(
                        "`{range}` goes below `cluster.min_id` ({min_id}): expected ids of {min_id} or more"
                    ),
                ));
            }
            set.insert(range);
        }
        Ok(set)
    }
}
