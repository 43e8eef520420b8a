//! Requests: loose routing, Request-URI, --forward, host names, stateless errors.

use super::*;

#[test]
fn own_route_is_removed_and_the_next_loose_route_routes() {
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:192.0.2.1;lr>\r\nRoute: <sip:10.0.0.9:5070;lr>, <sip:10.0.0.10;lr>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("10.0.0.9:5070"));
    let routes: Vec<_> = header_lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("Route"))
        .collect();
    assert_eq!(
        routes,
        ["Route: <sip:10.0.0.9:5070;lr>, <sip:10.0.0.10;lr>"]
    );

    // Ours first in a multi-value line: only that value goes.
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:192.0.2.1:5060;lr>,<sip:10.0.0.9;lr;transport=tcp>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("10.0.0.9:5060"));
    assert!(
        out.contains("\r\nRoute: <sip:10.0.0.9;lr;transport=tcp>\r\n"),
        "{out}"
    );

    // Only ours: the R-URI routes, no Route left.
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: \"me\" <sip:192.0.2.1;lr>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("198.51.100.20:5080"));
    assert!(!out.contains("Route"));
}

#[test]
fn a_foreign_route_without_lr_is_ignored_with_lr_it_routes() {
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:10.0.0.9:5070>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("198.51.100.20:5080"));
    assert!(out.contains("\r\nRoute: <sip:10.0.0.9:5070>\r\n"));
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:proxy.example.com;lr>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(None), &m, "203.0.113.5:5070"));
    assert_eq!(
        to,
        sa("198.51.100.7:5060"),
        "a host name goes through the resolver"
    );
    assert!(out.contains("\r\nRoute: <sip:proxy.example.com;lr>\r\n"));
}

#[test]
fn forward_wins_over_route_and_request_uri() {
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:192.0.2.1;lr>, <sip:10.0.0.9;lr>\r\n",
    );
    let (to, out) = forwarded(&run(&relay(Some("127.0.0.1:5999")), &m, "203.0.113.5:5070"));
    assert_eq!(to, sa("127.0.0.1:5999"));
    assert!(
        out.contains("\r\nRoute: <sip:10.0.0.9;lr>\r\n"),
        "own Route still removed"
    );
    // --forward does not need a routable R-URI.
    let m = INVITE.replace(
        "INVITE sip:bob@198.51.100.20:5080;transport=tcp",
        "INVITE tel:+123",
    );
    assert_eq!(
        forwarded(&run(&relay(Some("127.0.0.1:5999")), &m, "203.0.113.5:5070")).0,
        sa("127.0.0.1:5999")
    );
}

#[test]
fn unroutable_requests_get_stateless_errors() {
    let with_uri = |u: &str| INVITE.replace("sip:bob@198.51.100.20:5080;transport=tcp", u);
    let r = relay(None);
    assert_eq!(
        replied(&run(&r, &with_uri("tel:+123"), "203.0.113.5:5070")).0,
        416
    );
    assert_eq!(
        replied(&run(&r, &with_uri("sips:bob@10.0.0.1"), "203.0.113.5:5070")).0,
        416
    );
    assert_eq!(
        replied(&run(&r, &with_uri("sip:bob@"), "203.0.113.5:5070")).0,
        400
    );
    let (status, reply) = replied(&run(
        &r,
        &with_uri("sip:bob@nowhere.invalid"),
        "203.0.113.5:5070",
    ));
    assert_eq!(status, 503);
    assert!(reply.starts_with("SIP/2.0 503 "));
    // Default port 5060.
    assert_eq!(
        forwarded(&run(
            &r,
            &with_uri("sip:bob@proxy.example.com"),
            "203.0.113.5:5070"
        ))
        .0,
        sa("198.51.100.7:5060")
    );
    // A Route with lr and a foreign scheme.
    let m = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sips:10.0.0.9;lr>\r\n",
    );
    assert_eq!(replied(&run(&r, &m, "203.0.113.5:5070")).0, 416);
}

#[test]
fn a_request_for_ourselves_is_a_loop() {
    let m = INVITE.replace(
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@192.0.2.1",
    );
    assert_eq!(replied(&run(&relay(None), &m, "203.0.113.5:5070")).0, 482);
    assert_eq!(
        replied(&run(&relay(Some(OURS)), INVITE, "203.0.113.5:5070")).0,
        482
    );
}

