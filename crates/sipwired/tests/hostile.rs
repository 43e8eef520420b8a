//! Hostile clients against the built binary, over loopback: forged responses (our address and
//! branch prefix, bad MACs), cid enumeration, responses looping to the relay, requests to
//! destinations not allowed, a secret shared by two instances, and a bystander's latency while
//! an attacker floods forged responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// A 128-bit secret for the shared-key tests.
const SECRET: &str = "5eb63bbbe01eeed093cb22bb8f5acdc3";

/// How long "never happens" is watched for, once the relay has counted the messages.
const QUIET: Duration = Duration::from_millis(300);

/// A listener (a UAS, or a trap that must never be connected to).
struct Listener(TcpListener);

impl Listener {
    fn new() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Listener(l)
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    /// The next connection within [`WAIT`].
    fn accept(&self) -> SipConn {
        let deadline = Deadline::after(WAIT);
        loop {
            match self.0.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    return SipConn::from(s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && !deadline.passed() => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("no connection to {}: {e}", self.addr()),
            }
        }
    }

    /// Panics if anyone connects within `quiet`.
    fn assert_no_connection(&self, quiet: Duration) {
        let deadline = Deadline::after(quiet);
        while !deadline.passed() {
            match self.0.accept() {
                Ok((_, from)) => panic!("{from} connected to the trap {}", self.addr()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// The relay counters, read over the control socket (`stats.get`, `relay.` prefix).
fn relay_counter(sock: &Path, name: &str) -> u64 {
    let argv = ["-s", sock.to_str().unwrap(), "--json", "stats.get"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = sipwire_ctl::main_with(argv, &mut out, &mut err);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v[format!("relay.{name}")]
        .as_u64()
        .unwrap_or_else(|| panic!("no relay.{name} in {v}"))
}

fn wait_counter(d: &Daemon, name: &str, want: u64) {
    let sock = d.ctl_socket();
    wait_for(&format!("relay.{name} = {want}"), WAIT, || {
        relay_counter(&sock, name) >= want
    });
}

/// An OPTIONS from `via` (its sent-by) with `branch`.
fn options(via: &str, ruri: &str, branch: &str, cseq: u32) -> String {
    format!(
        "OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/TCP {via};branch={branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:a@example.com>;tag=a\r\nTo: <sip:b@example.com>\r\nCall-ID: {branch}@test\r\n\
         CSeq: {cseq} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Panics if `c` has anything to read within `quiet`.
fn assert_silent(c: &mut SipConn, quiet: Duration) {
    c.stream.set_read_timeout(Some(quiet)).unwrap();
    let mut b = [0u8; 256];
    match c.stream.read(&mut b) {
        Ok(0) => panic!("connection closed"),
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        ),
    }
    c.stream.set_read_timeout(Some(WAIT)).unwrap();
}

/// A forged response: our address and branch prefix, made-up MAC and cid, `next` as the
/// second Via.
fn forged(ours: SocketAddr, cid: u64, next: SocketAddr, n: u64) -> String {
    format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP {ours};branch=z9hG4bKsWd.{n:016x}{:016x};cid={cid}.{:016x}\r\n\
         Via: SIP/2.0/TCP {next};branch=z9hG4bK-victim;received={}\r\n\
         From: <sip:a@example.com>;tag=a\r\nTo: <sip:b@example.com>;tag=x\r\nCall-ID: forged-{n}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        n ^ 0xdead_beef,
        next.ip()
    )
}

#[test]
fn forged_responses_are_dropped_never_delivered_never_connect() {
    let uas = Listener::new();
    let trap = Listener::new();
    let fwd = format!("tcp:{}", uas.addr());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);

    // The victim has a request in flight; its connection is open.
    let mut victim = SipConn::connect(d.addr);
    let me = victim.local();
    victim.send(&options(
        &me.to_string(),
        "sip:b@example.com",
        "z9hG4bK-v1",
        1,
    ));
    let mut up = uas.accept();
    let req = up.recv();

    // The attacker: cids 0..200 (the victim's is among the small ones), the trap as next hop;
    // plus the genuine Via of the victim's request with the second Via pointed at the trap.
    let mut attacker = SipConn::connect(d.addr);
    let n = 200u64;
    for cid in 0..n {
        attacker.send(&forged(d.addr, cid, trap.addr(), cid));
    }
    let genuine = response_to(&req, "200 OK", "");
    let redirected = genuine.replace(&me.to_string(), &trap.addr().to_string());
    attacker.send(&redirected);
    wait_counter(&d, "dropped_bad_mac", n + 1);
    trap.assert_no_connection(QUIET);
    assert_silent(&mut victim, QUIET);

    // The genuine response still goes through, to the victim's connection.
    up.send(&genuine);
    let r = victim.recv();
    assert_eq!(start_line(&r), "SIP/2.0 200 OK");
    assert_eq!(header(&r, "Call-ID"), Some("z9hG4bK-v1@test"));
    assert_silent(&mut victim, QUIET);

    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "dropped_bad_mac"), n + 1);
    assert_eq!(counter(&c, "responses_relayed"), 1);
    // The one connect: to the UAS.
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn responses_looping_to_the_relay_are_dropped() {
    let uas = Listener::new();
    let fwd = format!("tcp:{}", uas.addr());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let port = d.addr.port();
    let mut client = SipConn::connect(d.addr);
    // Previous-hop Vias that name us (the response's next hop would be the relay itself).
    let forms = [
        d.addr.to_string(),
        format!("0.0.0.0:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("127.0.0.7:{port}"),
        format!("[::]:{port}"),
    ];
    let mut up = None;
    for (i, via) in forms.iter().enumerate() {
        client.send(&options(
            via,
            "sip:b@example.com",
            &format!("z9hG4bK-l{i}"),
            1,
        ));
        let up = up.get_or_insert_with(|| uas.accept());
        let req = up.recv();
        up.send(&response_to(&req, "200 OK", ""));
    }
    wait_counter(&d, "dropped_loop", forms.len() as u64);
    assert_silent(&mut client, QUIET);
    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "responses_relayed"), 0);
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn destinations_not_allowed_get_403() {
    let uas = Listener::new();
    let other = Listener::new();
    let allow = uas.addr().to_string();
    // No --relay-allow at all: nothing is allowed.
    let closed = Daemon::start(SIPWIRED, &[]);
    let mut c = SipConn::connect(closed.addr);
    let ruri = format!("sip:b@{}", uas.addr());
    c.send(&options(&c.local().to_string(), &ruri, "z9hG4bK-f0", 1));
    let r = c.recv();
    assert_eq!(start_line(&r), "SIP/2.0 403 Forbidden");
    let (_, counters) = closed.stop();
    assert_eq!(counter(&counters, "refused_destinations"), 1);
    assert_eq!(counter(&counters, "runtime.connects"), 0);

    let d = Daemon::start(SIPWIRED, &["--relay-allow", &allow]);
    let mut c = SipConn::connect(d.addr);
    let me = c.local().to_string();
    // The allowed UAS: relayed, and its response comes back.
    c.send(&options(&me, &ruri, "z9hG4bK-f1", 1));
    let mut up = uas.accept();
    let req = up.recv();
    up.send(&response_to(&req, "200 OK", ""));
    assert_eq!(start_line(&c.recv()), "SIP/2.0 200 OK");
    // Another port on the same host, another host, a host name, a Route: 403, no connect.
    for (i, (ruri, extra)) in [
        (format!("sip:b@{}", other.addr()), ""),
        ("sip:b@192.0.2.1:5060".to_string(), ""),
        ("sip:b@localhost:5060".to_string(), ""),
        (ruri.clone(), "Route: <sip:192.0.2.1;lr>\r\n"),
    ]
    .iter()
    .enumerate()
    {
        let m = options(&me, ruri, &format!("z9hG4bK-f{}", i + 2), 1).replacen(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{extra}"),
            1,
        );
        c.send(&m);
        let r = c.recv();
        assert_eq!(start_line(&r), "SIP/2.0 403 Forbidden", "{ruri} {extra}");
    }
    other.assert_no_connection(QUIET);
    assert_eq!(relay_counter(&d.ctl_socket(), "refused_destinations"), 4);
    let (st, counters) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&counters, "requests_relayed"), 1);
    assert_eq!(counter(&counters, "replies_other"), 4);
    assert_eq!(counter(&counters, "runtime.connects"), 1);
}

#[test]
fn a_shared_secret_lets_one_instance_route_the_others_responses() {
    let uas = Listener::new();
    let fwd = format!("tcp:{}", uas.addr());
    let a = Daemon::start(SIPWIRED, &["--forward", &fwd, "--relay-secret", SECRET]);
    let dir = TempDir::new("secret");
    let file = dir.join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let b = Daemon::start(
        SIPWIRED,
        &["--forward", &fwd, "--relay-secret", file.to_str().unwrap()],
    );
    let c = Daemon::start(SIPWIRED, &["--forward", &fwd]);

    // The client listens on its Via's sent-by port: where a response goes when the
    // connection the request came in on is not there.
    let home = Listener::new();
    let mut client = SipConn::connect(a.addr);
    let req = options(
        &home.addr().to_string(),
        "sip:b@example.com",
        "z9hG4bK-s1",
        1,
    );
    client.send(&req);
    let mut up = uas.accept();
    let got = up.recv();
    let resp = response_to(&got, "200 OK", "");

    // Minted by A, sent to B (a balancer's choice): B accepts it and, since the connection
    // is A's, delivers it to the Via address.
    let mut to_b = SipConn::connect(b.addr);
    to_b.send(&resp);
    let mut back = home.accept();
    let r = back.recv();
    assert_eq!(start_line(&r), "SIP/2.0 200 OK");
    assert_eq!(header(&r, "Call-ID"), Some("z9hG4bK-s1@test"));
    // C has its own random key: dropped, no connect.
    let mut to_c = SipConn::connect(c.addr);
    to_c.send(&resp);
    wait_counter(&c, "dropped_bad_mac", 1);
    home.assert_no_connection(QUIET);
    assert_silent(&mut client, QUIET);

    let (_, cb) = b.stop();
    assert_eq!(counter(&cb, "responses_relayed"), 1);
    let (_, cc) = c.stop();
    assert_eq!(counter(&cc, "responses_relayed"), 0);
    let _ = a.stop();
}

#[test]
fn a_bystander_is_served_while_forged_responses_flood_in() {
    let uas = Listener::new();
    let fwd = format!("tcp:{}", uas.addr());
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);

    // The bystander's first request opens the relay's connection to the UAS; a UAS thread
    // answers everything on it.
    let mut bystander = SipConn::connect(d.addr);
    let me = bystander.local().to_string();
    bystander.send(&options(&me, "sip:b@example.com", "z9hG4bK-b0", 0));
    let up = uas.accept();
    let uas_thread = std::thread::spawn(move || {
        let writer = up.stream.try_clone().unwrap();
        let mut w = SipConn::from(writer);
        sipwire_testkit::sip::for_each_frame(up.stream.try_clone().unwrap(), |m| {
            let req = String::from_utf8_lossy(m).into_owned();
            w.send(&response_to(&req, "200 OK", ""));
        });
        let _ = up.stream.shutdown(std::net::Shutdown::Both);
    });
    assert_eq!(start_line(&bystander.recv()), "SIP/2.0 200 OK");

    // The attacker: N forged responses naming unreachable and blackholed next hops (a
    // connect attempt would stall a reader), written as fast as the socket takes them.
    const N: u64 = 10_000;
    let attack_addr = d.addr;
    let attacker = std::thread::spawn(move || {
        let mut a = SipConn::connect(attack_addr);
        let targets: [SocketAddr; 3] = [
            "10.255.255.1:5060".parse().unwrap(),
            "192.0.2.1:5060".parse().unwrap(),
            "127.0.0.1:9".parse().unwrap(),
        ];
        let t = Instant::now();
        let mut batch = String::new();
        for chunk in 0..N / 100 {
            batch.clear();
            for k in 0..100 {
                let n = chunk * 100 + k;
                batch += &forged(attack_addr, n % 64, targets[(n % 3) as usize], n);
            }
            a.send(&batch);
        }
        (t.elapsed(), a)
    });

    // Round trips until the relay has dropped every forged response (at least 20).
    let sock = d.ctl_socket();
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut rounds = 0u32;
    let flood = Instant::now();
    let deadline = Deadline::after(WAIT * 6);
    while rounds < 20 || relay_counter(&sock, "dropped_bad_mac") < N {
        assert!(!deadline.passed(), "the flood was not drained");
        rounds += 1;
        let t = Instant::now();
        bystander.send(&options(
            &me,
            "sip:b@example.com",
            &format!("z9hG4bK-b{rounds}"),
            rounds,
        ));
        let r = bystander.recv();
        let took = t.elapsed();
        assert_eq!(
            header(&r, "CSeq"),
            Some(format!("{rounds} OPTIONS").as_str())
        );
        worst = worst.max(took);
        total += took;
    }
    let drained = flood.elapsed();
    let (sent_in, _attacker_conn) = attacker.join().unwrap();
    eprintln!(
        "bystander: {rounds} round trips while {N} forged responses were sent (written in \
         {:.0} ms, all dropped within {:.0} ms): worst {:.3} ms, mean {:.3} ms",
        sent_in.as_secs_f64() * 1e3,
        drained.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3 / f64::from(rounds)
    );
    assert!(worst < Duration::from_secs(2), "worst round trip {worst:?}");
    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "dropped_bad_mac"), N);
    assert_eq!(counter(&c, "responses_relayed"), u64::from(rounds) + 1);
    assert_eq!(counter(&c, "runtime.connects"), 1);
    uas_thread.join().unwrap();
}

