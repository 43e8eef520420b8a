//! Every error path: headers, records, nesting, limits, requests, faults, encoding.

use super::*;
use serde_json::json;

fn err(body: &[u8]) -> BinrpcError {
    decode_records(body).unwrap_err()
}

#[test]
fn binrpc_err_bad_magic_version_type() {
    // Decided from the first byte (magic, version) and the second (type).
    assert_eq!(parse_packet(&[0xb1], 100), Err(BinrpcError::BadMagic(0xb1)));
    assert_eq!(
        parse_packet(&[0x00, 0x00, 0x00, 0x00], 100),
        Err(BinrpcError::BadMagic(0))
    );
    assert_eq!(
        parse_packet(b"INVITE sip:", 100),
        Err(BinrpcError::BadMagic(b'I'))
    );
    assert_eq!(
        parse_packet(&[0xa2], 100),
        Err(BinrpcError::BadVersion(0xa2))
    );
    assert_eq!(
        parse_packet(&[0xa0, 0x00, 0x00, 0x01], 100),
        Err(BinrpcError::BadVersion(0xa0))
    );
    for t in [2u8, 4, 5, 8, 15] {
        assert_eq!(
            parse_packet(&[0xa1, t << 4], 100),
            Err(BinrpcError::BadType(t))
        );
    }
    assert_eq!(parse_packet(&[], 100), Ok(None));
    assert_eq!(parse_packet(&[0xa1], 100), Ok(None));
    assert_eq!(parse_header(&[0xa1, 0x10], 100), Ok(None));
}

#[test]
fn binrpc_err_body_over_cap() {
    // 4 GiB announced: refused from the six header bytes, before the cookie arrives.
    let huge = [0xa1, 0x0c, 0xff, 0xff, 0xff, 0xff];
    let e = BinrpcError::BodyTooLarge {
        len: 0xffff_ffff,
        max: 32_768,
    };
    assert_eq!(parse_packet(&huge, 32_768), Err(e));
    // The cap never exceeds what Kamailio accepts, even when the caller allows more.
    assert!(matches!(
        parse_header(&huge, usize::MAX),
        Err(BinrpcError::BodyTooLarge {
            max: MAX_BODY_LEN,
            ..
        })
    ));
    let over = [0xa1, 0x04, 0x80, 0x01, 0x07];
    assert!(matches!(
        parse_packet(&over, 32_768),
        Err(BinrpcError::BodyTooLarge { len: 32_769, .. })
    ));
    // At the cap: a header, then a wait for the body.
    let at = [0xa1, 0x04, 0x80, 0x00, 0x07];
    let h = parse_header(&at, 32_768).unwrap().unwrap();
    assert_eq!((h.body_len, h.cookie, h.header_len), (32_768, 7, 5));
    assert_eq!(parse_packet(&at, 32_768), Ok(None));
    assert_eq!(
        parse_packet(&[0xa1, 0x10, 1, 0], 0),
        Err(BinrpcError::BodyTooLarge { len: 1, max: 0 })
    );
}

#[test]
fn binrpc_err_truncated_record() {
    assert_eq!(err(&[0x91]), BinrpcError::Truncated { offset: 0 });
    assert_eq!(
        err(&[0x10, 0x01, 0x20, 0x01]),
        BinrpcError::Truncated { offset: 2 }
    );
    assert_eq!(err(&[0x32, 0x01]), BinrpcError::Truncated { offset: 0 });
    assert_eq!(
        err(&cat(&[&[0x91, 0x0e], b"core"])),
        BinrpcError::Truncated { offset: 0 }
    );
    assert_eq!(err(&[0xa1, 0x01]), BinrpcError::Truncated { offset: 0 });
    // A truncated member inside a struct reports the member.
    assert_eq!(
        err(&[0x03, 0x25, b'a', 0, 0x20, 0x01]),
        BinrpcError::Truncated { offset: 4 }
    );
}

#[test]
fn binrpc_err_length_past_body() {
    // A 4-byte length of ~4 GiB: an error at once, nothing allocated.
    assert_eq!(
        err(&[0xc1, 0xff, 0xff, 0xff, 0xff, b'a', 0]),
        BinrpcError::Truncated { offset: 0 }
    );
    assert_eq!(err(&[0x76, 1, 2, 3]), BinrpcError::Truncated { offset: 0 });
    // An AVP whose length runs past the body fails on the length, wherever it is.
    assert_eq!(
        err(&[0x95, 0x09, b'a', 0]),
        BinrpcError::Truncated { offset: 0 }
    );
}

