//! Responses: our Via (with verified MACs) removed, back over the request's connection while
//! its cid MAC holds, else to the next Via's `received` and sent-by port; forged, altered,
//! foreign and looping responses dropped.

use super::*;

/// The request's source in these tests (the UAC's connection).
const UAC: &str = "203.0.113.99:40000";
/// Where responses come from (the UAS's connection).
const UAS: &str = "198.51.100.20:5080";

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

/// `request` relayed from `source` by `r`, then answered by the UAS.
fn answered(r: &Relay<FakeResolver>, request: &str, source: &str) -> String {
    answer(&forwarded(&run(r, request, source)).1)
}

/// The connection table of the relay: conid 7 is the UAC's connection.
fn uac_conn() -> Table {
    Table(vec![(7, sa(UAC))])
}

fn via_conn(a: &Action) -> Option<u64> {
    match a {
        Action::Forward { via_conn, .. } => *via_conn,
        other => panic!("expected Forward, got {other:?}"),
    }
}

#[test]
fn request_then_response_round_trip() {
    let r = relay(None);
    let (to, fwd) = forwarded(&run(&r, INVITE, UAC));
    assert_eq!(to, sa("198.51.100.20:5080"));
    let resp = answer(&fwd);
    // The UAC's connection is open: the response goes over it.
    let a = run_with(&r, &resp, UAS, &uac_conn());
    assert_eq!(
        via_conn(&a),
        Some(7),
        "the incoming connection, from our Via's cid"
    );
    let Action::Forward { direction, .. } = &a else {
        unreachable!()
    };
    assert_eq!(*direction, Direction::Response);
    let (back, out) = forwarded(&a);
    // Without it: the received IP and the Via's sent-by port (RFC 3261 §18.2.2).
    assert_eq!(back, sa("203.0.113.99:5070"));
    assert_eq!(via_conn(&run(&r, &resp, UAS)), None);
    let vias: Vec<_> = header_lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("Via"))
        .collect();
    assert_eq!(
        vias,
        ["Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK-uac-1;received=203.0.113.99"]
    );
    // Our Via is removed, everything else is as the UAS sent it.
    let ours = header_lines(&resp)[0].to_string();
    assert!(ours.starts_with("Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKsWd."));
    assert_eq!(out, resp.replacen(&format!("{ours}\r\n"), "", 1));
}

#[test]
fn rport_does_not_decide_the_fallback() {
    // rport is the client's ephemeral source port: the connection, not an address to
    // connect to. The fallback is the sent-by port.
    let r = relay(None);
    let m = INVITE.replace(";branch=z9hG4bK-uac-1", ";rport;branch=z9hG4bK-uac-1");
    let resp = answered(&r, &m, UAC);
    assert!(resp.contains(";rport=40000;"), "{resp}");
    assert_eq!(forwarded(&run(&r, &resp, UAS)).0, sa("203.0.113.99:5070"));
    // No port in the Via: 5060.
    let m = INVITE.replace("203.0.113.5:5070;branch", "203.0.113.5;branch");
    let resp = answered(&r, &m, UAC);
    assert_eq!(forwarded(&run(&r, &resp, UAS)).0, sa("203.0.113.99:5060"));
    // IPv6.
    let m = INVITE.replace("203.0.113.5:5070", "[2001:db8::5]:5070");
    let resp = answered(&r, &m, "[2001:db8::5]:40000");
    assert_eq!(forwarded(&run(&r, &resp, UAS)).0, sa("[2001:db8::5]:5070"));
}

#[test]
fn the_cid_binds_to_the_connection_peer() {
    let r = relay(None);
    let resp = answered(&r, INVITE, UAC);
    // Conid 7 now belongs to someone else (another instance's id, or a forged one): not
    // used; the authenticated fallback is.
    let other = Table(vec![(7, sa("203.0.113.200:40000"))]);
    let a = run_with(&r, &resp, UAS, &other);
    assert_eq!(via_conn(&a), None);
    assert_eq!(forwarded(&a).0, sa("203.0.113.99:5070"));
    // Same IP, other port (another client behind the same NAT): not used either.
    let nat = Table(vec![(7, sa("203.0.113.99:40001"))]);
    assert_eq!(via_conn(&run_with(&r, &resp, UAS, &nat)), None);
    // Enumerating cids: a victim's connection id never gets the response, whatever MAC
    // value comes with it.
    let cid = resp
        .split(";cid=")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    let victims = Table((0..64).map(|id| (id, sa("203.0.113.50:41000"))).collect());
    for id in 0..64u64 {
        let forged = resp.replacen(
            &format!(";cid={cid}"),
            &format!(";cid={id}.{}", &cid[2..]),
            1,
        );
        let a = run_with(&r, &forged, UAS, &victims);
        assert_eq!(via_conn(&a), None, "cid {id} reached a victim");
    }
}

