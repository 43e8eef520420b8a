//! Parser tests: syntax, name mappings, listen, a realistic kamailio.cfg, strict mode.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::*;

const KAMAILIO_CFG: &str = r#"#!KAMAILIO
#
# Kamailio SIP server - transport part of a typical config

#!define WITH_NAT
#!define DBURL "mysql://kamailio:kamailiorw@localhost/kamailio"
#!define MY_TCP_PORT 5070

####### Global Parameters #########
debug=2
log_stderror=no
children=8
/* uncomment the next line to disable TCP (default on)
disable_tcp=yes */
# disable_tcp=yes

tcp_connection_lifetime=3605   # a bit above the registration interval
tcp_max_connections = 4096;
tcp_async=yes
tcp_keepidle=30 // Linux only
tcp_port = MY_TCP_PORT

#!ifdef WITH_TLS
enable_tls=yes
tcp_children=99
#!else
tcp_children=6
#!endif

listen=udp:10.0.0.1:5060
listen=tcp:10.0.0.1
listen=tcp:[2001:db8::1]:5061

####### Modules Section ########
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "tcpops.so"
modparam("tm", "fr_timer", 30000)
modparam("usrloc", "db_url",
	DBURL)
modparam("tcpops", "closed_event", 2)
modparam("tcpops", "event_callback", "ksr_tcpops_event")

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483","Too Many Hops");
		exit;
	}
	# braces in strings and comments are not blocks: "}" /* } */
	xlog("L_INFO", "got {$rm} from $si\n");
	if (is_method("REGISTER")) {
		tcp_set_connection_lifetime("3605");
		$var(tcp_children) = 1;
	}
	route(RELAY);
}

route[RELAY]
{
	if (!t_relay()) {
		sl_reply_error();
	}
}

event_route[tcp:closed] {
	xlog("L_INFO", "$proto connection closed ($conid)\n");
}
"#;

#[test]
fn kamailio_cfg_excerpt_parses_with_warnings_and_no_misreads() {
    let (cfg, warnings) = parse_ok(KAMAILIO_CFG);
    let t = &cfg.tcp;
    assert_eq!(t.connection_lifetime, Duration::from_secs(3605));
    assert_eq!(t.max_connections, 4096);
    assert!(t.asynchronous);
    assert_eq!(t.keepidle, Some(Duration::from_secs(30)));
    assert_eq!(t.port, 5070, "#!define value substituted");
    assert_eq!(t.children, 6, "#!ifdef WITH_TLS branch skipped");
    assert!(!cfg.disable_tcp, "commented out");
    assert_eq!(cfg.tcpops.closed_event, ClosedEvent::Manual);
    assert_eq!(cfg.tcpops.event_callback, "ksr_tcpops_event");
    let expected: Vec<(ListenProto, SocketAddr)> = vec![
        (ListenProto::Tcp, "10.0.0.1:5070".parse().unwrap()),
        (ListenProto::Tcp, "[2001:db8::1]:5061".parse().unwrap()),
    ];
    assert_eq!(cfg.listeners(), expected);
    // Everything else is a default: nothing was misread.
    let mut expect = Config::default();
    expect.tcp.connection_lifetime = t.connection_lifetime;
    expect.tcp.max_connections = 4096;
    expect.tcp.keepidle = t.keepidle;
    expect.tcp.port = 5070;
    expect.tcp.children = 6;
    expect.tcpops = cfg.tcpops.clone();
    expect.listen = cfg.listen.clone();
    assert_eq!(cfg, expect);

    let at = |needle: &str| line_of(KAMAILIO_CFG, needle);
    let lines: Vec<(u32, WarningKind)> = warnings.iter().map(|w| (w.line, w.kind)).collect();
    let not = WarningKind::NotTransportOption;
    let expected = vec![
        (1, not),
        (at("#!define WITH_NAT"), not),
        (at("#!define DBURL"), not),
        (at("#!define MY_TCP_PORT"), not),
        (at("#!ifdef WITH_TLS"), not),
        (at("#!else"), not),
        (at("#!endif"), not),
        (at("debug=2"), not),
        (at("log_stderror"), not),
        (at("children=8"), not),
        (at("listen=udp"), WarningKind::NotSipwireTransport),
        (at("mpath="), not),
        (at("loadmodule \"tm.so\""), not),
        (at("loadmodule \"tcpops.so\""), not),
        (at("modparam(\"tm\""), not),
        (at("modparam(\"usrloc\""), not),
        (at("request_route {"), not),
        (at("route[RELAY]"), not),
        (at("event_route[tcp:closed]"), not),
    ];
    let mut expected = expected;
    expected.sort_by_key(|(l, _)| *l);
    assert_eq!(
        lines, expected,
        "warnings come sorted by line: {warnings:#?}"
    );
    let route = warnings
        .iter()
        .find(|w| w.message.contains("route[RELAY]"))
        .unwrap();
    let (open, close) = (at("route[RELAY]"), at("event_route") - 2);
    assert!(
        route.message.contains(&format!("lines {open}-{close}")),
        "{}",
        route.message
    );
    let shown = warnings[0].to_string();
    assert!(
        shown.starts_with("kamailio.cfg:1: warning: not a transport option"),
        "{shown}"
    );
}

