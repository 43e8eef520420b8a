//! Chunked bodies (`accept_no_cl`): every rule at its edge, in every read size, with the
//! packed framer, the every-line framer and the reference framer agreeing.

use super::*;
use crate::framer_ref::RefFramer;

const HEAD: &str =
    "PUT /xcap-root/users/sip:a@b/index HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `HEAD` then `body`.
fn msg(body: &str) -> Vec<u8> {
    format!("{HEAD}{body}").into_bytes()
}

/// Feeds `m` in reads of `step` bytes through the three framers (all must agree after
/// every read) and returns the final result and the bytes fed when it came.
fn run(m: &[u8], cap: usize, no_cl: bool, step: usize) -> (Result<Scan, FrameError>, usize) {
    let lines = Finder::Lines;
    let mut packed = SipFramer::default();
    let mut plain = SipFramer::default();
    let mut reference = RefFramer::default();
    let mut n = 0;
    loop {
        n = (n + step).min(m.len()).min(cap);
        let data = &m[..n];
        let r = reference.scan(data, cap, no_cl);
        assert_eq!(
            packed.scan(data, cap, no_cl),
            r,
            "{} step {step} at {n}",
            show(m)
        );
        assert_eq!(
            plain.scan_with(&lines, data, cap, no_cl),
            r,
            "{} at {n}",
            show(m)
        );
        if !matches!(r, Ok(Scan::Incomplete { .. })) || n == m.len().min(cap) {
            return (r, n);
        }
    }
}

/// At most 300 bytes of `m`, for a failure message.
fn show(m: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(&m[..m.len().min(300)]))
}

/// The result in every read size (all the same).
fn result(m: &[u8], cap: usize, no_cl: bool) -> Result<Scan, FrameError> {
    let whole = run(m, cap, no_cl, usize::MAX).0;
    for step in [1, 2, 3, 7, 16] {
        assert_eq!(run(m, cap, no_cl, step).0, whole, "{} step {step}", show(m));
    }
    whole
}

fn complete(m: &[u8]) -> (usize, usize) {
    match result(m, 65536, true) {
        Ok(Scan::Complete { len, body_start }) => (len, body_start),
        other => panic!("{}: {other:?}", show(m)),
    }
}

fn error(m: &[u8]) -> FrameError {
    match result(m, 65536, true) {
        Err(e) => e,
        other => panic!("{}: {other:?}", show(m)),
    }
}

#[test]
fn chunked_bodies_are_framed() {
    for body in [
        "0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        "A\r\n0123456789\r\na\r\n0123456789\r\n000\r\n\r\n",
        "5;name=value;x\r\nhello\r\n0;last\r\n\r\n",
        "5 \t;ext=\"q s\"\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
        "5\nhello\n0\n\n",
        "5\r\nhe\r\nl\r\n0\r\n\r\n",
        "0000000000000000000000005\r\nhello\r\n0\r\n\r\n",
    ] {
        let m = msg(body);
        assert_eq!(complete(&m), (m.len(), HEAD.len()), "{body:?}");
        // What follows is not part of it.
        let mut next = m.clone();
        next.extend_from_slice(b"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n");
        assert_eq!(complete(&next), (m.len(), HEAD.len()), "{body:?}");
    }
    // A large chunk, in a few read sizes.
    let m = format!("{HEAD}FFFF\r\n{}\r\n0\r\n\r\n", "x".repeat(0xffff));
    for step in [usize::MAX, 1460, 4096] {
        let (r, fed) = run(m.as_bytes(), 1 << 20, true, step);
        assert_eq!(
            (r, fed),
            (
                Ok(Scan::Complete {
                    len: m.len(),
                    body_start: HEAD.len()
                }),
                m.len()
            )
        );
    }
}

#[test]
fn forms_of_transfer_encoding() {
    for te in [
        "Transfer-Encoding: chunked",
        "transfer-encoding:CHUNKED",
        "TRANSFER-ENCODING \t: Chunked \t",
        "Transfer-Encoding:\r\n chunked",
        "Transfer-Encoding: , chunked ,",
        "Transfer-Encoding:\r\nTransfer-Encoding: chunked",
    ] {
        let head = format!("PUT /x HTTP/1.1\r\n{te}\r\nHost: h\r\n\r\n");
        let m = format!("{head}1\r\nx\r\n0\r\n\r\n");
        if te.starts_with("Transfer-Encoding:\r\nT") {
            // An empty value is not `chunked`.
            assert_eq!(error(m.as_bytes()), FrameError::UnsupportedTransferCoding);
            continue;
        }
        assert_eq!(complete(m.as_bytes()), (m.len(), head.len()), "{te:?}");
    }
    // Not a Transfer-Encoding header: the empty body of accept_no_cl.
    let m = b"PUT /x HTTP/1.1\r\nTransfer-Encodings: chunked\r\n\r\n1\r\n";
    assert_eq!(complete(m), (m.len() - 3, m.len() - 3));
}

