//! Configuration: every transport option of Kamailio's core TCP layer, OpenSIPS's
//! `proto_tcp`, Kamailio's `tcpops` and `sctp` modules, under their own names and units.
//!
//! - [`Config::from_str_with`] / [`Config::from_file`] read Kamailio-style text (the transport
//!   part of a `kamailio.cfg` or `opensips.cfg`), returning the config and the warnings for
//!   statements that belong to other subsystems (or refusing them in strict mode).
//! - [`Config::set`] applies a `name=value` override with the same checks.
//! - [`ConfigHandle`] publishes the config to worker threads and changes the options Kamailio
//!   can change at runtime (`set_now_int("tcp", "connection_lifetime", 600)`); each worker
//!   reads a consistent snapshot per message through a [`SnapshotCache`].
//!
//! Every option is one row of a single table ([`options::all`]); the parser, the runtime
//! setter, [`Config::validate`], [`Config::cfg_list`] and `docs/config.md` all read it.
//!
//! The modules form a stair, each importing only from the floors below it (this file only
//! declares and re-exports):
//!
//! `docs`, `runtime` → `api` → `parse`, `validate` → `preproc`, `listen` →
//! `options` (`registry` → `rows_tcp`, `rows_modules`, `rows_core` → `codec` → `row`) →
//! `config` (the [`Config`] struct) → `types`, `error`, `lexer`
#![forbid(unsafe_code)]

mod api;
mod config;
mod docs;
mod error;
mod lexer;
mod listen;
pub mod options;
mod parse;
mod preproc;
mod runtime;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use api::CfgEntry;
pub use config::{
    default_children, Config, ControlConfig, SctpConfig, TcpConfig, TcpOpsConfig, DEFAULT_CHILDREN,
    OPENSIPS_SEND_TIMEOUT,
};
#[doc(hidden)]
pub use docs::{markdown_table, RowNotes, TABLE_BEGIN, TABLE_END};
pub use error::{ConfigError, ErrorKind, Warning, WarningKind};
pub use options::{IntSpec, IpFamily, Kind, OptionDef, Unit};
pub use parse::ParseOptions;
pub use runtime::{ConfigHandle, SnapshotCache};
/// `tcp_poll_method` is the poller crate's own type: one poll-method enum in the workspace.
pub use sipwire_poll::PollMethod;
pub use types::{ClosedEvent, ConfigValue, Listen, ListenProto, SctpHeartbeat, SCTP_DEFAULT_PORT};
