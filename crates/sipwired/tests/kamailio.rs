//! Kamailio (Debian's `kamailio`) in the chain, both ways, with SIPp at the ends:
//!
//! - SIPp UAC → Kamailio → sipwired → SIPp UAS
//! - SIPp UAC → sipwired → Kamailio → SIPp UAS
//!
//! Kamailio runs a minimal stateless config (`forward_tcp` in `request_route`, the core's
//! stateless reply forwarding) in the foreground, in its own process group, and is always
//! stopped at the end (the guard's Drop), also when the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const SIPP: &str = "/usr/bin/sipp";

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
    wait_for("Kamailio to listen", WAIT, || {
        assert!(
            k.wait_timeout(Duration::ZERO).is_none(),
            "kamailio exited: {}",
            fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
        );
        is_listening(port)
    });
    k
}

fn start_uas(dir: &TempDir, port: u16) -> Proc {
    let log = fs::File::create(dir.join("uas.out")).unwrap();
    let mut cmd = Command::new(SIPP);
    cmd.args(["-sn", "uas", "-t", "t1", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-max_socket", "200", "-nostdin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let uas = Proc::spawn("sipp uas", &mut cmd);
    wait_for("the SIPp UAS to listen", WAIT, || is_listening(port));
    uas
}

/// Runs the UAC against `target`; returns (exit status, successful, failed, seconds).
fn run_uac(dir: &TempDir, target: &str) -> (i32, u64, u64, f64, String) {
    let out = dir.join("uac.out");
    let log = fs::File::create(&out).unwrap();
    let mut cmd = Command::new(SIPP);
    cmd.args(["-sn", "uac", "-t", "t1", target, "-s", "service"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-r", &RATE.to_string(), "-m", &CALLS.to_string()])
        .args(["-max_socket", "50", "-recv_timeout", "10000"])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let t = Instant::now();
    let mut uac = Proc::spawn("sipp uac", &mut cmd);
    let st = uac
        .wait_timeout(Duration::from_secs(90))
        .expect("sipp uac did not finish");
    uac.child = None;
    let secs = t.elapsed().as_secs_f64();
    let screen = fs::read_to_string(&out).unwrap_or_default();
    let count = |name: &str| -> Option<u64> {
        screen
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with(name))?
            .split('|')
            .nth(2)?
            .trim()
            .parse()
            .ok()
    };
    let tail: Vec<&str> = screen.lines().collect();
    let tail = tail[tail.len().saturating_sub(30)..].join("\n");
    (
        st.code().unwrap_or(-1),
        count("Successful call").unwrap_or(0),
        count("Failed call").unwrap_or(u64::MAX),
        secs,
        tail,
    )
}

fn check(name: &str, r: (i32, u64, u64, f64, String), dir: &TempDir) {
    println!(
        "{name}: {} calls in {:.2}s ({:.0} calls/s), {} failed",
        r.1,
        r.3,
        r.1 as f64 / r.3,
        r.2
    );
    assert_eq!(
        (r.0, r.1, r.2),
        (0, u64::from(CALLS), 0),
        "sipp uac:\n{}\nkamailio log:\n{}",
        r.4,
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
    let d = Daemon::start(&["--listen", &listen, "--forward", &fwd]);
    let mut kam = start_kamailio(&dir, kam_port, relay_port);
    let r = run_uac(&dir, &format!("127.0.0.1:{kam_port}"));
    check("sipp → kamailio → sipwired → sipp", r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
    // Kamailio's connection in is reused for the responses (aliased to its Via port).
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
    let d = Daemon::start(&["--forward", &fwd]);
    let r = run_uac(&dir, &d.addr.to_string());
    check("sipp → sipwired → kamailio → sipp", r, &dir);
    let (st, c) = d.stop();
    kam.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "requests_relayed"), 3 * u64::from(CALLS));
    assert_eq!(counter(&c, "responses_relayed"), 3 * u64::from(CALLS));
}
