//! SCTP (RFC 4168): the next hop's transport (`--forward sctp:`, `transport=sctp` on the
//! routing URI), our Via (`SIP/2.0/SCTP` and an SCTP endpoint address of ours), requests that
//! came in over SCTP, responses whose next Via says SCTP, and loops through our SCTP
//! addresses. Pure relay: no sockets.

use super::*;

/// Our TCP listener ([`OURS`]) and our SCTP endpoints: one IPv4 on another port, one IPv6.
const SCTP_V4: &str = "192.0.2.1:5070";
const SCTP_V6: &str = "[2001:db8::1]:5070";

/// An SCTP association id as the runtime makes them (top bit, endpoint 0, assoc 3).
const ASSOC: u64 = (1 << 63) | 3;

/// The UAC's address (its association's peer, or its TCP connection's).
const UAC: &str = "203.0.113.5:5070";
/// Where responses come from.
const UAS: &str = "198.51.100.20:5080";

/// Where a message came from: over TCP (on [`OURS`], conid 7) or over SCTP (on
/// [`SCTP_V4`], association [`ASSOC`]).
#[derive(Clone, Copy)]
enum From {
    Tcp,
    Sctp,
}

/// Runs `msg` through `r` as received from `source` over `from`, with our TCP listener, our
/// two SCTP endpoints (or `sctp` instead) and the open connections `conns`.
fn go(
    r: &Relay<FakeResolver>,
    msg: &str,
    source: &str,
    from: From,
    sctp: &[SocketAddr],
    conns: &dyn Conns,
) -> Action {
    let listen = [sa(OURS)];
    let (local, conid) = match from {
        From::Tcp => (sa(OURS), 7),
        From::Sctp => (sa(SCTP_V4), ASSOC),
    };
    let ctx = Context {
        source: sa(source),
        local,
        listen: &listen,
        sctp_listen: sctp,
        conid,
        peer: sa(source),
        conns,
    };
    r.process(msg.as_bytes(), &ctx)
}

/// Our SCTP endpoints in most tests.
fn endpoints() -> [SocketAddr; 2] {
    [sa(SCTP_V4), sa(SCTP_V6)]
}

/// [`go`] with our two SCTP endpoints and no open connections.
fn run_in(r: &Relay<FakeResolver>, msg: &str, from: From) -> Action {
    go(r, msg, UAC, from, &endpoints(), &NoConns)
}

fn proto(a: &Action) -> Proto {
    match a {
        Action::Forward { proto, .. } => *proto,
        other => panic!("expected Forward, got {other:?}"),
    }
}

fn via_conn(a: &Action) -> Option<u64> {
    match a {
        Action::Forward { via_conn, .. } => *via_conn,
        other => panic!("expected Forward, got {other:?}"),
    }
}

/// [`INVITE`] with its Request-URI replaced.
fn invite_to(ruri: &str) -> String {
    INVITE.replacen("sip:bob@198.51.100.20:5080;transport=tcp", ruri, 1)
}

/// [`INVITE`] as an SCTP UAC sends it (its Via says SCTP).
fn sctp_invite(ruri: &str) -> String {
    invite_to(ruri).replacen(
        "Via: SIP/2.0/TCP 203.0.113.5",
        "Via: SIP/2.0/SCTP 203.0.113.5",
        1,
    )
}

/// Our Via (the first header line) of a forwarded request.
fn our_via(out: &str) -> &str {
    header_lines(out)[0]
}

/// A UAS's 200 to `request`: its Vias (and the dialog headers) copied.
fn answer(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for l in header_lines(request) {
        let name = l.split(':').next().unwrap();
        if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
            out += l;
            out += "\r\n";
        } else if name == "To" {
            out += l;
            out += ";tag=uas\r\n";
        }
    }
    out + "Content-Length: 0\r\n\r\n"
}

