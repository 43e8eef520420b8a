//! The option table: one [`OptionDef`] row per spelling an option can be written in, and
//! the registry that finds rows by name.
//!
//! Inside, each file imports only from the ones below it: `registry` (lookups) →
//! `rows_tcp`, `rows_modules`, `rows_core` (the rows) → `codec` (field ↔ value, `opt!`) →
//! `row` (the row type and how a value is read from text).

mod codec;
mod registry;
mod row;
mod rows_core;
mod rows_modules;
mod rows_tcp;

pub use registry::{all, by_cfg, by_core_name, by_key, by_modparam, MODULES};
pub(crate) use registry::{suggest, suggest_core, suggest_modparam};
#[cfg(test)]
pub(crate) use row::parse_bool_word;
pub use row::{IntSpec, IpFamily, Kind, OptionDef, Unit};
