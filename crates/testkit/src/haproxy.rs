//! HAProxy (Debian's `haproxy`) in front of sipwired instances, and the calls those suites
//! drive through it: a config filled in from a template, HAProxy in the foreground on
//! loopback, its admin socket (`show stat`: each server's status), its session log (one line
//! per client connection: which server took it); a SIPp UAC run in the background (from a
//! client address of its own, with a message trace) and its parsed trace; a UAS that keeps
//! every request it gets and survives a peer that dies.

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::process::{free_port, Proc, TempDir};
use crate::sip::{for_each_frame, response_to, start_line};
use crate::sipp::{sipp_counter, UacResult, SIPP};
use crate::wait::{wait_for, WAIT};

/// HAProxy from Debian's `haproxy`.
pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// `template` with every `@NAME@` replaced by its value in `vars`; panics if a placeholder is
/// left.
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut text = template.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("@{name}@"), value);
    }
    for (at, _) in text.match_indices('@') {
        let name: String = text[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let closed = text[at + 1 + name.len()..].starts_with('@');
        assert!(
            name.is_empty() || !closed,
            "placeholder @{name}@ not filled in"
        );
    }
    text
}

/// One backend server as `show stat` reports it.
#[derive(Debug, Clone)]
pub struct ServerStat {
    /// `svname`.
    pub name: String,
    /// `status`: `UP`, `DOWN`, `UP 1/2` (going down), `DOWN 1/1` (coming up), `MAINT`, ...
    pub status: String,
    /// `scur`: sessions open now.
    pub sessions: u64,
    /// `stot`: sessions so far.
    pub total: u64,
    /// `check_status` (`L7OK`, `L4CON`, ...).
    pub check: String,
}

/// One line of the session log (the template's `log-format "session %ci:%cp server %s term
/// %ts retries %rc"`), written when the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The client's address as HAProxy saw it.
    pub client: SocketAddr,
    /// The server that took it (after redispatches), `<NOSRV>` if none.
    pub server: String,
    /// The termination state (`--`: normal).
    pub term: String,
    /// Connection retries (`+N`: redispatched).
    pub retries: String,
}

/// A running HAProxy (stopped on drop).
#[derive(Debug)]
pub struct Haproxy {
    /// The process.
    pub proc: Proc,
    /// The config it runs, as written.
    pub config: String,
    /// The frontend address.
    pub addr: SocketAddr,
    socket: PathBuf,
    log: PathBuf,
}

impl Haproxy {
    /// Fills `template` from `vars` plus `FRONTEND` (`frontend`) and `STATS_SOCKET` (in
    /// `dir`), checks it (`haproxy -c`), starts HAProxy in the foreground (`-db`) with its
    /// log on stdout into `dir`, and waits until the frontend listens and every server of
    /// `servers` is `UP`.
    pub fn start(
        dir: &TempDir,
        template: &str,
        frontend: SocketAddr,
        vars: &[(&str, String)],
        servers: &[&str],
    ) -> Haproxy {
        let socket = dir.join("haproxy.sock");
        let mut all = vars.to_vec();
        all.push(("FRONTEND", frontend.to_string()));
        all.push(("STATS_SOCKET", socket.display().to_string()));
        let config = fill(template, &all);
        let cfg = dir.join("haproxy.cfg");
        fs::write(&cfg, &config).unwrap();
        let check = Command::new(HAPROXY)
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {HAPROXY}: {e}"));
        assert!(
            check.status.success(),
            "haproxy -c: {}{}\n{config}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = dir.join("haproxy.log");
        let err = dir.join("haproxy.err");
        let mut cmd = Command::new(HAPROXY);
        cmd.arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let mut proc = Proc::spawn("haproxy", &mut cmd);
        proc.wait_listening(frontend.port(), &err);
        let h = Haproxy {
            proc,
            config,
            addr: frontend,
            socket,
            log,
        };
        for s in servers {
            h.wait_status(s, "UP");
        }
        h
    }

    /// An admin-socket command's answer, whole.
    pub fn command(&self, cmd: &str) -> String {
        let mut s = UnixStream::connect(&self.socket)
            .unwrap_or_else(|e| panic!("{}: {e}", self.socket.display()));
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The backend servers (`show stat`, rows other than FRONTEND and BACKEND).
    pub fn servers(&self) -> Vec<ServerStat> {
        let text = self.command("show stat");
        let mut lines = text.lines();
        let head: Vec<&str> = lines
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .unwrap_or_else(|| panic!("show stat: {text}"))
            .split(',')
            .collect();
        let col = |name: &str| {
            head.iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("show stat: no column {name}"))
        };
        let (sv, st, scur, stot, chk) = (
            col("svname"),
            col("status"),
            col("scur"),
            col("stot"),
            col("check_status"),
        );
        lines
            .map(|l| l.split(',').collect::<Vec<&str>>())
            .filter(|f| f.len() > chk && !matches!(f[sv], "FRONTEND" | "BACKEND"))
            .map(|f| ServerStat {
                name: f[sv].to_string(),
                status: f[st].to_string(),
                sessions: f[scur].parse().unwrap_or(0),
                total: f[stot].parse().unwrap_or(0),
                check: f[chk].to_string(),
            })
            .collect()
    }

    /// Server `name`'s row.
    pub fn server(&self, name: &str) -> ServerStat {
        let all = self.servers();
        all.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name} in {all:?}"))
            .clone()
    }