#[test]
fn forged_and_altered_responses_are_dropped() {
    let r = relay(None);
    let resp = answered(&r, INVITE, UAC);
    let bad = |m: &str| dropped(&run_with(&r, m, UAS, &uac_conn()));
    let ours = header_lines(&resp)[0].to_string();
    let branch = ours
        .split(";branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    // The second Via redirected: received, sent-by host (without received) or port.
    assert_eq!(
        bad(&resp.replace("received=203.0.113.99", "received=192.0.2.66")),
        DropReason::BadMac
    );
    assert_eq!(
        bad(&resp.replace("203.0.113.5:5070;", "203.0.113.5:5071;")),
        DropReason::BadMac
    );
    let no_received = resp.replace(";received=203.0.113.99", "");
    assert_eq!(bad(&no_received), DropReason::BadMac);
    // A branch MAC flipped; a branch with our prefix but the old (unkeyed) shape.
    let mut flipped = branch.to_string();
    let last = if flipped.ends_with('0') { '1' } else { '0' };
    flipped.pop();
    flipped.push(last);
    assert_eq!(bad(&resp.replace(branch, &flipped)), DropReason::BadMac);
    assert_eq!(
        bad(&resp.replace(branch, "z9hG4bKsWd.0123456789abcdef")),
        DropReason::BadMac
    );
    // No cid, or a malformed one: dropped, even though the branch MAC holds.
    let cid = ours.split(";cid=").nth(1).unwrap();
    assert_eq!(
        bad(&resp.replace(&format!(";cid={cid}"), "")),
        DropReason::BadMac
    );
    assert_eq!(
        bad(&resp.replace(&format!(";cid={cid}"), ";cid=7")),
        DropReason::BadMac
    );
    // Our address + prefix, a made-up MAC, any next hop.
    let forged = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKsWd.{}{};cid=7.{}\r\n\
         Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
        "0".repeat(16),
        "1".repeat(16),
        "2".repeat(16)
    );
    assert_eq!(bad(&forged), DropReason::BadMac);
    // A relay with another key rejects it; one with the same key accepts it.
    let other = relay(None).with_key(MacKey::from_bytes([8; 16]));
    assert_eq!(dropped(&run(&other, &resp, UAS)), DropReason::BadMac);
    let twin = relay(None);
    assert_eq!(
        forwarded(&run(&twin, &resp, UAS)).0,
        sa("203.0.113.99:5070")
    );
}

#[test]
fn responses_looping_to_ourselves_are_dropped() {
    // A request whose previous hop claims our own address (or an address meaning us): its
    // response would come back to us.
    let r = relay(None);
    let cases = [
        ("192.0.2.1:5060", "192.0.2.1:40000"),
        ("0.0.0.0:5060", "0.0.0.0:40000"),
        ("[::ffff:192.0.2.1]:5060", "[::ffff:192.0.2.1]:40000"),
    ];
    for (sent_by, source) in cases {
        let m = INVITE.replace("203.0.113.5:5070", sent_by);
        let resp = answered(&r, &m, source);
        assert_eq!(dropped(&run(&r, &resp, UAS)), DropReason::Loop, "{sent_by}");
    }
    // Loopback listener: any 127.x with its port is us; [::] too.
    let listen = [sa("127.0.0.1:5060")];
    let ctx = |source: &str| Context {
        source: sa(source),
        local: sa("127.0.0.1:5060"),
        listen: &listen,
        sctp_listen: &[],
        conid: 7,
        peer: sa(source),
        conns: &NoConns,
    };
    for (sent_by, source) in [
        ("127.0.0.2:5060", "127.0.0.2:40000"),
        ("[::ffff:127.0.0.1]:5060", "[::ffff:127.0.0.1]:40000"),
        ("[::]:5060", "[::]:40000"),
    ] {
        let m = INVITE.replace("203.0.113.5:5070", sent_by);
        let (_, fwd) = forwarded(&r.process(m.as_bytes(), &ctx(source)));
        let resp = answer(&fwd);
        assert_eq!(
            dropped(&r.process(resp.as_bytes(), &ctx(UAS))),
            DropReason::Loop,
            "{sent_by}"
        );
    }
    // 127.0.0.1 on another port is a client, not us.
    let m = INVITE.replace("203.0.113.5:5070", "127.0.0.1:5070");
    let (_, fwd) = forwarded(&r.process(m.as_bytes(), &ctx("127.0.0.1:40000")));
    let (to, _) = forwarded(&r.process(answer(&fwd).as_bytes(), &ctx(UAS)));
    assert_eq!(to, sa("127.0.0.1:5070"));
}

