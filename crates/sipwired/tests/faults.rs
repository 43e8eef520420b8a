//! Fault tests: sipwired relaying N requests while the next hop's link drops packets, the next
//! hop stalls (stops reading), resets (RST mid-stream) or disappears (link down).
//!
//! **What is asserted.** Every request is accounted for exactly once:
//! `delivered + answered_503 == N`, where
//! - *delivered* = read by the next hop (a complete message, counted by its Call-ID);
//! - *answered_503* = the relay answered the client `503`: a send the runtime refused at once,
//!   or one it accepted and never completely wrote — handed back to sipwired's
//!   `Handler::on_unsent` (a failed connect's queue, a queue full or timed out, a reset, a
//!   corked batch dropped). Those are also counted in `unsent_msgs` of a close event (the
//!   runtime logs each one as `conid N: M queued messages (B bytes) not sent: REASON`, read
//!   from sipwired's stderr: *reported*, printed, and never more than *answered_503*).
//!
//! Delivered and 503'd Call-IDs must also be disjoint and without duplicates.
//!
//! **Why it can be exact.** Bytes TCP had accepted (the kernel's buffers) when a connection is
//! given up are nobody's to report, so every scenario lets TCP finish with them: the stalled
//! or cut-off next hop reads what is left once the relay has closed the connection (its
//! orphaned socket still delivers), and the reset happens only once the next hop has read
//! everything sent so far (the rest is sent after it). Small per-namespace socket buffers
//! (`net.ipv4.tcp_wmem`/`tcp_rmem`) make the write queue fill within a few hundred requests.
//!
//! **How.** Each `#[test]` re-runs its ignored `inner_*` twin inside a private network and
//! mount namespace (`sipwire_testkit::netns`); the inner run builds a veth pair to a peer
//! namespace, runs the next hop there (this binary again, `next_hop`, driven by lines on its
//! stdin, reporting `NH ...` lines on stdout), starts sipwired on loopback with
//! `--forward tcp:198.18.0.2:5060`, and plays the client itself. Needs root (skipped with a
//! message otherwise), iproute2, util-linux and nftables (`make test-deps`).
//!
//! - `loss`: 10 % of the next hop's input packets dropped (nftables `numgen random`): TCP
//!   retransmits, all N delivered and answered 200.
//! - `stall`: the next hop answers K, then stops reading and closes its listener: the write
//!   queue hits `tcp_conn_wq_max` (or `tcp_send_timeout`) and the connection is closed, its
//!   queue reported; later requests are refused (503).
//! - `reset`: the next hop answers K, reads until idle, then closes with `SO_LINGER 0` (RST)
//!   and its listener; the rest get 503s.
//! - `link_down`: the next hop answers K, then its link goes down: writes pile up, the
//!   connection is closed (queue full / send timeout, reported), new connects time out (503);
//!   the link comes back afterwards so TCP can finish what it had accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipwire_frame::{DecoderConfig, Fill, FrameKind, ReadBuf, StreamDecoder};
use sipwire_testkit::netns::{relaunch, PeerNs, PEER};
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");
/// Set in the relaunched (inner) runs.
const ROLE: &str = "SIPWIRE_FAULTS_INNER";
/// Requests per scenario.
const N: usize = 200;
/// The next hop's port.
const NH_PORT: u16 = 5060;
/// Body of every request: a few hundred bytes, so the buffers fill within N requests.
const BODY_LEN: usize = 600;

// ---------------------------------------------------------------- outer tests

fn outer(inner: &str) {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    if let Some(text) = relaunch(inner, ROLE) {
        for l in text.lines().filter(|l| l.starts_with("faults:")) {
            eprintln!("{l}");
        }
    }
}

#[test]
fn loss() {
    outer("inner_loss");
}

#[test]
fn stall() {
    outer("inner_stall");
}

#[test]
fn reset() {
    outer("inner_reset");
}

#[test]
fn link_down() {
    outer("inner_link_down");
}

// ---------------------------------------------------------------- the next hop

/// Next-hop states (set from stdin commands).
const ANSWER: u8 = 0;
/// Stops reading; the listener is closed.
const STALL: u8 = 1;
/// Reads (and counts) without answering; the listener is closed.
const DRAIN: u8 = 2;
/// Resets every connection (SO_LINGER 0, close); the listener is closed.
const RESET: u8 = 3;

fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "NH {line}");
    let _ = o.flush();
}

