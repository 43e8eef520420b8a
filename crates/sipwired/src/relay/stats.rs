//! The relay's counters: cheap atomics, bumped by the handler glue, read by anyone holding
//! the `Arc<RelayStats>` (logged at shutdown; the control socket's hook is
//! [`RelayStats::fields`], the metrics listener's [`RelayStats::collect_metrics`]).

use super::DropReason;
use sipwire::{CloseReason, Histogram};
use sipwire_control::metrics::MetricSet;

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

    /// The relay's metric families (`sipwire_relay_*`): every counter, and `relay_time` as
    /// `sipwire_relay_time_seconds`.
    pub fn collect_metrics(&self, relay_time: &Histogram, out: &mut MetricSet) {
        let s = self.snapshot();
        out.counters(
            "sipwire_relay_forwarded_total",
            "Messages the relay handed to the send path, by direction.",
            "direction",
            &[
                ("request", s.requests_relayed),
                ("response", s.responses_relayed),
            ],
        );
        out.counters(
            "sipwire_relay_replies_total",
            "Stateless replies the relay sent: 483 (Max-Forwards exhausted) or other.",
            "status",
            &[("483", s.replies_483), ("other", s.replies_other)],
        );
        out.counters(
            "sipwire_relay_dropped_total",
            "Messages the relay dropped, by reason (parse_error: a malformed SIP header \
             block; not_sip: not SIP/2.0 at all).",
            "reason",
            &[
                ("not_ours", s.dropped_not_ours),
                ("no_via", s.dropped_no_via),
                ("bad_via", s.dropped_bad_via),
                ("parse_error", s.dropped_parse_error),
                ("unroutable", s.dropped_unroutable),
                ("not_sip", s.dropped_not_sip),
                ("ack", s.dropped_ack),
                ("hep3", s.dropped_hep3),
                ("bad_mac", s.dropped_bad_mac),
                ("loop", s.dropped_loop),
            ],
        );
        out.counter(
            "sipwire_relay_refused_destinations_total",
            "Requests to destinations --relay-allow does not allow (403s and dropped ACKs).",
            s.refused_destinations,
        );
        out.counter(
            "sipwire_relay_send_failures_total",
            "Relay sends (forwards and replies) that failed, at once or later (unsent).",
            s.send_failures,
        );
        out.counter(
            "sipwire_relay_unsent_responses_total",
            "Relayed responses the runtime handed back unsent.",
            s.unsent_responses,
        );
        out.counters(
            "sipwire_relay_close_events_total",
            "Close events the relay saw, by event.",
            "event",
            &[
                ("tcp:closed", s.events_closed),
                ("tcp:timeout", s.events_timeout),
                ("tcp:reset", s.events_reset),
                ("other", s.events_other),
            ],
        );
        out.histogram(
            "sipwire_relay_time_seconds",
            "Relay time: from the start of on_message to the return of the forward's send.",
            &relay_time.snapshot(),
        );
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
    fn every_counter_is_a_metric() {
        let s = RelayStats::default();
        // Give each counter a distinct value and find each value in the scrape.
        let names: Vec<&str> = s.fields().iter().map(|(n, _)| *n).collect();
        let set = |name: &str, v: u64| {
            let c = match name {
                "requests_relayed" => &s.requests_relayed,
                "responses_relayed" => &s.responses_relayed,
                "replies_483" => &s.replies_483,
                "replies_other" => &s.replies_other,
                "dropped_not_ours" => &s.dropped_not_ours,
                "dropped_no_via" => &s.dropped_no_via,
                "dropped_bad_via" => &s.dropped_bad_via,
                "dropped_parse_error" => &s.dropped_parse_error,
                "dropped_unroutable" => &s.dropped_unroutable,
                "dropped_not_sip" => &s.dropped_not_sip,
                "dropped_ack" => &s.dropped_ack,
                "dropped_hep3" => &s.dropped_hep3,
                "dropped_bad_mac" => &s.dropped_bad_mac,
                "dropped_loop" => &s.dropped_loop,
                "refused_destinations" => &s.refused_destinations,
                "send_failures" => &s.send_failures,
                "unsent_responses" => &s.unsent_responses,
                "events_closed" => &s.events_closed,
                "events_timeout" => &s.events_timeout,
                "events_reset" => &s.events_reset,
                "events_other" => &s.events_other,
                other => panic!("new counter {other}: export it in collect_metrics"),
            };
            sipwire::counters::add(c, v);
        };
        for (i, n) in names.iter().enumerate() {
            set(n, 1000 + i as u64);
        }
        let h = Histogram::relay_time();
        h.observe(std::time::Duration::from_micros(30));
        let mut out = MetricSet::default();
        s.collect_metrics(&h, &mut out);
        assert!(out.skipped().is_empty(), "{:?}", out.skipped());
        let text = out.encode().unwrap();
        for (i, name) in names.iter().enumerate() {
            assert!(
                text.contains(&format!(" {}\n", 1000 + i)),
                "{name} not in the scrape:\n{text}"
            );
        }
        assert!(
            text.contains("sipwire_relay_time_seconds_bucket{le=\"5e-05\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sipwire_relay_time_seconds_count 1\n"),
            "{text}"
        );
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
