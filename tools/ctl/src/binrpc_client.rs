//! Calls over BINRPC, as kamcmd makes them (`-s unixs:PATH` or `-s unixd:PATH`): to sipwired's
//! BINRPC sockets or to a Kamailio's `ctl` socket. One request packet out, one reply or fault
//! packet in, whose cookie must be the request's.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sipwire_control::binrpc::{self, Packet, PacketType, Value};

use crate::client::CallError;

/// Largest reply read (kamcmd's own limit is 128 KiB; sipwired's is 4 MiB).
const MAX_REPLY: usize = 4 * 1024 * 1024;

/// A cookie that differs from call to call (kamcmd uses a random one).
fn cookie() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    t ^ std::process::id().rotate_left(16)
}

/// What came back: a reply's records, or a fault's.
#[derive(Debug)]
pub struct Answer {
    /// Reply or fault.
    pub kind: PacketType,
    /// The records of its body.
    pub records: Vec<Value>,
}

/// Calls `method` over a unix stream socket.
pub fn call_stream(
    path: &Path,
    method: &str,
    params: &[Value],
    timeout: Duration,
) -> Result<Answer, CallError> {
    let p = path.to_path_buf();
    let io_err = |e: io::Error| CallError::Io(p.clone(), e);
    let mut s = UnixStream::connect(path).map_err(|e| CallError::Connect(p.clone(), e))?;
    s.set_read_timeout(Some(timeout)).map_err(io_err)?;
    s.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let c = cookie();
    let req = request(&p, c, method, params)?;
    s.write_all(&req).map_err(io_err)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match binrpc::parse_packet(&buf, MAX_REPLY) {
            Ok(Some((pkt, _))) => return answer(&p, c, pkt),
            Ok(None) => {}
            Err(e) => return Err(CallError::BadAnswer(p, e.to_string())),
        }
        let n = s.read(&mut chunk).map_err(io_err)?;
        if n == 0 {
            return Err(CallError::NoAnswer(p));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Calls `method` over a unix datagram socket, from a reply socket of our own in the temp
/// directory (removed afterwards).
pub fn call_dgram(
    path: &Path,
    method: &str,
    params: &[Value],
    timeout: Duration,
) -> Result<Answer, CallError> {
    let p = path.to_path_buf();
    let c = cookie();
    let me: PathBuf =
        std::env::temp_dir().join(format!("sipwire-ctl_{}_{c:08x}", std::process::id()));
    let s = UnixDatagram::bind(&me).map_err(|e| CallError::Connect(me.clone(), e))?;
    let result = (|| {
        let io_err = |e: io::Error| CallError::Io(p.clone(), e);
        s.set_read_timeout(Some(timeout)).map_err(io_err)?;
        let req = request(&p, c, method, params)?;
        s.send_to(&req, path)
            .map_err(|e| CallError::Connect(p.clone(), e))?;
        let mut buf = vec![0u8; 256 * 1024];
        let n = s.recv(&mut buf).map_err(io_err)?;
        match binrpc::parse_packet(buf.get(..n).unwrap_or_default(), MAX_REPLY) {
            Ok(Some((pkt, _))) => answer(&p, c, pkt),
            Ok(None) => Err(CallError::BadAnswer(p.clone(), "truncated reply".into())),
            Err(e) => Err(CallError::BadAnswer(p.clone(), e.to_string())),
        }
    })();
    let _ = std::fs::remove_file(&me);
    result
}

fn request(p: &Path, c: u32, method: &str, params: &[Value]) -> Result<Vec<u8>, CallError> {
    binrpc::request_packet(c, method, params)
        .map_err(|e| CallError::BadAnswer(p.to_path_buf(), format!("cannot encode: {e}")))
}

fn answer(p: &Path, c: u32, pkt: Packet) -> Result<Answer, CallError> {
    if pkt.cookie != c {
        return Err(CallError::BadAnswer(
            p.to_path_buf(),
            format!("reply cookie {:#x} is not the request's {c:#x}", pkt.cookie),
        ));
    }
    if pkt.kind == PacketType::Request {
        return Err(CallError::BadAnswer(
            p.to_path_buf(),
            "a request, not a reply".into(),
        ));
    }
    let records = pkt
        .records()
        .map_err(|e| CallError::BadAnswer(p.to_path_buf(), e.to_string()))?;
    Ok(Answer {
        kind: pkt.kind,
        records,
    })
}
