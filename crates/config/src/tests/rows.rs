//! Table-driven tests: every row's default, boolean spellings, range edges, and the table's
//! own consistency. (`docs/config.md` and the tests each row names are checked in
//! `crates/config/tests/coverage.rs`.)

use std::collections::HashSet;
use std::time::Duration;

use super::*;

fn value_text(v: &ConfigValue) -> String {
    match v {
        ConfigValue::Int(i) => i.to_string(),
        ConfigValue::Str(s) => format!("\"{s}\""),
    }
}

#[test]
fn every_option_parses_with_its_default() {
    let default = Config::default();
    for row in scalar_rows() {
        let text = value_text(&row.value(&default));
        for stmt in statements(row, &text) {
            let (cfg, warnings) = parse_ok(&stmt);
            // A proto_tcp modparam makes it an OpenSIPS config: proto_tcp's send timeout
            // default, unless the statement sets the send timeout itself.
            let mut expect = default.clone();
            if stmt.starts_with("modparam(\"proto_tcp\"") && row.field != "tcp.send_timeout" {
                expect.tcp.send_timeout = OPENSIPS_SEND_TIMEOUT;
            }
            assert_eq!(cfg, expect, "{stmt}");
            assert!(warnings.is_empty(), "{stmt}: {warnings:?}");
            assert_eq!(row.value(&cfg), row.value(&default), "{stmt}");
        }
    }
}

#[test]
fn every_bool_spelling() {
    let yes = ["yes", "on", "true", "1", "YES", "On", "enable"];
    let no = ["no", "off", "false", "0", "No", "OFF", "disable"];
    for row in scalar_rows().filter(|r| r.kind == Kind::Bool) {
        for (words, expect) in [(&yes, 1), (&no, 0)] {
            for w in words.iter() {
                for stmt in statements(row, w) {
                    let (cfg, _) = parse_ok(&stmt);
                    assert_eq!(row.value(&cfg), ConfigValue::Int(expect), "{stmt}");
                }
            }
        }
        for bad in ["2", "maybe", "-1", "\"\""] {
            for stmt in statements(row, bad) {
                let e = parse_err(&stmt);
                assert_eq!(e.line, Some(1), "{stmt}");
                assert!(
                    matches!(e.kind, ErrorKind::InvalidValue { .. }),
                    "{stmt}: {e}"
                );
            }
        }
    }
}

#[test]
fn int_range_edges() {
    for row in scalar_rows() {
        let Kind::Int(spec) = row.kind else { continue };
        for stmt in statements(row, &spec.min.to_string()) {
            let (cfg, _) = parse_ok(&stmt);
            assert_eq!(row.value(&cfg), ConfigValue::Int(spec.min), "{stmt}");
        }
        for stmt in statements(row, &spec.max.to_string()) {
            let (cfg, w) = parse_ok(&stmt);
            assert_eq!(row.value(&cfg), ConfigValue::Int(spec.max), "{stmt}");
            assert!(w.is_empty(), "{stmt}: {w:?}");
        }
        let below = spec.min - 1;
        if !(spec.zero_unset && below == 0) {
            for stmt in statements(row, &below.to_string()) {
                let e = parse_err(&stmt);
                assert!(
                    matches!(e.kind, ErrorKind::OutOfRange { .. }),
                    "{stmt}: {e}"
                );
                let msg = e.to_string();
                assert!(msg.starts_with("kamailio.cfg:1: "), "{msg}");
                assert!(
                    msg.contains(&format!("value {below} out of range")),
                    "{msg}"
                );
            }
        }
        for stmt in statements(row, &(spec.max + 1).to_string()) {
            if spec.clamp_max {
                let (cfg, w) = parse_ok(&stmt);
                assert_eq!(row.value(&cfg), ConfigValue::Int(spec.max), "{stmt}");
                assert_eq!(w.len(), 1, "{stmt}");
                assert_eq!(w[0].kind, WarningKind::Clamped);
            } else {
                let e = parse_err(&stmt);
                assert!(
                    matches!(e.kind, ErrorKind::OutOfRange { .. }),
                    "{stmt}: {e}"
                );
            }
        }
        for garbage in ["abc", "12abc", "1.5", "0x", "--1", "\"\""] {
            for stmt in statements(row, garbage) {
                let e = parse_err(&stmt);
                assert!(
                    matches!(e.kind, ErrorKind::InvalidValue { .. }),
                    "{stmt}: {e}"
                );
            }
        }
        for huge in ["99999999999999999999", "-99999999999999999999"] {
            for stmt in statements(row, huge) {
                let e = parse_err(&stmt);
                assert!(
                    matches!(e.kind, ErrorKind::OutOfRange { .. }),
                    "{stmt}: {e}"
                );
            }
        }
    }
}

