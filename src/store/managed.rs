//! The passthroughs idfed put into each container: `<pve_root>/idfed/managed/<vmid>.json`.
//!
//! A record says nothing about which container it describes beyond its VMID, and a VMID outlives
//! `pct destroy`: what ties a record to its container is the map, checked by `cluster` (a record
//! is trusted only while the CT's map still passes through every id it lists). Two writes of a
//! CT's map are bracketed by a claim (`claimed_*`): the ids a write in progress may have put in or
//! taken out, owned only where the map holds them and never required to be there, so that a crash
//! between the record and the config neither makes the record stale nor idfed's ids foreign.
//! A record also keeps the last switch idfed made (`switched`: the map it replaced and the one it
//! wrote), which `shift` trusts over inference while the CT's map is still the one written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::{self, Root, Written, write_json};
use crate::idmap::Extent;
use crate::ids::{IdKind, IdSet};

use super::StoreError;

/// The passthroughs idfed put into one container (its `managed` record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Managed {
    /// The passthroughs idfed manages: the CT's map holds every one of them.
    pub uids: IdSet,
    pub gids: IdSet,
    /// Of those, the ones adopted (`apply --adopt`): passed through whatever the shares say, until
    /// released (`apply --release`).
    #[serde(default, skip_serializing_if = "IdSet::is_empty")]
    pub adopted_uids: IdSet,
    #[serde(default, skip_serializing_if = "IdSet::is_empty")]
    pub adopted_gids: IdSet,
    /// Ids a write of the CT's map in progress may have added or removed: idfed's where the map
    /// holds them, not required to be there. Empty once the write is done.
    #[serde(default, skip_serializing_if = "IdSet::is_empty")]
    pub claimed_uids: IdSet,
    #[serde(default, skip_serializing_if = "IdSet::is_empty")]
    pub claimed_gids: IdSet,
    /// The last map switch idfed wrote, kept until the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched: Option<Switch>,
}

/// A map switch idfed wrote: the whole effective map it replaced (PVE's default included) and
/// the one it wrote, both kinds, as `lxc.idmap` values (`"u 0 100000 1005"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Switch {
    #[serde(with = "idmap_lines")]
    pub old: Vec<Extent>,
    #[serde(with = "idmap_lines")]
    pub new: Vec<Extent>,
    /// `shift` moved the CT's files by it (every entry, without problems).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shifted: bool,
    /// The maps before `old` that idfed switched away from with no shift since, oldest first:
    /// the CT's files may still be owned as any of them gave (a CT running through two switches
    /// wrote every file under the first map).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "idmap_maps")]
    pub earlier: Vec<Vec<Extent>>,
}

impl Switch {
    /// Is `map` the map this switch wrote (the same extents, in any order)?
    pub(crate) fn wrote(&self, map: &[Extent]) -> bool {
        let sorted = |m: &[Extent]| {
            let mut v = m.to_vec();
            v.sort();
            v
        };
        sorted(&self.new) == sorted(map)
    }

    /// The maps the CT's files may have been written under since the last shift, the one just
    /// replaced first.
    pub(crate) fn olds(&self) -> Vec<&[Extent]> {
        std::iter::once(&self.old)
            .chain(self.earlier.iter().rev())
            .map(Vec::as_slice)
            .collect()
    }

    /// The switch from `old` to `new` that follows `self` (the record's last switch), carrying
    /// its maps along while it was not shifted and `old` is the map it wrote.
    pub(crate) fn after(prev: Option<&Switch>, old: Vec<Extent>, new: Vec<Extent>) -> Switch {
        let earlier = match prev {
            Some(p) if !p.shifted && p.wrote(&old) => {
                let mut e = p.earlier.clone();
                e.push(p.old.clone());
                e
            }
            _ => Vec::new(),
        };
        Switch {
            old,
            new,
            shifted: false,
            earlier,
        }
    }
}

/// Maps as their `lxc.idmap` values, in JSON arrays of strings.
mod idmap_maps {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::idmap::Extent;

    pub(super) fn serialize<S: Serializer>(maps: &[Vec<Extent>], s: S) -> Result<S::Ok, S::Error> {
        let lines: Vec<Vec<String>> = maps
            .iter()
            .map(|m| m.iter().map(ToString::to_string).collect())
            .collect();
        serde::Serialize::serialize(&lines, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Vec<Extent>>, D::Error> {
        Vec::<Vec<String>>::deserialize(d)?
            .iter()
            .map(|m| {
                m.iter()
                    .map(|line| line.parse().map_err(D::Error::custom))
                    .collect()
            })
            .collect()
    }
}

/// A map as its `lxc.idmap` values, in JSON strings.
mod idmap_lines {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::idmap::Extent;

    pub(super) fn serialize<S: Serializer>(map: &[Extent], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(ToString::to_string))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Extent>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|line| line.parse().map_err(D::Error::custom))
            .collect()
    }
}

