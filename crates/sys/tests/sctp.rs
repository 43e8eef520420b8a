//! Kernel SCTP for real: sockets, multi-homed binds, every option read back, exchanges between
//! two one-to-many sockets on loopback, stream negotiation, graceful shutdown, autoclose, send
//! failures. They need a kernel with SCTP, so they are `#[ignore]`d: `make sctp-test` runs
//! them in a QEMU guest (tools/sctp-vm) with `--include-ignored`, and there each one FAILS if
//! SCTP is missing rather than passing vacuously.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use sipwire_sys::sctp::{
    self, AssocId, AssocState, InitMsg, Notification, PeerAddrParams, PeerAddrParamsSet,
    PeerAddrState, Recv, RtoInfo, SendFlags, SendInfo, Status,
};
use sipwire_sys::{get_int_opt, set_int_opt, wait_fd, WaitFor};

/// Under TCG the guest is slow: every wait is on a deadline this long.
const DEADLINE: Duration = Duration::from_secs(15);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn require() {
    assert!(
        sctp::available(),
        "this kernel has no SCTP: run these tests in the VM (make sctp-test)"
    );
}

#[derive(Debug)]
enum Ev {
    Data {
        bytes: Vec<u8>,
        from: SocketAddr,
        assoc: AssocId,
        stream: u16,
        ppid: u32,
        eor: bool,
    },
    Note(Notification),
}

/// A subscribed, listening one-to-many socket and what it has received and not yet looked at.
struct Ep {
    fd: OwnedFd,
    addr: SocketAddr,
    log: VecDeque<Ev>,
    buf_len: usize,
}

impl Ep {
    fn bound(addrs: &[SocketAddr], setup: impl FnOnce(RawFd)) -> Ep {
        let fd = sctp::socket(addrs[0].is_ipv6()).unwrap();
        let raw = fd.as_raw_fd();
        sctp::bindx(raw, addrs).unwrap();
        sctp::subscribe(raw).unwrap();
        setup(raw);
        sctp::listen(raw, 16).unwrap();
        let port = sctp::local_addrs(raw).unwrap()[0].port();
        let mut addr = addrs[0];
        addr.set_port(port);
        Ep {
            fd,
            addr,
            log: VecDeque::new(),
            buf_len: 65536,
        }
    }

    fn new() -> Ep {
        Ep::bound(&[sa("127.0.0.1:0")], |_| {})
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one event into the log; `false` if none came before `deadline`.
    fn pump(&mut self, deadline: Instant) -> bool {
        let mut buf = vec![0u8; self.buf_len];
        loop {
            match sctp::recv(self.raw(), &mut buf).unwrap() {
                Recv::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    wait_fd(self.raw(), WaitFor::Readable, left).unwrap();
                }
                Recv::Data {
                    len,
                    from,
                    assoc,
                    stream,
                    ppid,
                    eor,
                } => {
                    self.log.push_back(Ev::Data {
                        bytes: buf[..len].to_vec(),
                        from,
                        assoc,
                        stream,
                        ppid,
                        eor,
                    });
                    return true;
                }
                Recv::Notification(n) => {
                    self.log.push_back(Ev::Note(n));
                    return true;
                }
            }
        }
    }

    /// The first event (logged or still to come) `f` accepts, taken out of the log.
    fn wait<T>(&mut self, what: &str, mut f: impl FnMut(&Ev) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = 0;
        loop {
            while seen < self.log.len() {
                if let Some(v) = f(&self.log[seen]) {
                    self.log.remove(seen);
                    return v;
                }
                seen += 1;
            }
            assert!(
                self.pump(deadline),
                "{what}: not seen within {DEADLINE:?} on {}; saw {:?}",
                self.addr,
                self.log
            );
        }
    }

    /// Waits for an association change to `state` (on `assoc` if given); returns the
    /// notification's (assoc, outbound, inbound streams).
    fn assoc_change(&mut self, state: AssocState, assoc: Option<AssocId>) -> (AssocId, u16, u16) {
        self.wait(&format!("AssocChange {state:?}"), |e| match e {
            Ev::Note(Notification::AssocChange {
                assoc: a,
                state: s,
                outbound_streams,
                inbound_streams,
                ..
            }) if *s == state && (assoc.is_none() || assoc == Some(*a)) => {
                Some((*a, *outbound_streams, *inbound_streams))
            }
            _ => None,
        })
    }

