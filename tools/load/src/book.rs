//! Transaction bookkeeping of one client thread: which requests are in
//! flight, when they expire, and what became of each one.
//!
//! - In flight: a hash map from the sequence number to [`Txn`] (intended
//!   send time, connection, method), with a multiplicative hash since the
//!   keys are dense integers.
//! - Expiry: a queue of `(seq, deadline)` in send order. Deadlines only grow
//!   (open loop: intended times grow; closed loop: send times grow), so the
//!   front is always the next to expire; finished entries are skipped lazily.
//! - Fate: one byte per transaction ever sent (done, expired, answered
//!   late, measured or not), so a second answer is recognised as a
//!   duplicate and a late one as late, and "lost" is counted at the end as
//!   the expired transactions that never got an answer.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use hdrhistogram::Histogram;
use sipwire_frame::SipMessage;

use crate::msg::{Method, RequestBuilder};
use crate::stats::{new_histogram, Counters, Delta};

/// A transaction in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Txn {
    /// Intended send time, ns from the run start; latency runs from here.
    pub intended: u64,
    /// Connection index in the thread.
    pub conn: u32,
    /// Request method.
    pub method: Method,
    /// Counted in the results (intended after the warmup).
    pub measured: bool,
}

/// Hasher for dense integer keys: one multiply (Fibonacci hashing), which
/// spreads sequential numbers over the whole 64-bit range.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

const PENDING: u8 = 0;
const DONE: u8 = 1;
const EXPIRED: u8 = 2;
const LATE: u8 = 3;
const FATE: u8 = 0x7f;
const MEASURED: u8 = 0x80;

/// One thread's transactions; see the module docs.
#[derive(Debug)]
pub struct Book {
    builder: RequestBuilder,
    timeout_ns: u64,
    inflight: HashMap<u64, Txn, BuildHasherDefault<SeqHasher>>,
    expiry: VecDeque<(u64, u64)>,
    fate: Vec<u8>,
    counters: Counters,
    hist: Histogram<u64>,
    empty: Histogram<u64>,
    last_answer_ns: u64,
    refill: Vec<usize>,
}

impl Book {
    /// Empty book; answers are recognised with `builder`.
    pub fn new(builder: RequestBuilder, timeout_ns: u64) -> Result<Self, String> {
        let empty = new_histogram()?;
        Ok(Self {
            builder,
            timeout_ns,
            inflight: HashMap::default(),
            expiry: VecDeque::new(),
            fate: Vec::new(),
            counters: Counters::default(),
            hist: empty.clone(),
            empty,
            last_answer_ns: 0,
            refill: Vec::new(),
        })
    }

    fn set_fate(&mut self, seq: u64, fate: u8) {
        if let Some(f) = usize::try_from(seq).ok().and_then(|i| self.fate.get_mut(i)) {
            *f = (*f & MEASURED) | fate;
        }
    }

    fn push_fate(&mut self, seq: u64, fate: u8, measured: bool) {
        // Sequence numbers are handed out densely from 0, so seq == len.
        debug_assert_eq!(seq, self.fate.len() as u64);
        self.fate.push(fate | if measured { MEASURED } else { 0 });
    }

    /// Records request `seq` as written to its connection.
    pub fn sent(&mut self, seq: u64, txn: Txn) {
        self.push_fate(seq, PENDING, txn.measured);
        if txn.measured {
            self.counters.sent += 1;
        }
        self.expiry
            .push_back((seq, txn.intended.saturating_add(self.timeout_ns)));
        self.inflight.insert(seq, txn);
    }

    /// Records request `seq` as due but not sendable (connection closed or
    /// its output backlog over the cap): sent and lost.
    pub fn unsent(&mut self, seq: u64, measured: bool) {
        self.push_fate(seq, EXPIRED, measured);
        if measured {
            self.counters.sent += 1;
        }
    }

    /// Transactions in flight.
    pub fn outstanding(&self) -> usize {
        self.inflight.len()
    }

    /// Deadline of the next transaction to expire.
    pub fn next_deadline(&self) -> Option<u64> {
        self.expiry.front().map(|&(_, d)| d)
    }

    /// Time of the latest measured 200 OK, ns from the run start.
    pub fn last_answer_ns(&self) -> u64 {
        self.last_answer_ns
    }

    /// Handles one response that arrived at `now` (ns from the run start).
    pub fn on_response(&mut self, bytes: &[u8], now: u64) {
        let ans = match SipMessage::parse(bytes) {
            Ok(msg) => self.builder.check(&msg),
            Err(_) => Err("unparsable SIP message"),
        };
        let ans = match ans {
            Ok(a) => a,
            Err(why) => {
                log::debug!("mismatched response: {why}");
                self.counters.mismatched += 1;
                return;
            }
        };
        let Some(&fate) = usize::try_from(ans.seq).ok().and_then(|i| self.fate.get(i)) else {
            log::debug!("response to transaction {} never sent", ans.seq);
            self.counters.mismatched += 1;
            return;
        };
        let measured = fate & MEASURED != 0;
        let provisional = ans.status < 200;
        match fate & FATE {
            PENDING => {
                let Some(txn) = self.inflight.get(&ans.seq).copied() else {
                    self.counters.mismatched += 1;
                    return;
                };
                if txn.method != ans.method {
                    log::debug!("response to {}: wrong CSeq method", ans.seq);
                    self.counters.mismatched += u64::from(measured);
                    return;
                }
                if provisional {
                    return;
                }
                self.inflight.remove(&ans.seq);
                self.set_fate(ans.seq, DONE);
                self.refill.push(txn.conn as usize);
                self.counters.answered_all += 1;
                if !measured {
                    return;
                }
                if ans.status == 200 {
                    self.counters.completed += 1;
                    let us = now.saturating_sub(txn.intended) / 1000;
                    self.hist.saturating_record(us.max(1));
                    self.last_answer_ns = self.last_answer_ns.max(now);
                } else {
                    log::debug!("response to {}: status {}", ans.seq, ans.status);
                    self.counters.mismatched += 1;
                }
            }
            EXPIRED if !provisional => self.set_fate(ans.seq, LATE),
            DONE | LATE if !provisional => self.counters.duplicates += u64::from(measured),
            _ => {}
        }
    }

