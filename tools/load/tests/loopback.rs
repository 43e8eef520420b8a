#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real-socket tests over loopback: the UAS on its own, the binary against
//! an in-process UAS (uas-only, connect-rate, idle), relay mode through
//! fake relays, fault injection (lost, duplicated), coordinated-omission
//! correction, progress lines, JSON keys and exit statuses.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{fake_relay, json_num, run_bin, uas, via_editing_relay};
use sipwire_frame::{HeaderName, SipMessage};
use sipwire_load::msg::{Method, RequestBuilder};
use sipwire_testkit::sip::SipConn;

#[test]
fn uas_answers_a_request_like_a_uas() {
    let u = uas(0, 0);
    let mut s = SipConn::connect(u.local_addr());
    let local = s.local().to_string();
    let mut req = Vec::new();
    RequestBuilder::new("t", 0, &u.local_addr().to_string()).write(
        &mut req,
        local.as_bytes(),
        5,
        Method::Invite,
    );
    // Split the request over two writes to exercise framing.
    s.stream.write_all(&req[..100]).unwrap();
    s.stream.flush().unwrap();
    thread::sleep(Duration::from_millis(20));
    s.stream.write_all(&req[100..]).unwrap();
    let resp = s.recv().into_bytes();
    let q = SipMessage::parse(&req).unwrap();
    let r = SipMessage::parse(&resp).unwrap();
    assert_eq!(r.status(), Some(200));
    for h in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        assert_eq!(
            r.header(h).unwrap().value,
            q.header(h).unwrap().value,
            "{h:?}"
        );
    }
    let to = r.header(HeaderName::To).unwrap().value;
    let q_to = q.header(HeaderName::To).unwrap().value;
    assert!(to.starts_with(q_to) && to.len() > q_to.len());
    assert!(String::from_utf8_lossy(to).contains(";tag="));
    assert_eq!(r.header(HeaderName::ContentLength).unwrap().value, b"0");
    assert!(r.body().is_empty());
    drop(s);
    let stats = u.stop();
    assert_eq!((stats.requests, stats.responses), (1, 1));
}

#[test]
fn uas_only_count_200_completes_without_errors() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode", "uas-only", "--target", &target, "--count", "200", "--json", "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "sent"), 200.0);
    assert_eq!(json_num(&r.stdout, "completed"), 200.0);
    for k in [
        "lost",
        "timeouts",
        "duplicates",
        "mismatched",
        "conn_errors",
    ] {
        assert_eq!(json_num(&r.stdout, k), 0.0, "{k}");
    }
    assert_eq!(u.stop().requests, 200);
}

#[test]
fn json_output_has_the_stable_keys() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode", "uas-only", "--target", &target, "--count", "50", "--rate", "500", "--mix",
            "both", "--json", "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.stdout.trim();
    assert!(
        j.starts_with('{') && j.ends_with('}') && !j.contains('\n'),
        "{j}"
    );
    for k in [
        "sent",
        "completed",
        "lost",
        "timeouts",
        "duplicates",
        "mismatched",
        "duration_s",
        "rate",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "cpu_user_s",
        "cpu_sys_s",
        "cpu_us_per_txn",
    ] {
        assert!(j.contains(&format!("\"{k}\":")), "{k} missing in {j}");
    }
    assert!(json_num(j, "p50_us") >= 1.0);
    assert!(json_num(j, "max_us") >= json_num(j, "p99_us"));
    // 50 transactions at 500/s take about 0.1 s.
    assert!(json_num(j, "duration_s") < 2.0, "{j}");
    u.stop();
}

#[test]
fn relay_mode_through_a_forwarding_relay() {
    let relay = fake_relay().to_string();
    let r = run_bin(
        &[
            "--mode",
            "relay",
            "--target",
            &relay,
            "--uas-listen",
            "127.0.0.1:0",
            "--count",
            "300",
            "--conns",
            "3",
            "--outstanding",
            "4",
            "--mix",
            "both",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "completed"), 300.0);
    assert_eq!(json_num(&r.stdout, "mismatched"), 0.0);
}

#[test]
fn relay_mode_through_a_via_editing_relay() {
    let relay = via_editing_relay().to_string();
    let r = run_bin(
        &[
            "--mode",
            "relay",
            "--target",
            &relay,
            "--uas-listen",
            "127.0.0.1:0",
            "--count",
            "200",
            "--conns",
            "2",
            "--outstanding",
            "4",
            "--mix",
            "both",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "completed"), 200.0);
}

#[test]
fn dropped_requests_are_lost_and_exit_1() {
    let u = uas(10, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "uas-only",
            "--target",
            &target,
            "--count",
            "100",
            "--conns",
            "1",
            "--threads",
            "1",
            "--outstanding",
            "5",
            "--timeout",
            "300",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 1, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "lost"), 10.0, "{}", r.stdout);
    assert_eq!(json_num(&r.stdout, "timeouts"), 10.0);
    assert_eq!(json_num(&r.stdout, "completed"), 90.0);
    assert_eq!(u.stop().dropped, 10);
}