#[test]
fn hex_and_signs_accepted() {
    let (cfg, _) =
        parse_ok("tcp_max_connections = 0x1000\nmodparam(\"sctp\", \"sctp_max_assocs\", -1)");
    assert_eq!(cfg.tcp.max_connections, 4096);
    assert_eq!(cfg.sctp.max_assocs, None);
    let (cfg, _) = parse_ok("tcp_max_connections = +10");
    assert_eq!(cfg.tcp.max_connections, 10);
}

#[test]
fn table_is_consistent() {
    let mut core = HashSet::new();
    let mut modparams = HashSet::new();
    let mut cfgs = HashSet::new();
    for row in options::all() {
        if row.core_form {
            for n in std::iter::once(row.name).chain(row.aliases.iter().copied()) {
                assert!(core.insert(n), "core name {n} twice");
            }
        }
        if let Some(m) = row.module {
            assert!(
                modparams.insert((m, row.name)),
                "modparam {m} {} twice",
                row.name
            );
        }
        assert!(cfgs.insert(row.cfg_key()), "cfg {} twice", row.cfg_key());
        assert!(
            !row.doc.is_empty() && !row.cfg_name.is_empty(),
            "{}",
            row.name
        );
        assert!(
            row.core_form || row.module.is_some(),
            "{} unreachable",
            row.name
        );
        assert!(!row.runtime_zero_keeps || row.runtime, "{}", row.name);
        let is_str = matches!(row.value(&Config::default()), ConfigValue::Str(_));
        assert_eq!(
            is_str,
            !row.is_int(),
            "{}: kind and codec disagree",
            row.name
        );
        assert_eq!(
            options::by_key(&row.key()).map(|r| r.cfg_key()),
            Some(row.cfg_key())
        );
    }
}

#[test]
fn defaults_match_the_references() {
    let c = Config::default();
    let t = &c.tcp;
    assert!(!c.disable_tcp && c.listen.is_empty());
    assert_eq!(t.connection_lifetime.as_secs(), 120);
    assert_eq!(t.connect_timeout.as_secs(), 10);
    assert_eq!(t.send_timeout.as_secs(), 10);
    assert_eq!(t.max_connections, 2048);
    assert_eq!(
        (t.rd_buf_size, t.conn_wq_max, t.wq_max),
        (4096, 32768, 10_485_760)
    );
    assert_eq!(t.wq_blk_size, 2100);
    assert_eq!(t.wait_data.as_millis(), 5000);
    assert!(t.asynchronous && t.crlf_ping && t.fd_cache && t.keepalive && t.delayed_ack);
    assert!(!t.reuse_port && !t.accept_aliases && !t.accept_haproxy && !t.accept_hep3);
    assert!(!t.accept_no_cl && !t.accept_unique && !t.clone_rcvbuf && !t.connection_match);
    assert!(!t.no_connect && !t.script_mode && !t.crlf_drop);
    assert_eq!(
        (t.keepidle, t.keepcnt, t.keepintvl, t.linger2, t.syncnt),
        (None, None, None, None, None)
    );
    assert_eq!(
        (t.defer_accept, t.source_ipv4, t.source_ipv6),
        (None, None, None)
    );
    assert_eq!(t.poll_method, PollMethod::None);
    assert_eq!(t.children, default_children());
    assert_eq!(
        (t.children, DEFAULT_CHILDREN),
        (8, 8),
        "Kamailio's CHILD_NO"
    );
    assert_eq!(OPENSIPS_SEND_TIMEOUT, Duration::from_millis(100));
    assert_eq!(
        (t.port, t.max_msg_chunks, t.async_max_postponed_chunks),
        (5060, 4, 32)
    );
    assert_eq!(t.async_local_connect_timeout.as_millis(), 100);
    assert_eq!(t.async_local_write_timeout.as_millis(), 10);
    assert_eq!(c.tcpops.closed_event, ClosedEvent::On);
    assert!(c.tcpops.event_callback.is_empty());
    let s = &c.sctp;
    assert_eq!(
        (s.autoclose.as_secs(), s.send_ttl.as_millis()),
        (180, 32000)
    );
    assert_eq!(s.send_retries, 0);
    assert!(s.assoc_tracking && s.assoc_reuse);
    assert_eq!(s.max_assocs, None);
    assert_eq!(c.get("sctp_max_assocs"), Some(ConfigValue::Int(-1)));
    assert_eq!(
        (s.socket_rcvbuf, s.srto_initial, s.hbinterval),
        (None, None, None)
    );
    c.validate().unwrap();
}