impl Managed {
    /// The managed passthroughs of one kind.
    pub(crate) fn ids(&self, kind: IdKind) -> &IdSet {
        match kind {
            IdKind::Uid => &self.uids,
            IdKind::Gid => &self.gids,
        }
    }

    /// The adopted passthroughs of one kind.
    pub(crate) fn adopted(&self, kind: IdKind) -> &IdSet {
        match kind {
            IdKind::Uid => &self.adopted_uids,
            IdKind::Gid => &self.adopted_gids,
        }
    }

    /// The claimed ids of one kind (see [`Managed::claimed_uids`]).
    pub(crate) fn claimed(&self, kind: IdKind) -> &IdSet {
        match kind {
            IdKind::Uid => &self.claimed_uids,
            IdKind::Gid => &self.claimed_gids,
        }
    }

    /// The record to write before a CT's map goes from `self` to `after`: what both maps hold is
    /// managed (the CT's map holds it whether or not the write happens), the rest is claimed.
    pub(crate) fn claim(&self, after: &Managed) -> Managed {
        let both = |kind| self.ids(kind).intersection(after.ids(kind));
        let either = |kind| {
            let all = self.ids(kind).union(after.ids(kind));
            all.union(self.claimed(kind)).difference(&both(kind))
        };
        Managed {
            uids: both(IdKind::Uid),
            gids: both(IdKind::Gid),
            // Adopted in either: a crash midway keeps what was or is being adopted (a release
            // not carried out is the safe side: the id stays).
            adopted_uids: self.adopted_uids.union(&after.adopted_uids),
            adopted_gids: self.adopted_gids.union(&after.adopted_gids),
            claimed_uids: either(IdKind::Uid),
            claimed_gids: either(IdKind::Gid),
            // The switch being written: should the config write fail, it does not describe the
            // CT's map and is not trusted (`Switch::wrote`); should the next record write fail,
            // it does.
            switched: after.switched.clone(),
        }
    }

    /// Does a map passing `uids` and `gids` through hold every managed id (is the record this
    /// CT's)?
    pub(crate) fn is_held_by(&self, uids: &IdSet, gids: &IdSet) -> bool {
        uids.is_superset(&self.uids) && gids.is_superset(&self.gids)
    }
}

/// Where the per-CT managed records live.
pub(crate) fn dir(root: &Root, pve_root: &Path) -> PathBuf {
    root.join(pve_root).join("idfed/managed")
}

