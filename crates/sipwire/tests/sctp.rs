//! SIP over SCTP through the runtime: a plain one-to-many SCTP socket as the peer, the
//! runtime's `listen=sctp:` endpoint, `on_message` with `Proto::Sctp` and an association id,
//! replies and sends by destination. Needs kernel SCTP: ignored by a plain `cargo test` on a
//! host without it; `make sctp-test` runs them with `--include-ignored` in a guest that has it
//! (where they fail if SCTP is missing). The no-SCTP behaviour is tested without a guest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use sipwire::config::{Config, ParseOptions};
use sipwire::{Proto, Runtime, StartError, Target};
use sipwire_sys::sctp::{self, Recv, SendInfo};
use sipwire_sys::{wait_fd, WaitFor};
use sipwire_testkit::runtime::Recorder;
use sipwire_testkit::{sip::options, sip::SipConn, WAIT};

fn config(text: &str) -> Config {
    Config::from_str_with("sctp-test.cfg", text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn require_sctp() {
    assert!(
        sctp::available(),
        "this kernel has no SCTP: run these tests with make sctp-test"
    );
}

/// A peer: a one-to-many socket on 127.0.0.1 with notifications on.
fn peer() -> (OwnedFd, SocketAddr) {
    let fd = sctp::socket(false).unwrap();
    sctp::bindx(fd.as_raw_fd(), &["127.0.0.1:0".parse().unwrap()]).unwrap();
    sctp::subscribe(fd.as_raw_fd()).unwrap();
    sctp::listen(fd.as_raw_fd(), 16).unwrap();
    let addr = sctp::local_addrs(fd.as_raw_fd()).unwrap()[0];
    (fd, addr)
}

/// The next data message the peer receives (notifications skipped), within [`WAIT`].
fn recv_data(fd: &OwnedFd) -> (Vec<u8>, i32) {
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no SCTP message within {WAIT:?}");
        wait_fd(fd.as_raw_fd(), WaitFor::Readable, left).unwrap();
        match sctp::recv(fd.as_raw_fd(), &mut buf).unwrap() {
            Recv::Data {
                len, assoc, eor, ..
            } => {
                assert!(eor, "a reply split over reads");
                return (buf[..len].to_vec(), assoc);
            }
            Recv::Notification(_) | Recv::WouldBlock => {}
        }
    }
}

fn send_to(fd: &OwnedFd, dst: SocketAddr, bytes: &[u8]) {
    let info = SendInfo::default();
    sctp::send(fd.as_raw_fd(), bytes, Some(dst), &info).unwrap();
}

fn sctp_addr(rt: &Runtime) -> SocketAddr {
    rt.transport().sctp_endpoints()[0].local_addrs()[0]
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn messages_arrive_with_an_association_id_and_replies_go_back() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    rec.on_msg.lock().replace(Box::new(|ctx, got| {
        let reply = format!(
            "SIP/2.0 200 OK\r\nX-Echo: {}\r\nContent-Length: 0\r\n\r\n",
            got.bytes.len()
        );
        ctx.reply(reply.as_bytes()).unwrap();
    }));
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=2\n"),
        rec.clone(),
    )
    .unwrap();
    assert!(
        rt.transport().listen_addrs().is_empty(),
        "an SCTP-only config binds no TCP"
    );
    let server = sctp_addr(&rt);
    let (peer, peer_addr) = peer();
    let req = options(1, "");
    send_to(&peer, server, &req);
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].bytes, req);
    assert!(got[0].conid.is_sctp(), "{:?}", got[0].conid);
    assert_eq!(got[0].source, peer_addr);
    let (reply, _) = recv_data(&peer);
    assert!(
        reply.starts_with(b"SIP/2.0 200 OK\r\nX-Echo: "),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // A send by association id and one by destination reach the same peer.
    rt.transport()
        .send(
            got[0].conid,
            b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    assert!(recv_data(&peer).0.starts_with(b"MESSAGE"));
    let sent = rt
        .transport()
        .send(
            Target::Sctp(peer_addr),
            b"INFO sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    assert_eq!(sent, got[0].conid, "the association is reused");
    assert!(recv_data(&peer).0.starts_with(b"INFO"));
    assert_eq!(rt.transport().conn_peer(got[0].conid), Some(peer_addr));
    let stats = rt.transport().sctp_stats();
    let get = |n: &str| {
        stats
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!(get("sctp_messages"), 1);
    assert_eq!(get("sctp_sends"), 3);
    assert!(get("sctp_assoc_up") >= 1);
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn an_association_shut_down_by_the_peer_is_a_closed_event() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=1\n"),
        rec.clone(),
    )
    .unwrap();
    let server = sctp_addr(&rt);
    let (peer, _) = peer();
    send_to(&peer, server, &options(1, ""));
    let got = rec.wait_msgs(1);
    assert!(got[0].conid.sctp_parts().is_some());
    // The peer ends its association (SCTP_EOF on its side's association id).
    let peer_assoc = {
        rt.transport()
            .send(
                got[0].conid,
                b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n",
            )
            .unwrap();
        recv_data(&peer).1
    };
    let info = SendInfo {
        assoc: peer_assoc,
        flags: sctp::SendFlags::EOF,
        ..SendInfo::default()
    };
    sctp::send(peer.as_raw_fd(), &[], None, &info).unwrap();
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, got[0].conid);
    assert_eq!(ev[0].proto, Proto::Sctp);
    assert_eq!(ev[0].reason, sipwire::CloseReason::PeerClosed);
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn max_assocs_with_tracking_refuses_the_new_association_before_sending() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=1\nsctp_max_assocs=1\n"),
        rec.clone(),
    )
    .unwrap();
    let (p1, a1) = peer();
    let (_p2, a2) = peer();
    rt.transport()
        .send(Target::Sctp(a1), &options(1, ""))
        .unwrap();
    assert!(recv_data(&p1).0.starts_with(b"OPTIONS"));
    // Wait until the first association is counted up, then the second is refused.
    sipwire_testkit::wait_for("association up", WAIT, || {
        rt.transport().sctp_endpoints()[0].live_assocs() == 1
    });
    match rt.transport().send(Target::Sctp(a2), &options(2, "")) {
        Err(sipwire::SendError::TooManyConnections(d)) => assert_eq!(d, a2),
        other => panic!("expected TooManyConnections, got {other:?}"),
    }
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn socket_options_from_the_config_are_on_the_socket() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config(
            "listen=sctp:127.0.0.1:0\ntcp_children=1\nsctp_autoclose=77\nsctp_srto_initial=400\n\
             sctp_srto_min=200\nsctp_srto_max=900\nsctp_asocmaxrxt=7\nsctp_init_max_attempts=5\n\
             sctp_init_max_timeo=3000\nsctp_hbinterval=1500\nsctp_pathmaxrxt=3\n\
             sctp_sack_delay=150\nsctp_sack_freq=2\nsctp_max_burst=6\nsctp_socket_sndbuf=262144\n",
        ),
        rec,
    )
    .unwrap();
    let fd = rt.transport().sctp_endpoints()[0].fd();
    assert_eq!(sctp::get_autoclose(fd).unwrap(), 77);
    let rto = sctp::get_rtoinfo(fd, 0).unwrap();
    assert_eq!((rto.initial_ms, rto.min_ms, rto.max_ms), (400, 200, 900));
    assert_eq!(sctp::get_asocmaxrxt(fd, 0).unwrap(), 7);
    let init = sctp::get_initmsg(fd).unwrap();
    assert_eq!((init.max_attempts, init.max_init_timeo_ms), (5, 3000));
    let pa = sctp::get_paddrparams(fd, 0).unwrap();
    assert_eq!(
        (pa.hbinterval_ms, pa.pathmaxrxt, pa.hb_enabled),
        (1500, 3, true)
    );
    assert_eq!(sctp::get_delayed_sack(fd, 0).unwrap(), (150, 2));
    assert_eq!(sctp::get_max_burst(fd, 0).unwrap(), 6);
    assert!(
        sctp::get_nodelay(fd).unwrap(),
        "SCTP_NODELAY on, as Kamailio"
    );
    // Linux doubles SO_SNDBUF for bookkeeping.
    assert!(sipwire_sys::get_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap() >= 262144);
    // A runtime change reaches the socket (for new associations) on the reader's next pass.
    rt.transport()
        .config()
        .set_now_int("sctp", "autoclose", 33)
        .unwrap();
    let (p, _) = peer();
    send_to(&p, sctp_addr(&rt), &options(1, ""));
    sipwire_testkit::wait_for("autoclose re-applied", WAIT, || {
        sctp::get_autoclose(fd).unwrap() == 33
    });
    rt.shutdown();
}

