//! sipwired's Prometheus listener (`--metrics`, `metrics_listen`): scrapes under load pass
//! `promtool check metrics` and their counters move with the traffic; hostile clients
//! (oversized heads, silence, other methods and paths, garbage, a crowd) are bounded and
//! do not stop scrapes or the SIP path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sipwire_control::metrics::{MAX_CLIENTS, REQUEST_TIMEOUT};
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");
/// Debian's `prometheus` package puts it here (`make test-deps` installs it).
const PROMTOOL: &str = "/usr/bin/promtool";

/// The address of the "metrics: http://ADDR/metrics" line.
fn metrics_addr(d: &Daemon) -> SocketAddr {
    let lines = d.lines.lock().unwrap();
    let l = lines
        .iter()
        .find_map(|l| l.strip_prefix("metrics: http://"))
        .unwrap_or_else(|| panic!("no metrics line in {lines:?}"));
    l.strip_suffix("/metrics").unwrap().parse().unwrap()
}

/// Sends `request` (then shuts the write side) and returns the whole answer.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    // The server may answer and stop reading before all of a large request is written.
    let _ = s.write_all(request);
    let _ = s.shutdown(Shutdown::Write);
    read_answer(&mut s)
}

/// Everything the server sends until it closes (a reset after the answer is fine).
fn read_answer(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !out.is_empty() => break,
            Err(e) => panic!(
                "reading the answer: {e} (got {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8(out).unwrap()
}

/// A scrape over HTTP/1.0: the body of a `200`.
fn scrape(addr: SocketAddr) -> String {
    let answer = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    body.to_string()
}

/// The value of sample `name` (with its labels, as written) in a scrape.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn value(body: &str, name: &str) -> f64 {
    sample(body, name).unwrap_or_else(|| panic!("no sample {name} in\n{body}"))
}

/// `promtool check metrics` on `body`: no problem reported at all.
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
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {} {said}\n{body}",
        out.status
    );
}

/// Every sample of every counter and histogram: (name with labels, value).
fn monotonic_samples(body: &str) -> Vec<(String, f64)> {
    let mut kinds = std::collections::HashMap::new();
    for l in body.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            let (n, k) = t.split_once(' ').unwrap();
            kinds.insert(n.to_string(), k.to_string());
        }
    }
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            let family = name.split('{').next()?;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| family.strip_suffix(s).filter(|f| kinds.contains_key(*f)))
                .unwrap_or(family);
            let kind = kinds.get(family)?;
            let v: f64 = v.parse().ok()?;
            (kind == "counter" || kind == "histogram").then(|| (name.to_string(), v))
        })
        .collect()
}

/// A UAS on its own thread: answers every request on every connection with `200 OK`.
fn spawn_uas() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let done = stop.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            if done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::spawn(move || {
                for_each_frame(s.try_clone().unwrap(), |frame| {
                    let req = String::from_utf8_lossy(frame).to_string();
                    if !req.starts_with("SIP/2.0") {
                        let _ = (&s).write_all(response_to(&req, "200 OK", "").as_bytes());
                    }
                });
            });
        }
    });
    (port, stop)
}