#[test]
fn double_answers_are_duplicates_and_exit_1() {
    let u = uas(0, 5);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "uas-only",
            "--target",
            &target,
            "--count",
            "100",
            "--conns",
            "1",
            "--threads",
            "1",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 1, "stdout {} stderr {}", r.stdout, r.stderr);
    let dups = json_num(&r.stdout, "duplicates");
    assert!((1.0..=20.0).contains(&dups), "{}", r.stdout);
    assert_eq!(json_num(&r.stdout, "completed"), 100.0);
    u.stop();
}

#[test]
fn progress_line_each_second_and_final_table() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "uas-only",
            "--target",
            &target,
            "--duration",
            "2.2",
            "--rate",
            "300",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" p99 ")).collect();
    assert!(lines.len() >= 2, "stderr: {}", r.stderr);
    assert!(
        lines[0].contains("sent ")
            && lines[0].contains("completed ")
            && lines[0].contains("errors 0")
    );
    let rate: f64 = lines[1]
        .split(" rate ")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((240.0..=360.0).contains(&rate), "{}", lines[1]);
    for row in [
        "sent",
        "completed",
        "lost",
        "latency us",
        "cpu",
        "result       ok",
    ] {
        assert!(r.stdout.contains(row), "{row} missing in {}", r.stdout);
    }
    u.stop();
}

#[test]
fn warmup_is_left_out() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "uas-only",
            "--target",
            &target,
            "--rate",
            "400",
            "--warmup",
            "0.5",
            "--duration",
            "1",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sent = json_num(&r.stdout, "sent");
    assert!((380.0..=420.0).contains(&sent), "{}", r.stdout);
    assert!(u.stop().requests >= 580);
}

#[test]
fn connect_rate_mode() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "connect-rate",
            "--target",
            &target,
            "--count",
            "60",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "completed"), 60.0);
    assert_eq!(u.stop().connections, 61); // + the probe connection
}

#[test]
fn connect_rate_through_relay_with_own_uas() {
    let relay = fake_relay().to_string();
    let r = run_bin(
        &[
            "--mode",
            "connect-rate",
            "--target",
            &relay,
            "--uas-listen",
            "127.0.0.1:0",
            "--count",
            "20",
            "--linger0",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(json_num(&r.stdout, "completed"), 20.0);
}

#[test]
fn idle_mode_holds_connections() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let r = run_bin(
        &[
            "--mode",
            "idle",
            "--target",
            &target,
            "--conns",
            "200",
            "--hold",
            "0.5",
            "--idle-ping",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ready 200\n"), "{}", r.stdout);
    assert!(r.stdout.contains("open at end 200"), "{}", r.stdout);
    assert_eq!(u.stop().connections, 200);
}

#[test]
fn setup_and_usage_errors_exit_2() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for args in [
        vec![
            "--mode",
            "uas-only",
            "--target",
            closed.as_str(),
            "--count",
            "1",
        ],
        vec![
            "--mode",
            "connect-rate",
            "--target",
            closed.as_str(),
            "--count",
            "1",
        ],
        vec!["--rate", "1", "--outstanding", "1"],
        vec!["--nonsense"],
    ] {
        let r = run_bin(&args, Duration::from_secs(30));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("error"), "{}", r.stderr);
    }
}

#[test]
fn serve_mode_prints_its_address_and_answers() {
    let child_args = [
        "--mode",
        "serve",
        "--uas-listen",
        "127.0.0.1:0",
        "--duration",
        "3",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipwire-load"))
        .args(child_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line
        .strip_prefix("listening ")
        .expect("listening line")
        .to_owned();
    let r = run_bin(
        &[
            "--mode", "uas-only", "--target", &addr, "--count", "100", "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("requests 100"), "{rest}");
}

/// Coordinated-omission correction: stop the client process for 300 ms in
/// the middle of an open-loop run. The requests it should have sent
/// meanwhile go out late, all at once, and their latency must include the
/// lag (a tool measuring from the actual send would report ~50 µs).
#[test]
fn open_loop_latency_includes_sender_lag() {
    let u = uas(0, 0);
    let target = u.local_addr().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipwire-load"))
        .args([
            "--mode",
            "uas-only",
            "--target",
            &target,
            "--rate",
            "1000",
            "--duration",
            "2",
            "--json",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    thread::sleep(Duration::from_millis(700));
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    thread::sleep(Duration::from_millis(300));
    signal("-CONT");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    // About 300 of 2000 requests were due during the stop.
    assert!(json_num(&out, "max_us") >= 250_000.0, "{out}");
    assert!(json_num(&out, "p90_us") >= 20_000.0, "{out}");
    // Every request sent completes; the schedule's last slot can fall just past the 2 s end on
    // a loaded machine, so "all 2000" is not exact.
    assert_eq!(json_num(&out, "completed"), json_num(&out, "sent"), "{out}");
    assert!(json_num(&out, "sent") >= 1990.0, "{out}");
    u.stop();
}
