//! Prometheus metrics: what a scrape shows ([`MetricSet`], filled by [`MetricsSource`]s) and
//! the HTTP listener that serves it at `/metrics` ([`serve`], [`MetricsServer`]).
//!
//! A source reads live counters (relaxed atomics, histogram snapshots) when a scrape asks, so
//! nothing is kept twice and the hot paths do not know the exporter exists.
//! [`RuntimeMetrics`] shows a runtime's [`Transport`](sipwire::Transport): connections,
//! accepts and refusals, closes, connects and their times, write queues, messages, fds,
//! SCTP. A daemon adds its own families with a source of its own (sipwired: the relay's
//! counters and its relay-time histogram), and a `Vec` of sources is a source.
//!
//! The text is Prometheus' exposition format 0.0.4, written by the `prometheus-client`
//! crate's encoder (escaping, float formatting, `_bucket`/`_sum`/`_count`): every family
//! has `# HELP` and `# TYPE`, counters are `counter`s named `..._total`, histograms are
//! `histogram`s in seconds. The listener's limits (request size, timeouts, clients) are
//! below; the metrics and how to scrape them are listed in `docs/control.md` ("Metrics").
//!
//! # The listener
//!
//! One thread accepts on the configured address only; each client is served on a short-lived
//! thread, at most [`MAX_CLIENTS`] at once (more get `503` at once, written without
//! waiting). A request's head must fit in [`MAX_HEAD`] bytes (`431`) and arrive within
//! [`REQUEST_TIMEOUT`] (`408`); the answer must be taken within [`WRITE_TIMEOUT`]. One
//! request per connection (`Connection: close`). `GET`/`HEAD /metrics` → `200`; another path
//! → `404`; another method → `405`; anything that is not an HTTP/1.x request line → `400`.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sipwire::HistogramSnapshot;

mod http;
mod runtime;

pub use http::{
    serve, serve_with, Limits, MetricsServer, CONTENT_TYPE, MAX_CLIENTS, MAX_HEAD, REQUEST_TIMEOUT,
    WRITE_TIMEOUT,
};
pub use runtime::RuntimeMetrics;

/// Something that adds metric families to a scrape. Called on the listener's client
/// threads, once per scrape: read atomics and snapshots, take no lock a hot path holds long.
pub trait MetricsSource: Send + Sync {
    /// Adds this source's families to `out`.
    fn collect(&self, out: &mut MetricSet);
}

impl MetricsSource for Vec<Arc<dyn MetricsSource>> {
    fn collect(&self, out: &mut MetricSet) {
        for s in self {
            s.collect(out);
        }
    }
}

/// What a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One sample's value.
#[derive(Debug, Clone)]
enum Value {
    Counter(u64),
    Int(u64),
    Float(f64),
    Histogram(HistogramSnapshot),
}

/// One family: a name, its help, its type and its samples (each with at most one label).
#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<(Option<(&'static str, String)>, Value)>,
}

/// The families of one scrape, in the order they were added. Names must be valid
/// Prometheus names, counters' must end in `_total`, and each name is added once: a family
/// that breaks a rule is left out (and listed by [`MetricSet::skipped`]), so a scrape stays
/// valid whatever a source does.
#[derive(Debug, Default)]
pub struct MetricSet {
    families: Vec<Family>,
    skipped: Vec<String>,
}

impl MetricSet {
    /// A counter (`name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.push(
            name,
            help,
            Kind::Counter,
            vec![(None, Value::Counter(value))],
        );
    }

    /// A counter family with one label: one sample per `(label value, count)`.
    pub fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[(&str, u64)],
    ) {
        let samples = values
            .iter()
            .map(|(v, n)| (Some((label, (*v).to_string())), Value::Counter(*n)))
            .collect();
        self.push(name, help, Kind::Counter, samples);
    }

    /// A gauge holding a whole number.
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.push(name, help, Kind::Gauge, vec![(None, Value::Int(value))]);
    }

    /// A gauge holding a fraction.
    pub fn gauge_f64(&mut self, name: &str, help: &str, value: f64) {
        self.push(name, help, Kind::Gauge, vec![(None, Value::Float(value))]);
    }

    /// A histogram of durations (in seconds: `name` should end in `_seconds`).
    pub fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) {
        let samples = vec![(None, Value::Histogram(h.clone()))];
        self.push(name, help, Kind::Histogram, samples);
    }

    /// The names of the families left out (invalid or repeated names, counters without
    /// `_total`, invalid label names), in the order they were offered.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The names of the families kept, in order.
    pub fn names(&self) -> Vec<&str> {
        self.families.iter().map(|f| f.name.as_str()).collect()
    }

    fn push(
        &mut self,
        name: &str,
        help: &str,
        kind: Kind,
        samples: Vec<(Option<(&'static str, String)>, Value)>,
    ) {
        let ok = valid_name(name)
            && (kind != Kind::Counter || name.len() > 6 && name.ends_with("_total"))
            && !self.families.iter().any(|f| f.name == name)
            && samples
                .iter()
                .all(|(l, _)| l.as_ref().is_none_or(|(k, _)| valid_label(k)));
        if !ok {
            log::warn!("metrics: family {name:?} left out (invalid or repeated name)");
            self.skipped.push(name.to_string());
            return;
        }
        if samples.is_empty() {
            return;
        }
        self.families.push(Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            samples,
        });
    }

    /// The families in the Prometheus text format (0.0.4).
    pub fn encode(self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Encoded(self.families)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// Collects `source` and encodes it ([`MetricSet::encode`]).
pub fn render(source: &dyn MetricsSource) -> Result<String, fmt::Error> {
    let mut set = MetricSet::default();
    source.collect(&mut set);
    set.encode()
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label(name: &str) -> bool {
    let mut b = name.bytes();
    !name.starts_with("__")
        && b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The families of one scrape as a `prometheus-client` collector (it runs once, right away).
#[derive(Debug)]
struct Encoded(Vec<Family>);

impl Collector for Encoded {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for f in &self.0 {
            let (name, ty) = match f.kind {
                // The encoder adds `_total` to a counter's name.
                Kind::Counter => (
                    f.name.strip_suffix("_total").unwrap_or(&f.name),
                    MetricType::Counter,
                ),
                Kind::Gauge => (f.name.as_str(), MetricType::Gauge),
                Kind::Histogram => (f.name.as_str(), MetricType::Histogram),
            };
            let mut m = encoder.encode_descriptor(name, &f.help, None, ty)?;
            for (label, value) in &f.samples {
                match label {
                    Some((k, v)) => {
                        let labels = [(*k, v.as_str())];
                        encode_value(&mut m.encode_family(&labels)?, value)?;
                    }
                    None => encode_value(&mut m, value)?,
                }
            }
        }
        Ok(())
    }
}

fn encode_value(m: &mut MetricEncoder<'_>, v: &Value) -> Result<(), fmt::Error> {
    match v {
        Value::Counter(n) => m.encode_counter::<NoLabelSet, u64, u64>(n, None),
        Value::Int(n) => m.encode_gauge(n),
        Value::Float(x) => m.encode_gauge(x),
        Value::Histogram(h) => {
            m.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &h.buckets_seconds(), None)
        }
    }
}

#[cfg(test)]
mod tests;