fn options(uac: &SipConn, n: usize) -> String {
    let me = uac.local();
    format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bK-m-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: m-{n}@test\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn scrapes_under_load_pass_promtool_and_the_counters_move() {
    require_program(PROMTOOL, "prometheus");
    const CALLS: usize = 300;
    let (uas_port, _uas) = spawn_uas();
    let fwd = format!("tcp:127.0.0.1:{uas_port}");
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd, "--metrics", "127.0.0.1:0"]);
    let m = metrics_addr(&d);
    assert_eq!(m.ip().to_string(), "127.0.0.1");
    assert_ne!(m.port(), 0, "the bound port is printed");

    let before = scrape(m);
    promtool_check(&before);
    assert_eq!(value(&before, "sipwire_messages_received_total"), 0.0);
    assert_eq!(value(&before, "sipwire_connect_time_seconds_count"), 0.0);
    assert!(value(&before, "sipwire_connections_limit") > 0.0);
    assert!(value(&before, "sipwire_open_fds") > 0.0);
    assert!(value(&before, "sipwire_max_fds") >= value(&before, "sipwire_open_fds"));

    // Load: round trips back to back on two client connections, while we scrape.
    let addr = d.addr;
    let load: Vec<_> = (0..2)
        .map(|k| {
            std::thread::spawn(move || {
                let mut uac = SipConn::connect(addr);
                for n in 0..CALLS / 2 {
                    uac.send(&options(&uac, k * 10_000 + n));
                    let r = uac.recv();
                    assert_eq!(start_line(&r), "SIP/2.0 200 OK", "{r}");
                }
            })
        })
        .collect();
    let mut under_load = String::new();
    wait_for("traffic in a scrape", WAIT, || {
        under_load = scrape(m);
        value(&under_load, "sipwire_messages_received_total") >= 20.0
    });
    promtool_check(&under_load);
    for t in load {
        t.join().unwrap();
    }
    let after = scrape(m);
    promtool_check(&after);

    // Requests in and responses in, all forwarded; one connection to the UAS.
    let calls = CALLS as f64;
    assert_eq!(
        value(&after, "sipwire_messages_received_total"),
        2.0 * calls
    );
    assert_eq!(
        value(
            &after,
            "sipwire_relay_forwarded_total{direction=\"request\"}"
        ),
        calls
    );
    assert_eq!(
        value(
            &after,
            "sipwire_relay_forwarded_total{direction=\"response\"}"
        ),
        calls
    );
    assert_eq!(
        value(&after, "sipwire_relay_time_seconds_count"),
        2.0 * calls
    );
    assert_eq!(
        value(&after, "sipwire_relay_time_seconds_bucket{le=\"+Inf\"}"),
        2.0 * calls
    );
    assert!(value(&after, "sipwire_relay_time_seconds_sum") > 0.0);
    assert_eq!(value(&after, "sipwire_connections_accepted_total"), 2.0);
    assert_eq!(value(&after, "sipwire_connections_established_total"), 1.0);
    assert_eq!(
        value(&after, "sipwire_connect_results_total{result=\"success\"}"),
        1.0
    );
    assert_eq!(
        value(&after, "sipwire_connect_results_total{result=\"failure\"}"),
        0.0
    );
    assert_eq!(value(&after, "sipwire_connect_time_seconds_count"), 1.0);
    assert_eq!(
        value(&after, "sipwire_connect_time_seconds_bucket{le=\"10\"}"),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "sipwire_relay_dropped_total{reason=\"parse_error\"}"
        ),
        0.0
    );
    assert!(value(&after, "sipwire_connections") >= 1.0);
    assert!(value(&after, "sipwire_sent_bytes_total") > value(&before, "sipwire_sent_bytes_total"));
    assert!(value(&after, "sipwire_metrics_responses_total{code=\"200\"}") >= 2.0);
    // Counters never go down from one scrape to the next.
    for (earlier, later) in [(&before, &under_load), (&under_load, &after)] {
        let later = monotonic_samples(later);
        for (name, v) in monotonic_samples(earlier) {
            let now = later
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} disappeared"))
                .1;
            assert!(now >= v, "{name} went down: {v} -> {now}");
        }
    }
    let (st, _) = d.stop();
    assert!(st.success(), "{st}");
}

/// The daemon's open descriptors, read from /proc.
fn fds_of(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", d.proc.pid()))
        .unwrap()
        .count()
}

/// A request to the relay gets its answer (403: no destination is allowed) while the
/// metrics listener is under attack.
fn sip_round_trip(d: &Daemon, n: usize) {
    let mut uac = SipConn::connect(d.addr);
    uac.send(&options(&uac, n));
    let r = uac.recv();
    assert!(start_line(&r).starts_with("SIP/2.0 403"), "{r}");
}

