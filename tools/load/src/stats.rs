//! Counters and latency histograms, and the events that carry them from the
//! client threads to the main thread.
//!
//! Each client thread counts into its own [`Counters`] and histogram with no
//! sharing; about twice a second it ships what it has as a [`Delta`] over a
//! channel and starts afresh, and the main thread adds the deltas into
//! [`Totals`] (for the per-second progress line and the final report).

use hdrhistogram::Histogram;

/// Highest latency the histograms record exactly, in µs (60 s); larger
/// values are recorded as this.
pub const HIST_MAX_US: u64 = 60_000_000;

/// An empty latency histogram (µs, 3 significant digits).
pub fn new_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).map_err(|e| format!("histogram: {e}"))
}

/// Transaction counters. All but `conn_errors` and `answered_all` count only
/// measured transactions (those intended after the warmup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests sent (or due to be sent, in open loop).
    pub sent: u64,
    /// Answered with 200 OK in time.
    pub completed: u64,
    /// Never got a final answer (counted at the end of the run).
    pub lost: u64,
    /// No final answer within `--timeout` (lost, or answered late).
    pub timeouts: u64,
    /// A second final answer to a finished transaction.
    pub duplicates: u64,
    /// A response matching no transaction, or a final status other than 200.
    pub mismatched: u64,
    /// Connections that failed: refused, reset, closed by the peer, framing error.
    pub conn_errors: u64,
    /// Final answers of all transactions, warmup included (progress rate).
    pub answered_all: u64,
}

impl Counters {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Counters) {
        self.sent += o.sent;
        self.completed += o.completed;
        self.lost += o.lost;
        self.timeouts += o.timeouts;
        self.duplicates += o.duplicates;
        self.mismatched += o.mismatched;
        self.conn_errors += o.conn_errors;
        self.answered_all += o.answered_all;
    }

    /// Sum of everything that makes a run fail.
    pub fn errors(&self) -> u64 {
        self.lost + self.timeouts + self.duplicates + self.mismatched + self.conn_errors
    }
}

/// What a client thread ships to the main thread.
#[derive(Debug, Clone)]
pub struct Delta {
    /// Counts since the previous delta.
    pub counters: Counters,
    /// Latencies (µs) since the previous delta.
    pub hist: Histogram<u64>,
    /// Nanoseconds from the run start to the thread's latest measured
    /// activity (last measured answer, or when it stopped sending).
    pub end_ns: u64,
}

/// Messages from client threads to the main thread.
#[derive(Debug)]
pub enum Event {
    /// Connections are up; waiting for the start signal.
    Ready,
    /// Setup failed (e.g. connect refused); the thread has exited.
    Failed(String),
    /// Periodic delta.
    Stats(Box<Delta>),
    /// Last delta; the thread has finished.
    Done(Box<Delta>),
}

/// Sum of all deltas so far.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Summed counters.
    pub counters: Counters,
    /// Merged latencies (µs).
    pub hist: Histogram<u64>,
    /// Latest `end_ns` of any thread.
    pub end_ns: u64,
}

impl Totals {
    /// Empty totals.
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            counters: Counters::default(),
            hist: new_histogram()?,
            end_ns: 0,
        })
    }

    /// Adds a delta.
    pub fn merge(&mut self, d: &Delta) {
        self.counters.add(&d.counters);
        // Same bounds everywhere, so adding cannot fail; saturate if it did.
        if self.hist.add(&d.hist).is_err() {
            for v in d.hist.iter_recorded() {
                self.hist
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.end_ns = self.end_ns.max(d.end_ns);
    }
}

/// Splits `total` into `parts` shares that differ by at most one; share `i`.
pub fn share(total: u64, parts: usize, i: usize) -> u64 {
    let parts = parts.max(1) as u64;
    let i = i as u64;
    total / parts + u64::from(i < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (t, p) in [(10u64, 3usize), (2, 5), (0, 2), (7, 1)] {
            let sum: u64 = (0..p).map(|i| share(t, p, i)).sum();
            assert_eq!(sum, t);
        }
    }

    #[test]
    fn merge_adds_counters_and_latencies() {
        let mut tot = Totals::new().unwrap();
        let mut h = new_histogram().unwrap();
        h.saturating_record(100);
        h.saturating_record(HIST_MAX_US * 10);
        let d = Delta {
            counters: Counters {
                sent: 2,
                completed: 2,
                ..Counters::default()
            },
            hist: h,
            end_ns: 5,
        };
        tot.merge(&d);
        tot.merge(&d);
        assert_eq!(tot.counters.sent, 4);
        assert_eq!(tot.hist.len(), 4);
        assert!(tot.hist.max() >= HIST_MAX_US / 2);
        assert_eq!(tot.end_ns, 5);
        assert_eq!(tot.counters.errors(), 0);
    }
}