    /// Waits until server `name`'s status is exactly `status` (`UP`, `DOWN`).
    pub fn wait_status(&self, name: &str, status: &str) {
        let what = format!("haproxy to report server {name} {status}");
        wait_for(&what, WAIT, || self.server(name).status == status);
    }

    /// The sessions logged so far (ended sessions).
    pub fn sessions(&self) -> Vec<Session> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(parse_session).collect()
    }

    /// Waits until `n` sessions are logged; returns them.
    pub fn wait_sessions(&self, n: usize) -> Vec<Session> {
        let what = format!("haproxy to log {n} sessions");
        wait_for(&what, WAIT, || self.sessions().len() >= n);
        self.sessions()
    }
}

/// A session log line, if `line` is one.
fn parse_session(line: &str) -> Option<Session> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        ["session", client, "server", server, "term", term, "retries", retries] => Some(Session {
            client: client.parse().ok()?,
            server: server.to_string(),
            term: term.to_string(),
            retries: retries.to_string(),
        }),
        _ => None,
    }
}

/// A UAS for SIPp's `uac` scenario on 127.0.0.1: INVITE gets 180 and 200, BYE 200, ACK
/// nothing; every request it gets is kept ([`Uas::requests`]). Each connection is served on a
/// thread of its own, so a peer that dies (reset) ends only its own connection (a SIPp UAS
/// exits on a reset).
#[derive(Debug)]
pub struct Uas {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Uas {
    /// Listens on a free port and serves until dropped.
    pub fn start() -> Uas {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, quit) = (requests.clone(), stop.clone());
        let accepting = std::thread::spawn(move || {
            while !quit.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let log = log.clone();
                        std::thread::spawn(move || serve(s, addr, &log));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => {}
                }
            }
        });
        Uas {
            addr,
            requests,
            stop,
            accepting: Some(accepting),
        }
    }

    /// Every request so far, in order of arrival (per connection).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accepting.take() {
            let _ = t.join();
        }
    }
}

/// Answers the requests of one connection until it closes.
fn serve(s: TcpStream, me: SocketAddr, log: &Mutex<Vec<String>>) {
    s.set_nonblocking(false).unwrap();
    let Ok(mut w) = s.try_clone() else { return };
    let contact = format!("Contact: <sip:uas@{me};transport=tcp>\r\n");
    for_each_frame(s, |m| {
        let req = String::from_utf8_lossy(m).into_owned();
        let replies = match start_line(&req).split(' ').next() {
            Some("INVITE") => vec![
                response_to(&req, "180 Ringing", ""),
                response_to(&req, "200 OK", &contact),
            ],
            Some("BYE") => vec![response_to(&req, "200 OK", "")],
            _ => Vec::new(),
        };
        log.lock().unwrap().push(req);
        for r in replies {
            let _ = w.write_all(r.as_bytes());
        }
    });
}

/// What a background UAC run does.
#[derive(Debug, Clone)]
pub struct Uac<'a> {
    /// `-sf FILE`; `None`: the built-in `uac`.
    pub scenario: Option<&'a Path>,
    /// Where to call.
    pub target: SocketAddr,
    /// `-t`: `tn` (a connection per call) or `t1`.
    pub transport: &'a str,
    /// `-i`: the address the calls come from.
    pub client_ip: &'a str,
    /// `-m`.
    pub calls: u32,
    /// `-r`, calls per second.
    pub rate: u32,
    /// `-d`: how long a call lasts between ACK and BYE.
    pub pause: Duration,
    /// `-trace_msg` into `DIR/NAME-messages.log` ([`UacRun::messages`]).
    pub trace: bool,
}

