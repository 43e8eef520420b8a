//! The `/metrics` HTTP listener: a blocking `std::net` listener on a thread of its own, each
//! client on a short-lived thread, every byte read treated as hostile (bounded, timed,
//! validated before use). See the module docs of [`metrics`](super) for the rules.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sipwire_poll::{Events, Interest, PollMethod, Poller, Token};

use super::{MetricSet, MetricsSource};

/// Largest request head (request line and headers) read, in bytes; more gets `431`.
pub const MAX_HEAD: usize = 8192;
/// Clients served at once; more are answered `503` at once and closed.
pub const MAX_CLIENTS: usize = 8;
/// A client must send its whole request head within this time of connecting (`408`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A client must take its whole answer within this time.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The `Content-Type` of a scrape: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// After answering, what a client still sends is read (so closing does not reset the
/// connection under the answer) for at most this long and this many bytes.
const DRAIN_TIME: Duration = Duration::from_millis(250);
const DRAIN_BYTES: usize = 64 * 1024;
/// How long `shutdown` waits for client threads once their sockets are shut.
const STOP_WAIT: Duration = Duration::from_secs(1);
/// The statuses the server answers with, counted in `sipwire_metrics_responses_total`.
const CODES: [u16; 8] = [200, 400, 404, 405, 408, 431, 500, 503];

/// State the accept thread, the client threads and `shutdown` share.
struct Shared {
    stopping: AtomicBool,
    clients: Mutex<Clients>,
    /// Signalled when a client thread ends.
    client_done: Condvar,
    source: Arc<dyn MetricsSource>,
    limits: Limits,
    /// Answers by status, in [`CODES`] order.
    answered: [AtomicU64; CODES.len()],
}

#[derive(Default)]
struct Clients {
    next_id: u64,
    /// A handle on each client's socket, so `shutdown` can close it.
    open: HashMap<u64, TcpStream>,
}

impl Shared {
    fn clients(&self) -> MutexGuard<'_, Clients> {
        // Each change to the map is one insert or remove: a panic elsewhere left it usable.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, status: u16) {
        if let Some(i) = CODES.iter().position(|&c| c == status) {
            self.answered[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The listener's own families.
    fn collect_own(&self, out: &mut MetricSet) {
        let codes: Vec<String> = CODES.iter().map(u16::to_string).collect();
        let values: Vec<(&str, u64)> = codes
            .iter()
            .zip(&self.answered)
            .map(|(c, n)| (c.as_str(), n.load(Ordering::Relaxed)))
            .collect();
        out.counters(
            "sipwire_metrics_responses_total",
            "Answers of the metrics listener, by HTTP status (this scrape's not yet counted).",
            "code",
            &values,
        );
        out.gauge(
            "sipwire_metrics_clients",
            "Clients of the metrics listener being served now.",
            self.clients().open.len() as u64,
        );
    }
}

/// The listener's bounds; [`Limits::default`] is [`MAX_CLIENTS`], [`MAX_HEAD`],
/// [`REQUEST_TIMEOUT`] and [`WRITE_TIMEOUT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Clients served at once.
    pub max_clients: usize,
    /// Largest request head, in bytes.
    pub max_head: usize,
    /// Time to send the request head.
    pub request_timeout: Duration,
    /// Time to take the answer.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_clients: MAX_CLIENTS,
            max_head: MAX_HEAD,
            request_timeout: REQUEST_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
        }
    }
}

