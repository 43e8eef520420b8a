//! A hierarchical timer wheel for TCP main's timers (connection lifetime, `tcp_wait_data`,
//! connect and send timeouts).
//!
//! Why a wheel: TCP main may hold tens of thousands of idle connections, each with a deadline.
//! Scanning them every tick would make the timer cost grow with the connection count. Here
//! inserting and cancelling are O(1), and advancing the clock costs O(timers that expire) plus an
//! amortised O(1) per timer for moving it down a level ("cascading"), independent of how many
//! timers are armed.
//!
//! Layout: [`LEVELS`] levels of [`SLOTS`] slots. Level 0 slots are one tick wide, level 1 slots
//! are `SLOTS` ticks wide, and so on. A timer sits in the level whose span covers its distance
//! from "now"; when the clock reaches a higher-level slot, its timers move down. Timers further
//! away than the wheel's span are parked in the last slot of the top level and re-filed when they
//! are reached, so any deadline is accepted.
//!
//! Every slot is an intrusive doubly linked list threaded through one slab of entries, so
//! [`TimerWheel::cancel`] unlinks in O(1) and a cancelled or fired timer leaves nothing behind.
//! Handles carry a generation so a stale handle never cancels a newer timer in a reused entry.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Slots per level (a power of two).
pub const SLOTS: usize = 64;
/// Number of levels; with a 10 ms tick the wheel spans 10 ms × 64⁴ ≈ 46 hours.
pub const LEVELS: usize = 4;
const SLOT_BITS: u32 = SLOTS.trailing_zeros();
const NIL: u32 = u32::MAX;

/// Identifies an armed timer; returned by [`TimerWheel::insert`], taken by
/// [`TimerWheel::cancel`]. Stale handles (timer fired or cancelled) are harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerHandle {
    index: u32,
    /// Never zero, so `Option<TimerHandle>` is 8 bytes (TCP main keeps six per connection).
    generation: NonZeroU32,
}

#[derive(Debug)]
struct Entry<T> {
    /// Absolute deadline in ticks.
    deadline: u64,
    generation: NonZeroU32,
    prev: u32,
    next: u32,
    /// (level, slot) the entry is linked in; `None` when free.
    slot: Option<(u8, u8)>,
    value: Option<T>,
}

/// A hierarchical timer wheel holding values of type `T` (for the runtime: a conid and a timer
/// kind). Single-threaded: it belongs to TCP main.
#[derive(Debug)]
pub struct TimerWheel<T> {
    tick: Duration,
    origin: Instant,
    /// Current time in ticks: every deadline `<= now` has fired.
    now: u64,
    heads: Vec<u32>,
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    armed: usize,
}

