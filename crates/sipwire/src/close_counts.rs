//! TCP closes counted by reason (every [`CloseReason`], so the counts add up to the
//! `closed` counter): the metrics' closed-by-reason totals. One relaxed atomic add per close.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::conn::CloseReason;

/// Every reason, in the order the counts are reported.
const ALL: [CloseReason; 16] = [
    CloseReason::PeerClosed,
    CloseReason::Reset,
    CloseReason::Timeout,
    CloseReason::Application,
    CloseReason::Lifetime,
    CloseReason::WaitData,
    CloseReason::Protocol,
    CloseReason::Error,
    CloseReason::Shutdown,
    CloseReason::ConnectRefused,
    CloseReason::ConnectTimeout,
    CloseReason::ConnectFailed,
    CloseReason::SendTimeout,
    CloseReason::QueueFull,
    CloseReason::MsgReadTimeout,
    CloseReason::MsgDataTimeout,
];

impl CloseReason {
    /// A short snake_case name (a metrics label): `peer_closed`, `reset`, `lifetime`, ...
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Reset => "reset",
            CloseReason::Timeout => "timeout",
            CloseReason::Application => "application",
            CloseReason::Lifetime => "lifetime",
            CloseReason::WaitData => "wait_data",
            CloseReason::Protocol => "protocol",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
            CloseReason::ConnectRefused => "connect_refused",
            CloseReason::ConnectTimeout => "connect_timeout",
            CloseReason::ConnectFailed => "connect_failed",
            CloseReason::SendTimeout => "send_timeout",
            CloseReason::QueueFull => "queue_full",
            CloseReason::MsgReadTimeout => "msg_read_timeout",
            CloseReason::MsgDataTimeout => "msg_data_timeout",
        }
    }
}

/// One counter per reason.
#[derive(Debug, Default)]
pub(crate) struct CloseCounts([AtomicU64; ALL.len()]);

impl CloseCounts {
    /// Counts one close.
    pub fn bump(&self, r: CloseReason) {
        if let Some(i) = ALL.iter().position(|&x| x == r) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (label, count) for every reason.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        ALL.iter()
            .zip(&self.0)
            .map(|(r, c)| (r.label(), c.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_label() {
        let c = CloseCounts::default();
        for (i, r) in ALL.iter().enumerate() {
            for _ in 0..=i {
                c.bump(*r);
            }
        }
        let s = c.snapshot();
        assert_eq!(s.len(), 16);
        for (i, (label, n)) in s.iter().enumerate() {
            assert_eq!(*n, i as u64 + 1, "{label}");
        }
        let mut labels: Vec<&str> = s.iter().map(|x| x.0).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), 16, "labels are distinct");
    }
}
