//! SIP text for tests: request/response builders, header readers, and a SIP peer over TCP
//! framed by the real decoder (`sipwire_frame::StreamDecoder`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use sipwire_frame::{DecoderConfig, Fill, FrameKind, ReadBuf, StreamDecoder};

use crate::wait::WAIT;

/// Read buffer of a test peer: room for any message the suites send.
const PEER_BUF: usize = 65536;

/// A decoder with a buffer of its own, accepting what sipwire accepts by default.
fn decoder() -> StreamDecoder {
    StreamDecoder::with_buffer(DecoderConfig::default(), ReadBuf::new(PEER_BUF).unwrap())
}

/// An OPTIONS request numbered `n` (branch, Call-ID, CSeq) with `body` and its
/// Content-Length.
pub fn options(n: usize, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK{n}\r\n\
         Call-ID: c{n}@test\r\nCSeq: {n} OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A UAS's response to `req`: its Vias, From, To (plus a tag), Call-ID, CSeq, then `extra`
/// header lines and `Content-Length: 0`.
pub fn response_to(req: &str, status: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for l in head(req).lines().skip(1) {
        let name = l.split(':').next().unwrap_or("").trim();
        if ["Via", "From", "Call-ID", "CSeq"]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            out += l;
            out += "\r\n";
        } else if name.eq_ignore_ascii_case("To") {
            out += l;
            if !l.contains(";tag=") {
                out += ";tag=uas-1";
            }
            out += "\r\n";
        }
    }
    out += extra;
    out + "Content-Length: 0\r\n\r\n"
}

/// The start line and headers (everything before the empty line).
fn head(msg: &str) -> &str {
    msg.split("\r\n\r\n").next().unwrap_or("")
}

/// The value of the first header `name` (case-insensitive), if any.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    headers(msg, name).into_iter().next()
}

/// Every value of header `name`, in order (lines, not comma-split).
pub fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    head(msg)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// The first line.
pub fn start_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or("")
}

/// A SIP peer over one blocking TCP connection (reads time out after [`WAIT`]).
#[derive(Debug)]
pub struct SipConn {
    /// The connection.
    pub stream: TcpStream,
    dec: StreamDecoder,
}

impl SipConn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> SipConn {
        SipConn::from(TcpStream::connect_timeout(&addr, WAIT).unwrap())
    }

    /// Wraps an accepted or connected stream.
    pub fn from(stream: TcpStream) -> SipConn {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        SipConn {
            stream,
            dec: decoder(),
        }
    }

    /// Our side's address.
    pub fn local(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    /// Sends `msg` as is.
    pub fn send(&mut self, msg: &str) {
        self.stream.write_all(msg.as_bytes()).unwrap();
    }

    /// The next complete SIP message; panics on anything else (keepalives included), on a
    /// framing error, on EOF, or after [`WAIT`] without one.
    pub fn recv(&mut self) -> String {
        loop {
            match self.dec.next_frame() {
                Ok(Some(f)) => match f.kind {
                    FrameKind::Sip { .. } => return String::from_utf8(f.bytes.to_vec()).unwrap(),
                    other => panic!("expected a SIP message, got {other:?}"),
                },
                Ok(None) => {}
                Err(e) => panic!("peer sent what the decoder rejects: {e}"),
            }
            match self.dec.fill_from(&mut self.stream) {
                Ok(Fill::Data(_)) => {}
                Ok(Fill::Eof) => panic!(
                    "connection closed; {} bytes of a message buffered",
                    self.dec.buffered()
                ),
                Ok(Fill::WouldBlock) => panic!("no SIP message within {WAIT:?}"),
                Ok(Fill::Full) => panic!("message larger than {PEER_BUF} bytes"),
                Err(e) => panic!("no SIP message: {e}"),
            }
        }
    }

    /// True if the peer closes the connection within [`WAIT`] (data before it is ignored).
    pub fn closed_by_peer(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Reads SIP messages from `from` and hands each to `each` until EOF or an I/O error.
/// Keepalives are skipped; a framing error panics.
pub fn for_each_frame(mut from: TcpStream, mut each: impl FnMut(&[u8])) {
    let mut dec = decoder();
    loop {
        match dec.fill_from(&mut from) {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::Eof | Fill::WouldBlock | Fill::Full) | Err(_) => return,
        }
        while let Some(f) = dec.next_frame().unwrap() {
            if matches!(f.kind, FrameKind::Sip { .. }) {
                each(f.bytes);
            }
        }
    }
}
