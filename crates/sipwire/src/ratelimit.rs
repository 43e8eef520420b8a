//! Log rate limiting: a flood of bad connections must not fill the disk. A [`RateLimit`] lets
//! at most `per_sec` lines through per second (lock-free, shareable as a `static`); what it
//! holds back is counted and reported on the next line it lets through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds on a process-wide monotonic clock (the limiters' clock).
pub(crate) fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let ms = START.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// At most `per_sec` log lines per second of one kind.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_sec: u32,
    /// The current second (high 32 bits) and lines let through in it (low 32 bits).
    window: AtomicU64,
    /// Lines held back since the last one let through.
    suppressed: AtomicU64,
}

impl RateLimit {
    pub const fn new(per_sec: u32) -> RateLimit {
        RateLimit {
            per_sec,
            window: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// At `now_ms` (any monotonic millisecond clock): `Some(k)` to log the line, `k` lines
    /// having been held back before it; `None` to hold this one back.
    pub fn check(&self, now_ms: u64) -> Option<u64> {
        let sec = (now_ms / 1000) & u64::from(u32::MAX);
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (w, n) = (cur >> 32, cur & u64::from(u32::MAX));
            let next = if w != sec {
                sec << 32 | 1
            } else if n < u64::from(self.per_sec) {
                cur + 1
            } else {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(v) => cur = v,
            }
        }
    }
}

/// Logs at `level` through a [`RateLimit`]: `limited_log!(LIMIT, Warn, "fmt", args)`; a
/// line after held-back ones says how many were suppressed.
macro_rules! limited_log {
    ($limit:expr, $level:ident, $($arg:tt)+) => {
        if log::log_enabled!(log::Level::$level) {
            if let Some(k) = $limit.check($crate::ratelimit::mono_ms()) {
                if k > 0 {
                    log::log!(log::Level::$level, "{} ({k} similar lines suppressed)", format_args!($($arg)+));
                } else {
                    log::log!(log::Level::$level, $($arg)+);
                }
            }
        }
    };
}
pub(crate) use limited_log;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_n_through_per_second_and_counts_the_rest() {
        let l = RateLimit::new(3);
        assert_eq!(l.check(1000), Some(0));
        assert_eq!(l.check(1100), Some(0));
        assert_eq!(l.check(1200), Some(0));
        assert_eq!(l.check(1300), None);
        assert_eq!(l.check(1999), None);
        assert_eq!(
            l.check(2000),
            Some(2),
            "the next second reports what was held back"
        );
        assert_eq!(l.check(2001), Some(0));
    }

    #[test]
    fn shared_between_threads_never_exceeds_the_budget() {
        static L: RateLimit = RateLimit::new(10);
        let passed: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).filter(|_| L.check(5000).is_some()).count()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0) as u64).sum()
        });
        assert_eq!(passed, 10);
        assert_eq!(L.suppressed.load(Ordering::Relaxed), 3990);
    }
}
