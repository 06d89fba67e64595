//! File capabilities (`security.capability`) across an ownership change. Pure.
//!
//! The kernel drops a file's capabilities when its owner changes (as it clears setuid and
//! setgid), so shift reads them before and writes them back after, as Incus's `fuidshift` does.
//! A version-3 value (namespaced capabilities, 24 bytes) names the host uid of the user
//! namespace's root it is valid for (`rootid`, the last `u32`); when that uid moves, the value is
//! written back with the new one. Version 1 and 2 values are written back unchanged.

use crate::ids::IdKind;

/// The attribute name.
pub(crate) const NAME: &str = "security.capability";

const REVISION_MASK: u32 = 0xFF00_0000;
const REVISION_3: u32 = 0x0300_0000;
const V3_LEN: usize = 24;

/// The value to write back after the owner changed: `rootid` moved when `map` moves it.
pub(crate) fn after_chown(value: &[u8], map: impl Fn(IdKind, u32) -> Option<u32>) -> Vec<u8> {
    let mut out = value.to_vec();
    if let Some(rootid) = rootid(value)
        && let Some(to) = map(IdKind::Uid, rootid)
    {
        out[V3_LEN - 4..].copy_from_slice(&to.to_le_bytes());
    }
    out
}

/// The `rootid` of a version-3 value.
pub(crate) fn rootid(value: &[u8]) -> Option<u32> {
    if value.len() != V3_LEN {
        return None;
    }
    let magic = u32::from_le_bytes(value[..4].try_into().expect("4 bytes"));
    (magic & REVISION_MASK == REVISION_3)
        .then(|| u32::from_le_bytes(value[V3_LEN - 4..].try_into().expect("4 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(rootid: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(REVISION_3 | 1).to_le_bytes());
        v.extend_from_slice(&(1u32 << 13).to_le_bytes()); // cap_net_raw permitted
        v.extend_from_slice(&[0; 12]);
        v.extend_from_slice(&rootid.to_le_bytes());
        v
    }

    fn moves(kind: IdKind, id: u32) -> Option<u32> {
        (kind == IdKind::Uid && id == 101005).then_some(1005)
    }

    #[test]
    fn v3_rootid_moves_with_its_uid() {
        assert_eq!(rootid(&v3(101005)), Some(101005));
        assert_eq!(after_chown(&v3(101005), moves), v3(1005));
        assert_eq!(after_chown(&v3(100000), moves), v3(100000));
        assert_eq!(after_chown(&v3(101004), moves), v3(101004));
    }

    #[test]
    fn v2_is_written_back_unchanged() {
        let mut v2 = Vec::new();
        v2.extend_from_slice(&0x0200_0001u32.to_le_bytes());
        v2.extend_from_slice(&[0x00, 0x20, 0, 0]);
        v2.extend_from_slice(&[0; 12]);
        assert_eq!(rootid(&v2), None);
        assert_eq!(after_chown(&v2, |_, _| Some(1)), v2);
        // A 24-byte value of another revision has no rootid.
        let mut odd = v3(101005);
        odd[3] = 0x02;
        assert_eq!(rootid(&odd), None);
    }
}
