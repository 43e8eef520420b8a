//! `--mode connect-rate`: every transaction on a fresh connection —
//! connect, send one request, read its final answer, close — to measure the
//! connection setup rate of the target and the latency of setup plus
//! transaction.
//!
//! Each of `--threads` threads does this in a plain blocking loop (one
//! connection at a time per thread, so the concurrency is the thread
//! count). With `--rate` the threads follow the same global schedule as the
//! open-loop client and latency runs from the intended start; otherwise
//! each thread starts the next setup as soon as the previous one is done.
//! `--linger0` closes with RST so no TIME_WAIT piles up on the client.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use sipwire_frame::{DecoderConfig, Fill, FrameKind, ReadBuf, SipMessage, StreamDecoder};

use crate::client::{RD_BUF, REPORT_EVERY_NS};
use crate::frames;
use crate::msg::{sent_by, Method};
use crate::run::{ns_since, to_ns, RunCommon};
use crate::stats::{new_histogram, Counters, Delta, Event};
use crate::sys;

/// One connect-rate thread's job.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// Thread, target, limits, mix, stop flag.
    pub common: RunCommon,
    /// Number of threads (for the shared open-loop schedule).
    pub threads: usize,
    /// Open loop: setups per second over all threads.
    pub rate: Option<f64>,
    /// Close with RST.
    pub linger0: bool,
}

/// How one setup ended.
enum Outcome {
    /// 200 OK at this time (ns from the run start).
    Answered(u64),
    /// A final answer other than a matching 200.
    Mismatched,
    /// No final answer within the timeout.
    TimedOut,
    /// Connection closed or failed after the request was sent.
    Broken,
    /// Connect or send failed: nothing was sent.
    NotSent,
}

/// Starts a connect-rate thread: it reports [`Event::Ready`] at once,
/// waits for the start instant on `go`, runs, and ends with [`Event::Done`].
pub fn spawn(
    cfg: ConnectConfig,
    events: Sender<Event>,
    go: Receiver<Instant>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("load-connect-{}", cfg.common.thread))
        .spawn(move || {
            let setup = new_histogram().and_then(|h| {
                ReadBuf::new(RD_BUF)
                    .map(|b| (h, b))
                    .map_err(|e| e.to_string())
            });
            let (hist, buf) = match setup {
                Ok(x) => x,
                Err(e) => {
                    let _ = events.send(Event::Failed(e));
                    return;
                }
            };
            if events.send(Event::Ready).is_err() {
                return;
            }
            let Ok(start) = go.recv() else { return };
            if cfg.rate.is_some() {
                sys::set_timer_slack(1000);
            }
            run(&cfg, start, hist, buf, &events);
        })
}

