//! sipwired over SCTP (RFC 4168) end to end with SIPp (Debian's `sip-tester`, built with SCTP:
//! `-t s1`): SCTP → SCTP (1,000 calls, routed by `;transport=sctp` on the Request-URI; and by
//! `--forward sctp:`), TCP → SCTP and SCTP → TCP, each with zero failed calls and exact relay
//! counters; and the stateless 503 when the next hop cannot be reached, for a client on
//! either transport.
//!
//! These need kernel SCTP, which the development host does not have: they are ignored and run
//! by `make sctp-test` in a QEMU guest (`tools/sctp-vm/run.sh -- <this test binary>
//! --include-ignored`). Run there, each one first asserts that the kernel has SCTP: it fails
//! rather than skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// One SIPp run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Calls of the SCTP → SCTP run routed by Request-URI, and of the other runs; the rate they
/// are started at, and how many may be under way at once: the guest is an emulated CPU
/// (TCG), where SIPp, sipwired and the kernel together manage some 16 calls/s (about a minute
/// for 1,000 calls); unbounded, calls would queue for longer than SIPp's `-recv_timeout`.
/// SIPp's run timeout (`-timeout`) is generous for the same reason. The other runs are
/// shorter so that `make sctp-test` stays within its time budget (all pass at 1,000 too).
const CALLS: u32 = 1000;
const CALLS_OTHER: u32 = 150;
const RATE: u32 = 100;
const AT_ONCE: u32 = 20;
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Requests of the 503 runs (one OPTIONS each).
const UNREACHABLE_CALLS: u32 = 20;

/// Fails (not skips) without kernel SCTP, and checks SIPp is there.
fn require_sctp() {
    assert!(
        sctp_available(),
        "this kernel has no SCTP: these tests run in the QEMU guest (make sctp-test)"
    );
    require_program(SIPP, "sip-tester");
}

/// sipwired listening on TCP (port 0) and SCTP (`127.0.0.1:<free port>`), with `args`; and
/// its SCTP address, as it printed it.
fn start_sipwired(dir: &TempDir, args: &[&str]) -> (Daemon, SocketAddr) {
    let sctp_port = free_port();
    let cfg = dir.join("sipwired.cfg");
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:0\nlisten=sctp:127.0.0.1:{sctp_port}\ntcp_children=2\n"),
    )
    .unwrap();
    let mut all = vec!["-f", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let d = Daemon::start(SIPWIRED, &all);
    let sctp = d
        .lines
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.strip_prefix("listening on sctp:").map(str::to_string))
        .unwrap_or_else(|| panic!("no 'listening on sctp:' line: {:?}", d.lines));
    let sctp: SocketAddr = sctp.parse().unwrap();
    assert_eq!(sctp, SocketAddr::from(([127, 0, 0, 1], sctp_port)));
    (d, sctp)
}

/// Stops sipwired and checks a run of `calls` calls: zero failed, every request and response
/// relayed, no send failure.
fn check_calls(name: &str, r: &UacResult, d: Daemon, calls: u32) {
    let (st, c) = d.stop();
    println!(
        "{name}: {} calls in {:.2}s ({:.0} calls/s); sipwired relayed {} requests and {} \
         responses",
        r.successful,
        r.elapsed.as_secs_f64(),
        r.successful as f64 / r.elapsed.as_secs_f64(),
        counter(&c, "requests_relayed"),
        counter(&c, "responses_relayed"),
    );
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(calls), 0),
        "{name}: sipp uac: {}",
        tail(&r.screen)
    );
    assert!(st.success(), "sipwired exit {st:?}");
    // INVITE, ACK, BYE per call; 180, 200 (INVITE) and 200 (BYE) back.
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(calls));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(calls));
    assert_eq!(counter(&c, "send_failures"), 0);
    assert_eq!(counter(&c, "dropped_bad_mac"), 0);
    assert_eq!(counter(&c, "dropped_not_ours"), 0);
}

/// A SIPp UAC run of `calls` calls to `target` over `transport`: the built-in `uac` scenario
/// or `scenario`, sent to `rsa` when given.
fn uac(
    dir: &TempDir,
    calls: u32,
    target: &str,
    transport: &str,
    scenario: Option<&Path>,
    rsa: Option<SocketAddr>,
) -> UacResult {
    let rsa = rsa.map(|a| a.to_string());
    run_uac_with(
        dir,
        target,
        transport,
        calls,
        RATE,
        UacOptions {
            scenario,
            rsa: rsa.as_deref(),
            max_calls: Some(AT_ONCE),
            timeout: Some(RUN_TIMEOUT),
        },
    )
}

