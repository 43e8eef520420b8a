//! SCTP multi-homing through the runtime: the primary path of an association turns into a
//! black hole while requests keep coming, and the association carries on over the other path
//! with nothing lost. Needs kernel SCTP and root (network namespaces): ignored by a plain
//! `cargo test`; `make sctp-test` runs it in the QEMU guest (docs/sctp.md).
//!
//! **The network.** The test re-runs itself ([`netns::relaunch`]) inside `unshare -n -m`, a
//! private network and mount namespace with a fresh `/run`: that is namespace A, where the
//! runtime runs in-process. It adds namespace B (`ip netns add`) and joins the two with two
//! veth pairs, the two paths:
//!
//! ```text
//!   A: this process, the runtime              B: the peer (this binary again)
//!   mh1a 10.1.0.1/24   <---- path 1 ---->    mh1b 10.1.0.2/24
//!   mh2a 10.2.0.1/24   <---- path 2 ---->    mh2b 10.2.0.2/24
//! ```
//!
//! The runtime listens on `sctp:(10.1.0.1, 10.2.0.1):5060` with heartbeats every 200 ms,
//! `sctp_pathmaxrxt=2` and an RTO of 100-500 ms (initial 200). The peer runs in B as a child
//! process (`ip netns exec B` this binary, the same test in another role): a one-to-many
//! socket bound to 10.1.0.2 and 10.2.0.2 with the same timings (set with `sipwire_sys::sctp`),
//! driven by lines on its stdin (`send N`, `primary`, `quit`) and reporting what it sends and
//! receives (`sent N`, `reply N FROM`, `addr ADDR STATE`, ...) as `PEER ...` lines on stdout,
//! which the test timestamps as they arrive. (A network namespace is per thread, but entering
//! one takes `setns(2)`, and these tests may not use `unsafe`; a child process keeps the
//! runtime in-process and the peer a real, separate SCTP stack user.) The timings are the
//! same on both ends on purpose: with the kernel's defaults on one end the failover took 7 s
//! and flapped (/work/shared/reference/sctp-test-vm.md, "Multi-homing in the guest").
//!
//! **The failure.** OPTIONS requests with distinct CSeq numbers go over one association and
//! the runtime answers each (`ctx.reply`). Once both ends have confirmed the second path (a
//! heartbeat each way: SCTP sends no data on an unconfirmed path), the test asks the peer for
//! its primary path (`sctp::status(..).primary`) and black-holes it in both directions: in
//! each namespace, `ip rule add pref 10 iif DEV blackhole` on that path's veth end. Packets
//! still leave the sender (its routes are untouched, both links stay up, every address stays
//! bound) and vanish on arrival: the receiver's input route lookup fails and the packet is
//! dropped (the ICMP host-unreachable this makes goes back over the same path and is dropped
//! there in turn), so SCTP learns of the failure only from missing acknowledgements, as from a
//! broken network. (The rule has to come before the `local` table's, which each namespace
//! moves from pref 0 to 100 at setup. A `blackhole` *route* at the sender is no black hole to
//! SCTP: the route lookup fails at once and the next message went straight over the other
//! path, answered in 34 ms, no retransmission timeout involved. nftables or netem would do
//! instead, but the guest loads no netfilter or qdisc modules; rules need none.) Requests keep
//! coming every 50 ms until both ends have reported the path unreachable, then ten more.
//!
//! **What is asserted**, each wait with a deadline: every request reached the runtime exactly
//! once and every one was answered exactly once (matched by CSeq), over the one association;
//! the warm-up went over the primary path, and everything sent after the black hole went over
//! the other path, both ways (the runtime's message source, the peer's reply source); the peer
//! got `SCTP_ADDR_UNREACHABLE` for the black-holed address; the runtime counted the path
//! change (`sctp_addr_changes` grew) and logged the black-holed peer address unreachable (its
//! `sctp assoc N: path Some(ADDR) unreachable` line, read through a `log` logger installed
//! here). The times are printed (`multihome:` lines; run with `--nocapture` to see them).
//!
//! **Clean-up.** The peer child is killed and reaped on drop, and namespace B is deleted on
//! drop (`PeerNs`), also when the test panics; and namespace A, with the `/run` where B's name
//! lives, ends with the relaunched process, so even a crash leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use sipwire::config::{Config, ParseOptions};
use sipwire::Runtime;
use sipwire_sys::sctp::{
    self, AssocState, Notification, PeerAddrParamsSet, Recv, RtoInfo, SendInfo,
};
use sipwire_sys::{wait_fd, WaitFor};
use sipwire_testkit::netns::{self, PeerNs};
use sipwire_testkit::runtime::Recorder;
use sipwire_testkit::sip::{header, options, response_to};
use sipwire_testkit::{wait_for, Deadline, WAIT};

