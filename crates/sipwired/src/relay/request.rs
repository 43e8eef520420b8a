//! Requests: Max-Forwards, our Via on top, `received`/`rport` on the previous hop's Via,
//! loose routing, and the next hop with its transport (TCP, or SCTP: RFC 4168).

use std::net::{IpAddr, SocketAddr};

use sipwire_frame::sip::{
    find_param, header_param, parse_sip_uri, split_name_addr, trim_lws, Header, SipMessage,
    StartLine, UriError, Via,
};

use super::edit::Edits;
use super::hash::Fnv1a;
use super::mac::{hex16, MacKey};
use super::reply::stateless_reply;
use super::scratch::{push_ip, push_u64, HeaderIndex, RouteValue, Scratch, ViaPrefix};
use super::{
    eol, ip_literal, ActionRef, Context, Direction, DropReason, Forward, Proto, Relay, Resolve,
};

/// Max-Forwards added to a request that has none (RFC 3261 §16.6 step 3: "SHOULD be 70").
pub const DEFAULT_MAX_FORWARDS: u32 = 70;

/// RFC 3261's magic cookie: a branch starting with it is unique per transaction.
const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// A stateless reply the request gets instead of being forwarded: status and reason.
type Refusal = (u16, &'static str);

/// The reply to a request for a destination `--relay-allow` does not allow.
const FORBIDDEN: Refusal = (403, "Forbidden");

/// The reply to a request whose next hop is a configured name without an address.
const UNRESOLVED: Refusal = (503, "Service Unavailable (cannot resolve next hop)");

/// The request rules; the forwarded message is built in `scratch`.
pub(super) fn process<'s, R: Resolve>(
    relay: &Relay<R>,
    msg: &SipMessage<'_>,
    ctx: &Context<'_>,
    scratch: &'s mut Scratch,
) -> ActionRef<'s> {
    let StartLine::Request { method, uri, .. } = msg.start_line() else {
        return ActionRef::Drop {
            reason: DropReason::ParseError,
        };
    };
    let is_ack = method == b"ACK";
    let reply = |(status, reason): Refusal| {
        if is_ack {
            ActionRef::Drop {
                reason: if status == FORBIDDEN.0 {
                    DropReason::Refused
                } else {
                    DropReason::AckNotForwarded
                },
            }
        } else {
            ActionRef::Reply {
                status,
                bytes: stateless_reply(msg, status, reason),
            }
        }
    };
    let top = match msg.top_via() {
        None => {
            return ActionRef::Drop {
                reason: DropReason::NoVia,
            }
        }
        Some(Err(_)) => {
            return ActionRef::Drop {
                reason: DropReason::BadVia,
            }
        }
        Some(Ok(v)) => v,
    };
    let bytes = msg.bytes();
    let eol = eol(msg);
    scratch.start();
    let Scratch {
        edits,
        out,
        routes,
        via,
    } = scratch;
    let ix = HeaderIndex::collect(msg, routes);

    // Max-Forwards (RFC 3261 §16.3 step 3, §16.6 step 3).
    let new_max_forwards = match &ix.max_forwards {
        Some(h) => match parse_max_forwards(h.value) {
            None => return reply((400, "Bad Request (Max-Forwards)")),
            Some(0) => return reply((483, "Too Many Hops")),
            Some(n) => Some((h.value_range.clone(), n - 1)),
        },
        None => None,
    };

    // Loose routing: our own Route values on top are removed (§16.4), the next one decides.
    let own = routes
        .iter()
        .take_while(|r| route_addr(bytes, r).is_some_and(|a| ctx.is_own(a)))
        .count();
    remove_leading_routes(routes, own, edits);
    let (to, proto, allowed) = match next_hop(relay, bytes, uri, routes.get(own)) {
        Ok(hop) => hop,
        Err(refusal) => return reply(refusal),
    };
    if ctx.is_own(to) {
        return reply((482, "Loop Detected"));
    }
    if !allowed {
        return reply(FORBIDDEN);
    }

    // Our Via on top, then Max-Forwards (rewritten in place, or added after our Via).
    let ours = OurVia {
        ix: &ix,
        top: &top,
        ruri: uri,
        ctx,
        key: relay.key(),
        hop: (proto, to),
    };
    edits.insert_with(msg.headers_start(), |line| {
        ours.write_line(via, line);
        line.extend_from_slice(eol);
    });
    match new_max_forwards {
        Some((range, n)) => edits.replace_with(range, |t| push_u64(t, u64::from(n))),
        None => edits.insert_with(msg.headers_start(), |line| {
            line.extend_from_slice(b"Max-Forwards: ");
            push_u64(line, u64::from(DEFAULT_MAX_FORWARDS));
            line.extend_from_slice(eol);
        }),
    }

    // received / rport on the previous hop's Via (RFC 3261 §18.2.1, RFC 3581 §4).
    mark_previous_hop(bytes, &top, ctx.source, edits);

    match edits.apply_into(bytes, out) {
        Some(()) => ActionRef::Forward {
            to,
            proto,
            bytes: out,
            direction: Direction::Request,
            via_conn: None,
        },
        None => ActionRef::Drop {
            reason: DropReason::ParseError,
        },
    }
}