fn run(
    cfg: &ConnectConfig,
    start: Instant,
    mut hist: hdrhistogram::Histogram<u64>,
    buf: ReadBuf,
    events: &Sender<Event>,
) {
    let empty = hist.clone();
    let (warmup_ns, end_ns) = cfg.common.window_ns();
    let mut counters = Counters::default();
    let mut buf = Some(buf);
    let mut out = Vec::with_capacity(2048);
    let (mut seq, mut measured_sent, mut last_ns) = (0u64, 0u64, 0u64);
    let mut next_report = REPORT_EVERY_NS;
    let stop_ns = loop {
        let now = ns_since(start);
        if now >= next_report {
            next_report = (now / REPORT_EVERY_NS + 1) * REPORT_EVERY_NS;
            let delta = Delta {
                counters: std::mem::take(&mut counters),
                hist: std::mem::replace(&mut hist, empty.clone()),
                end_ns: last_ns,
            };
            let _ = events.send(Event::Stats(Box::new(delta)));
        }
        let intended = match cfg.rate {
            Some(rate) => {
                let slot = seq as f64 * cfg.threads as f64 + cfg.common.thread as f64;
                (slot * 1e9 / rate) as u64
            }
            None => now,
        };
        let stop = cfg.common.stop_requested()
            || end_ns.is_some_and(|e| intended >= e || now >= e)
            || cfg.common.count_reached(measured_sent);
        if stop {
            break now.min(end_ns.unwrap_or(u64::MAX));
        }
        if intended > now {
            std::thread::sleep(Duration::from_nanos((intended - now).min(50_000_000)));
            continue;
        }
        let measured = intended >= warmup_ns;
        let method = Method::for_seq(cfg.common.mix, seq);
        out.clear();
        let outcome = one(cfg, seq, method, start, intended, &mut out, &mut buf);
        seq += 1;
        if !matches!(outcome, Outcome::NotSent) && measured {
            measured_sent += 1;
            counters.sent += 1;
        }
        match outcome {
            Outcome::Answered(at) => {
                counters.answered_all += 1;
                if measured {
                    counters.completed += 1;
                    hist.saturating_record((at.saturating_sub(intended) / 1000).max(1));
                    last_ns = last_ns.max(at);
                }
            }
            Outcome::Mismatched => counters.mismatched += u64::from(measured),
            Outcome::TimedOut => {
                counters.timeouts += u64::from(measured);
                counters.lost += u64::from(measured);
            }
            Outcome::Broken => {
                counters.conn_errors += 1;
                counters.lost += u64::from(measured);
            }
            Outcome::NotSent => {
                counters.conn_errors += 1;
                // Do not spin on a refusing target.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    let delta = Delta {
        counters,
        hist,
        end_ns: last_ns.max(stop_ns),
    };
    let _ = events.send(Event::Done(Box::new(delta)));
}

/// One setup + transaction. `buf` is the read buffer, lent to a decoder.
fn one(
    cfg: &ConnectConfig,
    seq: u64,
    method: Method,
    start: Instant,
    intended: u64,
    out: &mut Vec<u8>,
    buf: &mut Option<ReadBuf>,
) -> Outcome {
    let deadline = intended.saturating_add(to_ns(cfg.common.timeout));
    let mut stream = match TcpStream::connect_timeout(&cfg.common.target, cfg.common.timeout) {
        Ok(s) => s,
        Err(e) => {
            log::debug!("connect {}: {e}", cfg.common.target);
            return Outcome::NotSent;
        }
    };
    let _ = stream.set_nodelay(true);
    if cfg.linger0 {
        let _ = sipwire_sys::set_linger_abort(stream.as_raw_fd());
    }
    let Ok(local) = stream.local_addr() else {
        return Outcome::NotSent;
    };
    cfg.common.builder.write(out, &sent_by(local), seq, method);
    if stream.write_all(out).is_err() {
        return Outcome::NotSent;
    }
    let Some(b) = buf.take() else {
        return Outcome::Broken;
    };
    let mut dec = StreamDecoder::with_buffer(DecoderConfig::default(), b);
    let outcome = read_answer(cfg, &mut stream, &mut dec, start, deadline, (seq, method));
    *buf = dec.into_buffer();
    if buf.is_none() {
        // Cannot happen (the decoder was given a buffer); recover anyway.
        *buf = ReadBuf::new(RD_BUF).ok();
    }
    outcome
}

fn read_answer(
    cfg: &ConnectConfig,
    stream: &mut TcpStream,
    dec: &mut StreamDecoder,
    start: Instant,
    deadline: u64,
    (seq, method): (u64, Method),
) -> Outcome {
    let mut src = UntilDeadline {
        stream,
        start,
        deadline,
    };
    loop {
        match dec.fill_from(&mut src) {
            Ok(Fill::Data(_)) => {}
            Ok(Fill::WouldBlock) => return Outcome::TimedOut,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Outcome::TimedOut,
            Ok(Fill::Eof | Fill::Full) | Err(_) => return Outcome::Broken,
        }
        let at = ns_since(start);
        let answered = frames::drain(dec, |f| {
            if !matches!(f.kind, FrameKind::Sip { .. }) {
                return ControlFlow::Continue(());
            }
            let ans = SipMessage::parse(f.bytes)
                .map_err(|_| "unparsable")
                .and_then(|m| cfg.common.builder.check(&m));
            ControlFlow::Break(match ans {
                Ok(a) if a.seq != seq || a.method != method => Outcome::Mismatched,
                Ok(a) if a.status < 200 => return ControlFlow::Continue(()),
                Ok(a) if a.status == 200 => Outcome::Answered(at),
                Ok(_) | Err(_) => Outcome::Mismatched,
            })
        });
        match answered {
            Ok(Some(outcome)) => return outcome,
            Ok(None) => {}
            Err(_) => return Outcome::Broken,
        }
    }
}

/// The blocking stream with a read timeout set, before every read (EINTR
/// retries included), to what is left until the answer deadline; past it a
/// read fails with `TimedOut` without reading.
struct UntilDeadline<'a> {
    stream: &'a mut TcpStream,
    start: Instant,
    deadline: u64,
}

impl Read for UntilDeadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let now = ns_since(self.start);
        if now >= self.deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let left = Duration::from_nanos(self.deadline - now);
        if let Err(e) = self.stream.set_read_timeout(Some(left)) {
            // Not a timeout whatever its kind: the connection counts as broken.
            return Err(io::Error::other(e));
        }
        self.stream.read(buf)
    }
}
