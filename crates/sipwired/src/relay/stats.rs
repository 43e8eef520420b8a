//! The relay's counters: cheap atomics, bumped by the handler glue, read by anyone holding
//! the `Arc<RelayStats>` (logged at shutdown; the control socket's hook is
//! [`RelayStats::fields`]).

use super::DropReason;
use sipwire::CloseReason;

sipwire::counters! {
    /// Relay counters. Every field only grows.
    pub struct RelayStats => pub struct RelaySnapshot {
        /// Requests handed to the send path.
        requests_relayed,
        /// Responses handed to the send path.
        responses_relayed,
        /// Stateless 483 replies sent (Max-Forwards exhausted).
        replies_483,
        /// Other stateless replies sent.
        replies_other,
        /// Responses whose top Via is not ours.
        dropped_not_ours,
        /// Requests without Via, responses with no Via left after ours.
        dropped_no_via,
        /// Vias that do not parse.
        dropped_bad_via,
        /// SIP start lines with a malformed header block.
        dropped_parse_error,
        /// Responses whose next hop cannot be resolved.
        dropped_unroutable,
        /// Input that is not SIP/2.0 at all.
        dropped_not_sip,
        /// ACKs that cannot be forwarded (ACKs get no reply).
        dropped_ack,
        /// HEP3 packets (sipwired does not relay HEP).
        dropped_hep3,
        /// Responses with our branch marker whose Via MACs do not verify (forged).
        dropped_bad_mac,
        /// Responses whose next hop is this relay itself.
        dropped_loop,
        /// Requests to destinations `--relay-allow` does not allow (403s and dropped ACKs).
        refused_destinations,
        /// Sends (forward or reply) that failed.
        send_failures,
        /// Relayed responses the runtime handed back unsent (never completely written to
        /// the previous hop; nothing to answer).
        unsent_responses,
        /// Close events `tcp:closed` (the peer closed), as `closed_event` lets them through.
        events_closed,
        /// Close events `tcp:timeout` (keepalive probes or retransmissions unanswered).
        events_timeout,
        /// Close events `tcp:reset` (the peer reset the connection).
        events_reset,
        /// Close events of closes sipwire decided (lifetime, protocol error, the
        /// application, connect failures, shutdown, ...).
        events_other,
    }
}

use sipwire::counters::bump;

impl RelayStats {
    /// A request was handed to the send path.
    pub fn request_relayed(&self) {
        bump(&self.requests_relayed);
    }

    /// A response was handed to the send path.
    pub fn response_relayed(&self) {
        bump(&self.responses_relayed);
    }

    /// A stateless reply with this status was sent (a 403 is a refused destination too).
    pub fn replied(&self, status: u16) {
        if status == 483 {
            bump(&self.replies_483);
        } else {
            bump(&self.replies_other);
        }
        if status == 403 {
            bump(&self.refused_destinations);
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
            DropReason::BadMac => &self.dropped_bad_mac,
            DropReason::Loop => &self.dropped_loop,
            DropReason::Refused => &self.refused_destinations,
        });
    }

    /// A send (forward or reply) failed.
    pub fn send_failed(&self) {
        bump(&self.send_failures);
    }

    /// A relayed response was handed back unsent.
    pub fn unsent_response(&self) {
        bump(&self.unsent_responses);
    }

    /// A close event (`Handler::on_event`) with this reason was reported.
    pub fn event(&self, reason: CloseReason) {
        bump(match reason.event_name() {
            Some("tcp:closed") => &self.events_closed,
            Some("tcp:timeout") => &self.events_timeout,
            Some("tcp:reset") => &self.events_reset,
            _ => &self.events_other,
        });
    }

    /// Total messages dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.fields()
            .iter()
            .filter(|(n, _)| n.starts_with("dropped_"))
            .map(|(_, v)| v)
            .sum()
    }

    /// Every counter by name, in a fixed order (for logs and the control socket's
    /// `stats.get`).
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        self.snapshot().fields()
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
        // A 403 is a stateless reply and a refused destination; a refused ACK only the latter.
        s.replied(403);
        s.dropped(DropReason::Refused);
        s.dropped(DropReason::BadMac);
        s.dropped(DropReason::Loop);
        let f = s.fields();
        let v = |n: &str| f.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(v("replies_other"), 2);
        assert_eq!(v("refused_destinations"), 2);
        assert_eq!(v("dropped_bad_mac"), 1);
        assert_eq!(v("dropped_loop"), 1);
    }

    #[test]
    fn close_events_by_route() {
        let s = RelayStats::default();
        s.event(CloseReason::PeerClosed);
        s.event(CloseReason::PeerClosed);
        s.event(CloseReason::Timeout);
        s.event(CloseReason::Reset);
        s.event(CloseReason::Lifetime);
        s.event(CloseReason::Application);
        let f = s.fields();
        let v = |n: &str| f.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(v("events_closed"), 2);
        assert_eq!(v("events_timeout"), 1);
        assert_eq!(v("events_reset"), 1);
        assert_eq!(v("events_other"), 2);
        assert_eq!(s.dropped_total(), 0);
    }
}
