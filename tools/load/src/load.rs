//! A load run (relay, uas-only, connect-rate) from start to report: start
//! the in-process UAS if there is one, start the client threads, wait until
//! all are connected, give them one common start instant, print a progress
//! line per second while their deltas come in, and build the [`Report`].
//!
//! CPU is taken with `getrusage(RUSAGE_SELF)` when measuring begins (the
//! start, or the end of the warmup) and when the last thread is done, so it
//! covers client threads and the in-process UAS alike.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::args::{Args, Mode};
use crate::client::{self, ClientConfig, Pacing};
use crate::connect_rate::{self, ConnectConfig};
use crate::error::LoadError;
use crate::msg::RequestBuilder;
use crate::report::{progress_line, Report, ReportHead};
use crate::run::RunCommon;
use crate::stats::{share, Event, Totals};
use crate::sys::{self, CpuTimes};
use crate::uas::{Uas, UasConfig};

/// A short tag that makes this run's Call-IDs and branches unique.
fn run_tag() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    format!("{:x}{:x}", std::process::id(), t & 0xff_ffff)
}

/// The Request-URI host: `--ruri-host`, else the in-process UAS, else the target.
fn ruri_host(args: &Args, uas: Option<SocketAddr>) -> String {
    match (&args.ruri_host, uas) {
        (Some(h), _) => h.clone(),
        (None, Some(a)) => a.to_string(),
        (None, None) => args.target.to_string(),
    }
}

/// Runs a load mode (relay, uas-only or connect-rate).
pub fn run(args: &Args) -> Result<Report, LoadError> {
    let uas = match (args.mode, args.uas_listen) {
        (Mode::Relay | Mode::ConnectRate, Some(listen)) => Some(Uas::start(&UasConfig {
            listen,
            threads: args.uas_threads,
            drop_every: args.uas_drop_every,
            dup_every: args.uas_dup_every,
        })?),
        _ => None,
    };
    let result = drive(args, uas.as_ref().map(Uas::local_addr));
    if let Some(u) = uas {
        let s = u.stop();
        log::info!(
            "uas: {} connections, {} requests, {} responses, {} dropped, {} errors",
            s.connections,
            s.requests,
            s.responses,
            s.dropped,
            s.errors
        );
    }
    result
}

fn spawn_threads(
    args: &Args,
    ruri: &str,
    stop: &Arc<AtomicBool>,
    events: &Sender<Event>,
) -> Result<(usize, Vec<crossbeam_channel::Sender<Instant>>), LoadError> {
    let tag = run_tag();
    let connect_rate = args.mode == Mode::ConnectRate;
    let threads = if connect_rate {
        args.threads
    } else {
        args.threads.min(args.conns)
    };
    let mut gos = Vec::with_capacity(threads);
    for t in 0..threads {
        let (go_tx, go_rx) = crossbeam_channel::bounded(1);
        gos.push(go_tx);
        let common = RunCommon {
            thread: t,
            target: args.target,
            count: args.count.map(|c| share(c, threads, t)),
            warmup: args.warmup,
            duration: args.duration,
            timeout: args.timeout,
            mix: args.mix,
            builder: RequestBuilder::new(&tag, t, ruri),
            stop: stop.clone(),
        };
        let spawned = if connect_rate {
            connect_rate::spawn(
                ConnectConfig {
                    common,
                    threads,
                    rate: args.rate,
                    linger0: args.linger0,
                },
                events.clone(),
                go_rx,
            )
        } else {
            let pacing = match args.rate {
                Some(rate) => Pacing::Open {
                    rate,
                    threads,
                    window_ns: u64::try_from(args.batch.as_nanos()).unwrap_or(u64::MAX),
                },
                None => Pacing::Closed {
                    outstanding: args.outstanding,
                },
            };
            client::spawn(
                ClientConfig {
                    common,
                    conns: share(args.conns as u64, threads, t) as usize,
                    pacing,
                },
                events.clone(),
                go_rx,
            )
        };
        spawned.map_err(|e| LoadError::Setup(format!("thread: {e}")))?;
    }
    Ok((threads, gos))
}

fn drive(args: &Args, uas: Option<SocketAddr>) -> Result<Report, LoadError> {
    if args.mode == Mode::ConnectRate {
        // Fail fast (exit 2) on a target that is not there at all.
        TcpStream::connect_timeout(&args.target, args.timeout)
            .map_err(|e| LoadError::Setup(format!("connect to {}: {e}", args.target)))?;
    }
    let ruri = ruri_host(args, uas);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::unbounded();
    let spawned = spawn_threads(args, &ruri, &stop, &tx);
    drop(tx);
    // Dropping the start senders makes waiting threads exit.
    let (threads, gos) = spawned?;
    let mut ready = 0;
    while ready < threads {
        match rx.recv() {
            Ok(Event::Ready) => ready += 1,
            Ok(Event::Failed(e)) => return Err(LoadError::Setup(e)),
            Ok(_) => {}
            Err(_) => return Err(LoadError::Setup("a client thread died".into())),
        }
    }

    let start = Instant::now();
    let mut cpu_start = args.warmup.is_zero().then(sys::cpu_times);
    for g in &gos {
        let _ = g.send(start);
    }
    drop(gos);

    let mut totals = Totals::new().map_err(LoadError::Setup)?;
    let warm_end = start + args.warmup;
    // Just after each whole second, so the threads' deltas up to it are in.
    let lag = Duration::from_millis(30);
    let mut tick = 1u64;
    let mut next_tick = start + Duration::from_secs(1) + lag;
    let mut answered_at_tick = 0;
    let mut done = 0;
    while done < threads {
        let now = Instant::now();
        let mut until = next_tick;
        if cpu_start.is_none() {
            until = until.min(warm_end);
        }
        match rx.recv_timeout(until.saturating_duration_since(now)) {
            Ok(Event::Stats(d)) => totals.merge(&d),
            Ok(Event::Done(d)) => {
                totals.merge(&d);
                done += 1;
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if cpu_start.is_none() && now >= warm_end {
            cpu_start = Some(sys::cpu_times());
        }
        if now >= next_tick {
            let answered = totals.counters.answered_all;
            if !args.quiet {
                let line = progress_line(
                    tick as f64,
                    &totals,
                    answered - answered_at_tick,
                    now < warm_end,
                );
                eprintln!("{line}");
            }
            answered_at_tick = answered;
            tick = now.duration_since(start).saturating_sub(lag).as_secs() + 1;
            next_tick = start + Duration::from_secs(tick) + lag;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let cpu = match cpu_start {
        Some(c0) => sys::cpu_times().since(c0),
        None => CpuTimes::default(),
    };
    let pacing = match (args.rate, args.mode) {
        (Some(r), _) => format!("open {r}/s"),
        (None, Mode::ConnectRate) => "closed 1/thread".to_owned(),
        (None, _) => format!("closed {}/conn", args.outstanding),
    };
    let head = ReportHead {
        mode: args.mode.name(),
        target: args.target.to_string(),
        conns: if args.mode == Mode::ConnectRate {
            threads
        } else {
            args.conns
        },
        threads,
        pacing,
    };
    let warmup_ns = u64::try_from(args.warmup.as_nanos()).unwrap_or(u64::MAX);
    Ok(Report::new(head, &totals, warmup_ns, cpu))
}
