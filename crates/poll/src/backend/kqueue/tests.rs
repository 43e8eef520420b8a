//! The kqueue logic against a fake kernel, on every OS (the real kqueue is exercised by the
//! conformance suite, on a BSD or macOS kernel only).
//!
//! [`FakeKernel`] records every change list and every wait, keeps the filters (knotes) the
//! change lists leave, and reports the readiness a test scripts the way a kqueue does: each
//! ready filter is one kevent carrying its `udata`; a level filter is reported by every wait,
//! an `EV_CLEAR` filter once per change of its readiness, an `EV_ONESHOT` one once; a wait
//! reports at most `max` and moves the filters it reported to the back of the queue (FreeBSD
//! requeues level knotes at the tail), so the others come next.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use super::logic::consts::{
    EVFILT_READ, EVFILT_WRITE, EV_ADD, EV_CLEAR, EV_DELETE, EV_DISPATCH, EV_ENABLE, EV_EOF,
    EV_ERROR, EV_ONESHOT,
};
use super::logic::{change, translate, wait_timeout, Kev, KeventCalls, Kqueue};
use crate::sys::MAX_WAIT_SECS;
use crate::{Event, Events, Interest, Token};

/// A filter the fake kernel holds.
#[derive(Debug, Clone, Copy)]
struct Knote {
    ident: usize,
    filter: i32,
    udata: usize,
    /// The flags it was added with.
    flags: u32,
    /// Reported since its readiness last changed (matters for `EV_CLEAR`).
    reported: bool,
}

/// What a ready filter reports besides its readiness.
#[derive(Debug, Clone, Copy, Default)]
struct Ready {
    /// Output flags (`EV_EOF`).
    flags: u32,
    fflags: u32,
    data: i64,
}

/// A recording kqueue with scripted readiness.
#[derive(Debug, Default)]
struct FakeKernel {
    /// Every `apply` call's change list, in order.
    applied: Vec<Vec<Kev>>,
    /// Every `wait` call: the most events asked for, and the timeout.
    waits: Vec<(usize, Option<Duration>)>,
    /// The filters, in report order.
    knotes: Vec<Knote>,
    /// The conditions true now, per (fd, filter).
    ready: HashMap<(usize, i32), Ready>,
    /// Changes on these (fd, filter) are refused with this errno.
    refuse: HashMap<(usize, i32), i32>,
    /// Reported by the next waits before any filter (kevents a filter would not produce).
    scripted: VecDeque<Kev>,
    /// The next wait fails with this errno.
    wait_errno: Option<i32>,
}

impl FakeKernel {
    fn find(&self, ident: usize, filter: i32) -> Option<usize> {
        self.knotes
            .iter()
            .position(|k| k.ident == ident && k.filter == filter)
    }

    /// Makes (fd, filter) ready (a new edge for an `EV_CLEAR` filter).
    fn set_ready(&mut self, fd: i32, filter: i32, ready: Ready) {
        self.ready.insert((fd as usize, filter), ready);
        if let Some(i) = self.find(fd as usize, filter) {
            self.knotes[i].reported = false;
        }
    }

    /// Makes (fd, filter) not ready.
    fn clear_ready(&mut self, fd: i32, filter: i32) {
        self.ready.remove(&(fd as usize, filter));
        if let Some(i) = self.find(fd as usize, filter) {
            self.knotes[i].reported = false;
        }
    }

    /// (fd, filter, token) of every filter held.
    fn filters(&self) -> Vec<(usize, i32, usize)> {
        let mut v: Vec<_> = self
            .knotes
            .iter()
            .map(|k| (k.ident, k.filter, k.udata))
            .collect();
        v.sort_unstable();
        v
    }
}

impl KeventCalls for FakeKernel {
    fn apply(&mut self, changes: &[Kev]) -> io::Result<()> {
        self.applied.push(changes.to_vec());
        for c in changes {
            assert!(
                (c.flags & EV_ADD != 0) != (c.flags & EV_DELETE != 0),
                "a change either adds or deletes: {c:?}"
            );
            if let Some(&errno) = self.refuse.get(&(c.ident, c.filter)) {
                return Err(io::Error::from_raw_os_error(errno));
            }
            let at = self.find(c.ident, c.filter);
            if c.flags & EV_DELETE != 0 {
                let i = at.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
                self.knotes.remove(i);
            } else if let Some(i) = at {
                // EV_ADD on an existing filter updates it.
                self.knotes[i].udata = c.udata;
                self.knotes[i].flags = c.flags;
                self.knotes[i].reported = false;
            } else {
                self.knotes.push(Knote {
                    ident: c.ident,
                    filter: c.filter,
                    udata: c.udata,
                    flags: c.flags,
                    reported: false,
                });
            }
        }
        Ok(())
    }