/// Without kernel SCTP (this is checked, not assumed): an SCTP listener next to a TCP one
/// is skipped with an error naming the cause and TCP serves; an SCTP-only config does not
/// start, and says why. With SCTP, both endpoints open.
#[test]
fn without_kernel_sctp_tcp_is_unaffected_and_sctp_only_fails_clearly() {
    let mixed = config("listen=tcp:127.0.0.1:0\nlisten=sctp:127.0.0.1:0\ntcp_children=1\n");
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(mixed, rec.clone()).unwrap();
    let tcp = rt.transport().listen_addrs()[0];
    let mut c = SipConn::connect(tcp);
    c.send(std::str::from_utf8(&options(1, "")).unwrap());
    assert!(!rec.wait_msgs(1)[0].conid.is_sctp());
    let have = sctp::available();
    assert_eq!(rt.transport().sctp_endpoints().len(), usize::from(have));
    rt.shutdown();
    let only = config("listen=sctp:127.0.0.1:0\ntcp_children=1\n");
    match Runtime::start(only, Arc::new(Recorder::default())) {
        Ok(rt) => {
            assert!(have, "an SCTP-only runtime started without kernel SCTP");
            assert!(rt.transport().listen_addrs().is_empty());
            rt.shutdown();
        }
        Err(StartError::Sctp(a, e)) => {
            assert!(!have, "SCTP is available but the endpoint failed: {e}");
            assert_eq!(a.ip().to_string(), "127.0.0.1");
            assert!(e.to_string().contains("this kernel has no SCTP"), "{e}");
        }
        Err(e) => panic!("unexpected start error: {e}"),
    }
}