#[test]
fn codings_other_than_chunked_are_refused() {
    for te in [
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked, gzip",
        "Transfer-Encoding: chunked, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked;q=1",
        "Transfer-Encoding: chunked x",
        "Transfer-Encoding:",
        "Transfer-Encoding: ,",
    ] {
        let m = format!("PUT /x HTTP/1.1\r\n{te}\r\n\r\n0\r\n\r\n");
        assert_eq!(
            error(m.as_bytes()),
            FrameError::UnsupportedTransferCoding,
            "{te:?}"
        );
    }
    assert_eq!(
        FrameError::UnsupportedTransferCoding.to_string(),
        "Transfer-Encoding is not exactly 'chunked' (other codings, chunked not last or twice)"
    );
}

#[test]
fn content_length_with_transfer_encoding_is_refused() {
    for head in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Transfer-Encoding: chunked\r\nl: 0",
    ] {
        let m = format!("PUT /x HTTP/1.1\r\n{head}\r\n\r\n0\r\n\r\n");
        assert_eq!(
            error(m.as_bytes()),
            FrameError::ContentLengthWithTransferEncoding,
            "{head:?}"
        );
    }
}

#[test]
fn transfer_encoding_is_refused_without_accept_no_cl() {
    let m = msg("0\r\n\r\n");
    assert_eq!(
        result(&m, 65536, false),
        Err(FrameError::TransferEncodingUnsupported)
    );
    assert_eq!(
        FrameError::TransferEncodingUnsupported.to_string(),
        "Transfer-Encoding is not accepted (set tcp_accept_no_cl to frame chunked bodies)"
    );
    // With a Content-Length too: the same error, at the header.
    let m = b"A sip:a SIP/2.0\r\nl: 0\r\nTransfer-Encoding: chunked\r\nX: y\r\n";
    assert_eq!(
        result(m, 65536, false),
        Err(FrameError::TransferEncodingUnsupported)
    );
}

#[test]
fn chunk_size_line_length_edge() {
    // A size line of exactly the limit (size and extension, no CRLF) is fine.
    let ext = |n: usize| format!("1;{}", "e".repeat(n - 2));
    let at = ext(MAX_CHUNK_LINE);
    assert_eq!(at.len(), MAX_CHUNK_LINE);
    let m = msg(&format!("{at}\r\nx\r\n0\r\n\r\n"));
    assert_eq!(complete(&m).0, m.len());
    // Waiting on it, even with its CR in, is fine too.
    let open = msg(&format!("{at}\r"));
    assert_eq!(
        result(&open, 65536, true),
        Ok(Scan::Incomplete { need: None })
    );
    // One byte more: refused, with its LF or before it arrives.
    let over = ext(MAX_CHUNK_LINE + 1);
    let too_long = FrameError::ChunkLineTooLong {
        limit: MAX_CHUNK_LINE,
    };
    assert_eq!(error(&msg(&format!("{over}\r\nx\r\n0\r\n\r\n"))), too_long);
    assert_eq!(result(&msg(&over), 65536, true), Err(too_long));
    let (r, fed) = run(&msg(&over), 65536, true, 1);
    assert_eq!((r, fed), (Err(too_long), HEAD.len() + MAX_CHUNK_LINE + 1));
    // A CR that is not before the LF counts.
    assert_eq!(error(&msg(&format!("{at}\rx"))), too_long);
    assert_eq!(
        too_long.to_string(),
        "chunk-size line is longer than 256 bytes (size plus extensions)"
    );
    // The last-chunk line has the same limit.
    let last = format!("0;{}", "e".repeat(MAX_CHUNK_LINE - 1));
    assert_eq!(error(&msg(&format!("{last}\r\n\r\n"))), too_long);
}

