//! The example C server examples/c/sipwire_responder.c, built against libsipwire (static and
//! shared) and driven as a real peer: SIPp sends 500 OPTIONS over one connection (`-t t1`)
//! and 500 over a connection each (`-t tn`) in each receive mode (callbacks, epoll), a plain
//! TcpStream checks the echo of a MESSAGE and compact header forms, and the callbacks mode
//! runs once under ASan/UBSan. Every wait is a condition with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::{sipp_counter, tail, SIPP};

use common::{Check, Link};

/// The example's source, relative to the repository root.
const SOURCE: &str = "examples/c/sipwire_responder.c";

/// One SIPp run at a time (a shared 2-core machine).
static SERIAL: Mutex<()> = Mutex::new(());

/// OPTIONS per SIPp run, and the rate they are sent at.
const CALLS: u32 = 500;
const RATE: u32 = 500;

/// A SIPp UAC scenario: OPTIONS, expecting a 200 whose To carries the responder's tag.
const OPTIONS_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="OPTIONS UAC">
  <send>
    <![CDATA[

      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: [len]

    ]]>
  </send>
  <recv response="200" rtd="true">
    <action>
      <ereg regexp=";tag=sw[0-9a-f]{8}" search_in="hdr" header="To:" check_it="true" assign_to="1"/>
    </action>
  </recv>
  <Reference variables="1"/>
</scenario>
"#;

/// The example built once per link mode and instrumentation (tests run concurrently and
/// would otherwise compile to the same path at the same time).
fn responder(link: Link, check: Check) -> &'static Path {
    static STATIC_PLAIN: OnceLock<PathBuf> = OnceLock::new();
    static SHARED_PLAIN: OnceLock<PathBuf> = OnceLock::new();
    static STATIC_ASAN: OnceLock<PathBuf> = OnceLock::new();
    let cell = match (link, check) {
        (Link::Static, Check::None) => &STATIC_PLAIN,
        (Link::Shared, Check::None) => &SHARED_PLAIN,
        (Link::Static, Check::Sanitizers) => &STATIC_ASAN,
        other => panic!("no build for {other:?}"),
    };
    cell.get_or_init(|| common::build("sipwire_responder", &[SOURCE], link, check, &[]))
}