    fn wait<F: FnMut(Kev)>(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
        mut each: F,
    ) -> io::Result<()> {
        self.waits.push((max, timeout));
        assert!(max >= 1);
        if let Some(errno) = self.wait_errno.take() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let mut n = 0;
        while n < max {
            let Some(kev) = self.scripted.pop_front() else {
                break;
            };
            each(kev);
            n += 1;
        }
        let mut reported = Vec::new();
        let mut i = 0;
        while i < self.knotes.len() && n < max {
            let k = self.knotes[i];
            let skip = k.flags & EV_CLEAR != 0 && k.reported;
            if let Some(r) = self.ready.get(&(k.ident, k.filter)).filter(|_| !skip) {
                each(Kev {
                    ident: k.ident,
                    filter: k.filter,
                    flags: (k.flags & (EV_CLEAR | EV_ONESHOT)) | r.flags,
                    fflags: r.fflags,
                    data: r.data,
                    udata: k.udata,
                });
                n += 1;
                self.knotes.remove(i);
                if k.flags & EV_ONESHOT == 0 {
                    reported.push(Knote {
                        reported: true,
                        ..k
                    });
                }
                continue;
            }
            i += 1;
        }
        self.knotes.extend(reported);
        Ok(())
    }
}

fn kq() -> Kqueue<FakeKernel> {
    Kqueue::with_calls(FakeKernel::default())
}

fn add(fd: i32, filter: i32, token: usize) -> Kev {
    change(fd, filter, EV_ADD | EV_ENABLE, Token(token))
}

fn del(fd: i32, filter: i32, token: usize) -> Kev {
    change(fd, filter, EV_DELETE, Token(token))
}

fn wait(kq: &mut Kqueue<FakeKernel>, cap: usize) -> Vec<Event> {
    let mut events = Events::with_capacity(cap);
    kq.wait_once(&mut events, Some(Duration::ZERO)).unwrap();
    events.iter().copied().collect()
}

/// (token, readable, writable, hup, error) of each event.
fn summary(events: &[Event]) -> Vec<(usize, bool, bool, bool, bool)> {
    events
        .iter()
        .map(|e| {
            let t = e.token().0;
            (
                t,
                e.is_readable(),
                e.is_writable(),
                e.is_hup(),
                e.is_error(),
            )
        })
        .collect()
}

fn errno(r: io::Result<()>) -> Option<i32> {
    r.unwrap_err().raw_os_error()
}

#[test]
fn register_read_write_adds_two_level_filters() {
    let mut kq = kq();
    kq.register(5, Token(7), Interest::BOTH).unwrap();
    let k = kq.calls();
    // Two calls, so a refused write filter can be rolled back.
    assert_eq!(
        k.applied,
        vec![vec![add(5, EVFILT_READ, 7)], vec![add(5, EVFILT_WRITE, 7)]]
    );
    for c in k.applied.iter().flatten() {
        assert_eq!(c.ident, 5);
        assert_eq!(c.udata, 7);
        assert_eq!(c.flags, EV_ADD | EV_ENABLE, "{c:?}");
        // Level triggered: no edge or one-shot semantics.
        assert_eq!(c.flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH), 0, "{c:?}");
    }
    let mut want = vec![(5, EVFILT_READ, 7), (5, EVFILT_WRITE, 7)];
    want.sort_unstable();
    assert_eq!(k.filters(), want);
}

#[test]
fn register_one_interest_adds_one_filter() {
    let mut kq = kq();
    kq.register(3, Token(1), Interest::READABLE).unwrap();
    kq.register(4, Token(2), Interest::WRITABLE).unwrap();
    assert_eq!(
        kq.calls().applied,
        vec![vec![add(3, EVFILT_READ, 1)], vec![add(4, EVFILT_WRITE, 2)]]
    );
}