fn stat(rt: &Runtime, name: &str) -> u64 {
    rt.transport()
        .sctp_stats()
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn autoclose_ends_an_idle_association() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=1\nsctp_autoclose=1\n"),
        rec.clone(),
    )
    .unwrap();
    let (peer, _) = peer();
    send_to(&peer, sctp_addr(&rt), &options(1, ""));
    let got = rec.wait_msgs(1);
    // Idle for sctp_autoclose seconds: the kernel shuts it down, reported as a close.
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, got[0].conid);
    assert_eq!(ev[0].reason, sipwire::CloseReason::PeerClosed);
    assert_eq!(stat(&rt, "sctp_assoc_shutdown"), 1);
    assert_eq!(
        rt.transport().conn_peer(got[0].conid),
        None,
        "no longer tracked"
    );
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn a_message_too_big_for_the_buffer_aborts_only_its_association() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=1\n"),
        rec.clone(),
    )
    .unwrap();
    let server = sctp_addr(&rt);
    let (big_peer, _) = peer();
    let (good_peer, good_addr) = peer();
    let mut big = options(1, "").to_vec();
    big.truncate(big.len() - 4);
    big.extend_from_slice(b"\r\nX-Pad: ");
    big.resize(100_000, b'x');
    big.extend_from_slice(b"\r\n\r\n");
    send_to(&big_peer, server, &big);
    sipwire_testkit::wait_for("the big message refused", WAIT, || {
        stat(&rt, "sctp_too_big") == 1
    });
    send_to(&good_peer, server, &options(2, ""));
    let got = rec.wait_msgs(1);
    assert_eq!(
        got[0].source, good_addr,
        "the other association is unaffected"
    );
    assert_eq!(got.len(), 1, "nothing of the big message was delivered");
    rt.shutdown();
}

/// Counts `on_unsent` calls.
#[derive(Default)]
struct Unsent {
    rec: Recorder,
    unsent: parking_lot::Mutex<Vec<Vec<u8>>>,
}

