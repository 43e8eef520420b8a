//! The SIP messages of the tool: the requests the client sends
//! ([`RequestBuilder::write`]), the check that an answer belongs to one of
//! them ([`RequestBuilder::check`]), and the 200 OK the UAS builds
//! ([`write_response`]).
//!
//! Requests are appended straight into a connection's output buffer from
//! pre-rendered pieces and decimal numbers, with no formatting machinery
//! and no allocation per message, so the generator stays cheap.
//!
//! Identity of a transaction: a per-thread sequence number `seq`, written
//! into the top Via branch (`z9hG4bK-<run>-<thread>-<seq>`), the Call-ID
//! (`<run>-<thread>-<seq>@sipwire-load`) and the CSeq number (`seq + 1`).
//! An answer matches when all three agree and the CSeq method is the one sent.

use std::net::SocketAddr;

use sipwire_frame::{HeaderName, SipMessage};

use crate::args::Mix;

/// Suffix of every Call-ID the tool generates.
pub const CALL_ID_SUFFIX: &[u8] = b"@sipwire-load";

/// A request method the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// OPTIONS, no body (the "small" message).
    Options,
    /// INVITE with an SDP body.
    Invite,
}

impl Method {
    /// The method token.
    pub fn name(self) -> &'static [u8] {
        match self {
            Self::Options => b"OPTIONS",
            Self::Invite => b"INVITE",
        }
    }

    fn from_name(s: &[u8]) -> Option<Self> {
        match s {
            b"OPTIONS" => Some(Self::Options),
            b"INVITE" => Some(Self::Invite),
            _ => None,
        }
    }

    /// The method of transaction `seq` under `mix`.
    pub fn for_seq(mix: Mix, seq: u64) -> Self {
        match mix {
            Mix::Small => Self::Options,
            Mix::Invite => Self::Invite,
            Mix::Both if seq % 2 == 0 => Self::Options,
            Mix::Both => Self::Invite,
        }
    }
}

/// SDP offer carried by every INVITE (brings the INVITE to about 1 KB).
const SDP: &[u8] = b"v=0\r\n\
o=sipwire-load 2890844526 2890844526 IN IP4 127.0.0.1\r\n\
s=sipwire-load call\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 9 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=rtcp:49171\r\n\
a=ssrc:2890844526 cname:sipwire-load@127.0.0.1\r\n\
a=sendrecv\r\n\
m=video 49172 RTP/AVP 96\r\n\
b=AS:2048\r\n\
a=rtpmap:96 H264/90000\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n\
a=sendrecv\r\n";

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Parses a non-empty run of ASCII digits (no sign, no blanks) without overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// `ip:port` as a Via sent-by (IPv6 in brackets).
pub fn sent_by(addr: SocketAddr) -> Vec<u8> {
    addr.to_string().into_bytes()
}

/// A response that matched one of this builder's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Transaction sequence number.
    pub seq: u64,
    /// Status code.
    pub status: u16,
    /// Method in the CSeq.
    pub method: Method,
}

/// Builds one client thread's requests and recognises their answers.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    ruri: Vec<u8>,
    branch_prefix: Vec<u8>,
    call_id_prefix: Vec<u8>,
    from_tag: Vec<u8>,
}

impl RequestBuilder {
    /// `run_tag` makes ids unique across runs, `thread` across threads;
    /// `ruri_host` (`host[:port]`) goes into `sip:uas@<ruri_host>`.
    pub fn new(run_tag: &str, thread: usize, ruri_host: &str) -> Self {
        let id = format!("{run_tag}-{thread}-");
        Self {
            ruri: format!("sip:uas@{ruri_host}").into_bytes(),
            branch_prefix: format!("z9hG4bK-{id}").into_bytes(),
            call_id_prefix: id.clone().into_bytes(),
            from_tag: format!("{id}ft").into_bytes(),
        }
    }

