//! A private two-host network for fault tests: the test binary re-runs one of its own tests
//! inside `unshare -n -m` (a network and mount namespace of its own, with a fresh `/run` so
//! `ip netns add` works and nothing reaches the host), which then adds a peer namespace joined
//! by a veth pair: 198.18.0.1/24 here ↔ 198.18.0.2/24 there (the benchmarking range, existing
//! only inside these namespaces).
//!
//! Needs root, `unshare` (util-linux) and `ip` (iproute2); `make test-deps` installs them.
//! [`relaunch`] returns `None` (the caller skips, with a message) only when not root.

use std::process::{Command, Stdio};

/// The address of this side of the veth pair.
pub const HERE: &str = "198.18.0.1";
/// The address of the peer namespace's side.
pub const PEER: &str = "198.18.0.2";

/// Runs `cmd` with `sh -c`; panics (with its output) if it fails.
pub fn sh(cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(
        out.status.success(),
        "command failed: {cmd}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when running as root (uid 0).
pub fn is_root() -> bool {
    // The effective uid is the second number of /proc/self/status's `Uid:` line.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Re-runs this test binary's ignored test `inner` (exactly) inside a private network and
/// mount namespace, with env `role_var=1` so that the inner run knows where it is. Returns its
/// stdout and stderr, after asserting that it passed; `None`, with a message on stderr, when
/// not root (the caller returns: the test is skipped, not failed).
pub fn relaunch(inner: &str, role_var: &str) -> Option<String> {
    if !is_root() {
        eprintln!("SKIPPED {inner}: needs root to build private network namespaces");
        return None;
    }
    for (prog, pkg) in [("unshare", "util-linux"), ("ip", "iproute2")] {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {prog}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{prog} is missing: run `make test-deps` (Debian package {pkg})"
        );
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs none /run && exec {} --ignored --exact {inner} --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", &script])
        .env(role_var, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "inner test {inner} failed:\n{text}"
    );
    Some(text)
}

/// The peer namespace and its veth link (built inside a [`relaunch`]ed test).
#[derive(Debug)]
pub struct PeerNs {
    /// The namespace's name (`ip netns exec NAME ...`).
    pub name: String,
}

impl PeerNs {
    /// Brings `lo` up here, adds namespace `name`, and joins it with a veth pair:
    /// `sw0` = [`HERE`]/24 here, `sw1` = [`PEER`]/24 there, both up.
    pub fn new(name: &str) -> PeerNs {
        sh("ip link set lo up");
        sh(&format!("ip netns add {name}"));
        sh(&format!(
            "ip link add sw0 type veth peer name sw1 && ip link set sw1 netns {name}"
        ));
        sh(&format!(
            "ip addr add {HERE}/24 dev sw0 && ip link set sw0 up"
        ));
        let ns = PeerNs {
            name: name.to_string(),
        };
        ns.sh(&format!(
            "ip link set lo up; ip addr add {PEER}/24 dev sw1 && ip link set sw1 up"
        ));
        ns
    }

    /// Brings `lo` up here, adds namespace `name` with its `lo` up and no link yet: join the
    /// two with [`PeerNs::veth`], once per path (a multi-homed test makes two).
    pub fn bare(name: &str) -> PeerNs {
        sh("ip link set lo up");
        sh(&format!("ip netns add {name}"));
        let ns = PeerNs {
            name: name.to_string(),
        };
        ns.sh("ip link set lo up");
        ns
    }

    /// Adds a veth pair: `here_dev` with `here_cidr` (such as `10.1.0.1/24`) here, `peer_dev`
    /// with `peer_cidr` in the namespace, both up.
    pub fn veth(&self, here_dev: &str, here_cidr: &str, peer_dev: &str, peer_cidr: &str) {
        sh(&format!(
            "ip link add {here_dev} type veth peer name {peer_dev} && \
             ip link set {peer_dev} netns {}",
            self.name
        ));
        sh(&format!(
            "ip addr add {here_cidr} dev {here_dev} && ip link set {here_dev} up"
        ));
        self.sh(&format!(
            "ip addr add {peer_cidr} dev {peer_dev} && ip link set {peer_dev} up"
        ));
    }

    /// Runs `cmd` with `sh -c` inside the namespace; panics if it fails.
    pub fn sh(&self, cmd: &str) {
        sh(&format!(
            "ip netns exec {} sh -c '{}'",
            self.name,
            cmd.replace('\'', r"'\''")
        ));
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Takes the peer's end of the link (`sw1`) down or up.
    pub fn link(&self, up: bool) {
        self.sh(&format!(
            "ip link set sw1 {}",
            if up { "up" } else { "down" }
        ));
    }
}

impl Drop for PeerNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .status();
    }
}
