//! Config tests: table-driven checks over every option row, the parser, and runtime changes.

mod kamailio_names;
mod parse;
mod rows;
mod runtime;

use super::*;

/// Parses `text` as `kamailio.cfg`, lenient mode.
pub(super) fn parse_ok(text: &str) -> (Config, Vec<Warning>) {
    match Config::from_str_with("kamailio.cfg", text, ParseOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("unexpected error: {e}\n--- text ---\n{text}"),
    }
}

/// Parses `text` as `kamailio.cfg`, expecting an error.
pub(super) fn parse_err(text: &str) -> ConfigError {
    match Config::from_str_with("kamailio.cfg", text, ParseOptions::default()) {
        Ok((cfg, w)) => panic!("expected an error for {text:?}, got {cfg:?} / {w:?}"),
        Err(e) => e,
    }
}

/// Parses in strict mode.
pub(super) fn parse_strict(text: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
    Config::from_str_with("kamailio.cfg", text, ParseOptions { strict: true })
}

/// Statements setting `row` to `value` in each form it accepts.
pub(super) fn statements(row: &OptionDef, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if row.core_form {
        out.push(format!("{} = {value}", row.name));
        for a in row.aliases {
            out.push(format!("{a}={value}"));
        }
    }
    if let Some(m) = row.module {
        out.push(format!("modparam(\"{m}\", \"{}\", {value})", row.name));
    }
    // sctp_assoc_tracking can only be off with sctp_assoc_reuse off (checked by validate).
    if row.name == "sctp_assoc_tracking" && options::parse_bool_word(value) == Some(false) {
        for s in &mut out {
            s.push_str("\nsctp_assoc_reuse = 0");
        }
    }
    out
}

/// Rows except `listen` (which has its own tests).
pub(super) fn scalar_rows() -> impl Iterator<Item = &'static OptionDef> {
    options::all().filter(|r| r.kind != Kind::Listen)
}

/// 1-based line of the first line of `text` containing `needle`.
pub(super) fn line_of(text: &str, needle: &str) -> u32 {
    let idx = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    u32::try_from(idx + 1).unwrap()
}