#[test]
fn binrpc_err_bad_lengths_and_types() {
    assert_eq!(
        err(&[0x50, 1, 2, 3, 4, 5]),
        BinrpcError::BadLength { offset: 0 }
    );
    assert_eq!(
        err(&[0x90, 0x05, 1, 2, 3, 4, 5]),
        BinrpcError::BadLength { offset: 0 }
    );
    assert_eq!(
        err(&[0xd1, 0, 0, 0, 0, 1, 0]),
        BinrpcError::BadLength { offset: 0 }
    );
    assert_eq!(
        err(&cat(&[&[0x92], &[0; 9]])),
        BinrpcError::BadLength { offset: 0 }
    );
    for tag in [0x13, 0x93, 0x14, 0x94, 0x73, 0xf4] {
        assert_eq!(
            err(&[0x03, tag, 0x83]),
            BinrpcError::BadLength { offset: 1 },
            "{tag:#x}"
        );
    }
    for tag in [0x07, 0x08, 0x0f, 0x1e] {
        assert_eq!(err(&[tag, 0]), BinrpcError::UnknownType { offset: 0, tag });
    }
}

#[test]
fn binrpc_err_str_without_nul() {
    assert_eq!(
        err(&[0x31, b'a', b'b', b'c']),
        BinrpcError::StrWithoutNul { offset: 0 }
    );
    assert_eq!(err(&[0x01]), BinrpcError::StrWithoutNul { offset: 0 });
    assert_eq!(err(&[0x81]), BinrpcError::StrWithoutNul { offset: 0 });
    assert_eq!(
        err(&[0x03, 0x25, b'a', b'b', 0x00, 0x83]),
        BinrpcError::StrWithoutNul { offset: 1 }
    );
    // BYTES need no NUL.
    assert_eq!(
        decode_records(&[0x36, 1, 2, 3]).unwrap(),
        [Value::Bytes(vec![1, 2, 3])]
    );
}

#[test]
fn binrpc_err_depth_over_limit() {
    for (open, close) in [(0x03u8, 0x83u8), (0x04, 0x84)] {
        let nest = |n: usize| [vec![open; n], vec![close; n]].concat();
        assert!(decode_records(&nest(MAX_DEPTH)).is_ok());
        assert_eq!(
            err(&nest(MAX_DEPTH + 1)),
            BinrpcError::TooDeep {
                offset: MAX_DEPTH,
                limit: MAX_DEPTH
            }
        );
        // Deep hostile input is refused without recursing through it.
        assert!(matches!(
            err(&vec![open; 1 << 20]),
            BinrpcError::TooDeep { .. }
        ));
    }
    // Through AVPs too.
    let mut deep = vec![0x03];
    for _ in 0..MAX_DEPTH {
        deep.extend_from_slice(&[0x25, b'a', 0, 0x03]);
    }
    assert!(matches!(err(&deep), BinrpcError::TooDeep { .. }));
    let limits = Limits {
        max_depth: 2,
        ..Limits::DEFAULT
    };
    assert!(decode_records_with(&[0x03, 0x04, 0x84, 0x83], &limits).is_ok());
    assert!(decode_records_with(&[0x03, 0x04, 0x03, 0x83, 0x84, 0x83], &limits).is_err());
}

#[test]
fn binrpc_err_too_many_elements() {
    let limits = Limits {
        max_elements: 9,
        ..Limits::DEFAULT
    };
    assert_eq!(decode_records_with(&[0; 9], &limits).unwrap().len(), 9);
    assert_eq!(
        decode_records_with(&[0; 10], &limits),
        Err(BinrpcError::TooManyElements { limit: 9 })
    );
    // Containers and members count.
    let s = [0x03, 0x00, 0x00, 0x25, b'a', 0, 0x00, 0x83];
    assert_eq!(
        decode_records_with(
            &s,
            &Limits {
                max_elements: 4,
                ..limits
            }
        )
        .unwrap()
        .len(),
        1
    );
    assert!(decode_records_with(
        &s,
        &Limits {
            max_elements: 3,
            ..limits
        }
    )
    .is_err());
    assert!(decode_records(&vec![0; MAX_ELEMENTS + 1]).is_err());
}

