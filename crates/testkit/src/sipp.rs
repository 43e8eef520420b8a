//! SIPp (Debian's `sip-tester`) for the end-to-end suites: a UAS, a UAC run, its final screen.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, Proc, TempDir};

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
    let out = dir.join("uas.out");
    let log = fs::File::create(&out).unwrap();
    let mut cmd = Command::new(SIPP);
    cmd.args(["-sn", "uas", "-t", "t1", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-max_socket", "200", "-nostdin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let mut uas = Proc::spawn("sipp uas", &mut cmd);
    uas.wait_listening(port, &out);
    uas
}

/// Runs a SIPp UAC against `target` (`calls` calls at `rate` per second) and waits for it
/// to finish.
pub fn run_uac(dir: &TempDir, target: &str, transport: &str, calls: u32, rate: u32) -> UacResult {
    let out_path = dir.join(&format!("uac-{transport}.out"));
    let log = fs::File::create(&out_path).unwrap();
    let port = free_port();
    let mut cmd = Command::new(SIPP);
    cmd.args(["-sn", "uac", "-t", transport, target, "-s", "service"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        // With -t tn, sipp shares sockets between calls once -max_socket are open and then
        // breaks a shared socket under another call's feet (EPIPE in sipp's own error log,
        // no close on sipwired's side). The tn run stays below this limit.
        .args(["-max_socket", "2000", "-recv_timeout", "10000"])
        .args(["-timeout", "90s", "-timeout_error", "-nostdin"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut uac = Proc::spawn("sipp uac", &mut cmd);
    let status = uac
        .wait_timeout(Duration::from_secs(120))
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
