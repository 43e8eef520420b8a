//! Requests: Via, received/rport, Max-Forwards, branch, header forms.

use super::*;

/// The branch our Via got, checking its shape.
fn our_branch(out: &str) -> String {
    let first = header_lines(out)[0];
    let b = first.split(";branch=").nth(1).unwrap();
    let b = b.split(';').next().unwrap().to_string();
    assert!(b.starts_with(hash::BRANCH_PREFIX), "{b}");
    // Transaction hash and MAC, 16 hex digits each.
    assert_eq!(b.len(), hash::BRANCH_PREFIX.len() + 32);
    b
}

#[test]
fn invite_gets_our_via_on_top_and_nothing_else_changes() {
    let a = run(&relay(None), INVITE, "203.0.113.5:40000");
    let Action::Forward {
        to,
        direction,
        via_conn,
        ..
    } = &a
    else {
        panic!("{a:?}");
    };
    // R-URI host:port; `;transport=tcp`: over TCP.
    assert_eq!(*to, sa("198.51.100.20:5080"));
    assert_eq!(*direction, Direction::Request);
    assert_eq!(*via_conn, None);
    let (_, out) = forwarded(&a);
    let branch = our_branch(&out);
    let cid = header_lines(&out)[0]
        .split(";cid=")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(cid.starts_with("7.") && cid.len() == 2 + 16, "{cid}");
    let expected = INVITE
        .replacen(
            "\r\nVia:",
            // `cid`: the incoming connection, where the responses will go back (and its MAC).
            &format!("\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch={branch};cid={cid}\r\nVia:"),
            1,
        )
        .replacen("Max-Forwards: 70", "Max-Forwards: 69", 1);
    assert_eq!(out, expected);
    assert_eq!(body(&out), body(INVITE));
}

#[test]
fn received_when_source_ip_differs_from_sent_by() {
    let (_, out) = forwarded(&run(&relay(None), INVITE, "203.0.113.99:40000"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;received=203.0.113.99"
    );
    // A host name as sent-by is never the source IP.
    let m = INVITE.replace("203.0.113.5:5070;branch", "uac.example.com:5070;branch");
    let a = run(&relay(None), &m, "203.0.113.5:40000");
    let (_, out) = forwarded(&a);
    assert!(header_lines(&out)[1].ends_with(";branch=z9hG4bK-uac-1;received=203.0.113.5"));
}

#[test]
fn bare_rport_is_filled_and_received_always_added() {
    let m = INVITE.replace(";branch=z9hG4bK-uac-1", ";rport;branch=z9hG4bK-uac-1");
    // Same IP as sent-by: RFC 3581 still wants `received`.
    let a = run(&relay(None), &m, "203.0.113.5:40000");
    let (_, out) = forwarded(&a);
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;rport=40000;branch=z9hG4bK-uac-1;received=203.0.113.5"
    );
    // rport last.
    let m = INVITE.replace(";branch=z9hG4bK-uac-1", ";branch=z9hG4bK-uac-1;rport");
    let (_, out) = forwarded(&run(&relay(None), &m, "198.51.100.3:1234"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;rport=1234;received=198.51.100.3"
    );
    // rport with a value already: left alone.
    let m = INVITE.replace(";branch=z9hG4bK-uac-1", ";branch=z9hG4bK-uac-1;rport=7");
    let (_, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:1234"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;rport=7"
    );
}

#[test]
fn a_wrong_received_is_replaced_a_right_one_kept() {
    let m = INVITE.replace(
        ";branch=z9hG4bK-uac-1",
        ";received=10.9.9.9;branch=z9hG4bK-uac-1",
    );
    let (_, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:40000"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;received=203.0.113.5;branch=z9hG4bK-uac-1"
    );
    let m = INVITE.replace(
        ";branch=z9hG4bK-uac-1",
        ";received=203.0.113.5;branch=z9hG4bK-uac-1",
    );
    let (_, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:40000"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;received=203.0.113.5;branch=z9hG4bK-uac-1"
    );
}

#[test]
fn max_forwards_absent_gets_70() {
    let m = INVITE.replace("Max-Forwards: 70\r\n", "");
    let (_, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    let lines = header_lines(&out);
    assert!(lines[0].starts_with("Via: SIP/2.0/TCP 192.0.2.1:5060;branch="));
    assert_eq!(lines[1], "Max-Forwards: 70");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("Max-Forwards"))
            .count(),
        1
    );
}

