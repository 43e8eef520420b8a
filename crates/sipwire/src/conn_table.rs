//! The connection table: conid → connection, and address → connections (peer addresses and
//! aliases).
//!
//! One `RwLock` guards both maps. Lookups (any thread, e.g. a send by conid) take the read
//! lock; inserts, removals and alias changes take the write lock. The hot send path avoids even
//! the read lock through each thread's fd cache (`fdcache.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::conn::{ConId, Conn, MAX_ALIASES};

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
    /// Address → connections answering to it, oldest first (usually one).
    by_addr: HashMap<SocketAddr, Ids>,
}

/// The connections of one address: one inline (the common case, no allocation), or several
/// (boxed, so an entry of the address map is 16 bytes of value, not 32).
#[derive(Debug)]
// The box is the point: it halves every map entry, and `Many` is rare.
#[allow(clippy::box_collection)]
enum Ids {
    One(ConId),
    Many(Box<Vec<ConId>>),
}

impl Ids {
    fn as_slice(&self) -> &[ConId] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(v) => v,
        }
    }

    fn push(&mut self, id: ConId) {
        match self {
            Ids::One(first) => *self = Ids::Many(Box::new(vec![*first, id])),
            Ids::Many(v) => v.push(id),
        }
    }

    /// Removes `id`; true when nothing is left.
    fn remove(&mut self, id: ConId) -> bool {
        match self {
            Ids::One(x) => *x == id,
            Ids::Many(v) => {
                v.retain(|&x| x != id);
                let only = match v[..] {
                    [only] => Some(only),
                    _ => None,
                };
                let empty = v.is_empty();
                if let Some(only) = only {
                    *self = Ids::One(only);
                }
                empty
            }
        }
    }
}

impl Inner {
    fn live(&self, id: ConId) -> Option<&Arc<Conn>> {
        let slot = self.slots.get(id.index() as usize)?;
        (slot.generation == id.generation()).then_some(slot.conn.as_ref())?
    }

    fn alloc(&mut self, build: impl FnOnce(ConId) -> Conn) -> Option<Arc<Conn>> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)?;
                self.slots.push(Slot::default());
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        // Generation 0 is never handed out, so ConId(0) is never valid.
        slot.generation = (slot.generation.wrapping_add(1) & 0x7fff_ffff).max(1);
        let id = ConId::new(index, slot.generation);
        let conn = Arc::new(build(id));
        slot.conn = Some(conn.clone());
        self.count += 1;
        self.map(conn.peer, id);
        Some(conn)
    }

    fn map(&mut self, addr: SocketAddr, id: ConId) {
        match self.by_addr.get_mut(&addr) {
            Some(ids) => ids.push(id),
            None => {
                self.by_addr.insert(addr, Ids::One(id));
            }
        }
    }

    fn unmap(&mut self, addr: &SocketAddr, id: ConId) {
        if let Some(ids) = self.by_addr.get_mut(addr) {
            if ids.remove(id) {
                self.by_addr.remove(addr);
            }
        }
    }

    /// The newest open connection for `addr` whose local side `local` accepts.
    fn find_one(&self, addr: &SocketAddr, local: LocalMatch) -> Option<Arc<Conn>> {
        let ids = self.by_addr.get(addr)?;
        ids.as_slice()
            .iter()
            .rev()
            .filter_map(|&id| self.live(id))
            .find(|c| local.accepts(c) && c.close_reason().is_none())
            .cloned()
    }

    /// The lookup `plan`: its preferred local side first, then its required one.
    fn find(&self, addr: &SocketAddr, plan: Plan) -> Option<Arc<Conn>> {
        plan.first
            .and_then(|m| self.find_one(addr, m))
            .or_else(|| self.find_one(addr, plan.then))
    }
}

/// The local side a lookup accepts: an IP and a port, each a wildcard when `None`
/// (Kamailio's `_tcpconn_find`: an unspecified local IP or port 0 matches anything). Either
/// the socket's own local address or a PROXY header's destination may match, as Kamailio
/// compares both its received-on and its connection-info addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LocalMatch {
    /// Local IP the connection must have.
    pub ip: Option<IpAddr>,
    /// Local port the connection must have.
    pub port: Option<u16>,
}

impl LocalMatch {
    /// Any local address.
    pub const ANY: LocalMatch = LocalMatch {
        ip: None,
        port: None,
    };

