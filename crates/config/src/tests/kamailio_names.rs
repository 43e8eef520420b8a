//! Kamailio's names and defaults: the `tcp` cfg group against Kamailio 5.6's `cfg.list`, the
//! script spelling as an alias of the cfg name, `tcp.wait_data_ms` at runtime, `tcp_children`
//! following `children`, and OpenSIPS's proto_tcp send timeout default.

use std::collections::HashSet;
use std::time::Duration;

use super::*;

/// Kamailio 5.6.3's `cfg.list` for the `tcp` group, in its order, with whether the entry can
/// be changed at runtime (`CFG_ATOMIC`; `false` = `CFG_READONLY`), from `tcp_options.c`.
const KAMAILIO_TCP_CFG: [(&str, bool); 28] = [
    ("connect_timeout", true),
    ("send_timeout", true),
    ("connection_lifetime", true),
    ("max_connections", true),
    ("max_tls_connections", true),
    ("no_connect", true),
    ("fd_cache", false),
    ("async", false),
    ("connect_wait", false),
    ("conn_wq_max", true),
    ("wq_max", true),
    ("defer_accept", false),
    ("delayed_ack", true),
    ("syncnt", true),
    ("linger2", true),
    ("keepalive", true),
    ("keepidle", true),
    ("keepintvl", true),
    ("keepcnt", true),
    ("crlf_ping", true),
    ("accept_aliases", true),
    ("alias_flags", true),
    ("new_conn_alias_flags", true),
    ("accept_no_cl", true),
    ("reuse_port", true),
    ("wait_data_ms", true),
    ("rd_buf_size", true),
    ("wq_blk_size", true),
];

/// Kamailio's tcp cfg entries sipwire has no option for (no TLS, no connect-wait mode, no
/// alias flags).
const NOT_IN_SIPWIRE: [&str; 4] = [
    "max_tls_connections",
    "connect_wait",
    "alias_flags",
    "new_conn_alias_flags",
];

#[test]
fn tcp_cfg_group_is_kamailios_list() {
    let ours = Config::default().cfg_group("tcp");
    let kamailio: HashSet<&str> = KAMAILIO_TCP_CFG.iter().map(|(n, _)| *n).collect();
    for e in &ours {
        assert!(
            kamailio.contains(e.name),
            "tcp.{} is not in Kamailio's tcp cfg group",
            e.name
        );
        let (_, runtime) = KAMAILIO_TCP_CFG
            .iter()
            .find(|(n, _)| *n == e.name)
            .copied()
            .unwrap_or_default();
        assert_eq!(e.runtime, runtime, "tcp.{}: runtime flag", e.name);
        assert!(e.key.starts_with("tcp_"), "{}", e.key);
    }
    let names: HashSet<&str> = ours.iter().map(|e| e.name).collect();
    let missing: Vec<&str> = KAMAILIO_TCP_CFG
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !names.contains(n))
        .collect();
    assert_eq!(missing, NOT_IN_SIPWIRE);
    assert_eq!(ours.len(), KAMAILIO_TCP_CFG.len() - NOT_IN_SIPWIRE.len());
    // Every core `tcp_*` parameter Kamailio keeps outside its cfg framework is in `core`,
    // under its script name.
    let core = Config::default().cfg_group("core");
    for name in [
        "tcp_children",
        "tcp_poll_method",
        "tcp_accept_haproxy",
        "tcp_accept_hep3",
        "tcp_accept_unique",
        "tcp_accept_iplimit",
        "tcp_clone_rcvbuf",
        "tcp_connection_match",
        "tcp_script_mode",
        "tcp_msg_read_timeout",
        "tcp_msg_data_timeout",
        "tcp_source_ipv4",
        "tcp_source_ipv6",
    ] {
        let e = core.iter().find(|e| e.name == name);
        assert_eq!(e.map(|e| e.key.as_str()), Some(name), "core.{name}");
    }
    assert!(core.iter().all(|e| e.name == e.key), "{core:?}");
}

