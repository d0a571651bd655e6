//! Whole-object gzip decompression with libdeflate, for objects already in
//! memory: about twice as fast as streaming zlib-rs, but it needs the output
//! size up front and stops after the first gzip member. So it is used only
//! when the object provably is one member whose size the trailer gives;
//! anything else (several members, larger than the cap, corrupt) returns
//! `false` and is streamed, which also reports errors properly.

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// A libdeflate decompressor (its state is reused from object to object).
///
/// It calls libdeflate-sys directly rather than through libdeflater, whose
/// API takes an initialised `&mut [u8]` and reports neither where the first
/// member ends: zeroing the output first and checksumming it a second time to
/// prove nothing follows cost 1.4% of a whole run's instructions.
pub(crate) struct Inflater {
    inner: NonNull<libdeflate_decompressor>,
}

// SAFETY: a libdeflate decompressor is plain heap state with no thread
// affinity; `&mut self` on every use keeps it to one thread at a time.
#[allow(unsafe_code)]
unsafe impl Send for Inflater {}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `inner` came from `libdeflate_alloc_decompressor` and is
        // freed once, here.
        #[allow(unsafe_code)]
        unsafe {
            libdeflate_free_decompressor(self.inner.as_ptr())
        }
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        // SAFETY: no preconditions; it returns null only when out of memory.
        #[allow(unsafe_code)]
        let raw = unsafe { libdeflate_alloc_decompressor() };
        let Some(inner) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 32 << 10]>())
        };
        Inflater { inner }
    }

    /// Decompress `gz` into `out` (replacing its contents) when it is a
    /// single gzip member of at most `cap` bytes decompressed; `false` (and
    /// `out` unspecified) otherwise.
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
        if out.capacity() < size {
            // Nothing to keep: a fresh buffer, not a realloc copying the old one.
            *out = Vec::new();
            out.reserve_exact(size);
        }
        let (mut used, mut written) = (0usize, 0usize);
        // SAFETY: `inner` is a live decompressor used by this thread only
        // (`&mut self`); libdeflate reads `gz.len()` bytes of `gz` and writes
        // at most `size` bytes from `out`'s start, all inside the capacity
        // reserved above; it sets `used` and `written` on success only.
        #[allow(unsafe_code)]
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.inner.as_ptr(),
                gz.as_ptr().cast::<c_void>(),
                gz.len(),
                out.as_mut_ptr().cast::<c_void>(),
                size,
                &mut used,
                &mut written,
            )
        };
        if result != libdeflate_result_LIBDEFLATE_SUCCESS || written > size {
            return false;
        }
        // SAFETY: on success libdeflate initialised exactly `written` bytes,
        // and `written <= size <= capacity`.
        #[allow(unsafe_code)]
        unsafe {
            out.set_len(written)
        };
        // libdeflate checked the member's CRC and size; it is the whole
        // object only if nothing follows it (another member, garbage).
        used == gz.len()
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
        // Anything else after the member (padding, garbage) is streamed too.
        let mut trailing = one.clone();
        trailing.extend_from_slice(b"\0\0\0\0junk");
        assert!(!inf.single_member(&trailing, 1 << 20, &mut out));

        // Over the cap, corrupt, cut short, not gzip.
        assert!(!inf.single_member(&one, 4, &mut out));
        let mut corrupt = one.clone();
        corrupt[12] ^= 0xff;
        assert!(!inf.single_member(&corrupt, 1 << 20, &mut out));
        assert!(!inf.single_member(&one[..one.len() - 3], 1 << 20, &mut out));
        assert!(!inf.single_member(b"{\"Records\":[]}       ", 1 << 20, &mut out));
    }
}
