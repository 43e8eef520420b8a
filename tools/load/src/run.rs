//! What every measuring thread (client or connect-rate) is given the same
//! way: identity, target, limits, request mix and the stop flag, plus the
//! time helpers both use.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::Mix;
use crate::msg::RequestBuilder;
use crate::sys;

/// The settings a client thread and a connect-rate thread share.
#[derive(Debug, Clone)]
pub struct RunCommon {
    /// Thread index (also in every id this thread generates).
    pub thread: usize,
    /// Where to connect.
    pub target: SocketAddr,
    /// Measured transactions this thread does, if limited.
    pub count: Option<u64>,
    /// Transactions intended before this are not measured.
    pub warmup: Duration,
    /// Measured run time after the warmup, if limited.
    pub duration: Option<Duration>,
    /// Transaction timeout (connect-rate: also the connect timeout).
    pub timeout: Duration,
    /// Request mix.
    pub mix: Mix,
    /// Builds requests and recognises answers.
    pub builder: RequestBuilder,
    /// Set by the main thread to stop early.
    pub stop: Arc<AtomicBool>,
}

impl RunCommon {
    /// The warmup end and the run end (if limited), ns from the run start.
    pub fn window_ns(&self) -> (u64, Option<u64>) {
        let warmup_ns = to_ns(self.warmup);
        let end_ns = self.duration.map(|d| warmup_ns.saturating_add(to_ns(d)));
        (warmup_ns, end_ns)
    }

    /// True once `measured_sent` reached this thread's share of `--count`.
    pub fn count_reached(&self, measured_sent: u64) -> bool {
        self.count.is_some_and(|c| measured_sent >= c)
    }

    /// True if the main thread or a signal asked to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || sys::interrupted()
    }
}

/// Nanoseconds since `start`, saturating.
pub fn ns_since(start: Instant) -> u64 {
    to_ns(start.elapsed())
}

/// A duration in nanoseconds, saturating.
pub fn to_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
