//! Kamailio (Debian's `kamailio`) in the chain, both ways, with SIPp at the ends:
//!
//! - SIPp UAC → Kamailio → sipwired → SIPp UAS
//! - SIPp UAC → sipwired → Kamailio → SIPp UAS
//!
//! Kamailio runs a minimal stateless config (`forward_tcp` in `request_route`, the core's
//! stateless reply forwarding) in the foreground, in its own process group, and is always
//! stopped at the end (the guard's Drop), also when the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

const KAMAILIO: &str = "/usr/sbin/kamailio";

/// One chain at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const CALLS: u32 = 500;
const RATE: u32 = 250;

/// A stateless Kamailio forwarding every request to 127.0.0.1:`next` over TCP.
fn kamailio_cfg(port: u16, next: u16) -> String {
    format!(
        "#!KAMAILIO
# sipwired test: stateless TCP forwarder, no modules.
debug=1
log_stderror=yes
children=1
tcp_children=1
disable_tcp=no
disable_sctp=yes
dns=no
rev_dns=no
auto_aliases=no
listen=tcp:127.0.0.1:{port}

request_route {{
    forward_tcp(\"127.0.0.1\", {next});
    exit;
}}
"
    )
}

fn start_kamailio(dir: &TempDir, port: u16, next: u16) -> Proc {
    let cfg = dir.join("kamailio.cfg");
    fs::write(&cfg, kamailio_cfg(port, next)).unwrap();
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
    k.wait_listening(port, &dir.join("kamailio.log"));
    k
}

fn check(name: &str, r: &UacResult, dir: &TempDir) {
    println!(
        "{name}: {} calls in {:.2}s ({:.0} calls/s), {} failed",
        r.successful,
        r.elapsed.as_secs_f64(),
        r.successful as f64 / r.elapsed.as_secs_f64(),
        r.failed
    );
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(CALLS), 0),
        "sipp uac:\n{}\nkamailio log:\n{}",
        tail(&r.screen),
        fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
    );
}

fn require() {
    require_program(KAMAILIO, "kamailio");
    require_program(SIPP, "sip-tester");
}

#[test]
fn kamailio_in_front_of_sipwired() {
    require();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("kam-front");
    let (uas_port, relay_port, kam_port) = (free_port(), free_port(), free_port());
    let _uas = start_uas(&dir, uas_port);
    let listen = format!("tcp:127.0.0.1:{relay_port}");
    let fwd = format!("tcp:127.0.0.1:{uas_port}");
    let d = Daemon::start(SIPWIRED, &["--listen", &listen, "--forward", &fwd]);
    let mut kam = start_kamailio(&dir, kam_port, relay_port);
    let r = run_uac(&dir, &format!("127.0.0.1:{kam_port}"), "t1", CALLS, RATE);
    check("sipp → kamailio → sipwired → sipp", &r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
    // Kamailio's connection in is reused for the responses (our Via's cid names it).
    assert_eq!(counter(&c, "runtime.accepted"), 1);
}

#[test]
fn kamailio_behind_sipwired() {
    require();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("kam-back");
    let (uas_port, kam_port) = (free_port(), free_port());
    let _uas = start_uas(&dir, uas_port);
    let mut kam = start_kamailio(&dir, kam_port, uas_port);
    let fwd = format!("tcp:127.0.0.1:{kam_port}");
    let d = Daemon::start(SIPWIRED, &["--forward", &fwd]);
    let r = run_uac(&dir, &d.addr.to_string(), "t1", CALLS, RATE);
    check("sipp → sipwired → kamailio → sipp", &r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
}