#[test]
fn transport_sctp_in_the_request_uri_forwards_over_sctp() {
    let r = relay(None);
    let a = run_in(
        &r,
        &invite_to("sip:bob@198.51.100.20:5080;transport=sctp"),
        From::Tcp,
    );
    assert_eq!(proto(&a), Proto::Sctp);
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("198.51.100.20:5080"));
    // Our SCTP endpoint's address (IPv4, like the destination), not the TCP listener.
    assert!(
        our_via(&out).starts_with(&format!("Via: SIP/2.0/SCTP {SCTP_V4};branch=z9hG4bKsWd.")),
        "{out}"
    );
    // The cid is the TCP connection the request came in on; the rest is as for TCP.
    assert!(our_via(&out).contains(";cid=7."), "{out}");
    assert_eq!(
        header_lines(&out)[1..3],
        [
            "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1",
            "Max-Forwards: 69"
        ]
    );
    // An IPv6 destination: the IPv6 endpoint.
    let a = run_in(
        &r,
        &invite_to("sip:bob@[2001:db8::20]:5080;transport=sctp"),
        From::Tcp,
    );
    assert_eq!(proto(&a), Proto::Sctp);
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("[2001:db8::20]:5080"));
    assert!(
        our_via(&out).starts_with(&format!("Via: SIP/2.0/SCTP {SCTP_V6};")),
        "{out}"
    );
    // `transport=tcp`, no transport, or one sipwired does not speak: TCP, as before.
    for ruri in [
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@198.51.100.20:5080",
        "sip:bob@198.51.100.20:5080;transport=udp",
        "sip:bob@198.51.100.20:5080;transport=tls",
    ] {
        let a = run_in(&r, &invite_to(ruri), From::Tcp);
        assert_eq!(proto(&a), Proto::Tcp, "{ruri}");
        let out = forwarded(&a).1;
        assert!(
            our_via(&out).starts_with(&format!("Via: SIP/2.0/TCP {OURS};")),
            "{out}"
        );
    }
}

#[test]
fn transport_is_case_insensitive_and_matched_whole() {
    let r = relay(None);
    for ruri in [
        "sip:bob@198.51.100.20:5080;TRANSPORT=SCTP",
        "sip:bob@198.51.100.20:5080;Transport=Sctp",
        "sip:bob@198.51.100.20:5080;lr;transport=sctp;user=phone",
    ] {
        let a = run_in(&r, &invite_to(ruri), From::Tcp);
        assert_eq!(proto(&a), Proto::Sctp, "{ruri}");
        assert!(our_via(&forwarded(&a).1).starts_with("Via: SIP/2.0/SCTP "));
    }
    for ruri in [
        "sip:bob@198.51.100.20:5080;transport=sctpx",
        "sip:bob@198.51.100.20:5080;transport=xsctp",
        "sip:bob@198.51.100.20:5080;transport",
        "sip:bob@198.51.100.20:5080;transports=sctp",
        // A header of the URI, not a parameter.
        "sip:bob@198.51.100.20:5080?transport=sctp",
        // The user part is not the URI's parameters.
        "sip:bob;transport=sctp@198.51.100.20:5080",
    ] {
        let a = run_in(&r, &invite_to(ruri), From::Tcp);
        assert_eq!(proto(&a), Proto::Tcp, "{ruri}");
        assert!(our_via(&forwarded(&a).1).starts_with("Via: SIP/2.0/TCP "));
    }
}

#[test]
fn the_route_that_routes_decides_the_transport() {
    let r = relay(None);
    // A loose Route over SCTP wins over the Request-URI's TCP.
    let m = invite_to("sip:bob@198.51.100.20:5080;transport=tcp").replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:198.51.100.7:5090;transport=sctp;lr>\r\n",
        1,
    );
    let a = run_in(&r, &m, From::Tcp);
    assert_eq!(proto(&a), Proto::Sctp);
    assert_eq!(forwarded(&a).0, sa("198.51.100.7:5090"));
    // A loose Route over TCP wins over the Request-URI's SCTP.
    let m = invite_to("sip:bob@198.51.100.20:5080;transport=sctp").replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:198.51.100.7:5090;lr>\r\n",
        1,
    );
    let a = run_in(&r, &m, From::Tcp);
    assert_eq!(proto(&a), Proto::Tcp);
    // Our own SCTP Route on top is removed; the next one routes.
    let m = invite_to("sip:bob@198.51.100.20:5080").replacen(
        "Max-Forwards: 70\r\n",
        &format!(
            "Max-Forwards: 70\r\nRoute: <sip:{SCTP_V4};transport=sctp;lr>\r\n\
             Route: <sip:198.51.100.7:5090;transport=sctp;lr>\r\n"
        ),
        1,
    );
    let a = run_in(&r, &m, From::Tcp);
    assert_eq!(proto(&a), Proto::Sctp);
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("198.51.100.7:5090"));
    assert!(!out.contains(&format!("<sip:{SCTP_V4};")), "{out}");
    assert!(out.contains("Route: <sip:198.51.100.7:5090;transport=sctp;lr>"));
}

