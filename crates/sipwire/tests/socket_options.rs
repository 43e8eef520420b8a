//! Each socket option set through the config text, observed on the real socket: the
//! listening fd, an accepted fd, or a fd the runtime connected. Every test here would fail if
//! the runtime ignored the option it sets.
//!
//! How the fds are reached: an open connection's through `Transport::socket_option` (and
//! `Transport::conn_info` for keepalive), a listener's by its address — the listening socket
//! in `/proc/self/fd` whose `getsockname` is the runtime's listen address (a runtime's
//! listeners are owned by TCP main, which exposes no fd). The tests in this file run one at
//! a time (`serial`): the thread count of `tcp_children` is read from `/proc/self/task`, where
//! another test's runtime would add readers.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sipwire::config::{Config, ParseOptions};
use sipwire::{ConId, Runtime};
use sipwire_sys as sys;
use sipwire_testkit::prelude::*;

/// One test of this file at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A runtime on 127.0.0.1 (OS-chosen port), one reader unless `extra` says otherwise, with
/// the config lines `extra`.
fn runtime(extra: &str) -> (Runtime, Arc<Recorder>, SocketAddr) {
    let text = format!("listen=tcp:127.0.0.1:0\ntcp_children=1\n{extra}\n");
    let (cfg, _) = Config::from_str_with("socket-options.cfg", &text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    start_with(cfg)
}

/// The listening socket bound to `addr`, found among this process's fds.
fn listener_fd(addr: SocketAddr) -> RawFd {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if is_socket
            && sys::local_addr(fd).is_ok_and(|a| a == addr)
            && sys::get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).is_ok_and(|v| v == 1)
        {
            found.push(fd);
        }
    }
    assert_eq!(found.len(), 1, "listening sockets on {addr}: {found:?}");
    found[0]
}

/// An option of the runtime's listener on `addr`.
fn listener_option(addr: SocketAddr, level: i32, name: i32) -> i32 {
    sys::get_int_opt(listener_fd(addr), level, name).unwrap()
}

/// A client connection whose first message reached the handler: the client and the conid of
/// the runtime's accepted socket.
fn accepted(rec: &Recorder, addr: SocketAddr) -> (TcpStream, ConId) {
    let before = rec.msg_count();
    let mut c = connect(addr);
    send(&mut c, &options(1, ""));
    let got = rec.wait_msgs(before + 1);
    (c, got[before].conid)
}

/// A plain listener for the runtime to connect to, and the accepted side of the runtime's
/// connection once `expect` bytes arrived on it.
struct Peer {
    l: TcpListener,
}