#[test]
fn strict_mode_names_the_first_offending_line() {
    let e = parse_strict(KAMAILIO_CFG).unwrap_err();
    assert_eq!(e.line, Some(1));
    assert!(matches!(e.kind, ErrorKind::Strict { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("kamailio.cfg:1: not a transport option: preprocessor"),
        "{e}"
    );

    let text = "tcp_children = 4\n# fine\ntcp_async = no\ndebug=3\nloadmodule \"tm.so\"\n";
    let e = parse_strict(text).unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.to_string().contains("debug=3"), "{e}");

    // A hard error after a warning: strict mode reports the earlier line.
    let e = parse_strict("debug=4\ntcp_children = -1\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    let e = parse_strict("tcp_children = -1\nchildren=4\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }));

    let clean = "tcp_children=4\nlisten=tcp:127.0.0.1:5060\nmodparam(\"proto_tcp\", \"tcp_max_msg_chunks\", 8)\n";
    let (cfg, w) = parse_strict(clean).unwrap();
    assert!(w.is_empty());
    assert_eq!(cfg.tcp.max_msg_chunks, 8);
}

#[test]
fn comments_of_all_three_kinds_and_spacing() {
    let text = "# hash comment tcp_children=1\n\
                // slash comment tcp_children=2\n\
                /* block\n tcp_children=3\n */ tcp_children=4 /* inline */ # trailing\n\
                tcp_crlf_drop=yes// no space\n\
                tcp_max_connections\t=\t77\n\
                tcp_accept_no_cl =on;tcp_delayed_ack= off\n";
    let (cfg, w) = parse_ok(text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(cfg.tcp.children, 4);
    assert!(cfg.tcp.crlf_drop && cfg.tcp.accept_no_cl && !cfg.tcp.delayed_ack);
    assert_eq!(cfg.tcp.max_connections, 77);
    let e = parse_err("tcp_children=2\n/* never closed\n");
    assert_eq!(
        e.to_string(),
        "kamailio.cfg:2: syntax error: unterminated /* comment"
    );
    let e = parse_err("\n\nmodparam(\"tcpops\", \"event_callback\", \"oops)\n");
    assert_eq!(e.line, Some(3));
}

#[test]
fn error_messages_name_file_line_and_option() {
    let text = "\n".repeat(11) + "tcp_max_connections = -5\n";
    let e = parse_err(&text);
    assert_eq!(
        e.to_string(),
        "kamailio.cfg:12: tcp_max_connections: value -5 out of range 0..=2147483647"
    );
    let e = parse_err("tcp_children=2\ntcp_conection_lifetime = 10\n");
    assert_eq!(
        e.to_string(),
        "kamailio.cfg:2: unknown option tcp_conection_lifetime (did you mean \
         tcp_connection_lifetime?)"
    );
    let e = parse_err("tcp_workers = 4");
    assert!(e.to_string().contains("did you mean tcp_children?"), "{e}");
    let e = parse_err("sctp_autoclos = 4");
    assert!(
        e.to_string().contains("did you mean sctp_autoclose?"),
        "{e}"
    );
    let e = parse_err("modparam(\"proto_tcp\", \"tcp_max_msg_chunk\", 8)");
    assert_eq!(
        e.to_string(),
        "kamailio.cfg:1: unknown parameter \"tcp_max_msg_chunk\" of module proto_tcp (did you \
         mean \"tcp_max_msg_chunks\"?)"
    );
    let e = parse_err("modparam(\"tcpops\", \"closed_event\", 3)");
    assert_eq!(
        e.to_string(),
        "kamailio.cfg:1: modparam(\"tcpops\", \"closed_event\"): value 3 out of range 0..=2"
    );
    let e = parse_err("tcp_keepalive = maybe");
    assert!(
        e.to_string()
            .contains("expected yes/no/on/off/true/false/1/0"),
        "{e}"
    );
    let e = parse_err("tcp_children = 4 8");
    assert!(
        e.to_string().contains("unexpected `8` after the value"),
        "{e}"
    );
    let e = parse_err("tcp_children =\n");
    assert!(e.to_string().contains("missing value"), "{e}");
    let e = parse_err("tcp_children 4");
    assert!(
        e.to_string().contains("expected `=` after tcp_children"),
        "{e}"
    );
    let e = parse_err("}\n");
    assert!(e.to_string().contains("without a matching"), "{e}");
    let e = parse_err("request_route {\n if (x) {\n");
    assert_eq!(e.line, Some(1));
}

#[test]
fn crlf_ping_both_spellings_last_wins() {
    let text = "tcp_crlf_ping = no\nmodparam(\"proto_tcp\", \"tcp_crlf_pingpong\", 1)\n";
    let (cfg, w) = parse_ok(text);
    assert!(cfg.tcp.crlf_ping);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].line, w[0].kind), (2, WarningKind::Overridden));
    assert!(
        w[0].message.contains("tcp_crlf_ping (line 1)"),
        "{}",
        w[0].message
    );
    assert!(
        w[0].message.contains("tcp_crlf_pingpong"),
        "{}",
        w[0].message
    );
    let (cfg, w) = parse_ok("tcp_crlf_pingpong = 0\ntcp_crlf_ping = yes\ntcp_crlf_ping = no\n");
    assert!(!cfg.tcp.crlf_ping);
    assert_eq!(w.len(), 2);
    assert!(
        w[1].message.contains("set again (first at line 2)"),
        "{}",
        w[1].message
    );
    assert!(parse_strict(text).is_err());
}

