//! Tokens, interests and the readiness events a [`Poller`](crate::Poller) reports.

use std::fmt;
use std::ops::BitOr;

/// Caller-chosen value that identifies a registration in the events a poller reports.
///
/// The poller never interprets it; the runtime typically stores a connection-table index here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

/// Which readiness a registration asks for: readable, writable, or both.
///
/// There is no empty interest: a registration always waits for something. Hang-up and error
/// are reported whatever the interest (see [`Event`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Wait until the fd has data to read (or the peer closed, so a read would not block).
    pub const READABLE: Interest = Interest(0b01);
    /// Wait until the fd can accept a write without blocking.
    pub const WRITABLE: Interest = Interest(0b10);
    /// Both readable and writable, same as `Interest::READABLE | Interest::WRITABLE`.
    pub const BOTH: Interest = Interest(0b11);

    /// True if this interest includes readability.
    pub const fn is_readable(self) -> bool {
        self.0 & Self::READABLE.0 != 0
    }

    /// True if this interest includes writability.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE.0 != 0
    }

    /// The union of two interests (a `const` spelling of `|`).
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// Internal readiness bits of an [`Event`].
pub(crate) const EV_READABLE: u8 = 0b0001;
pub(crate) const EV_WRITABLE: u8 = 0b0010;
pub(crate) const EV_HUP: u8 = 0b0100;
pub(crate) const EV_ERROR: u8 = 0b1000;

/// One readiness report: which registration ([`Token`]) and what it is ready for.
///
/// Hang-up and error are reported as their own flags, independent of readable/writable, on the
/// backends that can tell them apart (`poll`, `epoll_*`, `kqueue`). `select` cannot: it only ever
/// sets readable/writable (see the crate documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    flags: u8,
}

impl Event {
    /// Builds an event from backend-translated flag bits.
    pub(crate) const fn new(token: Token, flags: u8) -> Event {
        Event { token, flags }
    }

    /// The token given when the fd was registered.
    pub const fn token(&self) -> Token {
        self.token
    }

    /// The fd can be read without blocking (data, or end of stream).
    pub const fn is_readable(&self) -> bool {
        self.flags & EV_READABLE != 0
    }

    /// The fd can be written without blocking.
    pub const fn is_writable(&self) -> bool {
        self.flags & EV_WRITABLE != 0
    }

    /// The peer hung up: full hang-up (`EPOLLHUP`/`POLLHUP`/`EV_EOF`) or, when the fd is
    /// registered readable, the peer closed its write half (`EPOLLRDHUP`/`POLLRDHUP`).
    /// Never set by `select`.
    pub const fn is_hup(&self) -> bool {
        self.flags & EV_HUP != 0
    }

    /// An error is pending on the fd (`EPOLLERR`/`POLLERR`/`POLLNVAL`, or a socket error with
    /// `EV_EOF` on kqueue); read it with `getsockopt(SO_ERROR)` or a read/write.
    /// Never set by `select`.
    pub const fn is_error(&self) -> bool {
        self.flags & EV_ERROR != 0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("hup", &self.is_hup())
            .field("error", &self.is_error())
            .finish()
    }
}

/// Reusable buffer that [`Poller::wait`](crate::Poller::wait) fills.
///
/// Its capacity, fixed at creation, is the most events one `wait` reports. Readiness beyond it
/// is not lost: level-triggered backends report the rest on the next `wait` (the `poll` and
/// `select` backends resume scanning after the last fd they reported, so no fd starves), and
/// `epoll_et` leaves the rest on the kernel's ready list for the next `wait`.
#[derive(Debug, Clone)]
pub struct Events {
    list: Vec<Event>,
    cap: usize,
}

impl Events {
    /// A buffer for at most `capacity` events per wait; 0 is rounded up to 1.
    pub fn with_capacity(capacity: usize) -> Events {
        let cap = capacity.max(1);
        Events {
            list: Vec::with_capacity(cap),
            cap,
        }
    }

    /// The most events one wait can report.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Number of events reported by the last wait.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if the last wait reported nothing (timeout).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The events reported by the last wait, in backend order.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Forgets all events (`wait` does this itself before filling).
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// True when no more events fit.
    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= self.cap
    }

    /// Appends an event; the caller checks [`Events::is_full`] first.
    pub(crate) fn push(&mut self, event: Event) {
        debug_assert!(!self.is_full());
        self.list.push(event);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_union() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert_eq!(both, Interest::BOTH);
        assert!(both.is_readable() && both.is_writable());
        assert!(!Interest::READABLE.is_writable());
        assert!(!Interest::WRITABLE.is_readable());
        assert_eq!(format!("{both:?}"), "READABLE | WRITABLE");
    }

    #[test]
    fn events_capacity_is_at_least_one() {
        let mut ev = Events::with_capacity(0);
        assert_eq!(ev.capacity(), 1);
        assert!(ev.is_empty() && !ev.is_full());
        ev.push(Event::new(Token(7), EV_READABLE | EV_HUP));
        assert!(ev.is_full());
        let e = ev.iter().next().copied().unwrap();
        assert_eq!(e.token(), Token(7));
        assert!(e.is_readable() && e.is_hup() && !e.is_writable() && !e.is_error());
        ev.clear();
        assert_eq!(ev.len(), 0);
    }
}