/// Reads every container's managed record; a missing directory is no record at all.
///
/// # Errors
/// A record that cannot be read or parsed, naming its file.
pub(crate) fn load(root: &Root, pve_root: &Path) -> Result<BTreeMap<u32, Managed>, StoreError> {
    let dir = dir(root, pve_root);
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in fs::read_dir_sorted(&dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name
            .strip_suffix(".json")
            .and_then(|v| v.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let text = fs::read_to_string(&path)?;
        out.insert(vmid, super::parse(&path, "a managed record", &text)?);
    }
    Ok(out)
}

/// Reads container `vmid`'s record; none is `None`.
///
/// # Errors
/// A record that cannot be read or parsed, naming its file.
pub(crate) fn read(root: &Root, pve_root: &Path, vmid: u32) -> Result<Option<Managed>, StoreError> {
    let path = path(root, pve_root, vmid);
    match fs::read_optional(&path)? {
        Some(text) => Ok(Some(super::parse(&path, "a managed record", &text)?)),
        None => Ok(None),
    }
}

/// The record of container `vmid`.
pub(crate) fn path(root: &Root, pve_root: &Path, vmid: u32) -> PathBuf {
    dir(root, pve_root).join(format!("{vmid}.json"))
}

/// Removes container `vmid`'s record (none is fine).
///
/// # Errors
/// When it exists and cannot be removed.
pub(crate) fn remove(root: &Root, pve_root: &Path, vmid: u32) -> Result<bool, StoreError> {
    Ok(fs::remove_optional(path(root, pve_root, vmid))?)
}

/// Writes container `vmid`'s managed record (atomically; unchanged records are not rewritten).
///
/// # Errors
/// When the record cannot be written.
pub(crate) fn save(
    root: &Root,
    pve_root: &Path,
    vmid: u32,
    record: &Managed,
) -> Result<Written, StoreError> {
    Ok(write_json(&path(root, pve_root, vmid), record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(uids: &[u32]) -> Managed {
        let mut m = Managed::default();
        for &id in uids {
            m.uids.insert_id(id);
        }
        m
    }

    #[test]
    fn a_claim_is_what_both_maps_hold_managed_and_the_rest_claimed() {
        // 1005 stays, 1006 goes, 1007 comes.
        let before = rec(&[1005, 1006]);
        let after = rec(&[1005, 1007]);
        let c = before.claim(&after);
        assert_eq!(c.uids, rec(&[1005]).uids);
        assert_eq!(c.claimed_uids, rec(&[1006, 1007]).uids);
        // A claim left by an earlier crash is carried into the next one, not lost.
        let mut crashed = before.clone();
        crashed.claimed_uids.insert_id(2001);
        assert!(crashed.claim(&after).claimed_uids.contains(2001));
        // Both held by the old map and by the new one: neither is stale either way.
        assert!(c.is_held_by(&before.uids, &IdSet::new()));
        assert!(c.is_held_by(&after.uids, &IdSet::new()));
        // Unchanged: nothing claimed.
        assert_eq!(before.claim(&before), before);
    }

    #[test]
    fn an_old_record_without_the_new_fields_reads() {
        let m: Managed =
            serde_json::from_str(r#"{"uids":[{"start":1005,"count":1}],"gids":[]}"#).unwrap();
        assert_eq!(m, rec(&[1005]));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"uids":[{"start":1005,"count":1}],"gids":[]}"#
        );
    }

    #[test]
    fn a_switch_is_kept_as_idmap_lines_and_claimed_with_the_write() {
        let line = |s: &str| s.parse::<Extent>().unwrap();
        let switch = Switch {
            old: vec![line("u 0 100000 65536"), line("g 0 100000 65536")],
            new: vec![
                line("u 0 100000 1005"),
                line("u 1005 1005 1"),
                line("u 1006 101006 64530"),
                line("g 0 100000 65536"),
            ],
            shifted: false,
            earlier: Vec::new(),
        };
        let after = Managed {
            switched: Some(switch.clone()),
            ..rec(&[1005])
        };
        let json = serde_json::to_string(&after).unwrap();
        assert_eq!(
            json,
            r#"{"uids":[{"start":1005,"count":1}],"gids":[],"switched":{"old":["u 0 100000 65536","g 0 100000 65536"],"new":["u 0 100000 1005","u 1005 1005 1","u 1006 101006 64530","g 0 100000 65536"]}}"#
        );
        assert_eq!(serde_json::from_str::<Managed>(&json).unwrap(), after);
        // Once shifted, the record says so (absent: not shifted, as records before it).
        let mut shifted = after.clone();
        shifted.switched.as_mut().unwrap().shifted = true;
        let text = serde_json::to_string(&shifted).unwrap();
        assert!(text.ends_with(r#","shifted":true}}"#), "{text}");
        assert_eq!(serde_json::from_str::<Managed>(&text).unwrap(), shifted);
        // The claim written before the config already names the switch being written.
        assert_eq!(
            Managed::default().claim(&after).switched,
            Some(switch.clone())
        );
        // Written in another order, the same map; another map is not.
        let mut reordered = switch.new.clone();
        reordered.reverse();
        assert!(switch.wrote(&reordered));
        assert!(!switch.wrote(&switch.old));
        let bad = json.replace("u 1005 1005 1", "u 1005 1005");
        let err = serde_json::from_str::<Managed>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`u 1005 1005` is not an idmap entry"), "{err}");
    }

    #[test]
    fn a_switch_not_shifted_carries_the_maps_before_it() {
        let line = |s: &str| s.parse::<Extent>().unwrap();
        let a = vec![line("u 0 100000 65536")];
        let b = vec![line("u 0 100000 1005"), line("u 1005 1005 1")];
        let c = vec![line("u 0 100000 1006"), line("u 1006 1006 1")];
        let first = Switch::after(None, a.clone(), b.clone());
        assert!(first.earlier.is_empty());
        let second = Switch::after(Some(&first), b.clone(), c.clone());
        assert_eq!(second.earlier, std::slice::from_ref(&a));
        assert_eq!(second.olds(), [b.as_slice(), a.as_slice()]);
        let json = serde_json::to_string(&second).unwrap();
        assert!(
            json.ends_with(r#""earlier":[["u 0 100000 65536"]]}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Switch>(&json).unwrap(), second);
        // Shifted, or a map changed by hand since: nothing is carried.
        let shifted = Switch {
            shifted: true,
            ..first.clone()
        };
        assert!(
            Switch::after(Some(&shifted), b.clone(), c.clone())
                .earlier
                .is_empty()
        );
        assert!(Switch::after(Some(&first), c.clone(), b).earlier.is_empty());
    }

    #[test]
    fn managed_records_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let pve = Path::new("/etc/pve");
        assert!(load(&root, pve).unwrap().is_empty());
        let mut rec = Managed::default();
        rec.uids.insert_id(1005);
        save(&root, pve, 101, &rec).unwrap();
        assert_eq!(save(&root, pve, 101, &rec).unwrap(), Written::Unchanged);
        let all = load(&root, pve).unwrap();
        assert_eq!(all.get(&101), Some(&rec));
    }
}