    /// Appends request `seq` to `out`; `sent_by` is the connection's local
    /// `ip:port` (see [`sent_by`]).
    pub fn write(&self, out: &mut Vec<u8>, sent_by: &[u8], seq: u64, method: Method) {
        let m = method.name();
        out.extend_from_slice(m);
        out.push(b' ');
        out.extend_from_slice(&self.ruri);
        out.extend_from_slice(b" SIP/2.0\r\nVia: SIP/2.0/TCP ");
        out.extend_from_slice(sent_by);
        out.extend_from_slice(b";branch=");
        out.extend_from_slice(&self.branch_prefix);
        push_u64(out, seq);
        out.extend_from_slice(b";rport\r\nMax-Forwards: 70\r\nFrom: \"sipwire load\" <sip:load@");
        out.extend_from_slice(sent_by);
        out.extend_from_slice(b">;tag=");
        out.extend_from_slice(&self.from_tag);
        out.extend_from_slice(b"\r\nTo: <");
        out.extend_from_slice(&self.ruri);
        out.extend_from_slice(b">\r\nCall-ID: ");
        out.extend_from_slice(&self.call_id_prefix);
        push_u64(out, seq);
        out.extend_from_slice(CALL_ID_SUFFIX);
        out.extend_from_slice(b"\r\nCSeq: ");
        push_u64(out, seq.saturating_add(1));
        out.push(b' ');
        out.extend_from_slice(m);
        out.extend_from_slice(b"\r\nContact: <sip:load@");
        out.extend_from_slice(sent_by);
        out.extend_from_slice(b";transport=tcp>\r\nUser-Agent: sipwire-load\r\n");
        match method {
            Method::Options => {
                out.extend_from_slice(
                    b"Accept: application/sdp\r\nSupported: replaces\r\nContent-Length: 0\r\n\r\n",
                );
            }
            Method::Invite => {
                out.extend_from_slice(
                    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
                      Supported: timer, 100rel\r\nContent-Type: application/sdp\r\n\
                      Content-Length: ",
                );
                push_u64(out, SDP.len() as u64);
                out.extend_from_slice(b"\r\n\r\n");
                out.extend_from_slice(SDP);
            }
        }
    }