    /// Expires transactions whose deadline passed (counted as timeouts).
    pub fn expire(&mut self, now: u64) {
        while let Some(&(seq, deadline)) = self.expiry.front() {
            if !self.inflight.contains_key(&seq) {
                self.expiry.pop_front();
                continue;
            }
            if deadline > now {
                break;
            }
            self.expiry.pop_front();
            if let Some(txn) = self.inflight.remove(&seq) {
                self.set_fate(seq, EXPIRED);
                self.counters.timeouts += u64::from(txn.measured);
                self.refill.push(txn.conn as usize);
            }
        }
    }

    /// Expires everything still in flight (end of the run).
    pub fn expire_all(&mut self) {
        self.expire(u64::MAX);
    }

    /// Connection `conn` broke: its transactions will never be answered.
    pub fn conn_failed(&mut self, conn: usize) {
        self.counters.conn_errors += 1;
        let dead: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, t)| t.conn as usize == conn)
            .map(|(&s, _)| s)
            .collect();
        for seq in dead {
            self.inflight.remove(&seq);
            self.set_fate(seq, EXPIRED);
        }
    }

    /// Connections on which transactions finished since the last call
    /// (closed loop sends a new one on each); give the vector back with
    /// [`Book::return_refill`] to reuse it.
    pub fn take_refill(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.refill)
    }

    /// Returns the vector from [`Book::take_refill`].
    pub fn return_refill(&mut self, mut v: Vec<usize>) {
        v.clear();
        if self.refill.is_empty() {
            self.refill = v;
        }
    }

    /// Counters and latencies since the last call; `last` adds the lost
    /// count (expired and never answered). `None` if nothing happened.
    pub fn take_delta(&mut self, last: bool) -> Option<Delta> {
        let mut counters = std::mem::take(&mut self.counters);
        if last {
            counters.lost = self
                .fate
                .iter()
                .filter(|&&f| f == EXPIRED | MEASURED)
                .count() as u64;
        }
        if !last && counters == Counters::default() && self.hist.is_empty() {
            return None;
        }
        let hist = std::mem::replace(&mut self.hist, self.empty.clone());
        Some(Delta {
            counters,
            hist,
            end_ns: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> RequestBuilder {
        RequestBuilder::new("t", 0, "h:1")
    }

    fn answer(seq: u64, status: u16) -> Vec<u8> {
        let mut req = Vec::new();
        builder().write(&mut req, b"127.0.0.1:9", seq, Method::Options);
        let msg = SipMessage::parse(&req).unwrap();
        let mut out = Vec::new();
        crate::msg::write_response(&msg, &mut out, 1);
        if status != 200 {
            let s = String::from_utf8(out).unwrap();
            return s.replace("200 OK", &format!("{status} X")).into_bytes();
        }
        out
    }

    fn txn(intended: u64, measured: bool) -> Txn {
        Txn {
            intended,
            conn: 0,
            method: Method::Options,
            measured,
        }
    }

    #[test]
    fn fates() {
        let mut b = Book::new(builder(), 1_000_000).unwrap();
        for seq in 0..5 {
            b.sent(seq, txn(seq * 10, seq != 4));
        }
        b.on_response(&answer(0, 100), 5);
        b.on_response(&answer(0, 200), 50_000);
        b.on_response(&answer(0, 200), 60_000); // duplicate
        b.on_response(&answer(1, 486), 70_000); // mismatched status
        b.on_response(&answer(9, 200), 70_000); // never sent
        b.on_response(b"garbage\r\n\r\n", 70_000);
        b.expire(1_000_015); // seq 2 (deadline 1_000_020) not yet
        assert_eq!(b.outstanding(), 3);
        b.expire(1_000_025);
        assert_eq!(b.outstanding(), 2);
        b.on_response(&answer(2, 200), 1_100_000); // late
        b.on_response(&answer(4, 200), 1_100_000); // warmup, answered
        b.expire_all(); // seq 3 expires, never answered
        let d = b.take_delta(true).unwrap();
        let c = d.counters;
        assert_eq!((c.sent, c.completed, c.duplicates), (4, 1, 1));
        assert_eq!((c.mismatched, c.timeouts, c.lost), (3, 2, 1));
        assert_eq!(d.hist.len(), 1);
        assert_eq!(d.hist.max(), 50);
        assert_eq!(c.answered_all, 3);
    }

    #[test]
    fn broken_connection_loses_its_transactions() {
        let mut b = Book::new(builder(), 1_000).unwrap();
        b.sent(0, txn(0, true));
        b.sent(
            1,
            Txn {
                conn: 1,
                ..txn(0, true)
            },
        );
        b.unsent(2, true);
        b.conn_failed(0);
        assert_eq!(b.outstanding(), 1);
        b.expire_all();
        let c = b.take_delta(true).unwrap().counters;
        assert_eq!((c.sent, c.lost, c.timeouts, c.conn_errors), (3, 3, 1, 1));
    }
}