#[test]
fn max_forwards_decrements_in_place() {
    for (from, to) in [("1", "0"), ("10", "9"), ("  255 ", "254"), ("007", "6")] {
        let m = INVITE.replace("Max-Forwards: 70", &format!("Max-Forwards:{from}"));
        let (_, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
        let line = header_lines(&out)
            .into_iter()
            .find(|l| l.starts_with("Max-Forwards"))
            .unwrap()
            .to_string();
        let lead = if from.starts_with(' ') { "  " } else { "" };
        let trail = if from.ends_with(' ') { " " } else { "" };
        assert_eq!(line, format!("Max-Forwards:{lead}{to}{trail}"));
    }
}

#[test]
fn max_forwards_zero_gets_483_statelessly() {
    let m = INVITE
        .replace("Max-Forwards: 70", "Max-Forwards: 0")
        .replace(
            "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n",
            "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1, SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx\r\nv: SIP/2.0/TCP 10.0.0.2:5062;branch=z9hG4bKy\r\n",
        );
    let a = run(&relay(None), &m, "203.0.113.5:40000");
    let (status, reply) = replied(&a);
    assert_eq!(status, 483);
    let tag = reply
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        reply,
        format!(
            "SIP/2.0 483 Too Many Hops\r\n\
Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1, SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx\r\n\
v: SIP/2.0/TCP 10.0.0.2:5062;branch=z9hG4bKy\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag={tag}\r\n\
Call-ID: call-1@203.0.113.5\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
        )
    );
    // A retransmission gets the same reply (same To tag).
    assert_eq!(run(&relay(None), &m, "203.0.113.5:40000"), a);
    // A To tag that is there is kept.
    let m2 = m.replace(
        "To: Bob <sip:bob@example.com>",
        "t: <sip:bob@example.com>;tag=b2",
    );
    let (_, reply) = replied(&run(&relay(None), &m2, "203.0.113.5:40000"));
    assert!(
        reply.contains("\r\nt: <sip:bob@example.com>;tag=b2\r\n"),
        "{reply}"
    );
    assert_eq!(reply.matches("tag=").count(), 2);
}

#[test]
fn ack_with_max_forwards_zero_is_dropped() {
    let m = INVITE
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(
        dropped(&run(&relay(None), &m, "203.0.113.5:5070")),
        DropReason::AckNotForwarded
    );
}

#[test]
fn bad_max_forwards_gets_400() {
    for bad in ["x", "", "-1", "1234567890", "7 7"] {
        let m = INVITE.replace("Max-Forwards: 70", &format!("Max-Forwards: {bad}"));
        assert_eq!(
            replied(&run(&relay(None), &m, "203.0.113.5:5070")).0,
            400,
            "{bad}"
        );
    }
}

#[test]
fn branch_is_stable_across_retransmissions_and_cancel() {
    let r = relay(None);
    let a1 = run(&r, INVITE, "203.0.113.5:5070");
    let a2 = run(&r, INVITE, "203.0.113.5:5070");
    assert_eq!(a1, a2, "same input, same output");
    let b1 = our_branch(&forwarded(&a1).1);
    // Over another connection (other source port): same branch.
    let b2 = our_branch(&forwarded(&run(&r, INVITE, "203.0.113.5:40001")).1);
    assert_eq!(b1, b2);
    // The CANCEL of this INVITE: same top Via branch, so same branch.
    let cancel = "CANCEL sip:bob@198.51.100.20:5080;transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: call-1@203.0.113.5\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    assert_eq!(
        our_branch(&forwarded(&run(&r, cancel, "203.0.113.5:5070")).1),
        b1
    );
    // Another transaction: another branch.
    let other = INVITE.replace("z9hG4bK-uac-1", "z9hG4bK-uac-2");
    assert_ne!(
        our_branch(&forwarded(&run(&r, &other, "203.0.113.5:5070")).1),
        b1
    );
}

