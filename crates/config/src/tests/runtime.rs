//! Runtime changes through [`ConfigHandle`] and [`SnapshotCache`].

use std::sync::Arc;
use std::time::Duration;

use super::*;

#[test]
fn runtime_set_visible_in_new_snapshot_only() {
    let h = ConfigHandle::new(Config::default());
    let old = h.snapshot();
    assert_eq!(h.generation(), 0);
    h.set_now_int("tcp", "connection_lifetime", 600).unwrap();
    assert_eq!(old.tcp.connection_lifetime, Duration::from_secs(120));
    assert_eq!(
        h.snapshot().tcp.connection_lifetime,
        Duration::from_secs(600)
    );
    assert_eq!(
        h.get("tcp", "connection_lifetime"),
        Some(ConfigValue::Int(600))
    );
    assert_eq!(h.generation(), 1);
    h.set_now_int("tcp", "no_connect", 1).unwrap();
    assert!(h.snapshot().tcp.no_connect);
    assert!(!old.tcp.no_connect);
}

#[test]
fn read_only_options_refused_with_their_name() {
    let h = ConfigHandle::new(Config::default());
    for (group, name) in [
        ("tcp", "async"),
        ("tcp", "fd_cache"),
        ("tcp", "defer_accept"),
        ("core", "tcp_children"),
        ("core", "tcp_poll_method"),
        ("proto_tcp", "async"),
        ("proto_tcp", "port"),
        ("tcpops", "event_callback"),
        ("sctp", "socket_rcvbuf"),
        ("core", "disable_tcp"),
    ] {
        let e = h.set_now_int(group, name, 1).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::ReadOnly { .. }));
        let want = format!("{group}.{name} cannot be changed at runtime");
        assert!(e.to_string().starts_with(&want), "{e}");
        assert!(h.set_now_string(group, name, "1").is_err());
    }
    assert_eq!(h.generation(), 0);
}

#[test]
fn runtime_values_checked_like_the_file() {
    let h = ConfigHandle::new(Config::default());
    let e = h.set_now_int("tcp", "max_connections", -5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tcp.max_connections: value -5 out of range 0..=2147483647"
    );
    let e = h.set_now_int("tcp", "keepalive", 2).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }), "{e}");
    let e = h.set_now_int("tcp", "keepidle", 86_401).unwrap_err();
    assert!(e.to_string().contains("out of range 0..=86400 (s)"), "{e}");
    let e = h.set_now_int("tcp", "conection_lifetime", 1).unwrap_err();
    assert_eq!(e.to_string(), "unknown cfg option tcp.conection_lifetime");
    let e = h.set_now_string("tcp", "keepalive", "perhaps").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::InvalidValue { .. }), "{e}");
    assert_eq!(h.generation(), 0, "failed sets publish nothing");

    h.set_now_string("tcp", "keepalive", "no").unwrap();
    h.set_now_string("tcp", "keepidle", "45").unwrap();
    h.set_now_int("tcpops", "closed_event", 0).unwrap();
    let s = h.snapshot();
    assert!(!s.tcp.keepalive);
    assert_eq!(s.tcp.keepidle, Some(Duration::from_secs(45)));
    assert_eq!(s.tcpops.closed_event, ClosedEvent::Off);
    h.set_now_int("tcp", "keepidle", 0).unwrap();
    assert_eq!(h.snapshot().tcp.keepidle, None, "0 = not set");
}

#[test]
fn runtime_spellings_share_fields() {
    let h = ConfigHandle::new(Config::default());
    h.set_now_int("proto_tcp", "send_timeout", 2500).unwrap();
    assert_eq!(h.get("tcp", "send_timeout"), Some(ConfigValue::Int(3)));
    h.set_now_int("tcp", "send_timeout", 4).unwrap();
    assert_eq!(
        h.get("proto_tcp", "send_timeout"),
        Some(ConfigValue::Int(4000))
    );
    h.set_now_int("proto_tcp", "crlf_pingpong", 0).unwrap();
    assert_eq!(h.get("tcp", "crlf_ping"), Some(ConfigValue::Int(0)));
    assert_eq!(h.get("tcp", "nope"), None);
}

#[test]
fn snapshot_cache_sees_a_change_after_set() {
    let h = ConfigHandle::new(Config::default());
    let mut cache = SnapshotCache::new(&h);
    let first = Arc::clone(cache.get());
    assert_eq!(first.tcp.max_msg_chunks, 4);
    assert!(Arc::ptr_eq(&first, cache.get()), "no change: same snapshot");
    h.set_now_int("proto_tcp", "max_msg_chunks", 9).unwrap();
    assert_eq!(cache.get().tcp.max_msg_chunks, 9);
    assert_eq!(cache.generation(), 1);
    assert_eq!(first.tcp.max_msg_chunks, 4);

    // Another thread's cache sees the change too.
    let h2 = h.clone();
    let seen = std::thread::spawn(move || {
        let mut c = h2.cache();
        let before = c.get().tcp.max_msg_chunks;
        h2.set_now_int("proto_tcp", "max_msg_chunks", 12).unwrap();
        (before, c.get().tcp.max_msg_chunks)
    })
    .join()
    .unwrap();
    assert_eq!(seen, (9, 12));
    assert_eq!(cache.get().tcp.max_msg_chunks, 12);
}

