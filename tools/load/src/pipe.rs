//! The floor of the peer benchmark: a TCP byte pipe, the least work any TCP relay can do.
//!
//! One thread, level-triggered epoll (`sipwire-poll`'s `epoll_lt`), one fixed 64 KiB copy
//! buffer. Each connection accepted on the listen address gets a new connection of its own to
//! the fixed upstream address (a non-blocking connect), and bytes are copied both ways as they
//! come: one `read()` per readiness event, written at once to the other side. No parsing, no
//! allocation per read. When the other side cannot take all of it, the rest waits in that
//! side's pending buffer (at most one read, so bounded by the copy buffer) and the pipe stops
//! reading from the sending side until it is written. When either side closes (end of file or
//! an error) both are closed; everything read from the closing side has been handed to the
//! kernel for the other side by then (reading stops while anything is pending), so no byte
//! read is lost.
//!
//! Run by the `sipwire-pipe` binary (`peer-bench`'s third relay) and in-process by the tests.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage};
use sipwire_poll::{Event, Events, Interest, PollMethod, Poller, Token};

/// Size of the one copy buffer: the most a single `read()` takes.
pub const BUF: usize = 64 * 1024;

/// The listener's token; a connection side's is `slot * 2 + side`.
const LISTENER: Token = Token(usize::MAX);
/// Side 0 is the accepted (client) connection, side 1 its upstream connection.
const CLIENT: usize = 0;
const UPSTREAM: usize = 1;

/// One side of a connection pair.
struct Side {
    stream: TcpStream,
    /// Bytes read from the other side that this side's socket did not take yet.
    pending: Vec<u8>,
    /// How much of `pending` is written.
    written: usize,
    /// What the poller has for this fd (`None`: not registered).
    registered: Option<Interest>,
}

impl Side {
    fn new(stream: TcpStream) -> Side {
        Side {
            stream,
            pending: Vec::new(),
            written: 0,
            registered: None,
        }
    }

    fn has_pending(&self) -> bool {
        self.written < self.pending.len()
    }
}

/// An accepted connection and its upstream connection.
struct Pair {
    sides: [Side; 2],
    /// The upstream connect has completed.
    connected: bool,
}

/// The byte pipe: a listener, its connection pairs, the poller and the copy buffer.
pub struct Pipe {
    listener: TcpListener,
    upstream: SocketAddr,
    poller: Poller,
    pairs: Vec<Option<Pair>>,
    /// Slots to reuse.
    free: Vec<usize>,
    /// Slots closed during the current batch of events: reused only after it, so a stale
    /// event of a closed pair never reaches a new one.
    closed: Vec<usize>,
    buf: Box<[u8]>,
}

