//! Waiting on a condition with a deadline (never a sleep-and-hope).

use std::time::{Duration, Instant};

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often [`wait_for`] re-checks its condition.
const POLL_EVERY: Duration = Duration::from_millis(2);

/// A point in time a wait gives up at.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// Time left (zero once passed).
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// True once the deadline is reached.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Polls `cond` until it holds; panics with `what` if it does not within `timeout`.
/// The condition is checked once more at the deadline, so a slow last check still counts.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Deadline::after(timeout);
    loop {
        if cond() {
            return;
        }
        assert!(
            !deadline.passed(),
            "timed out after {timeout:?} waiting for: {what}"
        );
        std::thread::sleep(POLL_EVERY.min(deadline.left()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_once_the_condition_holds() {
        let mut n = 0;
        wait_for("three checks", WAIT, || {
            n += 1;
            n == 3
        });
        assert_eq!(n, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 20ms waiting for: never")]
    fn panics_at_the_deadline() {
        wait_for("never", Duration::from_millis(20), || false);
    }

    #[test]
    fn deadline_counts_down() {
        let d = Deadline::after(Duration::from_secs(60));
        assert!(!d.passed() && d.left() > Duration::from_secs(50));
        let d = Deadline::after(Duration::ZERO);
        assert!(d.passed() && d.left().is_zero());
    }
}
