//! A counting global allocator, for proving the hot path allocates nothing (tests) and for
//! reporting allocations per call (`fewstep bench`). Install it with
//! `#[global_allocator] static A: fewstep::alloc_count::Counting = fewstep::alloc_count::Counting;`.
//!
//! It forwards to the system allocator and counts allocations (and reallocations) globally and
//! per thread, so a test can count its own thread only while the test harness runs others.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The allocator; see the module docs.
pub struct Counting;

static GLOBAL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static LOCAL: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    GLOBAL.fetch_add(1, Ordering::Relaxed);
    let _ = LOCAL.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// GlobalAlloc contract is exactly System's; counting touches only an atomic and a
// destructor-free thread-local Cell, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's (non-zero-size layout).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by System (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr`/`layout` come from System through us; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (including reallocations) by all threads so far.
pub fn allocations() -> usize {
    GLOBAL.load(Ordering::Relaxed)
}

/// Allocations (including reallocations) by the calling thread so far.
pub fn thread_allocations() -> usize {
    LOCAL.try_with(|c| c.get()).unwrap_or(0)
}
