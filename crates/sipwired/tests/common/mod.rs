//! Helpers shared by sipwired's integration tests: the daemon as a child process, external
//! programs (sipp, Kamailio) under guards that always stop them, ports, temp dirs and a tiny
//! SIP-over-TCP peer.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod sipp;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// The daemon under test.
pub const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "sipwired-test-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released: another process could take it in
/// between, which is unlikely enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True if something listens on TCP `port` (any address), read from /proc/net/tcp{,6}
/// so that checking does not open a connection to the program being waited for.
pub fn is_listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        fs::read_to_string(f).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
            })
        })
    })
}

/// Waits until `cond` holds, polling; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL of its whole process group) when
/// the guard drops, also when a test fails.
pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` in a process group of its own (so helpers it forks are stopped too).
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.as_ref().unwrap().id()).unwrap())
    }

    /// Sends `sig` to the process only.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid(), sig);
    }

    /// Waits for the exit up to `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait, then SIGKILL the group; returns the exit status if it exited by itself.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_ref()?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let st = self.wait_timeout(Duration::from_secs(5));
        // Whatever is left of the group (Kamailio's workers, say).
        let _ = killpg(pid, Signal::SIGKILL);
        if st.is_none() {
            if let Some(c) = self.child.as_mut() {
                let _ = c.wait();
            }
        }
        self.child = None;
        st
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// A running sipwired with its stdout collected.
pub struct Daemon {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub dir: TempDir,
}

impl Daemon {
    /// Starts sipwired with `args` plus `--ctl` in a temp dir, and `--listen
    /// tcp:127.0.0.1:0` unless the args have a `-f` or `--listen`. Returns once it printed
    /// "ready".
    pub fn start(args: &[&str]) -> Daemon {
        let dir = TempDir::new("daemon");
        let ctl = dir.join("ctl.sock");
        let mut cmd = Command::new(SIPWIRED);
        cmd.args(args)
            .arg("--ctl")
            .arg(&ctl)
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
        let deadline = Instant::now() + WAIT;
        let mut addr = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
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

    /// SIGTERM; returns the exit status and the counters of the shutdown lines (the
    /// runtime's prefixed with `runtime.`).
    pub fn stop(mut self) -> (ExitStatus, Vec<(String, u64)>) {
        self.proc.signal(Signal::SIGTERM);
        let st = self
            .proc
            .wait_timeout(WAIT)
            .expect("sipwired did not exit after SIGTERM");
        self.proc.child = None;
        let deadline = Instant::now() + WAIT;
        let parse = |l: &str, prefix: &str| -> Vec<(String, u64)> {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((format!("{prefix}{k}"), v.parse().ok()?)))
                .collect()
        };
        let counters = loop {
            let lines = self.lines.lock().unwrap().clone();
            if let Some(l) = lines.iter().find(|l| l.starts_with("sipwired: stopped")) {
                let mut c = parse(l, "");
                if let Some(rt) = lines
                    .iter()
                    .find(|l| l.starts_with("sipwired: runtime counters:"))
                {
                    c.extend(parse(rt, "runtime."));
                }
                break c;
            }
            assert!(Instant::now() < deadline, "no shutdown line");
            std::thread::sleep(Duration::from_millis(10));
        };
        (st, counters)
    }
}

/// The value of counter `name` in a shutdown line's counters.
pub fn counter(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no counter {name} in {counters:?}"))
        .1
}

/// A SIP peer over one TCP connection, framing by Content-Length.
pub struct SipConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl SipConn {
    pub fn connect(addr: SocketAddr) -> SipConn {
        let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        SipConn::from(stream)
    }

    pub fn from(stream: TcpStream) -> SipConn {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        SipConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub fn send(&mut self, msg: &str) {
        self.stream.write_all(msg.as_bytes()).unwrap();
    }

    /// The next complete message; panics after [`WAIT`].
    pub fn recv(&mut self) -> String {
        loop {
            if let Some(n) = complete_len(&self.buf) {
                let m: Vec<u8> = self.buf.drain(..n).collect();
                return String::from_utf8(m).unwrap();
            }
            let mut chunk = [0u8; 8192];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("no SIP message in time");
            assert!(n > 0, "connection closed; buffered: {:?}", self.buf);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True if the peer closes the connection within [`WAIT`] (data before it is ignored).
    pub fn closed_by_peer(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Length of the first complete message in `buf`, if there is one.
fn complete_len(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let cl = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (buf.len() >= end + cl).then_some(end + cl)
}

/// The value of the first header `name` (case-insensitive), if any.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    headers(msg, name).into_iter().next()
}

/// Every value of header `name`, in order (lines, not comma-split).
pub fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// The first line.
pub fn start_line(msg: &str) -> &str {
    msg.lines().next().unwrap()
}

/// A UAS's response to `req`: its Vias, From, To (plus a tag), Call-ID, CSeq.
pub fn response_to(req: &str, status: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for l in req.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = l.split(':').next().unwrap().trim();
        if ["Via", "From", "Call-ID", "CSeq"]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            out += l;
            out += "\r\n";
        } else if name.eq_ignore_ascii_case("To") {
            out += l;
            if !l.contains(";tag=") {
                out += ";tag=uas-1";
            }
            out += "\r\n";
        }
    }
    out += extra;
    out + "Content-Length: 0\r\n\r\n"
}

/// Panics with a hint when an external program the tests drive is missing.
pub fn require_program(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run `make test`, which installs the Debian package `{package}`"
    );
}
