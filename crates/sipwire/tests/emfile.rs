//! Accept errors do not spin TCP main: with the process out of file descriptors, accept fails
//! with EMFILE, main pauses accepting (100 ms) instead of retrying in a loop, and resumes once
//! descriptors are free again. Its own test binary, since it lowers the process's fd limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::Duration;

use sipwire_testkit::prelude::*;

fn set_soft_nofile(n: u64) {
    // The test drives the limit through `prlimit` on itself: no unsafe code in tests.
    let pid = std::process::id().to_string();
    let st = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={n}:")])
        .status()
        .expect("prlimit (util-linux) is needed");
    assert!(st.success());
}

#[test]
fn emfile_pauses_accepting_instead_of_spinning() {
    let (rt, rec, addr) = start("tcp_children=1");
    let t = rt.transport();
    let base = open_fd_count().unwrap() as u64;
    set_soft_nofile(base + 12);
    // Open client connections until this process runs out of fds; the runtime's accepts fail.
    let mut clients: Vec<TcpStream> = Vec::new();
    wait_for("an accept to fail", WAIT, || {
        if let Ok(c) = TcpStream::connect(addr) {
            clients.push(c);
        }
        t.stats().accept_errors > 0
    });
    // Over half a second, a spinning loop would fail thousands of accepts; paused, a handful.
    let before = t.stats().accept_errors;
    std::thread::sleep(Duration::from_millis(500));
    let during = t.stats().accept_errors - before;
    assert!(during <= 15, "accept retried {during} times in 500 ms");
    // Free descriptors: the waiting connections are accepted and work.
    set_soft_nofile(base + 200);
    let n = clients.len();
    wait_for("every client accepted", WAIT, || t.connection_count() == n);
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &options(i, ""));
    }
    rec.wait_msgs(n);
}
