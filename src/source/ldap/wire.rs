//! The LDAP wire (RFC 4511): BER read in place ([`ber`]), the messages idfed sends and reads
//! ([`message`]), search result entries as views into the read buffer ([`entry`]), and one
//! connection ([`conn`]). Every bound on what a server may send is in [`Limits`]. It knows
//! nothing of users, groups or the source's schema; no part of it prints.

pub(super) mod ber;
pub(super) mod conn;
pub(super) mod entry;
pub(super) mod limits;
pub(super) mod message;
#[cfg(test)]
pub(super) mod testutil;
