//! sipwire: a SIP transport runtime with Kamailio's and OpenSIPS's TCP layer semantics —
//! accept, read, frame, write, time out and manage SIP connections over TCP (SCTP is planned,
//! not built), configured with the same option names, defaults and units.
//!
//! Start a [`Runtime`] with a [`config::Config`] and a [`Handler`] (the "routing script"); use
//! the [`Transport`] handle for Kamailio's tcpops functions and counters. Threads, connection
//! ownership and the life of a message are described in `docs/architecture.md`.
//!
//! Modules: [`config`] (every transport option, the config-file parser and runtime changes);
//! the rest is re-exported here.
#![forbid(unsafe_code)]

pub use sipwire_config as config;
mod close_counts;
mod conn;
mod conn_table;
pub mod counters;
mod fdcache;
mod handler;
mod handoff;
mod inbound;
mod latency;
mod lifecycle;
mod ratelimit;
mod reader;
mod runtime;
mod sctp;
mod send;
mod shared;
mod sockopt;
mod stats;
mod tcp_main;
mod timer;
mod transport;
mod wq;

pub use conn::{CloseReason, ConId, ConnState, Proto, ProxyAddrs, ProxyInfo};
pub use handler::{Ctx, Event, Handler, HandlerError, Message, MessageKind};
pub use latency::{Histogram, HistogramSnapshot, CONNECT_TIME_BOUNDS_NS, RELAY_TIME_BOUNDS_NS};
pub use runtime::{Runtime, StartError};
pub use send::{Delivery, QueueLimit, SendError, Sent, Target};
/// PROXY v2 TLV views and type values (from sipwire-frame), as [`ProxyInfo`] returns them.
pub use sipwire_frame::proxy::pp2;
pub use sipwire_frame::{ProxySsl, ProxyTlv, ProxyTlvIter, ProxyTlvs};
pub use stats::StatsSnapshot;
pub use transport::{ConnInfo, TcpOpsError, Transport};
