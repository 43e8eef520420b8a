//! The per-thread fd cache (`tcp_fd_cache`): connections this thread sent on recently, so the
//! hot send path skips the table's lock.
//!
//! Kamailio caches file descriptors passed to each worker process. Threads share the table, so
//! here the cache holds `Weak` references: an entry never keeps a closed connection's fd open,
//! and it is valid only while the connection is alive, has the cached id (generation check) and
//! is not closing. One cache per (thread, runtime), bounded to [`CACHE_MAX`] entries per map.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use crate::config::{Config, ConfigHandle, SnapshotCache};
use crate::conn::{ConId, Conn};
use crate::conn_table::LocalMatch;

/// Entries per map before the cache is cleared (cheap, and a busy thread refills it at once).
pub(crate) const CACHE_MAX: usize = 1024;
/// Runtimes a thread keeps caches for (tests start many in one process).
const RUNTIMES_MAX: usize = 8;

pub(crate) struct ThreadCache {
    pub cfg: SnapshotCache,
    by_id: HashMap<ConId, Weak<Conn>>,
    by_addr: HashMap<SocketAddr, Weak<Conn>>,
}

fn usable(c: &Arc<Conn>) -> bool {
    c.close_reason().is_none()
}

impl ThreadCache {
    fn new(cfg: &ConfigHandle) -> ThreadCache {
        ThreadCache {
            cfg: SnapshotCache::new(cfg),
            by_id: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }

    pub fn config(&mut self) -> Arc<Config> {
        self.cfg.get().clone()
    }

    pub fn by_id(&mut self, id: ConId) -> Option<Arc<Conn>> {
        let c = self
            .by_id
            .get(&id)?
            .upgrade()
            .filter(|c| c.id == id && usable(c));
        if c.is_none() {
            self.by_id.remove(&id);
        }
        c
    }

    /// The cached connection to `addr`, if it is still usable and `local` accepts its local side.
    pub fn by_addr(&mut self, addr: &SocketAddr, local: LocalMatch) -> Option<Arc<Conn>> {
        let c = self
            .by_addr
            .get(addr)?
            .upgrade()
            .filter(|c| usable(c) && local.accepts(c));
        if c.is_none() {
            self.by_addr.remove(addr);
        }
        c
    }

    pub fn remember(&mut self, addr: Option<SocketAddr>, c: &Arc<Conn>) {
        if self.by_id.len() >= CACHE_MAX {
            self.by_id.clear();
        }
        self.by_id.insert(c.id, Arc::downgrade(c));
        if let Some(a) = addr {
            if self.by_addr.len() >= CACHE_MAX {
                self.by_addr.clear();
            }
            self.by_addr.insert(a, Arc::downgrade(c));
        }
    }
}

thread_local! {
    static CACHES: RefCell<Vec<(u64, ThreadCache)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's cache for runtime `rt` (created on first use).
pub(crate) fn with_cache<R>(
    rt: u64,
    cfg: &ConfigHandle,
    f: impl FnOnce(&mut ThreadCache) -> R,
) -> R {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let pos = match caches.iter().position(|(id, _)| *id == rt) {
            Some(p) => p,
            None => {
                if caches.len() >= RUNTIMES_MAX {
                    caches.remove(0);
                }
                caches.push((rt, ThreadCache::new(cfg)));
                caches.len() - 1
            }
        };
        f(&mut caches[pos].1)
    })
}
