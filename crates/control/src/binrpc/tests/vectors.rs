//! The byte vectors captured from a live Kamailio 5.6.3 and kamcmd (reference §1.2), decoded
//! and re-encoded byte for byte.

use super::*;
use serde_json::json;

fn tcp_info_request() -> Vec<u8> {
    cat(&[
        &[0xa1, 0x03, 0x10, 0x70, 0xc1, 0xd8, 0xe7],
        &[0x91, 0x0e],
        b"core.tcp_info\0",
    ])
}

fn set_now_int_request() -> Vec<u8> {
    cat(&[
        &[0xa1, 0x03, 0x26, 0x4c, 0xac, 0xf0, 0x27],
        &[0x91, 0x10],
        b"cfg.set_now_int\0",
        &[0x41],
        b"tcp\0",
        &[0x91, 0x0b],
        b"no_connect\0",
        &[0x10, 0x01],
    ])
}

const EMPTY_REPLY: [u8; 7] = [0xa1, 0x13, 0x00, 0x31, 0xc3, 0x99, 0x74];

fn fault() -> Vec<u8> {
    cat(&[
        &[0xa1, 0x33, 0x20, 0x4d, 0xfc, 0x5c, 0x23],
        &[0x20, 0x01, 0x90],
        &[0x91, 0x1b],
        b"Failed to set the variable\0",
    ])
}

/// `core.tcp_info`'s members in Kamailio's order (`core_tcpinfo`, "dddddd").
fn tcp_info_struct() -> Value {
    Value::Struct(vec![
        int("readers", 1),
        int("max_connections", 2048),
        int("max_tls_connections", 2048),
        int("opened_connections", 2),
        int("opened_tls_connections", 0),
        int("write_queued_bytes", 0),
    ])
}

/// The 131-byte reply: header and the verified start and end, with the middle members
/// following from kamcmd's printed values (the total matches the captured length).
fn tcp_info_reply() -> Vec<u8> {
    cat(&[
        &[0xa1, 0x13, 0x83, 0x4c, 0xe8, 0x39, 0xe4],
        &[0x03],
        &[0x95, 0x08],
        b"readers\0",
        &[0x10, 0x01],
        &[0x95, 0x10],
        b"max_connections\0",
        &[0x20, 0x08, 0x00],
        &[0x95, 0x14],
        b"max_tls_connections\0",
        &[0x20, 0x08, 0x00],
        &[0x95, 0x13],
        b"opened_connections\0",
        &[0x10, 0x02],
        &[0x95, 0x17],
        b"opened_tls_connections\0",
        &[0x00],
        &[0x95, 0x13],
        b"write_queued_bytes\0",
        &[0x00],
        &[0x83],
    ])
}

fn frame(bytes: &[u8]) -> Packet {
    let (pkt, used) = parse_packet(bytes, 32 * 1024).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(pkt.to_bytes().unwrap(), bytes);
    pkt
}

#[test]
fn binrpc_vector_tcp_info_request() {
    let bytes = tcp_info_request();
    let pkt = frame(&bytes);
    assert_eq!(pkt.kind, PacketType::Request);
    assert_eq!(pkt.cookie, 0x70c1_d8e7);
    decode_exact(&pkt.body);
    let req = decode_request(&pkt.body).unwrap();
    assert_eq!(req.method, "core.tcp_info");
    assert!(req.params.is_empty());
    assert_eq!(
        request_packet(pkt.cookie, "core.tcp_info", &[]).unwrap(),
        bytes
    );
}

#[test]
fn binrpc_vector_set_now_int_request() {
    let bytes = set_now_int_request();
    let pkt = frame(&bytes);
    decode_exact(&pkt.body);
    let req = decode_request(&pkt.body).unwrap();
    assert_eq!(req.method, "cfg.set_now_int");
    let params = vec![
        Value::Str("tcp".into()),
        Value::Str("no_connect".into()),
        Value::Int(1),
    ];
    assert_eq!(req.params, params);
    assert_eq!(
        req.json_params(),
        vec![json!("tcp"), json!("no_connect"), json!(1)]
    );
    // kamcmd's typing of the words gives the same packet.
    let typed: Vec<Value> = ["tcp", "no_connect", "1"].map(kamcmd_arg).into();
    assert_eq!(typed, params);
    assert_eq!(
        request_packet(0x4cac_f027, "cfg.set_now_int", &typed).unwrap(),
        bytes
    );
}

#[test]
fn binrpc_vector_echo_params() {
    let body = cat(&[
        &str_rec(1, "core.echo"),
        &[0x21],
        b"1\0",
        &[0x22, 0x09, 0xc4],
        &[0x91, 0x0b],
        b"abcdefghij\0",
        &[0x30, 0x01, 0x11, 0x70],
    ]);
    let params: Vec<Value> = ["s:1", "2.5", "abcdefghij", "70000"].map(kamcmd_arg).into();
    assert_eq!(
        params,
        vec![
            Value::Str("1".into()),
            Value::Double(2.5),
            Value::Str("abcdefghij".into()),
            Value::Int(70000),
        ]
    );
    assert_eq!(encode_request("core.echo", &params).unwrap(), body);
    decode_exact(&body);
    let req = decode_request(&body).unwrap();
    assert_eq!(req.params, params);
    assert_eq!(
        req.json_params(),
        vec![json!("1"), json!(2.5), json!("abcdefghij"), json!(70000)]
    );
}

