//! The connection to sipwired's control socket: one request line out, one response line in.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

/// sipwired's default control socket: `$XDG_RUNTIME_DIR/sipwired/ctl.sock`, else
/// `/tmp/sipwired-<uid>/ctl.sock` (the same rule as `sipwired --ctl`).
pub fn default_socket_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(&dir).join("sipwired").join("ctl.sock"),
        None => {
            // The owner of /proc/self is this process's user; without /proc, fall back to
            // $USER so the path is at least per user.
            let who = std::fs::metadata("/proc/self")
                .map(|m| m.uid().to_string())
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "unknown".into());
            PathBuf::from(format!("/tmp/sipwired-{who}")).join("ctl.sock")
        }
    }
}

/// Why a call got no answer.
#[derive(Debug)]
pub enum CallError {
    /// The socket could not be reached.
    Connect(PathBuf, io::Error),
    /// Writing the request or reading the answer failed (or timed out).
    Io(PathBuf, io::Error),
    /// The server closed the connection without answering.
    NoAnswer(PathBuf),
    /// The answer is not a JSON-RPC response.
    BadAnswer(PathBuf, String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect(p, e) => {
                write!(f, "cannot connect to control socket {}: {e}", p.display())?;
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) {
                    write!(
                        f,
                        " (is sipwired running? its socket can be given with -s PATH)"
                    )?;
                }
                Ok(())
            }
            CallError::Io(p, e) if is_timeout(e) => {
                write!(f, "no answer from control socket {} in time", p.display())
            }
            CallError::Io(p, e) => write!(f, "control socket {}: {e}", p.display()),
            CallError::NoAnswer(p) => write!(
                f,
                "control socket {} closed the connection without answering",
                p.display()
            ),
            CallError::BadAnswer(p, why) => {
                write!(f, "control socket {} sent a bad answer: {why}", p.display())
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sends `method(params)` and returns the JSON-RPC response object (with `result` or `error`).
pub fn call(
    path: &Path,
    method: &str,
    params: Vec<Value>,
    timeout: Duration,
) -> Result<Value, CallError> {
    watch(path, method, params, timeout).map(|(answer, _)| answer)
}

/// [`call`], keeping the connection open to read what the server pushes after the answer
/// (the notifications of `events.subscribe`).
pub fn watch(
    path: &Path,
    method: &str,
    params: Vec<Value>,
    timeout: Duration,
) -> Result<(Value, Watch), CallError> {
    let io_err = |e| CallError::Io(path.to_path_buf(), e);
    let mut stream =
        UnixStream::connect(path).map_err(|e| CallError::Connect(path.to_path_buf(), e))?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let request = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": 1 });
    let mut line = request.to_string().into_bytes();
    line.push(b'\n');
    stream.write_all(&line).map_err(io_err)?;
    let mut watch = Watch {
        path: path.to_path_buf(),
        reader: BufReader::new(stream),
    };
    let v = watch
        .next()?
        .ok_or_else(|| CallError::NoAnswer(path.to_path_buf()))?;
    if v.get("result").is_none() && v.get("error").is_none() {
        return Err(CallError::BadAnswer(
            path.to_path_buf(),
            format!("neither result nor error in {v}"),
        ));
    }
    Ok((v, watch))
}

/// A connection whose further lines are read one by one.
#[derive(Debug)]
pub struct Watch {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl Watch {
    /// From now on, [`Watch::next`] waits as long as it takes.
    pub fn no_timeout(&mut self) -> Result<(), CallError> {
        self.reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(|e| CallError::Io(self.path.clone(), e))
    }

    /// The next line as JSON, `None` at the end of the connection; blank lines are skipped.
    #[allow(clippy::should_implement_trait, reason = "fallible, not an iterator")]
    pub fn next(&mut self) -> Result<Option<Value>, CallError> {
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|e| CallError::Io(self.path.clone(), e))?;
            if n == 0 {
                return Ok(None);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&line)
                .map(Some)
                .map_err(|e| CallError::BadAnswer(self.path.clone(), e.to_string()));
        }
    }
}
