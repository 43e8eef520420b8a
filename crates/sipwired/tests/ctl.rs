//! End to end: the `sipwire-ctl` client driving a real `sipwired` process over its control
//! socket, every method at least once, plus the error exits.
//!
//! `sipwired` is this package's binary (`CARGO_BIN_EXE_sipwired`, built by cargo before the
//! tests; nothing here runs cargo). The client is the `sipwire-ctl` library's
//! [`sipwire_ctl::main_with`], the whole program behind the binary's `main` (arguments in; exit
//! status, stdout and stderr out), called in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use serde_json::{json, Value};
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

/// What one `sipwire-ctl` run produced.
struct Output {
    code: u8,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs the `sipwire-ctl` program on `args` (without the program name).
fn ctl_program(args: &[&str]) -> Output {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = args.iter().map(|a| a.to_string()).collect();
    let code = sipwire_ctl::main_with(argv, &mut stdout, &mut stderr);
    Output {
        code,
        stdout,
        stderr,
    }
}

/// A `sipwired` process with its control socket in a private temporary directory.
struct Ctl {
    /// Kept alive (and stopped on drop).
    _daemon: Daemon,
    sock: PathBuf,
}

impl Ctl {
    fn start() -> Ctl {
        let daemon = Daemon::start(SIPWIRED, &[]);
        let sock = daemon.ctl_socket();
        Ctl {
            _daemon: daemon,
            sock,
        }
    }

    /// Runs `sipwire-ctl -s SOCK args...`.
    fn ctl(&self, args: &[&str]) -> Output {
        let sock = self.sock.to_str().unwrap();
        let mut all = vec!["-s", sock];
        all.extend_from_slice(args);
        ctl_program(&all)
    }

    /// Runs it and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert_eq!(
            out.code,
            0,
            "sipwire-ctl {args:?}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `--json` and exit 0; the result.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        assert_eq!(text.lines().count(), 1, "{text:?}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// Expects exit 1 with "error: CODE ..." on stderr; returns stderr.
    fn rpc_error(&self, args: &[&str], code: i64) -> String {
        let out = self.ctl(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.code, 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.starts_with(&format!("error: {code} ")),
            "{args:?}: {stderr}"
        );
        stderr
    }

