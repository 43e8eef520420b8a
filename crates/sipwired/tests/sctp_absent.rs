//! sipwired on a host without kernel SCTP (checked, not assumed; with SCTP the test asserts
//! the other way): an `sctp:` listen line next to a TCP one fails with one error naming the
//! cause and TCP serves; an SCTP-only config does not start and says why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sipwire_testkit::prelude::*;

const SIPWIRED: &str = env!("CARGO_BIN_EXE_sipwired");

#[test]
fn an_sctp_listener_without_kernel_sctp_is_one_clear_error_and_tcp_serves() {
    let have = sipwire_testkit::sipp::sctp_available();
    let dir = TempDir::new("sctp-absent");
    let port = free_port();
    let cfg = dir.join("mixed.cfg");
    fs::write(
        &cfg,
        format!("listen=tcp:127.0.0.1:0\nlisten=sctp:127.0.0.1:{port}\n"),
    )
    .unwrap();
    let err = dir.join("stderr");
    let mut cmd = Command::new(SIPWIRED);
    cmd.arg("-f")
        .arg(&cfg)
        .arg("--ctl")
        .arg(dir.join("ctl.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&err).unwrap());
    let mut p = Proc::spawn("sipwired", &mut cmd);
    let out = p.child.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let deadline = Deadline::after(WAIT);
    let mut tcp = None;
    loop {
        let l = rx
            .recv_timeout(deadline.left())
            .expect("sipwired did not get ready");
        if let Some(a) = l.strip_prefix("listening on tcp:") {
            tcp = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if l == "ready" {
            break;
        }
    }
    // TCP serves: a request is answered (403: the relay may forward nowhere).
    let mut c = SipConn::connect(tcp.expect("a TCP listener"));
    c.send(std::str::from_utf8(&options(1, "")).unwrap());
    assert!(c.recv().starts_with("SIP/2.0 403"));
    let text = fs::read_to_string(&err).unwrap();
    let said = text
        .matches(&format!("cannot listen on sctp:127.0.0.1:{port}"))
        .count();
    if have {
        assert_eq!(said, 0, "{text}");
    } else {
        assert_eq!(said, 1, "one error for the SCTP listener:\n{text}");
        assert!(text.contains("this kernel has no SCTP"), "{text}");
    }
    p.stop();

    // SCTP only: without kernel SCTP nothing can listen, so it does not start.
    let only = dir.join("only.cfg");
    fs::write(&only, format!("listen=sctp:127.0.0.1:{port}\n")).unwrap();
    let mut cmd = Command::new(SIPWIRED);
    cmd.arg("-f")
        .arg(&only)
        .arg("--ctl")
        .arg(dir.join("ctl2.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(dir.join("stderr2")).unwrap());
    let mut p = Proc::spawn("sipwired-sctp-only", &mut cmd);
    if have {
        // With SCTP it starts: it says "ready".
        let out = p.child.as_mut().unwrap().stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ready = BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .any(|l| l == "ready");
            let _ = tx.send(ready);
        });
        let ready = rx.recv_timeout(WAIT).unwrap_or(false);
        assert!(ready, "an SCTP-only sipwired did not get ready");
        p.stop();
    } else {
        let st = p
            .wait_timeout(WAIT)
            .expect("an SCTP-only sipwired should exit");
        assert!(!st.success());
        let text = fs::read_to_string(dir.join("stderr2")).unwrap();
        assert!(
            text.contains(&format!("cannot listen on sctp:127.0.0.1:{port}"))
                && text.contains("this kernel has no SCTP"),
            "{text}"
        );
    }
}
