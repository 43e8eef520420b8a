//! No file descriptor is leaked: after a test closes everything, the process fd count is back
//! where it was. Its own test binary, so no other test opens fds meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sipwire_testkit::prelude::*;

#[test]
fn no_fd_leaks_after_everything_closes() {
    let before = open_fd_count().unwrap();
    {
        let (rt, rec, addr) = start("");
        let t = rt.transport();
        let mut cs: Vec<_> = (0..20).map(|_| connect(addr)).collect();
        for (i, c) in cs.iter_mut().enumerate() {
            send(c, &options(i, ""));
        }
        rec.wait_msgs(20);
        // Outbound connections too: open some, then the peer goes away.
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pa = peer.local_addr().unwrap();
        t.send(pa, b"x").unwrap();
        let (s, _) = peer.accept().unwrap();
        drop(s);
        drop(peer);
        drop(cs);
        wait_for("all closed", WAIT, || t.connection_count() == 0);
        rt.shutdown();
    }
    let after = open_fd_count().unwrap();
    assert_eq!(after, before, "fds before {before}, after {after}");
}