impl<T> TimerWheel<T> {
    /// A wheel whose resolution is `tick` (rounded up to 1 ms at least), starting at `origin`.
    pub fn new(tick: Duration, origin: Instant) -> Self {
        let tick = tick.max(Duration::from_millis(1));
        TimerWheel {
            tick,
            origin,
            now: 0,
            heads: vec![NIL; SLOTS * LEVELS],
            entries: Vec::new(),
            free: Vec::new(),
            armed: 0,
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.armed
    }

    /// True when no timer is armed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// The tick an instant falls in, rounded up so a timer never fires early.
    fn ticks_at(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        let t = self.tick.as_nanos().max(1);
        let n = d.as_nanos().div_ceil(t);
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Arms a timer that fires at `deadline` (never before it; at most one tick after it once
    /// [`advance`](Self::advance) is called). A deadline in the past fires on the next advance.
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerHandle {
        let deadline = self.ticks_at(deadline).max(self.now + 1);
        let index = match self.free.pop() {
            Some(i) => {
                let e = &mut self.entries[i as usize];
                e.deadline = deadline;
                e.value = Some(value);
                i
            }
            None => {
                let i = u32::try_from(self.entries.len()).unwrap_or(NIL);
                assert!(i != NIL, "timer wheel is full (2^32 - 1 timers)");
                self.entries.push(Entry {
                    deadline,
                    generation: NonZeroU32::MIN,
                    prev: NIL,
                    next: NIL,
                    slot: None,
                    value: Some(value),
                });
                i
            }
        };
        self.file(index);
        self.armed += 1;
        TimerHandle {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Cancels a timer and returns its value, or `None` when the handle is stale.
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        let e = self.entries.get(handle.index as usize)?;
        if e.generation != handle.generation || e.slot.is_none() {
            return None;
        }
        self.unlink(handle.index);
        Some(self.release(handle.index))
    }

    /// The time until the earliest deadline is certain to have been reached, for a poller
    /// timeout: `None` when nothing is armed. It may be earlier than the real next deadline
    /// (a higher-level slot only knows its span), never later.
    pub fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.armed == 0 {
            return None;
        }
        let mut best: Option<u64> = None;
        for level in 0..LEVELS {
            let shift = SLOT_BITS * level as u32;
            let cur = self.now >> shift;
            // Offset 0 at level >= 1 is the window one full turn ahead, so scan 1..=SLOTS.
            for off in 1..=SLOTS as u64 {
                let abs = cur + off;
                let slot = (abs as usize) & (SLOTS - 1);
                if self.heads[level * SLOTS + slot] != NIL {
                    // The slot starts at tick abs << shift; level 0 slots are exact.
                    let start = if level == 0 { abs } else { abs << shift };
                    let at = start.max(self.now + 1);
                    best = Some(best.map_or(at, |b| b.min(at)));
                    break;
                }
            }
        }
        let at_tick = best?;
        let nanos = self.tick.as_nanos().saturating_mul(u128::from(at_tick));
        let at = self.origin + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        Some(at.saturating_duration_since(now))
    }

    /// Moves the clock to `now` and hands every expired timer's value to `fire`, in no
    /// particular order within one tick. `fire` may not touch the wheel; collect and re-arm after.
    pub fn advance(&mut self, now: Instant, mut fire: impl FnMut(T)) {
        let target = self.ticks_at(now).saturating_sub(1).max(self.now);
        while self.now < target {
            self.now += 1;
            let t = self.now;
            // Cascade higher levels whose slot boundary we just crossed.
            for level in 1..LEVELS {
                let shift = SLOT_BITS * level as u32;
                if t & ((1u64 << shift) - 1) != 0 {
                    break;
                }
                let slot = ((t >> shift) as usize) & (SLOTS - 1);
                self.refile_slot(level, slot);
            }
            let slot = (t as usize) & (SLOTS - 1);
            let mut i = std::mem::replace(&mut self.heads[slot], NIL);
            while i != NIL {
                let next = self.entries[i as usize].next;
                self.entries[i as usize].slot = None;
                if self.entries[i as usize].deadline <= t {
                    fire(self.release(i));
                } else {
                    // A parked far-future timer: file it again from here.
                    self.file(i);
                }
                i = next;
            }
            if self.armed == 0 {
                self.now = target;
            }
        }
    }

    fn refile_slot(&mut self, level: usize, slot: usize) {
        let mut i = std::mem::replace(&mut self.heads[level * SLOTS + slot], NIL);
        while i != NIL {
            let next = self.entries[i as usize].next;
            self.entries[i as usize].slot = None;
            self.file(i);
            i = next;
        }
    }

    /// Links entry `i` into the slot its deadline belongs to.
    fn file(&mut self, i: u32) {
        // A deadline already reached (cascaded at its own tick) goes to the level-0 slot of
        // `now`, which `advance` processes right after cascading.
        let deadline = self.entries[i as usize].deadline.max(self.now);
        let delta = deadline - self.now;
        let mut level = 0;
        while level + 1 < LEVELS && delta >= (1u64 << (SLOT_BITS * (level as u32 + 1))) {
            level += 1;
        }
        let shift = SLOT_BITS * level as u32;
        let span_end = 1u64 << (SLOT_BITS * (level as u32 + 1));
        let slot = if delta >= span_end {
            // Beyond the wheel: park in the top level's furthest slot and re-file later.
            (((self.now >> shift) + SLOTS as u64 - 1) as usize) & (SLOTS - 1)
        } else {
            ((deadline >> shift) as usize) & (SLOTS - 1)
        };
        let head = &mut self.heads[level * SLOTS + slot];
        let old = *head;
        *head = i;
        let e = &mut self.entries[i as usize];
        e.prev = NIL;
        e.next = old;
        e.slot = Some((level as u8, slot as u8));
        if old != NIL {
            self.entries[old as usize].prev = i;
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, slot) = {
            let e = &self.entries[i as usize];
            (e.prev, e.next, e.slot)
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else if let Some((level, slot)) = slot {
            self.heads[level as usize * SLOTS + slot as usize] = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        self.entries[i as usize].slot = None;
    }

    fn release(&mut self, i: u32) -> T {
        let e = &mut self.entries[i as usize];
        e.generation = e.generation.checked_add(1).unwrap_or(NonZeroU32::MIN);
        e.prev = NIL;
        e.next = NIL;
        e.slot = None;
        self.free.push(i);
        self.armed -= 1;
        // Entries that reach here were armed, so they hold a value.
        e.value
            .take()
            .unwrap_or_else(|| unreachable!("armed timer without a value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_at_or_after_deadline_never_before() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), t0);
        w.insert(t0 + ms(25), 1u32);
        let mut got = Vec::new();
        w.advance(t0 + ms(20), |v| got.push(v));
        assert!(got.is_empty());
        w.advance(t0 + ms(40), |v| got.push(v));
        assert_eq!(got, vec![1]);
        assert!(w.is_empty());
    }

    #[test]
    fn far_timers_cascade_and_fire_in_order_of_deadline_windows() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(1), t0);
        // Spread over all levels, including beyond the wheel's span (64^4 ms ≈ 4.6 h).
        let deltas = [
            1u64, 63, 64, 65, 4095, 4096, 300_000, 20_000_000, 40_000_000,
        ];
        for (i, d) in deltas.iter().enumerate() {
            w.insert(t0 + ms(*d), i);
        }
        assert_eq!(w.len(), deltas.len());
        for (i, d) in deltas.iter().enumerate() {
            let mut got = Vec::new();
            w.advance(t0 + ms(*d - 1), |v| got.push(v));
            assert!(got.is_empty(), "timer {i} fired early");
            w.advance(t0 + ms(*d + 1), |v| got.push(v));
            assert_eq!(got, vec![i], "timer {i} at {d} ms");
        }
        assert!(w.is_empty());
    }

    #[test]
    fn cancel_removes_and_stale_handles_are_harmless() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), t0);
        let a = w.insert(t0 + ms(100), "a");
        let b = w.insert(t0 + ms(100), "b");
        let c = w.insert(t0 + ms(100_000), "c");
        assert_eq!(w.cancel(b), Some("b"));
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(c), Some("c"));
        assert_eq!(w.len(), 1);
        // Reuse b's entry: the old handle must not cancel the new timer.
        let d = w.insert(t0 + ms(50), "d");
        assert_eq!(w.cancel(b), None);
        let mut got = Vec::new();
        w.advance(t0 + ms(200), |v| got.push(v));
        got.sort_unstable();
        assert_eq!(got, vec!["a", "d"]);
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(d), None);
        assert!(w.is_empty());
    }

    #[test]
    fn next_timeout_is_never_late() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), t0);
        assert_eq!(w.next_timeout(t0), None);
        w.insert(t0 + ms(5_000), ());
        let to = w.next_timeout(t0).unwrap();
        assert!(to <= ms(5_000), "{to:?}");
        w.insert(t0 + ms(30), ());
        let to = w.next_timeout(t0).unwrap();
        assert!(to <= ms(30) && to >= ms(20), "{to:?}");
    }

    #[test]
    fn many_timers_fire_exactly_once() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(1), t0);
        let mut seed = 0x2545_f491_u64;
        let mut expect = Vec::new();
        for i in 0..10_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = seed % 600_000;
            let h = w.insert(t0 + ms(d), i);
            if i % 3 == 0 {
                assert_eq!(w.cancel(h), Some(i));
            } else {
                expect.push(i);
            }
        }
        let mut got = Vec::new();
        let mut t = 0;
        while t <= 600_000 {
            t += 997;
            w.advance(t0 + ms(t), |v| got.push(v));
        }
        got.sort_unstable();
        assert_eq!(got, expect);
        assert!(w.is_empty());
    }
}