#[test]
fn forward_sctp_sends_every_request_over_sctp() {
    let r = relay(Some("198.51.100.30:5060")).with_forward_proto(Proto::Sctp);
    assert_eq!(r.forward_proto(), Proto::Sctp);
    // Whatever the Request-URI says.
    for ruri in [
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@198.51.100.20:5080",
        "sip:bob@198.51.100.20:5080;transport=sctp",
    ] {
        let a = run_in(&r, &invite_to(ruri), From::Tcp);
        assert_eq!(proto(&a), Proto::Sctp, "{ruri}");
        let (to, out) = forwarded(&a);
        assert_eq!(to, sa("198.51.100.30:5060"));
        assert!(
            our_via(&out).starts_with(&format!("Via: SIP/2.0/SCTP {SCTP_V4};")),
            "{out}"
        );
    }
    // By name.
    let r = relay(None)
        .with_forward(Some(Forward::Name("proxy.example.com".into(), 5090)))
        .with_forward_proto(Proto::Sctp);
    let a = run_in(&r, INVITE, From::Tcp);
    assert_eq!(proto(&a), Proto::Sctp);
    assert_eq!(forwarded(&a).0, sa("198.51.100.7:5090"));
    // --forward over TCP wins over a Request-URI's transport=sctp.
    let r = relay(Some("198.51.100.30:5060"));
    assert_eq!(r.forward_proto(), Proto::Tcp);
    let a = run_in(
        &r,
        &invite_to("sip:bob@198.51.100.20:5080;transport=sctp"),
        From::Tcp,
    );
    assert_eq!(proto(&a), Proto::Tcp);
    assert!(our_via(&forwarded(&a).1).starts_with(&format!("Via: SIP/2.0/TCP {OURS};")));
}

#[test]
fn a_request_received_over_sctp_forwarded_over_tcp() {
    let r = relay(None);
    let m = sctp_invite("sip:bob@198.51.100.20:5080");
    let a = run_in(&r, &m, From::Sctp);
    assert_eq!(proto(&a), Proto::Tcp);
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("198.51.100.20:5080"));
    // Our TCP listener on the endpoint's IP (the endpoint's own port is not a TCP port), and
    // the association as the cid.
    assert!(
        our_via(&out).starts_with(&format!("Via: SIP/2.0/TCP {OURS};branch=z9hG4bKsWd.")),
        "{out}"
    );
    assert!(our_via(&out).contains(&format!(";cid={ASSOC}.")), "{out}");
    // The UAC's Via is kept as it was (its transport included), marked as for TCP.
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/SCTP 203.0.113.5:5070;branch=z9hG4bK-uac-1"
    );
    // From a source that is not the sent-by: received, as over TCP.
    let a = go(
        &r,
        &m,
        "203.0.113.99:5070",
        From::Sctp,
        &endpoints(),
        &NoConns,
    );
    assert!(header_lines(&forwarded(&a).1)[1].ends_with(";received=203.0.113.99"));
}

#[test]
fn a_request_received_over_sctp_forwarded_over_sctp() {
    let r = relay(None);
    let a = run_in(
        &r,
        &sctp_invite("sip:bob@198.51.100.20:5080;transport=sctp"),
        From::Sctp,
    );
    assert_eq!(proto(&a), Proto::Sctp);
    let out = forwarded(&a).1;
    // The endpoint it came in on (a listening address) is ours on the way out too.
    assert!(
        our_via(&out).starts_with(&format!("Via: SIP/2.0/SCTP {SCTP_V4};")),
        "{out}"
    );
    assert!(our_via(&out).contains(&format!(";cid={ASSOC}.")), "{out}");
}

