//! `Shared`: the state TCP main, the readers, the send path and every `Transport` see — the
//! connection table, the live config, counters, the read-buffer pool and the ways to reach
//! the threads. It holds no application handler: TCP main and the readers get that at start.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use sipwire_frame::BufPool;
use sipwire_poll::Waker;

use crate::config::ConfigHandle;
use crate::conn_table::Table;
use crate::handoff::{MainMsg, ReaderMsg};
use crate::latency::Histogram;
use crate::stats::Stats;

/// A reader thread as TCP main sees it.
pub(crate) struct ReaderHandle {
    pub tx: Sender<ReaderMsg>,
    pub waker: Waker,
    /// Connections it owns now (for least-busy balancing).
    pub load: AtomicUsize,
}

/// State shared by TCP main, the readers and every `Transport`.
pub(crate) struct Shared {
    pub table: Table,
    pub config: ConfigHandle,
    pub stats: Stats,
    /// Outbound connect times, from the connect's start to the connection being up (every
    /// completed connect: blocking, at once, or finished by TCP main).
    pub connect_time: Histogram,
    /// TCP closes by reason.
    pub closes: crate::close_counts::CloseCounts,
    pub pool: BufPool,
    pub main_tx: Sender<MainMsg>,
    pub main_waker: Waker,
    pub readers: Vec<ReaderHandle>,
    pub epoch: Instant,
    pub stopping: AtomicBool,
    pub listen_addrs: Vec<SocketAddr>,
    /// Process-unique id of this runtime (keys the per-thread fd caches).
    pub id: u64,
    /// Lock stripes that make concurrent sends to one unconnected destination open one
    /// connection (see `send::connect`).
    pub connect_locks: [parking_lot::Mutex<()>; 16],
    /// The SCTP endpoints (`listen=sctp:`), by index (an association's `ConId` names it).
    pub sctp: Vec<Arc<sipwire_sctp::Endpoint>>,
}

impl Shared {
    /// Milliseconds since the runtime started (the clock of `last_activity`).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends a message to TCP main and wakes it.
    pub fn tell_main(&self, msg: MainMsg) {
        if self.main_tx.send(msg).is_ok() {
            if let Err(e) = self.main_waker.wake() {
                log::error!("cannot wake TCP main: {e}");
            }
        }
    }
}
