//! Shared helpers for sipwire's criterion benches; the benches themselves are the
//! `[[bench]]` targets next to this file (`make bench`).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A message counter that handlers and sink threads bump (one atomic add) and the bench thread
/// waits on without spinning: on a 2-core machine a spinning waiter would steal a core from the
/// code being measured.
#[derive(Debug, Default)]
pub struct Counter {
    n: AtomicU64,
    target: AtomicU64,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Counter {
    /// Adds `k`; wakes the waiter when its target is reached.
    pub fn add(&self, k: u64) {
        let n = self.n.fetch_add(k, Ordering::AcqRel) + k;
        if n >= self.target.load(Ordering::Acquire) {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cv.notify_all();
        }
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.n.load(Ordering::Acquire)
    }

    /// Blocks until the count reaches `target`; panics after 30 s (messages were lost).
    pub fn wait_for(&self, target: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.target.store(target, Ordering::Release);
        while self.get() < target {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "messages lost: {} of {target}", self.get());
            g = self
                .cv
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.target.store(u64::MAX, Ordering::Release);
    }
}
