//! Inbound runtime behaviour over loopback: accept → read → frame → handler, per poll method.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sipwire::{CloseReason, MessageKind};
use sipwire_testkit::prelude::*;

fn end_to_end(method: &str, children: usize) {
    let (rt, rec, addr) = start(&format!(
        "tcp_poll_method={method}\ntcp_children={children}"
    ));
    let t = rt.transport();
    let mut clients: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    // Each client sends 5 messages, some split across writes.
    for round in 0..5 {
        for (i, c) in clients.iter_mut().enumerate() {
            let m = options(round * 10 + i, "hello");
            let (a, b) = m.split_at(m.len() / 2);
            send(c, a);
            send(c, b);
        }
    }
    let got = rec.wait_msgs(20);
    assert_eq!(got.len(), 20);
    assert!(got
        .iter()
        .all(|g| g.kind == MessageKind::Sip && g.bytes.ends_with(b"hello")));
    // Per connection, messages arrive in order.
    for c in &clients {
        let peer = c.local_addr().unwrap();
        let seq: Vec<_> = got
            .iter()
            .filter(|g| g.peer == peer)
            .map(|g| g.bytes.clone())
            .collect();
        assert_eq!(seq.len(), 5);
        let idx = clients
            .iter()
            .position(|x| x.local_addr().unwrap() == peer)
            .unwrap();
        for (round, b) in seq.iter().enumerate() {
            assert_eq!(b, &options(round * 10 + idx, "hello"));
        }
    }
    assert_eq!(t.connection_count(), 4);
    drop(clients);
    wait_for("all connections closed", WAIT, || t.connection_count() == 0);
    let ev = rec.wait_events(4);
    assert!(ev.iter().all(|e| e.reason == CloseReason::PeerClosed));
    rt.shutdown();
}

macro_rules! per_method {
    ($($name:ident: $m:literal,)*) => {
        mod by_method {
            use super::end_to_end;
            $(
                #[test]
                fn $name() {
                    end_to_end($m, 2);
                    end_to_end($m, 1);
                }
            )*
        }
    };
}

per_method! {
    poll: "poll",
    epoll_lt: "epoll_lt",
    epoll_et: "epoll_et",
    select: "select",
}
