//! The load tool's own test helpers: run the binary with a deadline, an in-process UAS, a
//! flat-JSON reader and two fake relays (the shared ones come from `sipwire-testkit`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use sipwire_frame::SipMessage;
use sipwire_load::{Uas, UasConfig};
use sipwire_testkit::sip::for_each_frame;
use sipwire_testkit::Proc;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with a deadline (killed and failed after it).
pub fn run_bin(args: &[&str], deadline: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipwire-load"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn("sipwire-load", &mut cmd);
    let child = proc.child.as_mut().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let Some(status) = proc.wait_timeout(deadline) else {
        proc.stop();
        panic!(
            "sipwire-load {args:?} still running after {deadline:?}; stderr: {}",
            err_t.join().unwrap()
        );
    };
    proc.child = None;
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

pub fn uas(drop_every: u64, dup_every: u64) -> Uas {
    Uas::start(&UasConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
        drop_every,
        dup_every,
    })
    .unwrap()
}

/// The value of `"key":` in a flat JSON object.
pub fn json_num(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].parse().unwrap()
}

/// A fake stateless relay: routes each client connection by the
/// Request-URI host:port of its first request and forwards bytes both ways
/// unchanged (so the top Via stays the client's).
pub fn fake_relay() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                let mut first = vec![0u8; 65536];
                let n = c.read(&mut first).unwrap_or(0);
                let text = String::from_utf8_lossy(&first[..n]).to_string();
                let Some(uri) = text.split(' ').nth(1) else {
                    return;
                };
                let Some(hostport) = uri.split('@').nth(1) else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(hostport) else {
                    return;
                };
                up.write_all(&first[..n]).unwrap();
                let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                thread::spawn(move || {
                    let _ = std::io::copy(&mut up2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut c, &mut up);
                let _ = up.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// A fake stateless relay that edits Vias as a real one does: it routes by
/// the Request-URI, puts its own Via on top of each request and takes the
/// top Via (its own) off each response.
pub fn via_editing_relay() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            thread::spawn(move || {
                let mut up: Option<TcpStream> = None;
                let mut n = 0u64;
                let down = c.try_clone().unwrap();
                for_each_frame(c, |req| {
                    let msg = SipMessage::parse(req).unwrap();
                    let up = up.get_or_insert_with(|| {
                        let text = String::from_utf8_lossy(req);
                        let uri = text.split(' ').nth(1).unwrap();
                        let s = TcpStream::connect(uri.split('@').nth(1).unwrap()).unwrap();
                        let (back, mut down) = (s.try_clone().unwrap(), down.try_clone().unwrap());
                        thread::spawn(move || {
                            for_each_frame(back, |resp| {
                                let m = SipMessage::parse(resp).unwrap();
                                let top = m.top_via().unwrap().unwrap();
                                assert!(top.branch.unwrap().starts_with(b"z9hG4bKrelay"));
                                let mut out = resp[..top.removal.start].to_vec();
                                out.extend_from_slice(&resp[top.removal.end..]);
                                let _ = down.write_all(&out);
                            })
                        });
                        s
                    });
                    n += 1;
                    let hs = msg.headers_start();
                    let mut out = req[..hs].to_vec();
                    out.extend_from_slice(
                        format!("Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKrelay{n}\r\n")
                            .as_bytes(),
                    );
                    out.extend_from_slice(&req[hs..]);
                    let _ = up.write_all(&out);
                });
            });
        }
    });
    addr
}