#[test]
fn chunk_size_errors() {
    for line in [
        "x", "", " 5", "-5", "+5", "5 x", "5x", "0x5", "5\rx", "5;a\x01b", "5;\x7f", "5,",
    ] {
        let m = msg(&format!("{line}\r\nhello\r\n0\r\n\r\n"));
        assert_eq!(error(&m), FrameError::InvalidChunkSize, "{line:?}");
    }
    // 16 hex digits fit in 64 bits (and are too large for any buffer); 17 do not.
    assert_eq!(
        error(&msg("ffffffffffffffff\r\n")),
        FrameError::MessageTooLarge {
            size: u64::MAX,
            capacity: 65536
        }
    );
    assert_eq!(
        error(&msg("10000000000000000\r\n")),
        FrameError::ChunkSizeOverflow
    );
    assert_eq!(
        error(&msg("0000000000000000010000000000000000\r\n")),
        FrameError::ChunkSizeOverflow
    );
    assert_eq!(
        FrameError::ChunkSizeOverflow.to_string(),
        "chunk size does not fit in 64 bits"
    );
    assert_eq!(
        FrameError::InvalidChunkSize.to_string(),
        "chunk-size line is not a hex size with optional ';' extensions"
    );
}

#[test]
fn chunk_data_must_end_with_a_line_ending() {
    for body in [
        "5\r\nhelloX\r\n",
        "5\r\nhello\rX",
        "5\r\nhello\r\r\n",
        "5\r\nhello world\r\n0\r\n\r\n",
    ] {
        assert_eq!(
            error(&msg(body)),
            FrameError::ChunkDataNotTerminated,
            "{body:?}"
        );
    }
    assert_eq!(
        FrameError::ChunkDataNotTerminated.to_string(),
        "chunk data is not followed by CRLF"
    );
    // Short of it: the rest of the data and the first byte of the line ending.
    let m = msg("5\r\nhel");
    assert_eq!(
        result(&m, 65536, true),
        Ok(Scan::Incomplete { need: Some(3) })
    );
    assert_eq!(
        result(&msg("5\r\nhello\r"), 65536, true),
        Ok(Scan::Incomplete { need: Some(1) })
    );
}

#[test]
fn capacity_edges() {
    let m = msg("5\r\nhello\r\n0\r\n\r\n");
    let cap = m.len();
    assert_eq!(
        result(&m, cap, true),
        Ok(Scan::Complete {
            len: cap,
            body_start: HEAD.len()
        })
    );
    // One byte short: the buffer fills before the final empty line.
    assert_eq!(
        result(&m, cap - 1, true),
        Err(FrameError::MessageTooLarge {
            size: cap as u64,
            capacity: cap - 1
        })
    );
    // Data that would end past the capacity: refused at its size line.
    let big = msg("100\r\n");
    let end = big.len() + 0x100;
    assert_eq!(
        result(&big, end - 1, true),
        Err(FrameError::MessageTooLarge {
            size: end as u64,
            capacity: end - 1
        })
    );
    assert_eq!(
        result(&big, end, true),
        Ok(Scan::Incomplete { need: Some(0x101) })
    );
    // Trailers count too.
    let t = msg("0\r\nX-Trailer: 1\r\n\r\n");
    assert!(matches!(
        result(&t, t.len(), true),
        Ok(Scan::Complete { .. })
    ));
    assert!(result(&t, t.len() - 1, true).is_err());
}

#[test]
fn byte_at_a_time_is_linear() {
    let mut body = String::new();
    for i in 1..300 {
        body.push_str(&format!(
            "{:x};e={i}\r\n{}\r\n",
            i % 40 + 1,
            "d".repeat(i % 40 + 1)
        ));
    }
    body.push_str("0\r\nT: 1\r\n\r\n");
    let m = msg(&body);
    let mut f = SipFramer::default();
    let mut done = None;
    for n in 1..=m.len() {
        if let Scan::Complete { len, .. } = f.scan(&m[..n], 1 << 20, true).unwrap() {
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
fn helpers() {
    let mut c = false;
    assert_eq!(transfer_codings(b" chunked ", &mut c), Ok(()));
    assert!(c);
    assert_eq!(
        transfer_codings(b"chunked", &mut c),
        Err(FrameError::UnsupportedTransferCoding)
    );
    assert_eq!(parse_chunk_size(b"1aF"), Ok(0x1af));
    assert_eq!(parse_chunk_size(b"0"), Ok(0));
    assert_eq!(parse_chunk_size(b"ffffffffffffffff"), Ok(u64::MAX));
    assert_eq!(parse_chunk_size(b"5 ; a=b"), Ok(5));
    assert_eq!(
        parse_chunk_size(b"5 "),
        Ok(5),
        "whitespace before the line end"
    );
}
