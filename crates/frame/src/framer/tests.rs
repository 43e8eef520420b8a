//! Framer unit tests: every rule at its boundary, and the candidate search against a
//! line-by-line walk.

use super::*;

fn scan_all(msg: &[u8], cap: usize, no_cl: bool) -> Result<Scan, FrameError> {
    SipFramer::default().scan(msg, cap, no_cl)
}

fn complete(msg: &[u8]) -> (usize, usize) {
    match scan_all(msg, 65536, false).unwrap() {
        Scan::Complete { len, body_start } => (len, body_start),
        other => panic!("{other:?}"),
    }
}

#[test]
fn content_length_values() {
    assert_eq!(parse_content_length(b" 12 "), Ok(12));
    assert_eq!(parse_content_length(b"\r\n\t007"), Ok(7));
    assert_eq!(parse_content_length(b"0"), Ok(0));
    assert_eq!(
        parse_content_length(b" -1"),
        Err(FrameError::NegativeContentLength)
    );
    assert_eq!(
        parse_content_length(b""),
        Err(FrameError::InvalidContentLength)
    );
    assert_eq!(
        parse_content_length(b"1 2"),
        Err(FrameError::InvalidContentLength)
    );
    assert_eq!(
        parse_content_length(b"+3"),
        Err(FrameError::InvalidContentLength)
    );
    assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
    assert_eq!(
        parse_content_length(b"18446744073709551616"),
        Err(FrameError::ContentLengthOverflow)
    );
}

#[test]
fn header_name_matching() {
    assert_eq!(
        value_offset(b"Content-Length: 5", b"content-length"),
        Some(15)
    );
    assert_eq!(
        value_offset(b"CONTENT-LENGTH \t: 5", b"content-length"),
        Some(17)
    );
    assert_eq!(value_offset(b"l:5", b"l"), Some(2));
    assert_eq!(value_offset(b"Lorem: 5", b"l"), None);
    assert_eq!(value_offset(b"Content-Lengthy: 5", b"content-length"), None);
    assert_eq!(value_offset(b"Content-Type: x", b"content-length"), None);
}

#[test]
fn forms_of_content_length() {
    let body = b"hello";
    for h in [
        "Content-Length: 5",
        "content-length:5",
        "CONTENT-LENGTH   :   5   ",
        "l: 5",
        "L :5",
        "Content-Length:\r\n 5",
        "Content-Length: \r\n\t5\r\n  ",
    ] {
        let m = format!("MESSAGE sip:a SIP/2.0\r\nVia: x\r\n{h}\r\nTo: b\r\n\r\nhello");
        let (len, bs) = complete(m.as_bytes());
        assert_eq!(len, m.len(), "{h}");
        assert_eq!(&m.as_bytes()[bs..len], body);
    }
}

#[test]
fn bare_lf_tolerated() {
    for m in [
        &b"OPTIONS sip:a SIP/2.0\nl: 2\n\nab"[..],
        b"OPTIONS sip:a SIP/2.0\r\nl: 2\n\r\nab",
        b"OPTIONS sip:a SIP/2.0\nl: 2\r\n\nab",
    ] {
        assert_eq!(complete(m).0, m.len());
    }
}

#[test]
fn folded_header_is_not_a_new_line() {
    // "l: 9" folded into Subject must not count as Content-Length.
    let m = b"OPTIONS sip:a SIP/2.0\r\nSubject: x\r\n l: 9\r\nl: 0\r\n\r\n";
    assert_eq!(complete(m).0, m.len());
}

#[test]
fn errors() {
    let e = |m: &[u8]| scan_all(m, 65536, false).unwrap_err();
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nTo: x\r\n\r\n"),
        FrameError::MissingContentLength
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nContent-Length: 12\r\nl: 15\r\n\r\n"),
        FrameError::ContentLengthMismatch {
            first: 12,
            second: 15
        }
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nContent-Length: 12\r\nl: 15\r\n\r\n").to_string(),
        "Content-Length headers disagree (12 vs 15)"
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nl: -1\r\n\r\n"),
        FrameError::NegativeContentLength
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nl: 1x\r\n\r\n"),
        FrameError::InvalidContentLength
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nl: 99999999999999999999\r\n\r\n"),
        FrameError::ContentLengthOverflow
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nl: 18446744073709551615\r\n\r\n"),
        FrameError::MessageTooLarge {
            size: u64::MAX,
            capacity: 65536
        }
    );
    assert_eq!(
        e(b"A sip:a SIP/2.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        FrameError::TransferEncodingUnsupported
    );
    // Agreeing duplicates are fine.
    let ok = b"A sip:a SIP/2.0\r\nContent-Length: 0\r\nl:0\r\n\r\n";
    assert_eq!(complete(ok).0, ok.len());
}