/// A running responder: its guard, address and output files.
struct Responder {
    proc: Proc,
    addr: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Responder {
    /// Starts `exe --mode mode --listen 127.0.0.1:0 extra...` and waits for its
    /// `listening on` line.
    fn start(exe: &Path, mode: &str, dir: &TempDir, sanitizers: bool, extra: &[&str]) -> Responder {
        let stdout = dir.join(&format!("responder-{mode}.out"));
        let stderr = dir.join(&format!("responder-{mode}.err"));
        let mut cmd = Command::new(exe);
        cmd.args(["--mode", mode, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        if sanitizers {
            common::sanitizer_env(&mut cmd);
        }
        let mut proc = Proc::spawn("sipwire_responder", &mut cmd);
        let mut addr = None;
        wait_for("the responder's `listening on` line", WAIT, || {
            if let Some(st) = proc.wait_timeout(Duration::ZERO) {
                panic!(
                    "sipwire_responder exited ({st}) before listening: {}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            let out = fs::read_to_string(&stdout).unwrap_or_default();
            // Only a complete line counts (the read may race with the write).
            addr = out
                .split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .find_map(|l| l.strip_prefix("listening on "))
                .and_then(|a| a.trim().parse::<SocketAddr>().ok());
            addr.is_some()
        });
        let addr = addr.unwrap();
        assert_ne!(addr.port(), 0, "the line must give the port the OS chose");
        Responder {
            proc,
            addr,
            stdout,
            stderr,
        }
    }

    /// SIGTERM; waits for the exit and returns its status and output.
    fn stop(mut self) -> Output {
        let pid = i32::try_from(self.proc.child.as_ref().unwrap().id()).unwrap();
        // SAFETY: kill(2) with the pid of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let status = self
            .proc
            .wait_timeout(WAIT)
            .expect("sipwire_responder did not exit within 10s of SIGTERM");
        self.proc.child = None;
        Output {
            status,
            stdout: fs::read(&self.stdout).unwrap_or_default(),
            stderr: fs::read(&self.stderr).unwrap_or_default(),
        }
    }
}

/// The counters of the responder's exit line `answered N, echoed M, dropped K`.
fn summary(o: &Output) -> (u64, u64, u64) {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("answered "))
        .unwrap_or_else(|| panic!("no summary line in:\n{err}"));
    let n: Vec<u64> = line
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(n.len(), 3, "summary {line:?}");
    (n[0], n[1], n[2])
}

/// Runs SIPp's OPTIONS scenario against `target`: `calls` requests at `rate` per second
/// over `transport`; asserts every one got its 200.
fn sipp_options(dir: &TempDir, target: SocketAddr, transport: &str, calls: u32, rate: u32) {
    let scen = dir.join("options.xml");
    fs::write(&scen, OPTIONS_XML).unwrap();
    let out = dir.join(&format!("sipp-{transport}.out"));
    let mut cmd = Command::new(SIPP);
    cmd.arg("-sf")
        .arg(&scen)
        .args(["-t", transport, "-i", "127.0.0.1", "-p", "0"])
        .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
        // -t tn: a socket per call, all below -max_socket (no sharing between calls).
        .args(["-max_socket", "2000", "-recv_timeout", "10000"])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin"])
        .arg(target.to_string())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::null());
    let started = std::time::Instant::now();
    let mut sipp = Proc::spawn("sipp", &mut cmd);
    let status = sipp
        .wait_timeout(Duration::from_secs(90))
        .expect("sipp did not finish");
    sipp.child = None;
    let elapsed = started.elapsed();
    let screen = fs::read_to_string(&out).unwrap_or_default();
    let ok = sipp_counter(&screen, "Successful call").unwrap_or(0);
    let failed = sipp_counter(&screen, "Failed call").unwrap_or(u64::MAX);
    println!(
        "sipp -t {transport}: {ok} OPTIONS answered, {failed} failed, in {:.2}s",
        elapsed.as_secs_f64()
    );
    assert_eq!(
        (status.code(), ok, failed),
        (Some(0), u64::from(calls), 0),
        "sipp -t {transport}:\n{}",
        tail(&screen)
    );
}

/// Both SIPp runs (t1, tn) against one responder in `mode`, then SIGTERM: exit 0 and every
/// OPTIONS counted as answered.
fn options_under_sipp(link: Link, mode: &str) {
    require_program(SIPP, "sip-tester");
    let exe = responder(link, Check::None);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new(&format!("c-example-{mode}"));
    let r = Responder::start(exe, mode, &dir, false, &[]);
    sipp_options(&dir, r.addr, "t1", CALLS, RATE);
    sipp_options(&dir, r.addr, "tn", CALLS, RATE);
    let o = r.stop();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "exit {:?}:\n{err}", o.status);
    assert_eq!(summary(&o), (2 * u64::from(CALLS), 0, 0), "{err}");
}

#[test]
fn callbacks_mode_answers_1000_sipp_options() {
    options_under_sipp(Link::Static, "callbacks");
}

#[test]
fn epoll_mode_answers_1000_sipp_options() {
    options_under_sipp(Link::Shared, "epoll");
}

/// A TCP peer reading whole SIP messages (framed by Content-Length) with a deadline.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, msg: &str) {
        self.stream.write_all(msg.as_bytes()).unwrap();
    }

    /// The next message: its head (start line and headers) and body.
    fn read(&mut self) -> (String, Vec<u8>) {
        let deadline = Deadline::after(WAIT);
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                let len: usize = header(&head, "Content-Length")
                    .expect("a Content-Length")
                    .parse()
                    .unwrap();
                if self.buf.len() >= end + 4 + len {
                    let body = self.buf[end + 4..end + 4 + len].to_vec();
                    self.buf.drain(..end + 4 + len);
                    return (head, body);
                }
            }
            assert!(!deadline.passed(), "no complete response within {WAIT:?}");
            self.stream
                .set_read_timeout(Some(deadline.left().max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the responder closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the response: {e}"),
            }
        }
    }
}

/// Every value of header `name` in `head`, in order.
fn headers<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// The single value of header `name` in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    let v = headers(head, name);
    assert!(v.len() <= 1, "{name} more than once in:\n{head}");
    v.first().copied()
}

