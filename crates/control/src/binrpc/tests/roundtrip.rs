//! Every type at its edges, lenient decoding, the JSON bridge, and a generated round trip.

use super::*;
use serde_json::json;

fn one(v: Value) -> Vec<u8> {
    let body = encode_records(std::slice::from_ref(&v)).unwrap();
    assert_eq!(
        decode_records(&body).unwrap(),
        vec![v.clone()],
        "{body:02x?}"
    );
    body
}

#[test]
fn binrpc_int_edges() {
    let cases: [(i32, &[u8]); 9] = [
        (0, &[0x00]),
        (1, &[0x10, 0x01]),
        (255, &[0x10, 0xff]),
        (256, &[0x20, 0x01, 0x00]),
        (65_536, &[0x30, 0x01, 0x00, 0x00]),
        (0x0100_0000, &[0x40, 0x01, 0x00, 0x00, 0x00]),
        (i32::MAX, &[0x40, 0x7f, 0xff, 0xff, 0xff]),
        (-1, &[0x40, 0xff, 0xff, 0xff, 0xff]),
        (i32::MIN, &[0x40, 0x80, 0x00, 0x00, 0x00]),
    ];
    for (i, bytes) in cases {
        assert_eq!(one(Value::Int(i)), bytes, "{i}");
    }
}

#[test]
fn binrpc_str_and_bytes_edges() {
    for (len, head) in [
        (0, vec![0x11]),
        (6, vec![0x71]),
        (7, vec![0x91, 0x08]),
        (8, vec![0x91, 0x09]),
        (254, vec![0x91, 0xff]),
        (255, vec![0xa1, 0x01, 0x00]),
        (256, vec![0xa1, 0x01, 0x01]),
        (70_000, vec![0xb1, 0x01, 0x11, 0x71]),
    ] {
        let s: String = "abcdefghij".chars().cycle().take(len).collect();
        let body = one(Value::Str(s.clone()));
        assert_eq!(body, cat(&[&head, s.as_bytes(), &[0]]), "STR of {len}");
        // BYTES have no NUL, so the S-form starts one byte later.
        let b = one(Value::Bytes(s.clone().into_bytes()));
        let bhead = match len {
            0..=7 => vec![((len as u8) << 4) | 6],
            8..=255 => vec![0x96, len as u8],
            _ => vec![0xa6, (len >> 8) as u8, len as u8],
        };
        if len < 65_536 {
            assert_eq!(b, cat(&[&bhead, s.as_bytes()]), "BYTES of {len}");
        }
    }
    assert_eq!(one(Value::Bytes(b"\0\xff".to_vec())), [0x26, 0x00, 0xff]);
    assert_eq!(
        one(Value::Str("é\0x".into())),
        [0x51, 0xc3, 0xa9, 0x00, b'x', 0x00]
    );
}

