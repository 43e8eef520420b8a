//! `--mode idle`: open `--conns` connections to the target, send nothing
//! (or one CRLFCRLF ping each with `--idle-ping`), print `ready N` on stdout
//! once all are up, and hold them for `--hold` seconds, or, without
//! `--hold`, until stdin closes; SIGINT or SIGTERM ends the
//! hold early either way.
//! A script measures the server's memory while they are held.
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard limit first. At the end
//! each connection is checked for a close or reset by the peer.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::error::LoadError;
use crate::report::IdleReport;
use crate::sys;

/// File descriptors kept free for everything else.
const SPARE_FDS: u64 = 32;

/// Runs idle mode.
pub fn run(args: &Args) -> Result<IdleReport, LoadError> {
    let setup = LoadError::Setup;
    let limit = sipwire_sys::raise_fd_limit().map_err(|e| setup(format!("RLIMIT_NOFILE: {e}")))?;
    if args.conns as u64 + SPARE_FDS > limit {
        return Err(setup(format!(
            "{} connections need more file descriptors than the limit {limit} \
             (raise the hard limit: ulimit -Hn)",
            args.conns
        )));
    }
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let mut s = TcpStream::connect_timeout(&args.target, args.timeout).map_err(|e| {
            setup(format!(
                "connection {} of {} to {}: {e}",
                i + 1,
                args.conns,
                args.target
            ))
        })?;
        if args.idle_ping {
            s.write_all(b"\r\n\r\n")
                .map_err(|e| setup(format!("ping on connection {}: {e}", i + 1)))?;
        }
        conns.push(s);
    }
    let connect_s = t0.elapsed().as_secs_f64();
    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "ready {}", conns.len());
        let _ = out.flush();
    }

    let held = Instant::now();
    let stdin_closed = Arc::new(AtomicBool::new(false));
    if args.hold.is_none() {
        let flag = stdin_closed.clone();
        let watcher = std::thread::Builder::new()
            .name("load-stdin".into())
            .spawn(move || {
                let mut buf = [0u8; 256];
                let mut stdin = io::stdin();
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                flag.store(true, Ordering::Relaxed);
            });
        if let Err(e) = watcher {
            return Err(setup(format!("stdin watcher: {e}")));
        }
    }
    loop {
        let over = match args.hold {
            Some(h) => held.elapsed() >= h,
            None => stdin_closed.load(Ordering::Relaxed),
        };
        if over || sys::interrupted() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let held_s = held.elapsed().as_secs_f64();

    let closed_by_peer = conns.iter().filter(|s| peer_closed(s)).count();
    Ok(IdleReport {
        conns: conns.len(),
        connect_s,
        held_s,
        open_at_end: conns.len() - closed_by_peer,
        closed_by_peer,
    })
}

/// True if the peer closed or reset the connection (a pong or other data
/// waiting to be read does not count).
fn peer_closed(mut s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 512];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return e.kind() != io::ErrorKind::WouldBlock,
        }
    }
}