/// The request number in a Call-ID `f{n}@faults`.
fn number(msg: &str) -> Option<usize> {
    header(msg, "Call-ID")?
        .strip_prefix('f')?
        .strip_suffix("@faults")?
        .parse()
        .ok()
}

/// One accepted connection of the next hop.
fn serve(s: TcpStream, state: Arc<AtomicU8>) {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut dec =
        StreamDecoder::with_buffer(DecoderConfig::default(), ReadBuf::new(1 << 16).unwrap());
    loop {
        match state.load(Ordering::SeqCst) {
            STALL => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            RESET => {
                nix::sys::socket::setsockopt(
                    &s,
                    nix::sys::socket::sockopt::Linger,
                    &nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                )
                .unwrap();
                drop(s);
                say("reset");
                return;
            }
            _ => {}
        }
        match dec.fill_from(&mut &s) {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::WouldBlock) => continue,
            Ok(Fill::Eof) => {
                say(&format!("eof partial={}", dec.buffered()));
                return;
            }
            Ok(Fill::Full) => panic!("next hop: message too large"),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => {
                say(&format!("error {e}"));
                return;
            }
        }
        while let Some(f) = dec.next_frame().unwrap() {
            if !matches!(f.kind, FrameKind::Sip { .. }) {
                continue;
            }
            let msg = String::from_utf8_lossy(f.bytes).into_owned();
            let n = number(&msg).expect("a request of ours");
            say(&format!("rx {n}"));
            if state.load(Ordering::SeqCst) == ANSWER {
                let _ = (&s).write_all(response_to(&msg, "200 OK", "").as_bytes());
            }
        }
    }
}

#[test]
#[ignore = "the next hop, run inside the peer namespace by the inner tests"]
fn next_hop() {
    assert!(std::env::var(ROLE).is_ok(), "run through the outer tests");
    let listener = TcpListener::bind((PEER, NH_PORT)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let state = Arc::new(AtomicU8::new(ANSWER));
    let st = state.clone();
    std::thread::spawn(move || {
        for l in std::io::stdin().lock().lines() {
            let Ok(l) = l else { break };
            let v = match l.trim() {
                "stall" => STALL,
                "drain" => DRAIN,
                "reset" => RESET,
                other => panic!("next hop: unknown command {other:?}"),
            };
            st.store(v, Ordering::SeqCst);
            say(&format!("ok {l}"));
        }
        // stdin closed: the test is over.
        std::process::exit(0);
    });
    say("ready");
    // Accept until a fault closes the listener (later connects are refused).
    while state.load(Ordering::SeqCst) == ANSWER {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_nodelay(true).unwrap();
                let st = state.clone();
                std::thread::spawn(move || serve(s, st));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("next hop: accept: {e}"),
        }
    }
    drop(listener);
    say("listener closed");
    std::thread::sleep(Duration::from_secs(120));
}

/// The next hop as seen from the inner test.
struct NextHop {
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<String>>>,
}

impl NextHop {
    fn start(ns: &PeerNs) -> NextHop {
        let exe = std::env::current_exe().unwrap();
        let mut child = ns
            .command(exe.to_str().unwrap())
            .args(["--ignored", "--exact", "next_hop", "--nocapture"])
            .env(ROLE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if let Some(l) = l.strip_prefix("NH ") {
                    keep.lock().unwrap().push(l.to_string());
                }
            }
        });
        let nh = NextHop {
            child,
            stdin,
            lines,
        };
        nh.wait_line("ready");
        nh
    }

    fn has(&self, line: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l == line)
    }

    fn wait_line(&self, line: &str) {
        wait_for(&format!("next hop says {line:?}"), WAIT, || self.has(line));
    }

    fn cmd(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        self.wait_line(&format!("ok {c}"));
    }

    /// Request numbers read, in order.
    fn received(&self) -> Vec<usize> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("rx ")?.parse().ok())
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

impl Drop for NextHop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- the relay and the client

