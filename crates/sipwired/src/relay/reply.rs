//! Stateless replies (`483 Too Many Hops`, `503 Service Unavailable`, ...) built from a
//! request as RFC 3261 §8.2.6 asks: the Via headers, From, To (with a To tag added when the
//! request had none), Call-ID and CSeq are copied, and there is no body.

use sipwire_frame::sip::{header_param, HeaderName, SipMessage};

use super::hash::Fnv1a;

/// Builds the reply `status reason` to `req`. Header lines are copied as they were written
/// (compact names and folds included); the To tag is a hash of the request's Call-ID, From
/// tag, CSeq and top Via, so a retransmitted request gets the same reply.
pub fn stateless_reply(req: &SipMessage<'_>, status: u16, reason: &str) -> Vec<u8> {
    let bytes = req.bytes();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} {reason}\r\n").as_bytes());
    let (mut from, mut to, mut call_id, mut cseq) = (false, false, false, false);
    for h in req.headers() {
        let line = bytes.get(h.line.clone()).unwrap_or(&[]);
        let copy = if HeaderName::Via.matches(h.name) {
            true
        } else if HeaderName::From.matches(h.name) {
            !std::mem::replace(&mut from, true)
        } else if HeaderName::CallId.matches(h.name) {
            !std::mem::replace(&mut call_id, true)
        } else if HeaderName::CSeq.matches(h.name) {
            !std::mem::replace(&mut cseq, true)
        } else if HeaderName::To.matches(h.name) && !std::mem::replace(&mut to, true) {
            if header_param(h.value, b"tag").is_some() {
                true
            } else {
                let cut = h
                    .value_range
                    .end
                    .saturating_sub(h.line.start)
                    .min(line.len());
                out.extend_from_slice(line.get(..cut).unwrap_or(&[]));
                out.extend_from_slice(format!(";tag={}", to_tag(req)).as_bytes());
                out.extend_from_slice(line.get(cut..).unwrap_or(&[]));
                ensure_eol(&mut out);
                false
            }
        } else {
            false
        };
        if copy {
            out.extend_from_slice(line);
            ensure_eol(&mut out);
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

fn ensure_eol(out: &mut Vec<u8>) {
    if out.last() != Some(&b'\n') {
        out.extend_from_slice(b"\r\n");
    }
}

/// A deterministic To tag for a stateless reply.
fn to_tag(req: &SipMessage<'_>) -> String {
    let mut h = Fnv1a::default();
    h.field(req.call_id().unwrap_or(&[]));
    let from = req.header(HeaderName::From).map(|f| f.value).unwrap_or(&[]);
    h.field(header_param(from, b"tag").unwrap_or(&[]));
    h.field(req.header(HeaderName::CSeq).map(|c| c.value).unwrap_or(&[]));
    if let Some(Ok(v)) = req.top_via() {
        h.field(v.value);
    }
    format!("sWd{:016x}", h.finish())
}
