//! sipwired over IPv6 loopback: a request from a UAC on `[::1]` is relayed to a UAS on
//! `[::1]` (a new outbound v6 connection), the response comes back, and the control socket's
//! `tcp.list` and `core.tcp_list` show both connections with their v6 addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};

use serde_json::json;
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

#[test]
fn relays_a_request_and_its_response_over_ipv6() {
    let uas = TcpListener::bind("[::1]:0").unwrap();
    let hop = uas.local_addr().unwrap();
    let fwd = format!("tcp:{hop}");
    let d = Daemon::start(SIPWIRED, &["--listen", "tcp:[::1]:0", "--forward", &fwd]);
    assert!(d.addr.is_ipv6(), "{}", d.addr);
    let mut uac = SipConn::connect(d.addr);
    let me = uac.local();
    uac.send(&format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP {me};branch=z9hG4bK-v6-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: v6-1@test\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    ));
    let (s, from) = uas.accept().unwrap();
    assert!(from.is_ipv6(), "{from}");
    let mut up = SipConn::from(s);
    let got = up.recv();
    let vias = headers(&got, "Via");
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/TCP {};branch=z9hG4bK", d.addr)),
        "our Via names the v6 listener in brackets: {}",
        vias[0]
    );
    assert_eq!(vias[1], format!("SIP/2.0/TCP {me};branch=z9hG4bK-v6-1"));
    up.send(&response_to(&got, "200 OK", ""));
    let r = uac.recv();
    assert_eq!(start_line(&r), "SIP/2.0 200 OK");
    assert_eq!(
        headers(&r, "Via"),
        [format!("SIP/2.0/TCP {me};branch=z9hG4bK-v6-1")]
    );

    let mut ctl = Ctl::connect(&d.ctl_socket());
    let inbound = ctl.row_of(me);
    assert_eq!(inbound["local"], d.addr.to_string());
    assert_eq!(inbound["source"], me.to_string());
    let outbound = ctl.row_of(hop);
    let local: SocketAddr = outbound["local"].as_str().unwrap().parse().unwrap();
    assert!(local.is_ipv6() && local.ip().is_loopback(), "{outbound}");
    // Kamailio's rows: the addresses as v6 text.
    let k = ctl.kamailio_row(inbound["id"].as_u64().unwrap());
    assert_eq!(k["src_ip"], "::1");
    assert_eq!(k["src_port"], me.port());
    assert_eq!(k["dst_ip"], d.addr.ip().to_string());
    let k = ctl.kamailio_row(outbound["id"].as_u64().unwrap());
    assert_eq!(k["src_ip"], "::1");
    assert_eq!(k["src_port"], hop.port());
    assert_eq!(
        ctl.call("core.tcp_list", json!([0, 10, "::1"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let listen = ctl.call("sipwire.info", json!([]))["listen"].clone();
    assert_eq!(listen, json!([format!("tcp:{}", d.addr)]));
}
