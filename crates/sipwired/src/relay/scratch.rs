//! The per-reader working memory of the relay: the edit list, the outgoing message, the
//! Route values and our rendered Via prefix, reused from message to message so the steady
//! path allocates nothing (issue 16; `benches/tests/relay_alloc.rs` counts it). Also the
//! one pass over the headers that collects what the rules read ([`HeaderIndex`]).

use std::io::Write as _;
use std::net::SocketAddr;
use std::ops::Range;

use sipwire_frame::sip::{split_values, Header, HeaderName, SipMessage};

use super::edit::{Edits, RETAIN_BYTES};
use super::hash::BRANCH_PREFIX;
use super::request::via_transport;
use super::Proto;

/// Route values a reused scratch keeps room for between messages.
const RETAIN_ROUTES: usize = 1024;

/// Reusable buffers for [`super::Relay::process_in`]: one per reader thread (the handler
/// keeps one in a thread-local). Once they have grown to the size of the messages seen, a
/// relayed message allocates nothing. Holds nothing between messages that matters: any
/// `Scratch` gives the same output.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(super) edits: Edits,
    pub(super) out: Vec<u8>,
    pub(super) routes: Vec<RouteValue>,
    pub(super) via: ViaPrefix,
}

impl Scratch {
    /// Empty buffers (they grow with the first messages).
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// Resets the per-message parts, keeping their capacity.
    /// Buffers a hostile message grew past what a reader should hold on to are freed.
    pub(super) fn start(&mut self) {
        self.edits.clear();
        self.out.clear();
        self.routes.clear();
        if self.out.capacity() > RETAIN_BYTES {
            self.out = Vec::new();
        }
        if self.routes.capacity() > RETAIN_ROUTES {
            self.routes = Vec::new();
        }
    }
}

/// One Route value, with the header it sits in.
#[derive(Debug, Clone)]
pub(super) struct RouteValue {
    /// Range of the value in the message.
    pub value: Range<usize>,
    /// Range of its header line(s).
    pub line: Range<usize>,
    /// Position within its header (0 = first).
    pub index: usize,
    /// Number of values in its header.
    pub count: usize,
    /// Start of the next value in the same header, if any.
    pub next_start: Option<usize>,
}

/// The first header of each name the rules read, and every Route value (into
/// `routes`), from one pass over the header block: the rules then never walk the headers
/// again (the top Via aside: `SipMessage::top_via` stops at the first Via header).
#[derive(Debug, Default)]
pub(super) struct HeaderIndex<'a> {
    pub max_forwards: Option<Header<'a>>,
    pub cseq: Option<Header<'a>>,
    pub call_id: Option<Header<'a>>,
    pub from: Option<Header<'a>>,
    pub to: Option<Header<'a>>,
}

impl<'a> HeaderIndex<'a> {
    /// Walks the headers of `msg` once; Route values are appended to `routes`.
    pub fn collect(msg: &SipMessage<'a>, routes: &mut Vec<RouteValue>) -> HeaderIndex<'a> {
        let mut ix = HeaderIndex::default();
        for h in msg.headers() {
            let slot = match h.name.len() {
                // Only the names (and compact forms) of the slots below; others are skipped
                // without comparing.
                1 | 2 | 4 | 5 | 7 | 12 => {
                    if HeaderName::Route.matches(h.name) {
                        push_routes(&h, routes);
                        continue;
                    }
                    [
                        (HeaderName::MaxForwards, &mut ix.max_forwards),
                        (HeaderName::CSeq, &mut ix.cseq),
                        (HeaderName::CallId, &mut ix.call_id),
                        (HeaderName::From, &mut ix.from),
                        (HeaderName::To, &mut ix.to),
                    ]
                    .into_iter()
                    .find(|(name, _)| name.matches(h.name))
                    .map(|(_, slot)| slot)
                }
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_none() {
                    *slot = Some(h);
                }
            }
        }
        ix
    }
}

/// The values of one Route header, in order.
fn push_routes(h: &Header<'_>, routes: &mut Vec<RouteValue>) {
    let count = split_values(h).count();
    let mut values = split_values(h).enumerate().peekable();
    while let Some((index, v)) = values.next() {
        routes.push(RouteValue {
            value: v.range,
            line: h.line.clone(),
            index,
            count,
            next_start: values.peek().map(|(_, n)| n.range.start),
        });
    }
}

/// Our Via line up to the branch's hash, `Via: SIP/2.0/<transport> <addr>;branch=<prefix>`,
/// rendered for the last (transport, address) asked for: a reader sees one or a few, so it
/// is rendered once rather than per message.
#[derive(Debug, Default)]
pub(super) struct ViaPrefix {
    key: Option<(Proto, SocketAddr)>,
    text: Vec<u8>,
    addr: Range<usize>,
}

impl ViaPrefix {
    /// The prefix for `proto` and `addr`, and the range of the address text in it.
    pub fn get(&mut self, proto: Proto, addr: SocketAddr) -> (&[u8], Range<usize>) {
        if self.key != Some((proto, addr)) {
            self.text.clear();
            self.text.extend_from_slice(b"Via: SIP/2.0/");
            self.text.extend_from_slice(via_transport(proto));
            self.text.push(b' ');
            let start = self.text.len();
            // Writing into a Vec cannot fail.
            let _ = write!(self.text, "{addr}");
            self.addr = start..self.text.len();
            self.text.extend_from_slice(b";branch=");
            self.text.extend_from_slice(BRANCH_PREFIX.as_bytes());
            self.key = Some((proto, addr));
        }
        (&self.text, self.addr.clone())
    }
}

/// Appends `ip` as its `Display` writes it; IPv4 without the formatting machinery (the
/// `received` of every request from a client that asks for `rport`).
pub(super) fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, u64::from(o));
            }
        }
        // Writing into a Vec cannot fail; an IP's Display does not allocate.
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `n` in decimal (no formatting machinery, no allocation beyond `out`'s growth).
pub(super) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 70, 65535, 4294967296, u64::MAX] {
            let mut out = b"x".to_vec();
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.0.9",
            "::1",
            "fe80::1:2",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().into_bytes());
        }
    }

    #[test]
    fn the_via_prefix_follows_the_address() {
        let mut v = ViaPrefix::default();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let (t, r) = v.get(Proto::Tcp, a);
        assert_eq!(t, b"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKsWd.");
        assert_eq!(&t[r], b"10.0.0.1:5060");
        let b: SocketAddr = "[::1]:5070".parse().unwrap();
        let (t, r) = v.get(Proto::Sctp, b);
        assert_eq!(t, b"Via: SIP/2.0/SCTP [::1]:5070;branch=z9hG4bKsWd.");
        assert_eq!(&t[r], b"[::1]:5070");
    }
}
