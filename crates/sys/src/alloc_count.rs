//! A counting global allocator for tests and benches: [`System`] underneath, plus a count of
//! the allocations made by threads that are *armed* ([`count_allocs`]), so a test can assert
//! what one code path allocates while other threads (the test harness, the runtime's other
//! threads) allocate as they please.
//!
//! ```ignore
//! #[global_allocator]
//! static A: sipwire_sys::alloc_count::CountingAlloc = sipwire_sys::alloc_count::CountingAlloc;
//! let ((), n) = sipwire_sys::alloc_count::count_allocs(|| hot_path());
//! assert_eq!(n, 0);
//! ```
//!
//! Only `alloc`, `alloc_zeroed` and a `realloc` count (a `realloc` may move the block: it
//! is an allocation as far as the hot path is concerned); `dealloc` does not. Without the
//! allocator installed the counts stay 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// Whether this thread's allocations count (const-initialised, no destructor: reading it
    /// from inside the allocator never allocates).
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made while armed.
    static MINE: Cell<u64> = const { Cell::new(0) };
}

/// Allocations made by armed threads since the process started.
static ARMED_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Allocations made by every thread since the process started.
static ALL_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// The counting allocator: install it with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn count() {
    ALL_ALLOCS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during thread teardown the slot may be gone; such allocations do not count.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        ARMED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        let _ = MINE.try_with(|m| m.set(m.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counting touches only
// atomics and a const-initialised thread-local `Cell`, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size layout),
        // which is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest
        // of `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with this thread armed and returns its result with the allocations this thread
/// made meanwhile (other threads' allocations are not counted; see [`armed_allocs`] for
/// counting across threads). Nested calls count in the outer one too.
pub fn count_allocs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let was = ARMED.with(|a| a.replace(true));
    let before = MINE.with(Cell::get);
    let out = f();
    let n = MINE.with(Cell::get) - before;
    ARMED.with(|a| a.set(was));
    (out, n)
}

/// Runs `f` with this thread armed: its allocations add to [`armed_allocs`].
pub fn armed<T>(f: impl FnOnce() -> T) -> T {
    let was = ARMED.with(|a| a.replace(true));
    let out = f();
    ARMED.with(|a| a.set(was));
    out
}

/// Allocations made by armed threads (all of them) since the process started.
pub fn armed_allocs() -> u64 {
    ARMED_ALLOCS.load(Ordering::Relaxed)
}

/// Allocations made by every thread since the process started.
pub fn all_allocs() -> u64 {
    ALL_ALLOCS.load(Ordering::Relaxed)
}