/// This test's name: the relaunched runs select it with `--exact`.
const TEST: &str = "a_black_holed_primary_path_fails_over_with_nothing_lost";
/// Set in the run inside namespace A (the runtime and the test's logic).
const INNER: &str = "SIPWIRE_MULTIHOME_INNER";
/// Set in the run inside namespace B (the peer).
const PEER_ROLE: &str = "SIPWIRE_MULTIHOME_PEER";
/// Namespace B's name (inside A's private `/run`).
const NS_B: &str = "swmh_b";
/// The runtime's SCTP port.
const PORT: u16 = 5060;

/// One path: a veth pair, A's end and B's end.
struct Path {
    a_dev: &'static str,
    a_ip: &'static str,
    b_dev: &'static str,
    b_ip: &'static str,
}

const PATHS: [Path; 2] = [
    Path {
        a_dev: "mh1a",
        a_ip: "10.1.0.1",
        b_dev: "mh1b",
        b_ip: "10.1.0.2",
    },
    Path {
        a_dev: "mh2a",
        a_ip: "10.2.0.1",
        b_dev: "mh2b",
        b_ip: "10.2.0.2",
    },
];

/// Heartbeat interval, ms, on both ends.
const HB_MS: u32 = 200;
/// Retransmissions before a path is unreachable, on both ends.
const PATHMAXRXT: u16 = 2;
/// RTO bounds, ms, on both ends.
const RTO: RtoInfo = RtoInfo {
    initial_ms: 200,
    min_ms: 100,
    max_ms: 500,
};
/// Requests answered one by one before the failure.
const WARMUP: usize = 5;
/// One request this often while the path fails.
const PACE: Duration = Duration::from_millis(50);
/// Requests sent after both ends reported the failure, before the test stops sending.
const AFTER_DETECTION: usize = 10;
/// The most the failover may take (both ends reporting the path unreachable, and then the
/// AFTER_DETECTION requests), sized for the guest's TCG: measured 0.8-1.14 s to
/// `SCTP_ADDR_UNREACHABLE` there.
const FAILOVER_WAIT: Duration = Duration::from_secs(20);

