//! Fingerprints of inputs: the SHA-256 of some bytes, as lowercase hex. What a saved plan and a
//! node's published state record of the configuration (and, for a saved plan, of every other
//! input) so that a change is told from none whatever idfed version reads it.

/// The SHA-256 of `bytes`, 64 lowercase hex digits.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    /// FIPS 180-2's examples: the empty string and "abc".
    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(sha256_hex(b"abc"), sha256_hex(b"abd"));
    }
}