#[test]
fn send_timeout_units() {
    let (cfg, _) = parse_ok("tcp_send_timeout = 3");
    assert_eq!(cfg.tcp.send_timeout, Duration::from_secs(3));
    let (cfg, _) = parse_ok("modparam(\"proto_tcp\", \"tcp_send_timeout\", 200)");
    assert_eq!(cfg.tcp.send_timeout, Duration::from_millis(200));
    assert_eq!(
        cfg.get("proto_tcp.tcp_send_timeout"),
        Some(ConfigValue::Int(200))
    );
    assert_eq!(
        cfg.get("tcp_send_timeout"),
        Some(ConfigValue::Int(1)),
        "seconds round up"
    );
    let text = "tcp_send_timeout = 3\nmodparam(\"proto_tcp\", \"tcp_send_timeout\", 1500)";
    let (cfg, w) = parse_ok(text);
    assert_eq!(cfg.tcp.send_timeout, Duration::from_millis(1500));
    assert_eq!(w[0].kind, WarningKind::Overridden);
}

#[test]
fn async_both_spellings() {
    let (cfg, _) = parse_ok("tcp_buf_write = no");
    assert!(!cfg.tcp.asynchronous);
    let (cfg, _) = parse_ok("modparam(\"proto_tcp\", \"tcp_async\", 0)");
    assert!(!cfg.tcp.asynchronous);
    let (cfg, w) = parse_ok("tcp_async = no\ntcp_buf_write = yes");
    assert!(cfg.tcp.asynchronous);
    assert_eq!(w[0].kind, WarningKind::Overridden);
    // Non-clashing proto_tcp names also work as core assignments.
    let (cfg, _) = parse_ok("tcp_max_msg_chunks = 16\ntcp_async_local_write_timeout = 50");
    assert_eq!(cfg.tcp.max_msg_chunks, 16);
    assert_eq!(cfg.tcp.async_local_write_timeout, Duration::from_millis(50));
}