#[test]
fn registration_errors_never_reach_the_kernel() {
    let mut kq = kq();
    assert_eq!(
        errno(kq.register(-1, Token(1), Interest::READABLE)),
        Some(libc::EBADF)
    );
    kq.register(3, Token(1), Interest::READABLE).unwrap();
    let calls = kq.calls().applied.len();
    let e = kq.register(3, Token(2), Interest::WRITABLE).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    let e = kq.reregister(9, Token(2), Interest::WRITABLE).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(errno(kq.deregister(9)), Some(libc::ENOENT));
    assert_eq!(kq.calls().applied.len(), calls, "no kernel call for these");
}

#[test]
fn deregister_deletes_each_registered_filter_in_one_call() {
    let mut kq = kq();
    kq.register(5, Token(7), Interest::BOTH).unwrap();
    kq.register(6, Token(8), Interest::WRITABLE).unwrap();
    kq.deregister(5).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![del(5, EVFILT_READ, 0), del(5, EVFILT_WRITE, 0)]
    );
    kq.deregister(6).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![del(6, EVFILT_WRITE, 0)]
    );
    assert!(kq.calls().filters().is_empty());
    assert_eq!(errno(kq.deregister(5)), Some(libc::ENOENT));
    // Forgotten: registering again is allowed.
    kq.register(5, Token(9), Interest::READABLE).unwrap();
}

#[test]
fn reregister_read_to_write_deletes_read_and_adds_write() {
    let mut kq = kq();
    kq.register(5, Token(7), Interest::READABLE).unwrap();
    kq.reregister(5, Token(8), Interest::WRITABLE).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![del(5, EVFILT_READ, 8), add(5, EVFILT_WRITE, 8)]
    );
    assert_eq!(kq.calls().filters(), vec![(5, EVFILT_WRITE, 8)]);
    // The remembered interest follows: deregister deletes the write filter only.
    kq.deregister(5).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![del(5, EVFILT_WRITE, 0)]
    );
}

#[test]
fn reregister_adds_wanted_filters_again_with_the_new_token() {
    let mut kq = kq();
    kq.register(5, Token(1), Interest::READABLE).unwrap();
    // Same interest, new token: EV_ADD updates the existing filter's udata.
    kq.reregister(5, Token(2), Interest::READABLE).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![add(5, EVFILT_READ, 2)]
    );
    // Widening: both added in one call.
    kq.reregister(5, Token(3), Interest::BOTH).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![add(5, EVFILT_READ, 3), add(5, EVFILT_WRITE, 3)]
    );
    // Narrowing to read: read re-added, write deleted.
    kq.reregister(5, Token(4), Interest::READABLE).unwrap();
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![add(5, EVFILT_READ, 4), del(5, EVFILT_WRITE, 4)]
    );
    assert_eq!(kq.calls().filters(), vec![(5, EVFILT_READ, 4)]);
    kq.calls().set_ready(5, EVFILT_READ, Ready::default());
    assert_eq!(
        summary(&wait(&mut kq, 8)),
        vec![(4, true, false, false, false)]
    );
}

#[test]
fn refused_write_filter_rolls_back_read_and_leaves_fd_unregistered() {
    let mut kq = kq();
    kq.calls().refuse.insert((5, EVFILT_WRITE), libc::ENOMEM);
    assert_eq!(
        errno(kq.register(5, Token(7), Interest::BOTH)),
        Some(libc::ENOMEM)
    );
    assert_eq!(
        kq.calls().applied,
        vec![
            vec![add(5, EVFILT_READ, 7)],
            vec![add(5, EVFILT_WRITE, 7)],
            vec![del(5, EVFILT_READ, 7)],
        ]
    );
    assert!(kq.calls().filters().is_empty(), "read filter rolled back");
    // Not registered: reregister says ENOENT, register is allowed.
    assert_eq!(
        errno(kq.reregister(5, Token(7), Interest::READABLE)),
        Some(libc::ENOENT)
    );
    kq.register(5, Token(7), Interest::READABLE).unwrap();
}

#[test]
fn refused_read_filter_is_the_error_and_nothing_else_is_tried() {
    let mut kq = kq();
    kq.calls().refuse.insert((5, EVFILT_READ), libc::EBADF);
    assert_eq!(
        errno(kq.register(5, Token(7), Interest::BOTH)),
        Some(libc::EBADF)
    );
    assert_eq!(kq.calls().applied, vec![vec![add(5, EVFILT_READ, 7)]]);
    assert_eq!(errno(kq.deregister(5)), Some(libc::ENOENT));
}