#[test]
fn responses_go_back_over_the_association_or_to_the_sctp_fallback() {
    let r = relay(None);
    let req = sctp_invite("sip:bob@198.51.100.20:5080;transport=sctp");
    let resp = answer(&forwarded(&run_in(&r, &req, From::Sctp)).1);
    // The association is still up: over it (the cid verifies against its peer).
    let assoc = Table(vec![(ASSOC, sa(UAC))]);
    let a = go(&r, &resp, UAS, From::Sctp, &endpoints(), &assoc);
    assert_eq!(via_conn(&a), Some(ASSOC));
    // Its fallback: the next Via says SCTP, so over SCTP, to the sent-by port.
    assert_eq!(proto(&a), Proto::Sctp);
    let (back, out) = forwarded(&a);
    assert_eq!(back, sa(UAC));
    assert_eq!(
        header_lines(&out)
            .into_iter()
            .filter(|l| l.starts_with("Via"))
            .collect::<Vec<_>>(),
        ["Via: SIP/2.0/SCTP 203.0.113.5:5070;branch=z9hG4bK-uac-1"]
    );
    // Association gone: the SCTP fallback alone.
    let a = go(&r, &resp, UAS, From::Sctp, &endpoints(), &NoConns);
    assert_eq!(via_conn(&a), None);
    assert_eq!(proto(&a), Proto::Sctp);
    assert_eq!(forwarded(&a).0, sa(UAC));
    // An association id that now has another peer is not used.
    let other = Table(vec![(ASSOC, sa("203.0.113.200:5070"))]);
    assert_eq!(
        via_conn(&go(&r, &resp, UAS, From::Sctp, &endpoints(), &other)),
        None
    );
    // The response itself may arrive over TCP (the UAS's side of an SCTP-to-TCP relay):
    // the next Via still decides the fallback.
    let req = sctp_invite("sip:bob@198.51.100.20:5080");
    let resp = answer(&forwarded(&run_in(&r, &req, From::Sctp)).1);
    let a = go(&r, &resp, UAS, From::Tcp, &endpoints(), &assoc);
    assert_eq!((via_conn(&a), proto(&a)), (Some(ASSOC), Proto::Sctp));
}

#[test]
fn a_response_whose_next_via_is_tcp_falls_back_over_tcp() {
    let r = relay(None);
    // TCP in, SCTP out: the response comes back over SCTP, goes on over TCP.
    let req = invite_to("sip:bob@198.51.100.20:5080;transport=sctp");
    let resp = answer(&forwarded(&run_in(&r, &req, From::Tcp)).1);
    assert!(resp.contains(&format!("Via: SIP/2.0/SCTP {SCTP_V4};")));
    let conn = Table(vec![(7, sa(UAC))]);
    let a = go(&r, &resp, UAS, From::Sctp, &endpoints(), &conn);
    assert_eq!((via_conn(&a), proto(&a)), (Some(7), Proto::Tcp));
    let a = go(&r, &resp, UAS, From::Sctp, &endpoints(), &NoConns);
    assert_eq!((via_conn(&a), proto(&a)), (None, Proto::Tcp));
    assert_eq!(forwarded(&a).0, sa(UAC));
}

#[test]
fn the_fallback_transport_is_bound_by_the_branch_mac() {
    let r = relay(None);
    // A TCP client's Via turned into SCTP (or the other way round) on the way back.
    let req = invite_to("sip:bob@198.51.100.20:5080;transport=sctp");
    let resp = answer(&forwarded(&run_in(&r, &req, From::Tcp)).1);
    let flipped = resp.replacen(
        "Via: SIP/2.0/TCP 203.0.113.5",
        "Via: SIP/2.0/SCTP 203.0.113.5",
        1,
    );
    assert_ne!(flipped, resp);
    let conn = Table(vec![(7, sa(UAC))]);
    assert_eq!(
        dropped(&go(&r, &flipped, UAS, From::Sctp, &endpoints(), &conn)),
        DropReason::BadMac
    );
    let req = sctp_invite("sip:bob@198.51.100.20:5080");
    let resp = answer(&forwarded(&run_in(&r, &req, From::Sctp)).1);
    let flipped = resp.replacen(
        "Via: SIP/2.0/SCTP 203.0.113.5",
        "Via: SIP/2.0/TCP 203.0.113.5",
        1,
    );
    assert_ne!(flipped, resp);
    assert_eq!(
        dropped(&go(&r, &flipped, UAS, From::Tcp, &endpoints(), &NoConns)),
        DropReason::BadMac
    );
    // The transport token's case does not matter (RFC 3261: case-insensitive).
    let lower = resp.replacen(
        "Via: SIP/2.0/SCTP 203.0.113.5",
        "Via: SIP/2.0/sctp 203.0.113.5",
        1,
    );
    assert_eq!(
        proto(&go(&r, &lower, UAS, From::Tcp, &endpoints(), &NoConns)),
        Proto::Sctp
    );
    // Our own Via's transport is not an input: it is removed anyway.
    let ours = resp.replacen(
        "Via: SIP/2.0/TCP 192.0.2.1",
        "Via: SIP/2.0/SCTP 192.0.2.1",
        1,
    );
    assert_ne!(ours, resp);
    assert_eq!(
        proto(&go(&r, &ours, UAS, From::Tcp, &endpoints(), &NoConns)),
        Proto::Sctp
    );
}

