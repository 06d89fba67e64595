//! The one integration-test binary: drives the real `idfed` binary over fixture trees.
//! Each command has its own module; `harness` holds the builder they share, `slapd` a real
//! OpenLDAP server for the LDAP tests (other real services: user namespaces, LXC).

mod check;
mod errors;
mod escape;
mod harness;
mod help;
mod holes;
mod hostile;
mod locks;
mod lxc;
mod map;
mod offline;
mod pve;
mod report;
mod resolve;
mod rollout;
mod saved;
mod scan;
mod shadow;
mod shift;
mod slapd;
mod steady;
mod sync;
mod userns;
mod warnings;
