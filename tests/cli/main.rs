//! The one integration-test binary: drives the real `idfed` binary over fixture trees.
//! Each command has its own module; `harness` holds the builder they share, `support` the real
//! services (slapd, user namespaces, LXC) some tests start.

mod harness;
mod help;
mod lxc;
mod map;
mod pve;
mod resolve;
mod rollout;
mod slapd;
mod sync;
mod userns;
