//! Each inbound option at its edges, over loopback sockets (issue #4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use sipwire::{CloseReason, ConnState};
use sipwire_sys as sys;
use sipwire_testkit::prelude::*;

#[test]
fn max_connections_refuses_the_extra_one_and_keeps_the_others() {
    let (rt, rec, addr) = start("tcp_max_connections=2");
    let t = rt.transport();
    let mut a = connect(addr);
    let mut b = connect(addr);
    wait_for("two connections", WAIT, || t.connection_count() == 2);
    let mut c = connect(addr);
    assert!(
        wait_closed(&mut c),
        "third connection must be closed by the server"
    );
    assert_eq!(t.stats().refused_max_connections, 1);
    send(&mut a, &options(1, ""));
    send(&mut b, &options(2, ""));
    rec.wait_msgs(2);
    assert_eq!(t.connection_count(), 2);
    // Below the limit again, a new connection is accepted.
    drop(a);
    wait_for("one connection", WAIT, || t.connection_count() == 1);
    let mut d = connect(addr);
    send(&mut d, &options(3, ""));
    rec.wait_msgs(3);
}

#[test]
fn accept_unique_refuses_a_second_connection_from_the_same_ip_and_port() {
    let text =
        "listen=tcp:127.0.0.1:0\nlisten=tcp:127.0.0.2:0\ntcp_accept_unique=1\ntcp_children=1";
    let (cfg, _) =
        sipwire::config::Config::from_str_with("t.cfg", text, Default::default()).unwrap();
    let (rt, rec, _) = start_with(cfg);
    let t = rt.transport();
    let addrs = t.listen_addrs().to_vec();
    // Reserve a source port, then use it for two connections to the two listeners.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let src: SocketAddr = probe.local_addr().unwrap();
    drop(probe);
    let mut a = sys::connect_from(Some(src), addrs[0], true).unwrap();
    a.set_read_timeout(Some(WAIT)).unwrap();
    wait_for("first connection", WAIT, || t.connection_count() == 1);
    let mut b = sys::connect_from(Some(src), addrs[1], true).unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    assert!(wait_closed(&mut b), "duplicate must be refused");
    assert_eq!(t.stats().refused_unique, 1);
    a.write_all(&options(1, "")).unwrap();
    rec.wait_msgs(1);
}

#[test]
fn lifetime_closes_idle_connections_and_traffic_postpones_it() {
    let (rt, rec, addr) = start("tcp_connection_lifetime=2");
    let t = rt.transport();
    let mut idle = connect(addr);
    let mut busy = connect(addr);
    let start = Instant::now();
    // Keep `busy` talking every 300 ms for 3.3 s: longer than the lifetime.
    for i in 0..11 {
        send(&mut busy, &options(i, ""));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(wait_closed(&mut idle));
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert_eq!(rec.msg_count(), 11);
    assert_eq!(t.connection_count(), 1, "the busy connection is still open");
    // Now quiet: it goes too, reported as a lifetime close.
    assert!(wait_closed(&mut busy));
    let ev = rec.wait_events(2);
    assert!(
        ev.iter().all(|e| e.reason == CloseReason::Lifetime),
        "{ev:?}"
    );
    assert_eq!(t.stats().lifetime_expired, 2);
}

#[test]
fn per_connection_lifetime_overrides_the_default() {
    let (rt, rec, addr) = start("tcp_connection_lifetime=3600");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    let id = rec.wait_msgs(1)[0].conid;
    t.set_connection_lifetime(id, 1).unwrap();
    assert_eq!(
        t.conn_info(id).unwrap().lifetime_override,
        Some(Duration::from_secs(1))
    );
    assert!(wait_closed(&mut c));
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::Lifetime);
}

#[test]
fn wait_data_closes_a_silent_proxy_connection() {
    let (rt, rec, addr) = start("tcp_accept_haproxy=yes\ntcp_wait_data=200");
    let t = rt.transport();
    let mut silent = connect(addr);
    let mut good = connect(addr);
    send(&mut good, b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 5060\r\n");
    send(&mut good, &options(1, ""));
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].source, "192.0.2.7:40000".parse().unwrap());
    assert_eq!(got[0].peer, good.local_addr().unwrap());
    assert!(wait_closed(&mut silent));
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::WaitData);
    assert_eq!(t.stats().wait_data_expired, 1);
    // The good connection is past its header: wait_data does not apply to it any more.
    send(&mut good, &options(2, ""));
    rec.wait_msgs(2);
}