/// Where the request goes, over which transport, and whether it may: `--forward` if set
/// (always allowed; its transport is `--forward`'s); else the first Route value left when it
/// is a loose router (`lr`; a strict router is not supported, the Request-URI routes then);
/// else the Request-URI `ruri`. The transport of a routing URI is its `transport` parameter:
/// `sctp` (any case) is SCTP, anything else or none is TCP. An IP literal is allowed when
/// `--relay-allow` names its network; a host name only when it names the domain, and a name
/// not allowed is refused before it is looked up. Names are looked up in the resolver's
/// table (`names.rs`), never in DNS.
fn next_hop<R: Resolve>(
    relay: &Relay<R>,
    bytes: &[u8],
    ruri: &[u8],
    next_route: Option<&RouteValue>,
) -> Result<(SocketAddr, Proto, bool), Refusal> {
    match relay.forward() {
        Some(Forward::Addr(a)) => return Ok((*a, relay.forward_proto(), true)),
        Some(Forward::Name(host, port)) => {
            return relay
                .resolve(host.as_bytes(), *port)
                .map(|to| (to, relay.forward_proto(), true))
                .ok_or(UNRESOLVED)
        }
        None => {}
    }
    let route = match next_route {
        Some(r) => {
            let u = split_name_addr(bytes.get(r.value.clone()).unwrap_or(&[])).0;
            Some(parse_sip_uri(u).map_err(uri_refusal)?).filter(|p| p.has_param(b"lr"))
        }
        None => None,
    };
    let target = match route {
        Some(t) => t,
        None => parse_sip_uri(ruri).map_err(uri_refusal)?,
    };
    let proto = uri_transport(target.params);
    let port = target.port.unwrap_or(5060);
    if let Some(ip) = ip_literal(target.host) {
        let to = SocketAddr::new(ip, port);
        return Ok((to, proto, relay.allow().allows_addr(to)));
    }
    if !relay.allow().allows_name(target.host, port) {
        return Err(FORBIDDEN);
    }
    relay
        .resolve(target.host, port)
        .map(|to| (to, proto, true))
        .ok_or(UNRESOLVED)
}

/// The transport a URI's parameter section asks for: SCTP for `transport=sctp` (RFC 4168
/// §5; name and value in any case), TCP for any other value or none (sipwired speaks no
/// other transport).
pub(super) fn uri_transport(params: &[u8]) -> Proto {
    let sctp = find_param(params, b"transport")
        .and_then(|p| p.value_in(params))
        .is_some_and(|v| v.eq_ignore_ascii_case(b"sctp"));
    if sctp {
        Proto::Sctp
    } else {
        Proto::Tcp
    }
}

/// The Via transport token of a message sent over `proto` (RFC 4168 §5: `SCTP`).
pub(super) fn via_transport(proto: Proto) -> &'static [u8] {
    match proto {
        Proto::Tcp => b"TCP",
        Proto::Sctp => b"SCTP",
    }
}

/// The transport a Via's sent-protocol names: SCTP for `SCTP` (any case), TCP otherwise
/// (what a response falls back to: `response.rs`; what the branch MAC binds: `mac.rs`).
pub(super) fn via_proto(via: &Via<'_>) -> Proto {
    if via.transport.eq_ignore_ascii_case(b"SCTP") {
        Proto::Sctp
    } else {
        Proto::Tcp
    }
}

/// What our Via line is made of: the request's headers, its top Via and Request-URI,
/// where it came from, the MAC key, and the transport and address it leaves for.
struct OurVia<'m, 'a> {
    ix: &'m HeaderIndex<'a>,
    top: &'m Via<'a>,
    ruri: &'a [u8],
    ctx: &'m Context<'m>,
    key: &'m MacKey,
    hop: (Proto, SocketAddr),
}

impl OurVia<'_, '_> {
    /// Our Via header line (without its terminator) appended to `line`: the transport the
    /// request leaves on and our address for it (the prefix rendered once per address in
    /// `prefix`), a branch of the transaction hash and its MAC, and `cid` (the connection or
    /// association the request came in on, for the responses) with its MAC (`mac.rs`).
    fn write_line(&self, prefix: &mut ViaPrefix, line: &mut Vec<u8>) {
        let (proto, to) = self.hop;
        let ctx = self.ctx;
        let ours = ctx.via_addr_for(proto, to);
        let (text, addr) = prefix.get(proto, ours);
        let tx = branch_hash(self.ix, self.top, self.ruri, text.get(addr).unwrap_or(&[]));
        line.extend_from_slice(text);
        // Where a response goes when the connection is gone: what the previous hop's Via
        // will say after `mark_previous_hop` (received = source IP, sent-by port), over the
        // transport that Via names.
        let fallback = SocketAddr::new(
            ctx.source.ip().to_canonical(),
            self.top.port.unwrap_or(5060),
        );
        let key = self.key;
        line.extend_from_slice(&hex16(tx));
        line.extend_from_slice(&hex16(key.branch_mac_over(
            tx,
            ours,
            fallback,
            via_proto(self.top),
        )));
        line.extend_from_slice(b";cid=");
        push_u64(line, ctx.conid);
        line.push(b'.');
        line.extend_from_slice(&hex16(key.cid_mac(tx, ctx.conid, ctx.peer)));
    }
}

