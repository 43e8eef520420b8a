//! The FIFO and the datagram socket against a running runtime, with hostile reply names,
//! unbound senders and oversized requests; every wait has a deadline.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;

use nix::sys::stat::Mode;
use serde_json::{json, Value};
use sipwire_testkit::prelude::*;

use std::path::Path;

use super::{dgram, fifo, spawn_dgram, spawn_fifo, MAX_DATAGRAM, MAX_DOCUMENT};

/// A reply FIFO in `dir` named `name`, with a reader thread handing each line over.
fn reply_fifo(dir: &Path, name: &str) -> mpsc::Receiver<String> {
    let path = dir.join(name);
    nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Blocks until the server opens it for writing.
        let f = std::fs::File::open(&path).unwrap();
        for l in BufReader::new(f).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn request(method: &str, params: Value, reply_name: &str) -> String {
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "method": method, "params": params,
               "reply_name": reply_name, "id": 42})
    )
}

#[test]
fn fifo_answers_into_the_reply_fifo_and_refuses_names_that_escape() {
    let (rt, _rec, _) = start("");
    let dir = TempDir::new("jsonrpcs-fifo");
    let fifo = dir.join("rpc.fifo");
    let server = spawn_fifo(&fifo, dir.path(), rt.transport(), None).unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();

    let rx = reply_fifo(dir.path(), "kamailio_receiver_1");
    w.write_all(
        request(
            "cfg.get",
            json!(["tcp", "no_connect"]),
            "kamailio_receiver_1",
        )
        .as_bytes(),
    )
    .unwrap();
    let line = rx.recv_timeout(WAIT).expect("an answer in the reply FIFO");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["result"], 0, "{v}");
    assert_eq!(v["id"], 42);

    // Names that leave the reply directory, and files that are not FIFOs, get nothing.
    let outside = TempDir::new("jsonrpcs-outside");
    let target = outside.join("victim");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
    std::fs::write(dir.join("plain"), b"keep").unwrap();
    let escape = format!(
        "../{}/victim",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for bad in [escape.as_str(), "link", "plain", "a/b", "..", "", "missing"] {
        w.write_all(request("core.version", json!([]), bad).as_bytes())
            .unwrap();
    }
    // A store_path is ignored: the answer still goes to reply_name, nothing is written there.
    let rx2 = reply_fifo(dir.path(), "kamailio_receiver_2");
    let store = outside.join("stored");
    let with_store = json!({"jsonrpc": "2.0", "method": "core.version", "params": [],
        "reply_name": "kamailio_receiver_2", "store_path": store, "id": 7});
    w.write_all(format!("{with_store}\n").as_bytes()).unwrap();
    let line = rx2
        .recv_timeout(WAIT)
        .expect("still serving after the refusals");
    assert!(line.contains("\"id\":7"), "{line}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert_eq!(std::fs::read(dir.join("plain")).unwrap(), b"keep");
    assert!(!store.exists());

    // An oversized document is dropped; the next one is answered.
    let huge = format!("{{\"x\":\"{}\"}}", "y".repeat(MAX_DOCUMENT + 10));
    w.write_all(huge.as_bytes()).unwrap();
    let rx3 = reply_fifo(dir.path(), "kamailio_receiver_3");
    w.write_all(request("core.version", json!([]), "kamailio_receiver_3").as_bytes())
        .unwrap();
    assert!(rx3.recv_timeout(WAIT).is_ok());
    server.shutdown();
    assert!(!fifo.exists(), "the FIFO is removed at shutdown");
}

#[test]
fn datagram_answers_the_sender_and_ignores_what_it_cannot_answer() {
    let (rt, _rec, _) = start("");
    let dir = TempDir::new("jsonrpcs-dgram");
    let sock = dir.join("rpc.sock");
    let server = spawn_dgram(&sock, rt.transport(), None).unwrap();
    // kamcli sends pretty-printed JSON with a trailing newline.
    let me = UnixDatagram::bind(dir.join("rcvaddr.1")).unwrap();
    me.set_read_timeout(Some(WAIT)).unwrap();
    let req = serde_json::to_string_pretty(
        &json!({"jsonrpc": "2.0", "method": "cfg.get", "params": ["tcp", "async"], "id": 1}),
    )
    .unwrap();
    me.send_to(format!("{req}\n").as_bytes(), &sock).unwrap();
    let mut buf = vec![0u8; 84_000];
    let n = me.recv(&mut buf).unwrap();
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["result"], 1, "{v}");

    // An unbound sender cannot be answered; a request over the limit gets an error; garbage
    // gets a parse error. The socket keeps serving.
    let anon = UnixDatagram::unbound().unwrap();
    anon.send_to(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":2}",
        &sock,
    )
    .unwrap();
    let big = vec![b' '; MAX_DOCUMENT + 100];
    me.send_to(&big, &sock).unwrap();
    let n = me.recv(&mut buf).unwrap();
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["error"]["code"], -32600, "{v}");
    me.send_to(b"{not json", &sock).unwrap();
    let n = me.recv(&mut buf).unwrap();
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["error"]["code"], -32700, "{v}");
    server.shutdown();
    assert!(!sock.exists());
}

#[test]
fn an_answer_too_large_for_a_datagram_becomes_an_error_that_says_how_to_page() {
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"result\":\"{}\",\"id\":9}}",
        "x".repeat(MAX_DATAGRAM)
    );
    let out = dgram::fit_for_test(big.into_bytes());
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["id"], 9);
    assert_eq!(v["error"]["code"], 500);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("offset and a limit"));
    let small = b"{\"jsonrpc\":\"2.0\",\"result\":1,\"id\":1}".to_vec();
    assert_eq!(dgram::fit_for_test(small.clone()), small);
}

#[test]
fn reply_names_are_plain_file_names() {
    for ok in ["kamailio_receiver_123", "a.b", "x-y_z"] {
        assert!(fifo::reply_name(ok).is_ok(), "{ok}");
    }
    let long = "n".repeat(256);
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "/tmp/x",
        "a..b",
        "nul\0",
        long.as_str(),
    ] {
        assert!(fifo::reply_name(bad).is_err(), "{bad:?}");
    }
}
