//! `tcp_accept_haproxy` over loopback: a PROXY header's source and destination become the
//! source and local address messages report (the bound socket stays the real one), a v2
//! header's TLVs reach the handler (`Ctx::proxy`, `Transport::conn_info`), malformed TLVs
//! are ignored; and the option applies to accepted connections only: a connection the
//! runtime opens is read as plain SIP, so its peer's reply is delivered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use sipwire::config::{Config, ParseOptions};
use sipwire::{
    pp2, CloseReason, ConId, Ctx, Event, Handler, HandlerError, Message, ProxyInfo, Runtime,
};
use sipwire_frame::proxy::{encode_tlv, encode_v2};
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

/// What the handler saw of one message, and of its connection through `ctx`.
#[derive(Debug, Clone)]
struct Seen {
    conid: ConId,
    source: SocketAddr,
    local: SocketAddr,
    bound: SocketAddr,
    peer: SocketAddr,
    proxy: Option<ProxyInfo>,
}

/// Records messages with their `Ctx::proxy` and every close event.
#[derive(Default)]
struct ProxyRecorder {
    seen: Mutex<Vec<Seen>>,
    events: Mutex<Vec<Event>>,
}

impl Handler for ProxyRecorder {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push(Seen {
            conid: msg.conid,
            source: msg.source,
            local: msg.local,
            bound: msg.bound,
            peer: msg.peer,
            proxy: ctx.proxy().cloned(),
        });
        Ok(())
    }

    fn on_event(&self, event: &Event) {
        self.events.lock().unwrap().push(*event);
    }
}

impl ProxyRecorder {
    /// Waits for `n` messages; returns them.
    fn wait_seen(&self, n: usize) -> Vec<Seen> {
        wait_for(&format!("{n} messages"), WAIT, || {
            self.seen.lock().unwrap().len() >= n
        });
        self.seen.lock().unwrap().clone()
    }
}

