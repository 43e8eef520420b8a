//! End to end with SIPp (Debian's `sip-tester`): `sipp -sn uac` → sipwired → `sipp -sn uas`,
//! 5,000 calls at a fixed rate under each poll method, plus SIPp's one-socket-per-call mode.
//! Zero failed calls: SIPp's exit status (0 = every call succeeded) and its final counters.
//!
//! The runs are serialised (one at a time on a shared 2-core machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::sync::Mutex;

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// One SIPp run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Calls per run and the rate they are started at.
const CALLS: u32 = 5000;
/// Calls of the connection-per-call run (each keeps its connection open while sipp runs).
const CALLS_TN: u32 = 1000;
const RATE: u32 = 500;

/// SIPp UAC → sipwired (config `cfg_extra`) → SIPp UAS; asserts zero failed calls and the
/// relay's counters.
fn calls_through_sipwired(
    name: &str,
    cfg_extra: &str,
    transport: &str,
    calls: u32,
) -> Vec<(String, u64)> {
    require_program(SIPP, "sip-tester");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new(name);
    let uas_port = free_port();
    let _uas = start_uas(&dir, uas_port);
    let cfg = dir.join("sipwired.cfg");
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:0\ntcp_children=2\n{cfg_extra}\n"),
    )
    .unwrap();
    let fwd = format!("tcp:127.0.0.1:{uas_port}");
    let d = Daemon::start(SIPWIRED, &["-f", cfg.to_str().unwrap(), "--forward", &fwd]);
    let r = run_uac(&dir, &d.addr.to_string(), transport, calls, RATE);
    let (st, c) = d.stop();
    println!(
        "{name}: {} calls in {:.2}s ({:.0} calls/s), {}; sipwired accepted {} connections, \
         relayed {} requests and {} responses",
        r.successful,
        r.elapsed.as_secs_f64(),
        r.successful as f64 / r.elapsed.as_secs_f64(),
        d_desc(cfg_extra, transport),
        counter(&c, "runtime.accepted"),
        counter(&c, "requests_relayed"),
        counter(&c, "responses_relayed"),
    );
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(calls), 0),
        "sipp uac: {}",
        tail(&r.screen)
    );
    assert!(st.success(), "sipwired exit {st:?}");
    // INVITE, ACK, BYE per call; 180, 200 (INVITE) and 200 (BYE) back.
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(calls));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(calls));
    assert_eq!(counter(&c, "send_failures"), 0);
    c
}

fn d_desc(cfg: &str, transport: &str) -> String {
    format!("{} -t {transport}", cfg.replace('\n', " "))
}

#[test]
fn sipp_5000_calls_poll() {
    let c = calls_through_sipwired("poll", "tcp_poll_method=poll", "t1", CALLS);
    // One UAC connection in, one connection out to the UAS.
    assert_eq!(counter(&c, "runtime.accepted"), 1);
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn sipp_5000_calls_epoll_lt() {
    let c = calls_through_sipwired("epoll_lt", "tcp_poll_method=epoll_lt", "t1", CALLS);
    // One UAC connection in, one connection out to the UAS.
    assert_eq!(counter(&c, "runtime.accepted"), 1);
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn sipp_5000_calls_epoll_et() {
    let c = calls_through_sipwired("epoll_et", "tcp_poll_method=epoll_et", "t1", CALLS);
    // One UAC connection in, one connection out to the UAS.
    assert_eq!(counter(&c, "runtime.accepted"), 1);
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn sipp_5000_calls_select() {
    let c = calls_through_sipwired("select", "tcp_poll_method=select", "t1", CALLS);
    // One UAC connection in, one connection out to the UAS.
    assert_eq!(counter(&c, "runtime.accepted"), 1);
    assert_eq!(counter(&c, "runtime.connects"), 1);
}

#[test]
fn sipp_1000_calls_socket_per_call() {
    // `-t tn`: a connection per call (sipp closes it when the call ends).
    // 1,000 calls, each on its own connection: below sipp's -max_socket, so no sharing.
    let c = calls_through_sipwired("tn", "tcp_poll_method=none", "tn", CALLS_TN);
    let accepted = counter(&c, "runtime.accepted");
    assert!(
        (10..=CALLS_TN.into()).contains(&accepted),
        "{accepted} UAC connections"
    );
}
