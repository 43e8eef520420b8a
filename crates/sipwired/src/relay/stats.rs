//! The relay's counters: cheap atomics, bumped by the handler glue, read by anyone holding
//! the `Arc<RelayStats>` (logged at shutdown; the control socket's hook is
//! [`RelayStats::fields`]).

use std::sync::atomic::{AtomicU64, Ordering};

use super::DropReason;

/// Relay counters. Every field only grows.
#[derive(Debug, Default)]
pub struct RelayStats {
    requests_relayed: AtomicU64,
    responses_relayed: AtomicU64,
    replies_483: AtomicU64,
    replies_other: AtomicU64,
    dropped_not_ours: AtomicU64,
    dropped_no_via: AtomicU64,
    dropped_bad_via: AtomicU64,
    dropped_parse_error: AtomicU64,
    dropped_unroutable: AtomicU64,
    dropped_not_sip: AtomicU64,
    dropped_ack: AtomicU64,
    dropped_hep3: AtomicU64,
    send_failures: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl RelayStats {
    /// A request was handed to the send path.
    pub fn request_relayed(&self) {
        bump(&self.requests_relayed);
    }

    /// A response was handed to the send path.
    pub fn response_relayed(&self) {
        bump(&self.responses_relayed);
    }

    /// A stateless reply with this status was sent.
    pub fn replied(&self, status: u16) {
        if status == 483 {
            bump(&self.replies_483);
        } else {
            bump(&self.replies_other);
        }
    }

    /// A message was dropped.
    pub fn dropped(&self, reason: DropReason) {
        bump(match reason {
            DropReason::NotOurs => &self.dropped_not_ours,
            DropReason::NoVia => &self.dropped_no_via,
            DropReason::BadVia => &self.dropped_bad_via,
            DropReason::ParseError => &self.dropped_parse_error,
            DropReason::Unroutable => &self.dropped_unroutable,
            DropReason::NotSip => &self.dropped_not_sip,
            DropReason::AckNotForwarded => &self.dropped_ack,
            DropReason::Hep3 => &self.dropped_hep3,
        });
    }

    /// A send (forward or reply) failed.
    pub fn send_failed(&self) {
        bump(&self.send_failures);
    }

    /// Total messages dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.fields()
            .iter()
            .filter(|(n, _)| n.starts_with("dropped_"))
            .map(|(_, v)| v)
            .sum()
    }

    /// Every counter by name, in a fixed order (for logs and, later, the control socket's
    /// `stats.get`).
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("requests_relayed", get(&self.requests_relayed)),
            ("responses_relayed", get(&self.responses_relayed)),
            ("replies_483", get(&self.replies_483)),
            ("replies_other", get(&self.replies_other)),
            ("dropped_not_ours", get(&self.dropped_not_ours)),
            ("dropped_no_via", get(&self.dropped_no_via)),
            ("dropped_bad_via", get(&self.dropped_bad_via)),
            ("dropped_parse_error", get(&self.dropped_parse_error)),
            ("dropped_unroutable", get(&self.dropped_unroutable)),
            ("dropped_not_sip", get(&self.dropped_not_sip)),
            ("dropped_ack", get(&self.dropped_ack)),
            ("dropped_hep3", get(&self.dropped_hep3)),
            ("send_failures", get(&self.send_failures)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_name() {
        let s = RelayStats::default();
        s.request_relayed();
        s.response_relayed();
        s.response_relayed();
        s.replied(483);
        s.replied(503);
        s.dropped(DropReason::NotOurs);
        s.dropped(DropReason::NoVia);
        s.send_failed();
        let f = s.fields();
        let v = |n: &str| f.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(v("requests_relayed"), 1);
        assert_eq!(v("responses_relayed"), 2);
        assert_eq!(v("replies_483"), 1);
        assert_eq!(v("replies_other"), 1);
        assert_eq!(v("dropped_not_ours"), 1);
        assert_eq!(v("send_failures"), 1);
        assert_eq!(s.dropped_total(), 2);
    }
}
