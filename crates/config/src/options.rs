//! The option table's types: one [`OptionDef`] per spelling an option can be written in.
//!
//! The file parser, [`Config::set`], the runtime cfg API, [`Config::validate`], `cfg_list()`
//! and the table in `docs/config.md` all read the same rows (see `table.rs` and
//! `table_ext.rs`), so a name, range or unit is written once.

use std::net::IpAddr;

use super::error::ErrorKind;
use super::types::ConfigValue;
use super::Config;
use sipwire_poll::PollMethod;

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
pub(crate) const fn int(min: i64, max: i64) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        zero_unset: false,
        clamp_max: false,
        yes_no: false,
    })
}

/// An integer range where 0 means "not set".
pub(crate) const fn int0(min: i64, max: i64) -> Kind {
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

/// When the runtime behaviour of an option is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lands {
    /// Done in this config module.
    Config,
    /// Behaviour built in the runtime.
    Built,
    /// Lands with the given issue number.
    Issue(u32),
    /// Lands with the SCTP transport issue.
    Sctp,
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
    /// When sipwire's runtime implements it.
    pub lands: Lands,
    /// Tests (in `config::tests`) that cover this row beyond the table-driven ones.
    pub tests: &'static [&'static str],
    /// Tests of the runtime behaviour, as `file::test_fn`: an integration test in
    /// `crates/sipwire/tests/` (`options::max_connections_refuses_the_extra_one_and_keeps_the_others`)
    /// or a unit test in `crates/sipwire/src/` (`sys::tests::defer_accept_is_set_on_listener`).
    pub runtime_tests: &'static [&'static str],
    pub(super) field: &'static str,
    pub(super) get: fn(&Config) -> ConfigValue,
    pub(super) set: fn(&mut Config, &ConfigValue) -> bool,
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
    lands: Lands::Issue(4),
    tests: &[],
    runtime_tests: &[],
    field: "",
    get: |_| ConfigValue::Int(0),
    set: |_, _| false,
};

/// A value parsed from text, plus a warning if it had to be adjusted.
pub(crate) struct Parsed {
    pub value: ConfigValue,
    pub warning: Option<String>,
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
        let invalid = |expected: &str| ErrorKind::InvalidValue {
            option: label.to_string(),
            value: text.to_string(),
            expected: expected.to_string(),
        };
        let plain = |value| {
            Ok(Parsed {
                value,
                warning: None,
            })
        };
        match self.kind {
            Kind::Bool => match parse_bool_word(text.trim()) {
                Some(b) => plain(ConfigValue::Int(i64::from(b))),
                None => Err(invalid(BOOL_WORDS)),
            },
            Kind::Int(spec) => {
                let t = text.trim();
                if spec.yes_no {
                    if let Some(b) = parse_bool_word(t) {
                        return plain(ConfigValue::Int(i64::from(b)));
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
                        return Err(invalid(&what));
                    }
                    Err(IntError::TooLarge) => return Err(self.out_of_range(label, t, spec)),
                };
                if allow_clamp && spec.clamp_max && v > spec.max {
                    let warning = format!(
                        "{label}: {v} is above the {} limit; using {} (clamped, as Kamailio \
                         does)",
                        spec.max, spec.max
                    );
                    return Ok(Parsed {
                        value: ConfigValue::Int(spec.max),
                        warning: Some(warning),
                    });
                }
                self.check_int(label, v).map(|value| Parsed {
                    value,
                    warning: None,
                })
            }
            Kind::Text => plain(ConfigValue::Str(text.to_string())),
            Kind::PollMethod => match text.trim().parse::<PollMethod>() {
                Ok(m) => plain(ConfigValue::Str(m.name().to_string())),
                Err(e) => Err(ErrorKind::Unsupported {
                    option: label.to_string(),
                    reason: e.to_string(),
                }),
            },
            Kind::Ip(family) => {
                let t = text.trim();
                if t.is_empty() {
                    return plain(ConfigValue::Str(String::new()));
                }
                let bare = t.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
                let (want, other) = match family {
                    IpFamily::V4 => ("an IPv4 address", "an IPv6"),
                    IpFamily::V6 => ("an IPv6 address", "an IPv4"),
                };
                match bare.unwrap_or(t).parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv4() == (family == IpFamily::V4) => {
                        plain(ConfigValue::Str(ip.to_string()))
                    }
                    Ok(_) => Err(ErrorKind::InvalidValue {
                        option: label.to_string(),
                        value: t.to_string(),
                        expected: format!("{want}; this is {other} address"),
                    }),
                    Err(_) => Err(invalid(want)),
                }
            }
            Kind::Listen => plain(ConfigValue::Str(text.trim().to_string())),
        }
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