#[test]
fn haproxy_on_rejects_a_connection_without_a_header() {
    let (rt, rec, addr) = start("tcp_accept_haproxy=yes");
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    assert!(wait_closed(&mut c));
    assert_eq!(rec.msg_count(), 0);
    assert_eq!(rt.transport().stats().parse_errors, 1);
}

/// Sends `parts` as separate reads: each write waits until the runtime has read the previous.
fn dribble(t: &sipwire::Transport, s: &mut std::net::TcpStream, parts: &[&[u8]]) {
    for p in parts {
        let before = t.stats().reads;
        send(s, p);
        wait_for("the part was read", WAIT, || t.stats().reads > before);
    }
}

#[test]
fn max_msg_chunks_closes_a_message_dribbled_in_too_many_reads() {
    let (rt, rec, addr) = start("modparam(\"proto_tcp\", \"tcp_max_msg_chunks\", 3)");
    let t = rt.transport();
    let m = options(1, "body");
    // Three reads: allowed.
    let mut ok = connect(addr);
    dribble(&t, &mut ok, &[&m[..10], &m[10..20], &m[20..]]);
    assert_eq!(rec.wait_msgs(1)[0].chunks, 3);
    // Four reads: closed, and nothing delivered.
    let mut bad = connect(addr);
    dribble(&t, &mut bad, &[&m[..10], &m[10..20], &m[20..30], &m[30..]]);
    assert!(wait_closed(&mut bad));
    assert_eq!(t.stats().chunks_exceeded, 1);
    assert_eq!(rec.msg_count(), 1);
    send(&mut ok, &options(2, ""));
    rec.wait_msgs(2);
}

/// A SIP message of exactly `size` bytes.
fn sip_of_size(n: usize, size: usize) -> Vec<u8> {
    let mut body = 0;
    loop {
        let m = options(n, &"x".repeat(body));
        if m.len() == size {
            return m;
        }
        assert!(m.len() < size, "cannot hit {size} exactly");
        body += 1;
    }
}

#[test]
fn rd_buf_size_rejects_the_oversize_message_and_others_carry_on() {
    let (rt, rec, addr) = start("tcp_rd_buf_size=1024");
    let t = rt.transport();
    let mut other = connect(addr);
    let mut big = connect(addr);
    // Exactly the capacity fits; one byte more does not.
    let fits = sip_of_size(1, 1024);
    send(&mut big, &fits);
    rec.wait_msgs(1);
    let over = sip_of_size(2, 1025);
    send(&mut big, &over);
    assert!(wait_closed(&mut big));
    assert_eq!(t.stats().parse_errors, 1);
    send(&mut other, &options(3, "still here"));
    let got = rec.wait_msgs(2);
    assert!(got[1].bytes.ends_with(b"still here"));
}

#[test]
fn crlf_ping_gets_a_pong_and_lone_crlf_gets_nothing() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, b"\r\n");
    wait_for("keepalive seen", WAIT, || t.stats().keepalives == 1);
    send(&mut c, b"\r\n\r\n");
    let mut pong = [0u8; 2];
    c.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    assert_eq!(t.stats().pings, 1);
    wait_for("pong counted", WAIT, || t.stats().pongs == 1);
}

#[test]
fn crlf_pong_can_be_turned_off() {
    let (rt, rec, addr) = start("modparam(\"proto_tcp\", \"tcp_crlf_pingpong\", 0)");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, b"\r\n\r\n");
    wait_for("ping seen", WAIT, || t.stats().pings == 1);
    send(&mut c, &options(1, ""));
    rec.wait_msgs(1);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 2];
    assert!(c.read(&mut b).is_err(), "no pong expected");
    assert_eq!(t.stats().pongs, 0);
}

#[test]
fn accept_no_cl_and_clone_rcvbuf() {
    let no_cl = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\n\r\n";
    let (rt, rec, addr) = start("");
    let mut c = connect(addr);
    send(&mut c, no_cl);
    assert!(
        wait_closed(&mut c),
        "missing Content-Length closes by default"
    );
    assert_eq!(rec.msg_count(), 0);
    drop(rt);
    let (_rt, rec, addr) = start("tcp_accept_no_cl=yes\ntcp_clone_rcvbuf=1");
    let mut c = connect(addr);
    send(&mut c, no_cl);
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].bytes, no_cl);
    assert!(got[0].owned, "tcp_clone_rcvbuf hands over an owned copy");
}

/// Records each message's bytes and body offset (the testkit recorder keeps no `body_start`).
#[derive(Default)]
struct Bodies(std::sync::Mutex<Vec<(Vec<u8>, usize)>>);