#[test]
fn script_spelling_is_an_alias_of_the_cfg_name() {
    let h = ConfigHandle::new(Config::default());
    // kamcmd cfg.set_now_int tcp tcp_no_connect 1 works like tcp no_connect 1.
    h.set_now_int("tcp", "tcp_no_connect", 1).unwrap();
    assert!(h.snapshot().tcp.no_connect);
    assert_eq!(h.get("tcp", "no_connect"), Some(ConfigValue::Int(1)));
    assert_eq!(h.get("tcp", "tcp_no_connect"), Some(ConfigValue::Int(1)));
    assert_eq!(
        Config::default().cfg_get("tcp", "tcp_connection_lifetime"),
        Some(ConfigValue::Int(120))
    );
    h.set_now_string("tcp", "tcp_keepalive", "no").unwrap();
    assert!(!h.snapshot().tcp.keepalive);
    // Other spellings of a row: Kamailio's alias, a modparam, the wait_data rename.
    assert_eq!(h.get("tcp", "tcp_buf_write"), Some(ConfigValue::Int(1)));
    h.set_now_int("tcp", "tcp_wait_data", 1500).unwrap();
    assert_eq!(h.get("tcp", "wait_data_ms"), Some(ConfigValue::Int(1500)));
    h.set_now_int("proto_tcp", "tcp_send_timeout", 2500)
        .unwrap();
    assert_eq!(h.get("tcp", "tcp_send_timeout"), Some(ConfigValue::Int(3)));
    h.set_now_int("sctp", "sctp_autoclose", 33).unwrap();
    assert_eq!(h.get("sctp", "autoclose"), Some(ConfigValue::Int(33)));
    // The alias keeps the row's checks and flags; error messages name the cfg entry.
    let e = h.set_now_int("tcp", "tcp_async", 0).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::ReadOnly { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("tcp.async cannot be changed at runtime"),
        "{e}"
    );
    let e = h.set_now_int("tcp", "tcp_keepalive", 2).unwrap_err();
    assert!(e.to_string().starts_with("tcp.keepalive: value 2"), "{e}");
    // Aliases are per group: each name belongs to its own group only.
    for (group, name) in [
        ("tcp", "tcp_children"),
        ("tcp", "children"),
        ("core", "children"),
        ("tcp", "wait_data"),
        ("tcp", "tcp_crlf_pingpong"),
        ("proto_tcp", "tcp_crlf_ping"),
    ] {
        assert_eq!(h.get(group, name), None, "{group}.{name}");
        let e = h.set_now_int(group, name, 1).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownCfg { .. }), "{e}");
    }
    assert_eq!(
        h.get("core", "tcp_children"),
        Some(ConfigValue::Int(DEFAULT_CHILDREN as i64))
    );
}

#[test]
fn no_alias_hides_another_cfg_name() {
    let rows: Vec<&OptionDef> = options::all().collect();
    for row in &rows {
        for spelling in std::iter::once(row.name).chain(row.aliases.iter().copied()) {
            let found = options::by_cfg(row.cfg_group, spelling).map(OptionDef::cfg_key);
            assert_eq!(found, Some(row.cfg_key()), "{}.{spelling}", row.cfg_group);
        }
        assert_eq!(
            options::by_cfg(row.cfg_group, row.cfg_name).map(OptionDef::cfg_key),
            Some(row.cfg_key())
        );
    }
}

#[test]
fn wait_data_ms_changes_at_runtime_in_kamailios_range() {
    let h = ConfigHandle::new(Config::default());
    assert_eq!(h.get("tcp", "wait_data_ms"), Some(ConfigValue::Int(5000)));
    h.set_now_int("tcp", "wait_data_ms", 7_200_000).unwrap();
    assert_eq!(h.snapshot().tcp.wait_data, Duration::from_secs(7200));
    h.set_now_int("tcp", "wait_data_ms", 0).unwrap();
    assert_eq!(h.snapshot().tcp.wait_data, Duration::ZERO);
    let e = h.set_now_int("tcp", "wait_data_ms", 7_200_001).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tcp.wait_data_ms: value 7200001 out of range 0..=7200000 (ms)"
    );
    let (cfg, _) = parse_ok("tcp_wait_data = 7200000");
    assert_eq!(cfg.tcp.wait_data, Duration::from_secs(7200));
    let e = parse_err("tcp_wait_data = 7200001");
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }), "{e}");
}

