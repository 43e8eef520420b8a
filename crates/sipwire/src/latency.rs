//! Latency histograms for hot paths: a fixed set of bucket counters (relaxed `AtomicU64`s)
//! and a sum, so an observation is a bucket search over a few bounds and two atomic adds —
//! no lock, no allocation. The runtime keeps one for connect times
//! ([`Transport::connect_time`](crate::Transport::connect_time)); sipwired keeps one for
//! its relay time. [`Histogram::snapshot`] reads them for an exporter (Prometheus' `le`
//! buckets: a value equal to a bound counts in that bound's bucket).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds (ns) of the connect-time buckets: 0.1 ms to 10 s, 1-2.5-5 steps.
pub const CONNECT_TIME_BOUNDS_NS: &[u64] = &[
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Upper bounds (ns) of the relay-time buckets: 10 µs to 1 s, 1-2.5-5 steps.
pub const RELAY_TIME_BOUNDS_NS: &[u64] = &[
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// A live histogram of durations: one counter per bucket (the last one above every bound)
/// and the sum of the observed nanoseconds. Every counter only grows.
#[derive(Debug)]
pub struct Histogram {
    /// Increasing upper bounds, in nanoseconds (shared with the snapshots).
    bounds_ns: Arc<[u64]>,
    /// `bounds_ns.len() + 1` counters, not cumulative.
    counts: Box<[AtomicU64]>,
    /// Sum of the observations, in nanoseconds (it would wrap after 584 years of them).
    sum_ns: AtomicU64,
}

impl Histogram {
    /// A histogram with these bucket bounds (nanoseconds; sorted and deduplicated here).
    pub fn new(bounds_ns: &[u64]) -> Histogram {
        let mut b = bounds_ns.to_vec();
        b.sort_unstable();
        b.dedup();
        Histogram {
            counts: (0..=b.len()).map(|_| AtomicU64::new(0)).collect(),
            bounds_ns: b.into(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Buckets for connect times ([`CONNECT_TIME_BOUNDS_NS`]).
    pub fn connect_time() -> Histogram {
        Histogram::new(CONNECT_TIME_BOUNDS_NS)
    }

    /// Buckets for relay times ([`RELAY_TIME_BOUNDS_NS`]).
    pub fn relay_time() -> Histogram {
        Histogram::new(RELAY_TIME_BOUNDS_NS)
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&self, d: Duration) {
        self.observe_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration given in nanoseconds.
    #[inline]
    pub fn observe_ns(&self, ns: u64) {
        let i = self.bounds_ns.partition_point(|&b| b < ns);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        // fetch_add wraps; a sum past 584 years of latency is not a concern worth a CAS loop.
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Reads the counters (each one atomically; the set is not one instant). The count is
    /// the sum of the buckets, so it always equals the `+Inf` bucket.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds_ns: self.bounds_ns.clone(),
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of a [`Histogram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// The bucket upper bounds, in nanoseconds, increasing.
    pub bounds_ns: Arc<[u64]>,
    /// Observations per bucket (not cumulative): `counts[i]` are those above
    /// `bounds_ns[i - 1]` and at most `bounds_ns[i]`; the last one those above every bound.
    pub counts: Vec<u64>,
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// (upper bound in seconds, observations in that bucket, not cumulative), the last
    /// bucket's bound being `f64::INFINITY`.
    pub fn buckets_seconds(&self) -> Vec<(f64, u64)> {
        self.bounds_ns
            .iter()
            .map(|&b| b as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().copied())
            .collect()
    }

    /// Cumulative counts per bound (Prometheus' `_bucket{le=...}`), the last one `+Inf`.
    pub fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0u64, |acc, &c| {
                *acc += c;
                Some(*acc)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_le_buckets() {
        let h = Histogram::new(&[10, 20, 30]);
        for ns in [0, 10, 11, 20, 25, 30, 31, 1_000] {
            h.observe_ns(ns);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![2, 2, 2, 2]);
        assert_eq!(s.cumulative(), vec![2, 4, 6, 8]);
        assert_eq!(s.count(), 8);
        assert_eq!(s.sum_ns, 1_127);
        let b = s.buckets_seconds();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0], (10e-9, 2));
        assert_eq!(b[3], (f64::INFINITY, 2));
    }

    #[test]
    fn durations_and_presets() {
        let h = Histogram::connect_time();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        h.observe(Duration::MAX);
        let s = h.snapshot();
        assert_eq!(s.counts.len(), CONNECT_TIME_BOUNDS_NS.len() + 1);
        assert_eq!(s.counts[0], 1, "0.1 ms is in the 0.1 ms bucket");
        assert_eq!(s.counts[5], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.counts[16], 2, "60 s and more are above every bound");
        let r = Histogram::relay_time().snapshot();
        assert_eq!(r.bounds_ns.first(), Some(&10_000));
        assert_eq!(r.bounds_ns.last(), Some(&1_000_000_000));
        assert_eq!(r.count(), 0);
        assert_eq!(r.sum_seconds(), 0.0);
    }

    #[test]
    fn unsorted_bounds_are_sorted() {
        let h = Histogram::new(&[30, 10, 10, 20]);
        h.observe_ns(15);
        let s = h.snapshot();
        assert_eq!(&s.bounds_ns[..], &[10, 20, 30]);
        assert_eq!(s.counts, vec![0, 1, 0, 0]);
    }

    #[test]
    fn concurrent_observations_all_count() {
        let h = std::sync::Arc::new(Histogram::relay_time());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.observe_ns(i * 1000 + t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(h.snapshot().count(), 40_000);
    }
}