impl sipwire::Handler for Bodies {
    fn on_message(
        &self,
        _ctx: &sipwire::Ctx<'_>,
        msg: sipwire::Message<'_>,
    ) -> Result<(), sipwire::HandlerError> {
        self.0
            .lock()
            .unwrap()
            .push((msg.bytes.to_vec(), msg.body_start));
        Ok(())
    }

    fn on_event(&self, _ev: &sipwire::Event) {}
}

/// An HTTP/1.1 XCAP PUT with a chunked body (an extension on one size line, a trailer): the
/// head and the whole request.
fn chunked_xcap_put() -> (String, Vec<u8>) {
    let head = "PUT /xcap-root/pres-rules/users/sip:alice@example.com/index HTTP/1.1\r\n\
                Host: xcap.example.com\r\n\
                Content-Type: application/auth-policy+xml\r\n\
                Transfer-Encoding: chunked\r\n\r\n"
        .to_string();
    let body = format!(
        "{head}1B\r\n<?xml version=\"1.0\"?>\r\n<cr:\r\n\
         15;part=2\r\nruleset/>\r\n</cr:rules\r\n\
         1\r\n>\r\n\
         0\r\nX-Trailer: done\r\n\r\n"
    );
    (head, body.into_bytes())
}

#[test]
fn accept_no_cl_frames_chunked_xcap_bodies() {
    let (head, put) = chunked_xcap_put();
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\ntcp_accept_no_cl=yes\n";
    let (cfg, _) = sipwire::config::Config::from_str_with(
        "test.cfg",
        text,
        sipwire::config::ParseOptions::default(),
    )
    .unwrap();
    let bodies = std::sync::Arc::new(Bodies::default());
    let rt = sipwire::Runtime::start(cfg, bodies.clone()).unwrap();
    let t = rt.transport();
    let addr = t.listen_addrs()[0];
    let mut c = connect(addr);
    // The request in three reads (cut inside a size line and inside chunk data), then a
    // SIP message with a Content-Length on the same connection.
    dribble(
        &t,
        &mut c,
        &[
            &put[..head.len() + 1],
            &put[head.len() + 1..head.len() + 50],
        ],
    );
    let mut rest = put[head.len() + 50..].to_vec();
    rest.extend_from_slice(&options(1, "after xcap"));
    send(&mut c, &rest);
    wait_for("two messages", WAIT, || bodies.0.lock().unwrap().len() == 2);
    let got = bodies.0.lock().unwrap().clone();
    // The request as it came, chunk framing included; its body is the chunks.
    assert_eq!(got[0].0, put);
    assert_eq!(got[0].1, head.len());
    let body = &got[0].0[got[0].1..];
    let data: Vec<u8> = sipwire_frame::sip::chunked_data(body)
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        "<?xml version=\"1.0\"?>\r\n<cr:ruleset/>\r\n</cr:rules>"
    );
    // The SIP message after it is intact.
    assert_eq!(got[1].0, options(1, "after xcap"));
    assert!(got[1].0[got[1].1..].starts_with(b"after xcap"));
    // Content-Length and Transfer-Encoding together: that connection only is closed.
    let mut smuggle = connect(addr);
    send(
        &mut smuggle,
        b"PUT /xcap-root/x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert!(wait_closed(&mut smuggle));
    assert_eq!(t.stats().parse_errors, 1);
    send(&mut c, &options(2, ""));
    wait_for("the first connection still works", WAIT, || {
        bodies.0.lock().unwrap().len() == 3
    });
    drop(rt);
    // tcp_accept_no_cl=no (the default): a chunked request closes the connection.
    let (rt, rec, addr) = start("tcp_accept_no_cl=no");
    let mut c = connect(addr);
    send(&mut c, &put);
    assert!(
        wait_closed(&mut c),
        "Transfer-Encoding closes without tcp_accept_no_cl"
    );
    assert_eq!(rec.msg_count(), 0);
    assert_eq!(rt.transport().stats().parse_errors, 1);
}

#[test]
fn handler_failure_closes_unless_script_mode() {
    let (rt, rec, addr) = start("");
    let mut c = connect(addr);
    send(&mut c, &options(1, "FAIL"));
    assert!(wait_closed(&mut c));
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::Application);
    drop(rt);
    let (rt, rec, addr) = start("tcp_script_mode=1");
    let mut c = connect(addr);
    send(&mut c, &options(1, "FAIL"));
    send(&mut c, &options(2, "ok"));
    rec.wait_msgs(2);
    assert_eq!(rt.transport().stats().handler_errors, 1);
    assert_eq!(rt.transport().connection_count(), 1);
}

