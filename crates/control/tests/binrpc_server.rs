//! The BINRPC control socket (`spawn_binrpc`) over a real unix stream socket against a running
//! runtime: several requests on one connection, Kamailio's faults, and hostile input — bad
//! magic, a header announcing too much, truncated packets, deep structures — each a clear
//! fault (or a close) while the socket keeps serving other clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use sipwire_control::binrpc::{self, PacketType, Value};
use sipwire_testkit::prelude::{start, TempDir, WAIT};

fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads one whole packet.
fn read_packet(s: &mut UnixStream) -> binrpc::Packet {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((p, _)) = binrpc::parse_packet(&buf, 1 << 24).unwrap() {
            return p;
        }
        let n = s.read(&mut chunk).expect("a packet within the deadline");
        assert!(n > 0, "closed before a whole packet");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn call(s: &mut UnixStream, cookie: u32, method: &str, params: &[Value]) -> binrpc::Packet {
    s.write_all(&binrpc::request_packet(cookie, method, params).unwrap())
        .unwrap();
    let p = read_packet(s);
    assert_eq!(p.cookie, cookie, "the reply echoes the cookie");
    p
}

fn printed(p: &binrpc::Packet) -> String {
    let records = p.records().unwrap();
    match p.kind {
        PacketType::Fault => binrpc::print_kamcmd_fault(&records),
        _ => binrpc::print_kamcmd(&records),
    }
}

/// True if the server closes `s` within the deadline (anything it sends first is skipped).
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn many_calls_on_one_connection_with_kamailios_faults() {
    let (rt, _rec, _) = start("tcp_children=1");
    let dir = TempDir::new("binrpc");
    let path = dir.join("ctl");
    let server = sipwire_control::spawn_binrpc(&path, rt.transport(), None).unwrap();
    let mut s = connect(&path);
    let p = call(&mut s, 0x70c1_d8e7, "core.tcp_info", &[]);
    assert_eq!(p.kind, PacketType::Reply);
    let out = printed(&p);
    assert!(
        out.starts_with("{\n\treaders: 1\n\tmax_connections: "),
        "{out}"
    );
    let p = call(
        &mut s,
        2,
        "cfg.get",
        &[Value::Str("tcp".into()), Value::Str("no_connect".into())],
    );
    assert_eq!(printed(&p), "0\n");
    // kamcmd's spelling mistake from the reference: Kamailio's fault.
    let args = [
        Value::Str("tcp".into()),
        Value::Str("tcp_no_connect_nope".into()),
        Value::Int(1),
    ];
    let p = call(&mut s, 3, "cfg.set_now_int", &args);
    assert_eq!(p.kind, PacketType::Fault);
    assert_eq!(printed(&p), "error: 400 - Failed to set the variable\n");
    let p = call(&mut s, 4, "nosuch.method", &[]);
    assert_eq!(
        printed(&p),
        "error: 500 - command nosuch.method not found\n"
    );
    // A set that works: an empty reply.
    let args = [
        Value::Str("tcp".into()),
        Value::Str("no_connect".into()),
        Value::Int(1),
    ];
    let p = call(&mut s, 5, "cfg.set_now_int", &args);
    assert_eq!((p.kind, p.body.len()), (PacketType::Reply, 0));
    assert!(rt.transport().config().snapshot().tcp.no_connect);
    server.shutdown();
}

#[test]
fn hostile_packets_get_a_fault_and_a_close_and_others_are_still_served() {
    let (rt, _rec, _) = start("tcp_children=1");
    let dir = TempDir::new("binrpc-hostile");
    let path = dir.join("ctl");
    let server = sipwire_control::spawn_binrpc(&path, rt.transport(), None).unwrap();

    // Not BINRPC at all.
    let mut s = connect(&path);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let p = read_packet(&mut s);
    assert_eq!((p.kind, p.cookie), (PacketType::Fault, 0));
    assert!(
        printed(&p).starts_with("error: 400 - bad packet"),
        "{}",
        printed(&p)
    );
    assert!(closed(&mut s));

    // A header announcing a 16 MiB body: refused from the header alone.
    let mut s = connect(&path);
    s.write_all(&[0xa1, 0x0b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x07])
        .unwrap();
    let p = read_packet(&mut s);
    assert_eq!(p.kind, PacketType::Fault);
    assert!(closed(&mut s));

    // A reply sent to the server is not a request.
    let mut s = connect(&path);
    s.write_all(&binrpc::build_packet(PacketType::Reply, 9, &[]).unwrap())
        .unwrap();
    let p = read_packet(&mut s);
    assert_eq!((p.kind, p.cookie), (PacketType::Fault, 9));
    assert!(closed(&mut s));

    // Parameters nested deeper than the decoder allows: a fault, the connection stays.
    let mut s = connect(&path);
    let mut deep = Value::Int(1);
    for _ in 0..40 {
        deep = Value::Array(vec![deep]);
    }
    let mut body = binrpc::encode_records(&[Value::Str("core.version".into())]).unwrap();
    let _ = binrpc::encode_value(&mut body, &deep);
    s.write_all(&binrpc::build_packet(PacketType::Request, 11, &body).unwrap())
        .unwrap();
    let p = read_packet(&mut s);
    assert_eq!((p.kind, p.cookie), (PacketType::Fault, 11));
    assert!(
        printed(&p).starts_with("error: 400 - bad request"),
        "{}",
        printed(&p)
    );
    let p = call(&mut s, 12, "core.version", &[]);
    assert_eq!(p.kind, PacketType::Reply);

    // A truncated packet and a hang-up: nothing breaks.
    let mut s = connect(&path);
    let req = binrpc::request_packet(13, "core.tcp_info", &[]).unwrap();
    s.write_all(&req[..req.len() - 3]).unwrap();
    drop(s);

    // Everyone else is still served.
    let mut s = connect(&path);
    assert_eq!(call(&mut s, 14, "core.uptime", &[]).kind, PacketType::Reply);
    server.shutdown();
}

#[test]
fn the_datagram_socket_answers_each_packet_to_its_sender() {
    use std::os::unix::net::UnixDatagram;
    let (rt, _rec, _) = start("tcp_children=1");
    let dir = TempDir::new("binrpc-dgram");
    let path = dir.join("ctl.dgram");
    let server = sipwire_control::spawn_binrpc_dgram(&path, rt.transport(), None).unwrap();
    let me = UnixDatagram::bind(dir.join("kamcmd_reply")).unwrap();
    me.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let mut ask = |bytes: &[u8]| {
        me.send_to(bytes, &path).unwrap();
        let n = me.recv(&mut buf).unwrap();
        binrpc::parse_packet(&buf[..n], 1 << 20).unwrap().unwrap().0
    };
    let p = ask(&binrpc::request_packet(77, "core.tcp_info", &[]).unwrap());
    assert_eq!((p.kind, p.cookie), (PacketType::Reply, 77));
    assert!(
        printed(&p).contains("opened_connections: 0"),
        "{}",
        printed(&p)
    );
    let p = ask(b"\xa1\x03");
    assert_eq!(p.kind, PacketType::Fault);
    let p = ask(b"junk");
    assert_eq!((p.kind, p.cookie), (PacketType::Fault, 0));
    // An unbound sender is skipped; the next request is answered.
    UnixDatagram::unbound()
        .unwrap()
        .send_to(
            &binrpc::request_packet(1, "core.version", &[]).unwrap(),
            &path,
        )
        .unwrap();
    let p = ask(&binrpc::request_packet(78, "core.version", &[]).unwrap());
    assert_eq!(p.cookie, 78);
    server.shutdown();
    assert!(!path.exists());
}