#[test]
fn branch_without_magic_cookie_hashes_the_transaction_fields() {
    let r = relay(None);
    let old = INVITE.replace(";branch=z9hG4bK-uac-1", ";branch=1");
    let b = |m: &str| our_branch(&forwarded(&run(&r, m, "203.0.113.5:5070")).1);
    let b1 = b(&old);
    assert_eq!(b(&old), b1);
    let cancel = old
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    assert_eq!(
        b(&cancel),
        b1,
        "CANCEL hashes like its INVITE (CSeq number only)"
    );
    assert_ne!(b(&old.replace("call-1@", "call-2@")), b1);
    assert_ne!(b(&old.replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")), b1);
    assert_ne!(b(&old.replace(";tag=a1", ";tag=a2")), b1);
    assert_ne!(
        b(&old.replace(
            "To: Bob <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=t"
        )),
        b1
    );
    assert_ne!(
        b(&old.replace(
            "sip:bob@198.51.100.20:5080;",
            "sip:bob2@198.51.100.20:5080;"
        )),
        b1
    );
    let no_branch = INVITE.replace(";branch=z9hG4bK-uac-1", "");
    assert_eq!(b(&no_branch), b(&no_branch));
    assert_ne!(b(&no_branch), b1);
}

#[test]
fn compact_headers() {
    let m = "INVITE sip:bob@198.51.100.20 SIP/2.0\r\n\
v: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-c1\r\n\
f: <sip:alice@example.com>;tag=a1\r\n\
t: <sip:bob@example.com>\r\n\
i: compact@x\r\n\
CSeq: 5 INVITE\r\n\
m: <sip:alice@203.0.113.5:5070>\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nv=0\n";
    let (to, out) = forwarded(&run(&relay(None), m, "203.0.113.77:5070"));
    assert_eq!(to, sa("198.51.100.20:5060"));
    let lines = header_lines(&out);
    assert!(lines[0].starts_with("Via: SIP/2.0/TCP 192.0.2.1:5060;branch="));
    assert_eq!(lines[1], "Max-Forwards: 70");
    assert_eq!(
        lines[2],
        "v: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-c1;received=203.0.113.77"
    );
    assert_eq!(&lines[3..], &header_lines(m)[1..]);
    assert!(out.ends_with("\r\n\r\nv=0\n"));
    // 483 with compact forms: copied as written, tag added to `t:`.
    let z = m.replace(
        "CSeq: 5 INVITE\r\n",
        "CSeq: 5 INVITE\r\nMax-Forwards: 0\r\n",
    );
    let (_, reply) = replied(&run(&relay(None), &z, "203.0.113.77:5070"));
    assert!(reply.contains("\r\nv: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-c1\r\n"));
    assert!(reply.contains("\r\nf: <sip:alice@example.com>;tag=a1\r\n"));
    assert!(reply.contains("\r\nt: <sip:bob@example.com>;tag=sWd"));
    assert!(reply.contains("\r\ni: compact@x\r\n"));
    assert!(!reply.contains("m: "));
}

#[test]
fn multi_value_via_line_gets_received_on_the_first_value_only() {
    let m = INVITE.replace(
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n",
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1 , SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKp\r\n",
    );
    let (_, out) = forwarded(&run(&relay(None), &m, "198.51.100.3:5070"));
    assert_eq!(
        header_lines(&out)[1],
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;received=198.51.100.3 , SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKp"
    );
}

#[test]
fn folded_headers() {
    let m = INVITE
        .replace(
            "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n",
            "Via: SIP/2.0/TCP 203.0.113.5:5070\r\n  ;branch=z9hG4bK-uac-1\r\n",
        )
        .replace("Max-Forwards: 70", "Max-Forwards:\r\n\t12")
        .replace("X-Unknown:   keep   this  ", "X-Unknown: a,\r\n b");
    let (_, out) = forwarded(&run(&relay(None), &m, "198.51.100.3:5070"));
    assert!(
        out.contains(
            "\r\nVia: SIP/2.0/TCP 203.0.113.5:5070\r\n  ;branch=z9hG4bK-uac-1;received=198.51.100.3\r\nMax-Forwards:\r\n\t11\r\n"
        ),
        "{out}"
    );
    assert!(out.contains("\r\nX-Unknown: a,\r\n b\r\n"));
    // Folded Route of ours, removed as a whole.
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute:\r\n <sip:192.0.2.1;lr>,\r\n <sip:10.0.0.9;lr>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("10.0.0.9:5060"));
    assert!(
        out.contains("\r\nRoute:\r\n <sip:10.0.0.9;lr>\r\n"),
        "{out}"
    );
}

#[test]
fn bare_lf_messages_get_lf_lines() {
    let m = INVITE.replace("\r\n", "\n");
    let (_, out) = forwarded(&run(
        &relay(None),
        &m.replace("Max-Forwards: 70\n", ""),
        "203.0.113.5:5070",
    ));
    assert!(!out.contains('\r'), "{out:?}");
    assert!(out.contains("\nMax-Forwards: 70\n"));
}

#[test]
fn body_bytes_pass_unchanged_even_when_not_utf8() {
    let mut m = INVITE
        .replace("Content-Length: 29", "Content-Length: 6")
        .into_bytes();
    let cut = m.len() - body(INVITE).len();
    m.truncate(cut);
    let body = [0u8, 0xff, b'\r', b'\n', 0x80, b'\n'];
    m.extend_from_slice(&body);
    let listen = [sa(OURS)];
    let ctx = Context {
        source: sa("203.0.113.5:5070"),
        local: sa(OURS),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa("203.0.113.5:5070"),
        conns: &NoConns,
    };
    let a = relay(None).process(&m, &ctx);
    let Action::Forward { bytes, .. } = a else {
        panic!("{a:?}")
    };
    assert!(bytes.ends_with(&body));
    let parsed = sipwire_frame::SipMessage::parse(&bytes).unwrap();
    assert_eq!(parsed.body(), body);
}

#[test]
fn ipv6_addresses() {
    let m = INVITE
        .replace("203.0.113.5:5070", "[2001:db8::5]:5070")
        .replace(
            "sip:bob@198.51.100.20:5080;transport=tcp",
            "sip:bob@[2001:db8::20]:5080",
        );
    let listen = [sa("[2001:db8::1]:5060")];
    let ctx = Context {
        source: sa("[2001:db8::5]:40000"),
        local: sa("[2001:db8::1]:5060"),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa("[2001:db8::5]:40000"),
        conns: &NoConns,
    };
    let a = relay(None).process(m.as_bytes(), &ctx);
    let (to, out) = forwarded(&a);
    assert_eq!(to, sa("[2001:db8::20]:5080"));
    let lines = header_lines(&out);
    assert!(lines[0].starts_with("Via: SIP/2.0/TCP [2001:db8::1]:5060;branch="));
    assert_eq!(
        lines[1],
        "Via: SIP/2.0/TCP [2001:db8::5]:5070;branch=z9hG4bK-uac-1"
    );
    let ctx = Context {
        source: sa("[2001:db8::6]:40000"),
        ..ctx
    };
    let (_, out) = forwarded(&relay(None).process(m.as_bytes(), &ctx));
    assert!(header_lines(&out)[1].ends_with(";received=2001:db8::6"));
}

#[test]
fn via_address_for_requests_on_connections_we_opened() {
    let listen = [sa("192.0.2.1:5060")];
    // Came in on a connection we opened (ephemeral local port): our Via names the listener.
    let ctx = Context {
        source: sa("198.51.100.20:5080"),
        local: sa("192.0.2.1:41000"),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa("198.51.100.20:5080"),
        conns: &NoConns,
    };
    assert_eq!(ctx.via_addr(), sa("192.0.2.1:5060"));
    let (_, out) = forwarded(&relay(None).process(INVITE.as_bytes(), &ctx));
    assert!(header_lines(&out)[0].starts_with("Via: SIP/2.0/TCP 192.0.2.1:5060;"));
    // Wildcard listener: the connection's own IP with the listener's port.
    let any = [sa("0.0.0.0:5060")];
    let ctx = Context {
        source: sa("198.51.100.20:5080"),
        local: sa("10.1.1.1:5060"),
        listen: &any,
        sctp_listen: &[],
        conid: 7,
        peer: sa("198.51.100.20:5080"),
        conns: &NoConns,
    };
    assert_eq!(ctx.via_addr(), sa("10.1.1.1:5060"));
    let ctx = Context {
        local: sa("10.1.1.1:41000"),
        ..ctx
    };
    assert_eq!(ctx.via_addr(), sa("10.1.1.1:5060"));
    assert!(ctx.is_own(sa("10.1.1.1:5060")));
    assert!(ctx.is_own(sa("127.0.0.1:5060")));
    assert!(!ctx.is_own(sa("10.1.1.2:5060")));
    assert!(!ctx.is_own(sa("10.1.1.1:5061")));
    // IPv4-mapped local addresses are written as IPv4.
    let ctx = Context {
        source: sa("198.51.100.20:5080"),
        local: sa("[::ffff:192.0.2.1]:5060"),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa("198.51.100.20:5080"),
        conns: &NoConns,
    };
    assert_eq!(ctx.via_addr(), sa("192.0.2.1:5060"));
}

#[test]
fn requests_without_a_usable_via_are_dropped() {
    let no_via = INVITE.replace(
        "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1\r\n",
        "",
    );
    assert_eq!(
        dropped(&run(&relay(None), &no_via, "203.0.113.5:5070")),
        DropReason::NoVia
    );
    let bad = INVITE.replace("SIP/2.0/TCP 203.0.113.5:5070", "SIP/2.0 203.0.113.5:5070");
    assert_eq!(
        dropped(&run(&relay(None), &bad, "203.0.113.5:5070")),
        DropReason::BadVia
    );
}

#[test]
fn error_reply_is_for_requests_other_than_ack() {
    let r = relay(None);
    let reply = r
        .error_reply(INVITE.as_bytes(), 503, "Service Unavailable")
        .unwrap();
    assert!(reply.starts_with(b"SIP/2.0 503 Service Unavailable\r\n"));
    let ack = INVITE.replacen("INVITE sip:", "ACK sip:", 1);
    assert_eq!(r.error_reply(ack.as_bytes(), 503, "x"), None);
    assert_eq!(r.error_reply(b"SIP/2.0 200 OK\r\n\r\n", 503, "x"), None);
    assert_eq!(r.error_reply(b"junk", 503, "x"), None);
}