#[test]
fn accept_no_cl_means_empty_body() {
    let m = b"GET /xcap HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
    assert_eq!(
        scan_all(m, 4096, true).unwrap(),
        Scan::Complete {
            len: m.len() - 4,
            body_start: m.len() - 4
        }
    );
}

#[test]
fn size_checked_as_soon_as_headers_end() {
    // Headers end; CL makes the total 1 byte too large: error before any body.
    let head = b"A sip:a SIP/2.0\r\nl: 983\r\n\r\n"; // 27 bytes + 983 = 1010
    assert_eq!(head.len(), 27);
    let mut f = SipFramer::default();
    assert_eq!(
        f.scan(head, 1009, false),
        Err(FrameError::MessageTooLarge {
            size: 1010,
            capacity: 1009
        })
    );
    let mut f = SipFramer::default();
    assert_eq!(
        f.scan(head, 1010, false),
        Ok(Scan::Incomplete { need: Some(983) })
    );
}

#[test]
fn byte_at_a_time_is_linear() {
    let mut m = b"INVITE sip:a SIP/2.0\r\n".to_vec();
    for i in 0..200 {
        m.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(i % 50)).as_bytes());
    }
    m.extend_from_slice(b"Content-Length: 3\r\n\r\nabc");
    let mut f = SipFramer::default();
    let mut done = None;
    for n in 1..=m.len() {
        if let Scan::Complete { len, .. } = f.scan(&m[..n], 1 << 20, false).unwrap() {
            done = Some((n, len));
            break;
        }
    }
    assert_eq!(done, Some((m.len(), m.len())));
    assert!(
        f.work() <= 2 * m.len() as u64,
        "work {} for {}",
        f.work(),
        m.len()
    );
}

#[test]
fn packed_search_is_used_where_available() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        assert!(matches!(Finder::get(), Finder::Packed(_)));
    }
    #[cfg(target_arch = "aarch64")]
    assert!(matches!(Finder::get(), Finder::Packed(_)));
}

/// Every candidate pattern and fast-path ending cut at every byte, in
/// every read size, with both finders: same results as the reference.
#[test]
fn candidates_split_across_reads() {
    let msgs: [&[u8]; 8] = [
        b"SIP/2.0 200 OK\r\nVia: x\r\nTransfer-Encoding: chunked\r\nl: 0\r\n\r\n",
        b"SIP/2.0 200 OK\ntRANSFER-encoding :x\nl: 0\n\n",
        b"A sip:a SIP/2.0\r\nX-Long: a-l s-f\r\nCONTENT-length : 12 \r\n\r\nhello world!",
        b"A sip:a SIP/2.0\r\nl:3\r\nContent-Length: 3\r\n\r\nabc",
        b"A sip:a SIP/2.0\r\nContent-Length:\r\n 3\r\nTo: b\r\n\r\nabc",
        b"A sip:a SIP/2.0\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd",
        b"A sip:a SIP/2.0\r\n\rl: 9\r\nL: 1\n\r\nx",
        b"A sip:a SIP/2.0\r\nContent-Length: 123456789012345678901\r\n\r\n",
    ];
    let lines = Finder::Lines;
    for m in msgs {
        for step in 1..=m.len() {
            let mut packed = SipFramer::default();
            let mut plain = SipFramer::default();
            let mut reference = crate::framer_ref::RefFramer::default();
            let mut n = 0;
            while n < m.len() {
                n = (n + step).min(m.len());
                let r = reference.scan(&m[..n], 4096, false);
                assert_eq!(
                    packed.scan(&m[..n], 4096, false),
                    r,
                    "{m:?} step {step} at {n}"
                );
                assert_eq!(plain.scan_with(&lines, &m[..n], 4096, false), r);
                if !matches!(r, Ok(Scan::Incomplete { .. })) {
                    break;
                }
            }
        }
    }
}

#[test]
fn partial_patterns_at_the_end_are_linear() {
    // Every byte may start a pattern, so each read re-reads one byte.
    let mut m = b"A sip:a SIP/2.0\r\nX: ".to_vec();
    for _ in 0..2000 {
        m.extend_from_slice(b"-sS\n ");
    }
    m.extend_from_slice(b"\r\nl: 0\r\n\r\n");
    let mut f = SipFramer::default();
    let mut done = false;
    for n in 1..=m.len() {
        if let Scan::Complete { len, .. } = f.scan(&m[..n], 1 << 20, false).unwrap() {
            assert_eq!((n, len), (m.len(), m.len()));
            done = true;
        }
    }
    assert!(done);
    assert!(
        f.work() <= 3 * m.len() as u64,
        "work {} for {}",
        f.work(),
        m.len()
    );
}