fn uri_refusal(e: UriError) -> Refusal {
    match e {
        UriError::Scheme => (416, "Unsupported URI Scheme"),
        UriError::Malformed => (400, "Bad Request (URI)"),
    }
}

/// `Max-Forwards` value: 1*DIGIT. More than 9 digits is refused rather than wrapped.
fn parse_max_forwards(value: &[u8]) -> Option<u32> {
    let v = trim_lws(value);
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0')))
}

/// The address of a Route value whose URI host is an IP literal (a name is never "ours").
fn route_addr(bytes: &[u8], r: &RouteValue) -> Option<SocketAddr> {
    let u = parse_sip_uri(split_name_addr(bytes.get(r.value.clone())?).0).ok()?;
    Some(SocketAddr::new(u.host_ip()?, u.port.unwrap_or(5060)))
}

/// Removes the first `n` Route values: whole header lines when all their values go, else
/// the leading values of the header up to the first one that stays.
fn remove_leading_routes(routes: &[RouteValue], n: usize, edits: &mut Edits) {
    let mut i = 0;
    while i < n {
        let Some(first) = routes.get(i) else { return };
        let in_header = first.count - first.index;
        let removed_here = in_header.min(n - i);
        if first.index == 0 && removed_here == first.count {
            edits.remove(first.line.clone());
        } else if let Some(last) = routes.get(i + removed_here - 1) {
            match last.next_start {
                Some(next) => edits.remove(first.value.start..next),
                // Cannot happen (a header that keeps values has a next one); be safe.
                None => edits.remove(first.value.clone()),
            }
        }
        i += removed_here;
    }
}

/// The branch hash: from the incoming top Via's branch when it carries the magic cookie
/// (so retransmissions and the CANCEL of an INVITE hash alike), else from the fields that
/// identify an RFC 2543 transaction. Our address is mixed in either way.
fn branch_hash(ix: &HeaderIndex<'_>, top: &Via<'_>, ruri: &[u8], ours: &[u8]) -> u64 {
    let mut h = Fnv1a::default();
    match top.branch {
        Some(b) if b.starts_with(MAGIC_COOKIE) => {
            h.field(b"3261").field(b);
        }
        _ => {
            let cseq = ix.cseq.as_ref().map(|c| c.value).unwrap_or(&[]);
            let cseq_num = trim_lws(cseq)
                .split(|&b| b == b' ' || b == b'\t')
                .next()
                .unwrap_or(&[]);
            fn tag<'a>(h: &Option<Header<'a>>) -> &'a [u8] {
                h.as_ref()
                    .and_then(|f| header_param(f.value, b"tag"))
                    .unwrap_or(&[])
            }
            h.field(b"2543")
                .field(ix.call_id.as_ref().map(|c| c.value).unwrap_or(&[]))
                .field(cseq_num)
                .field(tag(&ix.from))
                .field(tag(&ix.to))
                .field(ruri)
                .field(top.value);
        }
    }
    h.field(ours);
    h.finish()
}

/// Adds `received` (and fills a bare `rport`) on the previous hop's Via.
fn mark_previous_hop(bytes: &[u8], top: &Via<'_>, source: SocketAddr, edits: &mut Edits) {
    let src_ip = source.ip().to_canonical();
    let base = top.params_range.start;
    let section = bytes.get(top.params_range.clone()).unwrap_or(&[]);
    let received = find_param(section, b"received");
    let bare_rport = find_param(section, b"rport").filter(|p| p.value.is_none());
    let received_ip = received
        .as_ref()
        .and_then(|p| p.value_in(section))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<IpAddr>().ok());
    // A `received` that is not an IP (or has no value) is replaced: the response's fallback
    // address is read back from it (`response.rs`).
    let received_ok = match received_ip {
        Some(ip) => ip.to_canonical() == src_ip,
        None => received.is_none(),
    };
    let sent_by_is_src = top.host_ip().map(|ip| ip.to_canonical()) == Some(src_ip);
    let need_received = !sent_by_is_src || bare_rport.is_some() || !received_ok;
    if let Some(p) = bare_rport {
        edits.replace_with(base + p.whole.start..base + p.whole.end, |t| {
            t.extend_from_slice(b"rport=");
            push_u64(t, u64::from(source.port()));
        });
    }
    if need_received {
        let text = |t: &mut Vec<u8>| {
            t.extend_from_slice(b"received=");
            push_ip(t, src_ip);
        };
        match received {
            Some(p) => edits.replace_with(base + p.whole.start..base + p.whole.end, text),
            None => edits.insert_with(top.range.end, |t| {
                t.push(b';');
                text(t);
            }),
        }
    }
}