#[test]
fn binrpc_double_edges() {
    let cases: [(f64, &[u8]); 7] = [
        (0.0, &[0x02]),
        (2.5, &[0x22, 0x09, 0xc4]),
        (0.255, &[0x12, 0xff]),
        (
            -0.001,
            &[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            -2.5,
            &[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf6, 0x3c],
        ),
        (1e12, &[0x72, 0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x00]),
        (
            4_503_599_627_370_496.0,
            &[0x82, 0x3e, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ),
    ];
    for (f, bytes) in cases {
        assert_eq!(one(Value::Double(f)), bytes, "{f}");
    }
    // Integral values of any size come back exact; thousandths survive.
    for f in [4_294_967_296.0, 1e15, -1e15, 123.456, -0.5, 1.001] {
        one(Value::Double(f));
    }
    // Only three decimals travel; out of range saturates, NaN is 0.
    let lossy = |f: f64| decode_records(&encode_records(&[Value::Double(f)]).unwrap()).unwrap();
    assert_eq!(lossy(1.23456), vec![Value::Double(1.235)]);
    assert_eq!(lossy(f64::NAN), vec![Value::Double(0.0)]);
    assert_eq!(
        lossy(f64::INFINITY),
        vec![Value::Double(i64::MAX as f64 / 1000.0)]
    );
    assert_eq!(lossy(-1e300), vec![Value::Double(i64::MIN as f64 / 1000.0)]);
}

#[test]
fn binrpc_containers_round_trip() {
    let nested = Value::Struct(vec![
        int("a", 1),
        Member::named("inner", Value::Struct(vec![string("x", "y")])),
        Member::unnamed(Value::Int(7)),
        Member::unnamed(Value::Struct(vec![])),
        Member::unnamed(Value::Array(vec![Value::Int(1), Value::Str("s".into())])),
    ]);
    let body = one(nested);
    assert_eq!(&body[..5], [0x03, 0x25, b'a', 0, 0x10]);
    assert_eq!(body.last(), Some(&0x83));
    assert_eq!(one(Value::Array(vec![])), [0x04, 0x84]);
    assert_eq!(one(Value::Struct(vec![])), [0x03, 0x83]);
    // A named array cannot be on the wire: it goes as a struct of unnamed values.
    let named = Value::Struct(vec![Member::named("l", Value::Array(vec![Value::Int(2)]))]);
    let body = encode_records(&[named]).unwrap();
    assert_eq!(body, [0x03, 0x25, b'l', 0, 0x03, 0x10, 0x02, 0x83, 0x83]);
}

#[test]
fn binrpc_lenient_decoding() {
    // binrpc.h's own examples of suboptimal but valid encodings of 0x1234 and 0.
    for body in [
        &[0x90, 0x02, 0x12, 0x34][..],
        &[0xa0, 0x00, 0x02, 0x12, 0x34],
    ] {
        assert_eq!(decode_records(body).unwrap(), vec![Value::Int(0x1234)]);
    }
    assert_eq!(decode_records(&[0x10, 0x00]).unwrap(), vec![Value::Int(0)]);
    assert_eq!(decode_records(&[0x80]).unwrap(), vec![Value::Int(0)]);
    // Short integers are unsigned: one byte 0xff is 255, not -1.
    assert_eq!(
        decode_records(&[0x10, 0xff]).unwrap(),
        vec![Value::Int(255)]
    );
    // A 4-byte length for a short body, and non-UTF-8 kept lossily.
    let pkt = [0xa1, 0x0c, 0, 0, 0, 3, 9, 0x21, 0xff, 0x00];
    let (p, used) = parse_packet(&pkt, 100).unwrap().unwrap();
    assert_eq!((p.cookie, used), (9, pkt.len()));
    assert_eq!(p.records().unwrap(), vec![Value::Str("\u{fffd}".into())]);
}

#[test]
fn binrpc_json_to_reply() {
    let result = json!([
        {"n": null, "t": true, "f": false, "big": 2_147_483_648_i64, "max": i32::MAX,
         "neg": -5, "pi": 3.25, "s": "x", "l": [1, "a", [2]], "o": {}},
        7,
        null,
    ]);
    let records = reply_records(&result).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1], Value::Int(7));
    assert_eq!(records[2], Value::Str(String::new()));
    let Value::Struct(members) = &records[0] else {
        panic!("{records:?}")
    };
    let get = |k: &str| {
        let m = members.iter().find(|m| m.name.as_deref() == Some(k));
        m.unwrap().value.clone()
    };
    assert_eq!(get("n"), Value::Str(String::new()));
    assert_eq!((get("t"), get("f")), (Value::Int(1), Value::Int(0)));
    assert_eq!(get("big"), Value::Double(2_147_483_648.0));
    assert_eq!(
        (get("max"), get("neg")),
        (Value::Int(i32::MAX), Value::Int(-5))
    );
    assert_eq!(
        (get("pi"), get("s")),
        (Value::Double(3.25), Value::Str("x".into()))
    );
    let list = Value::Struct(vec![
        Member::unnamed(Value::Int(1)),
        Member::unnamed(Value::Str("a".into())),
        Member::unnamed(Value::Struct(vec![Member::unnamed(Value::Int(2))])),
    ]);
    assert_eq!((get("l"), get("o")), (list, Value::Struct(vec![])));
    let body = encode_reply(&result).unwrap();
    assert_eq!(decode_records(&body).unwrap(), records);
    // A top-level scalar is one record; 64-bit numbers go as DOUBLE (through f64, like
    // Kamailio's `(double)` cast), saturating past the fixed-point range.
    let back = |j: serde_json::Value| decode_records(&encode_reply(&j).unwrap()).unwrap();
    assert_eq!(back(json!(5)), [Value::Int(5)]);
    assert_eq!(
        back(json!(1_u64 << 40)),
        [Value::Double(1_099_511_627_776.0)]
    );
    assert_eq!(
        back(json!(-(1_i64 << 40))),
        [Value::Double(-1_099_511_627_776.0)]
    );
    assert_eq!(
        back(json!(u64::MAX)),
        [Value::Double(i64::MAX as f64 / 1000.0)]
    );
}