#[test]
fn listen_forms() {
    let (cfg, w) = parse_ok("listen=tcp:127.0.0.1:5060\nlisten = tcp:[::1]:5070\n");
    assert!(w.is_empty());
    let v6: IpAddr = "::1".parse().unwrap();
    assert_eq!(
        cfg.listeners(),
        vec![
            (ListenProto::Tcp, "127.0.0.1:5060".parse().unwrap()),
            (ListenProto::Tcp, SocketAddr::new(v6, 5070)),
        ]
    );
    // No port: tcp_port, even when set after the listen line.
    let (cfg, _) = parse_ok("listen=tcp:127.0.0.1\nmodparam(\"proto_tcp\", \"tcp_port\", 5065)");
    assert_eq!(cfg.listeners()[0].1, "127.0.0.1:5065".parse().unwrap());
    assert_eq!(cfg.listen[0].port, None);
    let (cfg, _) = parse_ok("listen=tcp:[::1]\nlisten=tcp:::2");
    assert_eq!(cfg.listeners()[0].1, SocketAddr::new(v6, 5060));
    assert_eq!(cfg.listen[1].ip, "::2".parse::<IpAddr>().unwrap());
    let (cfg, _) =
        parse_ok("listen=sctp:10.1.1.1:5090\nlisten=sctp:10.1.1.2\nsocket=tcp:10.1.1.3:5080");
    let l = cfg.listeners();
    assert_eq!(l[0], (ListenProto::Sctp, "10.1.1.1:5090".parse().unwrap()));
    assert_eq!(l[1], (ListenProto::Sctp, "10.1.1.2:5060".parse().unwrap()));
    assert_eq!(l[2], (ListenProto::Tcp, "10.1.1.3:5080".parse().unwrap()));
    assert_eq!(
        cfg.get("listen").unwrap().to_string(),
        "sctp:10.1.1.1:5090, sctp:10.1.1.2:5060, tcp:10.1.1.3:5080"
    );
    for foreign in [
        "udp:10.0.0.1:5060",
        "tls:10.0.0.1:5061",
        "ws:10.0.0.1",
        "WSS:10.0.0.1",
    ] {
        let (cfg, w) = parse_ok(&format!("listen={foreign}"));
        assert!(cfg.listen.is_empty());
        assert_eq!(w[0].kind, WarningKind::NotSipwireTransport, "{foreign}");
        assert!(w[0].message.contains("is not a sipwire transport"));
    }
    // Port 0: the OS picks a free port.
    let (cfg, _) = parse_ok("listen=tcp:127.0.0.1:0");
    assert_eq!(cfg.listeners()[0].1.port(), 0);
    let (cfg, w) = parse_ok("listen=10.0.0.5:5062 advertise 1.2.3.4:5060");
    assert_eq!(
        cfg.listeners()[0],
        (ListenProto::Tcp, "10.0.0.5:5062".parse().unwrap())
    );
    assert_eq!(w.len(), 2, "{w:?}");
    for bad in [
        "tcp:myhost:5060",
        "tcp:10.0.0.1:70000",
        "tcp:10.0.0.1:x",
        "tcp:[::1",
        "tcp:[10.0.0.1]:5060",
        "bogus:10.0.0.1",
        "tcp:",
        "tcp:2001:db8::1:5060:",
    ] {
        let e = parse_err(&format!("\nlisten={bad}"));
        assert_eq!(e.line, Some(2), "{bad}");
        assert!(
            e.to_string()
                .starts_with("kamailio.cfg:2: listen: cannot use"),
            "{e}"
        );
    }
    let e = parse_err("listen=tcp:10.0.0.1:5060\nlisten=tcp:10.0.0.1");
    assert!(e.to_string().contains("already listed"), "{e}");
}