    /// Checks that `msg` answers one of this builder's requests: a response
    /// whose top Via branch, Call-ID and CSeq all name the same `seq`.
    /// The error says why not (for debug logs).
    pub fn check(&self, msg: &SipMessage<'_>) -> Result<Answer, &'static str> {
        let status = msg.status().ok_or("a request, not a response")?;
        let via = msg
            .top_via()
            .ok_or("no Via")?
            .map_err(|_| "unparsable top Via")?;
        let seq = via
            .branch
            .and_then(|b| b.strip_prefix(self.branch_prefix.as_slice()))
            .and_then(parse_u64)
            .ok_or("top Via branch is not one of ours")?;
        let (mut call_id, mut cseq) = (None, None);
        for h in msg.headers() {
            if HeaderName::CallId.matches(h.name) {
                call_id = Some(h.value);
            } else if HeaderName::CSeq.matches(h.name) {
                cseq = Some(h.value);
            }
            if call_id.is_some() && cseq.is_some() {
                break;
            }
        }
        let cid_seq = call_id
            .and_then(|c| c.strip_prefix(self.call_id_prefix.as_slice()))
            .and_then(|c| c.strip_suffix(CALL_ID_SUFFIX))
            .and_then(parse_u64);
        if cid_seq != Some(seq) {
            return Err("Call-ID does not match the branch");
        }
        let cseq = cseq.ok_or("no CSeq")?;
        let mut parts = cseq
            .split(|b| b.is_ascii_whitespace())
            .filter(|p| !p.is_empty());
        let num = parts.next().and_then(parse_u64);
        if num != Some(seq.saturating_add(1)) {
            return Err("CSeq number does not match the branch");
        }
        let method = parts
            .next()
            .and_then(Method::from_name)
            .ok_or("CSeq method is not one we send")?;
        Ok(Answer {
            seq,
            status,
            method,
        })
    }
}

/// True if a To/From value carries a `tag` parameter (after the `<URI>` if any).
fn has_tag(value: &[u8]) -> bool {
    let params = match memchr::memrchr(b'>', value) {
        Some(gt) => value.get(gt + 1..).unwrap_or(&[]),
        None => value,
    };
    params.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag="))
}

fn push_hex(out: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in (0..16).rev() {
        let d = ((v >> (shift * 4)) & 0xf) as usize;
        if d != 0 || started || shift == 0 {
            started = true;
            out.push(HEX[d]);
        }
    }
}

/// Appends the UAS's `200 OK` to `req`: every Via line copied verbatim and
/// in order, From, To (with a `tag` added if it has none: `to_tag` in hex),
/// Call-ID, CSeq, `Content-Length: 0`. Returns false, writing nothing, for
/// ACK (never answered) and for responses.
pub fn write_response(req: &SipMessage<'_>, out: &mut Vec<u8>, to_tag: u64) -> bool {
    match req.method() {
        None | Some(b"ACK") => return false,
        Some(_) => {}
    }
    let bytes = req.bytes();
    out.extend_from_slice(b"SIP/2.0 200 OK\r\n");
    for h in req.headers() {
        let copy = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .iter()
        .any(|n| n.matches(h.name));
        if copy {
            let line = bytes.get(h.line.clone()).unwrap_or(&[]);
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        } else if HeaderName::To.matches(h.name) {
            out.extend_from_slice(b"To: ");
            out.extend_from_slice(h.value);
            if !has_tag(h.value) {
                out.extend_from_slice(b";tag=sl");
                push_hex(out, to_tag);
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Server: sipwire-load\r\nContent-Length: 0\r\n\r\n");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> RequestBuilder {
        RequestBuilder::new("r1", 3, "127.0.0.1:5070")
    }

    fn request(method: Method, seq: u64) -> Vec<u8> {
        let mut out = Vec::new();
        builder().write(&mut out, b"127.0.0.1:40000", seq, method);
        out
    }

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            v.clear();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            assert_eq!(parse_u64(&v), Some(n));
        }
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        v.clear();
        push_hex(&mut v, 0x1a0);
        assert_eq!(v, b"1a0");
    }

    #[test]
    fn requests_parse_and_have_the_right_size() {
        for (m, lo, hi) in [(Method::Options, 360, 440), (Method::Invite, 950, 1100)] {
            let r = request(m, 41);
            assert!((lo..=hi).contains(&r.len()), "{m:?} is {} bytes", r.len());
            eprintln!("{m:?}: {} bytes", r.len());
            let msg = SipMessage::parse(&r).unwrap();
            assert_eq!(msg.method(), Some(m.name()));
            let via = msg.top_via().unwrap().unwrap();
            assert_eq!(via.branch, Some(&b"z9hG4bK-r1-3-41"[..]));
            assert_eq!(via.rport, Some(None));
            assert_eq!(via.port, Some(40000));
            assert_eq!(msg.call_id(), Some(&b"r1-3-41@sipwire-load"[..]));
            let cl = msg.header(HeaderName::ContentLength).unwrap();
            assert_eq!(parse_u64(cl.value), Some(msg.body().len() as u64));
            let mf = msg.header(HeaderName::MaxForwards).unwrap();
            assert_eq!(mf.value, b"70");
        }
    }

    #[test]
    fn uas_answer_matches_the_request() {
        let req = request(Method::Invite, 9);
        let msg = SipMessage::parse(&req).unwrap();
        let mut out = Vec::new();
        assert!(write_response(&msg, &mut out, 0xbeef));
        let resp = SipMessage::parse(&out).unwrap();
        assert_eq!(resp.status(), Some(200));
        let to = resp.header(HeaderName::To).unwrap();
        assert_eq!(to.value, b"<sip:uas@127.0.0.1:5070>;tag=slbeef");
        assert_eq!(
            resp.header(HeaderName::From).unwrap().value,
            msg.header(HeaderName::From).unwrap().value
        );
        assert_eq!(resp.header(HeaderName::ContentLength).unwrap().value, b"0");
        let ans = builder().check(&resp).unwrap();
        assert_eq!(
            ans,
            Answer {
                seq: 9,
                status: 200,
                method: Method::Invite
            }
        );
    }

    #[test]
    fn uas_keeps_all_vias_and_an_existing_tag_and_ignores_ack() {
        let req = b"MESSAGE sip:x@y SIP/2.0\r\nv: SIP/2.0/TCP relay:5060;branch=z9hG4bKr\r\n\
            Via: SIP/2.0/TCP a:1;branch=z9hG4bKa, SIP/2.0/TCP b:2;branch=z9hG4bKb\r\n\
            t: <sip:x@y>;Tag=abc\r\ni: c1\r\nCSeq: 5 MESSAGE\r\nl: 0\r\n\r\n";
        let msg = SipMessage::parse(req).unwrap();
        let mut out = Vec::new();
        assert!(write_response(&msg, &mut out, 1));
        let resp = SipMessage::parse(&out).unwrap();
        let branches: Vec<_> = resp.vias().map(|v| v.unwrap().branch.unwrap()).collect();
        assert_eq!(branches, [&b"z9hG4bKr"[..], b"z9hG4bKa", b"z9hG4bKb"]);
        assert_eq!(
            resp.header(HeaderName::To).unwrap().value,
            b"<sip:x@y>;Tag=abc"
        );
        assert_eq!(resp.call_id(), Some(&b"c1"[..]));
        let ack = b"ACK sip:x@y SIP/2.0\r\nl: 0\r\n\r\n";
        out.clear();
        assert!(!write_response(
            &SipMessage::parse(ack).unwrap(),
            &mut out,
            1
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn foreign_or_inconsistent_answers_are_rejected() {
        let b = builder();
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h:1;branch=z9hG4bK-r1-3-7\r\n\
                  Call-ID: r1-3-7@sipwire-load\r\nCSeq: 8 OPTIONS\r\nl: 0\r\n\r\n";
        let parse_check = |s: &str| b.check(&SipMessage::parse(s.as_bytes()).unwrap());
        assert_eq!(parse_check(ok).map(|a| a.seq), Ok(7));
        for bad in [
            ok.replace("-r1-3-7\r", "-r1-4-7\r"),
            ok.replace("r1-3-7@", "r1-3-8@"),
            ok.replace("CSeq: 8", "CSeq: 7"),
            ok.replace("8 OPTIONS", "8 BYE"),
            ok.replace("SIP/2.0 200 OK", "OPTIONS sip:a SIP/2.0"),
            ok.replace("branch=z9hG4bK-r1-3-7", "x=1"),
        ] {
            assert!(parse_check(&bad).is_err(), "{bad}");
        }
    }
}