fn config(text: &str) -> Config {
    Config::from_str_with("sctp-multihome.cfg", text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn require_sctp() {
    assert!(
        sctp::available(),
        "this kernel has no SCTP: run these tests with make sctp-test"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn stat(rt: &Runtime, name: &str) -> u64 {
    rt.transport()
        .sctp_stats()
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

/// Milliseconds from `t0` to `t`, for the report.
fn ms(t0: Instant, t: Instant) -> i64 {
    if t >= t0 {
        t.duration_since(t0).as_millis() as i64
    } else {
        -(t0.duration_since(t).as_millis() as i64)
    }
}

/// The CSeq number of a SIP message.
fn cseq(msg: &[u8]) -> Option<usize> {
    header(&String::from_utf8_lossy(msg), "CSeq")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
#[ignore = "needs kernel SCTP: run by make sctp-test in a guest"]
fn a_black_holed_primary_path_fails_over_with_nothing_lost() {
    if std::env::var_os(PEER_ROLE).is_some() {
        return peer();
    }
    if std::env::var_os(INNER).is_some() {
        return inner();
    }
    require_sctp();
    if let Some(text) = netns::relaunch(TEST, INNER) {
        // Anywhere in a line: the harness's `test NAME ... ` may come first.
        for l in text
            .lines()
            .filter_map(|l| l.find("multihome:").map(|i| &l[i..]))
        {
            eprintln!("{l}");
        }
    }
}

// ---------------------------------------------------------------- the peer, in namespace B

fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "PEER {line}");
    let _ = o.flush();
}

/// The peer's socket: bound to B's end of every path, the test's timings, notifications on.
fn peer_socket() -> std::os::fd::OwnedFd {
    let fd = sctp::socket(false).unwrap();
    let raw = fd.as_raw_fd();
    let locals: Vec<SocketAddr> = PATHS
        .iter()
        .map(|p| SocketAddr::new(ip(p.b_ip), 0))
        .collect();
    sctp::bindx(raw, &locals).unwrap();
    sctp::set_rtoinfo(raw, 0, RTO).unwrap();
    sctp::set_paddrparams(
        raw,
        0,
        &PeerAddrParamsSet {
            hbinterval_ms: Some(HB_MS),
            pathmaxrxt: Some(PATHMAXRXT),
            hb_enabled: Some(true),
        },
    )
    .unwrap();
    sctp::subscribe(raw).unwrap();
    let pa = sctp::get_paddrparams(raw, 0).unwrap();
    assert_eq!((pa.hbinterval_ms, pa.pathmaxrxt), (HB_MS, PATHMAXRXT));
    fd
}

/// The peer: sends what its stdin says, reports on stdout what it sends and receives.
fn peer() {
    let fd = peer_socket();
    let raw = fd.as_raw_fd();
    let first_dst = SocketAddr::new(ip(PATHS[0].a_ip), PORT);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in std::io::stdin().lock().lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                return;
            }
        }
        // Stdin closed: the test is over (or gone).
        std::process::exit(0);
    });
    say(&format!("ready {:?}", sctp::local_addrs(raw).unwrap()));
    let mut assoc = 0;
    let mut buf = vec![0u8; 65536];
    loop {
        while let Ok(cmd) = rx.try_recv() {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            match words.as_slice() {
                ["send", n] => {
                    let n: usize = n.parse().unwrap();
                    // The first request sets the association up; the rest go by its id.
                    let (dst, info) = if assoc == 0 {
                        (Some(first_dst), SendInfo::default())
                    } else {
                        (
                            None,
                            SendInfo {
                                assoc,
                                ..SendInfo::default()
                            },
                        )
                    };
                    match sctp::send(raw, &options(n, ""), dst, &info) {
                        Ok(_) => say(&format!("sent {n}")),
                        Err(e) => say(&format!("send-error {n} {e}")),
                    }
                }
                ["primary"] => match sctp::status(raw, assoc) {
                    Ok(st) => say(&format!(
                        "primary {}",
                        st.primary.map_or("none".to_string(), |a| a.to_string())
                    )),
                    Err(e) => say(&format!("primary error {e}")),
                },
                ["quit"] => {
                    say("bye");
                    return;
                }
                _ => panic!("peer: unknown command {cmd:?}"),
            }
        }
        if !wait_fd(raw, WaitFor::Readable, Duration::from_millis(5)).unwrap() {
            continue;
        }
        loop {
            match sctp::recv(raw, &mut buf).unwrap() {
                Recv::WouldBlock => break,
                Recv::Data {
                    len,
                    from,
                    assoc: a,
                    eor,
                    ..
                } => {
                    assert!(eor, "peer: a reply split over reads");
                    assoc = a;
                    match cseq(&buf[..len]) {
                        Some(n) => say(&format!("reply {n} {from} assoc {a}")),
                        None => say(&format!("junk {len} bytes from {from}")),
                    }
                }
                Recv::Notification(Notification::AssocChange {
                    assoc: a, state, ..
                }) => {
                    if state == AssocState::CommUp {
                        assoc = a;
                    }
                    say(&format!("assoc {a} {state:?}"));
                }
                Recv::Notification(Notification::PeerAddrChange { addr, state, .. }) => {
                    let addr = addr.map_or("?".to_string(), |a| a.to_string());
                    say(&format!("addr {addr} {state:?}"));
                }
                Recv::Notification(n) => say(&format!("notification {n:?}")),
            }
        }
    }
}

