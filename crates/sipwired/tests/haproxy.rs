//! sipwired behind a real load balancer: HAProxy 2.6 (Debian's `haproxy`, `mode tcp`,
//! `send-proxy-v2`, health checks on) balancing SIPp calls over three sipwired instances
//! (`tcp_accept_haproxy=yes`, one shared `--relay-secret`), all on loopback. The HAProxy
//! config is `tests/haproxy/haproxy.cfg.in`, the one docs/deploy.md quotes (checked here).
//!
//! Addresses are kept apart so a mix-up shows: the SIPp UAC calls from 127.0.0.2, HAProxy
//! connects to the instances from 127.0.0.3, the instances and the UAS are on 127.0.0.1. The
//! UAS is the testkit's (`haproxy::Uas`: it keeps every request; a SIPp UAS exits when a
//! peer that dies resets its connection).
//! What is proven:
//! - calls through HAProxy all succeed; each instance's `tcp.list` / `core.tcp_list` shows
//!   the client (127.0.0.2 and its port), not HAProxy, as the source; every INVITE reaches
//!   the UAS with `received`/`rport` naming the client's own address and port, relayed by the
//!   instance HAProxy's session log says took that client's connection; and an instance
//!   routes a response to a request another instance relayed (the shared secret);
//! - an instance killed (SIGKILL) mid-run is taken out by HAProxy's checks: the calls that
//!   fail are exactly the ones it held (relayed and not completed, or taken and never
//!   relayed), every call another instance took reached the UAS through it and completed, and
//!   the instance restarted on its port is checked UP again and gets calls, which all
//!   succeed;
//! - an instance stopped with SIGTERM (`--drain-timeout`) drains: its listener closes at
//!   once, HAProxy's checks take it out and new calls go to the others, the calls it holds
//!   go on to their end (it relays their BYEs after the signal), it exits by itself once they
//!   are over, and not one call fails;
//! - a client that sends no PROXY header is refused: a silent one when `tcp_wait_data`
//!   expires (`wait_data_expired`), on TCP main's timer, while the one reader serves other
//!   clients and reads nothing from the silent ones (`reads`, `bytes_read`); one that sends
//!   SIP at once on its first read (`parse_errors`), before any message is delivered.
//!
//! The runs are serialised (one at a time on a shared 2-core machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use sipwire_testkit::haproxy::*;
use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::{builtin_scenario, tail, SIPP};

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// The HAProxy config (placeholders `@NAME@`), as docs/deploy.md quotes it.
const TEMPLATE: &str = include_str!("haproxy/haproxy.cfg.in");

/// The instances' shared `--relay-secret`.
const SECRET: &str = "5e1b0c7a9d3f42e6b8a1c0d2e4f60718";

/// Where the calls come from, and where HAProxy connects to the instances from.
const CLIENT_IP: &str = "127.0.0.2";
const HAPROXY_IP: &str = "127.0.0.3";

/// One HAProxy farm at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A SIPp UAS, three sipwired instances forwarding to it, HAProxy in front of them.
/// (Fields drop in order: HAProxy, the instances, the UAS, then the directory.)
struct Farm {
    haproxy: Haproxy,
    instances: Vec<Option<Daemon>>,
    uas: Uas,
    /// Instance `i` is HAProxy's server `s{i+1}`.
    ports: Vec<u16>,
    /// The built-in `uac` with `;rport` in its Vias (RFC 3581: the relay fills it in).
    scenario: PathBuf,
    /// Flags every instance gets besides the shared ones.
    flags: Vec<String>,
    dir: TempDir,
}

impl Farm {
    fn start(name: &str) -> Farm {
        Farm::start_with(name, &[])
    }

