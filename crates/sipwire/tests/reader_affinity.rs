//! Reader affinity: a connection a send opens from a reader is read by that reader (its
//! home), so a request's connection and its response's are served by one thread and no
//! message crosses threads. Without it TCP main would hand the new connection to the least
//! busy reader; the test is arranged so that is a different one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Ctx, Event, Handler, HandlerError, Message, Runtime};
use sipwire_testkit::prelude::*;

/// Records the thread each message was read on; a message whose body is `OPEN <port>` makes
/// it send a request to 127.0.0.1:<port> (opening a connection from that reader).
#[derive(Default)]
struct Record {
    seen: Mutex<Vec<(ConId, String, Vec<u8>)>>,
}

impl Handler for Record {
    fn on_message(&self, ctx: &Ctx<'_>, msg: Message<'_>) -> Result<(), HandlerError> {
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        let body = msg
            .bytes
            .rsplit(|&b| b == b'\n')
            .next()
            .unwrap_or(&[])
            .to_vec();
        self.seen
            .lock()
            .unwrap()
            .push((ctx.conid(), thread, body.clone()));
        if let Some(port) = body.strip_prefix(b"OPEN ") {
            let port: u16 = std::str::from_utf8(port).unwrap().parse().unwrap();
            let to: SocketAddr = ([127, 0, 0, 1], port).into();
            ctx.send(to, &options(9, "upstream"))
                .map_err(|e| HandlerError(e.to_string()))?;
        }
        Ok(())
    }
    fn on_event(&self, _: &Event) {}
}

impl Record {
    fn wait_for(&self, body: &[u8]) -> (ConId, String) {
        let mut found = None;
        wait_for("the message", WAIT, || {
            found = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|(_, _, b)| b == body)
                .map(|(c, t, _)| (*c, t.clone()));
            found.is_some()
        });
        found.unwrap()
    }
}

#[test]
fn a_connection_opened_from_a_reader_is_read_by_that_reader() {
    const READERS: usize = 4;
    let text = format!("listen=tcp:127.0.0.1:0\ntcp_children={READERS}\n");
    let (cfg, _) = Config::from_str_with("affinity.cfg", &text, ParseOptions::default()).unwrap();
    let h = Arc::new(Record::default());
    let rt = Runtime::start(cfg, h.clone()).unwrap();
    let addr = rt.transport().listen_addrs()[0];

    // One client per reader (each new connection goes to the least busy one), so every
    // reader has one connection: the least busy for the next hand-off is reader 0.
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut threads: HashMap<String, usize> = HashMap::new();
    for i in 0..READERS {
        let mut c = connect(addr);
        send(&mut c, &options(i, &format!("hello {i}")));
        let (_, t) = h.wait_for(format!("hello {i}").as_bytes());
        *threads.entry(t).or_default() += 1;
        clients.push(c);
    }
    assert_eq!(threads.len(), READERS, "one client per reader: {threads:?}");

    // Open the upstream connection from a client whose reader is not the least busy one.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    let (_, opener) = {
        let last = clients.last_mut().unwrap();
        send(last, &options(READERS, &format!("OPEN {port}")));
        h.wait_for(format!("OPEN {port}").as_bytes())
    };
    assert_ne!(
        opener, "sipwire-reader-0",
        "the test needs another reader than 0"
    );
    let (mut peer, _) = upstream.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = vec![0u8; 4096];
    let n = peer.read(&mut got).unwrap();
    assert!(n > 0 && got[..n].ends_with(b"upstream"));

    // The upstream answers (twice: the second after the connection settled in its reader).
    for k in 0..2 {
        peer.write_all(&options(100 + k, &format!("answer {k}")))
            .unwrap();
        let (_, reader) = h.wait_for(format!("answer {k}").as_bytes());
        assert_eq!(
            reader, opener,
            "answer {k} was read by {reader}, the connection was opened by {opener}"
        );
    }
    drop(rt);
}
