//! Changing the world: atomic writes with backups (the config lock is `pve::lock`). Everything that
//! writes a file goes through here.

pub mod node_lock;
pub mod pve_writable;
pub mod shadow_lock;
pub mod write;
