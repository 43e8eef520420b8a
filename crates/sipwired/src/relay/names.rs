//! The name table: the only host names sipwired resolves are the configured ones (the domain
//! entries of `--relay-allow`, the `--forward` host). They are resolved before serving and
//! again by a background thread every `--resolve-interval`; each refresh publishes a new
//! immutable snapshot (`RwLock<Arc<..>>`, the lock held only for the pointer swap). Readers
//! look names up in the snapshot: no DNS query, and nothing a client sends can cause one.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::RwLock;

use super::Resolve;

/// The function that resolves one name (the system resolver in the daemon, a fake in tests).
pub type Lookup = dyn Fn(&str) -> Option<IpAddr> + Send + Sync;

/// The system resolver (`getaddrinfo` through `ToSocketAddrs`), first address wins. It
/// blocks: only the start and the refresh thread call it.
pub fn system_lookup(host: &str) -> Option<IpAddr> {
    (host, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// One configured name and its address (`None`: never resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, lower case.
    pub name: String,
    /// Its address.
    pub ip: Option<IpAddr>,
}

struct Shared {
    lookup: Box<Lookup>,
    table: RwLock<Arc<[Entry]>>,
    refreshes: AtomicU64,
}

/// The configured names and their current addresses; cheap to clone (one shared table).
#[derive(Clone)]
pub struct NameTable(Arc<Shared>);

impl fmt::Debug for NameTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NameTable")
            .field("entries", &self.entries())
            .finish_non_exhaustive()
    }
}

impl NameTable {
    /// A table of `names` (case-insensitive, duplicates dropped), all unresolved until the
    /// first [`NameTable::refresh`]; `lookup` resolves one name.
    pub fn new<I, S>(
        names: I,
        lookup: impl Fn(&str) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries: Vec<Entry> = Vec::new();
        for n in names {
            let name = n.as_ref().to_ascii_lowercase();
            if !entries.iter().any(|e| e.name == name) {
                entries.push(Entry { name, ip: None });
            }
        }
        NameTable(Arc::new(Shared {
            lookup: Box::new(lookup),
            table: RwLock::new(entries.into()),
            refreshes: AtomicU64::new(0),
        }))
    }

    /// Resolves every name (outside the lock) and publishes the new table in one swap. A name
    /// that does not resolve keeps its last address. Returns the names without an address.
    pub fn refresh(&self) -> Vec<String> {
        let old = self.snapshot();
        let new: Vec<Entry> = old
            .iter()
            .map(|e| {
                let ip = (self.0.lookup)(&e.name);
                if ip.is_none() && e.ip.is_some() {
                    log::warn!("{}: does not resolve now; keeping {:?}", e.name, e.ip);
                }
                Entry {
                    name: e.name.clone(),
                    ip: ip.or(e.ip),
                }
            })
            .collect();
        let unresolved = new
            .iter()
            .filter(|e| e.ip.is_none())
            .map(|e| e.name.clone())
            .collect();
        *self.0.table.write() = new.into();
        self.0.refreshes.fetch_add(1, Ordering::Relaxed);
        unresolved
    }

    /// The current table.
    pub fn snapshot(&self) -> Arc<[Entry]> {
        self.0.table.read().clone()
    }

    /// The current table, copied (for reports).
    pub fn entries(&self) -> Vec<Entry> {
        self.snapshot().to_vec()
    }

    /// Number of refreshes done.
    pub fn refreshes(&self) -> u64 {
        self.0.refreshes.load(Ordering::Relaxed)
    }

    /// True when there are no names.
    pub fn is_empty(&self) -> bool {
        self.0.table.read().is_empty()
    }

    /// The address of `host` (any case, no brackets), if it is a configured name that
    /// resolved. No lookup, no allocation.
    pub fn get(&self, host: &str) -> Option<IpAddr> {
        self.0
            .table
            .read()
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(host))
            .and_then(|e| e.ip)
    }

    /// Starts the thread that refreshes the table every `every`; it stops when the returned
    /// [`Refresher`] is dropped (after the lookup in progress, if any).
    pub fn spawn_refresher(&self, every: Duration) -> std::io::Result<Refresher> {
        let (stop, wait) = mpsc::channel::<()>();
        let table = self.clone();
        let thread = std::thread::Builder::new()
            .name("sipwired-resolve".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(every) {
                    let unresolved = table.refresh();
                    if !unresolved.is_empty() {
                        log::warn!("names not resolved: {}", unresolved.join(","));
                    }
                }
            })?;
        Ok(Refresher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Resolve for NameTable {
    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.get(host).map(|ip| SocketAddr::new(ip, port))
    }
}

