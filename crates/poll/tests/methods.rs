#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Method names (`tcp_poll_method`) and method-specific limits.

mod support;

use std::os::fd::AsRawFd;

use sipwire_poll::{Interest, PollError, PollMethod, Poller, Token};
use support::*;

fn assert_lists_supported(msg: &str) {
    for m in PollMethod::supported() {
        assert!(msg.contains(m.name()), "{msg:?} does not list {}", m.name());
    }
}

#[test]
fn unknown_and_unsupported_names_are_errors_listing_supported() {
    let mut bad = vec!["epoll", "sigio_rt", "/dev/poll", "", "epoll-et"];
    if cfg!(target_os = "linux") {
        bad.push("kqueue");
    } else {
        bad.push("epoll_et");
    }
    for name in bad {
        let err = name.parse::<PollMethod>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("{name:?}")), "{msg}");
        assert_lists_supported(&msg);
    }
    assert!(matches!(
        "sigio_rt".parse::<PollMethod>(),
        Err(PollError::Unsupported { .. })
    ));
    assert!(matches!(
        "bogus".parse::<PollMethod>(),
        Err(PollError::Unknown { .. })
    ));
}

#[test]
fn every_supported_method_parses_and_creates_a_poller() {
    for m in PollMethod::supported() {
        assert_eq!(m.name().parse::<PollMethod>().unwrap(), *m);
        assert_eq!(m.name().to_uppercase().parse::<PollMethod>().unwrap(), *m);
        let p = Poller::new(*m).unwrap();
        assert_eq!(p.method(), m.resolve());
        assert_eq!(p.is_edge_triggered(), p.method() == PollMethod::EpollEt);
    }
    for m in PollMethod::ALL {
        if !m.is_supported() {
            let err = Poller::new(m).unwrap_err();
            assert!(matches!(err, PollError::Unsupported { .. }), "{err}");
            assert_lists_supported(&err.to_string());
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn linux_supports_exactly_these() {
    let names: Vec<&str> = PollMethod::supported().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["none", "poll", "epoll_lt", "epoll_et", "select"]);
    // Kamailio's choice on Linux.
    assert_eq!(PollMethod::None.resolve(), PollMethod::EpollLt);
    assert!(!Poller::new(PollMethod::None).unwrap().is_edge_triggered());
}

/// select cannot watch fd >= FD_SETSIZE: registering one is an error (never a write past the
/// fd_set), while poll takes the same fd. Exclusive fd lock: dup2 onto fd 1500 must not
/// replace another test's fd.
#[test]
fn select_refuses_fd_at_or_above_fd_setsize() {
    let _fds = many_fds();
    const HIGH: libc::c_int = 1500;
    if fd_limit() <= HIGH as u64 {
        eprintln!(
            "skipped: RLIMIT_NOFILE {} does not allow fd {HIGH}",
            fd_limit()
        );
        return;
    }
    let (a, _b) = unix_pair();
    let dup_to = |target: libc::c_int| {
        // SAFETY: dup2 onto a number nothing in this process uses (exclusive fd lock, and far
        // above the few fds this binary opens).
        let fd = unsafe { libc::dup2(a.as_raw_fd(), target) };
        assert_eq!(fd, target, "dup2: {}", std::io::Error::last_os_error());
        fd
    };
    let close = |fd: libc::c_int| {
        // SAFETY: `fd` is our own dup, owned by nothing else.
        unsafe { libc::close(fd) };
    };
    let setsize = libc::FD_SETSIZE as libc::c_int;
    let mut select = Poller::new(PollMethod::Select).unwrap();

    for fd in [dup_to(HIGH), dup_to(setsize)] {
        let err = select
            .register(fd, Token(1), Interest::READABLE)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("FD_SETSIZE"), "{err}");
        assert_eq!(
            select.deregister(fd).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        // poll has no such limit.
        let mut poll = Poller::new(PollMethod::Poll).unwrap();
        poll.register(fd, Token(1), Interest::READABLE).unwrap();
        poll.deregister(fd).unwrap();
        close(fd);
    }

    // The highest fd that fits is accepted.
    let fd = dup_to(setsize - 1);
    select.register(fd, Token(1), Interest::READABLE).unwrap();
    select.deregister(fd).unwrap();
    close(fd);
}
