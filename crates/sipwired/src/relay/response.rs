//! Responses: the top Via must be ours — our branch marker and MACs that verify (`mac.rs`);
//! it is removed and the response goes back over the request's connection (or SCTP
//! association) while that lives (its `cid` MAC verifies against the peer), else to the next
//! Via's `received` IP and sent-by port (RFC 3261 §18.2.2) over the next Via's transport
//! (`SIP/2.0/SCTP`: SCTP, RFC 4168; otherwise TCP): an address and transport the branch MAC
//! vouches for.

use std::net::SocketAddr;

use sipwire_frame::sip::SipMessage;

use super::hash::is_our_branch;
use super::mac::{parse_branch, parse_cid};
use super::request::via_proto;
use super::scratch::Scratch;
use super::{ip_literal, ActionRef, Conns, Context, Direction, DropReason, Proto, Relay, Resolve};

/// Our top Via, verified: the authenticated fallback address (the next Via's `received` and
/// sent-by port) and the transport to it (the next Via's), the connection its `cid` names if
/// that connection is open and the cid MAC verifies for its peer, and where the Via is in the
/// message.
pub(super) struct OurVia {
    pub fallback: SocketAddr,
    pub proto: Proto,
    pub via_conn: Option<u64>,
    pub removal: std::ops::Range<usize>,
}

/// Verifies that the top Via of `msg` is ours: our branch marker, a branch MAC over our
/// address and the fallback, and a well-formed `cid`; the cid's connection only if its MAC
/// verifies for the peer `conns` reports for it now.
pub(super) fn our_top_via<R: Resolve>(
    relay: &Relay<R>,
    msg: &SipMessage<'_>,
    conns: &dyn Conns,
) -> Result<OurVia, DropReason> {
    let mut vias = msg.vias();
    let top = match vias.next() {
        None => return Err(DropReason::NoVia),
        Some(Err(_)) => return Err(DropReason::BadVia),
        Some(Ok(v)) => v,
    };
    let Some(branch) = top.branch.filter(|b| is_our_branch(b)) else {
        return Err(DropReason::NotOurs);
    };
    // From here on the Via claims to be ours: anything that does not verify is a forgery
    // (or another key's), never routed.
    let Some((tx, branch_mac)) = parse_branch(branch) else {
        return Err(DropReason::BadMac);
    };
    let Some(ours) = top
        .host_ip()
        .map(|ip| SocketAddr::new(ip, top.port.unwrap_or(5060)))
    else {
        return Err(DropReason::BadMac);
    };
    let next = match vias.next() {
        None => return Err(DropReason::NoVia),
        Some(Err(_)) => return Err(DropReason::BadVia),
        Some(Ok(v)) => v,
    };
    // The fallback: `received` (we always write the source IP there unless the sent-by host
    // is that IP) and the sent-by port, not `rport` (the client's ephemeral source port).
    let ip = match next.received.filter(|r| !r.is_empty()) {
        Some(r) => ip_literal(r),
        None => next.host_ip(),
    };
    let Some(ip) = ip else {
        return Err(DropReason::BadMac);
    };
    let fallback = SocketAddr::new(ip, next.port.unwrap_or(5060));
    let proto = via_proto(&next);
    let key = relay.key();
    if key.branch_mac_over(tx, ours, fallback, proto) != branch_mac {
        return Err(DropReason::BadMac);
    }
    let cid = top
        .params()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"cid"))
        .and_then(|(_, v)| v)
        .and_then(parse_cid);
    let Some((conid, cid_mac)) = cid else {
        return Err(DropReason::BadMac);
    };
    // The connection, only if the cid MAC holds for the peer the runtime sees on it now. When
    // it does not (closed; or an id minted by another instance sharing the key, naming an
    // unrelated local connection), only the authenticated fallback address is known.
    let via_conn = conns
        .peer(conid)
        .filter(|peer| key.cid_mac(tx, conid, *peer) == cid_mac)
        .map(|_| conid);
    Ok(OurVia {
        fallback,
        proto,
        via_conn,
        removal: top.removal.clone(),
    })
}

/// The response rules; the forwarded message is built in `scratch`.
pub(super) fn process<'s, R: Resolve>(
    relay: &Relay<R>,
    msg: &SipMessage<'_>,
    ctx: &Context<'_>,
    scratch: &'s mut Scratch,
) -> ActionRef<'s> {
    let drop = |reason| ActionRef::Drop { reason };
    let via = match our_top_via(relay, msg, ctx.conns) {
        Ok(v) => v,
        Err(reason) => return drop(reason),
    };
    if ctx.is_own(via.fallback) {
        return drop(DropReason::Loop);
    }
    scratch.start();
    scratch.edits.remove(via.removal);
    match scratch.edits.apply_into(msg.bytes(), &mut scratch.out) {
        Some(()) => ActionRef::Forward {
            to: via.fallback,
            proto: via.proto,
            bytes: &scratch.out,
            direction: Direction::Response,
            via_conn: via.via_conn,
        },
        None => drop(DropReason::ParseError),
    }
}