#[test]
fn defer_accept_forms() {
    for (text, want) in [
        ("no", None),
        ("0", None),
        ("yes", Some(1)),
        ("30", Some(30)),
    ] {
        let (cfg, _) = parse_ok(&format!("tcp_defer_accept = {text}"));
        assert_eq!(
            cfg.tcp.defer_accept,
            want.map(Duration::from_secs),
            "{text}"
        );
    }
    assert!(matches!(
        parse_err("tcp_defer_accept = 3601").kind,
        ErrorKind::OutOfRange { .. }
    ));
}

#[test]
fn poll_method_names() {
    for &m in PollMethod::supported() {
        let (cfg, _) = parse_ok(&format!("tcp_poll_method = {m}"));
        assert_eq!(cfg.tcp.poll_method, m);
    }
    let (cfg, _) = parse_ok("tcp_poll_method = \"poll\"");
    assert_eq!(cfg.tcp.poll_method, PollMethod::Poll);
    for name in ["sigio_rt", "/dev/poll", "\"/dev/poll\""] {
        let e = parse_err(&format!("tcp_poll_method = {name}"));
        assert!(
            e.to_string().contains("is not available in this build"),
            "{e}"
        );
    }
    if cfg!(target_os = "linux") {
        let e = parse_err("tcp_poll_method = kqueue");
        assert!(
            e.to_string()
                .contains("is not available in this build (linux)"),
            "{e}"
        );
    }
    let e = parse_err("tcp_poll_method = epoll");
    assert!(e.to_string().contains("unknown poll method"), "{e}");
}

#[test]
fn rd_buf_size_clamp_in_file_error_at_runtime() {
    let (cfg, w) = parse_ok("tcp_rd_buf_size = 33554432");
    assert_eq!(cfg.tcp.rd_buf_size, 16 * 1024 * 1024);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::Clamped);
    assert!(w[0]
        .to_string()
        .starts_with("kamailio.cfg:1: warning: tcp_rd_buf_size: 33554432"));
    assert!(parse_strict("tcp_rd_buf_size = 33554432").is_err());
    assert!(matches!(
        parse_err("tcp_rd_buf_size = 511").kind,
        ErrorKind::OutOfRange { .. }
    ));
    let h = ConfigHandle::new(Config::default());
    let e = h.set_now_int("tcp", "rd_buf_size", 33_554_432).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }), "{e}");
    let e = h
        .set_now_string("tcp", "rd_buf_size", "33554432")
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::OutOfRange { .. }), "{e}");
    h.set_now_int("tcp", "rd_buf_size", 65536).unwrap();
    assert_eq!(h.snapshot().tcp.rd_buf_size, 65536);
}