#[test]
fn a_next_hop_that_fails_at_once_gets_a_503() {
    // Refused (nobody listens): the connect completes on TCP main, the request waits on it;
    // its close event makes the handler send the kept 503 and count the failure. An ACK gets
    // nothing, but its failure is counted too.
    let dead = free_port();
    let fwd = format!("tcp:127.0.0.1:{dead}");
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let mut c = SipConn::connect(d.addr);
    let me = c.local().to_string();
    for i in 1..=3 {
        c.send(&options(
            &me,
            "sip:b@example.com",
            &format!("z9hG4bK-d{i}"),
            i,
        ));
        let r = c.recv();
        assert!(start_line(&r).starts_with("SIP/2.0 503 "), "{r}");
        assert_eq!(header(&r, "CSeq"), Some(format!("{i} OPTIONS").as_str()));
    }
    // An ACK gets nothing.
    c.send(
        &options(&me, "sip:b@example.com", "z9hG4bK-d9", 9)
            .replace("OPTIONS sip", "ACK sip")
            .replace("9 OPTIONS", "9 ACK"),
    );
    wait_counter(&d, "send_failures", 4);
    assert_silent(&mut c, QUIET);
    let (st, counters) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&counters, "replies_other"), 3);
    assert_eq!(counter(&counters, "send_failures"), 4);
    // Handed to the send path (then failed): all four.
    assert_eq!(counter(&counters, "requests_relayed"), 4);
}

