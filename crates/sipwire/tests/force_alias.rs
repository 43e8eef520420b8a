//! `force_tcp_alias([port])` (Kamailio's core function, `Ctx::force_tcp_alias`,
//! `Transport::add_alias`) over loopback: the connection a message came on also answers to its
//! source IP with the given port, or the top Via's port, or 5060 — only a port, never another
//! host — so a send to that address reuses it instead of connecting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};

use parking_lot::Mutex;
use sipwire_testkit::prelude::*;
use std::sync::Arc;

fn read_exact_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

/// A request whose top Via names `sent_by`.
fn request(sent_by: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {sent_by};branch=z9hG4bKfa\r\n\
         Call-ID: fa@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// What `force_tcp_alias(port)` returned inside `on_message`, for each message.
type Results = Arc<Mutex<Vec<Result<SocketAddr, String>>>>;

fn forcing(rec: &Recorder, port: Option<u16>) -> Results {
    let out: Results = Arc::default();
    let keep = out.clone();
    *rec.on_msg.lock() = Some(Box::new(move |ctx, _| {
        keep.lock()
            .push(ctx.force_tcp_alias(port).map_err(|e| e.to_string()));
    }));
    out
}

#[test]
fn without_a_port_the_via_port_is_used_and_sends_reuse_the_connection() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    // A port nothing listens on: a send that connected instead would fail.
    let hop = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hop.local_addr().unwrap().port();
    drop(hop);
    let results = forcing(&rec, None);
    let mut c = connect(addr);
    send(&mut c, &request(&format!("client.example.com:{port}")));
    let id = rec.wait_msgs(1)[0].conid;
    let alias = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        results.lock()[0],
        Ok(alias),
        "the connection's IP, the Via's port"
    );
    assert_eq!(t.send(alias, b"aliased\n").unwrap(), id);
    assert_eq!(read_exact_n(&mut c, 8), b"aliased\n");
    assert_eq!(t.stats().connects, 0);
    assert_eq!(t.stats().aliases_added, 1);
}

#[test]
fn a_via_without_a_port_means_5060_and_a_given_port_wins() {
    let (rt, rec, addr) = start("");
    let results = forcing(&rec, None);
    let mut c = connect(addr);
    send(&mut c, &request("client.example.com"));
    rec.wait_msgs(1);
    assert_eq!(results.lock()[0], Ok("127.0.0.1:5060".parse().unwrap()));
    let given = forcing(&rec, Some(7001));
    send(&mut c, &request("client.example.com:5999"));
    rec.wait_msgs(2);
    assert_eq!(given.lock()[0], Ok("127.0.0.1:7001".parse().unwrap()));
    // Port 0 is Kamailio's "no port": 5060.
    let t = rt.transport();
    let id = rec.wait_msgs(2)[0].conid;
    assert_eq!(
        t.add_alias(id, 0).unwrap(),
        "127.0.0.1:5060".parse().unwrap()
    );
}

#[test]
fn an_alias_moves_to_the_connection_that_claims_it_last() {
    let (rt, rec, addr) = start("");
    let t = rt.transport();
    let _results = forcing(&rec, Some(7002));
    let mut a = connect(addr);
    send(&mut a, &request("a.example.com"));
    let ida = rec.wait_msgs(1)[0].conid;
    let mut b = connect(addr);
    send(&mut b, &request("b.example.com"));
    let idb = rec.wait_msgs(2)[1].conid;
    let alias: SocketAddr = "127.0.0.1:7002".parse().unwrap();
    assert_eq!(t.send(alias, b"b!").unwrap(), idb);
    assert_eq!(read_exact_n(&mut b, 2), b"b!");
    assert_ne!(ida, idb);
    drop(a);
}

#[test]
fn a_gone_connection_is_an_error() {
    let (rt, _rec, _) = start("");
    assert!(rt
        .transport()
        .add_alias(sipwire::ConId(1 << 32 | 7), 5060)
        .is_err());
}
