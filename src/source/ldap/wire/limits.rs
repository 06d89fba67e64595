//! Every bound on what a server may send, in one place, with defaults that no real directory
//! meets: a broken or hostile server is refused with an error before it can hold idfed's
//! memory without bound.

/// The bounds a connection reads within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest message read, in bytes (its length header is refused beyond it, before
    /// anything is read or reserved for it). Default 1 GiB.
    pub max_message: usize,
    /// Bytes read from the socket at a time, at least. Default 64 KiB.
    pub read_chunk: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 1 << 30,
            read_chunk: 64 * 1024,
        }
    }
}