#[test]
fn hep3_frames_when_enabled() {
    let (_rt, rec, addr) = start("tcp_accept_hep3=yes");
    // HEP3 header with one payload chunk (vendor 0, type 0x000f).
    let payload = b"SIP/2.0 200 OK\r\n\r\n";
    let chunk_len = 6 + payload.len();
    let total = 6 + chunk_len;
    let mut pkt = b"HEP3".to_vec();
    pkt.extend_from_slice(&(total as u16).to_be_bytes());
    pkt.extend_from_slice(&[0, 0, 0, 0x0f]);
    pkt.extend_from_slice(&(chunk_len as u16).to_be_bytes());
    pkt.extend_from_slice(payload);
    let mut c = connect(addr);
    send(&mut c, &pkt);
    send(&mut c, &options(1, ""));
    let got = rec.wait_msgs(2);
    assert_eq!(got[0].kind, sipwire::MessageKind::Hep3);
    assert_eq!(got[0].bytes, pkt);
    assert_eq!(got[1].kind, sipwire::MessageKind::Sip);
}

#[test]
fn keepalive_options_are_applied_on_accept() {
    let (rt, rec, addr) =
        start("tcp_keepalive=yes\ntcp_keepidle=7\ntcp_keepcnt=3\ntcp_keepintvl=2");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    let id = rec.wait_msgs(1)[0].conid;
    let info = t.conn_info(id).unwrap();
    assert!(info.keepalive);
    assert_eq!(info.keepalive_params, (7, 3, 2));
    // tcpops on the same connection.
    t.keepalive_enable(id, 30, 4, 5).unwrap();
    assert_eq!(t.conn_info(id).unwrap().keepalive_params, (30, 4, 5));
    t.keepalive_disable(id).unwrap();
    assert!(!t.conn_info(id).unwrap().keepalive);
}

#[test]
fn tcpops_state_get_conid_and_close() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    let id = rec.wait_msgs(1)[0].conid;
    assert_eq!(t.conid_state(id), ConnState::Ok);
    assert_eq!(t.conid_state(id) as i8, 1);
    assert!(t.conid_alive(id));
    let me = c.local_addr().unwrap();
    assert_eq!(t.get_conid(&me.to_string()).unwrap(), id);
    assert!(t.get_conid("127.0.0.1:1").is_err());
    assert!(t.get_conid("not an address:x").is_err());
    t.close_connection(id).unwrap();
    assert!(wait_closed(&mut c));
    wait_for("closed", WAIT, || t.connection_count() == 0);
    assert_eq!(t.conid_state(id), ConnState::Gone);
    assert_eq!(t.conid_state(id) as i8, -1);
    assert!(!t.conid_alive(id));
    assert!(t.close_connection(id).is_err());
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::Application);
}

#[test]
fn close_from_inside_on_message() {
    let (rt, rec, addr) = start("");
    *rec.on_msg.lock() = Some(Box::new(|ctx, _got| {
        assert_eq!(ctx.conid_state(), ConnState::Ok);
        ctx.enable_closed_event().unwrap();
        ctx.close_connection().unwrap();
    }));
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    assert!(wait_closed(&mut c));
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::Application);
    drop(rt);
}

fn reset(s: std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    sys::set_linger_abort(s.as_raw_fd()).unwrap();
    drop(s);
}

#[test]
fn closed_event_modes() {
    // Mode 1 (default): FIN → tcp:closed, RST → tcp:reset.
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut a = connect(addr);
    send(&mut a, &options(1, ""));
    rec.wait_msgs(1);
    a.shutdown(Shutdown::Write).unwrap();
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].reason, CloseReason::PeerClosed);
    assert_eq!(ev[0].reason.event_name(), Some("tcp:closed"));
    assert_eq!(ev[0].remote, a.local_addr().unwrap());
    let b = connect(addr);
    let mut bb = b.try_clone().unwrap();
    send(&mut bb, &options(2, ""));
    rec.wait_msgs(2);
    reset(b);
    drop(bb);
    let ev = rec.wait_events(2);
    assert_eq!(ev[1].reason, CloseReason::Reset);
    assert_eq!(ev[1].reason.event_name(), Some("tcp:reset"));
    wait_for("closed", WAIT, || t.connection_count() == 0);
    drop(rt);

    // Mode 0: never.
    let (rt, rec, addr) = start("modparam(\"tcpops\", \"closed_event\", 0)");
    let mut a = connect(addr);
    send(&mut a, &options(1, ""));
    rec.wait_msgs(1);
    drop(a);
    let t = rt.transport();
    wait_for("closed", WAIT, || t.stats().closed == 1);
    assert!(rec.events.lock().is_empty());
    drop(rt);

    // Mode 2: only where enable_closed_event was called.
    let (rt, rec, addr) = start("modparam(\"tcpops\", \"closed_event\", 2)");
    let t = rt.transport();
    let mut quiet = connect(addr);
    let mut marked = connect(addr);
    send(&mut quiet, &options(1, ""));
    send(&mut marked, &options(2, ""));
    let got = rec.wait_msgs(2);
    let marked_id = got
        .iter()
        .find(|g| g.peer == marked.local_addr().unwrap())
        .unwrap()
        .conid;
    t.enable_closed_event(marked_id).unwrap();
    drop(quiet);
    drop(marked);
    wait_for("both closed", WAIT, || t.stats().closed == 2);
    let ev = rec.events.lock().clone();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].conid, marked_id);
}

