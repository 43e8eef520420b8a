use super::*;

const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bK1;received=192.0.2.9, SIP/2.0/TCP [2001:db8::1]:5070;rport=1234;alias\r\n\
v: SIP/2.0/UDP a.example.com;rport;branch=\"z9;x\"\r\n\
Max-Forwards: 70\r\n\
f: Alice <sip:alice@example.com>;tag=1\r\n\
t: Bob <sip:bob@example.com>\r\n\
i: abc@host\r\n\
CSeq: 1 INVITE\r\n\
m: \"Al, ice\" <sip:alice@[2001:db8::2]:5060;transport=tcp>, <sip:a2@h>\r\n\
Subject: first\r\n second line\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\n";

#[test]
fn start_lines() {
    let m = SipMessage::parse(INVITE).unwrap();
    assert_eq!(
        m.start_line(),
        StartLine::Request {
            method: b"INVITE",
            uri: b"sip:bob@example.com",
            version: b"SIP/2.0"
        }
    );
    assert_eq!(m.method(), Some(&b"INVITE"[..]));
    let r = SipMessage::parse(b"SIP/2.0 180 Ringing Now\r\nl: 0\r\n\r\n").unwrap();
    assert_eq!(
        r.start_line(),
        StartLine::Response {
            version: b"SIP/2.0",
            status: 180,
            reason: b"Ringing Now"
        }
    );
    assert_eq!(r.status(), Some(180));
    assert_eq!(
        SipMessage::parse(b"SIP/2.0 200\n\n").unwrap().status(),
        Some(200)
    );
    for bad in [
        &b"SIP/2.0 2000 OK\r\n\r\n"[..],
        b"SIP/2.0 099 x\r\n\r\n",
        b"SIP/2.0 700 x\r\n\r\n",
    ] {
        assert_eq!(SipMessage::parse(bad), Err(SipError::BadStatusCode));
    }
    assert_eq!(
        SipMessage::parse(b"INVITE sip:a\r\n\r\n"),
        Err(SipError::BadStartLine)
    );
    assert_eq!(
        SipMessage::parse(b"INVITE sip:a SIP/2.0\r\nl: 0\r\n"),
        Err(SipError::NoEndOfHeaders)
    );
    assert_eq!(
        SipMessage::parse(b"INVITE sip:a SIP/2.0\r\nl: 0\r\nbogus\r\n\r\n"),
        Err(SipError::BadHeaderLine { offset: 28 })
    );
}

#[test]
fn headers_compact_folded_and_body() {
    let m = SipMessage::parse(INVITE).unwrap();
    assert_eq!(m.call_id(), Some(&b"abc@host"[..]));
    assert_eq!(m.header(HeaderName::From).unwrap().name, b"f");
    assert_eq!(
        m.header(HeaderName::To).unwrap().value,
        b"Bob <sip:bob@example.com>"
    );
    assert_eq!(
        m.header(HeaderName::ContentType).unwrap().value,
        b"application/sdp"
    );
    assert_eq!(m.header(HeaderName::ContentLength).unwrap().value, b"4");
    assert_eq!(m.header(HeaderName::MaxForwards).unwrap().value, b"70");
    assert_eq!(m.header(HeaderName::CSeq).unwrap().value, b"1 INVITE");
    assert!(m.header(HeaderName::Route).is_none());
    let subj = m.header(HeaderName::Subject).unwrap();
    assert_eq!(subj.value, b"first\r\n second line");
    assert_eq!(
        &INVITE[subj.line.clone()],
        b"Subject: first\r\n second line\r\n"
    );
    assert_eq!(&INVITE[subj.value_range.clone()], subj.value);
    assert_eq!(m.body(), b"v=0\n");
    assert_eq!(m.body_range().end, INVITE.len());
    assert_eq!(m.headers().count(), 11);
    assert!(HeaderName::CallId.matches(b"CALL-id"));
    assert!(HeaderName::Supported.matches(b"K"));
    assert!(!HeaderName::Route.matches(b"r"));
}

#[test]
fn comma_values_respect_quotes_and_brackets() {
    let m = SipMessage::parse(INVITE).unwrap();
    let c = m.header(HeaderName::Contact).unwrap();
    let vals: Vec<_> = split_values(&c).map(|v| v.bytes).collect();
    assert_eq!(
        vals,
        vec![
            &b"\"Al, ice\" <sip:alice@[2001:db8::2]:5060;transport=tcp>"[..],
            b"<sip:a2@h>"
        ]
    );
    for v in split_values(&c) {
        assert_eq!(&INVITE[v.range.clone()], v.bytes);
    }
}

