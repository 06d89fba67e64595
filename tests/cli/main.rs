//! The one integration-test binary: drives the real `idfed` binary over fixture trees.
//! Each command has its own module; `harness` holds the builder they share, `support` the real
//! services (slapd, user namespaces, LXC) some tests start.

mod check;
mod harness;
mod help;
mod lxc;
mod map;
mod pve;
mod report;
mod resolve;
mod slapd;
mod userns;