#[test]
fn reuse_port_lets_two_runtimes_share_a_port() {
    let (rt1, _rec, addr) = start("tcp_reuse_port=yes");
    let text = format!("listen=tcp:{addr}\ntcp_reuse_port=yes\ntcp_children=1");
    let (cfg, _) =
        sipwire::config::Config::from_str_with("t.cfg", &text, Default::default()).unwrap();
    let (rt2, _rec2, addr2) = start_with(cfg);
    assert_eq!(addr, addr2);
    drop(rt2);
    drop(rt1);
    // Without it, the second bind fails with a bind error.
    let (rt1, _rec, addr) = start("");
    let text = format!("listen=tcp:{addr}\ntcp_children=1");
    let (cfg, _) =
        sipwire::config::Config::from_str_with("t.cfg", &text, Default::default()).unwrap();
    let rec = std::sync::Arc::new(Recorder::default());
    let err = sipwire::Runtime::start(cfg, rec).unwrap_err();
    assert!(matches!(err, sipwire::StartError::Bind(..)), "{err}");
    drop(rt1);
}

#[test]
fn disable_tcp_listens_nowhere() {
    let (cfg, _) = sipwire::config::Config::from_str_with(
        "t.cfg",
        "disable_tcp=yes\nlisten=tcp:127.0.0.1:0\ntcp_children=2",
        Default::default(),
    )
    .unwrap();
    let rec = std::sync::Arc::new(Recorder::default());
    let rt = sipwire::Runtime::start(cfg, rec).unwrap();
    let t = rt.transport();
    assert!(t.listen_addrs().is_empty());
    // No SCTP endpoint either: no reader is needed (and no TCP main runs).
    assert_eq!(t.reader_count(), 0);
    // A send to an address would connect: it is refused before any socket is made.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    peer.set_nonblocking(true).unwrap();
    let dst = peer.local_addr().unwrap();
    let e = t.send(dst, &options(1, "")).unwrap_err();
    assert!(
        matches!(e, sipwire::SendError::TcpDisabled(sipwire::Target::Addr(a)) if a == dst),
        "{e:?}"
    );
    assert!(e.to_string().contains("disable_tcp"), "{e}");
    let from = sipwire::Target::AddrFrom {
        dst,
        local: "127.0.0.1:0".parse().unwrap(),
    };
    assert!(matches!(
        t.send(from, b"x"),
        Err(sipwire::SendError::TcpDisabled(_))
    ));
    assert!(matches!(
        t.send(sipwire::ConId(1), b"x"),
        Err(sipwire::SendError::TcpDisabled(_))
    ));
    let s = t.stats();
    assert_eq!((s.connects, s.send_errors), (0, 3));
    assert_eq!(t.connection_count(), 0);
    // A connect would have put a connection in the peer's accept queue by now (loopback).
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        peer.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    rt.shutdown();
}

#[test]
fn defer_accept_listener_still_delivers() {
    let (_rt, rec, addr) = start("tcp_defer_accept=1");
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    rec.wait_msgs(1);
}

#[test]
fn graceful_shutdown_closes_everything_and_reports_it() {
    let (rt, rec, addr) = start("");
    let mut cs: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        send(c, &options(i, ""));
    }
    rec.wait_msgs(3);
    rt.shutdown();
    for c in &mut cs {
        assert!(wait_closed(c));
    }
    let ev = rec.events.lock().clone();
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.reason == CloseReason::Shutdown));
}