/// A SIPp UAC running in the background.
#[derive(Debug)]
pub struct UacRun {
    proc: Proc,
    screen: PathBuf,
    messages: PathBuf,
    started: Instant,
}

impl Uac<'_> {
    /// Starts the run; `name` names its files in `dir`.
    pub fn spawn(&self, dir: &TempDir, name: &str) -> UacRun {
        let screen = dir.join(&format!("{name}.out"));
        let messages = dir.join(&format!("{name}-messages.log"));
        let mut cmd = Command::new(SIPP);
        match self.scenario {
            Some(f) => cmd.arg("-sf").arg(f),
            None => cmd.args(["-sn", "uac"]),
        };
        cmd.args(["-t", self.transport])
            .arg(self.target.to_string())
            .args(["-s", "service", "-i", self.client_ip, "-p"])
            .arg(free_port().to_string())
            .args(["-r", &self.rate.to_string(), "-m", &self.calls.to_string()])
            .args(["-d", &self.pause.as_millis().to_string()])
            .args(["-max_socket", "2000", "-recv_timeout", "10000"])
            .args(["-timeout", "60s", "-timeout_error", "-nostdin"]);
        if self.trace {
            cmd.args(["-trace_msg", "-message_file"]).arg(&messages);
        }
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&screen).unwrap())
            .stderr(Stdio::null());
        UacRun {
            proc: Proc::spawn("sipp uac", &mut cmd),
            screen,
            messages,
            started: Instant::now(),
        }
    }
}

impl UacRun {
    /// True once sipp has exited.
    pub fn finished(&mut self) -> bool {
        self.proc.wait_timeout(Duration::ZERO).is_some()
    }

    /// Waits for the end of the run (sipp's own `-timeout` is 60 s) and reads its final screen.
    pub fn finish(mut self) -> UacResult {
        let status = self
            .proc
            .wait_timeout(Duration::from_secs(90))
            .expect("sipp uac did not finish");
        self.proc.child = None;
        let screen = fs::read_to_string(&self.screen).unwrap_or_default();
        UacResult {
            status: status.code().unwrap_or(-1),
            successful: sipp_counter(&screen, "Successful call").unwrap_or(0),
            failed: sipp_counter(&screen, "Failed call").unwrap_or(u64::MAX),
            elapsed: self.started.elapsed(),
            screen,
        }
    }

    /// The message trace's path (with [`Uac::trace`]).
    pub fn messages(&self) -> &Path {
        &self.messages
    }
}

/// One message of a SIPp message trace.
#[derive(Debug, Clone)]
pub struct Traced {
    /// Sent by this sipp (else received).
    pub sent: bool,
    /// The start line.
    pub start: String,
    /// The whole message head (start line and headers), lines joined by `\r\n`.
    pub head: String,
}

impl Traced {
    /// The value of the first header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::sip::header(&self.head, name)
    }

    /// Every Via value, in order: the header lines split at commas (SIPp's `[last_Via:]`
    /// writes the Vias of a request on one line).
    pub fn vias(&self) -> Vec<&str> {
        crate::sip::headers(&self.head, "Via")
            .into_iter()
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .collect()
    }
}

/// The messages of a SIPp `-trace_msg` file, in order.
pub fn sipp_messages(path: &Path) -> Vec<Traced> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = format!("\n{text}"); // the first separator may open the file
    let mut out = Vec::new();
    for block in text
        .split("\n-----------------------------------------------")
        .skip(1)
    {
        let mut lines = block.lines().skip(1);
        let Some(what) = lines.next() else { continue };
        let sent = what.contains("message sent");
        let head: Vec<&str> = lines
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty())
            .collect();
        if let Some(start) = head.first() {
            out.push(Traced {
                sent,
                start: start.to_string(),
                head: head.join("\r\n") + "\r\n",
            });
        }
    }
    out
}

/// The value of parameter `name` in a Via value (`Some("")` for a bare flag such as
/// `rport`).
pub fn via_param<'a>(via: &'a str, name: &str) -> Option<&'a str> {
    via.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The sent-by `host:port` of a Via value.
