//! `tcp_connection_match`, set through the config, over loopback: which open connection a
//! send to a peer's address uses when several answer to it (Kamailio's `tcp_send` lookup).
//!
//! The peer connects twice from one source port (as a peer that connects from its listening
//! port does), once to each of our two listeners; both connections then answer to that
//! address. With 0 the newest wins whatever its local port; with 1 the one on the sending
//! socket's port wins (the first listener's for a plain address), and when there is none any
//! other still does: no new connection is opened. A send from a named local address needs that
//! local IP in both modes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream};

use sipwire::{CloseReason, ConId, Runtime, Target};
use sipwire_testkit::prelude::*;

fn read_exact_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

/// A runtime on two loopback listeners with `extra` config lines.
fn two_listeners(extra: &str) -> (Runtime, std::sync::Arc<Recorder>, Vec<SocketAddr>) {
    let p1 = free_port();
    let p2 = std::iter::repeat_with(free_port)
        .find(|&p| p != p1)
        .unwrap();
    let text =
        format!("listen=tcp:127.0.0.1:{p1}\nlisten=tcp:127.0.0.1:{p2}\ntcp_children=1\n{extra}");
    let (cfg, _) = sipwire::config::Config::from_str_with("t.cfg", &text, Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let (rt, rec, _) = start_with(cfg);
    let ls = rt.transport().listen_addrs().to_vec();
    (rt, rec, ls)
}

/// The peer's two connections from one source: `a` to the first listener, then `b` to the
/// second (so `b` is the newer), each known to the runtime (a message of each was delivered).
struct Twice {
    src: SocketAddr,
    a: TcpStream,
    b: TcpStream,
    ida: ConId,
    idb: ConId,
}

fn connect_twice(rec: &Recorder, ls: &[SocketAddr]) -> Twice {
    let src = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut a = connect_from(src, ls[0]);
    send(&mut a, &options(1, ""));
    let ida = rec.wait_msgs(1)[0].conid;
    let mut b = connect_from(src, ls[1]);
    send(&mut b, &options(2, ""));
    let idb = rec.wait_msgs(2)[1].conid;
    assert_ne!(ida, idb);
    Twice {
        src,
        a,
        b,
        ida,
        idb,
    }
}

#[test]
fn off_takes_the_newest_connection_whatever_its_local_port() {
    let (rt, rec, ls) = two_listeners("tcp_connection_match=0");
    let t = rt.transport();
    let mut p = connect_twice(&rec, &ls);
    assert_eq!(t.send(p.src, b"n1").unwrap(), p.idb);
    assert_eq!(read_exact_n(&mut p.b, 2), b"n1");
    // From the first listener's address: its IP matches both, the port is not looked at.
    let from_first = Target::AddrFrom {
        dst: p.src,
        local: ls[0],
    };
    assert_eq!(t.send(from_first, b"n2").unwrap(), p.idb);
    assert_eq!(read_exact_n(&mut p.b, 2), b"n2");
    drop(p.a);
}

#[test]
fn on_prefers_the_sending_sockets_port_then_falls_back() {
    let (rt, rec, ls) = two_listeners("tcp_connection_match=1");
    let t = rt.transport();
    let mut p = connect_twice(&rec, &ls);
    // A plain address: Kamailio's default send socket is the first listener, so the older
    // connection on its port wins over the newer one.
    assert_eq!(t.send(p.src, b"s1").unwrap(), p.ida);
    assert_eq!(read_exact_n(&mut p.a, 2), b"s1");
    // From the second listener: the connection on that port.
    let from_second = Target::AddrFrom {
        dst: p.src,
        local: ls[1],
    };
    assert_eq!(t.send(from_second, b"s2").unwrap(), p.idb);
    assert_eq!(read_exact_n(&mut p.b, 2), b"s2");
    // The preferred one closes: the other still answers, and no connect is tried.
    drop(p.a);
    let ev = rec.wait_events(1);
    assert_eq!(
        (ev[0].conid, ev[0].reason),
        (p.ida, CloseReason::PeerClosed)
    );
    assert_eq!(t.send(p.src, b"s3").unwrap(), p.idb);
    assert_eq!(read_exact_n(&mut p.b, 2), b"s3");
    assert_eq!(t.connection_ids().len(), 1, "no new connection was opened");
}

#[test]
fn with_reuse_port_the_forced_port_is_required_in_either_mode() {
    // With tcp_reuse_port new connections leave from the listener's port, so Kamailio's
    // lookup asks for that port even without strict matching.
    let (rt, rec, ls) = two_listeners("tcp_connection_match=0\ntcp_reuse_port=yes");
    let t = rt.transport();
    let mut p = connect_twice(&rec, &ls);
    let from_first = Target::AddrFrom {
        dst: p.src,
        local: ls[0],
    };
    assert_eq!(t.send(from_first, b"r1").unwrap(), p.ida);
    assert_eq!(read_exact_n(&mut p.a, 2), b"r1");
    drop(p.b);
}

/// A send from a local IP no open connection has opens a new one (refused here: nobody
/// listens on the client's port), in both modes.
fn forced_local_ip_must_match(mode: &str) {
    let (cfg, _) = sipwire::config::Config::from_str_with(
        "t.cfg",
        &format!(
            "listen=tcp:127.0.0.1:0\nlisten=tcp:127.0.0.2:0\ntcp_connection_match={mode}\n\
             tcp_children=1"
        ),
        Default::default(),
    )
    .unwrap();
    let (rt, rec, _) = start_with(cfg);
    let t = rt.transport();
    let ls = t.listen_addrs().to_vec();
    let mut c = connect(ls[0]);
    send(&mut c, &options(1, ""));
    let id = rec.wait_msgs(1)[0].conid;
    let me = c.local_addr().unwrap();
    let from = |local| Target::AddrFrom { dst: me, local };
    assert_eq!(t.send(from(ls[0]), b"ok").unwrap(), id);
    assert_eq!(read_exact_n(&mut c, 2), b"ok");
    let other = t.send(from(ls[1]), b"no").unwrap();
    assert_ne!(
        other, id,
        "mode {mode}: the local IP differs, so not that connection"
    );
    let ev = rec.wait_events(1);
    assert_eq!(ev[0].conid, other);
    assert!(
        matches!(
            ev[0].reason,
            CloseReason::ConnectRefused | CloseReason::ConnectFailed
        ),
        "{:?}",
        ev[0].reason
    );
    assert_eq!((ev[0].unsent_msgs, ev[0].unsent_bytes), (1, 2));
}

#[test]
fn forced_local_ip_must_match_when_off() {
    forced_local_ip_must_match("0");
}

#[test]
fn forced_local_ip_must_match_when_on() {
    forced_local_ip_must_match("1");
}
