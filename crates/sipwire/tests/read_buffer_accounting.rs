//! Read-buffer accounting: a connection that closes with a partial message buffered gives its
//! read buffer back to the pool (`read_buffers_in_use` returns to 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpStream;

use sipwire_testkit::prelude::*;

const HALF: &[u8] =
    b"OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK1\r\n\
Call-ID: c1@test\r\nCSeq: 1 OPT";

#[test]
fn close_with_partial_message_returns_the_read_buffer() {
    let (rt, _rec, addr) = start("");
    let t = rt.transport();
    for round in 0..3 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(HALF).unwrap();
        wait_for(
            &format!("round {round}: the partial message takes a read buffer"),
            WAIT,
            || t.stats().read_buffers_in_use >= 1,
        );
        drop(c);
        wait_for(
            &format!("round {round}: the connection closes"),
            WAIT,
            || t.connection_count() == 0,
        );
        wait_for(
            &format!("round {round}: read_buffers_in_use returns to 0 after the close"),
            WAIT,
            || t.stats().read_buffers_in_use == 0,
        );
    }
    rt.shutdown();
}
