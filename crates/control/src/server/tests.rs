//! Control socket server tests over real unix sockets.

use super::*;
use std::io::{BufRead, BufReader, Read};
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
    assert!(
        a["result"]
            .as_str()
            .is_some_and(|v| v.starts_with("sipwire ")),
        "{a}"
    );
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
    assert!(
        v["result"]
            .as_str()
            .is_some_and(|x| x.starts_with("sipwire ")),
        "{v}"
    );
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
    let v2 = read_json(&mut r2);
    assert!(
        v2["result"]
            .as_str()
            .is_some_and(|x| x.starts_with("sipwire ")),
        "{v2}"
    );
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

/// Test methods: `test.block` waits until released, `test.big N` answers a string of N bytes;
/// both count their calls.
#[derive(Default)]
struct Slow {
    blocked: AtomicUsize,
    big_calls: AtomicUsize,
    released: Mutex<bool>,
    release: Condvar,
}

impl Slow {
    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.release.notify_all();
    }
}

impl RpcExtension for Slow {
    fn call(&self, method: &str, params: &[Value]) -> Option<Result<Value, RpcError>> {
        match method {
            "test.block" => {
                self.blocked.fetch_add(1, Ordering::SeqCst);
                let mut done = self.released.lock().unwrap();
                while !*done {
                    done = self.release.wait(done).unwrap();
                }
                Some(Ok(json!("released")))
            }
            "test.big" => {
                self.big_calls.fetch_add(1, Ordering::SeqCst);
                let n = params[0].as_u64().unwrap() as usize;
                Some(Ok(Value::String("x".repeat(n))))
            }
            _ => None,
        }
    }
}

/// A server with the test methods, the given eviction grace and write timeout.
fn slow_server(
    rt: &Runtime,
    path: &Path,
    grace: Duration,
    write_timeout: Duration,
) -> (CtlServer, Arc<Slow>) {
    let ext = Arc::new(Slow::default());
    let server = spawn_inner(
        path,
        rt.transport(),
        Some(ext.clone()),
        EventBus::new(),
        (grace, write_timeout, IDLE_TIMEOUT),
        Protocol::JsonRpc,
    );
    (server.unwrap(), ext)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const PING: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"core.version\",\"id\":1}\n";

#[test]
fn clients_over_the_cap_are_turned_away_when_all_are_busy() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    // Even with no grace at all, a client with a call in hand is never evicted.
    let (server, ext) = slow_server(&rt, &path, Duration::ZERO, WRITE_TIMEOUT);
    let mut held = Vec::new();
    for _ in 0..MAX_CLIENTS {
        let (mut s, r) = connect(&path);
        s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"test.block\",\"id\":5}\n")
            .unwrap();
        held.push((s, r));
    }
    wait_until("16 blocked calls", || {
        ext.blocked.load(Ordering::SeqCst) == MAX_CLIENTS
    });
    let (_s, mut r) = connect(&path);
    let v = read_json(&mut r);
    assert_eq!(v["error"]["code"], rpc::SERVER_BUSY);
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0);

    // Released, each gets its answer; a freed slot is usable again.
    ext.release();
    for (_, r) in &mut held {
        assert_eq!(read_json(r)["result"], "released");
    }
    drop(held.pop());
    let (mut s, mut r) = connect(&path);
    s.write_all(PING).unwrap();
    assert_eq!(read_json(&mut r)["id"], 1);
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn silent_clients_make_room_for_the_owner() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let grace = Duration::from_millis(200);
    let (server, _ext) = slow_server(&rt, &path, grace, WRITE_TIMEOUT);
    let mut silent = Vec::new();
    for _ in 0..MAX_CLIENTS {
        let (mut s, mut r) = connect(&path);
        // An answer proves the client is registered before the next connects; its thread
        // marks it answered (its `since`) just after writing the answer: wait for that too,
        // so the first client is the one longest without a request.
        s.write_all(PING).unwrap();
        assert_eq!(read_json(&mut r)["id"], 1);
        wait_until("the answer to be done", || {
            server.shared.clients().open.values().all(|c| !c.busy)
        });
        silent.push((s, r));
    }
    // The owner: answered as soon as the oldest silent client passes the grace (until then,
    // it is told to try again).
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    loop {
        let (mut s, mut r) = connect(&path);
        let _ = s.write_all(PING);
        let v = read_json(&mut r);
        if v["id"] == 1 {
            break;
        }
        assert_eq!(v["error"]["code"], rpc::SERVER_BUSY, "{v}");
        assert!(Instant::now() < deadline, "the owner was locked out");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The oldest silent client was told why, then closed; the others are still served.
    let (_, r) = &mut silent[0];
    let v = read_json(r);
    assert_eq!(v["error"]["code"], rpc::SERVER_BUSY);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("closed to make room for a new client"),
        "{msg}"
    );
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0);
    let (s, r) = &mut silent[MAX_CLIENTS - 1];
    s.write_all(PING).unwrap();
    assert_eq!(read_json(r)["id"], 1);
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

