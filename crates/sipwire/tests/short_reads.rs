//! A short read ends a pass with a level-triggered poller (poll, select, epoll_lt): the read
//! that would only return `EAGAIN` is skipped, so a request-response exchange costs one read
//! per message. Counted with the runtime's `empty_reads` counter, `tcp_poll_method` set
//! through the config. The client pauses a little after each answer, so that a reader that
//! did read again would find the socket empty (edge-triggered epoll, which must read until
//! `EAGAIN`, then counts about one empty read per message; it is not asserted, as it depends
//! on timing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use sipwire_testkit::prelude::*;

const EXCHANGES: u64 = 100;

/// Empty reads during `EXCHANGES` request-response exchanges on one connection.
fn empty_reads(method: &str) -> u64 {
    let (rt, rec, addr) = start(&format!("tcp_poll_method={method}\ntcp_children=1"));
    *rec.on_msg.lock() = Some(Box::new(|ctx, _| {
        ctx.reply(b"ok").unwrap();
    }));
    let mut c = connect(addr);
    // The first exchange hands the connection to its reader; count from the second on.
    send(&mut c, &options(0, ""));
    let mut two = [0u8; 2];
    c.read_exact(&mut two).unwrap();
    let before = rt.transport().stats().empty_reads;
    for n in 1..=EXCHANGES {
        send(&mut c, &options(n as usize, ""));
        c.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ok");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    rt.transport().stats().empty_reads - before
}

#[test]
fn level_triggered_pollers_skip_the_empty_read() {
    for method in ["poll", "select", "epoll_lt"] {
        let n = empty_reads(method);
        assert!(n <= 3, "{method}: {n} empty reads in {EXCHANGES} exchanges");
    }
}
