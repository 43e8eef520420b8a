//! One option row ([`OptionDef`]): how the option is named, written, checked and documented,
//! and how a value written as text becomes a [`ConfigValue`].
//!
//! The rows themselves are in `rows_tcp.rs`, `rows_modules.rs` and `rows_core.rs`; the
//! registry (`registry.rs`) finds them by name.

use std::net::IpAddr;

use crate::config::Config;
use crate::error::ErrorKind;
use crate::types::ConfigValue;
use sipwire_poll::PollMethod;

/// Largest lifetime/timeout Kamailio accepts: 2^31-1 ticks of 1/16 s, in seconds.
pub(super) const MAX_TIMEOUT_S: i64 = 134_217_727;

/// The unit a number is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A plain number, flag or string.
    None,
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Bytes.
    Bytes,
}

impl Unit {
    /// Short symbol used in messages and docs ("s", "ms", "bytes", "").
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Seconds => "s",
            Unit::Millis => "ms",
            Unit::Bytes => "bytes",
        }
    }
}

/// The accepted integers of an integer option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntSpec {
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// 0 is accepted even when below `min`, and means "not set" (OS default).
    pub zero_unset: bool,
    /// In the config file, values above `max` are clamped to `max` with a warning (Kamailio
    /// documents this for `tcp_rd_buf_size`); at runtime they are errors.
    pub clamp_max: bool,
    /// `yes`/`no` (and the other boolean words) are accepted as 1/0.
    pub yes_no: bool,
}

/// A plain integer range.
pub(super) const fn int(min: i64, max: i64) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        zero_unset: false,
        clamp_max: false,
        yes_no: false,
    })
}

/// An integer range where 0 means "not set".
pub(super) const fn int0(min: i64, max: i64) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        zero_unset: true,
        clamp_max: false,
        yes_no: false,
    })
}

/// Which IP family an address option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

/// How an option's value is written and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `yes/no/on/off/true/false/enable/disable/1/0`.
    Bool,
    /// An integer in a range.
    Int(IntSpec),
    /// A string (quoted or a bare word).
    Text,
    /// A `tcp_poll_method` name.
    PollMethod,
    /// An IP address of one family, or empty for "not set".
    Ip(IpFamily),
    /// A `listen=` address (repeatable).
    Listen,
}

/// One spelling of an option: its name, forms, runtime cfg name, kind, unit and docs.
///
/// Two rows may share a field: Kamailio's `tcp_crlf_ping` and OpenSIPS's
/// `modparam("proto_tcp", "tcp_crlf_pingpong", N)` set the same [`Config`] field.
#[derive(Debug, Clone, Copy)]
pub struct OptionDef {
    /// The name: a core parameter name, or the parameter name of a modparam.
    pub name: &'static str,
    /// Other core names for the same row (`tcp_buf_write` for `tcp_async`).
    pub aliases: &'static [&'static str],
    /// Accepted as `name = value`.
    pub core_form: bool,
    /// Accepted as `modparam("module", "name", value)`.
    pub module: Option<&'static str>,
    /// Runtime cfg group (`tcp`, `sctp`, `proto_tcp`, `tcpops`, `core`).
    pub cfg_group: &'static str,
    /// Name inside the cfg group.
    pub cfg_name: &'static str,
    /// Can be changed at runtime with `set_now_int`/`set_now_string`.
    pub runtime: bool,
    /// At runtime, 0 keeps the current value (Kamailio's rule for SCTP socket tunables).
    pub runtime_zero_keeps: bool,
    /// Kind and range of the value.
    pub kind: Kind,
    /// Unit of the value as written.
    pub unit: Unit,
    /// Default as text for the docs, when the computed default is machine dependent.
    pub default_doc: Option<&'static str>,
    /// What the option means (one or two sentences).
    pub doc: &'static str,
    pub(crate) field: &'static str,
    pub(crate) get: fn(&Config) -> ConfigValue,
    pub(crate) set: fn(&mut Config, &ConfigValue) -> bool,
}

/// A row template: rows in the table override what differs.
pub(super) const BASE: OptionDef = OptionDef {
    name: "",
    aliases: &[],
    core_form: true,
    module: None,
    cfg_group: "tcp",
    cfg_name: "",
    runtime: false,
    runtime_zero_keeps: false,
    kind: Kind::Bool,
    unit: Unit::None,
    default_doc: None,
    doc: "",
    field: "",
    get: |_| ConfigValue::Int(0),
    set: |_, _| false,
};

/// A value parsed from text, plus a warning if it had to be adjusted.
pub(crate) struct Parsed {
    pub value: ConfigValue,
    pub warning: Option<String>,
}

impl Parsed {
    /// A value taken as written, without a warning.
    fn plain(value: ConfigValue) -> Parsed {
        Parsed {
            value,
            warning: None,
        }
    }
}

/// `text` is not what option `label` takes (`expected` says what it does).
fn invalid_value(label: &str, text: &str, expected: &str) -> ErrorKind {
    ErrorKind::InvalidValue {
        option: label.to_string(),
        value: text.to_string(),
        expected: expected.to_string(),
    }
}

/// An address of one family, bare or in brackets; empty means "not set".
fn parse_ip(label: &str, text: &str, family: IpFamily) -> Result<ConfigValue, ErrorKind> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(ConfigValue::Str(String::new()));
    }
    let bare = t.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    let (want, other) = match family {
        IpFamily::V4 => ("an IPv4 address", "an IPv6"),
        IpFamily::V6 => ("an IPv6 address", "an IPv4"),
    };
    match bare.unwrap_or(t).parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == (family == IpFamily::V4) => Ok(ConfigValue::Str(ip.to_string())),
        Ok(_) => Err(invalid_value(
            label,
            t,
            &format!("{want}; this is {other} address"),
        )),
        Err(_) => Err(invalid_value(label, text, want)),
    }
}

