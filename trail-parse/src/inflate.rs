//! Whole-object gzip decompression with libdeflate, for objects already in
//! memory: about twice as fast as streaming zlib-rs, but it needs the output
//! size up front and stops after the first gzip member. So it is used only
//! when the object provably is one member whose size the trailer gives;
//! anything else (several members, larger than the cap, corrupt) returns
//! `false` and is streamed, which also reports errors properly.

use libdeflater::Decompressor;
use memchr::memmem;

/// A libdeflate decompressor (its state is reused from object to object).
pub(crate) struct Inflater {
    inner: Decompressor,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Inflater {
            inner: Decompressor::new(),
        }
    }

    /// Decompress `gz` into `out` (resized) when it is a single gzip member
    /// of at most `cap` bytes decompressed; `false` (and `out` unspecified)
    /// otherwise.
    pub(crate) fn single_member(&mut self, gz: &[u8], cap: usize, out: &mut Vec<u8>) -> bool {
        // Header (10) + empty deflate block (2) + trailer (8) at least.
        if gz.len() < 20 || !gz.starts_with(&[0x1f, 0x8b, 0x08]) {
            return false;
        }
        let mut word = [0u8; 4];
        word.copy_from_slice(&gz[gz.len() - 4..]);
        let size = u32::from_le_bytes(word) as usize;
        if size > cap {
            return false;
        }
        out.clear();
        out.resize(size, 0);
        let Ok(n) = self.inner.gzip_decompress(gz, out) else {
            return false;
        };
        out.truncate(n);
        // libdeflate checked the first member's own trailer. It is the
        // object's last 8 bytes only if nothing follows the first member...
        let mut trailer = [0u8; 11];
        trailer[..4].copy_from_slice(&libdeflater::crc32(out).to_le_bytes());
        trailer[4..8].copy_from_slice(&(n as u32).to_le_bytes());
        if gz[gz.len() - 8..] != trailer[..8] {
            return false;
        }
        // ...or unless a second member with the same content follows (a
        // member starts with 1f 8b 08, right after the previous trailer).
        trailer[8..].copy_from_slice(&[0x1f, 0x8b, 0x08]);
        memmem::find(gz, &trailer).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn single_members_only() {
        let mut inf = Inflater::new();
        let mut out = Vec::new();
        let one = gzip(b"{\"Records\":[]}");
        assert!(inf.single_member(&one, 1 << 20, &mut out));
        assert_eq!(out, b"{\"Records\":[]}");

        // Two members, even identical ones, are left to the streaming decoder.
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert!(!inf.single_member(&two, 1 << 20, &mut out));
        let mut other = one.clone();
        other.extend_from_slice(&gzip(b"more"));
        assert!(!inf.single_member(&other, 1 << 20, &mut out));

        // Over the cap, corrupt, cut short, not gzip.
        assert!(!inf.single_member(&one, 4, &mut out));
        let mut corrupt = one.clone();
        corrupt[12] ^= 0xff;
        assert!(!inf.single_member(&corrupt, 1 << 20, &mut out));
        assert!(!inf.single_member(&one[..one.len() - 3], 1 << 20, &mut out));
        assert!(!inf.single_member(b"{\"Records\":[]}       ", 1 << 20, &mut out));
    }
}