/// A batch of `n` calls of `method` with `params`, ids 0..n, as one line.
fn batch_line(n: usize, method: &str, params: Value) -> Vec<u8> {
    let calls: Vec<Value> = (0..n)
        .map(|i| json!({"jsonrpc":"2.0","method":method,"params":params,"id":i}))
        .collect();
    let mut line = serde_json::to_vec(&calls).unwrap();
    line.push(b'\n');
    line
}

#[test]
fn batches_are_limited_in_calls_and_answers_in_size() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let (server, ext) = slow_server(&rt, &path, EVICT_GRACE, WRITE_TIMEOUT);
    let (mut s, mut r) = connect(&path);

    // One call over the limit: one error naming it; the connection goes on.
    s.write_all(&batch_line(rpc::MAX_BATCH + 1, "core.version", json!([])))
        .unwrap();
    let v = read_json(&mut r);
    assert_eq!(v["error"]["code"], rpc::INVALID_REQUEST);
    assert_eq!(v["id"], Value::Null);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("at most 100 calls per batch"), "{msg}");
    // At the limit: every call answered.
    s.write_all(&batch_line(rpc::MAX_BATCH, "core.version", json!([])))
        .unwrap();
    let v = read_json(&mut r);
    assert_eq!(v.as_array().unwrap().len(), rpc::MAX_BATCH);
    assert_eq!(v[99]["id"], 99);

    // A single answer over the cap: the error, with the call's id.
    let too_big = rpc::MAX_RESPONSE + 1;
    let req = json!({"jsonrpc":"2.0","method":"test.big","params":[too_big],"id":"b"});
    s.write_all(format!("{req}\n").as_bytes()).unwrap();
    let v = read_json(&mut r);
    assert_eq!(v["id"], "b");
    assert_eq!(v["error"]["code"], rpc::RESPONSE_TOO_LARGE);

    // Many large calls: the answer stops at the cap; the calls after the one that did not
    // fit are not run.
    ext.big_calls.store(0, Ordering::SeqCst);
    let mib = 1024 * 1024;
    s.write_all(&batch_line(rpc::MAX_BATCH, "test.big", json!([mib])))
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.len() <= rpc::MAX_RESPONSE + 1, "{} bytes", line.len());
    let v: Value = serde_json::from_str(&line).unwrap();
    let out = v.as_array().unwrap();
    assert_eq!(out.len(), rpc::MAX_BATCH, "one response per call");
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o["id"], i);
    }
    assert_eq!(out[2]["result"].as_str().unwrap().len(), mib);
    assert_eq!(out[3]["error"]["code"], rpc::RESPONSE_TOO_LARGE);
    let msg = out[3]["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("does not fit") && msg.contains("4194304 bytes"),
        "{msg}"
    );
    assert_eq!(out[99]["error"]["code"], rpc::RESPONSE_TOO_LARGE);
    let msg = out[99]["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("not run"), "{msg}");
    assert_eq!(ext.big_calls.load(Ordering::SeqCst), 4);

    // Still the same connection.
    s.write_all(PING).unwrap();
    assert_eq!(read_json(&mut r)["id"], 1);
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn a_client_that_does_not_read_its_answer_is_closed() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let (server, _ext) = slow_server(&rt, &path, EVICT_GRACE, Duration::from_millis(300));
    let (mut s, _r) = connect(&path);
    // Far more than the socket buffers hold, and never read.
    let req = json!({"jsonrpc":"2.0","method":"test.big","params":[3 * 1024 * 1024],"id":1});
    s.write_all(format!("{req}\n").as_bytes()).unwrap();
    wait_until("the slow reader to be closed", || {
        server.shared.clients().open.is_empty()
    });
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

/// A server with its own event bus and the given eviction grace, write and idle timeouts.
fn events_server(
    rt: &Runtime,
    path: &Path,
    (grace, write_timeout, idle): (Duration, Duration, Duration),
) -> (CtlServer, EventBus) {
    let bus = EventBus::new();
    let server = spawn_inner(
        path,
        rt.transport(),
        None,
        bus.clone(),
        (grace, write_timeout, idle),
        Protocol::JsonRpc,
    )
    .unwrap();
    (server, bus)
}

fn subscribe(path: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let (mut s, mut r) = connect(path);
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"events.subscribe\",\"id\":1}\n")
        .unwrap();
    assert_eq!(read_json(&mut r)["result"]["subscribed"], true);
    (s, r)
}