#[test]
fn a_next_hop_that_never_reads_loses_no_request_each_is_delivered_or_answered_503() {
    // The next hop accepts every connection and reads nothing; the relay's queue toward it is
    // small and times out fast. A client bursts N requests (3 KB bodies, more than the
    // kernel's buffers hold): each is either read by the next hop in the end (what TCP had
    // accepted) or handed back by the runtime and answered 503 — by CSeq, none lost.
    const N: u32 = 8000;
    let nh = TcpListener::bind("127.0.0.1:0").unwrap();
    let fwd = format!("tcp:{}", nh.local_addr().unwrap());
    let dir = TempDir::new("hostile-stuck");
    let cfg = dir.join("sipwired.cfg");
    std::fs::write(
        &cfg,
        "tcp_conn_wq_max=8192\ntcp_send_timeout=1\ntcp_connect_timeout=1\n",
    )
    .unwrap();
    let d = Daemon::start(SIPWIRED, &["-f", cfg.to_str().unwrap(), "--forward", &fwd]);
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let acc2 = accepted.clone();
    nh.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let acceptor = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match nh.accept() {
                Ok((s, _)) => acc2.lock().unwrap().push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    let c = SipConn::connect(d.addr);
    let me = c.local().to_string();
    let mut w = c.stream.try_clone().unwrap();
    let body = "b".repeat(3000);
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        for i in 1..=N {
            let req = options(&me, "sip:b@example.com", &format!("z9hG4bK-s{i}"), i).replace(
                "Content-Length: 0\r\n\r\n",
                &format!("Content-Length: {}\r\n\r\n{body}", body.len()),
            );
            w.write_all(req.as_bytes()).unwrap();
        }
    });
    // The 503s, by CSeq, read meanwhile (a client that does not read would fill its own
    // queue).
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ans2 = answered.clone();
    let reader_stream = c.stream.try_clone().unwrap();
    reader_stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reader = std::thread::spawn(move || {
        for_each_frame(reader_stream, |f| {
            let r = String::from_utf8_lossy(f).to_string();
            assert!(start_line(&r).starts_with("SIP/2.0 503 "), "{r}");
            let cseq = header(&r, "CSeq").unwrap().split(' ').next().unwrap();
            ans2.lock().unwrap().push(cseq.parse::<u32>().unwrap());
        });
    });
    writer.join().unwrap();
    // Stuck connections time out (tcp_send_timeout) and hand their queues back; then the next
    // hop reads what TCP accepted on each connection.
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    acceptor.join().unwrap();
    let mut delivered = Vec::new();
    for s in accepted.lock().unwrap().drain(..) {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for_each_frame(s, |f| {
            let r = String::from_utf8_lossy(f).to_string();
            let cseq = header(&r, "CSeq").unwrap().split(' ').next().unwrap();
            delivered.push(cseq.parse::<u32>().unwrap());
        });
    }
    reader.join().unwrap();
    let answered = answered.lock().unwrap().clone();
    let dset: std::collections::BTreeSet<u32> = delivered.iter().copied().collect();
    let aset: std::collections::BTreeSet<u32> = answered.iter().copied().collect();
    let line = format!(
        "stuck next hop: N={N} delivered={} answered_503={}",
        delivered.len(),
        answered.len()
    );
    println!("{line}");
    assert_eq!(dset.len(), delivered.len(), "delivered twice: {line}");
    assert_eq!(aset.len(), answered.len(), "503 twice: {line}");
    assert!(dset.is_disjoint(&aset), "delivered and 503'd: {line}");
    assert!(!answered.is_empty(), "the queue never overflowed: {line}");
    let lost: Vec<u32> = (1..=N)
        .filter(|i| !dset.contains(i) && !aset.contains(i))
        .collect();
    assert!(
        lost.is_empty(),
        "lost {} requests: {lost:?}; {line}",
        lost.len()
    );
    let (st, counters) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&counters, "replies_other"), answered.len() as u64);
    assert_eq!(counter(&counters, "send_failures"), answered.len() as u64);
}
