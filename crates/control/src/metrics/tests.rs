use super::*;
use sipwire::Histogram;

#[test]
fn families_encode_as_prometheus_text() {
    let mut set = MetricSet::default();
    set.counter("sipwire_x_total", "Things \\ counted.\nTwo lines.", 3);
    set.counters(
        "sipwire_y_total",
        "By reason.",
        "reason",
        &[("a", 1), ("quote\"back\\slash\nnl", 2)],
    );
    set.gauge("sipwire_g", "A gauge.", 7);
    set.gauge_f64("sipwire_f", "A fraction.", 0.5);
    let h = Histogram::new(&[1_000, 1_000_000]);
    h.observe_ns(500);
    h.observe_ns(2_000_000);
    set.histogram("sipwire_t_seconds", "Times.", &h.snapshot());
    assert!(set.skipped().is_empty());
    let text = set.encode().unwrap();
    let expected = "\
# HELP sipwire_x_total Things \\\\ counted.\\nTwo lines.
# TYPE sipwire_x_total counter
sipwire_x_total 3
# HELP sipwire_y_total By reason.
# TYPE sipwire_y_total counter
sipwire_y_total{reason=\"a\"} 1
sipwire_y_total{reason=\"quote\\\"back\\\\slash\\nnl\"} 2
# HELP sipwire_g A gauge.
# TYPE sipwire_g gauge
sipwire_g 7
# HELP sipwire_f A fraction.
# TYPE sipwire_f gauge
sipwire_f 0.5
# HELP sipwire_t_seconds Times.
# TYPE sipwire_t_seconds histogram
sipwire_t_seconds_bucket{le=\"1e-06\"} 1
sipwire_t_seconds_bucket{le=\"0.001\"} 1
sipwire_t_seconds_bucket{le=\"+Inf\"} 2
sipwire_t_seconds_sum 0.0020005
sipwire_t_seconds_count 2
";
    assert_eq!(text, expected);
}

#[test]
fn bad_families_are_left_out() {
    let mut set = MetricSet::default();
    set.counter("sipwire_ok_total", "Fine.", 1);
    set.counter("sipwire_ok_total", "Again.", 2);
    set.counter("sipwire_no_suffix", "Counter without _total.", 1);
    set.counter("_total", "Nothing before the suffix.", 1);
    set.gauge("1starts_with_a_digit", "Bad.", 1);
    set.gauge("has-dash", "Bad.", 1);
    set.gauge("", "Empty.", 1);
    set.counters("sipwire_l_total", "Bad label.", "__reserved", &[("a", 1)]);
    set.counters("sipwire_m_total", "Bad label.", "a-b", &[("a", 1)]);
    set.counters("sipwire_empty_total", "No samples.", "reason", &[]);
    assert_eq!(
        set.skipped(),
        [
            "sipwire_ok_total",
            "sipwire_no_suffix",
            "_total",
            "1starts_with_a_digit",
            "has-dash",
            "",
            "sipwire_l_total",
            "sipwire_m_total"
        ]
    );
    assert_eq!(set.names(), ["sipwire_ok_total"]);
    let text = set.encode().unwrap();
    assert_eq!(
        text,
        "# HELP sipwire_ok_total Fine.\n# TYPE sipwire_ok_total counter\nsipwire_ok_total 1\n"
    );
}

#[test]
fn a_vec_of_sources_is_a_source() {
    struct One(&'static str);
    impl MetricsSource for One {
        fn collect(&self, out: &mut MetricSet) {
            out.gauge(self.0, "One.", 1);
        }
    }
    let both: Vec<Arc<dyn MetricsSource>> =
        vec![Arc::new(One("sipwire_a")), Arc::new(One("sipwire_b"))];
    let text = render(&both).unwrap();
    assert!(
        text.contains("\nsipwire_a 1\n") && text.contains("\nsipwire_b 1\n"),
        "{text}"
    );
}

#[test]
fn every_runtime_counter_has_a_family() {
    let used = runtime::fields_used();
    let all: Vec<&str> = sipwire::StatsSnapshot::default()
        .fields()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for f in &all {
        assert!(
            used.contains(f),
            "stats field {f} is not exported as a metric"
        );
    }
    for f in &used {
        assert!(all.contains(f), "{f} is not a stats field");
    }
    let mut seen = std::collections::HashSet::new();
    for f in &used {
        assert!(seen.insert(f), "{f} exported twice");
    }
}