    /// [`Farm::start`], each instance with `flags` too.
    fn start_with(name: &str, flags: &[&str]) -> Farm {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        require_program(SIPP, "sip-tester");
        require_program(HAPROXY, "haproxy");
        let dir = TempDir::new(name);
        let uas = Uas::start();
        let uas_port = uas.addr.port();
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if p != uas_port && !ports.contains(&p) {
                ports.push(p);
            }
        }
        let scenario = dir.join("uac-rport.xml");
        let xml = builtin_scenario("uac");
        assert_eq!(xml.matches(";branch=[branch]").count(), 3, "{xml}");
        fs::write(
            &scenario,
            xml.replace(";branch=[branch]", ";rport;branch=[branch]"),
        )
        .unwrap();
        let instances = (0..3)
            .map(|i| Some(start_instance(&dir, i, ports[i], uas_port, &flags)))
            .collect();
        let mut vars = vec![("SOURCE", HAPROXY_IP.to_string())];
        for (n, p) in ["S1", "S2", "S3"].iter().zip(&ports) {
            vars.push((n, format!("127.0.0.1:{p}")));
        }
        let frontend = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let haproxy = Haproxy::start(&dir, TEMPLATE, frontend, &vars, &["s1", "s2", "s3"]);
        Farm {
            haproxy,
            instances,
            uas,
            ports,
            scenario,
            flags,
            dir,
        }
    }

    /// Starts instance `i` again on its port.
    fn start_instance(&self, i: usize) -> Daemon {
        start_instance(
            &self.dir,
            i,
            self.ports[i],
            self.uas.addr.port(),
            &self.flags,
        )
    }

    /// HAProxy's stderr and the UAS's request count, for failure messages.
    fn diagnostics(&self) -> String {
        let err = fs::read_to_string(self.dir.join("haproxy.err")).unwrap_or_default();
        format!(
            "\n--- haproxy stderr:\n{}\n--- the UAS got {} requests",
            tail(&err),
            self.uas.requests().len()
        )
    }

    fn instance(&self, i: usize) -> &Daemon {
        self.instances[i].as_ref().unwrap()
    }

    /// The instance (index) listening on `addr`, from a Via sent-by.
    fn instance_at(&self, sent_by: &str) -> Option<usize> {
        self.ports
            .iter()
            .position(|p| sent_by == format!("127.0.0.1:{p}"))
    }

    /// `calls` calls through HAProxy, a connection each, from [`CLIENT_IP`].
    fn uac(&self, calls: u32, rate: u32, pause_ms: u64, trace: bool) -> Uac<'_> {
        Uac {
            scenario: Some(&self.scenario),
            target: self.haproxy.addr,
            transport: "tn",
            client_ip: CLIENT_IP,
            calls,
            rate,
            pause: Duration::from_millis(pause_ms),
            trace,
        }
    }
}

/// Instance `i`: `tcp_accept_haproxy=yes` on 127.0.0.1:`port`, one reader, forwarding to
/// the UAS, with the shared secret, and `flags`.
fn start_instance(dir: &TempDir, i: usize, port: u16, uas_port: u16, flags: &[String]) -> Daemon {
    let cfg = dir.join(&format!("s{}.cfg", i + 1));
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:{port}\ntcp_accept_haproxy=yes\ntcp_children=1\n"),
    )
    .unwrap();
    let fwd = format!("tcp:127.0.0.1:{uas_port}");
    let cfg = cfg.to_str().unwrap();
    let mut args = vec!["-f", cfg, "--forward", &fwd, "--relay-secret", SECRET];
    args.extend(flags.iter().map(String::as_str));
    Daemon::start(SIPWIRED, &args)
}

/// The server name of instance `i`.
fn server(i: usize) -> String {
    format!("s{}", i + 1)
}

/// An instance's accepted connections that came with a PROXY header (HAProxy's health checks
/// send one without addresses, so they are not among them): `tcp.list` rows.
fn proxied(ctl: &mut Ctl) -> Vec<Value> {
    let list = ctl.call("tcp.list", json!([]));
    list.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outbound"] == false && r["proxy"] == true)
        .cloned()
        .collect()
}

fn addr_of(v: &Value) -> SocketAddr {
    v.as_str().unwrap().parse().unwrap()
}

/// The client port of each session HAProxy logged → the servers that took sessions from it
/// (the client may use a port again for a later call).
fn servers_by_client_port(sessions: &[Session]) -> HashMap<u16, Vec<String>> {
    let mut by_port: HashMap<u16, Vec<String>> = HashMap::new();
    for s in sessions {
        assert_eq!(s.client.ip().to_string(), CLIENT_IP, "{s:?}");
        by_port
            .entry(s.client.port())
            .or_default()
            .push(s.server.clone());
    }
    by_port
}