const BOOL_WORDS: &str = "yes/no/on/off/true/false/1/0";

/// Boolean words Kamailio's lexer knows, case-insensitively.
pub(crate) fn parse_bool_word(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "enable" | "1" => Some(true),
        "no" | "off" | "false" | "disable" | "0" => Some(false),
        _ => None,
    }
}

/// Why a text is not an integer.
enum IntError {
    NotANumber,
    TooLarge,
}

/// Decimal (optionally signed) or `0x` hex integer; anything else is refused.
fn parse_int(text: &str) -> Result<i64, IntError> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(IntError::NotANumber);
    }
    let magnitude = u64::from_str_radix(digits, radix).map_err(|_| IntError::TooLarge)?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or(IntError::TooLarge)
    } else {
        i64::try_from(magnitude).map_err(|_| IntError::TooLarge)
    }
}

impl OptionDef {
    /// How the option is named in messages and accepted by [`Config::set`]: the core name,
    /// or `module.param` for modparam-only rows.
    pub fn key(&self) -> String {
        match (self.core_form, self.module) {
            (false, Some(m)) => format!("{m}.{}", self.name),
            _ => self.name.to_string(),
        }
    }

    /// `group.name` of the runtime cfg entry.
    pub fn cfg_key(&self) -> String {
        format!("{}.{}", self.cfg_group, self.cfg_name)
    }

    /// The current value in `cfg` (in this row's unit).
    pub fn value(&self, cfg: &Config) -> ConfigValue {
        (self.get)(cfg)
    }

    /// Parses a value written in a config file or on a command line (`label` names the
    /// option in errors). With `allow_clamp`, values above a clamped maximum come back
    /// clamped, with a warning; without it (runtime changes) they are errors.
    pub(crate) fn parse_text(
        &self,
        label: &str,
        text: &str,
        allow_clamp: bool,
    ) -> Result<Parsed, ErrorKind> {
        match self.kind {
            Kind::Bool => match parse_bool_word(text.trim()) {
                Some(b) => Ok(Parsed::plain(ConfigValue::Int(i64::from(b)))),
                None => Err(invalid_value(label, text, BOOL_WORDS)),
            },
            Kind::Int(spec) => self.parse_int_text(label, text, spec, allow_clamp),
            Kind::Text => Ok(Parsed::plain(ConfigValue::Str(text.to_string()))),
            Kind::PollMethod => match text.trim().parse::<PollMethod>() {
                Ok(m) => Ok(Parsed::plain(ConfigValue::Str(m.name().to_string()))),
                Err(e) => Err(ErrorKind::Unsupported {
                    option: label.to_string(),
                    reason: e.to_string(),
                }),
            },
            Kind::Ip(family) => parse_ip(label, text, family).map(Parsed::plain),
            Kind::Listen => Ok(Parsed::plain(ConfigValue::Str(text.trim().to_string()))),
        }
    }

    /// The text of an integer option: a number in range, a boolean word where the row takes
    /// `yes`/`no`, or (with `allow_clamp`) a number above a clamped maximum, clamped with a
    /// warning.
    fn parse_int_text(
        &self,
        label: &str,
        text: &str,
        spec: IntSpec,
        allow_clamp: bool,
    ) -> Result<Parsed, ErrorKind> {
        let t = text.trim();
        if spec.yes_no {
            if let Some(b) = parse_bool_word(t) {
                return Ok(Parsed::plain(ConfigValue::Int(i64::from(b))));
            }
        }
        let v = match parse_int(t) {
            Ok(v) => v,
            Err(IntError::NotANumber) => {
                let what = if spec.yes_no {
                    format!("an integer or {BOOL_WORDS}")
                } else {
                    "an integer".to_string()
                };
                return Err(invalid_value(label, text, &what));
            }
            Err(IntError::TooLarge) => return Err(self.out_of_range(label, t, spec)),
        };
        if allow_clamp && spec.clamp_max && v > spec.max {
            let warning = format!(
                "{label}: {v} is above the {} limit; using {} (clamped, as Kamailio does)",
                spec.max, spec.max
            );
            return Ok(Parsed {
                value: ConfigValue::Int(spec.max),
                warning: Some(warning),
            });
        }
        self.check_int(label, v).map(Parsed::plain)
    }

    /// Checks an integer against the row's range (no clamping): the runtime setter and the
    /// file parser share this.
    pub(crate) fn check_int(&self, label: &str, v: i64) -> Result<ConfigValue, ErrorKind> {
        match self.kind {
            Kind::Bool if v == 0 || v == 1 => Ok(ConfigValue::Int(v)),
            Kind::Bool => Err(ErrorKind::OutOfRange {
                option: label.to_string(),
                value: v.to_string(),
                min: 0,
                max: 1,
                unit: "",
            }),
            Kind::Int(spec) => {
                if (spec.zero_unset && v == 0) || (spec.min..=spec.max).contains(&v) {
                    Ok(ConfigValue::Int(v))
                } else {
                    Err(self.out_of_range(label, &v.to_string(), spec))
                }
            }
            _ => Err(ErrorKind::WrongType {
                option: label.to_string(),
                expected: "a string",
            }),
        }
    }

    fn out_of_range(&self, label: &str, value: &str, spec: IntSpec) -> ErrorKind {
        ErrorKind::OutOfRange {
            option: label.to_string(),
            value: value.to_string(),
            min: spec.min,
            max: spec.max,
            unit: self.unit.symbol(),
        }
    }

    /// Whether this row holds an integer (bools included) rather than a string.
    pub fn is_int(&self) -> bool {
        matches!(self.kind, Kind::Bool | Kind::Int(_))
    }
}
