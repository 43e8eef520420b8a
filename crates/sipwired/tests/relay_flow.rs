//! sipwired as a built binary between a test UAC and a test UAS over loopback TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::Command;

use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// A UAS listening on loopback.
struct Uas {
    listener: TcpListener,
}

impl Uas {
    fn new() -> Uas {
        Uas {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn accept(&self) -> SipConn {
        // The relay connects when it forwards the first request.
        self.listener.set_nonblocking(false).unwrap();
        let (s, _) = self.listener.accept().unwrap();
        SipConn::from(s)
    }
}

fn request(
    method: &str,
    uac: &SipConn,
    ruri: &str,
    branch: &str,
    cseq: &str,
    extra: &str,
) -> String {
    let me = uac.local();
    let body = if method == "INVITE" {
        "v=0\r\ns=-\r\n"
    } else {
        ""
    };
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/TCP {me};branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=alice-1\r\n\
To: <sip:bob@example.com>{to_tag}\r\n\
Call-ID: flow-1@test\r\n\
CSeq: {cseq}\r\n\
Contact: <sip:alice@{me};transport=tcp>\r\n\
X-Opaque: some bytes; \"quoted, stuff\"\r\n\
{extra}Content-Length: {len}\r\n\r\n{body}",
        to_tag = if method == "BYE" { ";tag=uas-1" } else { "" },
        len = body.len()
    )
}

fn vias(msg: &str) -> Vec<&str> {
    headers(msg, "Via")
}

#[test]
fn invite_ack_bye_through_the_relay() {
    let uas = Uas::new();
    let fwd = format!("tcp:127.0.0.1:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let mut uac = SipConn::connect(d.addr);
    let ruri = "sip:bob@example.com";

    let invite = request("INVITE", &uac, ruri, "z9hG4bK-inv-1", "1 INVITE", "");
    uac.send(&invite);
    let mut up = uas.accept();
    let got = up.recv();
    assert_eq!(start_line(&got), "INVITE sip:bob@example.com SIP/2.0");
    let v = vias(&got);
    assert_eq!(v.len(), 2, "{got}");
    assert!(
        v[0].starts_with(&format!("SIP/2.0/TCP {};branch=z9hG4bKsWd.", d.addr)),
        "{}",
        v[0]
    );
    assert_eq!(
        v[1],
        format!("SIP/2.0/TCP {};branch=z9hG4bK-inv-1", uac.local())
    );
    assert_eq!(header(&got, "Max-Forwards"), Some("69"));
    assert_eq!(
        header(&got, "X-Opaque"),
        Some("some bytes; \"quoted, stuff\"")
    );
    assert!(got.ends_with("\r\n\r\nv=0\r\ns=-\r\n"));
    let our_branch = v[0].split(";branch=").nth(1).unwrap().to_string();

    // A retransmission of the INVITE gets the same branch.
    uac.send(&invite);
    let again = up.recv();
    assert_eq!(again, got);

    up.send(&response_to(&got, "100 Trying", ""));
    up.send(&response_to(&got, "180 Ringing", ""));
    up.send(&response_to(
        &got,
        "200 OK",
        "Contact: <sip:bob@127.0.0.1>\r\n",
    ));
    for status in ["100 Trying", "180 Ringing", "200 OK"] {
        let r = uac.recv();
        assert_eq!(start_line(&r), format!("SIP/2.0 {status}"));
        assert_eq!(
            vias(&r),
            [format!("SIP/2.0/TCP {};branch=z9hG4bK-inv-1", uac.local())]
        );
        assert!(header(&r, "To").unwrap().ends_with(";tag=uas-1"));
    }

    // ACK for the 2xx: a new transaction, its own branch.
    uac.send(&request("ACK", &uac, ruri, "z9hG4bK-ack-1", "1 ACK", ""));
    let ack = up.recv();
    assert_eq!(start_line(&ack), "ACK sip:bob@example.com SIP/2.0");
    assert_ne!(
        vias(&ack)[0],
        format!("SIP/2.0/TCP {};branch={our_branch}", d.addr)
    );

    // BYE and its 200, over the same connections.
    uac.send(&request("BYE", &uac, ruri, "z9hG4bK-bye-1", "2 BYE", ""));
    let bye = up.recv();
    assert_eq!(start_line(&bye), "BYE sip:bob@example.com SIP/2.0");
    up.send(&response_to(&bye, "200 OK", ""));
    let r = uac.recv();
    assert_eq!(start_line(&r), "SIP/2.0 200 OK");
    assert_eq!(header(&r, "CSeq"), Some("2 BYE"));
    assert_eq!(vias(&r).len(), 1);

    let (st, c) = d.stop();
    assert!(st.success(), "{st:?}");
    assert_eq!(counter(&c, "requests_relayed"), 4);
    assert_eq!(counter(&c, "responses_relayed"), 4);
    assert_eq!(counter(&c, "send_failures"), 0);
}

#[test]
fn cancel_flow() {
    let uas = Uas::new();
    let fwd = format!("tcp:127.0.0.1:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let mut uac = SipConn::connect(d.addr);
    let ruri = "sip:bob@example.com";

    uac.send(&request(
        "INVITE",
        &uac,
        ruri,
        "z9hG4bK-c-1",
        "1 INVITE",
        "",
    ));
    let mut up = uas.accept();
    let inv = up.recv();
    up.send(&response_to(&inv, "180 Ringing", ""));
    assert_eq!(start_line(&uac.recv()), "SIP/2.0 180 Ringing");

    // CANCEL: same top Via branch as the INVITE, so the relay gives it the same branch too.
    uac.send(&request(
        "CANCEL",
        &uac,
        ruri,
        "z9hG4bK-c-1",
        "1 CANCEL",
        "",
    ));
    let cancel = up.recv();
    assert_eq!(start_line(&cancel), "CANCEL sip:bob@example.com SIP/2.0");
    assert_eq!(vias(&cancel)[0], vias(&inv)[0]);
    up.send(&response_to(&cancel, "200 OK", ""));
    up.send(&response_to(&inv, "487 Request Terminated", ""));
    let r1 = uac.recv();
    assert_eq!(start_line(&r1), "SIP/2.0 200 OK");
    assert_eq!(header(&r1, "CSeq"), Some("1 CANCEL"));
    let r2 = uac.recv();
    assert_eq!(start_line(&r2), "SIP/2.0 487 Request Terminated");

    // ACK for the non-2xx: the INVITE's branch again, hop by hop.
    uac.send(&request("ACK", &uac, ruri, "z9hG4bK-c-1", "1 ACK", ""));
    let ack = up.recv();
    assert_eq!(start_line(&ack), "ACK sip:bob@example.com SIP/2.0");
    assert_eq!(vias(&ack)[0], vias(&inv)[0]);

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3);
    assert_eq!(counter(&c, "responses_relayed"), 3);
}

#[test]
fn max_forwards_zero_gets_483_and_the_request_goes_nowhere() {
    let uas = Uas::new();
    let fwd = format!("tcp:127.0.0.1:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let mut uac = SipConn::connect(d.addr);
    let ruri = "sip:bob@example.com";

    let opts = request("OPTIONS", &uac, ruri, "z9hG4bK-o-1", "1 OPTIONS", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    uac.send(&opts);
    let r = uac.recv();
    assert_eq!(start_line(&r), "SIP/2.0 483 Too Many Hops");
    assert_eq!(
        vias(&r),
        [format!("SIP/2.0/TCP {};branch=z9hG4bK-o-1", uac.local())]
    );
    assert!(header(&r, "To").unwrap().contains(";tag="));
    assert_eq!(header(&r, "Call-ID"), header(&opts, "Call-ID"));
    assert_eq!(header(&r, "CSeq"), Some("1 OPTIONS"));
    assert_eq!(header(&r, "Content-Length"), Some("0"));

    // An ACK with Max-Forwards 0 is dropped without a reply; then a good request: it is the
    // first thing the UAS sees, and the next thing the UAC gets is its answer.
    let ack = request("ACK", &uac, ruri, "z9hG4bK-o-2", "1 ACK", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    uac.send(&ack);
    let good = request("OPTIONS", &uac, ruri, "z9hG4bK-o-3", "2 OPTIONS", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 1");
    uac.send(&good);
    let mut up = uas.accept();
    let got = up.recv();
    assert_eq!(header(&got, "CSeq"), Some("2 OPTIONS"));
    assert_eq!(header(&got, "Max-Forwards"), Some("0"));
    up.send(&response_to(&got, "200 OK", ""));
    assert_eq!(header(&uac.recv(), "CSeq"), Some("2 OPTIONS"));

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "replies_483"), 1);
    assert_eq!(counter(&c, "dropped_ack"), 1);
    assert_eq!(counter(&c, "requests_relayed"), 1);
}

#[test]
fn routes_by_request_uri_and_loose_route_without_forward() {
    let uas = Uas::new();
    // Loopback destinations allowed (the UAS, and the dead port of the 503 case).
    let d = Daemon::start(SIPWIRED, &["--relay-allow", "127.0.0.0/8"]);
    let mut uac = SipConn::connect(d.addr);

    // Request-URI host:port.
    let ruri = format!("sip:bob@127.0.0.1:{};transport=tcp", uas.port());
    uac.send(&request(
        "OPTIONS",
        &uac,
        &ruri,
        "z9hG4bK-r-1",
        "1 OPTIONS",
        "",
    ));
    let mut up = uas.accept();
    let got = up.recv();
    assert_eq!(header(&got, "CSeq"), Some("1 OPTIONS"));
    up.send(&response_to(&got, "200 OK", ""));
    assert_eq!(start_line(&uac.recv()), "SIP/2.0 200 OK");

    // Our own Route is removed, the next loose Route decides (the R-URI points elsewhere).
    let route = format!(
        "Route: <sip:{};lr>\r\nRoute: <sip:127.0.0.1:{};lr>\r\n",
        d.addr,
        uas.port()
    );
    uac.send(&request(
        "OPTIONS",
        &uac,
        "sip:bob@192.0.2.1:9",
        "z9hG4bK-r-2",
        "2 OPTIONS",
        &route,
    ));
    let got = up.recv();
    assert_eq!(header(&got, "CSeq"), Some("2 OPTIONS"));
    assert_eq!(
        headers(&got, "Route"),
        [format!("<sip:127.0.0.1:{};lr>", uas.port())]
    );
    up.send(&response_to(&got, "200 OK", ""));
    assert_eq!(header(&uac.recv(), "CSeq"), Some("2 OPTIONS"));

    // Next hop refuses connections: 503 back to the UAC.
    let dead = free_port();
    let ruri = format!("sip:bob@127.0.0.1:{dead}");
    uac.send(&request(
        "OPTIONS",
        &uac,
        &ruri,
        "z9hG4bK-r-3",
        "3 OPTIONS",
        "",
    ));
    let r = uac.recv();
    assert!(start_line(&r).starts_with("SIP/2.0 503 "), "{r}");

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "send_failures"), 1);
    assert_eq!(counter(&c, "replies_other"), 1);
}

/// The `names:` line of the start report: the configured names and their addresses.
fn names_line(d: &Daemon) -> String {
    let lines = d.lines.lock().unwrap();
    let l = lines.iter().find(|l| l.starts_with("names: "));
    l.cloned().unwrap_or_default()
}

#[test]
fn routes_by_an_allowed_name_resolved_at_start() {
    // `localhost` comes from /etc/hosts; an unresolvable allowed name is not fatal.
    let d = Daemon::start(
        SIPWIRED,
        &[
            "--relay-allow",
            "LocalHost,nosuch.invalid",
            "--resolve-interval",
            "1",
        ],
    );
    let names = names_line(&d);
    assert!(names.contains("nosuch.invalid=unresolved"), "{names}");
    let ip = names
        .split([' ', ','])
        .find_map(|w| w.strip_prefix("localhost="))
        .unwrap_or_else(|| panic!("localhost not resolved: {names}"))
        .to_string();
    // The UAS listens where the relay will connect.
    let listener = TcpListener::bind((ip.parse::<std::net::IpAddr>().unwrap(), 0)).unwrap();
    let uas = Uas { listener };
    let mut uac = SipConn::connect(d.addr);
    let ruri = format!("sip:x@localhost:{};transport=tcp", uas.port());
    uac.send(&request(
        "OPTIONS",
        &uac,
        &ruri,
        "z9hG4bK-n-1",
        "1 OPTIONS",
        "",
    ));
    let mut up = uas.accept();
    let got = up.recv();
    assert_eq!(start_line(&got), format!("OPTIONS {ruri} SIP/2.0"));
    up.send(&response_to(&got, "200 OK", ""));
    assert_eq!(start_line(&uac.recv()), "SIP/2.0 200 OK");

    // The allowed name that did not resolve: 503, still after refreshes.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    uac.send(&request(
        "OPTIONS",
        &uac,
        "sip:x@nosuch.invalid",
        "z9hG4bK-n-2",
        "2 OPTIONS",
        "",
    ));
    let r = uac.recv();
    assert_eq!(
        start_line(&r),
        "SIP/2.0 503 Service Unavailable (cannot resolve next hop)"
    );
    // Names the client made up (not allowed): 403, never looked up; the relay still
    // routes by the allowed name afterwards.
    for (i, ruri) in ["sip:x@nosuch2.invalid", "sip:x@localhost.evil.invalid"]
        .iter()
        .enumerate()
    {
        uac.send(&request(
            "OPTIONS",
            &uac,
            ruri,
            &format!("z9hG4bK-n-{}", i + 3),
            &format!("{} OPTIONS", i + 3),
            "",
        ));
        assert_eq!(start_line(&uac.recv()), "SIP/2.0 403 Forbidden", "{ruri}");
    }
    let ruri = format!("sip:x@LOCALHOST:{}", uas.port());
    uac.send(&request(
        "OPTIONS",
        &uac,
        &ruri,
        "z9hG4bK-n-9",
        "9 OPTIONS",
        "",
    ));
    let got = up.recv();
    assert_eq!(header(&got, "CSeq"), Some("9 OPTIONS"));
    up.send(&response_to(&got, "200 OK", ""));
    assert_eq!(header(&uac.recv(), "CSeq"), Some("9 OPTIONS"));

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 2);
    assert_eq!(counter(&c, "refused_destinations"), 2);
}

