//! IPv6 end to end over `[::1]`: listen, accept, deliver, reply, connect out, and the
//! connection table reporting v6 addresses; `tcp_source_ipv6` in a private network namespace
//! where a second v6 address exists (so the option is observable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};

use sipwire_testkit::netns::{relaunch, sh};
use sipwire_testkit::prelude::*;

const ROLE: &str = "SIPWIRE_IPV6_INNER";

#[test]
fn listen_accept_deliver_and_reply_over_ipv6() {
    let (rt, rec, _) = start("listen=tcp:[::1]:0");
    let t = rt.transport();
    let addr = t
        .listen_addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv6)
        .unwrap();
    assert_eq!(addr.ip().to_string(), "::1");
    rec.on_msg.lock().replace(Box::new(|ctx, _got| {
        ctx.reply(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    }));
    let mut c = SipConn::connect(addr);
    let me = c.local();
    c.send(std::str::from_utf8(&options(1, "")).unwrap());
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].source, me);
    assert_eq!(got[0].peer, me);
    assert_eq!(got[0].local, addr);
    assert!(c.recv().starts_with("SIP/2.0 200 OK"));
    let info = t.conn_info(got[0].conid).unwrap();
    assert_eq!((info.peer, info.local, info.source), (me, addr, me));
    assert_eq!(info.peer.to_string(), format!("[::1]:{}", me.port()));
    assert_eq!(
        t.get_conid(&format!("[::1]:{}", me.port())).unwrap(),
        got[0].conid
    );
    rt.shutdown();
}

#[test]
fn connect_out_over_ipv6_and_reuse_the_connection() {
    let l = TcpListener::bind("[::1]:0").unwrap();
    let dst = l.local_addr().unwrap();
    let (rt, _rec, _) = start("");
    let t = rt.transport();
    let id = t
        .send(dst, b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let (mut s, from) = l.accept().unwrap();
    assert!(from.is_ipv6(), "{from}");
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"OPTIONS");
    assert_eq!(
        t.send(dst, b"x").unwrap(),
        id,
        "the v6 connection is reused"
    );
    let info = t.conn_info(id).unwrap();
    assert_eq!(info.peer, dst);
    assert!(info.local.is_ipv6());
    assert!(info.outbound);
    rt.shutdown();
}

/// `tcp_source_ipv6` picks the source of outgoing v6 connections (with a fallback to the OS's
/// choice for an address the host lacks): needs two v6 addresses, so it runs in a private
/// network namespace (root only; skipped with a message otherwise).
#[test]
fn source_ipv6_is_used_and_falls_back() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    relaunch("inner_source_ipv6", ROLE);
}

#[test]
#[ignore = "run inside a private network namespace by source_ipv6_is_used_and_falls_back"]
fn inner_source_ipv6() {
    assert!(
        std::env::var(ROLE).is_ok(),
        "run by source_ipv6_is_used_and_falls_back"
    );
    sh("ip link set lo up");
    sh("ip -6 addr add fd00::1/128 dev lo nodad");
    sh("ip -6 addr add fd00::2/128 dev lo nodad");
    let l = TcpListener::bind("[fd00::1]:0").unwrap();
    let dst = l.local_addr().unwrap();
    let (rt, _rec, _) = start("tcp_source_ipv6=fd00::2");
    rt.transport().send(dst, b"x").unwrap();
    let (_s, from) = l.accept().unwrap();
    assert_eq!(
        from.ip().to_string(),
        "fd00::2",
        "tcp_source_ipv6 is the source"
    );
    rt.shutdown();
    let (rt, _rec, _) = start("tcp_source_ipv6=2001:db8::99");
    rt.transport().send(dst, b"x").unwrap();
    let (_s, from) = l.accept().unwrap();
    assert_eq!(
        from.ip().to_string(),
        "fd00::1",
        "an address the host lacks: the OS's choice"
    );
    rt.shutdown();
}
