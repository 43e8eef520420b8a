//! What the tool prints: the per-second progress line (stderr), the final
//! table (stdout) and the `--json` object (stdout, hand-written, stable
//! keys), for load runs, idle runs and serve runs.

use std::fmt::Write as _;

use crate::stats::{Counters, Totals};
use crate::sys::CpuTimes;
use crate::uas::UasStats;

/// Result of a load run (relay, uas-only, connect-rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Mode name.
    pub mode: &'static str,
    /// Target address.
    pub target: String,
    /// Client connections (connect-rate: concurrent setups).
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// `open R/s` or `closed P/conn`.
    pub pacing: String,
    /// Counters of the measured transactions.
    pub counters: Counters,
    /// Measured time: from the end of the warmup to the last measured answer
    /// or the end of sending, whichever is later.
    pub duration_s: f64,
    /// Completed transactions per second over `duration_s`.
    pub rate: f64,
    /// Latency percentiles and maximum, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Maximum, µs.
    pub max_us: u64,
    /// Mean, µs.
    pub mean_us: f64,
    /// CPU used by this process over the measured part of the run.
    pub cpu: CpuTimes,
    /// CPU µs per completed transaction.
    pub cpu_us_per_txn: f64,
}

impl Report {
    /// Builds the report from the totals; `warmup_ns` is where measuring began.
    pub fn new(head: ReportHead, totals: &Totals, warmup_ns: u64, cpu: CpuTimes) -> Self {
        let c = totals.counters;
        let duration_s = totals.end_ns.saturating_sub(warmup_ns) as f64 / 1e9;
        let per_s = |n: u64| {
            if duration_s > 0.0 {
                n as f64 / duration_s
            } else {
                0.0
            }
        };
        let h = &totals.hist;
        let q = |x: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(x)
            }
        };
        let cpu_s = cpu.user_s + cpu.sys_s;
        Report {
            mode: head.mode,
            target: head.target,
            conns: head.conns,
            threads: head.threads,
            pacing: head.pacing,
            counters: c,
            duration_s,
            rate: per_s(c.completed),
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            cpu,
            cpu_us_per_txn: if c.completed > 0 {
                cpu_s * 1e6 / c.completed as f64
            } else {
                0.0
            },
        }
    }

    /// True if anything went wrong (exit status 1).
    pub fn failed(&self) -> bool {
        self.counters.errors() > 0
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let c = &self.counters;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sipwire-load {}  target {}  conns {}  threads {}  {}",
            self.mode, self.target, self.conns, self.threads, self.pacing
        );
        let rows: [(&str, u64); 7] = [
            ("sent", c.sent),
            ("completed", c.completed),
            ("lost", c.lost),
            ("timeouts", c.timeouts),
            ("duplicates", c.duplicates),
            ("mismatched", c.mismatched),
            ("conn errors", c.conn_errors),
        ];
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<12} {v:>12}");
        }
        let _ = writeln!(s, "  {:<12} {:>12.3} s", "duration", self.duration_s);
        let unit = if self.mode == "connect-rate" {
            "setups/s"
        } else {
            "txn/s"
        };
        let _ = writeln!(s, "  {:<12} {:>12.1} {unit}", "rate", self.rate);
        let _ = writeln!(
            s,
            "  latency us   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us, self.mean_us
        );
        let _ = writeln!(
            s,
            "  cpu          user {:.3} s  sys {:.3} s  {:.2} us/txn",
            self.cpu.user_s, self.cpu.sys_s, self.cpu_us_per_txn
        );
        let _ = writeln!(
            s,
            "  result       {}",
            if self.failed() { "FAIL" } else { "ok" }
        );
        s
    }

    /// One JSON object on one line.
    pub fn json(&self) -> String {
        let c = &self.counters;
        let mut j = Json::default();
        j.str("mode", self.mode);
        j.int("sent", c.sent);
        j.int("completed", c.completed);
        j.int("lost", c.lost);
        j.int("timeouts", c.timeouts);
        j.int("duplicates", c.duplicates);
        j.int("mismatched", c.mismatched);
        j.int("conn_errors", c.conn_errors);
        j.float("duration_s", self.duration_s);
        j.float("rate", self.rate);
        j.int("p50_us", self.p50_us);
        j.int("p90_us", self.p90_us);
        j.int("p99_us", self.p99_us);
        j.int("p999_us", self.p999_us);
        j.int("max_us", self.max_us);
        j.float("mean_us", self.mean_us);
        j.float("cpu_user_s", self.cpu.user_s);
        j.float("cpu_sys_s", self.cpu.sys_s);
        j.float("cpu_us_per_txn", self.cpu_us_per_txn);
        j.str("target", &self.target);
        j.int("conns", self.conns as u64);
        j.int("threads", self.threads as u64);
        j.str("pacing", &self.pacing);
        j.finish()
    }
}

/// The descriptive part of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHead {
    /// Mode name.
    pub mode: &'static str,
    /// Target address.
    pub target: String,
    /// Client connections.
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// Pacing description.
    pub pacing: String,
}

/// The per-second progress line: `elapsed`, totals so far, answers in the
/// last second, and whether the warmup is still on.
pub fn progress_line(elapsed_s: f64, t: &Totals, answered_last_s: u64, warmup: bool) -> String {
    let c = &t.counters;
    let p99 = if t.hist.is_empty() {
        0
    } else {
        t.hist.value_at_quantile(0.99)
    };
    format!(
        "[{elapsed_s:6.1}s]{} sent {} completed {} rate {}/s p99 {} us errors {} \
         (timeouts {} dup {} mismatched {} conn {})",
        if warmup { " warmup" } else { "" },
        c.sent,
        c.completed,
        answered_last_s,
        p99,
        c.errors(),
        c.timeouts,
        c.duplicates,
        c.mismatched,
        c.conn_errors
    )
}

