//! [`Config`]'s public entry points: reading files, overrides, lookups and listings.

use std::path::Path;

use super::error::{ConfigError, ErrorKind, Warning, WarningKind};
use super::options::{self, Kind, OptionDef, Unit};
use super::parse::{self, apply_listen, ParseOptions};
use super::types::ConfigValue;
use crate::config::Config;

/// One runtime cfg entry with its current value, for `cfg.get`-style listings
/// (`core.tcp_options`, `sctp.options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgEntry {
    /// cfg group (`tcp`, `proto_tcp`, `tcpops`, `sctp`, `core`).
    pub group: &'static str,
    /// Name inside the group.
    pub name: &'static str,
    /// The config-file spelling ([`OptionDef::key`]).
    pub key: String,
    /// Current value, in `unit`.
    pub value: ConfigValue,
    /// Unit of `value`.
    pub unit: Unit,
    /// Changeable at runtime.
    pub runtime: bool,
    /// One-line description.
    pub doc: &'static str,
}

impl CfgEntry {
    fn of(row: &'static OptionDef, cfg: &Config) -> CfgEntry {
        CfgEntry {
            group: row.cfg_group,
            name: row.cfg_name,
            key: row.key(),
            value: row.value(cfg),
            unit: row.unit,
            runtime: row.runtime,
            doc: row.doc,
        }
    }
}

/// Strips one pair of surrounding quotes from a command-line value.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

impl Config {
    /// The framing settings a new connection starts with (`tcp_accept_no_cl`,
    /// `tcp_accept_haproxy`, `tcp_accept_hep3`).
    pub fn decoder_config(&self) -> sipwire_frame::DecoderConfig {
        sipwire_frame::DecoderConfig {
            accept_no_cl: self.tcp.accept_no_cl,
            haproxy: self.tcp.accept_haproxy,
            hep3: self.tcp.accept_hep3,
        }
    }

    /// Reads Kamailio-style config text. `name` is used in messages (usually the file
    /// name). Returns the validated config and the warnings for statements that were read
    /// over; in strict mode any warning is an error instead.
    pub fn from_str_with(
        name: &str,
        text: &str,
        opts: ParseOptions,
    ) -> Result<(Config, Vec<Warning>), ConfigError> {
        parse::parse(name, text, opts)
    }

    /// Reads a config file (see [`Config::from_str_with`]).
    pub fn from_file(
        path: impl AsRef<Path>,
        opts: ParseOptions,
    ) -> Result<(Config, Vec<Warning>), ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => parse::parse(&name, &text, opts),
            Err(e) => Err(ConfigError::new(ErrorKind::Io {
                reason: e.to_string(),
            })
            .at(&name, None)),
        }
    }

    /// Sets one option from text, as a command-line override: `name` is a core name or
    /// alias (`tcp_children`, `tcp_buf_write`, `listen`) or `module.param` for a modparam
    /// (`tcpops.closed_event`, `proto_tcp.tcp_send_timeout`). Same checks as the file
    /// parser; `listen` adds an address. Cross-field checks are left to
    /// [`Config::validate`], to be called once all overrides are applied.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Vec<Warning>, ConfigError> {
        let row = options::by_key(name).ok_or_else(|| {
            let candidates = options::all().map(|d| d.key()).collect::<Vec<_>>();
            ConfigError::new(ErrorKind::UnknownOption {
                name: name.to_string(),
                suggestion: options::suggest(name, candidates.iter().map(String::as_str)),
            })
        })?;
        let text = unquote(value);
        let warning = |kind, message| Warning {
            file: String::new(),
            line: 0,
            kind,
            message,
        };
        if row.kind == Kind::Listen {
            let warnings = apply_listen(self, text).map_err(ConfigError::new)?;
            return Ok(warnings.into_iter().map(|(k, m)| warning(k, m)).collect());
        }
        let parsed = row.parse_text(name, text, true).map_err(ConfigError::new)?;
        if !(row.set)(self, &parsed.value) {
            return Err(ConfigError::new(ErrorKind::Invalid {
                option: name.to_string(),
                reason: format!("value {text:?} cannot be stored"),
            }));
        }
        Ok(parsed
            .warning
            .map(|m| warning(WarningKind::Clamped, m))
            .into_iter()
            .collect())
    }

    /// The current value of an option by its [`Config::set`] key, in that spelling's unit.
    pub fn get(&self, name: &str) -> Option<ConfigValue> {
        options::by_key(name).map(|row| row.value(self))
    }

    /// The current value of runtime cfg entry `group.name` (`tcp`, `connection_lifetime`).
    pub fn cfg_get(&self, group: &str, name: &str) -> Option<ConfigValue> {
        options::by_cfg(group, name).map(|row| row.value(self))
    }

    /// Every option with its cfg name and current value, in table order.
    pub fn cfg_list(&self) -> Vec<CfgEntry> {
        options::all().map(|row| CfgEntry::of(row, self)).collect()
    }

    /// The cfg entries of one group (`core.tcp_options` lists `tcp`, `sctp.options` `sctp`).
    pub fn cfg_group(&self, group: &str) -> Vec<CfgEntry> {
        options::all()
            .filter(|row| row.cfg_group == group)
            .map(|row| CfgEntry::of(row, self))
            .collect()
    }

    /// The option table (every spelling of every option).
    pub fn options() -> impl Iterator<Item = &'static OptionDef> {
        options::all()
    }
}