/// Whether a session from client port `port` went to instance `i`.
fn went_to(by_port: &HashMap<u16, Vec<String>>, port: u16, i: usize) -> bool {
    by_port.get(&port).is_some_and(|s| s.contains(&server(i)))
}

fn assert_all_succeeded(r: &sipwire_testkit::sipp::UacResult, calls: u32, farm: &Farm) {
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(calls), 0),
        "sipp uac: {}{}",
        tail(&r.screen),
        farm.diagnostics()
    );
}

#[test]
fn the_deploy_doc_quotes_the_tested_haproxy_config() {
    let doc =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/deploy.md")).unwrap();
    assert!(
        doc.contains(TEMPLATE),
        "docs/deploy.md must quote crates/sipwired/tests/haproxy/haproxy.cfg.in verbatim"
    );
}

const CALLS: u32 = 60;

#[test]
fn calls_through_haproxy_carry_the_clients_address() {
    let _serial = serial();
    let farm = Farm::start("haproxy-addr");
    let run = farm.uac(CALLS, 30, 1000, false).spawn(&farm.dir, "uac");

    // Mid-run, every instance holds calls; the source of each is the client, the peer HAProxy.
    let mut mid_run: Vec<(usize, SocketAddr)> = Vec::new();
    for i in 0..3 {
        let mut ctl = Ctl::connect(&farm.instance(i).ctl_socket());
        let mut rows = Vec::new();
        wait_for(&format!("{} to carry a call", server(i)), WAIT, || {
            rows = proxied(&mut ctl);
            !rows.is_empty()
        });
        let kamailio = ctl.call("core.tcp_list", json!([]));
        let mut joined = 0;
        for r in &rows {
            let (peer, source) = (addr_of(&r["peer"]), addr_of(&r["source"]));
            assert_eq!(peer.ip().to_string(), HAPROXY_IP, "{r}");
            assert_eq!(source.ip().to_string(), CLIENT_IP, "{r}");
            assert_ne!(source.port(), peer.port(), "{r}");
            mid_run.push((i, source));
            let Some(k) = kamailio
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == r["id"])
            else {
                continue; // closed in between
            };
            assert_eq!(k["src_ip"], CLIENT_IP, "{k}");
            assert_eq!(k["src_port"], source.port(), "{k}");
            // The PROXY destination: the balancer's frontend, where the client connected.
            assert_eq!(k["dst_port"], farm.haproxy.addr.port(), "{k}");
            joined += 1;
        }
        assert!(joined > 0, "{} core.tcp_list: {kamailio}", server(i));
    }
    let r = run.finish();
    println!(
        "haproxy: {} calls in {:.2}s through 3 instances, {} failed",
        r.successful,
        r.elapsed.as_secs_f64(),
        r.failed
    );
    assert_all_succeeded(&r, CALLS, &farm);

    // HAProxy's view: one session per call, spread over the three.
    let sessions = farm.haproxy.wait_sessions(CALLS as usize);
    assert_eq!(sessions.len(), CALLS as usize, "{sessions:?}");
    let by_port = servers_by_client_port(&sessions);
    for (i, source) in &mid_run {
        assert!(went_to(&by_port, source.port(), *i), "{source}");
    }
    let mut per_server = [0u64; 3];
    for s in &sessions {
        assert_eq!(s.term, "--", "{s:?}");
        let i = (0..3).find(|i| server(*i) == s.server).expect("a server");
        per_server[i] += 1;
    }
    assert!(per_server.iter().all(|n| *n > 0), "{per_server:?}");

    // What reached the UAS: our Via on top (the instance HAProxy chose for that client's
    // connection), the client's Via with its own address in received/rport.
    let invites: Vec<String> = farm
        .uas
        .requests()
        .into_iter()
        .filter(|m| start_line(m).starts_with("INVITE "))
        .collect();
    assert_eq!(invites.len(), CALLS as usize);
    for m in &invites {
        let vias = headers(m, "Via");
        assert_eq!(vias.len(), 2, "{m}");
        let i = farm.instance_at(via_sent_by(vias[0])).expect(vias[0]);
        let (host, port) = via_sent_by(vias[1]).split_once(':').unwrap();
        assert_eq!(host, CLIENT_IP, "{}", vias[1]);
        let received = via_param(vias[1], "received");
        assert_eq!(received, Some(CLIENT_IP), "{}", vias[1]);
        assert_eq!(via_param(vias[1], "rport"), Some(port), "{}", vias[1]);
        let port: u16 = port.parse().unwrap();
        assert!(went_to(&by_port, port, i), "{m}");
    }

    // The shared secret: a response to a request s1 relayed, sent to s2, is routed by s2 to
    // the client's address (its connection is s1's): to `received` and the sent-by port.
    let via_s1 = invites
        .iter()
        .find(|m| farm.instance_at(via_sent_by(headers(m, "Via")[0])) == Some(0))
        .expect("an INVITE through s1");
    let ringing = response_to(via_s1, "180 Ringing", "");
    let client_via = headers(via_s1, "Via")[1].to_string();
    let home = TcpListener::bind(via_sent_by(&client_via)).unwrap();
    let mut to_s2 = TcpStream::connect(farm.instance(1).addr).unwrap();
    let header = format!("PROXY TCP4 127.0.0.9 127.0.0.1 5555 {}\r\n", farm.ports[1]);
    to_s2
        .write_all(format!("{header}{ringing}").as_bytes())
        .unwrap();
    let mut back = accept_within(&home, WAIT);
    let got = back.recv();
    assert_eq!(start_line(&got), "SIP/2.0 180 Ringing");
    assert_eq!(headers(&got, "Via"), [client_via.as_str()]);

    // Each instance relayed its calls' three requests and three responses, and nothing was
    // dropped (a MAC it did not accept, say).
    for (i, d) in farm.instances.into_iter().enumerate() {
        let (st, c) = d.unwrap().stop();
        assert!(st.success(), "{} exit {st:?}", server(i));
        let extra = u64::from(i == 1);
        assert_eq!(counter(&c, "requests_relayed"), 3 * per_server[i]);
        assert_eq!(counter(&c, "responses_relayed"), 3 * per_server[i] + extra);
        assert_eq!(counter(&c, "dropped_bad_mac"), 0);
        assert_eq!(counter(&c, "send_failures"), 0);
    }
}

