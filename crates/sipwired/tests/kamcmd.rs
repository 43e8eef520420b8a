//! Operators' own tools against sipwired, unchanged: the real `kamcmd` (Debian's kamailio
//! package) over BINRPC on a unix stream and a datagram socket, `kamctl rpc` over the jsonrpcs
//! FIFO, and a kamcli-style client on the jsonrpcs datagram socket. Their output is compared
//! field by field with what a real Kamailio 5.6.3 printed in the same shape of state (3 client
//! connections that each sent a keepalive, default TCP options, one reader): the golden files
//! in `tests/golden/kamcmd/`, made by `tools/kamcmd-golden/capture.sh` (see its README).
//! Values that depend on the run (ports, ids, timers) are compared by shape; every other value
//! must be Kamailio's, and the few deliberate differences are listed here and in
//! docs/control.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sipwire_testkit::prelude::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");
const KAMCMD: &str = "/usr/sbin/kamcmd";
const KAMCTL: &str = "/usr/sbin/kamctl";

fn golden(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/kamcmd")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What kamcmd prints (stdout; kamcmd exits 0 even on a fault).
fn kamcmd(sock: &str, args: &[&str]) -> String {
    let out = Command::new(KAMCMD)
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "kamcmd {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A kamcmd printout as records: a struct is its (name, value) members, a scalar line one
/// unnamed member.
fn records(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<(String, String)>> = None;
    for l in text.lines() {
        match (l, cur.as_mut()) {
            ("{", None) => cur = Some(Vec::new()),
            ("}", Some(_)) => out.extend(cur.take()),
            (l, Some(members)) => {
                let (n, v) = l.trim_start_matches('\t').split_once(": ").unwrap();
                members.push((n.to_string(), v.to_string()));
            }
            (l, None) => out.push(vec![(String::new(), l.to_string())]),
        }
    }
    assert!(cur.is_none(), "unterminated struct in {text:?}");
    out
}

/// Compares two printouts record by record: same count, same member names in the same
/// order, same values except for the members in `varies` (which must both be integers).
/// Returns the members whose values differ outside `varies`, for the caller to check.
fn compare(ours: &str, kam: &str, varies: &[&str]) -> Vec<(String, String, String)> {
    let (a, b) = (records(ours), records(kam));
    assert_eq!(
        a.len(),
        b.len(),
        "record count\nours:\n{ours}\nkamailio:\n{kam}"
    );
    let mut diffs = Vec::new();
    for (ra, rb) in a.iter().zip(&b) {
        let names = |r: &Vec<(String, String)>| r.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(ra),
            names(rb),
            "member names and order\nours:\n{ours}"
        );
        for ((n, va), (_, vb)) in ra.iter().zip(rb) {
            if varies.contains(&n.as_str()) {
                assert!(
                    va.parse::<i64>().is_ok() && vb.parse::<i64>().is_ok(),
                    "{n}: {va} / {vb}"
                );
            } else if va != vb {
                diffs.push((n.clone(), va.clone(), vb.clone()));
            }
        }
    }
    diffs
}

/// A client connection that sent a CRLF keepalive and got its pong (so sipwired has read it).
fn pinged_client(addr: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    c.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    c
}

struct Setup {
    d: Daemon,
    _dir: TempDir,
    unixs: String,
    unixd: String,
    fifo: PathBuf,
    dgram: PathBuf,
    dir: PathBuf,
}

fn setup(dead_hop: u16) -> Setup {
    require_program(KAMCMD, "kamailio");
    let dir = TempDir::new("sipwired-kamcmd");
    let cfg = dir.join("sipwired.cfg");
    std::fs::write(&cfg, "listen=tcp:127.0.0.1:0\ntcp_children=1\n").unwrap();
    let (s, d_, f, g) = (
        dir.join("ctl"),
        dir.join("ctl.dgram"),
        dir.join("rpc.fifo"),
        dir.join("rpc.sock"),
    );
    let unixs = format!("unixs:{}", s.display());
    let unixd = format!("unixd:{}", d_.display());
    let fwd = format!("tcp:127.0.0.1:{dead_hop}");
    let d = Daemon::start(
        SIPWIRED,
        &[
            "-f",
            cfg.to_str().unwrap(),
            "--binrpc",
            &unixs,
            "--binrpc",
            &unixd,
            "--jsonrpc-fifo",
            f.to_str().unwrap(),
            "--jsonrpc-dgram",
            g.to_str().unwrap(),
            "--forward",
            &fwd,
        ],
    );
    let lines = d.lines.lock().unwrap().join("\n");
    for want in [
        format!("binrpc socket: {unixs}"),
        format!("jsonrpc fifo: {}", f.display()),
    ] {
        assert!(
            lines.contains(&want),
            "startup report lacks {want:?}:\n{lines}"
        );
    }
    let path = dir.path().to_path_buf();
    Setup {
        d,
        _dir: dir,
        unixs,
        unixd,
        fifo: f,
        dgram: g,
        dir: path,
    }
}

#[test]
fn kamcmd_prints_what_kamailio_prints() {
    let dead = free_port();
    let s = setup(dead);
    let clients: Vec<TcpStream> = (0..3).map(|_| pinged_client(s.d.addr)).collect();
    let k = |args: &[&str]| kamcmd(&s.unixs, args);

    // core.tcp_info: every value is Kamailio's in this state.
    let info = k(&["core.tcp_info"]);
    assert_eq!(info, golden("core.tcp_info.txt"));
    assert_eq!(
        kamcmd(&s.unixd, &["core.tcp_info"]),
        info,
        "the datagram socket too"
    );

    // core.tcp_options: Kamailio's 23 names in its order and its defaults, but one:
    // alias_flags is 2 (TCP_ALIAS_REPLACE: an alias moves to the connection that claims it
    // last), Kamailio's default is 1 (FORCE_ADD).
    let diffs = compare(
        &k(&["core.tcp_options"]),
        &golden("core.tcp_options.txt"),
        &[],
    );
    assert_eq!(diffs, [("alias_flags".into(), "2".into(), "1".into())]);

    // core.tcp_list: Kamailio's fields; ids, timers and ports are the run's.
    let list = k(&["core.tcp_list"]);
    let diffs = compare(
        &list,
        &golden("core.tcp_list.txt"),
        &["id", "timeout", "ref_count", "src_port", "dst_port"],
    );
    assert!(diffs.is_empty(), "{diffs:?}\n{list}");
    let mut ports: Vec<String> = records(&list).iter().map(|r| r[7].1.clone()).collect();
    let mut want: Vec<String> = clients
        .iter()
        .map(|c| c.local_addr().unwrap().port().to_string())
        .collect();
    ports.sort();
    want.sort();
    assert_eq!(ports, want);
    assert!(records(&list)
        .iter()
        .all(|r| r[9].1 == s.d.addr.port().to_string()));

    // The statistics Kamailio keeps in its tcp: group.
    assert_eq!(
        k(&["stats.get_statistics", "tcp:"]),
        golden("stats.get_statistics.tcp.txt")
    );

    // cfg: get, an unknown method, and a set. Kamailio refuses the script spelling
    // tcp_no_connect; sipwire takes it as an alias of no_connect (issue 14), so it is set
    // back before the canonical set Kamailio accepts.
    assert_eq!(k(&["cfg.get", "tcp", "no_connect"]), golden("cfg.get.txt"));
    assert_eq!(k(&["nosuch.method"]), golden("unknown_method.txt"));
    assert_eq!(k(&["cfg.set_now_int", "tcp", "tcp_no_connect", "1"]), "");
    assert_eq!(k(&["cfg.set_now_int", "tcp", "no_connect", "0"]), "");
    assert_eq!(
        k(&["cfg.set_now_int", "tcp", "no_connect", "5"]),
        "error: 400 - Failed to set the variable\n"
    );
    assert_eq!(
        k(&["cfg.set_now_int", "tcp", "no_connect", "1"]),
        golden("cfg.set_now_int.txt")
    );
    assert_eq!(
        k(&["cfg.get", "tcp", "no_connect"]),
        golden("cfg.get.after.txt")
    );

    // With no_connect the relay's send to its next hop is refused: a 503, no connect.
    let mut uac = SipConn::connect(s.d.addr);
    let me = uac.local();
    uac.send(&format!(
        "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bK-k1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\n\
         Call-ID: k1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ));
    let r = uac.recv();
    assert!(start_line(&r).starts_with("SIP/2.0 503 "), "{r}");
    let stats = k(&[
        "stats.get_statistics",
        "tcp:connect_success",
        "tcp:connect_failed",
    ]);
    assert_eq!(stats, "tcp:connect_success = 0\ntcp:connect_failed = 0\n");
    drop(clients);
}

/// The `result` (or `error`) of a JSON-RPC answer.
fn outcome(v: &Value) -> Value {
    v.get("result").or_else(|| v.get("error")).cloned().unwrap()
}

fn golden_json(name: &str) -> Value {
    serde_json::from_str(&golden(name)).unwrap()
}

#[test]
fn kamctl_and_a_kamcli_client_get_kamailios_answers() {
    require_program(KAMCTL, "kamailio");
    let s = setup(free_port());
    let _clients: Vec<TcpStream> = (0..3).map(|_| pinged_client(s.d.addr)).collect();
    let kamctl = |args: &[&str]| -> Value {
        let out = Command::new(KAMCTL)
            .env("RPCFIFOPATH", &s.fifo)
            .arg("rpc")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("kamctl {args:?}: {e}: {text:?} {out:?}"))
    };
    assert_eq!(
        outcome(&kamctl(&["core.tcp_info"])),
        outcome(&golden_json("kamctl.core.tcp_info.txt"))
    );
    assert_eq!(
        outcome(&kamctl(&["cfg.get", "tcp", "no_connect"])),
        json!(0)
    );
    assert_eq!(
        outcome(&kamctl(&["nosuch.method"])),
        outcome(&golden_json("kamctl.unknown_method.txt"))
    );

    // kamcli's transport=socket: a pretty-printed request from a bound socket.
    let me = UnixDatagram::bind(s.dir.join("rcvaddr.1")).unwrap();
    me.set_read_timeout(Some(WAIT)).unwrap();
    let req = json!({"jsonrpc": "2.0", "method": "core.tcp_info", "params": [], "id": 5});
    me.send_to(
        format!("{}\n", serde_json::to_string_pretty(&req).unwrap()).as_bytes(),
        &s.dgram,
    )
    .unwrap();
    let mut buf = vec![0u8; 84_000];
    let n = me.recv(&mut buf).unwrap();
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["id"], 5);
    assert_eq!(
        outcome(&v),
        outcome(&golden_json("kamctl.core.tcp_info.txt"))
    );
}

#[test]
fn the_binrpc_socket_is_on_by_default_beside_the_control_socket() {
    require_program(KAMCMD, "kamailio");
    let d = Daemon::start(SIPWIRED, &[]);
    let sock = d.ctl_socket().parent().unwrap().join("sipwire_ctl");
    let lines = d.lines.lock().unwrap().join("\n");
    assert!(
        lines.contains(&format!("binrpc socket: unixs:{}", sock.display())),
        "{lines}"
    );
    let out = kamcmd(&format!("unixs:{}", sock.display()), &["core.version"]);
    assert!(out.starts_with("sipwire "), "{out}");
}

/// `sipwire-ctl` (in-process) with its output and exit status.
fn sipwire_ctl(args: &[&str]) -> (u8, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = args.iter().map(|s| s.to_string()).collect();
    let code = sipwire_ctl::main_with(argv, &mut out, &mut err);
    let out = String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap();
    (code, out)
}

#[test]
fn sipwire_ctl_speaks_binrpc_as_kamcmd_prints_it_and_fails_on_a_fault() {
    let s = setup(free_port());
    let _clients: Vec<TcpStream> = (0..2).map(|_| pinged_client(s.d.addr)).collect();
    for sock in [&s.unixs, &s.unixd] {
        for args in [
            &["core.tcp_info"][..],
            &["core.tcp_list"],
            &["cfg.get", "tcp", "connection_lifetime"],
            &["stats.get_statistics", "tcp:"],
        ] {
            let (code, out) = sipwire_ctl(&[&["-s", sock.as_str()], args].concat());
            assert_eq!((code, out), (0, kamcmd(sock, args)), "{sock} {args:?}");
        }
        // A fault: kamcmd's text, but a non-zero exit (kamcmd exits 0).
        let (code, out) = sipwire_ctl(&["-s", sock, "cfg.set_now_int", "tcp", "no_connect", "9"]);
        assert_eq!(code, 1);
        assert_eq!(
            out,
            kamcmd(sock, &["cfg.set_now_int", "tcp", "no_connect", "9"])
        );
    }
    let (code, out) = sipwire_ctl(&["-s", &s.unixs, "--json", "core.tcp_info"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["opened_connections"], 2, "{v}");
    // The JSON-RPC socket prints the same text.
    let ctl = s.d.ctl_socket();
    let (code, out) = sipwire_ctl(&["-s", ctl.to_str().unwrap(), "core.tcp_info"]);
    assert_eq!((code, out), (0, kamcmd(&s.unixs, &["core.tcp_info"])));
}
