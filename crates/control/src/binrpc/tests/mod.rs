//! Unit tests of the BINRPC codec: Kamailio's verified byte vectors, edges of every type,
//! incremental framing, every error path, printing and kamcmd's argument typing.

mod errors;
mod print;
mod roundtrip;
mod vectors;

use super::*;

/// The concatenation of byte pieces (tags, lengths and strings of a packet).
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A STR / AVP record as Kamailio writes it (NUL counted, S-form from 8 bytes).
fn str_rec(ty: u8, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    let mut out = if b.len() < 8 {
        vec![((b.len() as u8) << 4) | ty]
    } else if b.len() < 256 {
        vec![0x90 | ty, b.len() as u8]
    } else {
        vec![0xa0 | ty, (b.len() >> 8) as u8, b.len() as u8]
    };
    out.extend_from_slice(&b);
    out
}

/// Decodes `body` and checks that re-encoding gives the same bytes.
fn decode_exact(body: &[u8]) -> Vec<Value> {
    let records = decode_records(body).unwrap();
    assert_eq!(encode_records(&records).unwrap(), body, "{records:?}");
    records
}

/// A named INT member.
fn int(name: &str, i: i32) -> Member {
    Member::named(name, Value::Int(i))
}

/// A named STR member.
fn string(name: &str, s: &str) -> Member {
    Member::named(name, Value::Str(s.into()))
}