impl sipwire::Handler for Unsent {
    fn on_message(
        &self,
        ctx: &sipwire::Ctx<'_>,
        msg: sipwire::Message<'_>,
    ) -> Result<(), sipwire::HandlerError> {
        self.rec.on_message(ctx, msg)
    }
    fn on_unsent(&self, _t: &sipwire::Transport, _conid: sipwire::ConId, msg: &[u8]) {
        self.unsent.lock().push(msg.to_vec());
    }
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn send_retries_resend_a_message_the_kernel_gave_back_then_report_it_unsent() {
    require_sctp();
    let h = Arc::new(Unsent::default());
    let rt = Runtime::start(
        config("listen=sctp:127.0.0.1:0\ntcp_children=1\nsctp_send_retries=2\n"),
        h.clone(),
    )
    .unwrap();
    // Nobody listens there: the INIT is answered with an ABORT and the message comes back.
    let (gone, gone_addr) = peer();
    drop(gone);
    let msg = options(7, "");
    rt.transport().send(Target::Sctp(gone_addr), &msg).unwrap();
    sipwire_testkit::wait_for("reported unsent", WAIT, || !h.unsent.lock().is_empty());
    assert_eq!(h.unsent.lock().as_slice(), &[msg.to_vec()]);
    assert_eq!(stat(&rt, "sctp_resent"), 2, "sctp_send_retries resends");
    assert_eq!(
        stat(&rt, "sctp_send_failed"),
        3,
        "the first send and both resends failed"
    );
    rt.shutdown();
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn a_multihomed_endpoint_binds_every_address_and_answers_on_each() {
    require_sctp();
    let rec = Arc::new(Recorder::default());
    let rt = Runtime::start(
        config("listen=sctp:(127.0.0.1, 127.0.0.2):0\ntcp_children=1\n"),
        rec.clone(),
    )
    .unwrap();
    let locals = rt.transport().sctp_endpoints()[0].local_addrs().to_vec();
    let ips: Vec<String> = locals.iter().map(|a| a.ip().to_string()).collect();
    assert_eq!(ips, ["127.0.0.1", "127.0.0.2"], "{locals:?}");
    assert_eq!(locals[0].port(), locals[1].port());
    let (p1, _) = peer();
    let (p2, _) = peer();
    send_to(&p1, locals[0], &options(1, ""));
    send_to(&p2, locals[1], &options(2, ""));
    let got = rec.wait_msgs(2);
    assert!(got.iter().all(|g| g.conid.is_sctp()));
    assert_ne!(got[0].conid, got[1].conid);
    rt.shutdown();
}

/// `disable_tcp` turns TCP off, not SCTP: the endpoint's reader still runs, messages arrive
/// and SCTP sends work, while TCP sends are refused.
#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn disable_tcp_keeps_sctp_working() {
    use sipwire_sys::sctp;
    use std::os::fd::AsRawFd;
    assert!(sctp::available(), "this kernel has no SCTP");
    let (cfg, _) = sipwire::config::Config::from_str_with(
        "t.cfg",
        "disable_tcp=yes\nlisten=sctp:127.0.0.1:0\ntcp_children=4",
        Default::default(),
    )
    .unwrap();
    let rec = std::sync::Arc::new(Recorder::default());
    let rt = sipwire::Runtime::start(cfg, rec.clone()).unwrap();
    let t = rt.transport();
    assert!(t.listen_addrs().is_empty());
    assert_eq!(t.reader_count(), 1, "one reader for the one SCTP endpoint");
    let server = t.sctp_endpoints()[0].local_addrs()[0];
    let peer = sctp::socket(false).unwrap();
    let pfd = peer.as_raw_fd();
    sctp::bindx(pfd, &["127.0.0.1:0".parse().unwrap()]).unwrap();
    sctp::listen(pfd, 16).unwrap();
    let peer_addr = sctp::local_addrs(pfd).unwrap()[0];
    let req = options(1, "");
    sctp::send(pfd, &req, Some(server), &sctp::SendInfo::default()).unwrap();
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].bytes, req);
    assert!(got[0].conid.is_sctp());
    let reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(t.send(got[0].conid, reply).unwrap(), got[0].conid);
    let mut buf = vec![0u8; 65536];
    let deadline = sipwire_testkit::Deadline::after(WAIT);
    loop {
        assert!(!deadline.passed(), "no SCTP reply");
        wait_fd(pfd, WaitFor::Readable, deadline.left()).unwrap();
        if let sctp::Recv::Data { len, .. } = sctp::recv(pfd, &mut buf).unwrap() {
            assert_eq!(&buf[..len], reply);
            break;
        }
    }
    assert!(matches!(
        t.send(peer_addr, b"x"),
        Err(sipwire::SendError::TcpDisabled(_))
    ));
    rt.shutdown();
}