/// SIPp's `uac` scenario with `;transport=sctp` on every Request-URI (INVITE, ACK, BYE), so
/// that sipwired routes it over SCTP by the Request-URI alone.
fn uac_over_sctp_scenario(dir: &TempDir) -> std::path::PathBuf {
    let xml = builtin_scenario("uac");
    let from = "[remote_port] SIP/2.0";
    assert_eq!(xml.matches(from).count(), 3, "sipp's uac scenario changed");
    let path = dir.join("uac-transport-sctp.xml");
    fs::write(
        &path,
        xml.replace(from, "[remote_port];transport=sctp SIP/2.0"),
    )
    .unwrap();
    path
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn sctp_to_sctp_by_request_uri() {
    require_sctp();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("sctp-sctp");
    let uas_port = free_port();
    let _uas = start_uas_over(&dir, uas_port, "s1");
    let (d, sctp) = start_sipwired(&dir, &["--relay-allow", "127.0.0.1"]);
    let scenario = uac_over_sctp_scenario(&dir);
    let target = format!("127.0.0.1:{uas_port}");
    let r = uac(&dir, CALLS, &target, "s1", Some(&scenario), Some(sctp));
    check_calls("sctp -> sctp (Request-URI transport=sctp)", &r, d, CALLS);
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn sctp_to_sctp_by_forward() {
    require_sctp();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("sctp-sctp-fwd");
    let uas_port = free_port();
    let _uas = start_uas_over(&dir, uas_port, "s1");
    let fwd = format!("sctp:127.0.0.1:{uas_port}");
    let (d, sctp) = start_sipwired(&dir, &["--relay-allow", "127.0.0.1", "--forward", &fwd]);
    assert!(
        d.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == &format!("routing: every request to {fwd} (--forward)")),
        "{:?}",
        d.lines
    );
    let r = uac(&dir, CALLS_OTHER, &sctp.to_string(), "s1", None, None);
    check_calls("sctp -> sctp (--forward sctp:)", &r, d, CALLS_OTHER);
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn tcp_to_sctp() {
    require_sctp();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("tcp-sctp");
    let uas_port = free_port();
    let _uas = start_uas_over(&dir, uas_port, "s1");
    let fwd = format!("sctp:127.0.0.1:{uas_port}");
    let (d, _) = start_sipwired(&dir, &["--forward", &fwd]);
    let r = uac(&dir, CALLS_OTHER, &d.addr.to_string(), "t1", None, None);
    check_calls("tcp -> sctp (--forward sctp:)", &r, d, CALLS_OTHER);
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn sctp_to_tcp() {
    require_sctp();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("sctp-tcp");
    let uas_port = free_port();
    let _uas = start_uas(&dir, uas_port);
    let (d, sctp) = start_sipwired(&dir, &["--relay-allow", "127.0.0.1"]);
    // The built-in scenario: no transport on the Request-URI, so TCP to the UAS.
    let target = format!("127.0.0.1:{uas_port}");
    let r = uac(&dir, CALLS_OTHER, &target, "s1", None, Some(sctp));
    check_calls("sctp -> tcp (Request-URI)", &r, d, CALLS_OTHER);
}

/// An OPTIONS that must be answered 503 (by the relay: its next hop is unreachable).
const OPTIONS_503: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="OPTIONS answered 503">
  <send>
    <![CDATA[

      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="503"/>
</scenario>
"#;

/// `UNREACHABLE_CALLS` OPTIONS from a `client_transport` client to sipwired's address for it,
/// whose `--forward` next hop `fwd` has nobody listening: each gets sipwired's 503 over the
/// client's transport.
fn unreachable_next_hop(name: &str, client_transport: &str, fwd_proto: &str) {
    require_sctp();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new(name);
    // A port nobody listens on, over either transport.
    let closed = free_port();
    let fwd = format!("{fwd_proto}:127.0.0.1:{closed}");
    let (d, sctp) = start_sipwired(&dir, &["--forward", &fwd]);
    let target = if client_transport.starts_with('s') {
        sctp
    } else {
        d.addr
    };
    let scenario = dir.join("options-503.xml");
    fs::write(&scenario, OPTIONS_503).unwrap();
    let r = run_uac_with(
        &dir,
        &target.to_string(),
        client_transport,
        UNREACHABLE_CALLS,
        10,
        UacOptions {
            scenario: Some(&scenario),
            ..UacOptions::default()
        },
    );
    let (st, c) = d.stop();
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(UNREACHABLE_CALLS), 0),
        "{name}: sipp uac: {}",
        tail(&r.screen)
    );
    assert!(st.success(), "sipwired exit {st:?}");
    assert_eq!(counter(&c, "replies_other"), u64::from(UNREACHABLE_CALLS));
    assert_eq!(counter(&c, "send_failures"), u64::from(UNREACHABLE_CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 0);
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn sctp_client_gets_503_when_the_tcp_next_hop_refuses() {
    unreachable_next_hop("sctp-503", "s1", "tcp");
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn tcp_client_gets_503_when_the_sctp_next_hop_is_unreachable() {
    unreachable_next_hop("tcp-503-sctp", "t1", "sctp");
}
