//! The metrics listener on its own (short limits, so timeouts are quick to see) and the
//! runtime's families: connect times recorded for connects TCP main completes and for
//! blocking ones, a scrape that passes `promtool check metrics`, a slow trickle cut at the
//! request deadline, the client bound, prompt shutdown, a panicking source. Every wait has
//! a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sipwire_control::metrics::{
    self, render, Limits, MetricSet, MetricsServer, MetricsSource, RuntimeMetrics,
};
use sipwire_testkit::prelude::{require_program, start, wait_for, Deadline, WAIT};

const PROMTOOL: &str = "/usr/bin/promtool";

/// A source of one gauge.
struct Fixed;

impl MetricsSource for Fixed {
    fn collect(&self, out: &mut MetricSet) {
        out.gauge("sipwire_test_gauge", "A test gauge.", 42);
    }
}

fn short() -> Limits {
    Limits {
        max_clients: 2,
        max_head: 1024,
        request_timeout: Duration::from_millis(400),
        write_timeout: Duration::from_secs(2),
    }
}

fn server(source: Arc<dyn MetricsSource>) -> MetricsServer {
    metrics::serve_with("127.0.0.1:0".parse().unwrap(), source, short()).unwrap()
}

/// Sends `request`, shuts the write side, returns the whole answer.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.write_all(request);
    let _ = s.shutdown(Shutdown::Write);
    answer(&mut s)
}

fn answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn promtool_check(body: &str) {
    require_program(PROMTOOL, "prometheus");
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "{said}\n{body}"
    );
}

fn value(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
        .parse()
        .unwrap()
}

/// Sends to a fresh listener through the runtime and waits for the connection to come up.
fn connect_through(t: &sipwire::Transport) -> TcpStream {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let msg = b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    t.send(l.local_addr().unwrap(), msg).unwrap();
    let (s, _) = l.accept().unwrap();
    s
}

#[test]
fn connect_times_are_recorded_async_and_blocking() {
    for mode in ["tcp_async=yes", "tcp_async=no"] {
        let (rt, _rec, _addr) = start(mode);
        let t = rt.transport();
        let source = RuntimeMetrics::new(t.clone());
        let before = render(&source).unwrap();
        assert_eq!(value(&before, "sipwire_connect_time_seconds_count"), 0);
        let _peers: Vec<TcpStream> = (0..3).map(|_| connect_through(&t)).collect();
        // The async connects are completed by TCP main after the peer accepted.
        wait_for("three connect times", WAIT, || {
            t.connect_time().count() == 3
        });
        let after = render(&source).unwrap();
        assert_eq!(
            value(&after, "sipwire_connect_time_seconds_count"),
            3,
            "{mode}"
        );
        assert_eq!(value(&after, "sipwire_connections_established_total"), 3);
        assert_eq!(value(&after, "sipwire_connect_attempts_total"), 3);
        assert_eq!(
            value(&after, "sipwire_connect_time_seconds_bucket{le=\"+Inf\"}"),
            3
        );
        assert_eq!(value(&after, "sipwire_connections"), 3);
        promtool_check(&after);
        rt.shutdown();
    }
}

#[test]
fn failed_connects_are_not_timed() {
    let (rt, _rec, _addr) = start("");
    let t = rt.transport();
    // A port nobody listens on: refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _ = t.send(port, b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n");
    let source = RuntimeMetrics::new(t.clone());
    wait_for("the failure counted", WAIT, || {
        value(
            &render(&source).unwrap(),
            "sipwire_connect_results_total{result=\"failure\"}",
        ) == 1
    });
    assert_eq!(t.connect_time().count(), 0);
    rt.shutdown();
}

#[test]
fn the_listener_answers_and_times_out_a_trickle() {
    let srv = server(Arc::new(Fixed));
    let addr = srv.local_addr();
    let a = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 200 OK\r\n"), "{a}");
    assert!(a.contains("\r\nConnection: close\r\n"), "{a}");
    assert!(
        a.ends_with("\nsipwire_test_gauge 42\n") || a.contains("\nsipwire_test_gauge 42\n"),
        "{a}"
    );
    // A head that stops before its end, then EOF: 400.
    let a = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost");
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    // Too large for max_head (1024 here): 431.
    let big = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(2000));
    assert!(exchange(addr, big.as_bytes()).starts_with("HTTP/1.1 431 "));

    // One byte every 50 ms never completes a head: the deadline counts from the connect,
    // not from the last byte.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in b"GET /metrics HTTP/1.1\r\nX-Slow: "
        .iter()
        .cycle()
        .take(200)
    {
        if s.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        let mut probe = [0u8; 64];
        s.set_nonblocking(true).unwrap();
        let r = s.read(&mut probe);
        s.set_nonblocking(false).unwrap();
        if let Ok(n) = r {
            assert!(String::from_utf8_lossy(&probe[..n]).starts_with("HTTP/1.1 408 "));
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cut, "the trickle was never cut");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    srv.shutdown();
}

#[test]
fn clients_are_bounded_and_shutdown_is_prompt() {
    let srv = server(Arc::new(Fixed));
    let addr = srv.local_addr();
    // Two silent clients fill the slots; the third is turned away at once.
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Deadline::after(WAIT);
    let third = loop {
        let a = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
        if a.starts_with("HTTP/1.1 503 ") || deadline.passed() {
            break a;
        }
    };
    assert!(third.contains("\r\nRetry-After: 1\r\n"), "{third}");
    // Shutdown closes the held clients and returns within about a second.
    let started = Instant::now();
    srv.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for mut h in held {
        h.set_read_timeout(Some(WAIT)).unwrap();
        let _ = answer(&mut h); // EOF, or a 408 that raced the shutdown
    }
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn a_panicking_source_costs_one_scrape() {
    struct PanicsOnce(AtomicBool);
    impl MetricsSource for PanicsOnce {
        fn collect(&self, out: &mut MetricSet) {
            if !self.0.swap(true, Ordering::Relaxed) {
                panic!("a source bug (expected by this test)");
            }
            out.gauge("sipwire_test_gauge", "A test gauge.", 1);
        }
    }
    let srv = server(Arc::new(PanicsOnce(AtomicBool::new(false))));
    let first = exchange(srv.local_addr(), b"GET /metrics HTTP/1.0\r\n\r\n");
    assert_eq!(first, "", "the panicking scrape gets no answer");
    let second = exchange(srv.local_addr(), b"GET /metrics HTTP/1.0\r\n\r\n");
    assert!(second.starts_with("HTTP/1.1 200 OK"), "{second}");
    srv.shutdown();
}

#[test]
fn binding_a_taken_address_fails_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = metrics::serve(addr, Arc::new(Fixed)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}