#[test]
fn tcp_children_follows_children() {
    // Neither set: Kamailio's default for children.
    let (cfg, _) = parse_ok("tcp_max_connections = 10\n");
    assert_eq!(cfg.tcp.children, DEFAULT_CHILDREN);
    assert_eq!(Config::default().tcp.children, 8);
    // children only: tcp_children follows it, and children is no "other subsystem" then.
    let (cfg, w) = parse_ok("children = 4\n");
    assert_eq!(cfg.tcp.children, 4);
    assert!(w.is_empty(), "{w:?}");
    let (cfg, w) = parse_strict("children=3\n").unwrap();
    assert_eq!((cfg.tcp.children, w.len()), (3, 0));
    let (cfg, w) = parse_ok("children = 4\nchildren = 5\n");
    assert_eq!(cfg.tcp.children, 5, "the last one");
    assert_eq!(
        (w.len(), w[0].line, w[0].kind),
        (1, 1, WarningKind::Overridden)
    );
    let (cfg, _) = parse_ok("#!define KIDS 6\nchildren = KIDS\n");
    assert_eq!(cfg.tcp.children, 6);
    // Kamailio: children <= 0 is its default.
    for v in ["0", "-3"] {
        let (cfg, _) = parse_ok(&format!("children = {v}\n"));
        assert_eq!(cfg.tcp.children, DEFAULT_CHILDREN, "children = {v}");
    }
    // tcp_children set, before or after: it wins, and children gets the usual warning (each
    // line of it).
    let (_, w) = parse_ok("children = 4\ntcp_children = 2\nchildren = 6\n");
    let lines: Vec<u32> = w.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 3]);
    for text in [
        "children = 4\ntcp_children = 2\n",
        "tcp_children = 2\nchildren = 4\n",
    ] {
        let (cfg, w) = parse_ok(text);
        assert_eq!(cfg.tcp.children, 2, "{text}");
        assert_eq!(w.len(), 1, "{text}: {w:?}");
        assert_eq!(w[0].kind, WarningKind::NotTransportOption);
        assert_eq!(w[0].line, line_of(text, "children = 4"));
        assert!(w[0].message.contains("`children = 4`"), "{}", w[0].message);
        assert!(parse_strict(text).is_err(), "{text}");
    }
    // A children that tcp_children cannot take is an error at its line, unless tcp_children
    // is set.
    let e = parse_err("tcp_async = yes\nchildren = 2000\n");
    assert_eq!(e.line, Some(2));
    assert!(
        e.to_string()
            .contains("children: 2000 is above tcp_children's limit 1024"),
        "{e}"
    );
    let e = parse_err("children = lots\n");
    assert!(e.to_string().contains("\"lots\" is not an integer"), "{e}");
    let (cfg, _) = parse_ok("children = 2000\ntcp_children = 4\n");
    assert_eq!(cfg.tcp.children, 4);
}

#[test]
fn opensips_send_timeout_default_needs_proto_tcp() {
    let kamailio = Duration::from_secs(10);
    for (text, want) in [
        // Kamailio configs (and configs of other modules) keep Kamailio's 10 s.
        ("tcp_max_connections = 10\n", kamailio),
        ("loadmodule \"tcpops.so\"\ntcp_port = 5070\n", kamailio),
        ("tcp_crlf_pingpong = 1\n", kamailio),
        ("loadmodule \"proto_tcpx.so\"\n", kamailio),
        (
            "#!ifdef OPENSIPS\nloadmodule \"proto_tcp.so\"\n#!endif\n",
            kamailio,
        ),
        // A config that uses proto_tcp gets OpenSIPS's 100 ms unless it sets a timeout.
        ("loadmodule \"proto_tcp.so\"\n", OPENSIPS_SEND_TIMEOUT),
        ("loadmodule \"proto_tcp\"\n", OPENSIPS_SEND_TIMEOUT),
        (
            "mpath=\"/usr/lib/x86_64-linux-gnu/opensips/modules/\"\n\
             loadmodule \"/usr/lib/opensips/modules/proto_tcp.so\"\n",
            OPENSIPS_SEND_TIMEOUT,
        ),
        (
            "modparam(\"proto_tcp\", \"tcp_max_msg_chunks\", 8)\n",
            OPENSIPS_SEND_TIMEOUT,
        ),
        (
            "modparam(\"proto_tcp\", \"tcp_send_timeout\", 250)\n",
            Duration::from_millis(250),
        ),
        (
            "loadmodule \"proto_tcp.so\"\ntcp_send_timeout = 3\n",
            Duration::from_secs(3),
        ),
        (
            "tcp_send_timeout = 10\nmodparam(\"proto_tcp\", \"tcp_port\", 5070)\n",
            kamailio,
        ),
    ] {
        let (cfg, _) = parse_ok(text);
        assert_eq!(cfg.tcp.send_timeout, want, "{text}");
    }
    // Read back in both units (seconds round up).
    let (cfg, _) = parse_ok("loadmodule \"proto_tcp.so\"\n");
    assert_eq!(
        cfg.get("proto_tcp.tcp_send_timeout"),
        Some(ConfigValue::Int(100))
    );
    assert_eq!(cfg.get("tcp_send_timeout"), Some(ConfigValue::Int(1)));
    assert_eq!(Config::default().tcp.send_timeout, kamailio);
}
