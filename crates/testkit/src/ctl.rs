//! A JSON-RPC client for a control socket (sipwired's `--ctl`, `sipwire-control`): one request
//! per line out, one answer per line in, every read within [`WAIT`].

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::wait::{Deadline, WAIT};

/// A control connection.
#[derive(Debug)]
pub struct Ctl {
    s: UnixStream,
    r: BufReader<UnixStream>,
}

impl Ctl {
    /// Connects to the control socket at `path`.
    pub fn connect(path: &Path) -> Ctl {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        Ctl { s, r }
    }

    /// The next line as JSON; panics on EOF or when nothing comes within [`WAIT`].
    pub fn line(&mut self) -> Value {
        let mut l = String::new();
        let n = self
            .r
            .read_line(&mut l)
            .expect("no line within the deadline");
        assert!(n > 0, "the control socket closed");
        serde_json::from_str(&l).unwrap()
    }

    /// A call's answer, whole (the next line must be it).
    pub fn answer(&mut self, method: &str, params: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        self.s.write_all(format!("{req}\n").as_bytes()).unwrap();
        let v = self.line();
        assert_eq!(v["id"], 1, "{method}: expected its answer, got {v}");
        v
    }

    /// A call's result; panics on an error answer.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let v = self.answer(method, params);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    /// A counter of `stats.get`.
    pub fn counter(&mut self, name: &str) -> u64 {
        self.call("stats.get", json!([name]))[name]
            .as_u64()
            .unwrap()
    }

    /// The `tcp.list` row (sipwire's view: `peer`, `local`, `source`, ...) of the connection
    /// whose peer is `peer`, once it is listed.
    pub fn row_of(&mut self, peer: SocketAddr) -> Value {
        let me = peer.to_string();
        let deadline = Deadline::after(WAIT);
        loop {
            let list = self.call("tcp.list", json!([]));
            if let Some(c) = list.as_array().unwrap().iter().find(|c| c["peer"] == me) {
                return c.clone();
            }
            assert!(!deadline.passed(), "{me} never listed: {list}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The conid of the connection whose peer is `peer`, once it is listed.
    pub fn conid_of(&mut self, peer: SocketAddr) -> u64 {
        self.row_of(peer)["id"].as_u64().unwrap()
    }

    /// The `core.tcp_list` row (Kamailio's fields: `src_ip`, `src_port`, `dst_ip`, ...) of
    /// connection `id`.
    pub fn kamailio_row(&mut self, id: u64) -> Value {
        let list = self.call("core.tcp_list", json!([]));
        let row = list.as_array().unwrap().iter().find(|c| c["id"] == id);
        row.unwrap_or_else(|| panic!("conid {id} not in {list}"))
            .clone()
    }

    /// Waits until connection `id` is out of the runtime's table.
    pub fn wait_gone(&mut self, id: u64) {
        let deadline = Deadline::after(WAIT);
        while self.call("tcp.conid_state", json!([id]))["state_name"] != "gone" {
            assert!(!deadline.passed(), "conid {id} never closed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