pub fn via_sent_by(via: &str) -> &str {
    via.split(';')
        .next()
        .and_then(|s| s.split_whitespace().nth(1))
        .unwrap_or("")
}

/// The calls of a UAC trace: Call-ID → (the sent-by of the client's Via, whether the 200 to
/// the BYE arrived). The client's Via is the first one of any message of the call, sent or
/// received (a relay strips its own Via from responses). SIPp does not trace a message it
/// sends while its connection is still being set up (`-t tn`: each INVITE), so a call the
/// trace does not hold at all got no message through.
pub fn uac_calls(msgs: &[Traced]) -> HashMap<String, (String, bool)> {
    let mut calls: HashMap<String, (String, bool)> = HashMap::new();
    for m in msgs {
        let Some(id) = m.header("Call-ID") else {
            continue;
        };
        let call = calls.entry(id.to_string()).or_default();
        if call.0.is_empty() {
            if let Some(v) = m.vias().first() {
                call.0 = via_sent_by(v).to_string();
            }
        }
        if !m.sent && m.start.starts_with("SIP/2.0 200") && m.header("CSeq") == Some("2 BYE") {
            call.1 = true;
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_a_missing_one_is_caught() {
        let t = "bind @FRONTEND@\nserver s1 @S1@ # mail@example\n";
        let v = [
            ("FRONTEND", "127.0.0.1:1".to_string()),
            ("S1", "127.0.0.1:2".to_string()),
        ];
        assert_eq!(
            fill(t, &v),
            "bind 127.0.0.1:1\nserver s1 127.0.0.1:2 # mail@example\n"
        );
        let r = std::panic::catch_unwind(|| fill("server @S2@", &v));
        assert!(r.is_err());
    }

    #[test]
    fn session_lines_and_via_parameters_parse() {
        let s = parse_session("session 127.0.0.2:4000 server s2 term -- retries +1").unwrap();
        assert_eq!(s.client, "127.0.0.2:4000".parse().unwrap());
        assert_eq!((s.server.as_str(), s.term.as_str()), ("s2", "--"));
        assert_eq!(s.retries, "+1");
        assert!(parse_session("[WARNING] something").is_none());
        let via = "SIP/2.0/TCP 127.0.0.2:4000;rport=4000;branch=z9hG4bK-1;received=127.0.0.2";
        assert_eq!(via_sent_by(via), "127.0.0.2:4000");
        assert_eq!(via_param(via, "rport"), Some("4000"));
        assert_eq!(via_param(via, "received"), Some("127.0.0.2"));
        assert_eq!(via_param("SIP/2.0/TCP h;rport", "rport"), Some(""));
        assert_eq!(via_param(via, "maddr"), None);
    }

    #[test]
    fn sipp_traces_are_split_into_messages() {
        let dir = TempDir::new("trace");
        let p = dir.join("t.log");
        fs::write(
            &p,
            "----------------------------------------------- 2026-12-01 17:13:59.354875\n\
             TCP message sent (300 bytes):\n\nINVITE sip:s@h SIP/2.0\n\
             Via: SIP/2.0/TCP 127.0.0.2:4000;rport;branch=z9hG4bK-1\nCall-ID: 1-1@h\n\
             CSeq: 1 INVITE\n\nv=0\n\nProblem EAGAIN on socket 11\n\
             ----------------------------------------------- 2026-12-01 17:13:59.4\n\
             TCP message received [200] bytes :\n\nSIP/2.0 200 OK\n\
             Via: SIP/2.0/TCP 127.0.0.2:4000;rport=4000;received=127.0.0.2, SIP/2.0/TCP b:1\n\
             Call-ID: 1-1@h\nCSeq: 2 BYE\n\n",
        )
        .unwrap();
        let m = sipp_messages(&p);
        assert_eq!(m.len(), 2);
        assert!(m[0].sent && !m[1].sent);
        assert_eq!(m[0].start, "INVITE sip:s@h SIP/2.0");
        assert_eq!(m[1].header("CSeq"), Some("2 BYE"));
        assert_eq!(m[1].vias().len(), 2);
        assert_eq!(via_sent_by(m[1].vias()[1]), "b:1");
        let calls = uac_calls(&m);
        assert_eq!(calls["1-1@h"], ("127.0.0.2:4000".to_string(), true));
    }
}
