//! What a source skipped, and why.

use std::fmt;

/// An entry a source skipped (said once per entry, with its DN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SourceWarning {
    /// The entry lacks an attribute the schema requires (`uid`, `uidNumber`, ...).
    MissingAttribute { dn: String, attr: String },
    /// An id attribute whose value is not an id (`+1005`, `abc`, `4294967295`).
    NotAnId {
        dn: String,
        attr: String,
        value: String,
    },
}

impl fmt::Display for SourceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceWarning::MissingAttribute { dn, attr } => {
                write!(f, "entry `{dn}` has no `{attr}`: skipped")
            }
            SourceWarning::NotAnId { dn, attr, value } => write!(
                f,
                "entry `{dn}` has `{attr}` `{value}`, not an id (0 to 4294967294): skipped"
            ),
        }
    }
}
