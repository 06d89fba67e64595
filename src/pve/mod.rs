//! The Proxmox VE side of the cluster: CT configs (lossless parse and idmap edit), mount points,
//! `storage.cfg` and where it puts a CT's root filesystem, node and CT discovery, whether a CT
//! runs, and which CTs use a share.
//!
//! Everything but [`discover`] (reads), [`lock`] (PVE's config flock) and [`running`] (reads) is
//! pure: parsers take text and give values. Writes belong to `apply`; subordinate ids to `subid`.

pub mod ct_error;
pub mod ctconf;
pub mod discover;
pub mod lock;
pub mod mountpoint;
pub mod running;
pub mod share;
pub mod storage;
pub mod volume;

pub use ct_error::{CtError, CtErrorKind};
pub use ctconf::{CtConfig, CtConfigError, CtConfigErrorKind, CtConfigWarning, Section};
pub use discover::{
    Ct, CtLoadCause, CtLoadError, DiscoverError, Discovery, ShareUser, ct_conf_path, lxc_dir,
};
pub use lock::{ConfigLock, LockError, config_lock_path};
pub use mountpoint::{MountKind, MountPoint, MountPointError};
pub use share::{ShareMount, is_at_or_below, share_uses};
pub use storage::{Storage, StorageCfg, StorageError, StorageWarning};
pub use volume::{VolumeError, rootfs_dir};