// ---------------------------------------------------------------- the test, in namespace A

/// The peer child as the test sees it: its stdin, and its `PEER` lines with their arrival
/// times.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    gone: Arc<AtomicBool>,
}

impl Peer {
    fn start(ns: &PeerNs) -> Peer {
        let exe = std::env::current_exe().unwrap();
        let mut child = ns
            .command(exe.to_str().unwrap())
            .args([
                "--ignored",
                "--exact",
                TEST,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PEER_ROLE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let gone = Arc::new(AtomicBool::new(false));
        let (keep, gone2) = (lines.clone(), gone.clone());
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                // Anywhere in the line: with --nocapture the harness's `test NAME ... ` comes
                // first, without a newline.
                if let Some(i) = l.find("PEER ") {
                    let l = l[i + "PEER ".len()..].to_string();
                    keep.lock().unwrap().push((Instant::now(), l));
                }
            }
            gone2.store(true, Ordering::SeqCst);
        });
        let p = Peer {
            child,
            stdin,
            lines,
            gone,
        };
        p.wait("the peer is ready", WAIT, |l| l.starts_with("ready "));
        p
    }

    fn cmd(&mut self, c: &str) {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, n: usize) {
        self.cmd(&format!("send {n}"));
    }

    /// The first line matching `f`, with its arrival time.
    fn find(&self, f: impl Fn(&str) -> bool) -> Option<(Instant, String)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| f(l))
            .cloned()
    }

    fn dump(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let t0 = lines.first().map_or_else(Instant::now, |(t, _)| *t);
        lines
            .iter()
            .map(|(t, l)| format!("  +{}ms {l}\n", ms(t0, *t)))
            .collect()
    }

    /// Waits up to `timeout` for a line matching `f` (failing early if the peer is gone).
    fn wait(&self, what: &str, timeout: Duration, f: impl Fn(&str) -> bool) -> (Instant, String) {
        let deadline = Deadline::after(timeout);
        loop {
            if let Some(found) = self.find(&f) {
                return found;
            }
            assert!(
                !self.gone.load(Ordering::SeqCst),
                "the peer exited while waiting for: {what}\n{}",
                self.dump()
            );
            assert!(
                !deadline.passed(),
                "timed out after {timeout:?} waiting for: {what}\npeer:\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(2).min(deadline.left()));
        }
    }

    /// Every `reply N FROM assoc A` so far: (arrival, N, FROM, A).
    fn replies(&self) -> Vec<(Instant, usize, SocketAddr, i32)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, l)| {
                let mut w = l.strip_prefix("reply ")?.split_whitespace();
                let n = w.next()?.parse().ok()?;
                let from = w.next()?.parse().ok()?;
                let assoc = w.nth(1)?.parse().ok()?;
                Some((*t, n, from, assoc))
            })
            .collect()
    }

    fn count(&self, f: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| f(l))
            .count()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The runtime's log records (info and up), with their times: its only report of which path
/// changed (`sctp assoc N: path Some(ADDR) STATE`).
struct Capture(Mutex<Vec<(Instant, String)>>);