#[test]
fn binrpc_value_to_json() {
    let v = Value::Struct(vec![int("a", 1), Member::named("d", Value::Double(2.0))]);
    assert_eq!(v.to_json(), json!({"a": 1, "d": 2.0}));
    let mixed = Value::Struct(vec![int("a", 1), Member::unnamed(Value::Int(2))]);
    assert_eq!(mixed.to_json(), json!([{"a": 1}, 2]));
    assert_eq!(Value::Struct(vec![]).to_json(), json!({}));
    assert_eq!(Value::Array(vec![Value::Int(1)]).to_json(), json!([1]));
    assert_eq!(
        Value::Bytes(b"a\xffb".to_vec()).to_json(),
        json!("a\u{fffd}b")
    );
    assert_eq!(Value::Double(f64::NAN).to_json(), json!(null));
    let dup = Value::Struct(vec![int("a", 1), int("a", 2)]);
    assert_eq!(dup.to_json(), json!({"a": 2}));
}

/// A small deterministic generator (xorshift), for the round-trip property without proptest.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        let len = [0, 1, 6, 7, 8, 255, 256][self.below(7) as usize];
        (0..len)
            .map(|_| ['a', 'Z', ' ', 'é', '\0', '☃'][self.below(6) as usize])
            .collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        let leaf = depth >= MAX_DEPTH || self.below(3) > 0;
        match if leaf {
            self.below(4)
        } else {
            4 + self.below(2)
        } {
            0 => Value::Int(
                [0, 1, -1, 255, 256, i32::MAX, i32::MIN, self.next() as i32]
                    [self.below(8) as usize],
            ),
            1 => Value::Str(self.text()),
            // Within 2^49 thousandths a decoded double re-encodes to the same bytes.
            2 => Value::Double((self.next() as i64 >> (14 + self.below(50))) as f64 / 1000.0),
            3 => Value::Bytes(self.text().into_bytes()),
            4 => Value::Struct(
                (0..self.below(5))
                    .map(|_| {
                        let v = self.value(depth + 1);
                        let array = matches!(v, Value::Array(_));
                        if array || self.below(2) == 0 {
                            Member::unnamed(v)
                        } else {
                            Member::named(self.text(), v)
                        }
                    })
                    .collect(),
            ),
            _ => Value::Array((0..self.below(5)).map(|_| self.value(depth + 1)).collect()),
        }
    }
}

#[test]
fn binrpc_generated_round_trip() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let records: Vec<Value> = (0..g.below(4)).map(|_| g.value(0)).collect();
        let body = encode_records(&records).unwrap();
        let back = decode_records(&body).unwrap();
        assert_eq!(back.len(), records.len());
        for (a, b) in records.iter().zip(&back) {
            assert!(super::super::fuzz::same(a, b), "{a:?} became {b:?}");
        }
        // A decoded tree re-encodes to the same bytes.
        assert_eq!(encode_records(&back).unwrap(), body);
        let pkt = build_packet(PacketType::Reply, g.next() as u32, &body).unwrap();
        let (p, used) = parse_packet(&pkt, MAX_BODY_LEN).unwrap().unwrap();
        assert_eq!((p.body, used), (body, pkt.len()));
        fuzz_one(&pkt);
    }
}