#[test]
fn subscribers_are_not_closed_for_silence() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let idle = Duration::from_millis(300);
    let (server, bus) = events_server(&rt, &path, (EVICT_GRACE, WRITE_TIMEOUT, idle));
    // A silent client without a subscription is closed after the idle timeout.
    let (mut s, mut r) = connect(&path);
    s.write_all(PING).unwrap();
    assert_eq!(read_json(&mut r)["id"], 1);
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0, "idle client closed");
    // Subscribers stay, silent for several idle timeouts.
    let mut subs: Vec<_> = (0..3).map(|_| subscribe(&path)).collect();
    std::thread::sleep(idle * 4);
    assert_eq!(bus.publish("tick", json!({})), 3);
    for (_, r) in &mut subs {
        assert_eq!(read_json(r)["params"]["name"], "tick");
    }
    // Unsubscribed, a client is subject to the idle timeout again.
    let (s0, r0) = &mut subs[0];
    s0.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"events.unsubscribe\",\"id\":2}\n")
        .unwrap();
    assert_eq!(read_json(r0)["result"]["subscribed"], false);
    assert_eq!(r0.read_line(&mut rest).unwrap(), 0, "closed once idle");
    server.shutdown();
    assert_eq!(bus.subscribers(), 0, "shutdown ends the subscriptions");
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn subscribers_are_not_evicted() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    // Even with no grace at all.
    let (server, bus) = events_server(&rt, &path, (Duration::ZERO, WRITE_TIMEOUT, IDLE_TIMEOUT));
    let mut subs: Vec<_> = (0..MAX_CLIENTS).map(|_| subscribe(&path)).collect();
    let (_s, mut r) = connect(&path);
    assert_eq!(read_json(&mut r)["error"]["code"], rpc::SERVER_BUSY);
    assert_eq!(bus.publish("tick", json!({})), MAX_CLIENTS);
    for (_, r) in &mut subs {
        assert_eq!(read_json(r)["params"]["name"], "tick");
    }
    // One unsubscribes: it is an idle client again, evicted for a newcomer (which may be
    // turned away until its answer is written and it counts as idle).
    let (s0, r0) = &mut subs[0];
    s0.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"events.unsubscribe\",\"id\":2}\n")
        .unwrap();
    assert_eq!(read_json(r0)["result"]["subscribed"], false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (mut s, mut r) = connect(&path);
        let _ = s.write_all(PING);
        let v = read_json(&mut r);
        if v["id"] == 1 {
            break;
        }
        assert_eq!(v["error"]["code"], rpc::SERVER_BUSY, "{v}");
        assert!(
            Instant::now() < deadline,
            "the unsubscribed client was never evicted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let v = read_json(r0);
    assert_eq!(v["error"]["code"], rpc::SERVER_BUSY, "{v}");
    assert_eq!(bus.publish("tick", json!({})), MAX_CLIENTS - 1);
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}

#[test]
fn a_subscriber_that_takes_nothing_for_the_write_timeout_is_closed() {
    let rt = runtime();
    let dir = temp_dir();
    let path = dir.join("ctl.sock");
    let timeouts = (EVICT_GRACE, Duration::from_millis(300), IDLE_TIMEOUT);
    let (server, bus) = events_server(&rt, &path, timeouts);
    let (_stuck, _r) = subscribe(&path);
    let pad = "x".repeat(4096);
    // Until its socket buffer is full and the pusher's write times out; publish never waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus.subscribers() > 0 {
        let t = Instant::now();
        bus.publish("flood", json!({ "pad": pad }));
        assert!(t.elapsed() < Duration::from_secs(1), "publish blocked");
        assert!(
            Instant::now() < deadline,
            "the stuck subscriber was never closed"
        );
    }
    wait_until("the stuck client to go", || {
        server.shared.clients().open.is_empty()
    });
    server.shutdown();
    fs::remove_dir_all(&dir).unwrap();
    rt.shutdown();
}
