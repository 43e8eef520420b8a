//! [`ConfigError`] and [`Warning`]: what went wrong, where, and what to do about it.

use std::fmt;

/// Where a problem was found: `file:line`, `file`, or nowhere (runtime and API calls).
fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: Option<&str>,
    line: Option<u32>,
) -> fmt::Result {
    match (file, line) {
        (Some(file), Some(line)) => write!(f, "{file}:{line}: "),
        (Some(file), None) => write!(f, "{file}: "),
        (None, Some(line)) => write!(f, "line {line}: "),
        (None, None) => Ok(()),
    }
}

/// A configuration error: bad syntax, unknown option, bad or out-of-range value, an option
/// that cannot change at runtime, or options that contradict each other.
///
/// `Display` reads like `kamailio.cfg:12: tcp_max_connections: value -5 out of range
/// 0..=2147483647`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name given to the parser, if the error comes from a file.
    pub file: Option<String>,
    /// The 1-based line, if known.
    pub line: Option<u32>,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// The reason part of a [`ConfigError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io {
        /// The OS error, in words.
        reason: String,
    },
    /// The text is not well formed (unterminated string or comment, unbalanced braces, ...).
    Syntax {
        /// What is wrong.
        reason: String,
    },
    /// A `tcp_*`/`sctp_*` name sipwire does not know.
    UnknownOption {
        /// The name as written.
        name: String,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
    },
    /// A parameter of `modparam("proto_tcp"|"tcpops"|"sctp", ...)` sipwire does not know.
    UnknownModparam {
        /// The module.
        module: String,
        /// The parameter as written.
        param: String,
        /// The closest known parameter of that module, if one is close.
        suggestion: Option<String>,
    },
    /// A value that does not parse for the option (garbage, wrong kind, bad address).
    InvalidValue {
        /// The option.
        option: String,
        /// The value as written.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A number outside the option's range (including numbers too large for 64 bits).
    OutOfRange {
        /// The option.
        option: String,
        /// The value as written.
        value: String,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
        /// The unit of the value ("s", "ms", "bytes", or empty).
        unit: &'static str,
    },
    /// A value sipwire understands but does not support (e.g. `tcp_poll_method=sigio_rt`).
    Unsupported {
        /// The option.
        option: String,
        /// Why.
        reason: String,
    },
    /// Options that contradict each other (see [`Config::validate`](crate::Config::validate)).
    Invalid {
        /// The option at fault.
        option: String,
        /// Why, and what to change.
        reason: String,
    },
    /// A runtime cfg name (`group.name`) that does not exist.
    UnknownCfg {
        /// The group (`tcp`, `sctp`, `proto_tcp`, `tcpops`, `core`).
        group: String,
        /// The name inside the group.
        name: String,
    },
    /// An option that exists but cannot be changed while running.
    ReadOnly {
        /// The group.
        group: String,
        /// The name inside the group.
        name: String,
    },
    /// `set_now_int` on a string option.
    WrongType {
        /// `group.name`.
        option: String,
        /// What the option holds.
        expected: &'static str,
    },
    /// Strict mode refused a statement that would only have been a warning.
    Strict {
        /// The warning text.
        message: String,
    },
}

impl ConfigError {
    /// An error with no location (runtime and API calls).
    pub fn new(kind: ErrorKind) -> ConfigError {
        ConfigError {
            file: None,
            line: None,
            kind,
        }
    }

    /// The same error, located at `file:line` (a location already set is kept).
    pub fn at(mut self, file: &str, line: Option<u32>) -> ConfigError {
        if self.file.is_none() {
            self.file = Some(file.to_string());
        }
        if self.line.is_none() {
            self.line = line;
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, self.file.as_deref(), self.line)?;
        fmt::Display::fmt(&self.kind, f)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io { reason } => write!(f, "cannot read the config: {reason}"),
            ErrorKind::Syntax { reason } => write!(f, "syntax error: {reason}"),
            ErrorKind::UnknownOption { name, suggestion } => {
                write!(f, "unknown option {name}")?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean {s}?)"),
                    None => Ok(()),
                }
            }
            ErrorKind::UnknownModparam {
                module,
                param,
                suggestion,
            } => {
                write!(f, "unknown parameter {param:?} of module {module}")?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean {s:?}?)"),
                    None => Ok(()),
                }
            }
            ErrorKind::InvalidValue {
                option,
                value,
                expected,
            } => write!(f, "{option}: invalid value {value:?} (expected {expected})"),
            ErrorKind::OutOfRange {
                option,
                value,
                min,
                max,
                unit,
            } => {
                write!(f, "{option}: value {value} out of range {min}..={max}")?;
                if !unit.is_empty() {
                    write!(f, " ({unit})")?;
                }
                Ok(())
            }
            ErrorKind::Unsupported { option, reason } => write!(f, "{option}: {reason}"),
            ErrorKind::Invalid { option, reason } => write!(f, "{option}: {reason}"),
            ErrorKind::UnknownCfg { group, name } => {
                write!(f, "unknown cfg option {group}.{name}")
            }
            ErrorKind::ReadOnly { group, name } => write!(
                f,
                "{group}.{name} cannot be changed at runtime (set it in the config file and \
                 restart)"
            ),
            ErrorKind::WrongType { option, expected } => {
                write!(f, "{option} holds {expected}; use the matching setter")
            }
            ErrorKind::Strict { message } => write!(f, "{message} (refused in strict mode)"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The kind of a [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// A statement for another subsystem (loadmodule, route blocks, `debug=`, preprocessor
    /// lines, other modules' modparams): read over, not applied.
    NotTransportOption,
    /// A listen line for a transport sipwire does not serve (udp, tls, ws, wss).
    NotSipwireTransport,
    /// A value outside the range that Kamailio documents as clamped (`tcp_rd_buf_size`).
    Clamped,
    /// An option set again, or set under another spelling: the last one wins.
    Overridden,
    /// Part of a statement that sipwire accepts but does not use.
    Ignored,
}

/// Something in the config that sipwire reads over or adjusts; refused in strict mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file name given to the parser (empty for API calls).
    pub file: String,
    /// 1-based line (0 for API calls).
    pub line: u32,
    /// What kind of warning.
    pub kind: WarningKind,
    /// The text, without location.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = (!self.file.is_empty()).then_some(self.file.as_str());
        let line = (self.line != 0).then_some(self.line);
        write_location(f, file, line)?;
        write!(f, "warning: {}", self.message)
    }
}