/// The next connection to `l`, as a SIP peer.
fn accept_within(l: &TcpListener, timeout: Duration) -> SipConn {
    l.set_nonblocking(true).unwrap();
    let mut got = None;
    wait_for("a connection", timeout, || match l.accept() {
        Ok((s, _)) => {
            got = Some(s);
            true
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    });
    let s = got.unwrap();
    s.set_nonblocking(false).unwrap();
    SipConn::from(s)
}

const KILL_CALLS: u32 = 240;

#[test]
fn a_killed_instance_is_taken_out_and_a_restarted_one_rejoins() {
    let _serial = serial();
    let mut farm = Farm::start("haproxy-kill");
    let run = farm.uac(KILL_CALLS, 40, 1000, true).spawn(&farm.dir, "uac");
    let trace = run.messages().to_path_buf();
    let victim = 1;
    let mut ctl = Ctl::connect(&farm.instance(victim).ctl_socket());
    let mut on_victim = 0;
    wait_for("the victim to carry three calls", WAIT, || {
        on_victim = proxied(&mut ctl).len();
        on_victim >= 3
    });
    drop(ctl);
    let mut dead = farm.instances[victim].take().unwrap();
    dead.proc.signal(Signal::SIGKILL);
    dead.proc.wait_timeout(WAIT).expect("SIGKILL");
    dead.proc.child = None;
    let killed_at = Instant::now();

    // HAProxy's checks take it out; the same instance restarted on its port is taken back.
    farm.haproxy.wait_status(&server(victim), "DOWN");
    let down_after = killed_at.elapsed();
    let sessions_before = farm.haproxy.server(&server(victim)).total;
    let again = farm.start_instance(victim);
    farm.haproxy.wait_status(&server(victim), "UP");
    let mut ctl = Ctl::connect(&again.ctl_socket());
    wait_for("the restarted instance to carry a call", WAIT, || {
        !proxied(&mut ctl).is_empty()
    });
    drop(ctl);

    let r = run.finish();
    println!(
        "haproxy kill: {} calls ok, {} failed ({on_victim} on the victim when killed), down \
         after {down_after:?}, run {:.2}s",
        r.successful,
        r.failed,
        r.elapsed.as_secs_f64()
    );
    assert_eq!(
        r.successful + r.failed,
        u64::from(KILL_CALLS),
        "{}{}",
        tail(&r.screen),
        farm.diagnostics()
    );
    assert!(
        r.failed >= 1,
        "calls were on the victim: {}",
        tail(&r.screen)
    );

    // Which calls failed, and which instance each was on. The UAS knows which instance
    // relayed each INVITE it got (our Via on top); the UAC's trace which calls got the 200
    // to their BYE; HAProxy's log how many calls (sessions, one each) each instance took.
    let sessions = farm.haproxy.wait_sessions(KILL_CALLS as usize);
    assert_eq!(sessions.len(), KILL_CALLS as usize);
    let completed: Vec<String> = uac_calls(&sipp_messages(&trace))
        .into_iter()
        .filter_map(|(id, (_, done))| done.then_some(id))
        .collect();
    assert_eq!(completed.len() as u64, r.successful);
    let mut relayed_by: HashMap<String, usize> = HashMap::new();
    for m in farm.uas.requests() {
        if start_line(&m).starts_with("INVITE ") {
            let top = headers(&m, "Via")[0];
            let i = farm.instance_at(via_sent_by(top)).expect(top);
            relayed_by.insert(header(&m, "Call-ID").unwrap().to_string(), i);
        }
    }
    let why = || format!("sipp uac: {}{}", tail(&r.screen), farm.diagnostics());
    for i in (0..3).filter(|i| *i != victim) {
        // Every call a survivor took reached the UAS through it, and completed.
        let took = sessions.iter().filter(|s| s.server == server(i)).count();
        let relayed: Vec<&String> = relayed_by
            .iter()
            .filter(|(_, by)| **by == i)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            relayed.len(),
            took,
            "{}: relayed vs taken; {}",
            server(i),
            why()
        );
        let lost: Vec<&&String> = relayed
            .iter()
            .filter(|id| !completed.contains(id))
            .collect();
        assert!(lost.is_empty(), "{} lost {lost:?}; {}", server(i), why());
    }
    // So the failed calls are the victim's: those it relayed that did not complete, and those
    // it took and never relayed (the INVITE died with it).
    let victim_lost = relayed_by
        .iter()
        .filter(|(id, by)| **by == victim && !completed.contains(id))
        .count();
    let took = sessions
        .iter()
        .filter(|s| s.server == server(victim))
        .count();
    let relayed = relayed_by.values().filter(|by| **by == victim).count();
    assert_eq!(
        r.failed,
        (victim_lost + took - relayed) as u64,
        "failed calls vs the victim's; {}",
        why()
    );
    assert!(
        r.failed <= sessions_before,
        "{} > {sessions_before}",
        r.failed
    );

    // The restarted instance's calls all went through; nothing failed on the survivors.
    let (st, c) = again.stop();
    assert!(st.success());
    let relayed = counter(&c, "requests_relayed");
    assert!(relayed >= 3 && relayed.is_multiple_of(3), "{relayed}");
    assert_eq!(counter(&c, "responses_relayed"), relayed);
    for d in farm.instances.iter_mut().filter_map(Option::take) {
        let (st, c) = d.stop();
        assert!(st.success());
        assert_eq!(counter(&c, "send_failures"), 0);
        assert_eq!(
            counter(&c, "requests_relayed"),
            counter(&c, "responses_relayed")
        );
    }
}