/// A running metrics listener; [`MetricsServer::shutdown`] (or dropping it) stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping it wakes the accept thread.
    wake: Option<UnixStream>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// The address it listens on (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes the clients being served, and returns once the threads are
    /// done (at most about a second for clients).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::Release);
        drop(self.wake.take());
        if accept.join().is_err() {
            log::error!("metrics: the accept thread panicked");
        }
        let mut clients = self.shared.clients();
        for s in clients.open.values() {
            // Already closed by the peer is fine.
            let _ = s.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + STOP_WAIT;
        while !clients.open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "metrics: {} client(s) still busy at shutdown",
                    clients.open.len()
                );
                break;
            }
            clients = match self.shared.client_done.wait_timeout(clients, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        log::info!("metrics listener {} closed", self.addr);
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `addr` (that address only) and serves `source` at `/metrics` on a thread of its
/// own, with the default [`Limits`].
pub fn serve(addr: SocketAddr, source: Arc<dyn MetricsSource>) -> io::Result<MetricsServer> {
    serve_with(addr, source, Limits::default())
}

/// [`serve`] with other bounds (tests use short timeouts).
pub fn serve_with(
    addr: SocketAddr,
    source: Arc<dyn MetricsSource>,
    limits: Limits,
) -> io::Result<MetricsServer> {
    let in_context = |e: io::Error| io::Error::new(e.kind(), format!("{addr}: {e}"));
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    let local = listener.local_addr().map_err(in_context)?;
    listener.set_nonblocking(true).map_err(in_context)?;
    let (wake_tx, wake_rx) = UnixStream::pair().map_err(in_context)?;
    let shared = Arc::new(Shared {
        stopping: AtomicBool::new(false),
        clients: Mutex::new(Clients::default()),
        client_done: Condvar::new(),
        source,
        limits,
        answered: Default::default(),
    });
    let acceptor = Acceptor {
        listener,
        wake: wake_rx,
        shared: shared.clone(),
    };
    let accept = std::thread::Builder::new()
        .name("sipwire-metrics".into())
        .spawn(move || acceptor.run())
        .map_err(in_context)?;
    log::info!("metrics listening on http://{local}/metrics");
    Ok(MetricsServer {
        addr: local,
        shared,
        wake: Some(wake_tx),
        accept: Some(accept),
    })
}

/// The accept thread.
struct Acceptor {
    listener: TcpListener,
    wake: UnixStream,
    shared: Arc<Shared>,
}

impl Acceptor {
    fn run(self) {
        const LISTENER: Token = Token(0);
        const WAKE: Token = Token(1);
        let poller = Poller::new(PollMethod::Poll)
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|mut p| {
                p.register(self.listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
                p.register(self.wake.as_raw_fd(), WAKE, Interest::READABLE)?;
                Ok(p)
            });
        let mut poller = match poller {
            Ok(p) => p,
            Err(e) => {
                log::error!("metrics: cannot poll: {e}; stopping");
                return;
            }
        };
        let mut events = Events::with_capacity(2);
        while !self.shared.stopping.load(Ordering::Acquire) {
            if let Err(e) = poller.wait(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("metrics: poll failed: {e}; stopping");
                return;
            }
            if events.iter().any(|ev| ev.token() == WAKE)
                || self.shared.stopping.load(Ordering::Acquire)
            {
                return;
            }
            // Everything waiting, so a burst of connections is not taken one poll at a time.
            loop {
                match self.listener.accept() {
                    Ok((stream, _)) => self.admit(stream),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Out of descriptors, typically: back off instead of spinning.
                        log::warn!("metrics: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        break;
                    }
                }
            }
        }
    }

    /// Starts a thread for a new client, or answers `503` without waiting when
    /// `max_clients` are being served.
    fn admit(&self, stream: TcpStream) {
        let mut clients = self.shared.clients();
        if clients.open.len() >= self.shared.limits.max_clients {
            drop(clients);
            self.shared.count(503);
            // Non-blocking: a short answer fits in a new socket's buffer; if not, too bad.
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write(head(503, 0).as_bytes());
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        // The listener is non-blocking; the client's socket must not be.
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let Ok(handle) = stream.try_clone() else {
            return;
        };
        let id = clients.next_id;
        clients.next_id += 1;
        clients.open.insert(id, handle);
        drop(clients);
        let client = Client {
            id,
            stream,
            shared: self.shared.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("sipwire-metrics-client".into())
            .spawn(move || client.run());
        if let Err(e) = spawned {
            // The closure (and the client in it) was dropped, which unregistered it.
            log::warn!("metrics: cannot start a client thread: {e}");
        }
    }
}

/// One client connection; dropping it (panics included) unregisters it.
struct Client {
    id: u64,
    stream: TcpStream,
    shared: Arc<Shared>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.clients().open.remove(&self.id);
        self.shared.client_done.notify_all();
    }
}

/// What a request asks for, once its head is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// `GET /metrics` (`head_only` for `HEAD`).
    Metrics { head_only: bool },
    /// An answer with no body worth computing: this status.
    Refuse(u16),
}

impl Client {
    fn run(mut self) {
        let limits = self.shared.limits;
        let request = read_request(&mut self.stream, limits.max_head, limits.request_timeout);
        let Some(request) = request else {
            return; // closed before sending anything, or the socket failed
        };
        let (status, body, head_only) = match request {
            Request::Metrics { head_only } => {
                let mut set = MetricSet::default();
                self.shared.source.collect(&mut set);
                self.shared.collect_own(&mut set);
                match set.encode() {
                    Ok(text) => (200, text, head_only),
                    Err(_) => (500, "cannot encode the metrics\n".to_string(), false),
                }
            }
            Request::Refuse(status) => (status, format!("{}\n", reason(status)), false),
        };
        self.shared.count(status);
        let mut out = head(status, body.len()).into_bytes();
        if !head_only {
            out.extend_from_slice(body.as_bytes());
        }
        if let Err(e) = write_all(&mut self.stream, &out, limits.write_timeout) {
            log::debug!("metrics: answer not taken: {e}");
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        drain(&mut self.stream);
    }
}

/// Reads a request head within `timeout` and at most `max_head` bytes and says what it
/// asks for; `None` when the client sent nothing at all or the socket failed.
fn read_request(stream: &mut TcpStream, max_head: usize, timeout: Duration) -> Option<Request> {
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(line) = first_line(&buf) {
            let request = parse_request_line(line);
            // The rest of the head must still arrive (and fit), unless it is refused now.
            if matches!(request, Request::Refuse(400)) || head_complete(&buf) {
                return Some(request);
            }
        } else if buf.iter().any(|&b| !is_request_line_byte(b)) {
            return Some(Request::Refuse(400));
        }
        if buf.len() >= max_head {
            return Some(Request::Refuse(431));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Some(Request::Refuse(408));
        }
        let room = (max_head - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return None,
            // Shut before the head ended: nothing to answer to but a bad request.
            Ok(0) => return Some(Request::Refuse(400)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Some(Request::Refuse(408));
            }
            Err(_) => return None,
        }
    }
}

/// The request line, once its line end arrived (without the CR LF).
fn first_line(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line = &buf[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The head ends with an empty line (CRLF CRLF, or bare LF LF as lenient servers accept).
fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// Bytes a request line can hold before its end: printable ASCII, space, CR.
fn is_request_line_byte(b: u8) -> bool {
    b == b' ' || b == b'\r' || b.is_ascii_graphic()
}

/// `METHOD SP /path[?query] SP HTTP/1.x` → what to answer.
fn parse_request_line(line: &[u8]) -> Request {
    let Ok(line) = std::str::from_utf8(line) else {
        return Request::Refuse(400);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Refuse(400);
    };
    let method_ok = !method.is_empty()
        && method.len() <= 16
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let version_ok = version
        .strip_prefix("HTTP/1.")
        .is_some_and(|minor| minor.len() == 1 && minor.bytes().all(|b| b.is_ascii_digit()));
    if !method_ok || !version_ok || !target.starts_with('/') || !target.is_ascii() {
        return Request::Refuse(400);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    if path != "/metrics" {
        return Request::Refuse(404);
    }
    match method {
        "GET" => Request::Metrics { head_only: false },
        "HEAD" => Request::Metrics { head_only: true },
        _ => Request::Refuse(405),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// The status line and headers of an answer whose body is `len` bytes.
fn head(status: u16, len: usize) -> String {
    let content_type = if status == 200 {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let extra = match status {
        405 => "Allow: GET, HEAD\r\n",
        503 => "Retry-After: 1\r\n",
        _ => "",
    };
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Connection: close\r\n{extra}\r\n",
        reason(status)
    )
}

/// Writes all of `bytes` within `limit`, however slowly the client reads.
fn write_all(stream: &mut TcpStream, mut bytes: &[u8], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not take its answer",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what the client still sends, briefly, until it closes.
fn drain(stream: &mut TcpStream) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let p = |s: &str| parse_request_line(s.as_bytes());
        assert_eq!(
            p("GET /metrics HTTP/1.1"),
            Request::Metrics { head_only: false }
        );
        assert_eq!(
            p("GET /metrics?x=1 HTTP/1.0"),
            Request::Metrics { head_only: false }
        );
        assert_eq!(
            p("HEAD /metrics HTTP/1.1"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(p("POST /metrics HTTP/1.1"), Request::Refuse(405));
        assert_eq!(p("DELETE /metrics HTTP/1.1"), Request::Refuse(405));
        assert_eq!(p("GET / HTTP/1.1"), Request::Refuse(404));
        assert_eq!(p("GET /metrics/ HTTP/1.1"), Request::Refuse(404));
        assert_eq!(p("POST /other HTTP/1.1"), Request::Refuse(404));
        for bad in [
            "",
            "GET",
            "GET /metrics",
            "GET /metrics HTTP/2.0",
            "GET /metrics HTTP/1.10",
            "GET  /metrics HTTP/1.1",
            "GET /metrics HTTP/1.1 extra",
            "GET metrics HTTP/1.1",
            "G\u{e9}T /metrics HTTP/1.1",
            "GET /m\u{e9}trics HTTP/1.1",
            "GETGETGETGETGETGETGET /metrics HTTP/1.1",
        ] {
            assert_eq!(p(bad), Request::Refuse(400), "{bad:?}");
        }
        assert_eq!(
            parse_request_line(b"GET /\xff HTTP/1.1"),
            Request::Refuse(400)
        );
    }

    #[test]
    fn heads_and_lines() {
        assert_eq!(
            first_line(b"GET / HTTP/1.1\r\nHost"),
            Some(&b"GET / HTTP/1.1"[..])
        );
        assert_eq!(first_line(b"GET / HTTP/1.1"), None);
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(head_complete(b"GET / HTTP/1.1\n\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!is_request_line_byte(0));
        assert!(!is_request_line_byte(0x80));
        let h = head(405, 1);
        assert!(h.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{h}");
        assert!(
            h.contains("Allow: GET, HEAD\r\n") && h.ends_with("\r\n\r\n"),
            "{h}"
        );
        assert!(head(200, 0).contains(CONTENT_TYPE));
    }
}