/// Result of `--mode idle`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleReport {
    /// Connections opened.
    pub conns: usize,
    /// Time to open them all.
    pub connect_s: f64,
    /// Time they were held.
    pub held_s: f64,
    /// Still open when released.
    pub open_at_end: usize,
    /// Closed or reset by the peer while held.
    pub closed_by_peer: usize,
}

impl IdleReport {
    /// Human-readable summary.
    pub fn table(&self) -> String {
        format!(
            "sipwire-load idle  conns {}  connect {:.3} s  held {:.1} s  open at end {}  closed by peer {}\n",
            self.conns, self.connect_s, self.held_s, self.open_at_end, self.closed_by_peer
        )
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        let mut j = Json::default();
        j.str("mode", "idle");
        j.int("conns", self.conns as u64);
        j.float("connect_s", self.connect_s);
        j.float("held_s", self.held_s);
        j.int("open_at_end", self.open_at_end as u64);
        j.int("closed_by_peer", self.closed_by_peer as u64);
        j.finish()
    }
}

/// Result of `--mode serve`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeReport {
    /// What the UAS did.
    pub stats: UasStats,
    /// How long it served.
    pub duration_s: f64,
    /// CPU this process used meanwhile.
    pub cpu: CpuTimes,
}

impl ServeReport {
    fn cpu_us_per_response(&self) -> f64 {
        if self.stats.responses == 0 {
            return 0.0;
        }
        (self.cpu.user_s + self.cpu.sys_s) * 1e6 / self.stats.responses as f64
    }

    /// Human-readable summary.
    pub fn table(&self) -> String {
        let s = &self.stats;
        format!(
            "sipwire-load serve  connections {}  requests {}  responses {}  dropped {}  errors {}\n  \
             duration {:.3} s  cpu user {:.3} s  sys {:.3} s  {:.2} us/response\n",
            s.connections,
            s.requests,
            s.responses,
            s.dropped,
            s.errors,
            self.duration_s,
            self.cpu.user_s,
            self.cpu.sys_s,
            self.cpu_us_per_response()
        )
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        let s = &self.stats;
        let mut j = Json::default();
        j.str("mode", "serve");
        j.int("connections", s.connections);
        j.int("requests", s.requests);
        j.int("responses", s.responses);
        j.int("dropped", s.dropped);
        j.int("errors", s.errors);
        j.float("duration_s", self.duration_s);
        j.float("cpu_user_s", self.cpu.user_s);
        j.float("cpu_sys_s", self.cpu.sys_s);
        j.float("cpu_us_per_response", self.cpu_us_per_response());
        j.finish()
    }
}

/// A flat JSON object writer (keys are fixed ASCII; strings are escaped).
#[derive(Debug, Default)]
struct Json {
    s: String,
}

impl Json {
    fn key(&mut self, k: &str) {
        self.s.push(if self.s.is_empty() { '{' } else { ',' });
        let _ = write!(self.s, "\"{k}\":");
    }

    fn int(&mut self, k: &str, v: u64) {
        self.key(k);
        let _ = write!(self.s, "{v}");
    }

    fn float(&mut self, k: &str, v: f64) {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.s, "{v:.6}");
        } else {
            self.s.push('0');
        }
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.s.push('"');
        for ch in v.chars() {
            match ch {
                '"' => self.s.push_str("\\\""),
                '\\' => self.s.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.s, "\\u{:04x}", c as u32);
                }
                c => self.s.push(c),
            }
        }
        self.s.push('"');
    }

    fn finish(mut self) -> String {
        if self.s.is_empty() {
            self.s.push('{');
        }
        self.s.push('}');
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_flat_and_escaped() {
        let mut j = Json::default();
        j.str("a", "x\"y\\\n");
        j.int("b", 3);
        j.float("c", 0.5);
        assert_eq!(j.finish(), r#"{"a":"x\"y\\\u000a","b":3,"c":0.500000}"#);
        assert_eq!(Json::default().finish(), "{}");
    }

    #[test]
    fn report_numbers() {
        let mut t = Totals::new().unwrap();
        for v in 1..=1000 {
            t.hist.saturating_record(v);
        }
        t.counters.completed = 1000;
        t.counters.sent = 1000;
        t.end_ns = 3_000_000_000;
        let head = ReportHead {
            mode: "uas-only",
            target: "127.0.0.1:1".into(),
            conns: 1,
            threads: 1,
            pacing: "closed 1/conn".into(),
        };
        let cpu = CpuTimes {
            user_s: 0.01,
            sys_s: 0.01,
        };
        let r = Report::new(head, &t, 1_000_000_000, cpu);
        assert!((r.duration_s - 2.0).abs() < 1e-9);
        assert!((r.rate - 500.0).abs() < 1e-9);
        assert_eq!((r.p50_us, r.max_us), (500, 1000));
        assert!((r.cpu_us_per_txn - 20.0).abs() < 1e-6);
        assert!(!r.failed());
        assert!(r.json().contains("\"p999_us\":999,"));
        assert!(r.table().contains("result       ok"));
    }
}