impl Peer {
    fn new() -> Peer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Peer { l }
    }

    fn addr(&self) -> SocketAddr {
        self.l.local_addr().unwrap()
    }

    fn accept_and_read(&self, expect: usize) -> TcpStream {
        let d = Deadline::after(WAIT);
        let mut s = loop {
            match self.l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(!d.passed(), "the runtime did not connect");
                    sys::wait_fd(self.l.as_raw_fd(), sys::WaitFor::Readable, d.left()).unwrap();
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(d.left().max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = vec![0u8; expect];
        s.read_exact(&mut buf).unwrap();
        s
    }
}

fn sysctl(path: &str) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Threads of this process whose name starts with `prefix` (names are cut at 15 bytes).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

#[test]
fn tcp_children_starts_that_many_readers() {
    let _serial = serial();
    // The default is the CPU count; 3 differs from it on the 2-CPU test machines, and the
    // thread names say which readers served.
    let (rt, rec, addr) = runtime("tcp_children=3");
    let t = rt.transport();
    assert_eq!(t.reader_count(), 3);
    // Readers name themselves as they start ("sipwire-reader-N", cut to "sipwire-reader-").
    wait_for("3 reader threads", WAIT, || {
        threads_named("sipwire-reader-") >= 3
    });
    // Three connections at once: each goes to the least busy reader, so each to another.
    let mut cs: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    wait_for("3 connections", WAIT, || t.connection_count() == 3);
    for (i, c) in cs.iter_mut().enumerate() {
        send(c, &options(i, ""));
    }
    let mut served: Vec<String> = rec.wait_msgs(3).into_iter().map(|g| g.thread).collect();
    served.sort();
    assert_eq!(
        served,
        ["sipwire-reader-0", "sipwire-reader-1", "sipwire-reader-2"]
    );
    assert_eq!(threads_named("sipwire-reader-"), 3);
    drop(rt);
    assert_eq!(
        threads_named("sipwire-reader-"),
        0,
        "readers joined at shutdown"
    );
}

#[test]
fn tcp_clone_rcvbuf_0_lends_the_read_buffer_and_1_copies() {
    let _serial = serial();
    for (value, owned) in [(0, false), (1, true)] {
        let (_rt, rec, addr) = runtime(&format!("tcp_clone_rcvbuf={value}"));
        let mut c = connect(addr);
        send(&mut c, &options(1, "body"));
        let got = rec.wait_msgs(1);
        assert_eq!(got[0].bytes, options(1, "body"));
        assert_eq!(got[0].owned, owned, "tcp_clone_rcvbuf={value}");
    }
}

#[test]
fn tcp_defer_accept_is_set_on_the_listening_socket() {
    let _serial = serial();
    let (_rt, rec, addr) = runtime("tcp_defer_accept=5");
    // The kernel keeps the timeout as SYN-ACK retransmissions and reads it back rounded up
    // to their schedule (5 s -> 7 s); off reads 0.
    let v = listener_option(addr, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT);
    assert!(v >= 5, "TCP_DEFER_ACCEPT = {v}");
    let (_c, _) = accepted(&rec, addr);
    let (_rt, _, addr) = runtime("");
    assert_eq!(
        listener_option(addr, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
        0
    );
}

#[test]
fn tcp_linger2_is_set_on_accepted_sockets() {
    let _serial = serial();
    // Unset, TCP_LINGER2 reads back tcp_fin_timeout: pick another value.
    let fin = sysctl("/proc/sys/net/ipv4/tcp_fin_timeout");
    let want = if fin == 7 { 8 } else { 7 };
    let (rt, rec, addr) = runtime(&format!("tcp_linger2={want}"));
    let (_c, id) = accepted(&rec, addr);
    let t = rt.transport();
    assert_eq!(
        t.socket_option(id, libc::IPPROTO_TCP, libc::TCP_LINGER2),
        Some(want)
    );
    let (rt, rec, addr) = runtime("");
    let (_c, id) = accepted(&rec, addr);
    assert_eq!(
        rt.transport()
            .socket_option(id, libc::IPPROTO_TCP, libc::TCP_LINGER2),
        Some(fin)
    );
}

#[test]
fn tcp_keepidle_turns_keepalive_on_even_with_tcp_keepalive_no() {
    let _serial = serial();
    let (rt, rec, addr) = runtime("tcp_keepalive=no\ntcp_keepidle=30");
    let t = rt.transport();
    let (_c, id) = accepted(&rec, addr);
    let info = t.conn_info(id).unwrap();
    assert!(info.keepalive, "SO_KEEPALIVE on the accepted socket");
    assert_eq!(info.keepalive_params.0, 30, "TCP_KEEPIDLE");
    // The same on a socket the runtime connects.
    let peer = Peer::new();
    let msg = options(2, "");
    let out = t.send(peer.addr(), &msg).unwrap();
    let _s = peer.accept_and_read(msg.len());
    let info = t.conn_info(out).unwrap();
    assert!(info.outbound && info.keepalive);
    assert_eq!(info.keepalive_params.0, 30);
    // Without any of the timings, `tcp_keepalive=no` is off.
    let (rt, rec, addr) = runtime("tcp_keepalive=no");
    let (_c, id) = accepted(&rec, addr);
    assert!(!rt.transport().conn_info(id).unwrap().keepalive);
}

#[test]
fn tcp_reuse_port_is_set_on_the_listening_socket() {
    let _serial = serial();
    let (_rt, _, addr) = runtime("tcp_reuse_port=yes");
    assert_eq!(
        listener_option(addr, libc::SOL_SOCKET, libc::SO_REUSEPORT),
        1
    );
    let (_rt, _, addr) = runtime("tcp_reuse_port=no");
    assert_eq!(
        listener_option(addr, libc::SOL_SOCKET, libc::SO_REUSEPORT),
        0
    );
}

/// `tcp_delayed_ack` cannot be read back: `TCP_QUICKACK` is not a setting the kernel keeps
/// but a mode its ACK logic leaves on its own (set before the handshake, reading it after
/// the connect says 1 either way). What it changes is visible on the wire: set before
/// `connect()`, the handshake's last ACK waits and rides on the first data segment, so the
/// peer receives 2 segments (SYN, data) instead of 3 (SYN, ACK, data). Set after the
/// connect — too late, the ACK is gone — or not at all, it is 3. `tcp_async=no` makes the
/// send write right after the connect completes, in the sending thread; a delayed ACK waits
/// up to 200 ms for data, so a sender descheduled longer than that would see 3: the `yes`
/// case tries three times, which a runtime that ignored the option would fail every time.
#[test]
fn tcp_delayed_ack_makes_the_handshake_ack_ride_on_the_first_data() {
    let _serial = serial();
    let segments = |value: &str| -> u32 {
        let (rt, _, _) = runtime(&format!("tcp_async=no\ntcp_delayed_ack={value}"));
        let peer = Peer::new();
        let msg = options(1, "");
        rt.transport().send(peer.addr(), &msg).unwrap();
        let s = peer.accept_and_read(msg.len());
        sys::tcp_segment_counts(s.as_raw_fd()).unwrap().received
    };
    assert_eq!(segments("no"), 3, "SYN, ACK, data");
    let yes: Vec<u32> = (0..3)
        .map(|_| segments("yes"))
        .take_while(|&n| n != 2)
        .collect();
    assert!(
        yes.len() < 3,
        "tcp_delayed_ack=yes: the peer got {yes:?} segments, never SYN + data alone"
    );
}

#[test]
fn tcp_syncnt_is_set_on_listeners_and_outbound_sockets() {
    let _serial = serial();
    // Unset, TCP_SYNCNT reads back tcp_syn_retries: pick another value.
    let os = sysctl("/proc/sys/net/ipv4/tcp_syn_retries");
    let want = if os == 3 { 4 } else { 3 };
    let (rt, _, addr) = runtime(&format!("tcp_syncnt={want}"));
    assert_eq!(
        listener_option(addr, libc::IPPROTO_TCP, libc::TCP_SYNCNT),
        want
    );
    let t = rt.transport();
    let peer = Peer::new();
    let msg = options(1, "");
    let out = t.send(peer.addr(), &msg).unwrap();
    let _s = peer.accept_and_read(msg.len());
    assert_eq!(
        t.socket_option(out, libc::IPPROTO_TCP, libc::TCP_SYNCNT),
        Some(want)
    );
    let (rt, _, addr) = runtime("");
    assert_eq!(
        listener_option(addr, libc::IPPROTO_TCP, libc::TCP_SYNCNT),
        os
    );
    let peer = Peer::new();
    let out = rt.transport().send(peer.addr(), &msg).unwrap();
    let _s = peer.accept_and_read(msg.len());
    assert_eq!(
        rt.transport()
            .socket_option(out, libc::IPPROTO_TCP, libc::TCP_SYNCNT),
        Some(os)
    );
}

/// `listen`: with no TCP listen line, every interface of both families on `tcp_port` — an
/// IPv4 and an IPv6 wildcard socket — when the host has IPv6.
#[test]
fn no_listen_line_listens_on_every_ipv4_and_ipv6_interface() {
    let _serial = serial();
    let port = free_port();
    let text = format!("tcp_port={port}\ntcp_children=1\n");
    let (cfg, _) = Config::from_str_with("socket-options.cfg", &text, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let (rt, rec, _) = start_with(cfg);
    let t = rt.transport();
    let v4: SocketAddr = format!("0.0.0.0:{port}").parse().unwrap();
    let v6: SocketAddr = format!("[::]:{port}").parse().unwrap();
    let host_has_ipv6 = TcpListener::bind("[::1]:0").is_ok();
    if host_has_ipv6 {
        assert_eq!(t.listen_addrs(), [v4, v6]);
    } else {
        assert_eq!(t.listen_addrs(), [v4]);
    }
    let mut c = connect(format!("127.0.0.1:{port}").parse().unwrap());
    send(&mut c, &options(1, ""));
    let got = rec.wait_msgs(1);
    assert!(
        got[0].peer.is_ipv4(),
        "an IPv4 peer stays IPv4: {}",
        got[0].peer
    );
    if host_has_ipv6 {
        // A separate IPv6-only socket: the IPv4 one is not dual-stack.
        assert_eq!(
            listener_option(v6, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
            1
        );
        let mut c = connect(format!("[::1]:{port}").parse().unwrap());
        send(&mut c, &options(2, ""));
        let got = rec.wait_msgs(2);
        assert_eq!(got[1].peer.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(got[1].local, format!("[::1]:{port}").parse().unwrap());
    }
}

/// This process's epoll instances (`anon_inode:[eventpoll]` in `/proc/self/fd`).
fn epoll_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy() == "anon_inode:[eventpoll]")
        .count()
}

#[test]
fn tcp_poll_method_decides_which_kernel_interface_the_threads_wait_in() {
    let _serial = serial();
    let before = epoll_fds();
    // epoll: TCP main and each of the 2 readers own an epoll instance.
    for method in ["epoll_lt", "epoll_et"] {
        let (rt, rec, addr) = runtime(&format!("tcp_poll_method={method}\ntcp_children=2"));
        assert_eq!(epoll_fds() - before, 3, "{method}");
        let mut c = connect(addr);
        send(&mut c, &options(1, ""));
        rec.wait_msgs(1);
        drop(rt);
    }
    // poll and select need none: a runtime that ignored the option would create them.
    for method in ["poll", "select"] {
        let (rt, rec, addr) = runtime(&format!("tcp_poll_method={method}\ntcp_children=2"));
        assert_eq!(epoll_fds(), before, "{method}");
        let mut c = connect(addr);
        send(&mut c, &options(1, ""));
        rec.wait_msgs(1);
        drop(rt);
    }
}