/// Request `n`: an OPTIONS with every header a stateless reply needs and a body.
fn request(n: usize, me: std::net::SocketAddr) -> String {
    let body = "x".repeat(BODY_LEN);
    format!(
        "OPTIONS sip:nh@{PEER} SIP/2.0\r\n\
Via: SIP/2.0/TCP {me};branch=z9hG4bK-f-{n}\r\n\
Max-Forwards: 70\r\n\
From: <sip:uac@example.com>;tag=uac-{n}\r\n\
To: <sip:nh@example.com>\r\n\
Call-ID: f{n}@faults\r\n\
CSeq: {n} OPTIONS\r\n\
Content-Type: text/plain\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// sipwired started with `cfg` (Kamailio syntax) and its stderr in a file.
struct Relay {
    daemon: Option<Daemon>,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl Relay {
    fn start(cfg: &str) -> Relay {
        let dir = TempDir::new("faults");
        let file = dir.join("sipwired.cfg");
        std::fs::write(&file, cfg).unwrap();
        let log = dir.join("stderr.log");
        // Through sh only to send stderr to the file; `exec` keeps the pid sipwired's.
        let script = format!(
            "RUST_LOG=warn,sipwire::tcp_main=info exec \"$0\" \"$@\" 2>>{}",
            log.display()
        );
        let fwd = format!("tcp:{PEER}:{NH_PORT}");
        let daemon = Daemon::start(
            "sh",
            &[
                "-c",
                &script,
                SIPWIRED,
                "-f",
                file.to_str().unwrap(),
                "--forward",
                &fwd,
            ],
        );
        Relay {
            daemon: Some(daemon),
            log,
            _dir: dir,
        }
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().unwrap()
    }

    /// Sum of `unsent_msgs` over the close events so far (their log lines).
    fn reported(&self) -> usize {
        reported_in(&self.log)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One counter of `stats.get` (runtime's, or `relay.`-prefixed).
    fn stat(&self, name: &str) -> u64 {
        let sock = self.d().ctl_socket();
        let argv = ["-s", sock.to_str().unwrap(), "--json", "stats.get"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = sipwire_ctl::main_with(argv, &mut out, &mut err);
        assert_eq!(code, 0, "stats.get: {}", String::from_utf8_lossy(&err));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {v}"))
    }

    /// Every outbound connect after the first has failed, and the first was closed by a fault.
    fn upstream_settled(&self) -> bool {
        let faults = self.stat("send_timeouts")
            + self.stat("queue_full")
            + self.stat("resets")
            + self.stat("timeouts");
        faults >= 1 && self.stat("connects") == self.stat("connect_failures") + 1
    }
}

/// The close reasons of connects that never completed, as the runtime prints them.
const CONNECT_FAILURES: [&str; 3] = ["connection refused", "connect timed out", "connect failed"];

/// Sum of `unsent_msgs` in the close-event log lines of `log`, but for failed connects (the
/// rest: those of connections that were up).
fn reported_in(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (head, reason) = l.split_once(" queued messages (")?;
            let reason = reason.split_once("not sent: ")?.1;
            if CONNECT_FAILURES.iter().any(|r| reason.starts_with(r)) {
                return None;
            }
            head.rsplit(' ').next()?.parse::<usize>().ok()
        })
        .sum()
}

/// The client: one connection to the relay, responses collected by a reader thread.
struct Client {
    stream: TcpStream,
    /// (status code, request number) of every response.
    responses: Arc<Mutex<Vec<(u16, usize)>>>,
}

impl Client {
    fn connect(relay: &Relay) -> Client {
        let stream = TcpStream::connect(relay.d().addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let responses = Arc::new(Mutex::new(Vec::new()));
        let keep = responses.clone();
        let mut rd = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut dec = StreamDecoder::with_buffer(
                DecoderConfig::default(),
                ReadBuf::new(1 << 16).unwrap(),
            );
            while let Ok(Fill::Data(_)) = dec.fill_from(&mut rd) {
                while let Some(f) = dec.next_frame().unwrap() {
                    if !matches!(f.kind, FrameKind::Sip { .. }) {
                        continue;
                    }
                    let msg = String::from_utf8_lossy(f.bytes).into_owned();
                    let code = start_line(&msg)
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .expect("a response");
                    keep.lock()
                        .unwrap()
                        .push((code, number(&msg).expect("our Call-ID")));
                }
            }
        });
        Client { stream, responses }
    }

    /// Sends requests `range`, one every `gap` (a rate, not a wait for anything).
    fn send(&mut self, range: std::ops::Range<usize>, gap: Duration) {
        let me = self.stream.local_addr().unwrap();
        for n in range {
            self.stream.write_all(request(n, me).as_bytes()).unwrap();
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
    }

    fn with_status(&self, code: u16) -> Vec<usize> {
        self.responses
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == code)
            .map(|(_, n)| *n)
            .collect()
    }

    fn wait_status(&self, code: u16, count: usize) {
        wait_for(&format!("{count} responses {code}"), WAIT, || {
            self.with_status(code).len() >= count
        });
    }
}

/// The common setup: the peer namespace (small socket buffers on both sides), its next hop,
/// sipwired with `cfg` lines added to the common ones, and a client.
fn setup(extra_cfg: &str, small_buffers: bool) -> (PeerNs, NextHop, Relay, Client) {
    let ns = PeerNs::new("sipwire_nh");
    if small_buffers {
        // Per-namespace TCP buffer limits: the relay's sends and the next hop's receives
        // stay small, so a stalled peer fills the relay's write queue within N requests.
        sipwire_testkit::netns::sh("sysctl -q -w net.ipv4.tcp_wmem='4096 8192 16384'");
        ns.sh("sysctl -q -w net.ipv4.tcp_rmem='4096 8192 16384'");
    }
    let nh = NextHop::start(&ns);
    let cfg = format!(
        "listen=tcp:127.0.0.1:0\ntcp_children=2\ntcp_async=yes\ntcp_keepalive=yes\n\
         tcp_keepidle=1\ntcp_keepintvl=1\ntcp_keepcnt=2\n{extra_cfg}"
    );
    let relay = Relay::start(&cfg);
    let client = Client::connect(&relay);
    (ns, nh, relay, client)
}

/// Waits (bounded) until every request is accounted for, then asserts the books exactly and
/// prints them.
fn account(name: &str, nh: &NextHop, mut relay: Relay, client: &Client) {
    let log_path = relay.log.clone();
    let tally = || {
        (
            nh.received(),
            client.with_status(503),
            reported_in(&log_path),
        )
    };
    let deadline = Deadline::after(WAIT);
    loop {
        let (d, e, _) = tally();
        if d.len() + e.len() >= N || deadline.passed() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let anything late (a double count) show up before the books are closed.
    std::thread::sleep(Duration::from_millis(300));
    let log = relay.log_text();
    let (_, counters) = relay.daemon.take().unwrap().stop();
    let (delivered, e503, reported) = tally();
    let ok200 = client.with_status(200).len();
    let others: Vec<_> = client
        .responses
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| *c != 200 && *c != 503)
        .copied()
        .collect();
    let line = format!(
        "faults: {name}: N={N} delivered={} answered_503={} reported={reported} \
         (200s through the relay: {ok200}; next hop EOFs: {:?}; runtime: send_timeouts={} \
         queue_full={} resets={} timeouts={} connects={} connect_failures={})",
        delivered.len(),
        e503.len(),
        nh.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("eof"))
            .cloned()
            .collect::<Vec<_>>(),
        counter(&counters, "runtime.send_timeouts"),
        counter(&counters, "runtime.queue_full"),
        counter(&counters, "runtime.resets"),
        counter(&counters, "runtime.timeouts"),
        counter(&counters, "runtime.connects"),
        counter(&counters, "runtime.connect_failures"),
    );
    let dset: BTreeSet<usize> = delivered.iter().copied().collect();
    let eset: BTreeSet<usize> = e503.iter().copied().collect();
    let neither: Vec<usize> = (0..N)
        .filter(|n| !dset.contains(n) && !eset.contains(n))
        .collect();
    let line = format!("{line}; neither delivered nor 503'd: {neither:?}");
    println!("{line}");
    assert_eq!(dset.len(), delivered.len(), "delivered twice: {line}");
    assert_eq!(eset.len(), e503.len(), "503 twice: {line}");
    assert!(
        dset.is_disjoint(&eset),
        "delivered and 503'd: {:?}; {line}",
        dset.intersection(&eset).collect::<Vec<_>>()
    );
    assert!(others.is_empty(), "other responses {others:?}; {line}");
    assert!(
        reported <= e503.len(),
        "every reported unsent request is answered 503: {line}"
    );
    assert_eq!(
        delivered.len() + e503.len(),
        N,
        "every request accounted for exactly once: {line}\nsipwired log:\n{log}"
    );
}

fn inner_guard() {
    assert!(std::env::var(ROLE).is_ok(), "run through the outer tests");
}

// ---------------------------------------------------------------- scenarios

#[test]
#[ignore = "runs inside the namespaces set up by `loss`"]
fn inner_loss() {
    inner_guard();
    let (ns, nh, relay, mut client) = setup(
        "tcp_connect_timeout=5\ntcp_send_timeout=5\ntcp_conn_wq_max=1048576\n\
         tcp_async_max_postponed_chunks=4096\n",
        false,
    );
    ns.sh("nft add table inet f && \
         nft add chain inet f in \"{ type filter hook input priority 0; }\" && \
         nft add rule inet f in tcp dport 5060 numgen random mod 10 0 counter drop");
    client.send(0..N, Duration::from_millis(2));
    let deadline = Deadline::after(3 * WAIT);
    while client.with_status(200).len() < N && !deadline.passed() {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        client.with_status(200).len(),
        N,
        "200s within {:?}; next hop read {}, 503s {}; log:\n{}",
        3 * WAIT,
        nh.received().len(),
        client.with_status(503).len(),
        relay.log_text()
    );
    let rules = ns
        .command("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    let dropped: u64 = rules
        .split("packets ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("the drop rule's counter");
    println!("faults: loss: {dropped} packets dropped by the next hop's input rule");
    assert!(dropped > 0, "the rule dropped nothing:\n{rules}");
    assert_eq!(relay.reported(), 0);
    account("loss", &nh, relay, &client);
    assert_eq!(nh.received().len(), N, "all delivered by retransmission");
    assert_eq!(client.with_status(200).len(), N);
}

/// sipwired's limits in the fault scenarios: give up on a peer within about a second.
const FAULT_CFG: &str = "tcp_connect_timeout=1\ntcp_send_timeout=1\ntcp_conn_wq_max=8192\n";

/// Answered before each fault.
const K: usize = 50;

/// Sends requests `0..k` and waits for their 200s: the first alone, so the relay's connection
/// to the next hop is up before the burst (a burst of more than
/// `tcp_async_max_postponed_chunks` messages queued on a connection that is still connecting
/// closes it, which is not the fault under test).
fn warm_up(client: &mut Client, k: usize) {
    client.send(0..1, Duration::ZERO);
    client.wait_status(200, 1);
    client.send(1..k, Duration::ZERO);
    client.wait_status(200, k);
}

#[test]
#[ignore = "runs inside the namespaces set up by `stall`"]
fn inner_stall() {
    inner_guard();
    let (_ns, mut nh, relay, mut client) = setup(FAULT_CFG, true);
    warm_up(&mut client, K);
    nh.cmd("stall");
    nh.wait_line("listener closed");
    client.send(K..N, Duration::from_millis(1));
    wait_for(
        "the stalled connection closed, later connects failed",
        WAIT,
        || relay.upstream_settled(),
    );
    // The relay gave up: what TCP still holds is read now, then the orphan's FIN.
    nh.cmd("drain");
    wait_for("the next hop read to EOF", WAIT, || nh.count("eof") == 1);
    account("stall", &nh, relay, &client);
}

#[test]
#[ignore = "runs inside the namespaces set up by `reset`"]
fn inner_reset() {
    inner_guard();
    let (_ns, mut nh, relay, mut client) = setup(FAULT_CFG, true);
    let k = N / 2;
    warm_up(&mut client, k);
    // Each answered request was read; nothing else was sent: the stream is idle.
    client.wait_status(200, k);
    nh.cmd("reset");
    nh.wait_line("reset");
    wait_for("the relay saw the reset", WAIT, || {
        relay.stat("resets") == 1
    });
    client.send(k..N, Duration::from_millis(1));
    wait_for("later connects failed", WAIT, || relay.upstream_settled());
    account("reset", &nh, relay, &client);
}

#[test]
#[ignore = "runs inside the namespaces set up by `link_down`"]
fn inner_link_down() {
    inner_guard();
    let (ns, mut nh, relay, mut client) = setup(FAULT_CFG, true);
    warm_up(&mut client, K);
    // From now on the next hop only reads and counts (no answers to a closed socket), and
    // refuses new connections; then its link disappears.
    nh.cmd("drain");
    nh.wait_line("listener closed");
    ns.link(false);
    client.send(K..N, Duration::from_millis(1));
    wait_for(
        "the cut-off connection closed, later connects failed",
        WAIT,
        || relay.upstream_settled(),
    );
    // The link comes back: the orphaned socket retransmits what TCP had accepted.
    ns.link(true);
    wait_for("the next hop read to EOF", WAIT, || nh.count("eof") == 1);
    account("link_down", &nh, relay, &client);
}
