//! `sipwire-load`: a SIP-over-TCP load generator and latency recorder.
//!
//! It drives SIP transactions through a relay and measures the whole path:
//! it is the client (connections to `--target`) *and* the UAS the relay
//! forwards to (`--uas-listen`), so one program sees
//! client → relay → UAS → relay → client. It also runs against a plain
//! UAS (`uas-only`), as a UAS alone (`serve`), measures connection setups
//! (`connect-rate`) and holds idle connections for memory measurements
//! (`idle`). See `docs/load.md` for usage.
//!
//! The binary is a thin shell over [`run`]; the library exists so tests can
//! drive runs and the UAS in-process.
//!
//! Modules: [`args`] (command line), [`msg`] (requests, answer matching,
//! the UAS's 200 OK), [`frames`] (draining a decoder after a read), [`run`]
//! (what client and connect-rate threads share), [`client`] + [`book`] (the poll-loop client threads
//! and their transaction bookkeeping), [`connect_rate`], [`idle`], [`uas`],
//! [`stats`] (counters, histograms, thread → main deltas), [`load`] (one
//! run from start to report), [`report`] (table, JSON, progress line),
//! [`sys`] (signals, CPU time, timer slack, the pacing timer), [`pipe`] (the
//! byte pipe behind the `sipwire-pipe` binary, the peer benchmark's floor).
//!
//! The crate has no `unsafe` code: polling is `sipwire-poll`, socket
//! options, the listener and the fd limit are `sipwire_sys`, the rest
//! is `nix`'s safe API.

#![forbid(unsafe_code)]

pub mod args;
pub mod book;
pub mod client;
pub mod connect_rate;
pub mod error;
pub mod frames;
pub mod idle;
pub mod load;
pub mod msg;
pub mod pipe;
pub mod report;
pub mod run;
pub mod stats;
pub mod sys;
pub mod uas;

use std::io::Write;
use std::time::Instant;

pub use args::{Args, Mix, Mode};
pub use error::LoadError;
pub use report::{IdleReport, Report, ServeReport};
pub use uas::{Uas, UasConfig, UasStats};

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A load run (relay, uas-only, connect-rate).
    Load(Report),
    /// A serve run.
    Served(ServeReport),
    /// An idle run.
    Idle(IdleReport),
}

impl Outcome {
    /// The final output: table, or one JSON object.
    pub fn render(&self, json: bool) -> String {
        match (self, json) {
            (Self::Load(r), false) => r.table(),
            (Self::Load(r), true) => r.json() + "\n",
            (Self::Served(s), false) => s.table(),
            (Self::Served(s), true) => s.json() + "\n",
            (Self::Idle(r), false) => r.table(),
            (Self::Idle(r), true) => r.json() + "\n",
        }
    }

    /// Process exit status: 1 if a load run saw any error, else 0.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Load(r) if r.failed() => 1,
            _ => 0,
        }
    }
}

/// Runs `args` to the end. Progress lines go to stderr; serve mode prints
/// `listening ADDR` and idle mode `ready N` on stdout as they happen.
pub fn run(args: &Args) -> Result<Outcome, LoadError> {
    match args.mode {
        Mode::Serve => serve(args).map(Outcome::Served),
        Mode::Idle => idle::run(args).map(Outcome::Idle),
        Mode::Relay | Mode::UasOnly | Mode::ConnectRate => load::run(args).map(Outcome::Load),
    }
}

fn serve(args: &Args) -> Result<ServeReport, LoadError> {
    let listen = args
        .uas_listen
        .ok_or_else(|| LoadError::Usage("serve needs --uas-listen".into()))?;
    let uas = Uas::start(&UasConfig {
        listen,
        threads: args.uas_threads,
        drop_every: args.uas_drop_every,
        dup_every: args.uas_dup_every,
    })?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {}", uas.local_addr());
        let _ = out.flush();
    }
    let t0 = Instant::now();
    let cpu0 = sys::cpu_times();
    while !sys::interrupted() && !args.duration.is_some_and(|d| t0.elapsed() >= d) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = uas.stop();
    Ok(ServeReport {
        stats,
        duration_s: t0.elapsed().as_secs_f64(),
        cpu: sys::cpu_times().since(cpu0),
    })
}
