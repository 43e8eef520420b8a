//! Responses: our Via removed, next hop from the next Via; foreign responses dropped.

use super::*;

const OUR_BRANCH: &str = "z9hG4bKsWd.0123456789abcdef";

fn ok_200(vias: &str) -> String {
    format!(
        "SIP/2.0 200 OK\r\n{vias}From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: call-1@203.0.113.5\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@198.51.100.20:5080;transport=tcp>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 10\r\n\r\nv=0\r\nx=1\r\n"
    )
}

fn ours() -> String {
    format!("Via: SIP/2.0/TCP 192.0.2.1:5060;branch={OUR_BRANCH}\r\n")
}

#[test]
fn our_via_is_removed_and_the_next_via_routes() {
    let prev = "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n";
    let m = ok_200(&format!("{}{prev}", ours()));
    let a = run(&relay(None), &m, "198.51.100.20:5080");
    let Action::Forward {
        direction,
        via_conn,
        ..
    } = &a
    else {
        panic!("{a:?}")
    };
    assert_eq!(*direction, Direction::Response);
    assert_eq!(*via_conn, None, "our Via without cid names no connection");
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("203.0.113.5:5070"));
    assert_eq!(out, ok_200(prev));
}

#[test]
fn received_and_rport_of_the_next_via_decide_the_address() {
    let r = relay(None);
    let to = |via: &str| {
        forwarded(&run(
            &r,
            &ok_200(&format!("{}Via: {via}\r\n", ours())),
            "198.51.100.20:5080",
        ))
        .0
    };
    assert_eq!(
        to("SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1"),
        sa("203.0.113.5:5070")
    );
    assert_eq!(
        to("SIP/2.0/TCP 203.0.113.5;branch=z9hG4bK1"),
        sa("203.0.113.5:5060")
    );
    assert_eq!(
        to("SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1;received=198.51.100.9"),
        sa("198.51.100.9:5070")
    );
    assert_eq!(
        to("SIP/2.0/TCP 203.0.113.5:5070;rport=40000;branch=z9hG4bK1;received=198.51.100.9"),
        sa("198.51.100.9:40000")
    );
    assert_eq!(
        to("SIP/2.0/TCP 203.0.113.5:5070;rport;branch=z9hG4bK1"),
        sa("203.0.113.5:5070")
    );
    assert_eq!(
        to("SIP/2.0/TCP [2001:db8::5]:5070;branch=z9hG4bK1"),
        sa("[2001:db8::5]:5070")
    );
    assert_eq!(
        to("SIP/2.0/TCP proxy.example.com:5070;branch=z9hG4bK1"),
        sa("198.51.100.7:5070")
    );
    assert_eq!(
        dropped(&run(
            &r,
            &ok_200(&format!(
                "{}Via: SIP/2.0/TCP nowhere.invalid;branch=z9hG4bK1\r\n",
                ours()
            )),
            "198.51.100.20:5080"
        )),
        DropReason::Unroutable
    );
}

#[test]
fn multi_value_via_lines() {
    // Ours first in a line with the next hop after it.
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 192.0.2.1:5060;branch={OUR_BRANCH}, SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1,SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK0\r\n"
    ));
    let (to, out) = forwarded(&run(&relay(None), &m, "198.51.100.20:5080"));
    assert_eq!(to, sa("203.0.113.5:5070"));
    assert_eq!(
        out,
        ok_200("Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1,SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK0\r\n")
    );
    // Compact form, folded, next hop in the following header.
    let m = ok_200(&format!(
        "v: SIP/2.0/TCP 192.0.2.1:5060\r\n ;branch={OUR_BRANCH}\r\nv: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1\r\n"
    ));
    let (to, out) = forwarded(&run(&relay(None), &m, "198.51.100.20:5080"));
    assert_eq!(to, sa("203.0.113.5:5070"));
    assert_eq!(
        out,
        ok_200("v: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1\r\n")
    );
}