    /// Waits for a whole message: (bytes, from, assoc, stream, ppid).
    fn data(&mut self) -> (Vec<u8>, SocketAddr, AssocId, u16, u32) {
        self.wait("Data", |e| match e {
            Ev::Data {
                bytes,
                from,
                assoc,
                stream,
                ppid,
                eor: true,
            } => Some((bytes.clone(), *from, *assoc, *stream, *ppid)),
            Ev::Data { eor: false, .. } => panic!("unexpected partial message: {e:?}"),
            _ => None,
        })
    }
}

fn to(assoc: AssocId, stream: u16, ppid: u32) -> SendInfo {
    SendInfo {
        assoc,
        stream,
        ppid,
        ..SendInfo::default()
    }
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn multihomed_bind_lists_both_addresses() {
    require();
    let fd = sctp::socket(false).unwrap();
    let raw = fd.as_raw_fd();
    assert_eq!(
        sctp::bindx(raw, &[]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    sctp::bindx(raw, &[sa("127.0.0.1:0"), sa("127.0.0.2:0")]).unwrap();
    let mut local = sctp::local_addrs(raw).unwrap();
    local.sort();
    let port = local[0].port();
    assert_ne!(port, 0);
    let want: Vec<SocketAddr> = vec![
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from(([127, 0, 0, 2], port)),
    ];
    assert_eq!(local, want);
    sctp::listen(raw, 8).unwrap();
    // Non-blocking from the start: nothing to read is WouldBlock.
    assert_eq!(sctp::recv(raw, &mut [0u8; 64]).unwrap(), Recv::WouldBlock);
    // A second socket cannot take the same port on those addresses.
    let other = sctp::socket(false).unwrap();
    let taken = SocketAddr::from(([127, 0, 0, 2], port));
    assert!(sctp::bindx(other.as_raw_fd(), &[taken]).is_err());
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn socket_options_read_back() {
    require();
    let fd = sctp::socket(false).unwrap();
    let raw = fd.as_raw_fd();

    let rto = RtoInfo {
        initial_ms: 300,
        max_ms: 1000,
        min_ms: 200,
    };
    sctp::set_rtoinfo(raw, 0, rto).unwrap();
    assert_eq!(sctp::get_rtoinfo(raw, 0).unwrap(), rto);
    // 0 leaves a value as it is.
    let only_max = RtoInfo {
        max_ms: 2000,
        ..RtoInfo::default()
    };
    sctp::set_rtoinfo(raw, 0, only_max).unwrap();
    let want = RtoInfo {
        max_ms: 2000,
        ..rto
    };
    assert_eq!(sctp::get_rtoinfo(raw, 0).unwrap(), want);
    // min > max is refused.
    let bad = RtoInfo {
        initial_ms: 0,
        max_ms: 100,
        min_ms: 500,
    };
    let e = sctp::set_rtoinfo(raw, 0, bad).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));

    sctp::set_asocmaxrxt(raw, 0, 7).unwrap();
    assert_eq!(sctp::get_asocmaxrxt(raw, 0).unwrap(), 7);

    let init = InitMsg {
        num_ostreams: 4,
        max_instreams: 5,
        max_attempts: 3,
        max_init_timeo_ms: 1000,
    };
    sctp::set_initmsg(raw, init).unwrap();
    assert_eq!(sctp::get_initmsg(raw).unwrap(), init);
    sctp::set_initmsg(raw, InitMsg::default()).unwrap();
    assert_eq!(sctp::get_initmsg(raw).unwrap(), init, "0 = unchanged");

    let on = PeerAddrParamsSet {
        hbinterval_ms: Some(700),
        pathmaxrxt: Some(3),
        hb_enabled: Some(true),
    };
    sctp::set_paddrparams(raw, 0, &on).unwrap();
    let got = sctp::get_paddrparams(raw, 0).unwrap();
    let want = PeerAddrParams {
        hbinterval_ms: 700,
        pathmaxrxt: 3,
        hb_enabled: true,
    };
    assert_eq!(got, want);
    let off = PeerAddrParamsSet {
        hb_enabled: Some(false),
        ..PeerAddrParamsSet::default()
    };
    sctp::set_paddrparams(raw, 0, &off).unwrap();
    let want = PeerAddrParams {
        hb_enabled: false,
        ..want
    };
    assert_eq!(sctp::get_paddrparams(raw, 0).unwrap(), want);
    // An interval alone keeps heartbeats as they are (off here).
    let interval = PeerAddrParamsSet {
        hbinterval_ms: Some(900),
        ..PeerAddrParamsSet::default()
    };
    sctp::set_paddrparams(raw, 0, &interval).unwrap();
    let want = PeerAddrParams {
        hbinterval_ms: 900,
        ..want
    };
    assert_eq!(sctp::get_paddrparams(raw, 0).unwrap(), want);
    sctp::set_paddrparams(
        raw,
        0,
        &PeerAddrParamsSet::from(PeerAddrParams {
            hbinterval_ms: 1100,
            pathmaxrxt: 4,
            hb_enabled: true,
        }),
    )
    .unwrap();
    let want = PeerAddrParams {
        hbinterval_ms: 1100,
        pathmaxrxt: 4,
        hb_enabled: true,
    };
    assert_eq!(sctp::get_paddrparams(raw, 0).unwrap(), want);

    sctp::set_delayed_sack(raw, 0, Some(150), Some(3)).unwrap();
    assert_eq!(sctp::get_delayed_sack(raw, 0).unwrap(), (150, 3));
    sctp::set_delayed_sack(raw, 0, None, Some(1)).unwrap();
    assert_eq!(
        sctp::get_delayed_sack(raw, 0).unwrap(),
        (0, 1),
        "freq 1 = off"
    );
    sctp::set_delayed_sack(raw, 0, Some(200), Some(2)).unwrap();
    assert_eq!(sctp::get_delayed_sack(raw, 0).unwrap(), (200, 2));
    let e = sctp::set_delayed_sack(raw, 0, Some(501), None).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));

    sctp::set_max_burst(raw, 0, 6).unwrap();
    assert_eq!(sctp::get_max_burst(raw, 0).unwrap(), 6);

    sctp::set_autoclose(raw, 5).unwrap();
    assert_eq!(sctp::get_autoclose(raw).unwrap(), 5);
    sctp::set_autoclose(raw, 0).unwrap();
    assert_eq!(sctp::get_autoclose(raw).unwrap(), 0);

    sctp::set_nodelay(raw, true).unwrap();
    assert!(sctp::get_nodelay(raw).unwrap());
    sctp::set_nodelay(raw, false).unwrap();
    assert!(!sctp::get_nodelay(raw).unwrap());

    // SO_SNDBUF/SO_RCVBUF are the generic ones (Linux doubles the value it is given).
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, 65536).unwrap();
    set_int_opt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536).unwrap();
    assert!(get_int_opt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap() >= 65536);
    assert!(get_int_opt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap() >= 65536);

    // An association that does not exist.
    assert!(sctp::status(raw, 12345).is_err());
    assert!(sctp::peer_addrs(raw, 12345).is_err());
    assert!(sctp::get_rtoinfo(raw, 12345).is_err());
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn exchange_between_two_one_to_many_sockets() {
    require();
    let mut a = Ep::new();
    let mut b = Ep::new();
    let info = to(0, 1, 46);
    assert_eq!(
        sctp::send(a.raw(), b"hello", Some(b.addr), &info).unwrap(),
        5
    );
    let (a_assoc, a_out, a_in) = a.assoc_change(AssocState::CommUp, None);
    let (b_assoc, ..) = b.assoc_change(AssocState::CommUp, None);
    assert!(a_out > 0 && a_in > 0);
    let (bytes, from, assoc, stream, ppid) = b.data();
    assert_eq!(bytes, b"hello");
    assert_eq!(from, a.addr);
    assert_eq!(assoc, b_assoc);
    assert_eq!((stream, ppid), (1, 46));

    // The reply goes by association id, no address.
    let n = sctp::send(b.raw(), b"world", None, &to(b_assoc, 0, 47)).unwrap();
    assert_eq!(n, 5);
    let (bytes, from, assoc, stream, ppid) = a.data();
    assert_eq!(
        (bytes.as_slice(), from, assoc, stream, ppid),
        (&b"world"[..], b.addr, a_assoc, 0, 47)
    );

    let st: Status = sctp::status(a.raw(), a_assoc).unwrap();
    assert_eq!(st.state, Status::ESTABLISHED);
    assert_eq!(st.primary, Some(b.addr));
    assert_eq!((st.outstreams, st.instreams), (a_out, a_in));
    assert!(st.rwnd > 0 && st.frag_point > 0 && st.primary_rto_ms > 0);
    assert_eq!(sctp::peer_addrs(a.raw(), a_assoc).unwrap(), vec![b.addr]);
    assert_eq!(sctp::peer_addrs(b.raw(), b_assoc).unwrap(), vec![a.addr]);

    // Per-association options, read back (multiples of 100 ms survive the jiffies).
    let rto = RtoInfo {
        initial_ms: 0,
        max_ms: 2000,
        min_ms: 300,
    };
    sctp::set_rtoinfo(a.raw(), a_assoc, rto).unwrap();
    let got = sctp::get_rtoinfo(a.raw(), a_assoc).unwrap();
    assert_eq!((got.max_ms, got.min_ms), (2000, 300));
    let hb = PeerAddrParamsSet {
        hbinterval_ms: Some(1200),
        pathmaxrxt: Some(4),
        hb_enabled: Some(true),
    };
    sctp::set_paddrparams(a.raw(), a_assoc, &hb).unwrap();
    let got = sctp::get_paddrparams(a.raw(), a_assoc).unwrap();
    let want = PeerAddrParams {
        hbinterval_ms: 1200,
        pathmaxrxt: 4,
        hb_enabled: true,
    };
    assert_eq!(got, want);
    sctp::set_asocmaxrxt(a.raw(), a_assoc, 6).unwrap();
    assert_eq!(sctp::get_asocmaxrxt(a.raw(), a_assoc).unwrap(), 6);
    sctp::set_max_burst(a.raw(), a_assoc, 3).unwrap();
    assert_eq!(sctp::get_max_burst(a.raw(), a_assoc).unwrap(), 3);
    sctp::set_delayed_sack(a.raw(), a_assoc, Some(100), Some(2)).unwrap();
    assert_eq!(sctp::get_delayed_sack(a.raw(), a_assoc).unwrap(), (100, 2));

    // A message larger than the read buffer comes in parts; only the last has eor.
    let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    sctp::send(a.raw(), &big, None, &to(a_assoc, 2, 5)).unwrap();
    let mut small = [0u8; 1000];
    let mut got = Vec::new();
    let mut parts = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match sctp::recv(b.raw(), &mut small).unwrap() {
            Recv::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "big message: {} bytes",
                    got.len()
                );
                wait_fd(b.raw(), WaitFor::Readable, DEADLINE).unwrap();
            }
            Recv::Data {
                len,
                assoc,
                stream,
                eor,
                ..
            } => {
                assert_eq!((assoc, stream), (b_assoc, 2));
                got.extend_from_slice(&small[..len]);
                parts.push((len, eor));
                if eor {
                    break;
                }
            }
            Recv::Notification(n) => b.log.push_back(Ev::Note(n)),
        }
    }
    assert_eq!(got, big);
    assert_eq!(parts.first(), Some(&(1000, false)));
    assert!(parts[..parts.len() - 1].iter().all(|p| !p.1));

    // SCTP_EOF: a graceful shutdown, seen on both sides.
    sctp::send(
        a.raw(),
        b"",
        None,
        &SendInfo {
            assoc: a_assoc,
            flags: SendFlags::EOF,
            ..SendInfo::default()
        },
    )
    .unwrap();
    b.wait("Shutdown", |e| match e {
        Ev::Note(Notification::Shutdown { assoc }) if *assoc == b_assoc => Some(()),
        _ => None,
    });
    b.assoc_change(AssocState::ShutdownComplete, Some(b_assoc));
    a.assoc_change(AssocState::ShutdownComplete, Some(a_assoc));
    assert!(sctp::status(a.raw(), a_assoc).is_err(), "association gone");
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn streams_are_negotiated_down() {
    require();
    let mut a = Ep::bound(&[sa("127.0.0.1:0")], |fd| {
        let init = InitMsg {
            num_ostreams: 4,
            ..InitMsg::default()
        };
        sctp::set_initmsg(fd, init).unwrap();
    });
    let mut b = Ep::bound(&[sa("127.0.0.1:0")], |fd| {
        let init = InitMsg {
            max_instreams: 2,
            ..InitMsg::default()
        };
        sctp::set_initmsg(fd, init).unwrap();
    });
    sctp::send(a.raw(), b"x", Some(b.addr), &to(0, 0, 0)).unwrap();
    let (a_assoc, a_out, _) = a.assoc_change(AssocState::CommUp, None);
    let (b_assoc, _, b_in) = b.assoc_change(AssocState::CommUp, None);
    assert_eq!((a_out, b_in), (2, 2), "min(4 asked, 2 granted)");
    assert_eq!(sctp::status(a.raw(), a_assoc).unwrap().outstreams, 2);
    assert_eq!(sctp::status(b.raw(), b_assoc).unwrap().instreams, 2);
    b.data();
    sctp::send(a.raw(), b"ok", None, &to(a_assoc, 1, 0)).unwrap();
    assert_eq!(b.data().3, 1);
    let e = sctp::send(a.raw(), b"no", None, &to(a_assoc, 3, 0)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "stream 3 of 2");
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn autoclose_ends_an_idle_association() {
    require();
    let mut a = Ep::bound(&[sa("127.0.0.1:0")], |fd| {
        sctp::set_autoclose(fd, 1).unwrap();
        assert_eq!(sctp::get_autoclose(fd).unwrap(), 1);
    });
    let mut b = Ep::new();
    sctp::send(a.raw(), b"idle soon", Some(b.addr), &to(0, 0, 0)).unwrap();
    let (a_assoc, ..) = a.assoc_change(AssocState::CommUp, None);
    let (b_assoc, ..) = b.assoc_change(AssocState::CommUp, None);
    b.data();
    let t0 = Instant::now();
    a.assoc_change(AssocState::ShutdownComplete, Some(a_assoc));
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "closed too soon"
    );
    b.assoc_change(AssocState::ShutdownComplete, Some(b_assoc));
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn send_to_nobody_fails_and_returns_the_data() {
    require();
    // A port nobody listens on: bind one, then close it.
    let gone = {
        let probe = Ep::new();
        probe.addr
    };
    let mut a = Ep::new();
    // Every read in a 16-byte buffer: notifications must still come whole.
    a.buf_len = 16;
    let msg = b"REGISTER sip:nobody SIP/2.0\r\n\r\n";
    sctp::send(a.raw(), msg, Some(gone), &to(0, 0, 0)).unwrap();
    a.assoc_change(AssocState::CantStartAssoc, None);
    let data = a.wait("SendFailed", |e| match e {
        Ev::Note(Notification::SendFailed { data, .. }) => Some(data.clone()),
        _ => None,
    });
    assert_eq!(data, msg);
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn multihomed_peer_second_path_is_confirmed() {
    require();
    let fast = |fd: RawFd| {
        let rto = RtoInfo {
            initial_ms: 200,
            max_ms: 500,
            min_ms: 100,
        };
        sctp::set_rtoinfo(fd, 0, rto).unwrap();
    };
    let mut a = Ep::bound(&[sa("127.0.0.1:0")], fast);
    let b = Ep::bound(&[sa("127.0.0.1:0"), sa("127.0.0.2:0")], fast);
    sctp::send(a.raw(), b"hi", Some(b.addr), &to(0, 0, 0)).unwrap();
    let (a_assoc, ..) = a.assoc_change(AssocState::CommUp, None);
    let second = SocketAddr::from(([127, 0, 0, 2], b.addr.port()));
    let mut peers = sctp::peer_addrs(a.raw(), a_assoc).unwrap();
    peers.sort();
    assert_eq!(peers, vec![b.addr, second]);
    a.wait("PeerAddrChange Confirmed", |e| match e {
        Ev::Note(Notification::PeerAddrChange {
            assoc,
            addr: Some(addr),
            state: PeerAddrState::Confirmed,
            ..
        }) if *assoc == a_assoc && *addr == second => Some(()),
        _ => None,
    });
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a VM"]
fn ipv6_exchange() {
    require();
    let mut a = Ep::bound(&[sa("[::1]:0")], |_| {});
    let mut b = Ep::bound(&[sa("[::1]:0")], |_| {});
    sctp::send(a.raw(), b"v6", Some(b.addr), &to(0, 0, 99)).unwrap();
    let (a_assoc, ..) = a.assoc_change(AssocState::CommUp, None);
    let (bytes, from, _, _, ppid) = b.data();
    assert_eq!((bytes.as_slice(), from, ppid), (&b"v6"[..], a.addr, 99));
    assert_eq!(
        sctp::status(a.raw(), a_assoc).unwrap().primary,
        Some(b.addr)
    );
}

#[test]
fn availability_is_consistent() {
    // Runs everywhere: without kernel SCTP, creating a socket fails (and says why).
    if !sctp::available() {
        assert!(sctp::socket(false).is_err());
    } else {
        assert!(sctp::socket(false).is_ok());
    }
}