/// The refresh thread; dropping it stops the thread without waiting for it.
#[derive(Debug)]
pub struct Refresher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Stops the thread and waits for it (for a lookup in progress too).
    pub fn join(mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.stop.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    /// A lookup answering from a shared map and counting its calls.
    fn counting(
        map: Arc<Mutex<Vec<(&'static str, IpAddr)>>>,
    ) -> (
        Arc<AtomicUsize>,
        impl Fn(&str) -> Option<IpAddr> + Send + Sync,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let f = move |h: &str| {
            c.fetch_add(1, Ordering::SeqCst);
            let m = map.lock().unwrap();
            m.iter().find(|(n, _)| *n == h).map(|(_, ip)| *ip)
        };
        (calls, f)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lookups_happen_only_on_refresh_and_only_for_configured_names() {
        let map = Arc::new(Mutex::new(vec![("pbx.example.com", ip("10.0.0.1"))]));
        let (calls, f) = counting(map);
        let t = NameTable::new(["PBX.example.com", "pbx.example.com", "gw.example.net"], f);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no lookup before refresh");
        assert_eq!(t.get("pbx.example.com"), None, "unresolved until refresh");
        assert_eq!(t.refresh(), ["gw.example.net"]);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one per distinct name");
        assert_eq!(
            t.resolve("Pbx.Example.COM", 5080),
            Some(SocketAddr::new(ip("10.0.0.1"), 5080))
        );
        assert_eq!(t.get("gw.example.net"), None);
        // Client-supplied names: not in the table, no lookup.
        for h in ["evil.example.com", "localhost", "", "pbx.example.com.evil"] {
            assert_eq!(t.resolve(h, 5060), None, "{h}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(t.refreshes(), 1);
    }

    #[test]
    fn refresh_swaps_the_table_and_keeps_the_last_good_address() {
        let map = Arc::new(Mutex::new(vec![("a.example", ip("10.0.0.1"))]));
        let (_, f) = counting(map.clone());
        let t = NameTable::new(["a.example", "b.example"], f);
        t.refresh();
        let before = t.snapshot();
        assert_eq!(t.get("a.example"), Some(ip("10.0.0.1")));
        *map.lock().unwrap() = vec![("b.example", ip("10.0.0.2"))];
        assert!(t.refresh().is_empty());
        // The old snapshot is untouched; the new one is a different table.
        assert_eq!(before[0].ip, Some(ip("10.0.0.1")));
        assert_eq!(before[1].ip, None);
        assert!(!Arc::ptr_eq(&before, &t.snapshot()));
        // a.example failed this time: last address kept. b.example is new.
        assert_eq!(t.get("a.example"), Some(ip("10.0.0.1")));
        assert_eq!(t.get("b.example"), Some(ip("10.0.0.2")));
        *map.lock().unwrap() = vec![("a.example", ip("10.0.0.3"))];
        t.refresh();
        assert_eq!(t.get("a.example"), Some(ip("10.0.0.3")));
    }

    #[test]
    fn readers_see_a_whole_table_while_refreshing() {
        // Both names always resolve to the same generation: a reader never sees a mix.
        let generation = Arc::new(AtomicUsize::new(1));
        let g = generation.clone();
        let t = NameTable::new(["a.example", "b.example"], move |_| {
            let n = g.load(Ordering::SeqCst) as u8;
            Some(IpAddr::from([10, 0, 0, n]))
        });
        t.refresh();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (t, done) = (t.clone(), done.clone());
            std::thread::spawn(move || {
                let mut generations = std::collections::HashSet::new();
                for _ in 0..20_000 {
                    let s = t.snapshot();
                    assert_eq!(s[0].ip, s[1].ip, "a torn table");
                    generations.insert(s[0].ip);
                }
                done.store(true, Ordering::SeqCst);
                generations.len()
            })
        };
        let mut n = 1;
        while !done.load(Ordering::SeqCst) {
            n = n % 250 + 1;
            generation.store(n, Ordering::SeqCst);
            t.refresh();
        }
        assert!(reader.join().unwrap() >= 1);
    }

    #[test]
    fn the_refresher_runs_and_stops() {
        let t = NameTable::new(["a.example"], |_| Some(IpAddr::from([10, 0, 0, 9])));
        let r = t.spawn_refresher(Duration::from_millis(5)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while t.refreshes() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        r.join();
        assert!(t.refreshes() >= 2);
        assert_eq!(t.get("a.example"), Some(IpAddr::from([10, 0, 0, 9])));
        let n = t.refreshes();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(t.refreshes(), n, "stopped");
    }
}
