//! gperftools' tcmalloc as the global allocator (the `tcmalloc` feature).
//!
//! A run allocates and frees large column buffers at a high rate, from the
//! decoding threads to the encoding pool. glibc's `malloc` returns that
//! memory to the system and faults it in again (about twice the page faults)
//! and spends more time in its bins; tcmalloc keeps freed spans for reuse.
//! Measured on the 2 GiB bench bucket: 7-10% less wall time (medians of two
//! sets of alternated rounds), half the page faults, the same peak RSS
//! (benches/RESULTS.md, 2026-12-01 stage 7).
//!
//! tcmalloc keeps freed pages for reuse, which is its speed, but after the
//! rare huge buffer (a record window near its 256 MiB limit, a 100 MB
//! string) that kept the hostile corpus of `tests/it/hostile.rs` at 958-1,079
//! MiB, against its 1 GiB bound (723 MiB with the system allocator). Freeing
//! a block of [`LARGE`] bytes or more now hands the free pages back
//! (`MallocExtension_ReleaseFreeMemory`): 751 MiB there, and the same wall
//! time and peak on the 2 GiB bench bucket (2.80-2.85 s against 2.81-2.99 s,
//! alternated; benches/RESULTS.md, 2026-12-04). Returning every freed span
//! at once (`TCMALLOC_AGGRESSIVE_DECOMMIT`) cost 45% of a run's time.
//!
//! The library is linked statically by `build.rs`, so the binary runs where
//! gperftools is not installed. Like Rust's `System` allocator, alignments up
//! to 16 bytes use plain `malloc`-family calls; larger ones use `memalign`.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

// gperftools' C API (gperftools/tcmalloc.h).
#[allow(unsafe_code)]
unsafe extern "C" {
    fn tc_malloc(size: usize) -> *mut c_void;
    fn tc_calloc(count: usize, size: usize) -> *mut c_void;
    fn tc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn tc_memalign(align: usize, size: usize) -> *mut c_void;
    fn tc_free(ptr: *mut c_void);
    fn MallocExtension_ReleaseFreeMemory();
}

/// Freeing a block this large hands tcmalloc's free pages back to the system.
pub const LARGE: usize = 32 << 20;

/// The alignment `tc_malloc` guarantees for a request of at least that
/// many bytes (as glibc's `malloc` on 64-bit targets).
const MIN_ALIGN: usize = 16;

/// tcmalloc, for `#[global_allocator]`.
pub struct TcMalloc;

impl TcMalloc {
    /// Whether `malloc`'s own alignment is enough for `align` at `size` bytes.
    fn malloc_aligns(align: usize, size: usize) -> bool {
        align <= MIN_ALIGN && align <= size
    }
}

// SAFETY: every block comes from tcmalloc and goes back to it (`tc_free`,
// `tc_realloc`); `malloc`-family calls are used only where their alignment
// covers the layout's (the rule Rust's `System` allocator applies), else
// `tc_memalign`; a null return is passed on as the allocation failure.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for TcMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls; `layout.size()` is non-zero (GlobalAlloc contract).
        unsafe {
            if Self::malloc_aligns(layout.align(), layout.size()) {
                tc_malloc(layout.size()).cast()
            } else {
                tc_memalign(layout.align(), layout.size()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`; a `tc_memalign` block is zeroed over its `size` bytes.
        unsafe {
            if Self::malloc_aligns(layout.align(), layout.size()) {
                tc_calloc(1, layout.size()).cast()
            } else {
                let ptr = self.alloc(layout);
                if !ptr.is_null() {
                    std::ptr::write_bytes(ptr, 0, layout.size());
                }
                ptr
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc contract).
        unsafe {
            tc_free(ptr.cast());
            if layout.size() >= LARGE {
                MallocExtension_ReleaseFreeMemory();
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; `tc_realloc`
        // keeps `malloc`'s alignment, enough when `malloc_aligns` holds;
        // otherwise a new aligned block gets the old bytes and the old one is freed.
        unsafe {
            if Self::malloc_aligns(layout.align(), new_size) {
                tc_realloc(ptr.cast(), new_size).cast()
            } else {
                let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout the program can ask for comes back aligned, zeroed when
    /// asked, and keeps its bytes through growing and shrinking.
    #[test]
    #[allow(unsafe_code)]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let a = TcMalloc;
        for align in [1, 2, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 15, 16, 24, 40, 100, 4096, 1 << 20, LARGE] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed once with its layout.
                unsafe {
                    let p = a.alloc_zeroed(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "align {align} size {size}");
                    assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0);
                    let kept = std::slice::from_raw_parts(grown, size);
                    assert!(kept.iter().enumerate().all(|(i, &b)| b == i as u8));
                    let big = Layout::from_size_align(size * 3, align).unwrap();
                    let shrunk = a.realloc(grown, big, size.div_ceil(2));
                    assert_eq!(shrunk as usize % align, 0);
                    let kept = std::slice::from_raw_parts(shrunk, size.div_ceil(2));
                    assert!(kept.iter().enumerate().all(|(i, &b)| b == i as u8));
                    let small = Layout::from_size_align(size.div_ceil(2), align).unwrap();
                    a.dealloc(shrunk, small);
                }
            }
        }
    }
}