#[test]
fn our_sctp_addresses_are_a_loop() {
    let r = relay(None);
    // A request for one of our SCTP endpoints, over SCTP or over TCP: 482.
    for ruri in [
        format!("sip:bob@{SCTP_V4};transport=sctp"),
        format!("sip:bob@{SCTP_V6};transport=sctp"),
        format!("sip:bob@{SCTP_V4}"),
        format!("sip:bob@{OURS};transport=sctp"),
        "sip:bob@127.0.0.1:5070;transport=sctp".to_string(),
    ] {
        let sctp = [sa(SCTP_V4), sa(SCTP_V6), sa("127.0.0.1:5070")];
        let a = go(&r, &invite_to(&ruri), UAC, From::Sctp, &sctp, &NoConns);
        assert_eq!(replied(&a).0, 482, "{ruri}");
    }
    // A wildcard SCTP endpoint: its port on the local IP and on loopback.
    let any = [sa("0.0.0.0:5070")];
    for ruri in [
        "sip:bob@192.0.2.1:5070;transport=sctp",
        "sip:bob@127.0.0.2:5070",
    ] {
        let a = go(&r, &invite_to(ruri), UAC, From::Tcp, &any, &NoConns);
        assert_eq!(replied(&a).0, 482, "{ruri}");
    }
    // Another port on the same IP is not us.
    let a = run_in(
        &r,
        &invite_to("sip:bob@192.0.2.1:5071;transport=sctp"),
        From::Tcp,
    );
    assert_eq!(proto(&a), Proto::Sctp);
    // Without SCTP endpoints, their addresses are somebody else's.
    let a = go(
        &r,
        &invite_to(&format!("sip:bob@{SCTP_V4};transport=sctp")),
        UAC,
        From::Tcp,
        &[],
        &NoConns,
    );
    assert_eq!(forwarded(&a).0, sa(SCTP_V4));
    // A response whose fallback is one of our SCTP addresses is dropped.
    let m = sctp_invite("sip:bob@198.51.100.20:5080").replacen("203.0.113.5:5070", SCTP_V4, 1);
    let resp = answer(&forwarded(&go(&r, &m, SCTP_V4, From::Sctp, &endpoints(), &NoConns)).1);
    assert_eq!(
        dropped(&go(&r, &resp, UAS, From::Tcp, &endpoints(), &NoConns)),
        DropReason::Loop
    );
}

/// A context on `local` with TCP listeners `listen` and SCTP endpoints `sctp`.
fn ctx_at<'a>(local: &str, listen: &'a [SocketAddr], sctp: &'a [SocketAddr]) -> Context<'a> {
    Context {
        source: sa(UAC),
        local: sa(local),
        listen,
        sctp_listen: sctp,
        conid: 7,
        peer: sa(UAC),
        conns: &NoConns,
    }
}