#[test]
fn vias_with_ranges() {
    let m = SipMessage::parse(INVITE).unwrap();
    let vias: Vec<_> = m.vias().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias.len(), 3);
    let a = &vias[0];
    assert_eq!(
        (a.protocol, a.version, a.transport),
        (&b"SIP"[..], &b"2.0"[..], &b"TCP"[..])
    );
    assert_eq!((a.host, a.port), (&b"proxy.example.com"[..], Some(5060)));
    assert_eq!(a.branch, Some(&b"z9hG4bK1"[..]));
    assert_eq!(a.received, Some(&b"192.0.2.9"[..]));
    assert_eq!(a.rport, None);
    assert_eq!(&INVITE[a.sent_by_range.clone()], b"proxy.example.com:5060");
    let b = &vias[1];
    assert_eq!((b.host, b.port), (&b"2001:db8::1"[..], Some(5070)));
    assert_eq!(b.host_ip(), Some("2001:db8::1".parse().unwrap()));
    assert_eq!(b.rport, Some(Some(1234)));
    assert!(b.alias);
    assert_eq!(&INVITE[b.sent_by_range.clone()], b"[2001:db8::1]:5070");
    let c = &vias[2];
    assert_eq!(
        (c.transport, c.host, c.port),
        (&b"UDP"[..], &b"a.example.com"[..], None)
    );
    assert_eq!(c.rport, Some(None));
    assert_eq!(c.branch, Some(&b"\"z9;x\""[..]));
    assert_eq!(c.params().count(), 2);

    // Splicing: remove the top Via value (first of two in its line).
    let mut out = INVITE.to_vec();
    out.drain(a.removal.clone());
    let m2 = SipMessage::parse(&out).unwrap();
    let top = m2.top_via().unwrap().unwrap();
    assert_eq!(top.host, b"2001:db8::1");
    assert_eq!(m2.vias().count(), 2);
    // Remove the last value of a two-value line: the comma goes too.
    let mut out = INVITE.to_vec();
    out.drain(b.removal.clone());
    assert!(out.starts_with(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bK1;received=192.0.2.9\r\nv:"));
    // Remove a single-value header: the whole line goes.
    let mut out = INVITE.to_vec();
    out.drain(c.removal.clone());
    assert_eq!(SipMessage::parse(&out).unwrap().vias().count(), 2);
    assert_eq!(c.removal, c.line);
    // Append ;received= at the end of a value.
    let mut out = INVITE.to_vec();
    out.splice(
        c.range.end..c.range.end,
        b";received=10.0.0.1".iter().copied(),
    );
    let m3 = SipMessage::parse(&out).unwrap();
    let c3 = m3.vias().nth(2).unwrap().unwrap();
    assert_eq!(c3.received, Some(&b"10.0.0.1"[..]));
}

#[test]
fn via_forms_and_errors() {
    let v = Via::parse(b"SIP / 2.0 / TLS  h.example:5061 ; branch = z9 ;maddr=x", 0).unwrap();
    assert_eq!(
        (v.transport, v.host, v.port),
        (&b"TLS"[..], &b"h.example"[..], Some(5061))
    );
    assert_eq!(v.branch, Some(&b"z9"[..]));
    let folded = Via::parse(b"SIP/2.0/TCP\r\n host;branch=1", 0).unwrap();
    assert_eq!(folded.host, b"host");
    assert_eq!(Via::parse(b"SIP/2.0/TCP [::1]", 0).unwrap().host, b"::1");
    let e = |s: &[u8]| Via::parse(s, 7).unwrap_err();
    assert_eq!(e(b"SIP/2.0 TCP h"), SipError::ViaBadProtocol { offset: 7 });
    assert_eq!(e(b"SIP/2.0/TCP"), SipError::ViaBadHost { offset: 7 });
    assert_eq!(e(b"SIP/2.0/TCP [::1"), SipError::ViaBadHost { offset: 7 });
    assert_eq!(
        e(b"SIP/2.0/TCP h:70000"),
        SipError::ViaBadPort { offset: 7 }
    );
    assert_eq!(e(b"SIP/2.0/TCP h:"), SipError::ViaBadPort { offset: 7 });
    assert_eq!(
        e(b"SIP/2.0/TCP h;rport=x"),
        SipError::ViaBadPort { offset: 7 }
    );
    assert_eq!(e(b"SIP/2.0/TCP h;=x"), SipError::ViaBadParam { offset: 7 });
    assert_eq!(e(b"SIP/2.0/TCP h x"), SipError::ViaBadHost { offset: 7 });
    assert!(e(b"SIP/2.0/TCP h;=x").to_string().contains("byte 7"));
}

#[test]
fn sip_uris() {
    let u = parse_sip_uri(b"sip:bob@10.0.0.1:5070;transport=tcp;lr?h=v").unwrap();
    assert_eq!(u.host, b"10.0.0.1");
    assert_eq!(u.port, Some(5070));
    assert_eq!(u.params, b";transport=tcp;lr");
    assert!(u.has_param(b"LR"));
    assert!(!u.has_param(b"maddr"));
    let u = parse_sip_uri(b"SIP:[2001:db8::1]").unwrap();
    assert_eq!(u.host, b"2001:db8::1");
    assert_eq!(u.port, None);
    assert_eq!(u.host_ip(), Some("2001:db8::1".parse().unwrap()));
    let u = parse_sip_uri(b"sip:+1;phone-context=x@host.example;user=phone").unwrap();
    assert_eq!(u.host, b"host.example");
    assert!(u.has_param(b"user"));
    assert_eq!(parse_sip_uri(b"sips:a@b"), Err(UriError::Scheme));
    assert_eq!(parse_sip_uri(b"tel:+123"), Err(UriError::Scheme));
    assert_eq!(parse_sip_uri(b"nocolon"), Err(UriError::Scheme));
    assert_eq!(parse_sip_uri(b"sip:a@"), Err(UriError::Malformed));
    assert_eq!(parse_sip_uri(b"sip:h:99999"), Err(UriError::Malformed));
    assert_eq!(parse_sip_uri(b"sip:[::1"), Err(UriError::Malformed));
    assert_eq!(parse_sip_uri(b"sip:h x"), Err(UriError::Malformed));
}

#[test]
fn name_addrs() {
    let v = b"\"A <b>, c\" <sip:a@h;lr>;tag=9";
    let (uri, p) = split_name_addr(v);
    assert_eq!(uri, b"sip:a@h;lr");
    assert_eq!(&v[p], b";tag=9");
    let v = b"sip:a@h;tag=3";
    let (uri, p) = split_name_addr(v);
    assert_eq!(uri, b"sip:a@h");
    assert_eq!(&v[p], b";tag=3");
    assert_eq!(
        header_param(b"<sip:a@h;tag=no>;TAG=yes", b"tag"),
        Some(&b"yes"[..])
    );
    assert_eq!(header_param(b"<sip:a@h;tag=no>", b"tag"), None);
    assert_eq!(header_param(b"Bob <sip:b@h", b"tag"), None);
}

#[test]
fn param_ranges() {
    let t = b"h:5060 ; rport ;received= 1.2.3.4;x=\"a;b\";;branch=z";
    let ps: Vec<Param> = params(t).collect();
    let names: Vec<&[u8]> = ps.iter().map(|p| p.name_in(t)).collect();
    assert_eq!(names, [&b"rport"[..], b"received", b"x", b"branch"]);
    assert_eq!(ps[0].value, None);
    assert_eq!(&t[ps[0].whole.clone()], b"rport");
    assert_eq!(ps[1].value_in(t), Some(&b"1.2.3.4"[..]));
    assert_eq!(ps[2].value_in(t), Some(&b"\"a;b\""[..]));
    assert_eq!(ps[3].value_in(t), Some(&b"z"[..]));
    assert_eq!(find_param(t, b"RECEIVED"), Some(ps[1].clone()));
    assert_eq!(find_param(t, b"maddr"), None);
    assert!(params(b"no params").next().is_none());
}

#[test]
fn lexical_helpers() {
    assert_eq!(trim_lws(b"\r\n\t a b \r\n "), b"a b");
    assert_eq!(trim_lws(b" \t "), b"");
    assert_eq!(lex::parse_port(b"65535"), Some(65535));
    for bad in [&b""[..], b"65536", b"005060", b"50a", b"-1"] {
        assert_eq!(lex::parse_port(bad), None);
    }
    let comma = |s: &[u8]| lex::find_unquoted(s, |b| b == b',');
    assert_eq!(comma(b"\"a,\\\",b\" ,c"), Some(9));
    assert_eq!(comma(b"\"unterminated, quote"), None);
    assert_eq!(comma(b"a\\,b"), Some(2));
}

/// Every string over `alphabet` up to `max` bytes long.
fn all_strings(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut layer = vec![Vec::new()];
    for _ in 0..max {
        let mut next = Vec::new();
        for s in &layer {
            for &b in alphabet {
                let mut t = s.clone();
                t.push(b);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

#[test]
fn the_memchr_scanners_agree_with_the_byte_loops() {
    // Exhaustive over short strings: the fast paths must give the byte loop's answer for
    // quotes, escapes, unterminated quotes and brackets in every order.
    for s in all_strings(b",;\"\\<>x", 7) {
        assert_eq!(
            lex::find_unquoted_byte(&s, b';'),
            lex::find_unquoted(&s, |b| b == b';'),
            "{:?}",
            String::from_utf8_lossy(&s)
        );
        assert_eq!(
            headers::element_len_fast(&s),
            headers::element_len_loop(&s),
            "{:?}",
            String::from_utf8_lossy(&s)
        );
    }
}
