//! `tcp:timeout`: a peer that stops answering keepalive probes.
//!
//! Loopback always answers probes, so the test builds its own two-host network: the test
//! binary re-runs itself inside a private network and mount namespace (`unshare -n -m`), adds a
//! second namespace joined by a veth pair (198.18.0.1 ↔ 198.18.0.2, the benchmarking range,
//! existing only inside these namespaces), and runs the client half there. Once the client has
//! sent a message, its link goes down: the runtime's probes (tcp_keepidle=1, tcp_keepintvl=1,
//! tcp_keepcnt=2) go unanswered, the kernel reports ETIMEDOUT, and the runtime must deliver
//! `tcp:timeout`. Needs root and iproute2 (`make test` installs it); without them the outer test
//! says why it cannot run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use sipwire::CloseReason;
use sipwire_testkit::prelude::*;

const ROLE: &str = "SIPWIRE_NETNS_ROLE";
const NS: &str = "sipwire_ka_peer";

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "command failed: {cmd}");
}

#[test]
fn keepalive_timeout_fires_tcp_timeout() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.ok().as_deref() != Some("0") || Command::new("ip").arg("-V").output().is_err() {
        panic!(
            "keepalive_timeout needs root and iproute2 (`ip`) to build a private network namespace"
        );
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs none /run && exec {} --ignored --exact inner_server --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", &script])
        .env(ROLE, "server")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "inner test failed:\n{text}"
    );
}

#[test]
#[ignore = "runs inside the namespace set up by keepalive_timeout_fires_tcp_timeout"]
fn inner_server() {
    assert_eq!(
        std::env::var(ROLE).as_deref(),
        Ok("server"),
        "run through the outer test"
    );
    sh("ip link set lo up");
    sh(&format!("ip netns add {NS}"));
    sh(&format!(
        "ip link add sw0 type veth peer name sw1 && ip link set sw1 netns {NS}"
    ));
    sh("ip addr add 198.18.0.1/24 dev sw0 && ip link set sw0 up");
    sh(&format!(
        "ip netns exec {NS} sh -c 'ip link set lo up; ip addr add 198.18.0.2/24 dev sw1; ip link set sw1 up'"
    ));
    let text = "listen=tcp:198.18.0.1:0\ntcp_children=1\ntcp_keepalive=yes\ntcp_keepidle=1\ntcp_keepintvl=1\ntcp_keepcnt=2\n";
    let (cfg, _) =
        sipwire::config::Config::from_str_with("t.cfg", text, Default::default()).unwrap();
    let (rt, rec, addr) = start_with(cfg);
    let exe = std::env::current_exe().unwrap();
    let mut client = Command::new("ip")
        .args(["netns", "exec", NS])
        .arg(&exe)
        .args(["--ignored", "--exact", "inner_client", "--nocapture"])
        .env(ROLE, "client")
        .env("SIPWIRE_NETNS_TARGET", addr.to_string())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    rec.wait_msgs(1);
    sh(&format!("ip netns exec {NS} ip link set sw1 down"));
    let ev = rec.wait_events(1);
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(ev[0].reason, CloseReason::Timeout, "{ev:?}");
    assert_eq!(ev[0].reason.event_name(), Some("tcp:timeout"));
    assert_eq!(rt.transport().stats().timeouts, 1);
    sh(&format!("ip netns del {NS}"));
}

#[test]
#[ignore = "runs inside the peer namespace, started by inner_server"]
fn inner_client() {
    assert_eq!(
        std::env::var(ROLE).as_deref(),
        Ok("client"),
        "run through the outer test"
    );
    let target = std::env::var("SIPWIRE_NETNS_TARGET")
        .unwrap()
        .parse()
        .unwrap();
    let mut c = connect(target);
    send(&mut c, &options(1, ""));
    // Hold the connection; the server kills this process when done.
    std::thread::sleep(Duration::from_secs(60));
}