/// Silent clients on an instance that requires a PROXY header.
const SILENT: usize = 40;
/// Clients served meanwhile (a PROXY header and an RFC 5626 ping each).
const SERVED: usize = 20;
const WAIT_DATA_MS: u64 = 1500;

#[test]
fn a_client_without_a_proxy_header_is_refused_and_costs_no_reader_time() {
    let _serial = serial();
    let dir = TempDir::new("haproxy-wait-data");
    let cfg = dir.join("s.cfg");
    fs::write(
        &cfg,
        format!(
            "listen=tcp:127.0.0.1:0\ntcp_accept_haproxy=yes\ntcp_wait_data={WAIT_DATA_MS}\n\
             tcp_children=1\n"
        ),
    )
    .unwrap();
    let d = Daemon::start(
        SIPWIRED,
        &["-f", cfg.to_str().unwrap(), "--forward", "tcp:127.0.0.1:9"],
    );
    let mut ctl = Ctl::connect(&d.ctl_socket());
    let silent: Vec<TcpStream> = (0..SILENT)
        .map(|_| TcpStream::connect(d.addr).unwrap())
        .collect();
    let opened = Instant::now();
    wait_for("the silent clients to be accepted", WAIT, || {
        ctl.counter("accepted") == SILENT as u64
    });
    let (reads0, bytes0) = (ctl.counter("reads"), ctl.counter("bytes_read"));
    let empty0 = ctl.counter("empty_reads");
    // Nothing read from them; at most one read attempt each (EAGAIN), when TCP main hands a
    // new connection to the reader.
    assert_eq!(
        (reads0, bytes0),
        (0, 0),
        "nothing was read from the silent clients"
    );
    assert!(empty0 <= SILENT as u64, "{empty0} empty reads");

    // The one reader serves other clients while the silent ones wait.
    let mut sent = 0;
    let mut slowest = Duration::ZERO;
    for n in 0..SERVED {
        let mut c = TcpStream::connect(d.addr).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        let hello = format!(
            "PROXY TCP4 {CLIENT_IP} 127.0.0.1 {} 5060\r\n\r\n\r\n",
            40000 + n
        );
        let t = Instant::now();
        c.write_all(hello.as_bytes()).unwrap();
        let mut pong = [0u8; 2];
        c.read_exact(&mut pong).unwrap();
        slowest = slowest.max(t.elapsed());
        assert_eq!(&pong, b"\r\n");
        sent += hello.len() as u64;
    }
    // A client that speaks SIP at once is refused at its first read, nothing delivered.
    let mut sip = SipConn::connect(d.addr);
    sip.send(std::str::from_utf8(&options(1, "")).unwrap());
    assert!(sip.closed_by_peer());
    wait_for("the SIP client's close", WAIT, || {
        ctl.counter("parse_errors") == 1
    });
    assert_eq!(ctl.counter("messages"), 0);
    let sip_bytes = options(1, "").len() as u64;

    assert!(
        opened.elapsed() < Duration::from_millis(WAIT_DATA_MS),
        "too slow to check before tcp_wait_data: {:?}",
        opened.elapsed()
    );
    assert_eq!(ctl.counter("wait_data_expired"), 0);
    for s in &silent {
        s.set_nonblocking(true).unwrap();
        let e = (&*s).read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::WouldBlock,
            "a silent client closed early"
        );
    }
    assert_eq!(ctl.counter("pongs"), SERVED as u64);
    let reads1 = ctl.counter("reads");
    assert!(reads1 <= 2 * SERVED as u64 + 2, "{reads1} reads");
    // Every byte read was the served clients' or the SIP client's.
    assert_eq!(ctl.counter("bytes_read"), sent + sip_bytes);
    let empty1 = ctl.counter("empty_reads");

    // tcp_wait_data expires on TCP main: each silent client is refused and counted, and
    // the reader read nothing from any of them.
    wait_for("tcp_wait_data to refuse the silent clients", WAIT, || {
        ctl.counter("wait_data_expired") == SILENT as u64
    });
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(WAIT_DATA_MS - 200),
        "{waited:?}"
    );
    for s in &silent {
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        match (&*s).read(&mut [0u8; 1]) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("a silent client was not closed: {other:?}"),
        }
    }
    assert_eq!(ctl.counter("reads"), reads1);
    assert_eq!(ctl.counter("empty_reads"), empty1);
    assert_eq!(ctl.counter("bytes_read"), sent + sip_bytes);
    assert_eq!(ctl.counter("messages"), 0);
    println!(
        "wait_data: {SILENT} silent clients refused after {waited:?}; {SERVED} others served \
         meanwhile (slowest {slowest:?}), {reads1} reads and {empty1} empty reads in all"
    );
    drop(ctl);
    let (st, c) = d.stop();
    assert!(st.success());
    assert_eq!(counter(&c, "runtime.wait_data_expired"), SILENT as u64);
}

