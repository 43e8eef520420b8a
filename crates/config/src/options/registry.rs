//! The registry of option rows: every row in table order, lookups by each way an option is
//! named, and "did you mean" suggestions for names that are not in it.

use super::row::OptionDef;
use super::{rows_core, rows_modules, rows_tcp};

/// Every row: Kamailio core tcp, OpenSIPS proto_tcp, tcpops, sctp, ctl/jsonrpcs, and core
/// misc.
pub fn all() -> impl Iterator<Item = &'static OptionDef> {
    rows_tcp::TCP
        .iter()
        .chain(rows_modules::PROTO_TCP)
        .chain(rows_modules::TCPOPS)
        .chain(rows_modules::SCTP)
        .chain(rows_modules::CONTROL)
        .chain(rows_core::CORE)
}

/// Modules whose modparams are sipwire options.
pub const MODULES: [&str; 5] = ["proto_tcp", "tcpops", "sctp", "ctl", "jsonrpcs"];

/// The row written as `name = value` (name or alias).
pub fn by_core_name(name: &str) -> Option<&'static OptionDef> {
    all().find(|d| d.core_form && (d.name == name || d.aliases.contains(&name)))
}

/// The row written as `modparam("module", "param", value)`.
pub fn by_modparam(module: &str, param: &str) -> Option<&'static OptionDef> {
    all().find(|d| d.module == Some(module) && d.name == param)
}

/// The row with runtime cfg name `group.name`. Within the group, the row's script spelling
/// (its core or modparam name, or an alias) is accepted too, as an alias of the cfg name:
/// `tcp tcp_no_connect` is `tcp no_connect`, `tcp tcp_wait_data` is `tcp wait_data_ms`. The
/// cfg name wins if a name is both.
pub fn by_cfg(group: &str, name: &str) -> Option<&'static OptionDef> {
    let in_group = || all().filter(move |d| d.cfg_group == group);
    in_group()
        .find(|d| d.cfg_name == name)
        .or_else(|| in_group().find(|d| d.name == name || d.aliases.contains(&name)))
}

/// The row for a [`Config::set`](crate::Config::set) / [`Config::get`](crate::Config::get)
/// key: a core name or alias, or `module.param`.
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
