//! The connection table: conid → connection and peer address → connection.
//!
//! One `RwLock` guards both maps. Lookups (any thread, e.g. a send by conid) take the read
//! lock; inserts and removals (TCP main only) take the write lock. The hot send path avoids even
//! the read lock through each reader's fd cache (issue #5).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::conn::{ConId, Conn};

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    conn: Option<Arc<Conn>>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<Slot>,
    free: Vec<u32>,
    count: usize,
    by_addr: HashMap<SocketAddr, ConId>,
}

/// Every open connection, by id and by peer address.
#[derive(Debug, Default)]
pub(crate) struct Table {
    inner: RwLock<Inner>,
}

impl Table {
    /// Allocates an id, builds the connection with it and inserts it. `None` when the table
    /// cannot grow (2³² − 1 slots).
    pub fn insert(&self, build: impl FnOnce(ConId) -> Conn) -> Option<Arc<Conn>> {
        let mut t = self.inner.write();
        let index = match t.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(t.slots.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)?;
                t.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                i
            }
        };
        let slot = &mut t.slots[index as usize];
        // Generation 0 is never handed out, so ConId(0) is never valid.
        slot.generation = slot.generation.wrapping_add(1).max(1);
        let id = ConId::new(index, slot.generation);
        let conn = Arc::new(build(id));
        slot.conn = Some(conn.clone());
        t.count += 1;
        t.by_addr.insert(conn.peer, id);
        Some(conn)
    }

    /// The connection with this id, if it is still open.
    pub fn get(&self, id: ConId) -> Option<Arc<Conn>> {
        let t = self.inner.read();
        let slot = t.slots.get(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.conn.clone()
    }

    /// The newest open connection whose peer is `addr`.
    pub fn by_peer(&self, addr: &SocketAddr) -> Option<Arc<Conn>> {
        let t = self.inner.read();
        let id = *t.by_addr.get(addr)?;
        let slot = t.slots.get(id.index() as usize)?;
        (slot.generation == id.generation()).then(|| slot.conn.clone())?
    }

    /// Removes a connection; its id becomes stale at once.
    pub fn remove(&self, id: ConId) -> Option<Arc<Conn>> {
        let mut t = self.inner.write();
        let slot = t.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        let conn = slot.conn.take()?;
        t.free.push(id.index());
        t.count -= 1;
        if t.by_addr.get(&conn.peer) == Some(&id) {
            t.by_addr.remove(&conn.peer);
        }
        Some(conn)
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.inner.read().count
    }

    /// A snapshot of every open connection.
    pub fn all(&self) -> Vec<Arc<Conn>> {
        let t = self.inner.read();
        t.slots.iter().filter_map(|s| s.conn.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, SocketAddr, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        let local = s.local_addr().unwrap();
        drop(c);
        (s, peer, local)
    }

    #[test]
    fn ids_are_generation_tagged_and_stale_ids_miss() {
        let t = Table::default();
        let (s, peer, local) = pair();
        let a = t.insert(|id| Conn::new(id, s, peer, local, 0)).unwrap();
        assert_ne!(a.id.0, 0);
        assert_eq!(t.get(a.id).unwrap().id, a.id);
        assert_eq!(t.by_peer(&peer).unwrap().id, a.id);
        assert_eq!(t.len(), 1);
        assert!(t.remove(a.id).is_some());
        assert!(t.remove(a.id).is_none());
        assert!(t.get(a.id).is_none());
        assert!(t.by_peer(&peer).is_none());
        // The slot is reused with a new generation: the old id stays dead.
        let (s2, peer2, local2) = pair();
        let b = t.insert(|id| Conn::new(id, s2, peer2, local2, 0)).unwrap();
        assert_eq!(b.id.index(), a.id.index());
        assert_ne!(b.id, a.id);
        assert!(t.get(a.id).is_none());
        assert_eq!(t.all().len(), 1);
    }
}
