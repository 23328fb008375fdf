//! The memory behind one buffer of the budget: pages of its own (an anonymous mapping) for
//! the pooled sizes, a `Vec` for small ones.
//!
//! Why not `Vec` for all: malloc serves blocks below its mmap threshold (256 KiB, set at
//! start by `run.rs`) from per-thread arenas and keeps them resident when freed; with 16
//! read-ahead threads trading 64–128 KiB chunks the arenas held 14 MiB more than the budget
//! had granted at the peak (16 parallel readers, 1 GiB). A mapping of its own goes back to
//! the system the moment it is dropped, so the process's memory follows the budget.
//!
//! Invariants: a [`Pages`] is a private anonymous mapping of exactly `len` bytes, readable
//! and writable, owned by it alone and unmapped when dropped; its bytes are zeros at first.

use std::ptr::NonNull;

/// One private anonymous mapping.
pub(super) struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Pages` owns its mapping exclusively (no aliasing pointer exists elsewhere);
// moving it between threads or sharing `&Pages` is as safe as for a `Vec<u8>`.
unsafe impl Send for Pages {}
// SAFETY: as above; `&Pages` only gives `&[u8]`.
unsafe impl Sync for Pages {}

impl Pages {
    /// A mapping of `len` bytes (a multiple of the page size), or `None` when the system
    /// refuses one.
    fn new(len: usize) -> Option<Pages> {
        // SAFETY: asks for a fresh private anonymous mapping (no address hint, no file); the
        // result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p.cast::<u8>()).map(|ptr| Pages { ptr, len })
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing else refers to.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A buffer's memory.
pub(super) enum Mem {
    Heap(Vec<u8>),
    Pages(Pages),
}

impl Default for Mem {
    fn default() -> Mem {
        Mem::Heap(Vec::new())
    }
}

impl Mem {
    /// `cap` bytes, zeros: pages of their own when `own_pages` (and the system gives them).
    pub(super) fn new(cap: usize, own_pages: bool) -> Mem {
        if own_pages && let Some(p) = Pages::new(cap) {
            return Mem::Pages(p);
        }
        Mem::Heap(vec![0; cap])
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Mem::Heap(v) => v.len(),
            Mem::Pages(p) => p.len,
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Mem::Heap(v) => v,
            // SAFETY: the mapping is `len` readable bytes, initialised (zeros, then whatever
            // was written), owned by `self` and borrowed immutably for the slice's life.
            Mem::Pages(p) => unsafe { std::slice::from_raw_parts(p.ptr.as_ptr(), p.len) },
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Mem::Heap(v) => v,
            // SAFETY: as in `as_slice`, borrowed mutably through `&mut self`: no other slice
            // of it exists meanwhile.
            Mem::Pages(p) => unsafe { std::slice::from_raw_parts_mut(p.ptr.as_ptr(), p.len) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_zeros_writable_and_given_back() {
        let mut m = Mem::new(256 << 10, true);
        assert!(matches!(m, Mem::Pages(_)));
        assert_eq!(m.len(), 256 << 10);
        assert!(m.as_slice().iter().all(|&b| b == 0));
        m.as_mut_slice()[12345] = 7;
        assert_eq!(m.as_slice()[12345], 7);
        let h = Mem::new(4096, false);
        assert!(matches!(h, Mem::Heap(_)));
        assert_eq!(h.as_slice().len(), 4096);
    }
}