    /// Whether `c`'s local side is acceptable.
    pub fn accepts(&self, c: &Conn) -> bool {
        let dest = c.proxy.get().map(|p| p.destination);
        let ip_ok = self
            .ip
            .is_none_or(|ip| c.local.ip() == ip || dest.is_some_and(|d| d.ip() == ip));
        let port_ok = self
            .port
            .is_none_or(|port| c.local.port() == port || dest.is_some_and(|d| d.port() == port));
        ip_ok && port_ok
    }
}

/// How a send looks for an open connection to its destination: a connection whose local side
/// `first` accepts is preferred (`tcp_connection_match = 1`: the local port too), else any that
/// `then` accepts (Kamailio's `tcpconn_lookup` with its fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// The preferred local side, tried first.
    pub first: Option<LocalMatch>,
    /// The local side required when no preferred connection is open.
    pub then: LocalMatch,
}

impl Plan {
    /// Any connection to the destination.
    pub const ANY: Plan = Plan {
        first: None,
        then: LocalMatch::ANY,
    };
}

/// Why a connection was not inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The table holds `tcp_max_connections` connections.
    AtLimit,
    /// The table cannot grow (2³² − 1 slots).
    NoSlot,
}

/// Every open connection, by id and by address.
#[derive(Debug, Default)]
pub(crate) struct Table {
    inner: RwLock<Inner>,
}

impl Table {
    /// Allocates an id, builds the connection with it and inserts it, unless the table holds
    /// `max` connections already (`tcp_max_connections`, inbound and outbound alike: checked
    /// under the write lock, so accepts and connects racing cannot pass it).
    pub fn insert(
        &self,
        max: usize,
        build: impl FnOnce(ConId) -> Conn,
    ) -> Result<Arc<Conn>, InsertError> {
        let mut t = self.inner.write();
        if t.count >= max {
            return Err(InsertError::AtLimit);
        }
        t.alloc(build).ok_or(InsertError::NoSlot)
    }

    /// Inserts an outbound connection to `addr` unless one already exists (found the way a send
    /// finds one); returns `(connection, inserted)`. This is what makes several sends to an
    /// unconnected destination open one connection, not several. The limit is as in
    /// [`insert`](Self::insert); joining an existing connection is never refused.
    pub fn insert_unless_present(
        &self,
        addr: &SocketAddr,
        plan: Plan,
        max: usize,
        build: impl FnOnce(ConId) -> Conn,
    ) -> Result<(Arc<Conn>, bool), InsertError> {
        let mut t = self.inner.write();
        if let Some(c) = t.find(addr, plan) {
            return Ok((c, false));
        }
        if t.count >= max {
            return Err(InsertError::AtLimit);
        }
        t.alloc(build).map(|c| (c, true)).ok_or(InsertError::NoSlot)
    }

    /// The connection with this id, if it is still open.
    pub fn get(&self, id: ConId) -> Option<Arc<Conn>> {
        self.inner.read().live(id).cloned()
    }

    /// The newest open connection whose peer or alias is `addr`, as `plan` says which local
    /// sides are preferred and which are acceptable.
    pub fn find(&self, addr: &SocketAddr, plan: Plan) -> Option<Arc<Conn>> {
        self.inner.read().find(addr, plan)
    }

    /// The newest open connection whose peer or alias is `addr`.
    pub fn by_peer(&self, addr: &SocketAddr) -> Option<Arc<Conn>> {
        self.find(addr, Plan::ANY)
    }

    /// Makes `addr` an alias of connection `id` (moving it from any other connection). Fails
    /// (false) when the connection is gone or already has [`MAX_ALIASES`] aliases.
    pub fn add_alias(&self, id: ConId, addr: SocketAddr) -> bool {
        let mut t = self.inner.write();
        let Some(conn) = t.live(id).cloned() else {
            return false;
        };
        if conn.peer == addr || conn.aliases.lock().contains(&addr) {
            return true;
        }
        if conn.aliases.lock().len() >= MAX_ALIASES {
            return false;
        }
        // The alias moves: whoever answered to it as an alias stops doing so.
        let previous: Vec<ConId> = t
            .by_addr
            .get(&addr)
            .map(|ids| ids.as_slice().to_vec())
            .unwrap_or_default();
        for other in previous {
            if let Some(o) = t.live(other).cloned() {
                let mut al = o.aliases.lock();
                if al.contains(&addr) {
                    al.retain(|a| *a != addr);
                    drop(al);
                    t.unmap(&addr, other);
                }
            }
        }
        conn.aliases.lock().push(addr);
        t.map(addr, id);
        true
    }

