//! `tcp_connection_match` in the daemon: sipwired forwards a request to its next hop, which
//! has two connections open to sipwired from its own address (one to each of sipwired's two
//! listeners). With 0 the newer one carries the request; with 1 the one on the first listener's
//! port (Kamailio's default send socket) does, and when it has closed the other one still
//! does, with no new connect. The next hop is not listening: a connect would fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// sipwired on two loopback ports with `tcp_connection_match=mode`, forwarding to `hop`.
fn daemon(mode: u8, hop: SocketAddr) -> (Daemon, [SocketAddr; 2]) {
    let p1 = free_port();
    let p2 = std::iter::repeat_with(free_port)
        .find(|&p| p != p1)
        .unwrap();
    let dir = TempDir::new("sipwired-match");
    let cfg = dir.join("sipwired.cfg");
    std::fs::write(
        &cfg,
        format!(
            "listen=tcp:127.0.0.1:{p1}\nlisten=tcp:127.0.0.1:{p2}\ntcp_connection_match={mode}\n"
        ),
    )
    .unwrap();
    let fwd = format!("tcp:{hop}");
    let d = Daemon::start(SIPWIRED, &["-f", cfg.to_str().unwrap(), "--forward", &fwd]);
    let ls = [p1, p2].map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    assert_eq!(d.addr, ls[0]);
    (d, ls)
}

fn request(uac: &SipConn, n: u32) -> String {
    let me = uac.local();
    format!(
        "OPTIONS sip:hop@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP {me};branch=z9hG4bK-match-{n}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:hop@example.com>\r\n\
Call-ID: match-{n}@test\r\n\
CSeq: {n} OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// The next hop's connections: to the first listener, then (newer) to the second, both from
/// `hop`; returned once sipwired lists both.
fn hop_connections(d: &Daemon, hop: SocketAddr, ls: &[SocketAddr; 2]) -> (SipConn, SipConn) {
    let mut ctl = Ctl::connect(&d.ctl_socket());
    let conns = ls.map(|l| {
        let c = SipConn::from(connect_from(hop, l));
        // Listed with this local address: sipwired has it in its table.
        let deadline = Deadline::after(WAIT);
        loop {
            let list = ctl.call("tcp.list", serde_json::json!([]));
            let row = list
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["peer"] == hop.to_string() && r["local"] == l.to_string());
            if row.is_some() {
                break;
            }
            assert!(!deadline.passed(), "{hop} -> {l} never listed: {list}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        c
    });
    let [a, b] = conns;
    (a, b)
}

#[test]
fn off_forwards_on_the_newer_connection() {
    let hop = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (d, ls) = daemon(0, hop);
    let (_a, mut b) = hop_connections(&d, hop, &ls);
    let mut uac = SipConn::connect(d.addr);
    uac.send(&request(&uac, 1));
    let got = b.recv();
    assert!(got.starts_with("OPTIONS sip:hop@example.com"), "{got}");
}

#[test]
fn on_forwards_on_the_first_listeners_connection_then_falls_back() {
    let hop = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (d, ls) = daemon(1, hop);
    let (mut a, mut b) = hop_connections(&d, hop, &ls);
    let mut uac = SipConn::connect(d.addr);
    uac.send(&request(&uac, 1));
    let got = a.recv();
    assert!(got.contains("CSeq: 1 OPTIONS"), "{got}");
    // The preferred connection goes away: the next request takes the other one.
    let mut ctl = Ctl::connect(&d.ctl_socket());
    let ida = ctl
        .call("tcp.list", serde_json::json!([]))
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["local"] == ls[0].to_string() && r["peer"] == hop.to_string())
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    drop(a);
    ctl.wait_gone(ida);
    uac.send(&request(&uac, 2));
    let got = b.recv();
    assert!(got.contains("CSeq: 2 OPTIONS"), "{got}");
    assert_eq!(ctl.counter("connects"), 0, "no connect was tried");
}
