//! The codes of `check`'s findings: an interface (scripts match on them in JSON), so one closed
//! list, written in kebab-case exactly as before they were typed.

use std::fmt;

use serde::Serialize;

/// What a finding is about (JSON and text: the kebab-case name, e.g. `subuid-missing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FindingCode {
    /// A node published a plan made from another configuration.
    ConfigDiffers,
    /// A CT config line (a mount point) cannot be parsed.
    ConfigUnparsable,
    /// A CT config cannot be read.
    ConfigUnreadable,
    /// A CT's map is not the desired one (`idfed apply` changes it).
    Drift,
    /// A CT can act as ids beyond its shares' owners.
    Exposure,
    /// A CT writes its map with the deprecated `lxc.id_map` key.
    IdmapDeprecated,
    /// A map line the kernel refuses (zero count, overflow).
    MapBadExtent,
    /// Two map lines overlap inside the CT.
    MapInsideOverlap,
    /// An `lxc.idmap` line that cannot be parsed.
    MapMalformed,
    /// Two map lines overlap on the host.
    MapOutsideOverlap,
    /// A custom map leaves the CT's root unmapped.
    MapRootUnmapped,
    /// A map's text is over the kernel's byte limit.
    MapTooLong,
    /// A map has more lines than the kernel takes.
    MapTooManyExtents,
    /// A node's published state is older than `publish_max_age_secs`.
    NodeStale,
    /// A node has published no state.
    NodeUnpublished,
    /// A bind mount of a share on local storage blocks migration.
    NotShared,
    /// A CT's map cannot fit the kernel's budget under `over_budget`: it is not switched.
    OverBudget,
    /// A pending map needs subgids a node lacks.
    PendingSubgidMissing,
    /// A pending map needs subuids a node lacks.
    PendingSubuidMissing,
    /// A privileged CT mounts a share.
    PrivilegedShare,
    /// A CT's files of ids the planned switch moves will show as nobody until `idfed shift`.
    RootfsPending,
    /// A CT's files of ids idfed's switch moved show as nobody until `idfed shift`.
    RootfsUnshifted,
    /// A snapshot's map needs subgids a node lacks.
    SnapshotSubgidMissing,
    /// A snapshot's map needs subuids a node lacks.
    SnapshotSubuidMissing,
    /// A source was unreachable: the answer is from its cache.
    SourceCached,
    /// A CT's map needs subgids a node lacks (it will not start there).
    SubgidMissing,
    /// A subid line shadow ignores.
    SubidMalformed,
    /// A CT's map needs subuids a node lacks (it will not start there).
    SubuidMissing,
    /// A CT on a share with a map idfed did not write.
    UnmanagedMap,
    /// A CT's map leaves inside ids unmapped (fitted to the kernel's budget): they show as nobody.
    UnmappedIds,
    /// A node runs another idfed version.
    VersionDiffers,
    /// Two configs share one VMID.
    VmidDuplicate,
}

impl FindingCode {
    /// Every code, in order.
    #[cfg(test)]
    pub(crate) const ALL: [FindingCode; 32] = [
        FindingCode::ConfigDiffers,
        FindingCode::ConfigUnparsable,
        FindingCode::ConfigUnreadable,
        FindingCode::Drift,
        FindingCode::Exposure,
        FindingCode::IdmapDeprecated,
        FindingCode::MapBadExtent,
        FindingCode::MapInsideOverlap,
        FindingCode::MapMalformed,
        FindingCode::MapOutsideOverlap,
        FindingCode::MapRootUnmapped,
        FindingCode::MapTooLong,
        FindingCode::MapTooManyExtents,
        FindingCode::NodeStale,
        FindingCode::NodeUnpublished,
        FindingCode::NotShared,
        FindingCode::OverBudget,
        FindingCode::PendingSubgidMissing,
        FindingCode::PendingSubuidMissing,
        FindingCode::PrivilegedShare,
        FindingCode::RootfsPending,
        FindingCode::RootfsUnshifted,
        FindingCode::SnapshotSubgidMissing,
        FindingCode::SnapshotSubuidMissing,
        FindingCode::SourceCached,
        FindingCode::SubgidMissing,
        FindingCode::SubidMalformed,
        FindingCode::SubuidMissing,
        FindingCode::UnmanagedMap,
        FindingCode::UnmappedIds,
        FindingCode::VersionDiffers,
        FindingCode::VmidDuplicate,
    ];

    /// The code as JSON and text write it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FindingCode::ConfigDiffers => "config-differs",
            FindingCode::ConfigUnparsable => "config-unparsable",
            FindingCode::ConfigUnreadable => "config-unreadable",
            FindingCode::Drift => "drift",
            FindingCode::Exposure => "exposure",
            FindingCode::IdmapDeprecated => "idmap-deprecated",
            FindingCode::MapBadExtent => "map-bad-extent",
            FindingCode::MapInsideOverlap => "map-inside-overlap",
            FindingCode::MapMalformed => "map-malformed",
            FindingCode::MapOutsideOverlap => "map-outside-overlap",
            FindingCode::MapRootUnmapped => "map-root-unmapped",
            FindingCode::MapTooLong => "map-too-long",
            FindingCode::MapTooManyExtents => "map-too-many-extents",
            FindingCode::NodeStale => "node-stale",
            FindingCode::NodeUnpublished => "node-unpublished",
            FindingCode::NotShared => "not-shared",
            FindingCode::OverBudget => "over-budget",
            FindingCode::PendingSubgidMissing => "pending-subgid-missing",
            FindingCode::PendingSubuidMissing => "pending-subuid-missing",
            FindingCode::PrivilegedShare => "privileged-share",
            FindingCode::RootfsPending => "rootfs-pending",
            FindingCode::RootfsUnshifted => "rootfs-unshifted",
            FindingCode::SnapshotSubgidMissing => "snapshot-subgid-missing",
            FindingCode::SnapshotSubuidMissing => "snapshot-subuid-missing",
            FindingCode::SourceCached => "source-cached",
            FindingCode::SubgidMissing => "subgid-missing",
            FindingCode::SubidMalformed => "subid-malformed",
            FindingCode::SubuidMissing => "subuid-missing",
            FindingCode::UnmanagedMap => "unmanaged-map",
            FindingCode::UnmappedIds => "unmapped-ids",
            FindingCode::VersionDiffers => "version-differs",
            FindingCode::VmidDuplicate => "vmid-duplicate",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::FindingCode;

    #[test]
    fn json_and_text_spell_each_code_the_same_and_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in FindingCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code}"
            );
        }
        assert_eq!(FindingCode::SubuidMissing.as_str(), "subuid-missing");
        assert_eq!(
            FindingCode::MapTooManyExtents.as_str(),
            "map-too-many-extents"
        );
    }
}