impl Pipe {
    /// Listens on `listen` (port 0: any) and will pipe each connection to `upstream`.
    pub fn bind(listen: SocketAddr, upstream: SocketAddr) -> io::Result<Pipe> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let method = if PollMethod::EpollLt.is_supported() {
            PollMethod::EpollLt
        } else {
            PollMethod::None
        };
        let mut poller = Poller::new(method).map_err(|e| io::Error::other(e.to_string()))?;
        poller.register(listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
        Ok(Pipe {
            listener,
            upstream,
            poller,
            pairs: Vec::new(),
            free: Vec::new(),
            closed: Vec::new(),
            buf: vec![0u8; BUF].into_boxed_slice(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Connection pairs open now.
    pub fn open_pairs(&self) -> usize {
        self.pairs.len() - self.free.len() - self.closed.len()
    }

    /// Runs until `stop` is set (checked every 50 ms), or for ever without one.
    pub fn run(&mut self, stop: Option<&AtomicBool>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let timeout = stop.map(|_| Duration::from_millis(50));
        loop {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Ok(());
            }
            match self.poller.wait(&mut events, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                self.handle(ev);
            }
            self.free.append(&mut self.closed);
        }
    }

    fn handle(&mut self, ev: &Event) {
        if ev.token() == LISTENER {
            self.accept_all();
            return;
        }
        let (slot, side) = (ev.token().0 / 2, ev.token().0 % 2);
        // A pair closed earlier in this batch leaves stale events behind (its slot stays
        // empty until the batch is done).
        if !matches!(self.pairs.get(slot), Some(Some(_))) {
            return;
        }
        let ok = if ev.is_error() {
            false
        } else {
            self.on_ready(slot, side, ev)
        };
        if ok {
            if let Err(e) = self.update(slot) {
                log::warn!("pipe: poller: {e}");
                self.close(slot);
            }
        } else {
            self.close(slot);
        }
    }

    /// Readiness of one side; false when the pair is to be closed.
    fn on_ready(&mut self, slot: usize, side: usize, ev: &Event) -> bool {
        let Some(Some(pair)) = self.pairs.get_mut(slot) else {
            return true;
        };
        if ev.is_writable() {
            if side == UPSTREAM && !pair.connected {
                let s = &pair.sides[UPSTREAM].stream;
                match s.take_error() {
                    Ok(None) if s.peer_addr().is_ok() => {
                        let _ = s.set_nodelay(true);
                        pair.connected = true;
                    }
                    Ok(None) => return !ev.is_hup(), // not yet (spurious wakeup)
                    _ => return false,
                }
            } else if !flush(&mut pair.sides[side]) {
                return false;
            }
        }
        if ev.is_readable() || ev.is_hup() {
            let other = 1 - side;
            let may_read = pair.connected && !pair.sides[other].has_pending();
            if !may_read {
                // Not reading this side now (level-triggered: a hang-up would be reported
                // again and again): close on a hang-up, else wait.
                return !ev.is_hup();
            }
            return copy(&mut self.buf, pair, side);
        }
        true
    }

    /// Registers each side of the pair for what it needs now.
    fn update(&mut self, slot: usize) -> io::Result<()> {
        let Some(Some(pair)) = self.pairs.get_mut(slot) else {
            return Ok(());
        };
        for side in [CLIENT, UPSTREAM] {
            let other = 1 - side;
            let read = pair.connected && !pair.sides[other].has_pending();
            let write = pair.sides[side].has_pending() || (side == UPSTREAM && !pair.connected);
            let want = match (read, write) {
                (true, true) => Some(Interest::BOTH),
                (true, false) => Some(Interest::READABLE),
                (false, true) => Some(Interest::WRITABLE),
                (false, false) => None,
            };
            let s = &mut pair.sides[side];
            if want == s.registered {
                continue;
            }
            let fd = s.stream.as_raw_fd();
            let token = Token(slot * 2 + side);
            match (s.registered, want) {
                (None, Some(i)) => self.poller.register(fd, token, i)?,
                (Some(_), Some(i)) => self.poller.reregister(fd, token, i)?,
                (Some(_), None) => self.poller.deregister(fd)?,
                (None, None) => {}
            }
            s.registered = want;
        }
        Ok(())
    }

    fn accept_all(&mut self) {
        for _ in 0..64 {
            match self.listener.accept() {
                Ok((client, _)) => {
                    if let Err(e) = self.open(client) {
                        log::warn!("pipe: upstream {}: {e}", self.upstream);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // e.g. EMFILE: the connection stays queued; try again on the next wait.
                    log::warn!("pipe: accept: {e}");
                    return;
                }
            }
        }
    }

    /// A new pair for an accepted connection: starts the upstream connect.
    fn open(&mut self, client: TcpStream) -> io::Result<()> {
        client.set_nonblocking(true)?;
        client.set_nodelay(true)?;
        let (up, connected) = connect_nonblocking(self.upstream)?;
        let pair = Pair {
            sides: [Side::new(client), Side::new(up)],
            connected,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.pairs[s] = Some(pair);
                s
            }
            None => {
                self.pairs.push(Some(pair));
                self.pairs.len() - 1
            }
        };
        if let Err(e) = self.update(slot) {
            self.close(slot);
            return Err(e);
        }
        Ok(())
    }

    /// Closes both sides of a pair (whatever is still pending is dropped).
    fn close(&mut self, slot: usize) {
        let Some(Some(pair)) = self.pairs.get_mut(slot).map(Option::take) else {
            return;
        };
        for s in &pair.sides {
            if s.registered.is_some() {
                let _ = self.poller.deregister(s.stream.as_raw_fd());
            }
        }
        drop(pair); // closes both sockets
        self.closed.push(slot);
    }
}

/// One read from `pair.sides[from]`, written to the other side; the rest stays pending there.
/// False when the pair is to be closed (end of file, error).
fn copy(buf: &mut [u8], pair: &mut Pair, from: usize) -> bool {
    let [a, b] = &mut pair.sides;
    let (src, dst) = if from == CLIENT { (a, b) } else { (b, a) };
    let n = match (&src.stream).read(buf) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            return true
        }
        Err(_) => return false,
    };
    let w = match (&dst.stream).write(&buf[..n]) {
        Ok(w) => w,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => 0,
        Err(_) => return false,
    };
    if w < n {
        // dst had nothing pending (reading stops while it has), so this starts it afresh.
        dst.pending.clear();
        dst.pending.extend_from_slice(&buf[w..n]);
        dst.written = 0;
    }
    true
}

/// Writes what is pending on a side; false on a write error.
fn flush(side: &mut Side) -> bool {
    while side.has_pending() {
        match (&side.stream).write(&side.pending[side.written..]) {
            Ok(0) => return false,
            Ok(w) => side.written += w,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    side.pending.clear();
    side.written = 0;
    true
}

/// A non-blocking TCP socket connecting to `to`; true if the connect completed at once.
fn connect_nonblocking(to: SocketAddr) -> io::Result<(TcpStream, bool)> {
    let family = if to.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    #[cfg(not(target_vendor = "apple"))]
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    // macOS has neither flag: set both with fcntl before the connect.
    #[cfg(target_vendor = "apple")]
    let flags = SockFlag::empty();
    let fd: OwnedFd = socket::socket(family, SockType::Stream, flags, None)?;
    #[cfg(target_vendor = "apple")]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    let connected = match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(to)) {
        Ok(()) => true,
        Err(Errno::EINPROGRESS) => false,
        Err(e) => return Err(e.into()),
    };
    let stream = TcpStream::from(fd);
    if connected {
        stream.set_nodelay(true)?;
    }
    Ok((stream, connected))
}

/// `--listen ADDR --upstream ADDR` of the `sipwire-pipe` command line.
pub fn parse_args<I: IntoIterator<Item = String>>(
    words: I,
) -> Result<(SocketAddr, SocketAddr), String> {
    let (mut listen, mut upstream) = (None, None);
    let mut it = words.into_iter();
    while let Some(word) = it.next() {
        let (name, value) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (word, None),
        };
        if name == "-h" || name == "--help" {
            return Err(USAGE.to_owned());
        }
        let v = value
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        let a: SocketAddr = v.parse().map_err(|_| format!("{name} {v}: not IP:PORT"))?;
        match name.as_str() {
            "--listen" => listen = Some(a),
            "--upstream" => upstream = Some(a),
            _ => return Err(format!("unknown option {name}")),
        }
    }
    match (listen, upstream) {
        (Some(l), Some(u)) => Ok((l, u)),
        _ => Err(format!("--listen and --upstream are needed\n{USAGE}")),
    }
}

/// The `sipwire-pipe --help` text.
pub const USAGE: &str = "\
sipwire-pipe: the floor of the peer benchmark, a TCP byte pipe (one thread, epoll, copy bytes)

USAGE: sipwire-pipe --listen IP:PORT --upstream IP:PORT

Each accepted connection gets its own connection to --upstream; bytes are copied both ways
unchanged; both close when either does. Prints 'listening ADDR' once it listens; runs until
killed (SIGINT/SIGTERM).
";
