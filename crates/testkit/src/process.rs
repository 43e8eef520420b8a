//! Child processes under a guard that always stops them, ports, "wait until a child program
//! listens", temp dirs and `require_program`.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::wait::{wait_for, Deadline, WAIT};

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name has `name`, the process id and a counter.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "sipwire-test-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released: another process could take it in
/// between, which is unlikely enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking connection to `dst` from the fixed source `src` (`SO_REUSEADDR` and
/// `SO_REUSEPORT`, so several connections may share one source port, as a peer that always
/// connects from its listening port does). Reads time out after [`WAIT`].
pub fn connect_from(src: SocketAddr, dst: SocketAddr) -> TcpStream {
    let s = sipwire_sys::connect_from(Some(src), dst, true)
        .unwrap_or_else(|e| panic!("connect {src} -> {dst}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// True if something listens on TCP `port` (any address), read from /proc/net/tcp{,6}
/// so that checking does not open a connection to the program being waited for.
pub fn is_listening(port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        fs::read_to_string(f).is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&want) && cols[3] == "0A"
            })
        })
    })
}

/// Panics with a hint when an external program the tests drive is missing.
pub fn require_program(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run `make test`, which installs the Debian package `{package}`"
    );
}

/// A child process that is stopped (SIGTERM, then SIGKILL of its whole process group) when
/// the guard drops, also when a test fails.
#[derive(Debug)]
pub struct Proc {
    /// What the child is, for messages.
    pub name: String,
    /// The child; `None` once it was reaped.
    pub child: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` in a process group of its own (so helpers it forks are stopped too).
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.as_ref().unwrap().id()).unwrap())
    }

    /// Sends `sig` to the process only.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(self.pid(), sig);
    }

    /// Waits for the exit up to `timeout`; `None` if it is still running (or was reaped).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        let deadline = Deadline::after(timeout);
        while status.is_none() && !deadline.passed() {
            status = child.try_wait().unwrap();
            if status.is_none() {
                std::thread::sleep(Duration::from_millis(10).min(deadline.left()));
            }
        }
        status.or_else(|| child.try_wait().unwrap())
    }

    /// Waits until the child listens on TCP `port`; panics (with `log`'s content) if it
    /// exits first or does not listen within [`WAIT`].
    pub fn wait_listening(&mut self, port: u16, log: &Path) {
        let what = format!("{} to listen on port {port}", self.name);
        wait_for(&what, WAIT, || {
            if let Some(st) = self.wait_timeout(Duration::ZERO) {
                panic!(
                    "{} exited ({st}): {}",
                    self.name,
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            is_listening(port)
        });
    }

    /// SIGTERM, wait, then SIGKILL the group; returns the exit status if it exited by itself.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pid = self.child.as_ref().map(|_| self.pid())?;
        let _ = kill(pid, Signal::SIGTERM);
        let st = self.wait_timeout(Duration::from_secs(5));
        // Whatever is left of the group (Kamailio's workers, say).
        let _ = killpg(pid, Signal::SIGKILL);
        if st.is_none() {
            if let Some(c) = self.child.as_mut() {
                let _ = c.wait();
            }
        }
        self.child = None;
        st
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}
