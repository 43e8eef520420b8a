//! Unit tests of the relay rules (no sockets).

mod request;
mod response;
mod robustness;
mod routing;
mod sctp;

use std::collections::HashMap;
use std::net::SocketAddr;

use super::*;

/// A resolver backed by a table.
#[derive(Debug, Default)]
pub(super) struct FakeResolver(pub HashMap<String, std::net::IpAddr>);

impl Resolve for FakeResolver {
    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        self.0.get(host).map(|ip| SocketAddr::new(*ip, port))
    }
}

pub(super) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Our listening address in these tests.
pub(super) const OURS: &str = "192.0.2.1:5060";

pub(super) fn relay(forward: Option<&str>) -> Relay<FakeResolver> {
    let mut names = HashMap::new();
    names.insert(
        "proxy.example.com".to_string(),
        "198.51.100.7".parse().unwrap(),
    );
    Relay::new(forward.map(sa), FakeResolver(names))
        .with_key(MacKey::from_bytes([7; 16]))
        .with_allow(open_allow())
}

/// Every IP and the two names these tests route by.
fn open_allow() -> AllowList {
    let mut a = AllowList::any();
    a.add("proxy.example.com,nowhere.invalid").unwrap();
    a
}

/// Open connections by id, for responses' `cid`.
#[derive(Debug, Default)]
pub(super) struct Table(pub Vec<(u64, SocketAddr)>);

impl Conns for Table {
    fn peer(&self, conid: u64) -> Option<SocketAddr> {
        self.0.iter().find(|(id, _)| *id == conid).map(|(_, p)| *p)
    }
}

/// [`run`] with a table of open connections.
pub(super) fn run_with(
    relay: &Relay<FakeResolver>,
    msg: &str,
    source: &str,
    conns: &dyn Conns,
) -> Action {
    let listen = [sa(OURS)];
    let ctx = Context {
        source: sa(source),
        local: sa(OURS),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa(source),
        conns,
    };
    relay.process(msg.as_bytes(), &ctx)
}

/// Runs `msg` through a relay listening on [`OURS`], as if it came from `source`.
pub(super) fn run(relay: &Relay<FakeResolver>, msg: &str, source: &str) -> Action {
    let listen = [sa(OURS)];
    let ctx = Context {
        source: sa(source),
        local: sa(OURS),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa(source),
        conns: &NoConns,
    };
    relay.process(msg.as_bytes(), &ctx)
}

/// The forwarded bytes as text, or a panic naming the action.
pub(super) fn forwarded(a: &Action) -> (SocketAddr, String) {
    match a {
        Action::Forward { to, bytes, .. } => (*to, String::from_utf8(bytes.clone()).unwrap()),
        other => panic!("expected Forward, got {other:?}"),
    }
}

pub(super) fn replied(a: &Action) -> (u16, String) {
    match a {
        Action::Reply { status, bytes } => (*status, String::from_utf8(bytes.clone()).unwrap()),
        other => panic!("expected Reply, got {other:?}"),
    }
}

pub(super) fn dropped(a: &Action) -> DropReason {
    match a {
        Action::Drop { reason } => *reason,
        other => panic!("expected Drop, got {other:?}"),
    }
}

/// A typical INVITE from a UAC at 203.0.113.5:5070 with an SDP body.
pub(super) const INVITE: &str = "INVITE sip:bob@198.51.100.20:5080;transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: call-1@203.0.113.5\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@203.0.113.5:5070;transport=tcp>\r\n\
X-Unknown:   keep   this  \r\n\
Content-Type: application/sdp\r\n\
Content-Length: 29\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n";

/// Header lines of a message (start line excluded), up to the empty line.
pub(super) fn header_lines(msg: &str) -> Vec<&str> {
    let head = msg.split("\r\n\r\n").next().unwrap();
    head.split("\r\n").skip(1).collect()
}

pub(super) fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").unwrap().1
}