    /// Removes a connection and its aliases; its id becomes stale at once.
    pub fn remove(&self, id: ConId) -> Option<Arc<Conn>> {
        let mut t = self.inner.write();
        let slot = t.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        let conn = slot.conn.take()?;
        t.free.push(id.index());
        t.count -= 1;
        t.unmap(&conn.peer, id);
        let aliases = std::mem::take(&mut *conn.aliases.lock());
        for a in aliases {
            t.unmap(&a, id);
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

    fn conn(t: &Table) -> Arc<Conn> {
        let (s, peer, local) = pair();
        t.insert(usize::MAX, |id| Conn::new(id, s, peer, local, 0))
            .unwrap()
    }

    #[test]
    fn ids_are_generation_tagged_and_stale_ids_miss() {
        let t = Table::default();
        let a = conn(&t);
        assert_ne!(a.id.0, 0);
        assert_eq!(t.get(a.id).unwrap().id, a.id);
        assert_eq!(t.by_peer(&a.peer).unwrap().id, a.id);
        assert_eq!(t.len(), 1);
        assert!(t.remove(a.id).is_some());
        assert!(t.remove(a.id).is_none());
        assert!(t.get(a.id).is_none());
        assert!(t.by_peer(&a.peer).is_none());
        // The slot is reused with a new generation: the old id stays dead.
        let b = conn(&t);
        assert_eq!(b.id.index(), a.id.index());
        assert_ne!(b.id, a.id);
        assert!(t.get(a.id).is_none());
        assert_eq!(t.all().len(), 1);
    }

    #[test]
    fn aliases_resolve_move_are_bounded_and_vanish_with_the_connection() {
        let t = Table::default();
        let a = conn(&t);
        let b = conn(&t);
        let alias: SocketAddr = "127.0.0.1:5099".parse().unwrap();
        assert!(t.add_alias(a.id, alias));
        assert_eq!(t.by_peer(&alias).unwrap().id, a.id);
        // Claimed by b: it moves.
        assert!(t.add_alias(b.id, alias));
        assert_eq!(t.by_peer(&alias).unwrap().id, b.id);
        assert!(a.aliases.lock().is_empty());
        for p in 0..MAX_ALIASES as u16 - 1 {
            assert!(t.add_alias(b.id, SocketAddr::from(([127, 0, 0, 1], 6000 + p))));
        }
        assert!(
            !t.add_alias(b.id, "127.0.0.1:7000".parse().unwrap()),
            "over the limit"
        );
        t.remove(b.id);
        assert!(t.by_peer(&alias).is_none());
        assert!(!t.add_alias(b.id, alias), "gone");
    }

    #[test]
    fn inserts_stop_at_the_limit_but_joining_does_not() {
        let t = Table::default();
        let a = conn(&t);
        let (s, peer, local) = pair();
        assert_eq!(
            t.insert(1, |id| Conn::new(id, s, peer, local, 0)).err(),
            Some(InsertError::AtLimit)
        );
        let (s, peer, local) = pair();
        let r = t.insert_unless_present(&peer, Plan::ANY, 1, |id| Conn::new(id, s, peer, local, 0));
        assert_eq!(r.err(), Some(InsertError::AtLimit));
        let (again, inserted) = t
            .insert_unless_present(&a.peer, Plan::ANY, 1, |_| unreachable!("present"))
            .unwrap();
        assert!(
            !inserted && again.id == a.id,
            "an existing connection is joined"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn plans_prefer_the_local_port_then_fall_back() {
        let t = Table::default();
        let a = conn(&t);
        let ip = Some(a.local.ip());
        let port = Some(a.local.port());
        let other_ip: IpAddr = "127.0.0.9".parse().unwrap();
        let only = |m: LocalMatch| Plan {
            first: None,
            then: m,
        };
        assert!(t.find(&a.peer, only(LocalMatch { ip, port })).is_some());
        assert!(t
            .find(&a.peer, only(LocalMatch { ip, port: None }))
            .is_some());
        assert!(t
            .find(
                &a.peer,
                only(LocalMatch {
                    ip: Some(other_ip),
                    port: None
                })
            )
            .is_none());
        assert!(t
            .find(
                &a.peer,
                only(LocalMatch {
                    ip: None,
                    port: Some(1)
                })
            )
            .is_none());
        // A preferred port nobody has falls back to the required side.
        let strict = Plan {
            first: Some(LocalMatch { ip, port: Some(1) }),
            then: LocalMatch { ip, port: None },
        };
        assert_eq!(t.find(&a.peer, strict).unwrap().id, a.id);
        let (again, inserted) = t
            .insert_unless_present(&a.peer, strict, 0, |_| unreachable!("present"))
            .unwrap();
        assert!(!inserted);
        assert_eq!(again.id, a.id);
    }
}