#[test]
fn destinations_must_be_allowed() {
    let mut allow = AllowList::default();
    allow
        .add("198.51.100.0/24:5080, proxy.example.com")
        .unwrap();
    let r = relay(None).with_allow(allow);
    // Allowed network and port.
    assert_eq!(
        forwarded(&run(&r, INVITE, "203.0.113.5:40000")).0,
        sa("198.51.100.20:5080")
    );
    // Other port, other network: 403, nothing sent.
    for ruri in [
        "sip:bob@198.51.100.20:5081",
        "sip:bob@10.0.0.1",
        "sip:bob@[2001:db8::1]",
    ] {
        let m = INVITE.replacen("sip:bob@198.51.100.20:5080;transport=tcp", ruri, 1);
        let (status, reply) = replied(&run(&r, &m, "203.0.113.5:40000"));
        assert_eq!(
            (status, reply.lines().next().unwrap()),
            (403, "SIP/2.0 403 Forbidden"),
            "{ruri}"
        );
    }
    // A listed domain resolves; an unlisted name is refused without a lookup.
    let m = INVITE.replacen(
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@proxy.example.com",
        1,
    );
    assert_eq!(
        forwarded(&run(&r, &m, "203.0.113.5:40000")).0,
        sa("198.51.100.7:5060")
    );
    let m = INVITE.replacen(
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@nowhere.invalid",
        1,
    );
    assert_eq!(replied(&run(&r, &m, "203.0.113.5:40000")).0, 403);
    // A loose Route is checked the same way.
    let m = INVITE.replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRoute: <sip:10.0.0.1;lr>\r\n",
        1,
    );
    assert_eq!(replied(&run(&r, &m, "203.0.113.5:40000")).0, 403);
    // An ACK is dropped, not answered.
    let ack = INVITE
        .replacen(
            "INVITE sip:bob@198.51.100.20:5080;transport=tcp",
            "ACK sip:bob@10.0.0.1",
            1,
        )
        .replacen("1 INVITE", "1 ACK", 1);
    assert_eq!(
        dropped(&run(&r, &ack, "203.0.113.5:40000")),
        DropReason::Refused
    );
    // Nothing allowed (the default): everything refused; --forward is always allowed.
    let none = relay(None).with_allow(AllowList::default());
    assert_eq!(replied(&run(&none, INVITE, "203.0.113.5:40000")).0, 403);
    let fwd = relay(Some("10.9.9.9:5060")).with_allow(AllowList::default());
    assert_eq!(
        forwarded(&run(&fwd, INVITE, "203.0.113.5:40000")).0,
        sa("10.9.9.9:5060")
    );
    // Our own address is a loop (482) before it is a refusal.
    let m = INVITE.replacen(
        "sip:bob@198.51.100.20:5080;transport=tcp",
        "sip:bob@192.0.2.1",
        1,
    );
    assert_eq!(replied(&run(&none, &m, "203.0.113.5:40000")).0, 482);
}

/// The daemon's resolver: a [`NameTable`] whose lookups are counted.
#[test]
fn names_come_from_the_table_and_client_names_cost_no_lookup() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let names = NameTable::new(["pbx.example.com", "down.example.com"], move |h: &str| {
        c.fetch_add(1, Ordering::SeqCst);
        (h == "pbx.example.com").then(|| "198.51.100.9".parse().unwrap())
    });
    names.refresh();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let mut allow = AllowList::default();
    allow.add("pbx.example.com:5080,down.example.com").unwrap();
    let relay = Relay::new(None, names.clone())
        .with_key(MacKey::from_bytes([7; 16]))
        .with_allow(allow);
    let listen = [sa(OURS)];
    let go = |relay: &Relay<NameTable>, ruri: &str| {
        let ctx = Context {
            source: sa("203.0.113.5:40000"),
            local: sa(OURS),
            listen: &listen,
            sctp_listen: &[],
            conid: 7,
            peer: sa("203.0.113.5:40000"),
            conns: &NoConns,
        };
        let m = INVITE.replacen("sip:bob@198.51.100.20:5080;transport=tcp", ruri, 1);
        relay.process(m.as_bytes(), &ctx)
    };
    assert_eq!(
        forwarded(&go(&relay, "sip:bob@PBX.example.com:5080")).0,
        sa("198.51.100.9:5080")
    );
    // Allowed but unresolved: 503. Not allowed (another port, another name): 403.
    let (status, reply) = replied(&go(&relay, "sip:bob@down.example.com"));
    assert_eq!(status, 503);
    assert!(reply.contains("cannot resolve next hop"), "{reply}");
    for ruri in [
        "sip:bob@pbx.example.com:5060",
        "sip:bob@evil.example.com",
        "sip:bob@localhost",
    ] {
        assert_eq!(replied(&go(&relay, ruri)).0, 403, "{ruri}");
    }
    // --forward by name: the table's address; unresolved: 503.
    let fwd = |host: &str| {
        Relay::new(None, names.clone())
            .with_key(MacKey::from_bytes([7; 16]))
            .with_forward(Some(Forward::Name(host.into(), 5070)))
    };
    assert_eq!(
        forwarded(&go(&fwd("pbx.example.com"), "sip:bob@evil.example.com")).0,
        sa("198.51.100.9:5070")
    );
    assert_eq!(
        replied(&go(&fwd("down.example.com"), "sip:bob@10.0.0.1")).0,
        503
    );
    // Not one lookup after the refresh, whatever the requests named.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
