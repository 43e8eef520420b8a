//! `tcp_reuse_port`: two sipwired processes listening on one port (SO_REUSEPORT), the kernel
//! spreading SIPp's connections (`-t tn`, one per call) between them. Both take connections
//! (each one's own `accepted`), every call succeeds, each relays exactly its own calls; once
//! one stops, the other takes every new connection and the calls still all succeed. Without
//! `tcp_reuse_port` a second instance cannot bind the port (exit status 3).
//!
//! With `tcp_reuse_port` an outbound connection binds the listening port as its source, so
//! the two instances cannot both connect to the UAS from 127.0.0.1:PORT: the second falls back
//! to an ephemeral port (a warning on stderr) and its connect still succeeds (checked:
//! `connect_failures` 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::{Command, Stdio};

use sipwire_testkit::prelude::*;
use sipwire_testkit::sipp::*;

/// The daemon under test.
const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

const CALLS: u32 = 200;
const CALLS_ALONE: u32 = 100;
const RATE: u32 = 100;

#[test]
fn two_instances_share_a_port_and_one_serves_alone_once_the_other_stops() {
    require_program(SIPP, "sip-tester");
    let dir = TempDir::new("reuse-port");
    let uas_port = free_port();
    let _uas = start_uas(&dir, uas_port);
    let port = free_port();
    let fwd = format!("tcp:127.0.0.1:{uas_port}");
    let cfg = dir.join("shared.cfg");
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:{port}\ntcp_reuse_port=yes\ntcp_children=1\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let a = Daemon::start(SIPWIRED, &["-f", cfg, "--forward", &fwd]);
    let b = Daemon::start(SIPWIRED, &["-f", cfg, "--forward", &fwd]);
    assert_eq!(a.addr, b.addr);

    // Without tcp_reuse_port the port is taken.
    let plain = dir.join("plain.cfg");
    fs::write(
        &plain,
        format!("listen=tcp:127.0.0.1:{port}\ntcp_children=1\n"),
    )
    .unwrap();
    let out = Command::new(SIPWIRED)
        .arg("-f")
        .arg(&plain)
        .args(["--forward", &fwd, "--ctl"])
        .arg(dir.join("plain.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot listen on tcp:"), "{err}");

    let r = run_uac(&dir, &a.addr.to_string(), "tn", CALLS, RATE);
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(CALLS), 0),
        "sipp uac: {}",
        tail(&r.screen)
    );
    let mut ctl_a = Ctl::connect(&a.ctl_socket());
    let mut ctl_b = Ctl::connect(&b.ctl_socket());
    let (acc_a, acc_b) = (ctl_a.counter("accepted"), ctl_b.counter("accepted"));
    println!(
        "reuse_port: {CALLS} calls in {:.2}s, connections {acc_a} + {acc_b}",
        r.elapsed.as_secs_f64()
    );
    assert!(acc_a > 0 && acc_b > 0, "{acc_a} + {acc_b}");
    assert_eq!(acc_a + acc_b, u64::from(CALLS));
    // Each relayed its own calls: INVITE, ACK, BYE per connection.
    for (ctl, acc) in [(&mut ctl_a, acc_a), (&mut ctl_b, acc_b)] {
        assert_eq!(ctl.counter("relay.requests_relayed"), 3 * acc);
        assert_eq!(ctl.counter("relay.responses_relayed"), 3 * acc);
        assert_eq!(ctl.counter("connect_failures"), 0);
    }
    drop(ctl_a);

    // One stops; the other takes every new connection.
    let (st, c) = a.stop();
    assert!(st.success(), "exit {st:?}");
    assert_eq!(counter(&c, "runtime.accepted"), acc_a);
    let r = run_uac(&dir, &b.addr.to_string(), "tn", CALLS_ALONE, RATE);
    assert_eq!(
        (r.status, r.successful, r.failed),
        (0, u64::from(CALLS_ALONE), 0),
        "sipp uac after one stopped: {}",
        tail(&r.screen)
    );
    assert_eq!(ctl_b.counter("accepted"), acc_b + u64::from(CALLS_ALONE));
    drop(ctl_b);
    let (st, c) = b.stop();
    assert!(st.success(), "exit {st:?}");
    let total_b = acc_b + u64::from(CALLS_ALONE);
    assert_eq!(counter(&c, "requests_relayed"), 3 * total_b);
    assert_eq!(counter(&c, "responses_relayed"), 3 * total_b);
    assert_eq!(counter(&c, "send_failures"), 0);
}