#[test]
fn concurrent_writers_and_readers_stay_consistent() {
    let h = ConfigHandle::new(Config::default());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    h.set_now_int("tcp", "wq_blk_size", 1000 + w * 1000 + i)
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let h = h.clone();
        std::thread::spawn(move || {
            let mut c = h.cache();
            let mut last = 0;
            for _ in 0..2000 {
                let g = c.generation();
                assert!(g >= last);
                last = g;
                assert!(c.get().tcp.wq_blk_size >= 1000);
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    assert_eq!(h.generation(), 400);
}

#[test]
fn sctp_assoc_dependency() {
    // File: reuse without tracking is refused, at the line that broke it.
    let e = parse_err("sctp_autoclose = 100\nmodparam(\"sctp\", \"sctp_assoc_tracking\", 0)\n");
    assert_eq!(e.line, Some(2));
    assert!(
        e.to_string()
            .contains("sctp_assoc_reuse: needs sctp_assoc_tracking = 1"),
        "{e}"
    );
    let (cfg, _) = parse_ok("sctp_assoc_reuse = 0\nsctp_assoc_tracking = 0\n");
    assert!(!cfg.sctp.assoc_tracking && !cfg.sctp.assoc_reuse);

    // Runtime: Kamailio's order rules.
    let h = ConfigHandle::new(Config::default());
    let e = h.set_now_int("sctp", "assoc_tracking", 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sctp.assoc_tracking: cannot be turned off while sctp.assoc_reuse is on; turn \
         assoc_reuse off first"
    );
    h.set_now_int("sctp", "assoc_reuse", 0).unwrap();
    h.set_now_int("sctp", "assoc_tracking", 0).unwrap();
    let e = h.set_now_int("sctp", "assoc_reuse", 1).unwrap_err();
    assert!(e
        .to_string()
        .contains("cannot be turned on while sctp.assoc_tracking is off"));
    h.set_now_int("sctp", "assoc_tracking", 1).unwrap();
    h.set_now_int("sctp", "assoc_reuse", 1).unwrap();
    assert!(h.snapshot().sctp.assoc_reuse);
}

#[test]
fn sctp_runtime_zero_keeps_and_cross_checks() {
    let h = ConfigHandle::new(Config::default());
    h.set_now_int("sctp", "srto_min", 500).unwrap();
    h.set_now_int("sctp", "srto_min", 0).unwrap();
    assert_eq!(
        h.snapshot().sctp.srto_min,
        Some(Duration::from_millis(500)),
        "0 keeps"
    );
    let e = h.set_now_int("sctp", "srto_max", 400).unwrap_err();
    assert!(
        e.to_string()
            .contains("sctp_srto_min: 500 ms is above sctp_srto_max"),
        "{e}"
    );
    h.set_now_int("sctp", "hbinterval", -1).unwrap();
    assert_eq!(h.snapshot().sctp.hbinterval, Some(SctpHeartbeat::Disabled));
    h.set_now_int("sctp", "max_assocs", 10).unwrap();
    assert_eq!(h.snapshot().sctp.max_assocs, Some(10));
    h.set_now_int("sctp", "max_assocs", -1).unwrap();
    assert_eq!(h.get("sctp", "max_assocs"), Some(ConfigValue::Int(-1)));
    let e = h.set_now_int("sctp", "send_retries", 10).unwrap_err();
    assert!(e.to_string().contains("out of range 0..=9"), "{e}");
}

#[test]
fn cfg_list_covers_every_option() {
    let h = ConfigHandle::new(Config::default());
    let list = h.cfg_list();
    assert_eq!(list.len(), options::all().count());
    let tcp = Config::default().cfg_group("tcp");
    assert!(tcp
        .iter()
        .any(|e| e.name == "rd_buf_size" && e.runtime && e.value == ConfigValue::Int(4096)));
    assert!(tcp.iter().any(|e| e.name == "async" && !e.runtime));
    assert!(tcp
        .iter()
        .all(|e| e.group == "tcp" && e.key.starts_with("tcp_")));
    let sctp = Config::default().cfg_group("sctp");
    assert_eq!(sctp.len(), 19);
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ConfigHandle>();
    fn assert_send<T: Send>() {}
    assert_send::<SnapshotCache>();
}

#[test]
fn runtime_ranges_match_the_file() {
    for row in options::all() {
        let h = ConfigHandle::new(Config::default());
        h.set_now_int("sctp", "assoc_reuse", 0).unwrap();
        let (g, n) = (row.cfg_group, row.cfg_name);
        if !row.runtime {
            let e = h.set_now_int(g, n, 0).unwrap_err();
            assert!(matches!(e.kind, ErrorKind::ReadOnly { .. }), "{g}.{n}: {e}");
            continue;
        }
        let (min, max, zero_unset) = match row.kind {
            Kind::Bool => (0, 1, false),
            Kind::Int(s) => (s.min, s.max, s.zero_unset),
            _ => continue,
        };
        for v in [min, max] {
            h.set_now_int(g, n, v)
                .unwrap_or_else(|e| panic!("{g}.{n} = {v}: {e}"));
            if !(row.runtime_zero_keeps && v == 0) {
                assert_eq!(h.get(g, n), Some(ConfigValue::Int(v)), "{g}.{n}");
            }
        }
        for v in [min - 1, max + 1] {
            if zero_unset && v == 0 {
                continue;
            }
            let e = h.set_now_int(g, n, v).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::OutOfRange { .. }),
                "{g}.{n} = {v}: {e}"
            );
            assert!(e
                .to_string()
                .starts_with(&format!("{g}.{n}: value {v} out of range")));
        }
    }
}
