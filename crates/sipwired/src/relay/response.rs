//! Responses: the top Via must be ours; it is removed and the response goes to the next Via
//! (its `received` or host, its `rport` value or port, RFC 3261 §18.2.2 and RFC 3581 §4).

use std::net::SocketAddr;

use sipwire_frame::sip::SipMessage;

use super::edit::Edits;
use super::hash::is_our_branch;
use super::{Action, Context, Direction, DropReason, Relay, Resolve};

pub(super) fn process<R: Resolve>(
    relay: &Relay<R>,
    msg: &SipMessage<'_>,
    ctx: &Context<'_>,
) -> Action {
    let drop = |reason| Action::Drop { reason };
    let mut vias = msg.vias();
    let top = match vias.next() {
        None => return drop(DropReason::NoVia),
        Some(Err(_)) => return drop(DropReason::BadVia),
        Some(Ok(v)) => v,
    };
    let sent_by_ours = top
        .host_ip()
        .is_some_and(|ip| ctx.is_own_via(SocketAddr::new(ip, top.port.unwrap_or(5060))));
    if !sent_by_ours || !top.branch.is_some_and(is_our_branch) {
        return drop(DropReason::NotOurs);
    }
    let next = match vias.next() {
        None => return drop(DropReason::NoVia),
        Some(Err(_)) => return drop(DropReason::BadVia),
        Some(Ok(v)) => v,
    };
    let host = next.received.filter(|r| !r.is_empty()).unwrap_or(next.host);
    let port = match next.rport {
        Some(Some(p)) => p,
        _ => next.port.unwrap_or(5060),
    };
    let Some(to) = relay.resolve(host, port) else {
        return drop(DropReason::Unroutable);
    };
    // The connection the request came in on, as our Via recorded it.
    let via_conn = top
        .params()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"cid"))
        .and_then(|(_, v)| v)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut edits = Edits::default();
    edits.remove(top.removal.clone());
    match edits.apply(msg.bytes()) {
        Some(bytes) => Action::Forward {
            to,
            bytes,
            direction: Direction::Response,
            via_conn,
        },
        None => drop(DropReason::ParseError),
    }
}