/// A runtime from config text with `tcp_accept_haproxy=yes`, recording with a
/// [`ProxyRecorder`]; returns its listener's address.
fn start_haproxy() -> (Runtime, Arc<ProxyRecorder>, SocketAddr) {
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=2\ntcp_accept_haproxy=yes\n";
    let (cfg, _) = Config::from_str_with("haproxy.cfg", text, ParseOptions::default()).unwrap();
    let rec = Arc::new(ProxyRecorder::default());
    let rt = Runtime::start(cfg, rec.clone()).unwrap();
    let addr = rt.transport().listen_addrs()[0];
    (rt, rec, addr)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const UNIQUE_ID: &[u8] = b"\x00\x01conn-42\xfe\xff";

/// TLVs as haproxy sends them: ALPN, authority, unique id, and SSL with its client bit as
/// `tls` says, verify 0 and a version sub-TLV; plus a type sipwire does not know.
fn tlvs(alpn: &[u8], tls: bool) -> Vec<u8> {
    let mut ssl = vec![if tls { pp2::CLIENT_SSL } else { 0 }, 0, 0, 0, 0];
    ssl.extend_from_slice(&encode_tlv(pp2::SUBTYPE_SSL_VERSION, b"TLSv1.3"));
    let mut t = encode_tlv(pp2::TYPE_ALPN, alpn);
    t.extend_from_slice(&encode_tlv(pp2::TYPE_AUTHORITY, b"sip.example.com"));
    t.extend_from_slice(&encode_tlv(0xE3, b"skipped"));
    t.extend_from_slice(&encode_tlv(pp2::TYPE_UNIQUE_ID, UNIQUE_ID));
    t.extend_from_slice(&encode_tlv(pp2::TYPE_SSL, &ssl));
    t
}

#[test]
fn v2_header_sets_source_and_local_and_keeps_its_tlvs() {
    let (rt, rec, addr) = start_haproxy();
    let t = rt.transport();
    let (s1, d1) = (sa("198.51.100.7:40000"), sa("203.0.113.5:5061"));
    let (s2, d2) = (sa("[2001:db8::9]:40001"), sa("[2001:db8::1]:5060"));
    let mut a = connect(addr);
    let mut b = connect(addr);
    let mut first = encode_v2(s1, d1, &tlvs(b"h2", true));
    first.extend_from_slice(&options(1, "a"));
    send(&mut a, &first);
    let got = rec.wait_seen(1);
    let mut second = encode_v2(s2, d2, &tlvs(b"sip", false));
    second.extend_from_slice(&options(2, "b"));
    send(&mut b, &second);
    let got2 = rec.wait_seen(2);
    let (m1, m2) = (&got[0], &got2[1]);
    for (m, src, dst, c) in [(m1, s1, d1, &a), (m2, s2, d2, &b)] {
        assert_eq!(m.source, src);
        assert_eq!(m.local, dst);
        assert_eq!(m.bound, addr, "bound is the listener's real address");
        assert_eq!(m.peer, c.local_addr().unwrap());
        let p = m.proxy.as_ref().unwrap();
        assert_eq!((p.source, p.destination), (src, dst));
        assert!(!p.tlvs_malformed());
        assert_eq!(p.authority(), Some(&b"sip.example.com"[..]));
        assert_eq!(p.unique_id(), Some(UNIQUE_ID));
        assert_eq!(p.tlvs().get(0xE3), Some(&b"skipped"[..]));
        let ssl = p.ssl().unwrap();
        assert_eq!((ssl.verify, ssl.version()), (0, Some(&b"TLSv1.3"[..])));
        // What Transport::conn_info reports is the same.
        let info = t.conn_info(m.conid).unwrap();
        assert_eq!(info.proxy.as_ref(), Some(p));
        assert_eq!((info.local, info.source), (addr, src));
    }
    let (p1, p2) = (m1.proxy.as_ref().unwrap(), m2.proxy.as_ref().unwrap());
    assert_eq!(p1.alpn(), Some(&b"h2"[..]));
    assert_eq!(p2.alpn(), Some(&b"sip"[..]));
    assert!(p1.ssl().unwrap().client_tls());
    assert!(!p2.ssl().unwrap().client_tls());
    // Later messages on the connection report the same addresses.
    send(&mut a, &options(3, "again"));
    let got = rec.wait_seen(3);
    assert_eq!(
        (got[2].conid, got[2].source, got[2].local),
        (m1.conid, s1, d1)
    );
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn v1_header_sets_local_to_its_destination() {
    let (rt, rec, addr) = start_haproxy();
    let mut c = connect(addr);
    send(&mut c, b"PROXY TCP4 192.0.2.7 198.51.100.20 40000 5070\r\n");
    send(&mut c, &options(1, ""));
    let got = rec.wait_seen(1);
    assert_eq!(got[0].source, sa("192.0.2.7:40000"));
    assert_eq!(got[0].local, sa("198.51.100.20:5070"));
    assert_eq!(got[0].bound, addr);
    let p = got[0].proxy.as_ref().unwrap();
    assert!(p.tlvs().is_empty() && !p.tlvs_malformed());
    assert_eq!((p.alpn(), p.ssl()), (None, None));
    // Without addresses (UNKNOWN), both stay the socket's.
    let mut u = connect(addr);
    send(&mut u, b"PROXY UNKNOWN\r\n");
    send(&mut u, &options(2, ""));
    let got = rec.wait_seen(2);
    assert_eq!(got[1].source, u.local_addr().unwrap());
    assert_eq!((got[1].local, got[1].bound), (addr, addr));
    assert!(got[1].proxy.is_none());
    assert_eq!(rt.transport().stats().parse_errors, 0);
}

#[test]
fn malformed_tlvs_are_ignored_and_a_bad_header_closes_only_its_connection() {
    let (rt, rec, addr) = start_haproxy();
    let t = rt.transport();
    let (s, d) = (sa("192.0.2.50:1234"), sa("192.0.2.1:5060"));
    // An authority TLV whose length runs one byte past the header's end: the header's
    // addresses apply, its TLVs are ignored, the connection stays open.
    let mut bad_tlvs = tlvs(b"h2", true);
    bad_tlvs.extend_from_slice(&[pp2::TYPE_AUTHORITY, 0, 4, b'a', b'b', b'c']);
    let mut m = encode_v2(s, d, &bad_tlvs);
    m.extend_from_slice(&options(1, "m"));
    let mut c = connect(addr);
    send(&mut c, &m);
    let got = rec.wait_seen(1);
    assert_eq!((got[0].source, got[0].local, got[0].bound), (s, d, addr));
    let p = got[0].proxy.as_ref().unwrap();
    assert!(p.tlvs_malformed());
    assert!(p.tlvs().is_empty());
    assert_eq!((p.alpn(), p.authority(), p.ssl()), (None, None, None));
    // An SSL TLV shorter than its 5 fixed bytes: only that TLV is ignored.
    let mut short_ssl = encode_tlv(pp2::TYPE_ALPN, b"sip");
    short_ssl.extend_from_slice(&encode_tlv(pp2::TYPE_SSL, &[pp2::CLIENT_SSL, 0]));
    let mut m = encode_v2(s, d, &short_ssl);
    m.extend_from_slice(&options(2, "s"));
    let mut c2 = connect(addr);
    send(&mut c2, &m);
    let got = rec.wait_seen(2);
    let p = got[1].proxy.as_ref().unwrap();
    assert!(!p.tlvs_malformed());
    assert_eq!((p.alpn(), p.ssl()), (Some(&b"sip"[..]), None));
    // A header whose length does not cover its addresses closes its connection only.
    let mut broken = sipwire_frame::proxy::V2_SIGNATURE.to_vec();
    broken.extend_from_slice(&[0x21, 0x11, 0, 11]);
    broken.resize(16 + 11, 0);
    let mut x = connect(addr);
    send(&mut x, &broken);
    assert!(wait_closed(&mut x));
    wait_for("the close event", WAIT, || {
        rec.events.lock().unwrap().len() == 1
    });
    assert_eq!(rec.events.lock().unwrap()[0].reason, CloseReason::Protocol);
    assert_eq!(t.stats().parse_errors, 1);
    // The two other connections are unaffected.
    send(&mut c, &options(3, "m"));
    send(&mut c2, &options(4, "s"));
    let got = rec.wait_seen(4);
    assert!(got[2..].iter().all(|g| (g.source, g.local) == (s, d)));
    assert_eq!(t.connection_count(), 2);
}