#[test]
fn binrpc_err_avp_placement() {
    let avp_a = [0x25, b'a', 0];
    let e = |parts: &[&[u8]]| err(&cat(parts));
    // Not followed by a value: end of body, an end tag, another AVP.
    assert_eq!(
        e(&[&[0x03], &avp_a]),
        BinrpcError::AvpWithoutValue { offset: 1 }
    );
    assert_eq!(
        e(&[&[0x03], &avp_a, &[0x83]]),
        BinrpcError::AvpWithoutValue { offset: 1 }
    );
    assert_eq!(
        e(&[&[0x03], &avp_a, &avp_a, &[0x00, 0x83]]),
        BinrpcError::AvpWithoutValue { offset: 1 }
    );
    assert_eq!(
        e(&[&[0x03], &avp_a, &[0x84]]),
        BinrpcError::AvpWithoutValue { offset: 1 }
    );
    // Kamailio refuses a named array.
    assert_eq!(
        e(&[&[0x03], &avp_a, &[0x04, 0x84, 0x83]]),
        BinrpcError::AvpArray { offset: 1 }
    );
    // Outside a struct.
    assert_eq!(
        e(&[&avp_a, &[0x00]]),
        BinrpcError::AvpOutsideStruct { offset: 0 }
    );
    assert_eq!(
        e(&[&[0x04], &avp_a, &[0x00, 0x84]]),
        BinrpcError::AvpOutsideStruct { offset: 1 }
    );
    // A struct as a member's value is fine.
    let ok = cat(&[&[0x03], &avp_a, &[0x03, 0x83, 0x83]]);
    let inner = Value::Struct(vec![Member::named("a", Value::Struct(vec![]))]);
    assert_eq!(decode_records(&ok).unwrap(), [inner]);
}

#[test]
fn binrpc_err_unmatched_and_unterminated() {
    assert_eq!(err(&[0x83]), BinrpcError::UnmatchedEnd { offset: 0 });
    assert_eq!(err(&[0x84]), BinrpcError::UnmatchedEnd { offset: 0 });
    assert_eq!(
        err(&[0x10, 0x01, 0x83]),
        BinrpcError::UnmatchedEnd { offset: 2 }
    );
    assert_eq!(err(&[0x03, 0x84]), BinrpcError::UnmatchedEnd { offset: 1 });
    assert_eq!(err(&[0x04, 0x83]), BinrpcError::UnmatchedEnd { offset: 1 });
    assert_eq!(
        err(&[0x03, 0x04, 0x83, 0x84]),
        BinrpcError::UnmatchedEnd { offset: 2 }
    );
    assert_eq!(err(&[0x03]), BinrpcError::Unterminated);
    assert_eq!(err(&[0x03, 0x25, b'a', 0, 0x00]), BinrpcError::Unterminated);
    assert_eq!(err(&[0x04, 0x03, 0x83]), BinrpcError::Unterminated);
}

#[test]
fn binrpc_err_request_and_fault_shapes() {
    assert_eq!(decode_request(&[]), Err(BinrpcError::NoMethod));
    assert_eq!(decode_request(&[0x10, 0x01]), Err(BinrpcError::NoMethod));
    assert_eq!(decode_request(&[0x03, 0x83]), Err(BinrpcError::NoMethod));
    assert_eq!(
        decode_request(&[0x31, b'a', b'b', b'c']),
        Err(BinrpcError::StrWithoutNul { offset: 0 })
    );
    assert_eq!(decode_fault(&[0x10, 0x01]), Err(BinrpcError::BadFault));
    assert_eq!(decode_fault(&[]), Err(BinrpcError::BadFault));
    assert_eq!(
        decode_fault(&[0x21, b'x', 0, 0x10, 0x01]),
        Err(BinrpcError::BadFault)
    );
}

#[test]
fn binrpc_err_encode_limits() {
    let mut deep = Value::Int(0);
    for _ in 0..MAX_DEPTH {
        deep = Value::Struct(vec![Member::unnamed(deep)]);
    }
    assert!(encode_records(std::slice::from_ref(&deep)).is_ok());
    let deeper = Value::Array(vec![deep]);
    assert_eq!(encode_records(&[deeper]), Err(BinrpcError::TooLarge));
    let mut j = json!(1);
    for _ in 0..MAX_DEPTH {
        j = json!([j]);
    }
    assert!(
        encode_reply(&json!([j.clone()])).is_ok(),
        "top-level array elements are records"
    );
    assert_eq!(encode_reply(&json!({ "a": j })), Err(BinrpcError::TooLarge));
    assert_eq!(
        write_header(&mut Vec::new(), PacketType::Reply, MAX_BODY_LEN + 1, 0),
        Err(BinrpcError::TooLarge)
    );
    // Every error has words.
    assert!(BinrpcError::TooDeep {
        offset: 3,
        limit: 16
    }
    .to_string()
    .contains("16"));
}