static LOG: Capture = Capture(Mutex::new(Vec::new()));

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}: {}", r.level(), r.target(), r.args());
            self.0.lock().unwrap().push((Instant::now(), line));
        }
    }
    fn flush(&self) {}
}

impl Capture {
    /// When the runtime first logged a line containing `s`.
    fn find(&self, s: &str) -> Option<Instant> {
        let lines = self.0.lock().unwrap();
        lines.iter().find(|(_, l)| l.contains(s)).map(|(t, _)| *t)
    }

    fn dump(&self) -> String {
        let lines = self.0.lock().unwrap();
        lines.iter().map(|(_, l)| format!("  {l}\n")).collect()
    }
}

/// The state of things, for a failure message.
fn dump(peer: &Peer, rec: &Recorder, rt: &Runtime) -> String {
    let got: Vec<String> = rec
        .msgs
        .lock()
        .iter()
        .map(|g| format!("{:?} from {}", cseq(&g.bytes), g.source))
        .collect();
    format!(
        "peer:\n{}runtime log:\n{}runtime got: {got:?}\nsctp stats: {:?}",
        peer.dump(),
        LOG.dump(),
        rt.transport().sctp_stats()
    )
}

fn inner() {
    require_sctp();
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let ns = PeerNs::bare(NS_B);
    for p in &PATHS {
        ns.veth(
            p.a_dev,
            &format!("{}/24", p.a_ip),
            p.b_dev,
            &format!("{}/24", p.b_ip),
        );
    }

    // Room before the local table's rule (pref 0) for the black hole's.
    let move_local = "ip rule add pref 100 lookup local && ip rule del pref 0";
    netns::sh(move_local);
    ns.sh(move_local);

    let rec = Arc::new(Recorder::default());
    rec.on_msg.lock().replace(Box::new(|ctx, got| {
        let req = String::from_utf8_lossy(&got.bytes);
        ctx.reply(response_to(&req, "200 OK", "").as_bytes())
            .unwrap();
    }));
    let listen: Vec<&str> = PATHS.iter().map(|p| p.a_ip).collect();
    let rt = Runtime::start(
        config(&format!(
            "listen=sctp:({}):{PORT}\ntcp_children=1\nsctp_hbinterval={HB_MS}\n\
             sctp_pathmaxrxt={PATHMAXRXT}\nsctp_srto_min={}\nsctp_srto_initial={}\n\
             sctp_srto_max={}\n",
            listen.join(", "),
            RTO.min_ms,
            RTO.initial_ms,
            RTO.max_ms
        )),
        rec.clone(),
    )
    .unwrap();
    let ep = rt.transport().sctp_endpoints()[0].clone();
    let want: Vec<SocketAddr> = PATHS
        .iter()
        .map(|p| SocketAddr::new(ip(p.a_ip), PORT))
        .collect();
    assert_eq!(ep.local_addrs(), want.as_slice());
    let pa = sctp::get_paddrparams(ep.fd(), 0).unwrap();
    assert_eq!(
        (pa.hbinterval_ms, pa.pathmaxrxt, pa.hb_enabled),
        (HB_MS, PATHMAXRXT, true)
    );
    assert_eq!(sctp::get_rtoinfo(ep.fd(), 0).unwrap(), RTO);

    let mut peer = Peer::start(&ns);

    // 1. Warm-up: one request at a time, each answered.
    for n in 1..=WARMUP {
        peer.send(n);
        peer.wait(&format!("the answer to request {n}"), WAIT, |l| {
            l.starts_with(&format!("reply {n} "))
        });
    }
    let peer_port = rec.msgs.lock()[0].source.port();

    // 2. The primary path, as the peer has it, and the other one, confirmed on both ends.
    peer.cmd("primary");
    let (_, line) = peer.wait("the peer's primary path", WAIT, |l| {
        l.starts_with("primary ")
    });
    let primary: SocketAddr = line["primary ".len()..]
        .parse()
        .unwrap_or_else(|_| panic!("peer: {line}"));
    assert_eq!(primary.port(), PORT, "{line}");
    let k = PATHS
        .iter()
        .position(|p| ip(p.a_ip) == primary.ip())
        .unwrap_or_else(|| panic!("the primary {primary} is none of the runtime's addresses"));
    let (dead, alive) = (&PATHS[k], &PATHS[1 - k]);
    let confirmed = |l: &str, addr: &str| {
        l.starts_with(&format!("addr {addr} "))
            && (l.ends_with("Confirmed") || l.ends_with("Available"))
    };
    let alive_a = SocketAddr::new(ip(alive.a_ip), PORT).to_string();
    peer.wait(
        &format!("the peer confirming {alive_a} (the other path)"),
        WAIT,
        |l| confirmed(l, &alive_a),
    );
    let alive_b = SocketAddr::new(ip(alive.b_ip), peer_port);
    let dead_b = SocketAddr::new(ip(dead.b_ip), peer_port);
    wait_for(
        &format!("the runtime confirming {alive_b} (the other path)"),
        WAIT,
        || {
            LOG.find(&format!("path Some({alive_b}) confirmed"))
                .is_some()
                || LOG
                    .find(&format!("path Some({alive_b}) available"))
                    .is_some()
        },
    );
    let changes_before = stat(&rt, "sctp_addr_changes");

    // 3. The black hole: the primary path drops everything, both ways.
    let t_hole = Instant::now();
    netns::sh(&format!("ip rule add pref 10 iif {} blackhole", dead.a_dev));
    ns.sh(&format!("ip rule add pref 10 iif {} blackhole", dead.b_dev));
    let t0 = Instant::now();
    let dead_a = SocketAddr::new(ip(dead.a_ip), PORT).to_string();

    // 4. Traffic continues, one request every PACE, until both ends have reported the path
    // unreachable and AFTER_DETECTION more requests went.
    let first_after = WARMUP + 1;
    let mut next = first_after;
    let mut next_send = t0;
    let mut detected_at: Option<usize> = None;
    let mut changes_grew: Option<Instant> = None;
    let deadline = Deadline::after(FAILOVER_WAIT);
    loop {
        let now = Instant::now();
        if now >= next_send {
            if detected_at.is_some_and(|d| next >= d + AFTER_DETECTION) {
                break;
            }
            peer.send(next);
            next += 1;
            next_send += PACE;
        }
        if changes_grew.is_none() && stat(&rt, "sctp_addr_changes") > changes_before {
            changes_grew = Some(Instant::now());
        }
        let peer_saw = peer
            .find(|l| l == format!("addr {dead_a} Unreachable"))
            .is_some();
        let rt_saw = LOG
            .find(&format!("path Some({dead_b}) unreachable"))
            .is_some();
        if detected_at.is_none() && peer_saw && rt_saw && changes_grew.is_some() {
            detected_at = Some(next);
        }
        assert!(
            !deadline.passed(),
            "within {FAILOVER_WAIT:?} of the black hole on {dead_a}: peer saw it unreachable: \
             {peer_saw}, runtime logged {dead_b} unreachable: {rt_saw}, sctp_addr_changes grew: \
             {}\n{}",
            changes_grew.is_some(),
            dump(&peer, &rec, &rt)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let last = next - 1;

    // 5. Every request delivered once and answered once.
    let deadline = Deadline::after(WAIT);
    while peer.replies().len() < last {
        assert!(
            !deadline.passed(),
            "within {WAIT:?}, {} of {last} requests answered\n{}",
            peer.replies().len(),
            dump(&peer, &rec, &rt)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let replies = peer.replies();
    let mut answered: BTreeMap<usize, (Instant, SocketAddr, i32)> = BTreeMap::new();
    for (t, n, from, a) in &replies {
        assert!(
            answered.insert(*n, (*t, *from, *a)).is_none(),
            "request {n} answered twice\n{}",
            dump(&peer, &rec, &rt)
        );
    }
    let all: Vec<usize> = (1..=last).collect();
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        all,
        "answers\n{}",
        dump(&peer, &rec, &rt)
    );
    let got = rec.msgs.lock().clone();
    let mut delivered: BTreeMap<usize, SocketAddr> = BTreeMap::new();
    for g in &got {
        let n = cseq(&g.bytes).unwrap();
        assert!(
            delivered.insert(n, g.source).is_none(),
            "request {n} delivered twice"
        );
        assert_eq!(g.conid, got[0].conid, "one association");
    }
    assert_eq!(
        delivered.keys().copied().collect::<Vec<_>>(),
        all,
        "requests the runtime got"
    );
    let peer_assocs: std::collections::BTreeSet<i32> = answered.values().map(|v| v.2).collect();
    assert_eq!(peer_assocs.len(), 1, "one association on the peer's side");
    assert_eq!(peer.count(|l| l.ends_with(" CommUp")), 1);
    assert_eq!(
        peer.count(|l| l.starts_with("send-error") || l.contains("CommLost")),
        0,
        "{}",
        peer.dump()
    );

    // The paths: the primary before, the other one after, both ways.
    let dead_a: SocketAddr = dead_a.parse().unwrap();
    let alive_a: SocketAddr = alive_a.parse().unwrap();
    for n in 1..=WARMUP {
        assert_eq!(delivered[&n], dead_b, "request {n} (before) came from");
        assert_eq!(answered[&n].1, dead_a, "answer {n} (before) came from");
    }
    for n in first_after..=last {
        assert_eq!(delivered[&n], alive_b, "request {n} (after) came from");
        assert_eq!(answered[&n].1, alive_a, "answer {n} (after) came from");
    }

    // 6. The report.
    let sent_at = |n: usize| {
        peer.find(|l| l == format!("sent {n}"))
            .map_or(t0, |(t, _)| t)
    };
    let (first_t, _, _) = answered[&first_after];
    let slowest = (first_after..=last)
        .map(|n| (answered[&n].0.duration_since(sent_at(n)), n))
        .max()
        .unwrap();
    let (peer_unreach, _) = peer
        .find(|l| l == format!("addr {dead_a} Unreachable"))
        .unwrap();
    let rt_unreach = LOG
        .find(&format!("path Some({dead_b}) unreachable"))
        .unwrap();
    // Times from t0, the black hole complete on both ends (and from its start, A's rule in
    // place, B's rule a process spawn later).
    let at = |t: Instant| format!("+{} ms (+{} ms)", ms(t0, t), ms(t_hole, t));
    let say = |s: String| println!("multihome: {s}");
    say(format!(
        "primary path {dead_a} <-> {dead_b} black-holed at t0, {} ms after it began; other \
         path {alive_a} <-> {alive_b}; times from t0 (from the start)",
        ms(t_hole, t0)
    ));
    say(format!(
        "first answer after the black hole (request {first_after}, sent at {}): {}",
        at(sent_at(first_after)),
        at(first_t)
    ));
    say(format!(
        "slowest request after t0: {} ({} ms from send to answer)",
        slowest.1,
        slowest.0.as_millis()
    ));
    say(format!(
        "peer: SCTP_ADDR_UNREACHABLE for {dead_a} at {}",
        at(peer_unreach)
    ));
    say(format!(
        "runtime: logged {dead_b} unreachable at {}; sctp_addr_changes {changes_before} -> {} \
         (grew at {})",
        at(rt_unreach),
        stat(&rt, "sctp_addr_changes"),
        at(changes_grew.unwrap())
    ));
    say(format!(
        "{last} requests ({} after the black hole), each delivered once and answered once",
        last - WARMUP
    ));

    peer.cmd("quit");
    peer.wait("the peer quitting", WAIT, |l| l == "bye");
    drop(peer);
    rt.shutdown();
    drop(ns);
}