/// Every row: Kamailio core tcp, OpenSIPS proto_tcp, tcpops, sctp, and core misc.
pub fn all() -> impl Iterator<Item = &'static OptionDef> {
    super::table::TCP
        .iter()
        .chain(super::table_ext::PROTO_TCP)
        .chain(super::table_ext::TCPOPS)
        .chain(super::table_ext::SCTP)
        .chain(super::table_ext::CORE)
}

/// Modules whose modparams are sipwire options.
pub const MODULES: [&str; 3] = ["proto_tcp", "tcpops", "sctp"];

/// The row written as `name = value` (name or alias).
pub fn by_core_name(name: &str) -> Option<&'static OptionDef> {
    all().find(|d| d.core_form && (d.name == name || d.aliases.contains(&name)))
}

/// The row written as `modparam("module", "param", value)`.
pub fn by_modparam(module: &str, param: &str) -> Option<&'static OptionDef> {
    all().find(|d| d.module == Some(module) && d.name == param)
}

/// The row with runtime cfg name `group.name`.
pub fn by_cfg(group: &str, name: &str) -> Option<&'static OptionDef> {
    all().find(|d| d.cfg_group == group && d.cfg_name == name)
}

/// The row for a [`Config::set`]/[`Config::get`] key: a core name or alias, or
/// `module.param`.
pub fn by_key(key: &str) -> Option<&'static OptionDef> {
    by_core_name(key).or_else(|| {
        let (module, param) = key.split_once('.')?;
        by_modparam(module, param)
    })
}

/// Levenshtein distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// OpenSIPS core spellings that mean a sipwire option under Kamailio's name.
const HINTS: [(&str, &str); 3] = [
    ("tcp_workers", "tcp_children"),
    ("tcp_keepcount", "tcp_keepcnt"),
    ("tcp_keepinterval", "tcp_keepintvl"),
];

/// The closest candidate to `name`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    if let Some((_, to)) = HINTS.iter().find(|(from, _)| *from == name) {
        return Some((*to).to_string());
    }
    let limit = (name.len() / 4).clamp(1, 3);
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= limit || (c.len() >= 4 && (name.contains(c) || c.contains(name))))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// "did you mean" for an unknown core name.
pub(crate) fn suggest_core(name: &str) -> Option<String> {
    suggest(
        name,
        all()
            .filter(|d| d.core_form)
            .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied())),
    )
}

/// "did you mean" for an unknown parameter of one of our modules.
pub(crate) fn suggest_modparam(module: &str, param: &str) -> Option<String> {
    suggest(
        param,
        all().filter(|d| d.module == Some(module)).map(|d| d.name),
    )
}

#[cfg(test)]
mod runtime_tests_check {
    use super::{all, Lands};

    /// The source file a `file::test_fn` name points at.
    fn source(file: &str) -> Option<&'static str> {
        Some(match file {
            "inbound" => include_str!("../../sipwire/tests/inbound.rs"),
            "options" => include_str!("../../sipwire/tests/options.rs"),
            "outbound" => include_str!("../../sipwire/tests/outbound.rs"),
            "keepalive_timeout" => include_str!("../../sipwire/tests/keepalive_timeout.rs"),
            "emfile" => include_str!("../../sipwire/tests/emfile.rs"),
            "sys" => include_str!("../../sys/src/socket.rs"),
            "reader" => include_str!("../../sipwire/src/reader.rs"),
            "table" => include_str!("../../sipwire/src/conn_table.rs"),
            "timer" => include_str!("../../sipwire/src/timer.rs"),
            "wq" => include_str!("../../sipwire/src/wq.rs"),
            _ => return None,
        })
    }

    /// Every runtime test a row names exists, and only built rows name any.
    #[test]
    fn runtime_tests_name_existing_tests_of_built_rows() {
        for row in all() {
            assert!(
                row.runtime_tests.is_empty() || row.lands == Lands::Built,
                "{}: runtime tests on a row that is not built",
                row.name
            );
            for t in row.runtime_tests {
                let (file, path) = t.split_once("::").unwrap_or(("", t));
                let src = source(file).unwrap_or_else(|| panic!("{}: no file for {t}", row.name));
                let name = path.rsplit("::").next().unwrap_or(path);
                // `inbound::by_method::*` are generated by a macro from `name: "method"`.
                let found = src.contains(&format!("fn {name}()"))
                    || (path.starts_with("by_method::") && src.contains(&format!("{name}: \"")));
                assert!(found, "{}: no test {t}", row.name);
            }
        }
    }
}