#[test]
fn forward_to_a_name() {
    let d = Daemon::start(SIPWIRED, &["--forward", "tcp:nosuch.invalid:5060"]);
    assert!(names_line(&d).contains("nosuch.invalid=unresolved"));
    let mut uac = SipConn::connect(d.addr);
    uac.send(&request(
        "OPTIONS",
        &uac,
        "sip:x@10.0.0.1",
        "z9hG4bK-fn-1",
        "1 OPTIONS",
        "",
    ));
    assert_eq!(
        start_line(&uac.recv()),
        "SIP/2.0 503 Service Unavailable (cannot resolve next hop)"
    );
    assert!(d.stop().0.success());

    let uas = Uas::new();
    let fwd = format!("tcp:localhost:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd, "--resolve-interval", "0"]);
    let names = names_line(&d);
    assert!(names.contains("resolved at start only"), "{names}");
    if names.contains("localhost=127.0.0.1") {
        let mut uac = SipConn::connect(d.addr);
        uac.send(&request(
            "OPTIONS",
            &uac,
            "sip:x@example.com",
            "z9hG4bK-fn-2",
            "2 OPTIONS",
            "",
        ));
        let mut up = uas.accept();
        let got = up.recv();
        up.send(&response_to(&got, "200 OK", ""));
        assert_eq!(start_line(&uac.recv()), "SIP/2.0 200 OK");
    }
    assert!(d.stop().0.success());
}

#[test]
fn foreign_responses_and_garbage_are_dropped_non_sip_closes() {
    let uas = Uas::new();
    let fwd = format!("tcp:127.0.0.1:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);

    // A response whose top Via is not ours, and one with a SIP start line but a broken
    // header: dropped, the connection stays usable.
    let mut peer = SipConn::connect(d.addr);
    peer.send(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.0.2.7:5060;branch=z9hG4bK-x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    peer.send("OPTIONS sip:a@b SIP/2.0\r\nnot a header\r\nContent-Length: 0\r\n\r\n");
    let opts = request(
        "OPTIONS",
        &peer,
        "sip:bob@x",
        "z9hG4bK-g-1",
        "1 OPTIONS",
        "",
    );
    peer.send(&opts);
    let mut up = uas.accept();
    assert_eq!(header(&up.recv(), "CSeq"), Some("1 OPTIONS"));

    // Not SIP at all: the relay closes that connection.
    let mut junk = SipConn::connect(d.addr);
    junk.send("HELLO WORLD\r\nContent-Length: 0\r\n\r\n");
    assert!(junk.closed_by_peer(), "non-SIP peer not disconnected");

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "dropped_not_ours"), 1);
    assert_eq!(counter(&c, "dropped_parse_error"), 1);
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(SIPWIRED).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_line_and_exit_codes() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit status") && out.contains("--forward"));
    let (code, out, _) = run(&["-V"]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("sipwired {}", env!("CARGO_PKG_VERSION")).as_str()
        )
    );

    let (code, default_cfg, _) = run(&["--print-default-config"]);
    assert_eq!(code, 0);
    assert!(default_cfg.contains("\nlisten=tcp:127.0.0.1:5060\n"));
    let (code, out, _) = run(&["--check-config"]);
    assert_eq!((code, out.as_str()), (0, "config OK\n"));

    let dir = TempDir::new("cli");
    // The printed default is a valid file.
    let f = dir.join("default.cfg");
    std::fs::write(&f, &default_cfg).unwrap();
    let (code, out, _) = run(&["-f", f.to_str().unwrap(), "--check-config"]);
    assert_eq!((code, out.as_str()), (0, "config OK\n"));
    // Warnings are printed, still OK.
    let f = dir.join("warn.cfg");
    std::fs::write(&f, "listen=tcp:127.0.0.1:5070\nloadmodule \"tm.so\"\n").unwrap();
    let (code, out, err) = run(&["-f", f.to_str().unwrap(), "--check-config"]);
    assert_eq!((code, out.as_str()), (0, "config OK\n"));
    assert!(err.contains("warning"), "{err}");
    // Errors: exit 2, with the line.
    let f = dir.join("bad.cfg");
    std::fs::write(&f, "listen=tcp:127.0.0.1:5070\ntcp_children=many\n").unwrap();
    let (code, _, err) = run(&["-f", f.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, 2);
    assert!(err.contains(":2") || err.contains("line 2"), "{err}");
    assert_eq!(run(&["--nope"]).0, 2);
    assert_eq!(
        run(&["--forward", "udp:127.0.0.1:5060", "--check-config"]).0,
        2
    );
    assert_eq!(
        run(&["--listen", "tcp:localhost:5060", "--check-config"]).0,
        2
    );
    // Bad --relay-allow entries and secrets: exit 2; good ones pass the check.
    assert_eq!(
        run(&["--relay-allow", "10.0.0.0/33", "--check-config"]).0,
        2
    );
    assert_eq!(run(&["--relay-secret", "abc", "--check-config"]).0, 2);
    assert_eq!(run(&["--resolve-interval", "soon", "--check-config"]).0, 2);
    // A configured name that does not resolve is a warning, not an error.
    let (code, out, err) = run(&["--relay-allow", "nosuch.invalid", "--check-config"]);
    assert_eq!((code, out.as_str()), (0, "config OK\n"));
    assert!(err.contains("nosuch.invalid does not resolve"), "{err}");
    let (code, out, _) = run(&[
        "--relay-allow",
        "127.0.0.0/8,[::1]:5060",
        "--relay-secret",
        "00112233445566778899aabbccddeeff",
        "--check-config",
    ]);
    assert_eq!((code, out.as_str()), (0, "config OK\n"));

    // Bind failure: exit 3.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = format!("tcp:{}", busy.local_addr().unwrap());
    let ctl = dir.join("ctl.sock");
    let (code, _, err) = run(&["--listen", &listen, "--ctl", ctl.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn config_file_poll_method_and_port_zero_are_reported() {
    let dir = TempDir::new("cfg");
    let f = dir.join("s.cfg");
    std::fs::write(
        &f,
        "listen=tcp:127.0.0.1:0\ntcp_poll_method=poll\ntcp_children=3\n",
    )
    .unwrap();
    let d = Daemon::start(SIPWIRED, &["-f", f.to_str().unwrap()]);
    assert_ne!(d.addr.port(), 0);
    let lines = d.lines.lock().unwrap().clone();
    assert!(
        lines.contains(&"poll method: poll (tcp_poll_method = poll)".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"readers: 3 (tcp_children)".to_string()));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("control socket: ") && l.ends_with("ctl.sock")));
    let (st, _) = d.stop();
    assert!(st.success());
}

#[test]
fn responses_to_a_proxied_client_go_back_over_the_balancers_connection() {
    // Behind a balancer (`tcp_accept_haproxy`): the request's source is the PROXY address,
    // which the relay cannot (and must not) connect to; the response follows the `cid` of our
    // Via back over the balancer's connection the request came in on.
    let uas = Uas::new();
    let dir = TempDir::new("cfg");
    let f = dir.join("s.cfg");
    std::fs::write(&f, "listen=tcp:127.0.0.1:0\ntcp_accept_haproxy=yes\n").unwrap();
    let fwd = format!("tcp:127.0.0.1:{}", uas.port());
    let d = Daemon::start(SIPWIRED, &["-f", f.to_str().unwrap(), "--forward", &fwd]);
    let mut lb = SipConn::connect(d.addr);
    let client = "198.51.100.7:40000";
    let req = format!(
        "PROXY TCP4 198.51.100.7 {} 40000 {}\r\n\
OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP {client};branch=z9hG4bK-lb-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: lb-1@test\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n",
        d.addr.ip(),
        d.addr.port()
    );
    lb.send(&req);
    let mut up = uas.accept();
    let got = up.recv();
    let v = vias(&got);
    assert_eq!(v.len(), 2, "{got}");
    assert!(
        v[1].starts_with(&format!("SIP/2.0/TCP {client};branch=z9hG4bK-lb-1")),
        "{}",
        v[1]
    );
    up.send(&response_to(&got, "200 OK", ""));
    let r = lb.recv();
    assert_eq!(start_line(&r), "SIP/2.0 200 OK");
    assert_eq!(header(&r, "Call-ID"), Some("lb-1@test"));
    let (st, c) = d.stop();
    assert!(st.success(), "{st:?}");
    assert_eq!(counter(&c, "responses_relayed"), 1);
    assert_eq!(counter(&c, "send_failures"), 0);
}