#[test]
fn binrpc_vector_empty_success_reply() {
    let pkt = frame(&EMPTY_REPLY);
    assert_eq!(pkt.kind, PacketType::Reply);
    assert_eq!(pkt.cookie, 0x31c3_9974);
    assert!(pkt.body.is_empty());
    assert!(pkt.records().unwrap().is_empty());
    for result in [json!({}), json!(null), json!([])] {
        assert_eq!(
            reply_packet(0x31c3_9974, &result).unwrap(),
            EMPTY_REPLY,
            "{result}"
        );
    }
    assert_eq!(print_kamcmd(&[]), "");
}

#[test]
fn binrpc_vector_fault() {
    let bytes = fault();
    let pkt = frame(&bytes);
    assert_eq!(pkt.kind, PacketType::Fault);
    let records = decode_exact(&pkt.body);
    let f = decode_fault(&pkt.body).unwrap();
    assert_eq!(
        (f.code, f.message.as_str()),
        (400, "Failed to set the variable")
    );
    assert_eq!(
        fault_packet(0x4dfc_5c23, 400, "Failed to set the variable").unwrap(),
        bytes
    );
    assert_eq!(
        print_kamcmd_fault(&records),
        "error: 400 - Failed to set the variable\n"
    );
}

#[test]
fn binrpc_vector_tcp_info_reply() {
    let bytes = tcp_info_reply();
    assert_eq!(bytes.len(), 7 + 131);
    let pkt = frame(&bytes);
    let records = decode_exact(&pkt.body);
    assert_eq!(records, vec![tcp_info_struct()]);
    let body = encode_records(&[tcp_info_struct()]).unwrap();
    assert_eq!(
        build_packet(PacketType::Reply, 0x4ce8_39e4, &body).unwrap(),
        bytes
    );
    assert_eq!(
        print_kamcmd(&records),
        "{\n\treaders: 1\n\tmax_connections: 2048\n\tmax_tls_connections: 2048\n\
         \topened_connections: 2\n\topened_tls_connections: 0\n\twrite_queued_bytes: 0\n}\n"
    );
    // From JSON the members follow the map's iteration order (insertion order with
    // serde_json's preserve_order, sorted without), with the same bytes per member.
    let result = json!({
        "readers": 1, "max_connections": 2048, "max_tls_connections": 2048,
        "opened_connections": 2, "opened_tls_connections": 0, "write_queued_bytes": 0,
    });
    let from_json = decode_records(&encode_reply(&result).unwrap()).unwrap();
    let Value::Struct(members) = &from_json[0] else {
        panic!("{from_json:?}")
    };
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_deref().unwrap()).collect();
    assert_eq!(names, keys);
    assert_eq!(from_json[0].to_json(), result);
    // With insertion order kept, the JSON result gives Kamailio's exact reply.
    if keys.first() == Some(&"readers") {
        assert_eq!(reply_packet(0x4ce8_39e4, &result).unwrap(), bytes);
    }
}

#[test]
fn binrpc_vector_tcp_list_reply() {
    let conn = Value::Struct(vec![
        int("id", 1),
        string("type", "TCP"),
        string("state", "CONN_OK"),
        int("timeout", 3),
        int("lifetime", 3605),
        int("ref_count", 2),
        string("src_ip", "127.0.0.1"),
        int("src_port", 57374),
        string("dst_ip", "127.0.0.1"),
        int("dst_port", 15060),
    ]);
    let body = encode_records(std::slice::from_ref(&conn)).unwrap();
    assert_eq!(
        body.len(),
        144,
        "the captured body length for one connection"
    );
    for piece in [&b"\x35id\0"[..], b"\x55type\0", b"\x41TCP\0"] {
        assert!(body.windows(piece.len()).any(|w| w == piece), "{piece:?}");
    }
    decode_exact(&body);
    let two = encode_records(&[conn.clone(), conn.clone()]).unwrap();
    let printed = print_kamcmd(&decode_records(&two).unwrap());
    let one = "{\n\tid: 1\n\ttype: TCP\n\tstate: CONN_OK\n\ttimeout: 3\n\tlifetime: 3605\n\
               \tref_count: 2\n\tsrc_ip: 127.0.0.1\n\tsrc_port: 57374\n\tdst_ip: 127.0.0.1\n\
               \tdst_port: 15060\n}\n";
    assert_eq!(printed, format!("{one}{one}"));
}

#[test]
fn binrpc_vectors_frame_at_every_split() {
    let packets = [
        tcp_info_request(),
        set_now_int_request(),
        EMPTY_REPLY.to_vec(),
        fault(),
        tcp_info_reply(),
    ];
    for bytes in &packets {
        for cut in 0..bytes.len() {
            assert_eq!(parse_packet(&bytes[..cut], 1 << 16), Ok(None), "cut {cut}");
        }
    }
    // A stream reader fed one byte at a time frames every packet, in order.
    let stream: Vec<u8> = packets.concat();
    let (mut buf, mut got) = (Vec::new(), Vec::new());
    for &b in &stream {
        buf.push(b);
        while let Some((pkt, used)) = parse_packet(&buf, 1 << 16).unwrap() {
            got.push(pkt.to_bytes().unwrap());
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got, packets);
    // Two packets in one read: the first takes exactly its bytes.
    let (first, used) = parse_packet(&stream, 1 << 16).unwrap().unwrap();
    assert_eq!((first.kind, used), (PacketType::Request, packets[0].len()));
}