    fn wait_connections(&self, n: u64) {
        wait_for(
            &format!("{n} open connections in core.tcp_info"),
            WAIT,
            || self.json(&["core.tcp_info"])["opened_connections"] == n,
        );
    }
}

/// The first listen address of `sipwire.info`.
fn listen_addr(info: &Value) -> SocketAddr {
    let first = info["listen"][0].as_str().expect("a listen address");
    first
        .strip_prefix("tcp:")
        .expect("tcp: prefix")
        .parse()
        .unwrap()
}

#[test]
fn every_method_through_sipwire_ctl() {
    let d = Ctl::start();

    // core.*, as kamcmd prints Kamailio's.
    let v = d.ok(&["core.version"]);
    assert!(v.starts_with("sipwire ") && v.ends_with(")\n"), "{v}");
    let up = d.json(&["core.uptime"]);
    assert!(up["uptime"].as_u64().unwrap() < 600, "{up}");
    assert!(up["up_since"].is_string(), "{up}");
    let own = d.json(&["sipwire.info"]);
    let addr = listen_addr(&own);
    let text = d.ok(&["sipwire.info"]);
    // A list inside a struct, as kamcmd prints a Kamailio array there.
    assert!(
        text.contains(&format!("\tlisten: {{\n\t\ttcp:{addr}\n\t}}")),
        "{text}"
    );
    let info = d.json(&["core.tcp_info"]);
    assert!(info["readers"].as_u64().unwrap() >= 1, "{info}");
    let text = d.ok(&["core.tcp_info"]);
    assert!(
        text.starts_with("{\n\treaders: ") && text.contains("\n\tmax_tls_connections: 2048\n"),
        "{text}"
    );

    let mut a = TcpStream::connect(addr).unwrap();
    let b = TcpStream::connect(addr).unwrap();
    d.wait_connections(2);

    // sipwire's list has the addresses as it sees them; Kamailio's has its ten fields.
    let list = d.json(&["tcp.list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let a_local = a.local_addr().unwrap();
    let ida = list
        .iter()
        .find(|c| c["peer"] == a_local.to_string())
        .unwrap_or_else(|| panic!("{a_local} not in {list:?}"))["id"]
        .as_u64()
        .unwrap();
    let text = d.ok(&["tcp.list"]);
    // Nothing sent yet: accepted, not read from (Kamailio's S_CONN_ACCEPT).
    assert!(text.contains("\tstate_name: accepting\n"), "{text}");
    let text = d.ok(&["core.tcp_list"]);
    assert_eq!(text.matches("{\n\tid: ").count(), 2, "{text}");
    assert!(
        text.contains("\n\ttype: TCP\n\tstate: CONN_ACCEPT\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\tsrc_port: {}\n", a_local.port())),
        "{text}"
    );
    assert_eq!(d.ok(&["core.tcp_list", "2"]), "", "offset past the end");
    assert_eq!(
        d.json(&["core.tcp_list", "0", "1", "127.0.0.1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let opts = d.json(&["core.tcp_options"]);
    assert_eq!(opts["async"], 1);
    assert!(d.ok(&["core.tcp_options"]).contains("\tno_connect: 0\n"));
    assert!(d
        .ok(&["core.tcp_options"])
        .contains("\tmax_connections(soft): "));

    // cfg.*: Kamailio's answers (an empty reply prints nothing).
    assert_eq!(d.ok(&["cfg.get", "tcp", "no_connect"]), "0\n");
    assert_eq!(d.ok(&["cfg.set_now_int", "tcp", "no_connect", "1"]), "");
    assert_eq!(
        d.json(&["cfg.set_now_int", "tcp", "no_connect", "1"]),
        json!({})
    );
    assert_eq!(d.ok(&["cfg.get", "tcp", "no_connect"]), "1\n");
    assert_eq!(d.json(&["core.tcp_options"])["no_connect"], 1);
    let e = d.rpc_error(&["cfg.set_now_int", "tcp", "async", "0"], -32000);
    assert!(e.contains("tcp.async cannot be changed at runtime"), "{e}");
    assert_eq!(d.ok(&["cfg.set_now_string", "tcp", "keepalive", "no"]), "");
    assert_eq!(d.ok(&["cfg.get", "tcp", "keepalive"]), "0\n");
    let all = d.ok(&["cfg.list"]);
    assert!(all.lines().count() > 20);
    assert!(all.lines().any(|l| l == "tcp: connect_timeout"), "{all}");
    let tcpops = d.json(&["cfg.list", "tcpops"]);
    assert!(tcpops
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.as_str().unwrap().starts_with("tcpops: ")));
    let help = d.ok(&["cfg.help", "tcp", "connection_lifetime"]);
    assert!(help.ends_with("\n(parameter type is integer)\n"), "{help}");
    let row = d.json(&["sipwire.cfg_help", "tcp", "connection_lifetime"]);
    assert_eq!(row["unit"], "s");
    assert_eq!(d.ok(&["cfg.diff"]), "");

    // stats.get
    let stats = d.json(&["stats.get"]);
    assert_eq!(stats["accepted"], 2, "{stats}");
    // sipwired adds its relay counters to the runtime's.
    assert!(stats["relay.requests_relayed"].is_u64(), "{stats}");
    assert_eq!(d.json(&["stats.get", "accepted"]), json!({ "accepted": 2 }));
    assert!(d.ok(&["stats.get", "all"]).contains("\taccepted: 2\n"));
    // Kamailio's formats, and the relay's counters as their own group.
    let lines = d.ok(&["stats.get_statistics", "tcp:"]);
    assert!(lines.contains("tcp:passive_open = 2\n"), "{lines}");
    assert_eq!(lines.lines().count(), 11, "{lines}");
    let f = d.json(&["stats.fetch", "tcp.passive_open", "relay:requests_relayed"]);
    assert_eq!(f["tcp.passive_open"], "2", "{f}");
    assert!(f["relay.requests_relayed"].is_string(), "{f}");

    // tcp.*
    let id = ida.to_string();
    let s = d.json(&["tcp.conid_state", &id]);
    assert_eq!(
        s,
        json!({ "conid": ida, "state": 2, "state_name": "accepting" })
    );
    assert_eq!(d.json(&["tcp.conid_alive", &id])["alive"], true);
    let k = d.json(&["tcp.keepalive_enable", &id, "30", "4", "7"]);
    assert_eq!(
        k,
        json!({ "conid": ida, "keepalive": true, "keepidle": 30, "keepcnt": 4, "keepintvl": 7 })
    );
    assert_eq!(d.json(&["tcp.keepalive_disable", &id])["keepalive"], false);
    let l = d.json(&["tcp.set_connection_lifetime", &id, "600"]);
    assert_eq!(l["lifetime_s"], 600);
    let row = d.json(&["tcp.info", &id]);
    assert_eq!(row["lifetime_override_s"], 600);
    assert_eq!(
        d.json(&["tcp.enable_closed_event", &id])["closed_event"],
        true
    );
    assert_eq!(
        d.ok(&["tcp.get_conid", &a_local.to_string()]),
        format!("{ida}\n")
    );
    d.rpc_error(&["tcp.get_conid", "127.0.0.1:1"], -32000);
    assert_eq!(d.json(&["tcp.close_connection", &id])["closing"], true);
    a.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        a.read(&mut [0u8; 8]).unwrap(),
        0,
        "closed connection sees EOF"
    );
    d.wait_connections(1);
    assert_eq!(d.json(&["tcp.conid_state", &id])["state_name"], "gone");
    let e = d.rpc_error(&["tcp.close_connection", &id], -32000);
    assert!(
        e.contains(&format!("no open connection with id {ida}")),
        "{e}"
    );

    // system.*
    let methods = d.ok(&["system.listMethods"]);
    for m in sipwire_control::builtin_methods() {
        assert!(methods.lines().any(|l| l == m), "{m} missing:\n{methods}");
    }
    // A few of Kamailio's own names, so that the list cannot silently lose them.
    for m in [
        "core.tcp_info",
        "cfg.set_now_int",
        "tcp.close_connection",
        "system.listMethods",
    ] {
        assert!(methods.lines().any(|l| l == m), "{m} missing:\n{methods}");
    }
    let h = d.ok(&["system.methodHelp", "tcp.keepalive_enable"]);
    assert!(h.starts_with("tcp_keepalive_enable: "), "{h}");
    let h = d.ok(&["system.methodSignature", "tcp.keepalive_enable"]);
    assert_eq!(
        h,
        "tcp.keepalive_enable <conid> <idle> <count> <interval>\n"
    );

    // Errors: unknown method, wrong params, s: forcing a string where a number is needed.
    d.rpc_error(&["core.nothing"], -32601);
    let e = d.rpc_error(&["cfg.help", "tcp"], -32602);
    assert!(e.contains("cfg.help takes 2 params"), "{e}");
    let e = d.rpc_error(&["tcp.conid_state", "s:abc"], -32602);
    assert!(e.contains("got string \"abc\""), "{e}");

    // Garbage straight to the socket gets a parse error; the server goes on.
    let mut raw = UnixStream::connect(&d.sock).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    raw.write_all(b"{not json\n").unwrap();
    let mut line = String::new();
    BufReader::new(&raw).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    drop(raw);
    assert!(d.json(&["core.version"]).is_string());
    drop(b);
}

#[test]
fn unreachable_socket_and_bad_usage_exit_2() {
    let out = ctl_program(&[
        "-s",
        "/nonexistent-dir-for-sipwire-ctl/ctl.sock",
        "core.version",
    ]);
    assert_eq!(out.code, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to control socket /nonexistent-dir-for-sipwire-ctl/ctl.sock"),
        "{err}"
    );

    let out = ctl_program(&[]);
    assert_eq!(out.code, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no method"));

    let out = ctl_program(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: sipwire-ctl"));
}
