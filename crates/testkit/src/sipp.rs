//! SIPp (Debian's `sip-tester`) for the end-to-end suites: a UAS, a UAC run, its final screen.
//! Over TCP (`-t t1`, `-t tn`) and over SCTP (`-t s1`; Debian's build has it), the latter only
//! where the kernel has SCTP ([`sctp_available`]).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, Proc, TempDir};
use crate::wait::{wait_for, WAIT};

/// SIPp from Debian's `sip-tester`.
pub const SIPP: &str = "/usr/bin/sipp";

/// The result of one UAC run.
#[derive(Debug)]
pub struct UacResult {
    /// sipp's exit status (0: every call succeeded).
    pub status: i32,
    /// "Successful call", cumulative.
    pub successful: u64,
    /// "Failed call", cumulative.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// sipp's final screen.
    pub screen: String,
}

/// The cumulative column of a SIPp final-screen counter line ("Successful call | a | b").
pub fn sipp_counter(screen: &str, name: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(name))?
        .split('|')
        .nth(2)?
        .trim()
        .parse()
        .ok()
}

/// Starts a SIPp UAS on `port` (transport `t1`), waiting until it listens.
pub fn start_uas(dir: &TempDir, port: u16) -> Proc {
    start_uas_over(dir, port, "t1")
}

/// Whether this kernel has SCTP (`sipwire_sys::sctp::available`: a probe socket opens).
pub fn sctp_available() -> bool {
    sipwire_sys::sctp::available()
}

/// True if an SCTP endpoint listens on `port` (any address), read from
/// `/proc/net/sctp/eps` (missing, so false, while the kernel's SCTP module is not loaded).
pub fn is_sctp_listening(port: u16) -> bool {
    fs::read_to_string("/proc/net/sctp/eps").is_ok_and(|t| {
        // ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS: the port is decimal.
        t.lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(5) == Some(&port.to_string()))
    })
}

/// Starts a SIPp UAS on `port` over `transport` (`t1`, `tn`: TCP; `s1`, `sn`: SCTP), waiting
/// until it listens.
pub fn start_uas_over(dir: &TempDir, port: u16, transport: &str) -> Proc {
    let out = dir.join("uas.out");
    let log = fs::File::create(&out).unwrap();
    let mut cmd = Command::new(SIPP);
    cmd.args(["-sn", "uas", "-t", transport, "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-max_socket", "200", "-nostdin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let mut uas = Proc::spawn("sipp uas", &mut cmd);
    if transport.starts_with('s') {
        let what = format!("sipp uas to listen on SCTP port {port}");
        wait_for(&what, WAIT, || {
            if let Some(st) = uas.wait_timeout(Duration::ZERO) {
                panic!(
                    "sipp uas exited ({st}): {}",
                    fs::read_to_string(&out).unwrap_or_default()
                );
            }
            is_sctp_listening(port)
        });
    } else {
        uas.wait_listening(port, &out);
    }
    uas
}

/// SIPp's built-in scenario `name` (`uac`, `uas`, ...) as XML (`sipp -sd NAME`), to be
/// edited and run with [`UacOptions::scenario`].
pub fn builtin_scenario(name: &str) -> String {
    let out = Command::new(SIPP)
        .args(["-sd", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SIPP} -sd {name}: {e}"));
    let xml = String::from_utf8(out.stdout).expect("sipp -sd: not UTF-8");
    assert!(
        xml.contains("<scenario"),
        "sipp -sd {name}: no scenario: {xml}"
    );
    xml
}

/// What [`run_uac_with`] adds to a [`run_uac`] run.
#[derive(Debug, Clone, Copy, Default)]
pub struct UacOptions<'a> {
    /// `-sf FILE`: this scenario instead of the built-in `uac`.
    pub scenario: Option<&'a Path>,
    /// `-rsa HOST:PORT`: send every message there, while the Request-URI names the target
    /// (routing by Request-URI through a relay).
    pub rsa: Option<&'a str>,
    /// `-l N`: at most this many calls at once (new calls wait rather than pile up on a slow
    /// machine, so no call outlives `-recv_timeout` in a queue).
    pub max_calls: Option<u32>,
    /// sipp's `-timeout` for the whole run (default 90 s); the run is waited for 30 s longer.
    pub timeout: Option<Duration>,
}

/// Runs a SIPp UAC against `target` (`calls` calls at `rate` per second) and waits for it
/// to finish.
pub fn run_uac(dir: &TempDir, target: &str, transport: &str, calls: u32, rate: u32) -> UacResult {
    run_uac_with(dir, target, transport, calls, rate, UacOptions::default())
}

/// [`run_uac`] with a scenario file and/or a remote sending address (`opts`).
pub fn run_uac_with(
    dir: &TempDir,
    target: &str,
    transport: &str,
    calls: u32,
    rate: u32,
    opts: UacOptions<'_>,
) -> UacResult {
    let out_path = dir.join(&format!("uac-{transport}.out"));
    let log = fs::File::create(&out_path).unwrap();
    let port = free_port();
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(90));
    let mut cmd = Command::new(SIPP);
    match opts.scenario {
        Some(file) => cmd.arg("-sf").arg(file),
        None => cmd.args(["-sn", "uac"]),
    };
    cmd.args(["-t", transport, target, "-s", "service"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        // With -t tn, sipp shares sockets between calls once -max_socket are open and then
        // breaks a shared socket under another call's feet (EPIPE in sipp's own error log,
        // no close on sipwired's side). The tn run stays below this limit.
        .args(["-max_socket", "2000", "-recv_timeout", "10000"])
        .args([
            "-timeout",
            &format!("{}s", timeout.as_secs()),
            "-timeout_error",
            "-nostdin",
        ]);
    if let Some(rsa) = opts.rsa {
        cmd.args(["-rsa", rsa]);
    }
    if let Some(l) = opts.max_calls {
        cmd.args(["-l", &l.to_string()]);
    }
    cmd.current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut uac = Proc::spawn("sipp uac", &mut cmd);
    let status = uac
        .wait_timeout(timeout + Duration::from_secs(30))
        .expect("sipp uac did not finish");
    uac.child = None;
    let elapsed = started.elapsed();
    let screen = fs::read_to_string(&out_path).unwrap_or_default();
    UacResult {
        status: status.code().unwrap_or(-1),
        successful: sipp_counter(&screen, "Successful call").unwrap_or(0),
        failed: sipp_counter(&screen, "Failed call").unwrap_or(u64::MAX),
        elapsed,
        screen,
    }
}

/// The last 40 lines of `s`.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