#[test]
fn runtime_changes_apply_to_the_next_message() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut c = connect(addr);
    send(&mut c, b"\r\n\r\n");
    let mut pong = [0u8; 2];
    c.read_exact(&mut pong).unwrap();
    // Kamailio: `kamcmd cfg.set_now_int tcp crlf_ping 0`.
    t.config().set_now_int("tcp", "crlf_ping", 0).unwrap();
    send(&mut c, b"\r\n\r\n");
    wait_for("second ping seen", WAIT, || t.stats().pings == 2);
    send(&mut c, &options(1, ""));
    rec.wait_msgs(1);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        c.read(&mut pong).is_err(),
        "no pong after crlf_ping was turned off"
    );
    // Read-only options say so.
    let e = t.config().set_now_int("tcp", "async", 0).unwrap_err();
    assert!(
        e.to_string().contains("cannot be changed at runtime"),
        "{e}"
    );
    // tcp_max_connections lowered at runtime refuses the next connection.
    t.config().set_now_int("tcp", "max_connections", 1).unwrap();
    let mut d = connect(addr);
    assert!(wait_closed(&mut d));
    assert_eq!(t.stats().refused_max_connections, 1);
}

#[test]
fn new_work_goes_to_the_least_busy_reader() {
    let (_rt, rec, addr) = start("tcp_children=2");
    let mut a = connect(addr);
    send(&mut a, &options(1, ""));
    rec.wait_msgs(1);
    // `a` is still owned by its reader (busy for READER_IDLE): `b` must go to the other one.
    let mut b = connect(addr);
    send(&mut b, &options(2, ""));
    let got = rec.wait_msgs(2);
    assert_ne!(got[0].thread, got[1].thread, "{got:?}");
    assert!(got.iter().all(|g| g.thread.starts_with("sipwire-reader-")));
}

#[test]
fn closed_connections_leave_no_timers() {
    let (rt, rec, addr) = start("tcp_accept_haproxy=yes");
    let t = rt.transport();
    let mut cs: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        send(c, b"PROXY UNKNOWN\r\n");
        send(c, &options(i, ""));
    }
    rec.wait_msgs(10);
    // Lifetime + wait-data timers for each connection (wait-data may already have fired).
    assert!(t.stats().timers_armed >= 10);
    drop(cs);
    wait_for("no connection and no timer left", WAIT, || {
        t.connection_count() == 0 && t.stats().timers_armed == 0
    });
}

#[test]
fn crlf_drop_makes_lone_crlf_not_count_as_traffic() {
    // proto_tcp `tcp_crlf_drop`: a read holding a single CRLF is dropped at once, so it is no
    // message traffic — it starts no message (the next one takes only its own reads, here
    // within tcp_max_msg_chunks = 1) and does not wait for a second CRLF (a ping split after
    // its first CRLF is two dropped CRLFs: no pong).
    let (rt, rec, addr) = start(
        "modparam(\"proto_tcp\", \"tcp_crlf_drop\", 1)\n\
         modparam(\"proto_tcp\", \"tcp_max_msg_chunks\", 1)",
    );
    let t = rt.transport();
    *rec.on_msg.lock() = Some(Box::new(|ctx, _| {
        ctx.reply(b"R").unwrap();
    }));
    let mut c = connect(addr);
    send(&mut c, b"\r\n");
    wait_for("first CRLF dropped", WAIT, || t.stats().keepalives == 1);
    send(&mut c, b"\r\n");
    wait_for("second CRLF dropped", WAIT, || t.stats().keepalives == 2);
    assert_eq!(t.stats().pings, 0);
    send(&mut c, &options(1, ""));
    let got = rec.wait_msgs(1);
    assert_eq!(
        got[0].chunks, 1,
        "the dropped CRLFs are no part of the message"
    );
    // The reply is the first thing back: no pong was sent before it.
    let mut r = [0u8; 1];
    c.read_exact(&mut r).unwrap();
    assert_eq!(&r, b"R");
    assert_eq!(t.stats().pongs, 0);
    assert_eq!(t.stats().chunks_exceeded, 0);
    assert_eq!(t.connection_count(), 1);
}

#[test]
fn idle_connections_hold_no_read_buffer() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut cs: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        send(c, &options(i, ""));
    }
    rec.wait_msgs(5);
    assert!(t.stats().read_buffers_in_use >= 1);
    // A partial message keeps its buffer when the connection goes idle.
    let partial = options(9, "");
    send(&mut cs[0], &partial[..20]);
    // After the readers' quiet period every connection is back in TCP main.
    wait_for("connections handed back to TCP main", WAIT, || {
        t.stats().releases >= 5
    });
    wait_for("only the partial message holds a buffer", WAIT, || {
        t.stats().read_buffers_in_use == 1
    });
    assert_eq!(t.connection_count(), 5);
    send(&mut cs[0], &partial[20..]);
    rec.wait_msgs(6);
}

