//! `listen=` lines: a Kamailio/OpenSIPS listen value (one address, possibly a multi-homed
//! SCTP list, then words sipwire does not use) checked and added to [`Config::listen`].
//! Used by the config parser and by [`Config::set`].

use super::error::{ErrorKind, WarningKind};
use super::types::{parse_listen, ListenParse};
use crate::config::Config;

/// Applies a `listen=` value to `cfg`; returns warnings (kind, text) on success.
pub(crate) fn apply_listen(
    cfg: &mut Config,
    text: &str,
) -> Result<Vec<(WarningKind, String)>, ErrorKind> {
    let mut warnings = Vec::new();
    // A multi-homed address list may hold spaces: `sctp:(ip1, ip2):port` is one address.
    let text_t = text.trim_start();
    let (addr, after) = match text_t
        .find('(')
        .filter(|&i| !text_t[..i].contains(char::is_whitespace))
    {
        Some(open) => match text_t[open..].find(')') {
            Some(close) => {
                let end = open + close + 1;
                let end = end
                    + text_t[end..]
                        .find(char::is_whitespace)
                        .unwrap_or(text_t.len() - end);
                (&text_t[..end], &text_t[end..])
            }
            None => (text_t, ""),
        },
        None => match text_t.find(char::is_whitespace) {
            Some(i) => (&text_t[..i], &text_t[i..]),
            None => (text_t, ""),
        },
    };
    let addr_owned: String = addr.chars().filter(|c| !c.is_whitespace()).collect();
    let addr = addr_owned.as_str();
    let parts = after.split_whitespace();
    let invalid = |reason: String| ErrorKind::Invalid {
        option: "listen".to_string(),
        reason: format!("cannot use {text:?}: {reason}"),
    };
    let (parsed, implicit) = parse_listen(addr).map_err(invalid)?;
    let rest: Vec<&str> = parts.collect();
    if !rest.is_empty() {
        warnings.push((
            WarningKind::Ignored,
            format!(
                "listen {addr}: `{}` is not used by sipwire (ignored)",
                rest.join(" ")
            ),
        ));
    }
    match parsed {
        ListenParse::Foreign(proto) => warnings.push((
            WarningKind::NotSipwireTransport,
            format!("listen {addr}: {proto} is not a sipwire transport (ignored)"),
        )),
        ListenParse::Use(l) => {
            if implicit {
                warnings.push((
                    WarningKind::Ignored,
                    format!(
                        "listen {addr} names no protocol: Kamailio listens on every enabled \
                         protocol there, sipwire on TCP only"
                    ),
                ));
            }
            let port = cfg.tcp.port;
            if cfg
                .listen
                .iter()
                .any(|o| o.socket_addr(port) == l.socket_addr(port) && o.proto == l.proto)
            {
                return Err(invalid("this address is already listed".to_string()));
            }
            cfg.listen.push(l);
        }
    }
    Ok(warnings)
}
