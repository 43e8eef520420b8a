//! `tcp_accept_haproxy` applies to accepted connections only: a connection the runtime opens
//! is read as plain SIP, so its peer's reply is delivered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;

use sipwire_testkit::prelude::*;

#[test]
fn with_haproxy_on_an_outbound_connections_reply_is_delivered() {
    let (rt, rec, _) = start("tcp_accept_haproxy=1");
    let t = rt.transport();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let id = t.send(l.local_addr().unwrap(), &options(1, "out")).unwrap();
    let (mut peer, _) = l.accept().unwrap();
    peer.write_all(&options(2, "reply")).unwrap();
    let got = rec.wait_msgs(1);
    assert_eq!(got[0].conid, id);
    assert!(got[0].bytes.ends_with(b"reply"));
    // A second reply on the same connection too (the first did not close it).
    peer.write_all(&options(3, "again")).unwrap();
    rec.wait_msgs(2);
    assert_eq!(t.stats().parse_errors, 0);
    assert!(rec.events.lock().is_empty());
}
