//! A `sipwired` child process: started, waited for ("ready"), stopped with its counters.
//!
//! The binary path comes from the caller (`env!("CARGO_BIN_EXE_sipwired")` in sipwired's own
//! tests); nothing here runs cargo.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::process::{Proc, TempDir};
use crate::wait::{wait_for, Deadline, WAIT};

/// A running sipwired with its stdout collected line by line.
#[derive(Debug)]
pub struct Daemon {
    /// The child process (stopped on drop).
    pub proc: Proc,
    /// The first `listening on tcp:` address it printed.
    pub addr: SocketAddr,
    /// Every stdout line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Its private directory (the control socket lives here).
    pub dir: TempDir,
}

impl Daemon {
    /// Starts the sipwired binary `bin` with `args` plus `--ctl` in a temp dir, and
    /// `--listen tcp:127.0.0.1:0` unless the args have a `-f` or `--listen`. Returns once it
    /// printed "ready" (its listeners and control socket are open then).
    pub fn start(bin: impl AsRef<Path>, args: &[&str]) -> Daemon {
        let dir = TempDir::new("sipwired");
        let mut cmd = Command::new(bin.as_ref());
        cmd.args(args)
            .arg("--ctl")
            .arg(dir.join("ctl.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if !args.iter().any(|a| *a == "--listen" || *a == "-f") {
            cmd.args(["--listen", "tcp:127.0.0.1:0"]);
        }
        let mut proc = Proc::spawn("sipwired", &mut cmd);
        let stdout = proc.child.as_mut().unwrap().stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                keep.lock().unwrap().push(l.clone());
                let _ = tx.send(l);
            }
        });
        let deadline = Deadline::after(WAIT);
        let mut addr = None;
        loop {
            match rx.recv_timeout(deadline.left()) {
                Ok(l) if l == "ready" => break,
                Ok(l) => {
                    if let Some(a) = l.strip_prefix("listening on tcp:") {
                        addr.get_or_insert(a.parse::<SocketAddr>().unwrap());
                    }
                }
                Err(_) => panic!(
                    "sipwired did not get ready: {:?}, exit {:?}",
                    lines.lock().unwrap(),
                    proc.wait_timeout(Duration::ZERO)
                ),
            }
        }
        Daemon {
            proc,
            addr: addr.expect("no 'listening on' line"),
            lines,
            dir,
        }
    }

    /// The control socket it was started with.
    pub fn ctl_socket(&self) -> PathBuf {
        self.dir.join("ctl.sock")
    }

    /// SIGTERM; returns the exit status and the counters of the shutdown lines (the
    /// runtime's prefixed with `runtime.`).
    pub fn stop(mut self) -> (ExitStatus, Vec<(String, u64)>) {
        self.proc.signal(Signal::SIGTERM);
        let st = self
            .proc
            .wait_timeout(WAIT)
            .expect("sipwired did not exit after SIGTERM");
        self.proc.child = None;
        let stopped = |lines: &[String]| lines.iter().any(|l| l.starts_with("sipwired: stopped"));
        wait_for("the shutdown line", WAIT, || {
            stopped(&self.lines.lock().unwrap())
        });
        let lines = self.lines.lock().unwrap().clone();
        let mut c = Vec::new();
        if let Some(l) = lines.iter().find(|l| l.starts_with("sipwired: stopped")) {
            c = parse_counters(l, "");
        }
        if let Some(rt) = lines
            .iter()
            .find(|l| l.starts_with("sipwired: runtime counters:"))
        {
            c.extend(parse_counters(rt, "runtime."));
        }
        (st, c)
    }
}

/// The `key=number` words of `line`, keys prefixed with `prefix`.
fn parse_counters(line: &str, prefix: &str) -> Vec<(String, u64)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((format!("{prefix}{k}"), v.parse().ok()?)))
        .collect()
}

/// The value of counter `name` in a shutdown line's counters.
pub fn counter(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no counter {name} in {counters:?}"))
        .1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_shutdown_lines() {
        let c = parse_counters("sipwired: stopped (0 dropped in all); a=1 b=22 c=x", "rt.");
        assert_eq!(c, vec![("rt.a".to_string(), 1), ("rt.b".to_string(), 22)]);
        assert_eq!(counter(&c, "rt.b"), 22);
    }
}