#[test]
fn refused_reregister_keeps_the_old_interest() {
    let mut kq = kq();
    kq.register(5, Token(7), Interest::READABLE).unwrap();
    kq.calls().refuse.insert((5, EVFILT_WRITE), libc::ENOMEM);
    assert_eq!(
        errno(kq.reregister(5, Token(8), Interest::WRITABLE)),
        Some(libc::ENOMEM)
    );
    // The kernel applied the delete before the refused add (kevent stops at the first
    // refusal); the backend still remembers READABLE, so deregister asks to delete read.
    assert_eq!(kq.calls().filters(), vec![]);
    assert_eq!(errno(kq.deregister(5)), Some(libc::ENOENT));
    assert_eq!(
        kq.calls().applied.last().unwrap(),
        &vec![del(5, EVFILT_READ, 0)]
    );
}

#[test]
fn ready_for_both_is_two_events_with_one_token() {
    let mut kq = kq();
    kq.register(5, Token(9), Interest::BOTH).unwrap();
    kq.calls().set_ready(5, EVFILT_READ, Ready::default());
    kq.calls().set_ready(5, EVFILT_WRITE, Ready::default());
    let mut got = summary(&wait(&mut kq, 8));
    got.sort_unstable();
    // Not merged into one readable+writable event: one per filter.
    assert_eq!(
        got,
        vec![
            (9, false, true, false, false),
            (9, true, false, false, false)
        ]
    );
}

#[test]
fn level_triggered_reports_until_the_condition_goes() {
    let mut kq = kq();
    kq.register(5, Token(1), Interest::READABLE).unwrap();
    assert!(wait(&mut kq, 8).is_empty());
    kq.calls().set_ready(5, EVFILT_READ, Ready::default());
    for _ in 0..3 {
        // Not read: reported by every wait (an EV_CLEAR filter would be reported once).
        assert_eq!(
            summary(&wait(&mut kq, 8)),
            vec![(1, true, false, false, false)]
        );
    }
    kq.calls().clear_ready(5, EVFILT_READ);
    assert!(wait(&mut kq, 8).is_empty());
}

#[test]
fn fake_kernel_models_ev_clear_and_oneshot() {
    // The fake's edge model, so the level test above means something: a filter added with
    // EV_CLEAR is reported once per readiness change, an EV_ONESHOT one once.
    let mut k = FakeKernel::default();
    k.apply(&[change(5, EVFILT_READ, EV_ADD | EV_CLEAR, Token(1))])
        .unwrap();
    k.apply(&[change(6, EVFILT_READ, EV_ADD | EV_ONESHOT, Token(2))])
        .unwrap();
    k.set_ready(5, EVFILT_READ, Ready::default());
    k.set_ready(6, EVFILT_READ, Ready::default());
    let mut seen = Vec::new();
    k.wait(8, None, |kev| seen.push(kev.udata)).unwrap();
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2]);
    seen.clear();
    k.wait(8, None, |kev| seen.push(kev.udata)).unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    k.set_ready(5, EVFILT_READ, Ready::default());
    k.wait(8, None, |kev| seen.push(kev.udata)).unwrap();
    assert_eq!(seen, vec![1], "a new edge");
}

#[test]
fn eof_is_hang_up_and_a_socket_error_with_it_is_error() {
    let mut kq = kq();
    kq.register(5, Token(1), Interest::READABLE).unwrap();
    kq.register(6, Token(2), Interest::READABLE).unwrap();
    kq.register(7, Token(3), Interest::WRITABLE).unwrap();
    let eof = Ready {
        flags: EV_EOF,
        ..Ready::default()
    };
    // Peer closed its write half: readable (read returns 0) and hang-up, no error.
    kq.calls().set_ready(5, EVFILT_READ, eof);
    // Peer reset: EV_EOF with the socket error in fflags.
    let reset = Ready {
        fflags: libc::ECONNRESET as u32,
        ..eof
    };
    kq.calls().set_ready(6, EVFILT_READ, reset);
    // Write side closed: writable (the write fails at once) and hang-up.
    kq.calls().set_ready(7, EVFILT_WRITE, eof);
    let mut got = summary(&wait(&mut kq, 8));
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            (1, true, false, true, false),
            (2, true, false, true, true),
            (3, false, true, true, false),
        ]
    );
}

#[test]
fn ev_error_is_an_error_event() {
    let mut kq = kq();
    kq.register(5, Token(4), Interest::READABLE).unwrap();
    kq.calls().scripted.push_back(Kev {
        ident: 5,
        filter: EVFILT_READ,
        flags: EV_ERROR,
        data: i64::from(libc::EBADF),
        udata: 4,
        ..Kev::default()
    });
    let got = wait(&mut kq, 8);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].token(), Token(4));
    assert!(got[0].is_error() && !got[0].is_hup(), "{:?}", got[0]);
}

