//! Changing the world: atomic writes with backups, and the locks Proxmox takes. Everything that
//! writes a file goes through here.

pub mod lock;
pub mod write;
