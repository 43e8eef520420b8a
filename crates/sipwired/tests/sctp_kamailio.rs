//! Kamailio with its SCTP module (Debian's `kamailio-sctp-modules`) next to sipwired over
//! SCTP, with SIPp over SCTP at the ends:
//!
//! - SIPp UAC → Kamailio → sipwired → SIPp UAS, every hop SCTP
//! - SIPp UAC → sipwired → Kamailio → SIPp UAS, every hop SCTP
//!
//! Kamailio runs a minimal stateless config (`forward_sctp` in `request_route`, the core's
//! stateless reply forwarding). Needs kernel SCTP: ignored on a host without it and run by
//! `make sctp-test` in the QEMU guest, where each test fails if SCTP is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::*;

const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");
const KAMAILIO: &str = "/usr/sbin/kamailio";
const SCTP_MODULE: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/sctp.so";

/// One chain at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Calls per chain, their rate, and how many may be under way at once: the guest is an
/// emulated CPU (TCG) where the whole chain manages some 15 calls/s; unbounded, calls would
/// queue for longer than SIPp's receive timeout.
const CALLS: u32 = 150;
const RATE: u32 = 50;
const AT_ONCE: u32 = 20;

/// The UAC over SCTP against `target`, at most [`AT_ONCE`] calls at a time.
fn uac(dir: &TempDir, target: &str) -> UacResult {
    let opts = UacOptions {
        max_calls: Some(AT_ONCE),
        timeout: Some(std::time::Duration::from_secs(240)),
        ..UacOptions::default()
    };
    run_uac_with(dir, target, "s1", CALLS, RATE, opts)
}

fn require() {
    assert!(
        sctp_available(),
        "this kernel has no SCTP: run by make sctp-test in a guest"
    );
    require_program(KAMAILIO, "kamailio");
    require_program(SCTP_MODULE, "kamailio-sctp-modules");
    require_program(SIPP, "sip-tester");
}

/// A stateless Kamailio listening on SCTP `port` (and TCP `tcp_port`, so the harness can see it
/// is up), forwarding every request to 127.0.0.1:`next` over SCTP.
fn kamailio_cfg(port: u16, tcp_port: u16, next: u16) -> String {
    format!(
        "#!KAMAILIO
# sipwired test: stateless SCTP forwarder.
debug=1
log_stderror=yes
children=1
tcp_children=1
sctp_children=1
disable_tcp=no
enable_sctp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=sctp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{tcp_port}
loadmodule \"{SCTP_MODULE}\"

request_route {{
    forward_sctp(\"127.0.0.1\", {next});
    exit;
}}
"
    )
}

fn start_kamailio(dir: &TempDir, port: u16, next: u16) -> Proc {
    let tcp_port = free_port();
    let cfg = dir.join("kamailio.cfg");
    fs::write(&cfg, kamailio_cfg(port, tcp_port, next)).unwrap();
    let log = fs::File::create(dir.join("kamailio.log")).unwrap();
    let mut cmd = Command::new(KAMAILIO);
    cmd.arg("-f")
        .arg(&cfg)
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-w"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let mut k = Proc::spawn("kamailio", &mut cmd);
    k.wait_listening(tcp_port, &dir.join("kamailio.log"));
    wait_for("kamailio's SCTP listener", WAIT, || is_sctp_listening(port));
    k
}

/// sipwired listening on SCTP `port` (and TCP), with `args`.
fn start_sipwired(dir: &Path, port: u16, args: &[&str]) -> Daemon {
    let cfg = dir.join("sipwired.cfg");
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:0\nlisten=sctp:127.0.0.1:{port}\ntcp_children=1\n"),
    )
    .unwrap();
    let mut all = vec!["-f", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let d = Daemon::start(SIPWIRED, &all);
    wait_for("sipwired's SCTP listener", WAIT, || is_sctp_listening(port));
    d
}

fn check(name: &str, r: &UacResult, dir: &TempDir) {
    println!(
        "{name}: {} calls in {:.2}s, {} failed",
        r.successful,
        r.elapsed.as_secs_f64(),
        r.failed
    );
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(CALLS), 0),
        "{name}: sipp uac:\n{}\nkamailio log:\n{}",
        tail(&r.screen),
        fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
    );
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn kamailio_in_front_of_sipwired_over_sctp() {
    require();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("kam-sctp-front");
    let (uas_port, relay_port, kam_port) = (free_port(), free_port(), free_port());
    let _uas = start_uas_over(&dir, uas_port, "s1");
    let fwd = format!("sctp:127.0.0.1:{uas_port}");
    let d = start_sipwired(dir.path(), relay_port, &["--forward", &fwd]);
    let mut kam = start_kamailio(&dir, kam_port, relay_port);
    let r = uac(&dir, &format!("127.0.0.1:{kam_port}"));
    check("sipp → kamailio → sipwired → sipp (SCTP)", &r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn kamailio_behind_sipwired_over_sctp() {
    require();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("kam-sctp-back");
    let (uas_port, relay_port, kam_port) = (free_port(), free_port(), free_port());
    let _uas = start_uas_over(&dir, uas_port, "s1");
    let mut kam = start_kamailio(&dir, kam_port, uas_port);
    let fwd = format!("sctp:127.0.0.1:{kam_port}");
    let d = start_sipwired(dir.path(), relay_port, &["--forward", &fwd]);
    let r = uac(&dir, &format!("127.0.0.1:{relay_port}"));
    check("sipp → sipwired → kamailio → sipp (SCTP)", &r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
}