#[test]
fn via_addresses_for_sctp() {
    let listen = [sa(OURS)];
    let two = [sa("10.0.0.1:5070"), sa("10.0.0.2:5070"), sa(SCTP_V6)];
    let any = [sa("0.0.0.0:5070")];
    let only_v4 = [sa("10.0.0.1:5070")];
    let v4 = sa("198.51.100.20:5080");
    let v6 = sa("[2001:db8::20]:5080");
    let sctp = |local: &str, eps: &[SocketAddr], to| {
        ctx_at(local, &listen, eps).via_addr_for(Proto::Sctp, to)
    };
    // Came in on an SCTP endpoint: that one.
    assert_eq!(sctp("10.0.0.2:5070", &two, v4), sa("10.0.0.2:5070"));
    // Came in over TCP on 10.0.0.2: the endpoint on that IP.
    assert_eq!(sctp("10.0.0.2:5060", &two, v4), sa("10.0.0.2:5070"));
    // On another IP: the first endpoint of the destination's family.
    assert_eq!(sctp("10.0.0.9:5060", &two, v4), sa("10.0.0.1:5070"));
    assert_eq!(sctp("10.0.0.9:5060", &two, v6), sa(SCTP_V6));
    // An IPv4-mapped destination is IPv4.
    assert_eq!(
        sctp("10.0.0.9:5060", &two, sa("[::ffff:198.51.100.20]:5080")),
        sa("10.0.0.1:5070")
    );
    // A wildcard endpoint: the local IP with its port.
    assert_eq!(sctp("10.0.0.9:5060", &any, v4), sa("10.0.0.9:5070"));
    // No endpoint of that family: one of ours all the same (the send will fail).
    assert_eq!(sctp("10.0.0.9:5060", &only_v4, v6), sa("10.0.0.1:5070"));
    // No SCTP endpoint at all: the TCP rules (the send fails: no endpoint).
    assert_eq!(sctp("192.0.2.1:5070", &[], v4), sa(OURS));
    // TCP: the TCP rules, whatever the SCTP endpoints.
    let tcp = ctx_at("192.0.2.1:5070", &listen, &two);
    assert_eq!(tcp.via_addr_for(Proto::Tcp, v4), sa(OURS));
    assert_eq!(tcp.via_addr_for(Proto::Tcp, v4), tcp.via_addr());
    // is_own over both sets.
    assert!(tcp.is_own(sa("10.0.0.2:5070")));
    assert!(tcp.is_own(sa(OURS)));
    assert!(tcp.is_own(sa("[::ffff:10.0.0.1]:5070")));
    assert!(!tcp.is_own(sa("10.0.0.2:5060")));
    assert!(!tcp.is_own(sa("10.0.0.3:5070")));
}

#[test]
fn unsent_requests_from_sctp_clients_get_a_503_on_the_association() {
    let r = relay(None);
    let req = sctp_invite("sip:bob@198.51.100.20:5080");
    let out = forwarded(&run_in(&r, &req, From::Sctp)).1;
    let assoc = Table(vec![(ASSOC, sa(UAC))]);
    match r.unsent(out.as_bytes(), &assoc, 503, "Service Unavailable") {
        Unsent::Reply { client, reply } => {
            assert_eq!(client, ASSOC);
            let reply = String::from_utf8(reply).unwrap();
            assert!(
                reply.starts_with("SIP/2.0 503 Service Unavailable\r\n"),
                "{reply}"
            );
            // Our Via is gone; the client's is on top.
            assert!(
                reply.contains("\r\nVia: SIP/2.0/SCTP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n"),
                "{reply}"
            );
            assert!(!reply.contains("z9hG4bKsWd."), "{reply}");
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    // The association is gone: nobody to answer.
    assert_eq!(
        r.unsent(out.as_bytes(), &NoConns, 503, "Service Unavailable"),
        Unsent::ClientGone
    );
    // A TCP client of an SCTP next hop: the 503 goes on its connection.
    let out = forwarded(&run_in(
        &r,
        &invite_to("sip:bob@198.51.100.20:5080;transport=sctp"),
        From::Tcp,
    ))
    .1;
    let conn = Table(vec![(7, sa(UAC))]);
    assert!(matches!(
        r.unsent(out.as_bytes(), &conn, 503, "Service Unavailable"),
        Unsent::Reply { client: 7, .. }
    ));
}

#[test]
fn stateless_replies_to_sctp_requests_are_replies() {
    // 483 / 403 / 482 go back through `Ctx::reply` (the association for SCTP): the relay
    // only builds them; the client's SCTP Via is copied as written.
    let r = relay(None);
    let m = sctp_invite("sip:bob@198.51.100.20:5080").replacen(
        "Max-Forwards: 70",
        "Max-Forwards: 0",
        1,
    );
    let (status, reply) = replied(&run_in(&r, &m, From::Sctp));
    assert_eq!(status, 483);
    assert!(reply.contains("\r\nVia: SIP/2.0/SCTP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n"));
}