/// A MESSAGE with full header names, one with compact forms (and odd case, folding), a
/// response, an ACK and a request without Call-ID: the two MESSAGEs are echoed, the rest
/// gets nothing (the dropped one is counted), and the connection keeps working.
fn echo_exchange(addr: SocketAddr) {
    let mut p = Peer::connect(addr);
    let body = "Hello, sipwire!\r\nsecond line";
    p.send(&format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-first\r\n\
         Via: SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bK-second, SIP/2.0/TCP 192.0.2.3;branch=z9hG4bK-third\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: echo-1@192.0.2.1\r\n\
         CSeq: 7 MESSAGE\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let (head, got) = p.read();
    assert!(head.starts_with("SIP/2.0 200 OK\r\n"), "{head}");
    assert_eq!(
        headers(&head, "Via"),
        [
            "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-first",
            "SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bK-second, SIP/2.0/TCP 192.0.2.3;branch=z9hG4bK-third"
        ],
        "{head}"
    );
    assert_eq!(header(&head, "Call-ID"), Some("echo-1@192.0.2.1"), "{head}");
    assert_eq!(header(&head, "CSeq"), Some("7 MESSAGE"), "{head}");
    assert_eq!(
        header(&head, "From"),
        Some("\"Alice\" <sip:alice@example.com>;tag=a1")
    );
    let to = header(&head, "To").unwrap();
    assert!(to.starts_with("<sip:bob@example.com>;tag="), "{head}");
    assert_eq!(header(&head, "Content-Type"), Some("text/plain"), "{head}");
    assert_eq!(got, body.as_bytes());

    // Compact forms, names in odd case, a folded Via, a To that already has a tag (and a
    // "tag" inside its URI that is not one), no Content-Type.
    let body = "compact";
    p.send(&format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         v: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-c1\r\n\
         VIA : SIP/2.0/TCP 192.0.2.9\r\n  ;branch=z9hG4bK-folded\r\n\
         f: <sip:alice@example.com>;tag=a2\r\n\
         t: <sip:bob@example.com;tag=uri>;TAG = b2\r\n\
         i: echo-2\r\n\
         cseq: 8 MESSAGE\r\n\
         l: {}\r\n\r\n{body}",
        body.len()
    ));
    let (head, got) = p.read();
    assert!(head.starts_with("SIP/2.0 200 OK\r\n"), "{head}");
    assert_eq!(
        headers(&head, "Via"),
        [
            "SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-c1",
            "SIP/2.0/TCP 192.0.2.9 ;branch=z9hG4bK-folded"
        ],
        "{head}"
    );
    assert_eq!(header(&head, "Call-ID"), Some("echo-2"), "{head}");
    assert_eq!(header(&head, "CSeq"), Some("8 MESSAGE"), "{head}");
    assert_eq!(
        header(&head, "From"),
        Some("<sip:alice@example.com>;tag=a2")
    );
    assert_eq!(
        header(&head, "To"),
        Some("<sip:bob@example.com;tag=uri>;TAG = b2"),
        "a tagged To is copied as is"
    );
    assert_eq!(header(&head, "Content-Type"), None, "{head}");
    assert_eq!(got, body.as_bytes());

    // A response (ignored), an ACK (never answered), a request without Call-ID (dropped),
    // then an OPTIONS: the next message back must be the OPTIONS' 200, with no body.
    p.send(
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-r\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n\
         Call-ID: resp\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n\
         ACK sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-a\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n\
         Call-ID: ack\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n\
         INFO sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-n\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n\
         CSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n\
         OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-o\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n\
         Call-ID: options-after\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    let (head, got) = p.read();
    assert_eq!(header(&head, "Call-ID"), Some("options-after"), "{head}");
    assert_eq!(header(&head, "CSeq"), Some("2 OPTIONS"), "{head}");
    assert_eq!(header(&head, "Content-Length"), Some("0"), "{head}");
    assert!(got.is_empty());
}

#[test]
fn echoes_requests_and_reads_compact_forms_in_both_modes() {
    for (link, mode) in [(Link::Static, "callbacks"), (Link::Shared, "epoll")] {
        let exe = responder(link, Check::None);
        let dir = TempDir::new(&format!("c-example-echo-{mode}"));
        // A config file too: it is loaded, then --listen adds the address.
        let cfg = dir.join("responder.cfg");
        fs::write(&cfg, "tcp_children=1\ntcp_connection_lifetime=60\n").unwrap();
        let cfg = cfg.to_str().unwrap();
        let r = Responder::start(exe, mode, &dir, false, &["--config", cfg]);
        echo_exchange(r.addr);
        let o = r.stop();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{mode}: exit {:?}:\n{err}", o.status);
        assert_eq!(summary(&o), (1, 2, 1), "{mode}: {err}");
    }
}

#[test]
fn callbacks_mode_is_clean_under_asan_and_ubsan() {
    require_program(SIPP, "sip-tester");
    let exe = responder(Link::Static, Check::Sanitizers);
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("c-example-asan");
    let r = Responder::start(exe, "callbacks", &dir, true, &[]);
    sipp_options(&dir, r.addr, "t1", 100, 200);
    echo_exchange(r.addr);
    let o = r.stop();
    common::assert_clean("sipwire_responder under ASan/UBSan", &o);
    assert_eq!(summary(&o), (101, 2, 1));
}