#[test]
fn without_crlf_drop_a_lone_crlf_waits_for_what_follows() {
    // The other half (the default, 0): a single CRLF is not dropped; it stays in the stream
    // as the start of what follows.
    let (rt, rec, addr) = start("tcp_msg_read_timeout=1");
    let t = rt.transport();
    // A ping split by TCP after its first CRLF is still a ping, answered.
    let mut c = connect(addr);
    send(&mut c, b"\r\n");
    wait_for("lone CRLF read", WAIT, || t.stats().keepalives == 1);
    assert_eq!(t.stats().pings, 0);
    send(&mut c, b"\r\n");
    let mut pong = [0u8; 2];
    c.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    assert_eq!(t.stats().pings, 1);
    send(&mut c, &options(1, ""));
    assert_eq!(
        rec.wait_msgs(1)[0].chunks,
        1,
        "after the ping, nothing held"
    );
    // The held CRLF is a message in progress: nothing more within tcp_msg_read_timeout
    // closes the connection.
    let mut e = connect(addr);
    send(&mut e, b"\r\n");
    assert!(wait_closed(&mut e));
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::MsgReadTimeout);
    assert_eq!(t.connection_count(), 1, "c stays");
    drop(rt);
    // And a read of it: with it, a message in one more read takes two reads, over
    // tcp_max_msg_chunks = 1.
    let (rt, rec, addr) = start("modparam(\"proto_tcp\", \"tcp_max_msg_chunks\", 1)");
    let t = rt.transport();
    let mut d = connect(addr);
    send(&mut d, b"\r\n");
    wait_for("lone CRLF read", WAIT, || t.stats().keepalives == 1);
    send(&mut d, &options(2, ""));
    assert!(wait_closed(&mut d));
    assert_eq!(t.stats().chunks_exceeded, 1);
    assert_eq!(rec.msg_count(), 0);
    assert_eq!(rec.wait_events(1)[0].reason, CloseReason::Protocol);
}

#[test]
fn conid_state_is_accepting_until_the_first_read() {
    // Kamailio's S_CONN_ACCEPT: from accept until a read returns data. Alive (state >= 1).
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let mut c = connect(addr);
    let me = c.local_addr().unwrap().to_string();
    let mut id = None;
    wait_for("accepted", WAIT, || {
        id = t.get_conid(&me).ok();
        id.is_some()
    });
    let id = id.unwrap();
    // Nothing sent: nothing can have been read.
    assert_eq!(t.conid_state(id), ConnState::Accepting);
    assert_eq!(t.conid_state(id) as i8, 2);
    assert!(t.conid_alive(id));
    assert_eq!(t.conn_info(id).unwrap().state, ConnState::Accepting);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    *rec.on_msg.lock() = Some(Box::new(move |ctx, _| {
        let by_id = ctx.transport().conid_state(ctx.conid());
        seen2.lock().unwrap().push((ctx.conid_state(), by_id));
    }));
    send(&mut c, &options(1, ""));
    rec.wait_msgs(1);
    assert_eq!(*seen.lock().unwrap(), [(ConnState::Ok, ConnState::Ok)]);
    assert_eq!(t.conid_state(id) as i8, 1);
}

/// Records what `conid_state`/`conid_alive` say inside `on_event`, and holds TCP main there
/// (so every other final close waits) while `hold` is set.
#[derive(Default)]
struct StateProbe {
    transport: std::sync::OnceLock<sipwire::Transport>,
    msgs: std::sync::Mutex<Vec<sipwire::ConId>>,
    /// (conid, reason, state, alive) per event.
    events: std::sync::Mutex<Vec<(sipwire::ConId, CloseReason, ConnState, bool)>>,
    hold: std::sync::Mutex<bool>,
    released: std::sync::Condvar,
}

impl sipwire::Handler for StateProbe {
    fn on_message(
        &self,
        ctx: &sipwire::Ctx<'_>,
        _msg: sipwire::Message<'_>,
    ) -> Result<(), sipwire::HandlerError> {
        self.msgs.lock().unwrap().push(ctx.conid());
        Ok(())
    }

    fn on_event(&self, ev: &sipwire::Event) {
        let t = self.transport.get().unwrap();
        let seen = (
            ev.conid,
            ev.reason,
            t.conid_state(ev.conid),
            t.conid_alive(ev.conid),
        );
        self.events.lock().unwrap().push(seen);
        let mut hold = self.hold.lock().unwrap();
        while *hold {
            hold = self.released.wait(hold).unwrap();
        }
    }
}