const DRAIN_CALLS: u32 = 200;

/// The `key=number` counters of a daemon's shutdown line (`sipwired: stopped ...`).
fn shutdown_counters(d: &Daemon) -> Vec<(String, u64)> {
    let lines = d.lines.lock().unwrap();
    let line = lines
        .iter()
        .find(|l| l.starts_with("sipwired: stopped"))
        .unwrap_or_else(|| panic!("no shutdown line in {lines:?}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[test]
fn sigterm_drains_an_instance_without_failing_a_call() {
    let _serial = serial();
    let mut farm = Farm::start_with("haproxy-drain", &["--drain-timeout", "10"]);
    let run = farm
        .uac(DRAIN_CALLS, 40, 1000, false)
        .spawn(&farm.dir, "uac");
    let leaving = 2;
    let mut ctl = Ctl::connect(&farm.instance(leaving).ctl_socket());
    let mut in_flight = 0;
    wait_for("the leaving instance to carry three calls", WAIT, || {
        in_flight = proxied(&mut ctl).len();
        in_flight >= 3
    });
    let relayed_at_signal = ctl.counter("relay.requests_relayed");
    drop(ctl);
    let mut d = farm.instances[leaving].take().unwrap();
    d.proc.signal(Signal::SIGTERM);
    let signalled = Instant::now();

    // It stops accepting at once, and HAProxy's checks take it out.
    wait_for("the leaving instance's listener to close", WAIT, || {
        !is_listening(farm.ports[leaving])
    });
    let closed_after = signalled.elapsed();
    farm.haproxy.wait_status(&server(leaving), "DOWN");
    // It exits by itself once its calls are over (a second SIGTERM would cut the drain short).
    let st = d
        .proc
        .wait_timeout(Duration::from_secs(15))
        .expect("exit after draining");
    d.proc.child = None;
    let drained_in = signalled.elapsed();
    assert!(st.success(), "exit {st:?}");
    {
        let lines = d.lines.lock().unwrap();
        assert!(
            lines.iter().any(|l| l.starts_with("sipwired: draining")),
            "{lines:?}"
        );
        assert!(lines.iter().any(|l| l == "sipwired: drained"), "{lines:?}");
    }
    let c = shutdown_counters(&d);
    let relayed = counter(&c, "requests_relayed");
    // The calls it held went on through it: at least their BYEs came after the signal.
    assert!(
        relayed >= relayed_at_signal + in_flight as u64,
        "{relayed} requests relayed, {relayed_at_signal} at the signal, {in_flight} calls held"
    );
    assert_eq!(counter(&c, "responses_relayed"), relayed);
    assert_eq!(counter(&c, "send_failures"), 0);

    let r = run.finish();
    println!(
        "haproxy drain: {} calls ok, {} failed; {in_flight} calls on the leaving instance at \
         SIGTERM, listener closed after {closed_after:?}, exited after {drained_in:?}",
        r.successful, r.failed
    );
    assert_all_succeeded(&r, DRAIN_CALLS, &farm);
    let sessions = farm.haproxy.wait_sessions(DRAIN_CALLS as usize);
    assert_eq!(sessions.len(), DRAIN_CALLS as usize);
    // Its share of the calls is what it relayed: none was cut off.
    let mine = sessions
        .iter()
        .filter(|s| s.server == server(leaving))
        .count();
    assert_eq!(relayed, 3 * mine as u64);
    for d in farm.instances.iter_mut().filter_map(Option::take) {
        let (st, c) = d.stop();
        assert!(st.success());
        assert_eq!(counter(&c, "send_failures"), 0);
    }
}