#[test]
fn source_ip_family() {
    let (cfg, _) = parse_ok("tcp_source_ipv4 = 10.0.0.9\ntcp_source_ipv6 = \"[2001:db8::9]\"");
    assert_eq!(cfg.tcp.source_ipv4, Some("10.0.0.9".parse().unwrap()));
    assert_eq!(cfg.tcp.source_ipv6, Some("2001:db8::9".parse().unwrap()));
    let e = parse_err("tcp_source_ipv4 = ::1");
    assert!(e.to_string().contains("this is an IPv6 address"), "{e}");
    let e = parse_err("tcp_source_ipv6 = 10.0.0.1");
    assert!(e.to_string().contains("this is an IPv4 address"), "{e}");
    assert!(matches!(
        parse_err("tcp_source_ipv4 = 10.0.0").kind,
        ErrorKind::InvalidValue { .. }
    ));
    let mut cfg = Config::default();
    cfg.tcp.source_ipv4 = Some("::1".parse().unwrap());
    let e = cfg.validate().unwrap_err();
    assert!(
        e.to_string().starts_with("tcp_source_ipv4: invalid value"),
        "{e}"
    );
}

#[test]
fn preprocessor_conditionals_and_defines() {
    let text = "#!define A\n#!ifdef A\ntcp_children=2\n#!ifndef A\ntcp_children=3\n#!endif\n\
                #!else\n#!define Z 9\ntcp_children=4\n#!endif\n#!ifndef B\n#!trydef P 5071\n\
                #!endif\nmodparam(\"proto_tcp\", \"tcp_port\", P)\n#!undef A\n#!ifdef A\n\
                broken = {\n#!endif\n#!ifdef Z\ntcp_children=5\n#!endif\n";
    let (cfg, w) = parse_ok(text);
    assert_eq!(cfg.tcp.children, 2);
    assert_eq!(cfg.tcp.port, 5071);
    assert!(w.iter().all(|w| w.kind == WarningKind::NotTransportOption));
    // A directive inside a skipped branch is neither applied nor reported.
    assert_eq!(line_of(text, "#!define Z"), 8);
    assert!(!w.iter().any(|w| w.line == 8), "{w:#?}");
    assert!(w
        .iter()
        .any(|w| w.line == 4 && w.message.contains("#!ifndef A")));
    assert!(parse_err("#!ifdef X\ntcp_children=2\n")
        .to_string()
        .contains("without #!endif"));
    assert!(parse_err("#!endif\n")
        .to_string()
        .contains("#!endif without #!ifdef"));
    assert!(parse_err("#!ifexp A > 1\n#!endif\n")
        .to_string()
        .contains("#!ifexp"));
    // `!!` is the other directive prefix; unknown `#!` lines are comments.
    let (cfg, _) = parse_ok("!!define Q 7\n#!/bin/true\ntcp_children = Q\n");
    assert_eq!(cfg.tcp.children, 7);
}

#[test]
fn other_modules_warn_ours_are_errors() {
    let (cfg, w) = parse_ok("modparam(\"tm\", \"tcp_max_msg_chunks\", 99)\nmodparam(\"sctp\", \"sctp_autoclose\", 300)\nsctp_send_ttl = 1000\n");
    assert_eq!(
        cfg.tcp.max_msg_chunks, 4,
        "another module's parameter is not ours"
    );
    assert_eq!(cfg.sctp.autoclose, Duration::from_secs(300));
    assert_eq!(cfg.sctp.send_ttl, Duration::from_millis(1000));
    assert_eq!(w.len(), 1);
    let e = parse_err("modparam(\"sctp\", \"sctp_autoclose\")");
    assert!(matches!(e.kind, ErrorKind::Syntax { .. }), "{e}");
    let e = parse_err("modparam(\"tcpops\", \"tcp_closed_event\", 1)");
    assert!(
        e.to_string().contains("did you mean \"closed_event\""),
        "{e}"
    );
    let (_, w) = parse_ok("port=5080\n");
    assert!(
        w[0].message.contains("tcp_port, now 5060"),
        "{}",
        w[0].message
    );
}

