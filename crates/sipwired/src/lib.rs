//! `sipwired` as a library: the stateless SIP relay and the pieces of the daemon, so benches
//! and embedders can run the relay in-process. The binary (`main.rs`) is a thin wrapper.
//!
//! - [`cli`]: arguments and exit codes.
//! - [`control`]: the Kamailio control transports (BINRPC, jsonrpcs FIFO and datagram).
//! - [`daemon`]: configuration, start, the control socket (crate `sipwire_control`),
//!   signals, shutdown.
//! - [`drain`]: stopping behind a balancer (`--drain-timeout`): stop accepting, wait for the
//!   clients' connections to close, then stop.
//! - [`relay`]: the relay rules as a pure function (message in, action out).
//! - [`handler`]: the runtime's `Handler` calling the relay.
//!
//! Usage and the relay's rules: `docs/sipwired.md`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod control;
pub mod daemon;
pub mod drain;
pub mod handler;
pub mod relay;

/// The embedded default configuration (`--print-default-config`).
pub const DEFAULT_CONFIG: &str = include_str!("default.cfg");