#[test]
fn translation_reads_the_filter_and_only_eof_and_error_flags() {
    // The kernel echoes a filter's own flags (EV_ADD, EV_ENABLE, EV_CLEAR, ...): they add
    // nothing; `data` (bytes readable) does not matter either.
    let kev = Kev {
        ident: 5,
        filter: EVFILT_READ,
        flags: EV_ADD | EV_ENABLE | EV_CLEAR | EV_ONESHOT,
        data: 1234,
        udata: 6,
        ..Kev::default()
    };
    assert_eq!(
        summary(&[translate(&kev)]),
        vec![(6, true, false, false, false)]
    );
    // fflags without EV_EOF is not an error (filter-specific, e.g. NOTE_LOWAT).
    let kev = Kev {
        filter: EVFILT_WRITE,
        fflags: 1,
        ..kev
    };
    assert_eq!(
        summary(&[translate(&kev)]),
        vec![(6, false, true, false, false)]
    );
    // Another filter (none is ever registered): no readiness, the token kept.
    let other = EVFILT_READ.min(EVFILT_WRITE) - 5;
    let kev = Kev {
        filter: other,
        flags: EV_EOF,
        fflags: 0,
        ..kev
    };
    assert_eq!(
        summary(&[translate(&kev)]),
        vec![(6, false, false, true, false)]
    );
    // The whole token range survives udata.
    let kev = Kev {
        filter: EVFILT_READ,
        flags: 0,
        udata: usize::MAX,
        ..kev
    };
    assert_eq!(translate(&kev).token(), Token(usize::MAX));
}

#[test]
fn a_wait_asks_for_the_room_left_and_loses_nothing_beyond_it() {
    let mut kq = kq();
    for fd in 10..15 {
        kq.register(fd, Token(fd as usize), Interest::READABLE)
            .unwrap();
        kq.calls().set_ready(fd, EVFILT_READ, Ready::default());
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let got = wait(&mut kq, 2);
        assert!(!got.is_empty() && got.len() <= 2, "{got:?}");
        seen.extend(got.iter().map(|e| e.token().0));
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14]
    );
    assert!(kq.calls().waits.iter().all(|&(max, _)| max == 2));
    // A buffer already holding events asks only for the room left; a full one not at all.
    let mut events = Events::with_capacity(3);
    events.push(Event::new(Token(99), 0));
    kq.wait_once(&mut events, None).unwrap();
    assert_eq!(kq.calls().waits.last(), Some(&(2, None)));
    assert_eq!(events.len(), 3);
    let waits = kq.calls().waits.len();
    kq.wait_once(&mut events, None).unwrap();
    assert_eq!(kq.calls().waits.len(), waits, "full: no kernel call");
}

#[test]
fn timeouts_pass_through_capped_at_a_day() {
    assert_eq!(wait_timeout(None), None);
    assert_eq!(wait_timeout(Some(Duration::ZERO)), Some(Duration::ZERO));
    let d = Duration::new(1, 500_000_000);
    assert_eq!(wait_timeout(Some(d)), Some(d));
    assert_eq!(
        wait_timeout(Some(Duration::new(u64::MAX, 7))),
        Some(Duration::new(MAX_WAIT_SECS, 7))
    );
    let mut kq = kq();
    let mut events = Events::with_capacity(4);
    kq.wait_once(&mut events, Some(Duration::from_secs(100 * 86_400)))
        .unwrap();
    kq.wait_once(&mut events, None).unwrap();
    assert_eq!(
        kq.calls().waits,
        vec![(4, Some(Duration::from_secs(MAX_WAIT_SECS))), (4, None)]
    );
}

#[test]
fn a_failed_wait_is_the_error_with_no_events() {
    let mut kq = kq();
    kq.register(5, Token(1), Interest::READABLE).unwrap();
    kq.calls().set_ready(5, EVFILT_READ, Ready::default());
    kq.calls().wait_errno = Some(libc::EINTR);
    let mut events = Events::with_capacity(4);
    let e = kq.wait_once(&mut events, None).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    assert!(events.is_empty());
    // The next wait reports what is ready.
    kq.wait_once(&mut events, None).unwrap();
    assert_eq!(events.len(), 1);
}
