//! Control socket server tests over real unix sockets.

use super::*;
use std::io::{BufRead, BufReader};
use std::sync::atomic::AtomicUsize;

use serde_json::{json, Value};
use sipwire::config::{Config, ParseOptions};
use sipwire::{Ctx, Handler, HandlerError, Message, Runtime};

struct Nop;

impl Handler for Nop {
    fn on_message(&self, _: &Ctx<'_>, _: Message<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn runtime() -> Runtime {
    let text = "listen=tcp:127.0.0.1:0\ntcp_children=1\n";
    let (cfg, _) = Config::from_str_with("test.cfg", text, ParseOptions::default()).unwrap();
    Runtime::start(cfg, Arc::new(Nop)).unwrap()
}

/// A fresh directory path (not created) under the temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sipwired-ctl-{}-{n}", std::process::id()))
}

fn connect(path: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn read_json(r: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    assert!(r.read_line(&mut line).unwrap() > 0, "server closed");
    assert!(line.ends_with('\n'), "{line:?}");
    serde_json::from_str(&line).unwrap()
}

#[test]
fn serves_json_rpc_lines_with_mode_0600_and_removes_the_file() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let server = spawn(&path, rt.transport()).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dmode, 0o700, "created directory is private");

    let (mut s, mut r) = connect(&path);
    // Two requests in one write, a blank line and a notification between them.
    s.write_all(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":1}\n\r\n\
          {\"jsonrpc\":\"2.0\",\"method\":\"core.uptime\"}\n\
          {\"jsonrpc\":\"2.0\",\"method\":\"core.tcp_info\",\"id\":2}\r\n",
    )
    .unwrap();
    let a = read_json(&mut r);
    assert_eq!(a["id"], 1);
    assert_eq!(a["result"]["name"], "sipwire");
    let b = read_json(&mut r);
    assert_eq!(b["id"], 2);
    assert_eq!(b["result"]["readers"], 1);

    // Garbage and unknown methods get errors; the connection and server go on.
    s.write_all(b"this is not json\n").unwrap();
    assert_eq!(read_json(&mut r)["error"]["code"], rpc::PARSE_ERROR);
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"x.y\",\"id\":3}\n")
        .unwrap();
    assert_eq!(read_json(&mut r)["error"]["code"], rpc::METHOD_NOT_FOUND);
    // A request split across writes.
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"met").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(b"hod\":\"cfg.get\",\"params\":[\"tcp\",\"async\"],\"id\":4}\n")
        .unwrap();
    assert_eq!(
        read_json(&mut r),
        json!({"jsonrpc":"2.0","result":1,"id":4})
    );

    // A second client at the same time.
    let (mut s2, mut r2) = connect(&path);
    s2.write_all(b"[{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":9}]\n")
        .unwrap();
    assert_eq!(read_json(&mut r2)[0]["id"], 9);

    // Shutdown closes the clients and removes the file.
    server.shutdown();
    assert!(!path.exists());
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0, "client sees EOF");
    assert!(UnixStream::connect(&path).is_err());
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn answers_a_last_request_without_newline_on_write_shutdown() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let server = spawn(&path, rt.transport()).unwrap();
    let (mut s, _) = connect(&path);
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":\"q\"}")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.ends_with('\n'));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], "q");
    assert_eq!(v["result"]["name"], "sipwire");
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn oversize_request_gets_an_error_and_the_connection_closes() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let server = spawn(&path, rt.transport()).unwrap();
    let (mut s, mut r) = connect(&path);
    let big = vec![b'x'; MAX_REQUEST + 100];
    // The server may stop reading before all of it is written.
    let _ = s.write_all(&big);
    let v = read_json(&mut r);
    assert_eq!(v["error"]["code"], rpc::INVALID_REQUEST);
    assert_eq!(v["id"], Value::Null);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("request larger than 1048576 bytes"));
    let mut rest = Vec::new();
    // EOF (or a reset, if the kernel saw unread data): either way, closed.
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty());
    // The server is still there for the next client.
    let (mut s2, mut r2) = connect(&path);
    s2.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":1}\n")
        .unwrap();
    assert_eq!(read_json(&mut r2)["result"]["name"], "sipwire");
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let rt = runtime();
    let dir = temp_dir();
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    // A socket file nobody answers on (its listener is gone).
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = spawn(&path, rt.transport()).unwrap();

    // A second server on a live socket is refused; the first keeps working.
    let e = spawn(&path, rt.transport()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains("another server"), "{e}");
    let (mut s, mut r) = connect(&path);
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":1}\n")
        .unwrap();
    assert_eq!(read_json(&mut r)["id"], 1);
    drop(s);
    server.shutdown();

    // A regular file is never removed.
    let file = dir.join("not-a-socket");
    fs::write(&file, b"keep me").unwrap();
    let e = spawn(&file, rt.transport()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(&file).unwrap(), b"keep me");
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn clients_over_the_cap_are_turned_away() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let server = spawn(&path, rt.transport()).unwrap();
    let ping = b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":1}\n";
    let mut held = Vec::new();
    for _ in 0..MAX_CLIENTS {
        let (mut s, mut r) = connect(&path);
        // An answer proves the client is registered before the next connects.
        s.write_all(ping).unwrap();
        assert_eq!(read_json(&mut r)["id"], 1);
        held.push((s, r));
    }
    let (_s, mut r) = connect(&path);
    let v = read_json(&mut r);
    assert_eq!(v["error"]["code"], rpc::SERVER_BUSY);
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0);

    // A freed slot is usable again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (mut s, mut r) = connect(&path);
        let _ = s.write_all(ping);
        let v = read_json(&mut r);
        if v["id"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn extension_methods_are_served() {
    struct Ext;
    impl RpcExtension for Ext {
        fn call(&self, method: &str, _: &[Value]) -> Option<Result<Value, RpcError>> {
            (method == "relay.hello").then(|| Ok(json!("hi")))
        }
    }
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let server = spawn_with(&path, rt.transport(), Some(Arc::new(Ext))).unwrap();
    let (mut s, mut r) = connect(&path);
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"relay.hello\",\"id\":1}\n")
        .unwrap();
    assert_eq!(read_json(&mut r)["result"], "hi");
    // Dropping the server is a shutdown too.
    drop(server);
    assert!(!path.exists());
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}