#[test]
fn hostile_clients_are_answered_and_bounded() {
    let d = Daemon::start(SIPWIRED, &["--metrics", "127.0.0.1:0"]);
    let m = metrics_addr(&d);

    let big = format!(
        "GET /metrics HTTP/1.1\r\n{}",
        "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(500)
    );
    let a = exchange(m, big.as_bytes());
    assert!(a.starts_with("HTTP/1.1 431 "), "{a}");
    let a = exchange(
        m,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(
        a.starts_with("HTTP/1.1 405 ") && a.contains("\r\nAllow: GET, HEAD\r\n"),
        "{a}"
    );
    let a = exchange(m, b"GET /other HTTP/1.1\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 404 "), "{a}");
    let a = exchange(m, b"GET / HTTP/1.0\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 404 "), "{a}");
    let a = exchange(
        m,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    );
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    let a = exchange(m, b"GET /metrics HTTP/9.9\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 400 "), "{a}");
    let a = exchange(m, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(
        a.starts_with("HTTP/1.1 200 ") && a.ends_with("\r\n\r\n"),
        "{a}"
    );

    // A client that says nothing does not hold up the next scrape, and is dropped with a
    // 408 after REQUEST_TIMEOUT.
    let mut silent = TcpStream::connect(m).unwrap();
    silent
        .set_read_timeout(Some(REQUEST_TIMEOUT + WAIT))
        .unwrap();
    let body = scrape(m);
    assert!(
        value(&body, "sipwire_metrics_clients") >= 1.0,
        "the silent one and us"
    );

    // A crowd: MAX_CLIENTS are served (silent, they wait for their timeout), the rest get
    // 503 at once; the daemon's descriptors stay bounded and SIP is still relayed.
    let base_fds = fds_of(&d);
    let crowd: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(m).unwrap()).collect();
    let mut busy = 0;
    for mut c in crowd.iter() {
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n) = c.read(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503 ") {
                busy += 1;
            }
        }
    }
    // The silent one above holds a slot too.
    assert!(busy >= 50 - MAX_CLIENTS, "{busy} of 50 turned away");
    let fds = fds_of(&d);
    assert!(
        fds <= base_fds + 2 * MAX_CLIENTS + 2,
        "{fds} fds with 50 metrics clients (base {base_fds})"
    );
    sip_round_trip(&d, 1);
    drop(crowd);

    let a = read_answer(&mut silent);
    assert!(a.starts_with("HTTP/1.1 408 "), "{a}");
    wait_for("the slots to free up", WAIT, || {
        let body = scrape(m);
        value(&body, "sipwire_metrics_clients") <= 1.0
    });
    let body = scrape(m);
    promtool_check(&body);
    for (code, at_least) in [
        ("400", 2.0),
        ("404", 2.0),
        ("405", 1.0),
        ("408", 1.0),
        ("431", 1.0),
    ] {
        let n = value(
            &body,
            &format!("sipwire_metrics_responses_total{{code=\"{code}\"}}"),
        );
        assert!(n >= at_least, "{code}: {n}");
    }
    assert!(
        value(&body, "sipwire_metrics_responses_total{code=\"503\"}") >= (50 - MAX_CLIENTS) as f64
    );
    let (st, _) = d.stop();
    assert!(st.success(), "{st}");
}

#[test]
fn off_by_default_config_file_option_and_bind_failure() {
    let off = Daemon::start(SIPWIRED, &[]);
    assert!(
        !off.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("metrics:")),
        "no listener unless asked"
    );
    drop(off);

    let dir = TempDir::new("sipwired-metrics");
    let cfg = dir.join("m.cfg");
    std::fs::write(
        &cfg,
        "listen=tcp:127.0.0.1:0\nmetrics_listen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let d = Daemon::start(SIPWIRED, &["-f", cfg.to_str().unwrap()]);
    let body = scrape(metrics_addr(&d));
    assert_eq!(value(&body, "sipwire_connections"), 0.0);
    drop(d);

    // The address is taken: exit status 3, and the error names the address.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let mut cmd = Command::new(SIPWIRED);
    cmd.args(["--listen", "tcp:127.0.0.1:0", "--metrics", &at, "--ctl"])
        .arg(dir.join("ctl.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn("sipwired", &mut cmd);
    let st = p.wait_timeout(WAIT).expect("sipwired did not exit");
    assert_eq!(st.code(), Some(3), "{st}");
    let mut err = String::new();
    p.child
        .as_mut()
        .unwrap()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains(&format!("cannot open the metrics listener {at}")),
        "{err}"
    );
}