#[test]
fn set_and_get_overrides() {
    let mut cfg = Config::default();
    assert!(cfg.set("tcp_children", "3").unwrap().is_empty());
    cfg.set("tcp_buf_write", "off").unwrap();
    cfg.set("tcpops.closed_event", "2").unwrap();
    cfg.set("proto_tcp.tcp_send_timeout", "250").unwrap();
    cfg.set("tcpops.event_callback", "\"cb\"").unwrap();
    cfg.set("listen", "tcp:127.0.0.1").unwrap();
    cfg.set("tcp_port", "5099").unwrap();
    let w = cfg.set("tcp_rd_buf_size", "99999999").unwrap();
    assert_eq!(w[0].kind, WarningKind::Clamped);
    assert_eq!(cfg.tcp.children, 3);
    assert!(!cfg.tcp.asynchronous);
    assert_eq!(cfg.tcpops.closed_event, ClosedEvent::Manual);
    assert_eq!(cfg.tcp.send_timeout, Duration::from_millis(250));
    assert_eq!(cfg.tcpops.event_callback, "cb");
    assert_eq!(cfg.listeners()[0].1, "127.0.0.1:5099".parse().unwrap());
    assert_eq!(cfg.get("tcp_children"), Some(ConfigValue::Int(3)));
    assert_eq!(cfg.cfg_get("tcp", "async"), Some(ConfigValue::Int(0)));
    let e = cfg.set("tcp_chidren", "3").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown option tcp_chidren (did you mean tcp_children?)"
    );
    let e = cfg.set("tcp_children", "0").unwrap_err();
    assert_eq!(e.to_string(), "tcp_children: value 0 out of range 1..=1024");
    cfg.set("sctp_assoc_tracking", "0").unwrap();
    assert!(
        cfg.validate().is_err(),
        "cross-field checks wait for validate()"
    );
}

#[test]
fn from_file_reads_and_reports_path() {
    let dir = std::env::temp_dir().join(format!("sipwire-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sipwire.cfg");
    std::fs::write(&path, "tcp_children = 2\n\ntcp_keepcnt = 2000\n").unwrap();
    let e = Config::from_file(&path, ParseOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: tcp_keepcnt: value 2000 out of range 0..=1024",
            path.display()
        )
    );
    std::fs::write(&path, "tcp_children = 2\n").unwrap();
    let (cfg, _) = Config::from_file(&path, ParseOptions::default()).unwrap();
    assert_eq!(cfg.tcp.children, 2);
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Config::from_file(dir.join("missing.cfg"), ParseOptions::default()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io { .. }));
    assert!(
        e.to_string()
            .contains("missing.cfg: cannot read the config"),
        "{e}"
    );
}

#[test]
fn multihomed_sctp_listen() {
    let (c, _) = Config::from_str_with(
        "t.cfg",
        "listen=sctp:(10.0.0.1, 10.0.1.1):5070\nlisten=tcp:127.0.0.1:5060\n",
        ParseOptions::default(),
    )
    .unwrap();
    let l = c
        .listen
        .iter()
        .find(|l| l.proto == ListenProto::Sctp)
        .unwrap();
    assert_eq!(
        l.socket_addrs(5060),
        vec![
            "10.0.0.1:5070".parse().unwrap(),
            "10.0.1.1:5070".parse().unwrap()
        ]
    );
    assert_eq!(l.to_string(), "sctp:(10.0.0.1, 10.0.1.1):5070");
    for bad in [
        "listen=tcp:(10.0.0.1, 10.0.1.1):5070",
        "listen=sctp:(10.0.0.1, ::1):5070",
        "listen=sctp:(10.0.0.1, 10.0.0.1)",
        "listen=sctp:(10.0.0.1, 10.0.1.1",
        "listen=sctp:(1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 5.5.5.5)",
        "listen=sctp:()",
    ] {
        let e = Config::from_str_with("t.cfg", bad, ParseOptions::default()).unwrap_err();
        assert_eq!(e.line, Some(1), "{bad}: {e}");
    }
}