#[test]
fn multi_value_and_compact_via_lines() {
    let r = relay(None);
    let resp = answered(&r, INVITE, UAC);
    let lines = header_lines(&resp);
    let ours = lines[0].strip_prefix("Via: ").unwrap();
    let theirs = lines[1].strip_prefix("Via: ").unwrap();
    // Ours first in a line with the next hop after it.
    let m = resp.replacen(
        &format!("Via: {ours}\r\nVia: {theirs}\r\n"),
        &format!("Via: {ours}, {theirs},SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK0\r\n"),
        1,
    );
    let (to, out) = forwarded(&run(&r, &m, UAS));
    assert_eq!(to, sa("203.0.113.99:5070"));
    assert!(out.contains(&format!(
        "\r\nVia: {theirs},SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK0\r\n"
    )));
    // Compact form, folded, next hop in the following header.
    let (addr, params) = ours.split_once(';').unwrap();
    let m = resp.replacen(
        &format!("Via: {ours}\r\nVia: {theirs}\r\n"),
        &format!("v: {addr}\r\n ;{params}\r\nv: {theirs}\r\n"),
        1,
    );
    let (to, out) = forwarded(&run(&r, &m, UAS));
    assert_eq!(to, sa("203.0.113.99:5070"));
    assert!(out.contains(&format!("\r\nv: {theirs}\r\n")) && !out.contains("sWd."));
}

#[test]
fn responses_that_are_not_ours_are_dropped() {
    let r = relay(None);
    let next = "Via: SIP/2.0/TCP 203.0.113.5:5070;branch=z9hG4bK1\r\n";
    let m = |top: &str| {
        format!("SIP/2.0 200 OK\r\nVia: {top}\r\n{next}CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    };
    // Foreign branch (our address or not); no branch.
    for top in [
        "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK77",
        "SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bK77",
        "SIP/2.0/TCP 192.0.2.1:5060",
    ] {
        assert_eq!(
            dropped(&run(&r, &m(top), UAS)),
            DropReason::NotOurs,
            "{top}"
        );
    }
    // Our marker with a host name: cannot be ours.
    let top = format!(
        "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKsWd.{}",
        "0".repeat(32)
    );
    assert_eq!(dropped(&run(&r, &m(&top), UAS)), DropReason::BadMac);
}

#[test]
fn responses_without_a_next_via_are_dropped() {
    let r = relay(None);
    let resp = answered(&r, INVITE, UAC);
    let ours = header_lines(&resp)[0].to_string();
    let theirs = header_lines(&resp)[1].to_string();
    let only_ours = resp.replacen(&format!("{theirs}\r\n"), "", 1);
    assert_eq!(dropped(&run(&r, &only_ours, UAS)), DropReason::NoVia);
    let no_via = only_ours.replacen(&format!("{ours}\r\n"), "", 1);
    assert_eq!(dropped(&run(&r, &no_via, UAS)), DropReason::NoVia);
    let garbage = resp.replacen(&theirs, "Via: garbage", 1);
    assert_eq!(dropped(&run(&r, &garbage, UAS)), DropReason::BadVia);
    let m =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.1:99999;branch=x\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(dropped(&run(&r, m, UAS)), DropReason::BadVia);
}

#[test]
fn wildcard_listener_recognises_its_via_on_any_ip() {
    let any = [sa("0.0.0.0:5060")];
    let r = relay(None);
    let ctx = |source: &str, local: &str| Context {
        source: sa(source),
        local: sa(local),
        listen: &any,
        sctp_listen: &[],
        conid: 7,
        peer: sa(source),
        conns: &NoConns,
    };
    let (_, fwd) = forwarded(&r.process(INVITE.as_bytes(), &ctx(UAC, "10.1.1.1:5060")));
    assert!(fwd.contains("Via: SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bKsWd."));
    let resp = answer(&fwd);
    let (to, _) = forwarded(&r.process(resp.as_bytes(), &ctx(UAS, "10.1.1.1:41000")));
    assert_eq!(to, sa("203.0.113.99:5070"));
}
