//! The one copy of the helpers sipwire's integration tests share.
//!
//! A dev-dependency only (`publish = false`); no library crate depends on it normally.
//! Everything here panics with a message instead of returning errors: a failed helper is a
//! failed test. Every wait is on a condition with a deadline ([`wait_for`], [`Deadline`]).
//!
//! - [`wait`]: [`WAIT`], [`Deadline`], [`wait_for`].
//! - [`fd`]: the fd limit and the open-fd count (from `sipwire_sys`).
//! - [`process`]: child processes under a guard, ports, "wait until it listens", temp dirs,
//!   [`require_program`](process::require_program).
//! - [`daemon`]: a `sipwired` child process (the caller gives the binary path).
//! - [`ctl`]: a JSON-RPC client for a control socket.
//! - [`sip`]: SIP text builders, header readers, and a SIP peer framed by the real decoder.
//! - [`netns`]: a private two-host network (network namespaces, veth) for fault tests.
//! - [`sipp`]: SIPp UAS/UAC runs and their final screen.
//! - [`haproxy`]: HAProxy in front of sipwired instances, its status and session log, a
//!   background SIPp UAC and a UAS that keeps every request.
//! - `runtime` (feature `runtime`): an in-process runtime with a recording handler.
//! - [`prelude`]: the everyday items in one glob import.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

pub mod ctl;
pub mod daemon;
pub mod fd;
pub mod haproxy;
pub mod netns;
pub mod process;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sip;
pub mod sipp;
pub mod wait;

/// The everyday items, for `use sipwire_testkit::prelude::*;` in a test file.
pub mod prelude {
    pub use crate::ctl::Ctl;
    pub use crate::daemon::{counter, Daemon};
    pub use crate::fd::{fd_limit, open_fd_count, raise_fd_limit};
    pub use crate::process::{
        connect_from, free_port, is_listening, require_program, Proc, TempDir,
    };
    #[cfg(feature = "runtime")]
    pub use crate::runtime::*;
    pub use crate::sip::*;
    pub use crate::wait::{wait_for, Deadline, WAIT};
}

pub use daemon::{counter, Daemon};
pub use fd::{fd_limit, open_fd_count, raise_fd_limit};
pub use process::{free_port, is_listening, require_program, Proc, TempDir};
pub use wait::{wait_for, Deadline, WAIT};