#[test]
fn conid_state_reports_eof_and_errors_until_the_final_close() {
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\n";
    let (cfg, _) = sipwire::config::Config::from_str_with(
        "test.cfg",
        text,
        sipwire::config::ParseOptions::default(),
    )
    .unwrap();
    let probe = std::sync::Arc::new(StateProbe::default());
    *probe.hold.lock().unwrap() = true;
    let rt = sipwire::Runtime::start(cfg, probe.clone()).unwrap();
    let t = rt.transport();
    probe.transport.set(t.clone()).ok().unwrap();
    let addr = t.listen_addrs()[0];
    let mut clients: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &options(i, ""));
    }
    wait_for("4 messages", WAIT, || probe.msgs.lock().unwrap().len() == 4);
    let ids: Vec<_> = clients
        .iter()
        .map(|c| t.get_conid(&c.local_addr().unwrap().to_string()).unwrap())
        .collect();
    assert!(ids.iter().all(|&id| t.conid_state(id) == ConnState::Ok));
    let events = |n: usize| {
        wait_for("events", WAIT, || probe.events.lock().unwrap().len() == n);
        probe.events.lock().unwrap().clone()
    };
    // FIN from the first: its close event sees it at EOF, not alive. TCP main stays there.
    clients[0].shutdown(Shutdown::Write).unwrap();
    let ev = events(1);
    assert_eq!(
        ev[0],
        (ids[0], CloseReason::PeerClosed, ConnState::Eof, false)
    );
    assert_eq!(ConnState::Eof as i8, -2);
    // Meanwhile, nothing is finalized: the others hold their closing state, seen from here.
    clients[1].shutdown(Shutdown::Write).unwrap();
    wait_for("EOF read", WAIT, || t.conid_state(ids[1]) != ConnState::Ok);
    assert_eq!(t.conid_state(ids[1]), ConnState::Eof, "never OK after EOF");
    assert!(!t.conid_alive(ids[1]));
    assert_eq!(t.conn_info(ids[1]).unwrap().state, ConnState::Eof);
    reset(clients.remove(2));
    wait_for("reset read", WAIT, || {
        t.conid_state(ids[2]) != ConnState::Ok
    });
    assert_eq!(t.conid_state(ids[2]), ConnState::Error);
    assert_eq!(t.conid_state(ids[2]) as i8, -3);
    assert!(!t.conid_alive(ids[2]));
    t.close_connection(ids[3]).unwrap();
    assert_eq!(t.conid_state(ids[3]), ConnState::Bad, "closing: asked for");
    assert_eq!(t.conid_state(ids[3]) as i8, -4);
    assert!(!t.conid_alive(ids[3]));
    assert_eq!(t.connection_count(), 3, "only the first is finalized");
    // Let TCP main go: each close event still sees its connection's state.
    *probe.hold.lock().unwrap() = false;
    probe.released.notify_all();
    let mut ev = events(4);
    ev.sort_by_key(|e| ids.iter().position(|&id| id == e.0));
    assert_eq!(
        ev[1..],
        [
            (ids[1], CloseReason::PeerClosed, ConnState::Eof, false),
            (ids[2], CloseReason::Reset, ConnState::Error, false),
            (ids[3], CloseReason::Application, ConnState::Bad, false),
        ]
    );
    wait_for("all closed", WAIT, || t.connection_count() == 0);
    for id in ids {
        assert_eq!(t.conid_state(id), ConnState::Gone);
        assert!(!t.conid_alive(id));
    }
    drop(rt);
}

#[test]
fn stop_accepting_closes_the_listener_and_keeps_the_connections() {
    let (rt, rec, addr) = start("tcp_children=1");
    let t = rt.transport();
    let mut a = connect(addr);
    // Outbound connections are not counted: one the runtime opens to a peer of ours.
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    t.send(peer.local_addr().unwrap(), &options(9, "")).unwrap();
    wait_for("both connections", WAIT, || t.connection_count() == 2);
    assert_eq!(t.accepted_count(), 1);
    t.stop_accepting();
    wait_for("the listener to close", WAIT, || !is_listening(addr.port()));
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The open connection is served as before.
    send(&mut a, &options(1, ""));
    rec.wait_msgs(1);
    assert_eq!(t.stats().accepted, 1);
    drop(a);
    wait_for("the client's close", WAIT, || t.accepted_count() == 0);
    assert_eq!(t.connection_count(), 1);
}