#[test]
fn responses_that_are_not_ours_are_dropped() {
    let r = relay(None);
    let next = "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1\r\n";
    // Foreign sent-by.
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 192.0.2.2:5060;branch={OUR_BRANCH}\r\n{next}"
    ));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::NotOurs
    );
    // Our address, other port.
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 192.0.2.1:5061;branch={OUR_BRANCH}\r\n{next}"
    ));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::NotOurs
    );
    // Our address, default port 5060 matches.
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 192.0.2.1;branch={OUR_BRANCH}\r\n{next}"
    ));
    assert_eq!(
        forwarded(&run(&r, &m, "198.51.100.20:5080")).0,
        sa("203.0.113.5:5070")
    );
    // Our address, foreign branch.
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK77\r\n{next}"
    ));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::NotOurs
    );
    // No branch; a host name.
    let m = ok_200(&format!("Via: SIP/2.0/TCP 192.0.2.1:5060\r\n{next}"));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::NotOurs
    );
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP proxy.example.com;branch={OUR_BRANCH}\r\n{next}"
    ));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::NotOurs
    );
}

#[test]
fn responses_without_a_next_via_are_dropped() {
    let r = relay(None);
    assert_eq!(
        dropped(&run(&r, &ok_200(&ours()), "198.51.100.20:5080")),
        DropReason::NoVia
    );
    assert_eq!(
        dropped(&run(&r, &ok_200(""), "198.51.100.20:5080")),
        DropReason::NoVia
    );
    let m = ok_200(&format!("{}Via: garbage\r\n", ours()));
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::BadVia
    );
    let m = ok_200("Via: SIP/2.0/TCP 192.0.2.1:99999;branch=x\r\n");
    assert_eq!(
        dropped(&run(&r, &m, "198.51.100.20:5080")),
        DropReason::BadVia
    );
}

/// A UAS's answer: the request's Vias (and From/To/Call-ID/CSeq) copied into a 200.
fn answer(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for l in header_lines(request) {
        let name = l.split(':').next().unwrap();
        if ["Via", "v", "From", "Call-ID", "CSeq"].contains(&name) {
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
fn request_then_response_round_trip() {
    let r = relay(None);
    let (to, fwd) = forwarded(&run(&r, INVITE, "203.0.113.99:40000"));
    assert_eq!(to, sa("198.51.100.20:5080"));
    let resp = answer(&fwd);
    let (back, out) = forwarded(&run(&r, &resp, "198.51.100.20:5080"));
    // received= added on the way in, so the response goes to the real source IP and the
    // Via's port, unless the connection the request came in on (cid) is still open.
    assert_eq!(back, sa("203.0.113.99:5070"));
    let Action::Forward { via_conn, .. } = run(&r, &resp, "198.51.100.20:5080") else {
        unreachable!()
    };
    assert_eq!(
        via_conn,
        Some(7),
        "the incoming connection, from our Via's cid"
    );
    let vias: Vec<_> = header_lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("Via"))
        .collect();
    assert_eq!(
        vias,
        ["Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;received=203.0.113.99"]
    );
    // With rport the response goes to the exact source port.
    let m = INVITE.replace(";branch=z9hG4bK-uac-1", ";rport;branch=z9hG4bK-uac-1");
    let (_, fwd) = forwarded(&run(&r, &m, "203.0.113.99:40000"));
    let (back, _) = forwarded(&run(&r, &answer(&fwd), "198.51.100.20:5080"));
    assert_eq!(back, sa("203.0.113.99:40000"));
}

#[test]
fn wildcard_listener_recognises_its_via_on_any_ip() {
    let any = [sa("0.0.0.0:5060")];
    let ctx = Context {
        source: sa("198.51.100.20:5080"),
        local: sa("10.1.1.1:41000"),
        listen: &any,
        conid: 7,
    };
    let m = ok_200(&format!(
        "Via: SIP/2.0/TCP 10.1.1.1:5060;branch={OUR_BRANCH}\r\nVia: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1\r\n"
    ));
    assert_eq!(
        forwarded(&relay(None).process(m.as_bytes(), &ctx)).0,
        sa("203.0.113.5:5070")
    );
}
