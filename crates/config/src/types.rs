//! Small typed values used by [`Config`](crate::Config) fields and the runtime cfg API.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A value as the cfg API (`cfg.get`, `cfg.set_now_int`, `core.tcp_options`) sees it:
/// Kamailio's config framework knows only integers and strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigValue {
    /// An integer: numbers, booleans (0/1), times in the option's unit, 0 for "not set".
    Int(i64),
    /// A string: names, addresses, callbacks; empty for "not set".
    Str(String),
}

impl ConfigValue {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(v) => Some(*v),
            ConfigValue::Str(_) => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::Int(_) => None,
            ConfigValue::Str(s) => Some(s),
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Str(s) => f.write_str(s),
        }
    }
}

/// `modparam("tcpops", "closed_event", N)`: when the `tcp:closed` event is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClosedEvent {
    /// 0: never.
    Off,
    /// 1: on every connection (the default).
    #[default]
    On,
    /// 2: only on connections where `tcp_enable_closed_event()` was called.
    Manual,
}

impl ClosedEvent {
    /// The number used in the config file.
    pub fn as_int(self) -> i64 {
        match self {
            ClosedEvent::Off => 0,
            ClosedEvent::On => 1,
            ClosedEvent::Manual => 2,
        }
    }

    /// The mode for a config number, if it is 0, 1 or 2.
    pub fn from_int(v: i64) -> Option<ClosedEvent> {
        match v {
            0 => Some(ClosedEvent::Off),
            1 => Some(ClosedEvent::On),
            2 => Some(ClosedEvent::Manual),
            _ => None,
        }
    }
}

/// `sctp_hbinterval` when set: heartbeats disabled (-1) or sent at an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SctpHeartbeat {
    /// -1: no heartbeats.
    Disabled,
    /// A heartbeat interval.
    Every(Duration),
}

/// A transport sipwire listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenProto {
    /// `listen=tcp:...` (or no protocol prefix).
    Tcp,
    /// `listen=sctp:...` (kept for the SCTP transport).
    Sctp,
}

impl ListenProto {
    /// The prefix used in `listen=` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProto::Tcp => "tcp",
            ListenProto::Sctp => "sctp",
        }
    }
}

/// One `listen=` entry. A missing port is resolved when the address is used (see
/// [`Config::listeners`](crate::Config::listeners)), so the order of lines does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    /// Transport.
    pub proto: ListenProto,
    /// Local address (the first, for a multi-homed SCTP endpoint).
    pub ip: IpAddr,
    /// Port as written, `None` when the line had none.
    pub port: Option<u16>,
    /// More addresses of a multi-homed SCTP endpoint (`listen=sctp:(ip1, ip2):port`), in
    /// order; at most [`MAX_HOMES`] addresses in all.
    pub more: [Option<IpAddr>; MAX_HOMES - 1],
}

/// Addresses one multi-homed SCTP listen line may name.
pub const MAX_HOMES: usize = 4;

/// Default port of an `sctp:` listen line without a port (the SIP port).
pub const SCTP_DEFAULT_PORT: u16 = 5060;

impl Listen {
    /// The socket address, with `tcp_port` standing in for a missing TCP port and 5060 for a
    /// missing SCTP port.
    pub fn socket_addr(&self, tcp_port: u16) -> SocketAddr {
        let port = self.port.unwrap_or(match self.proto {
            ListenProto::Tcp => tcp_port,
            ListenProto::Sctp => SCTP_DEFAULT_PORT,
        });
        SocketAddr::new(self.ip, port)
    }

    /// Every address of the line (one, or all of a multi-homed SCTP endpoint), with the port.
    pub fn socket_addrs(&self, tcp_port: u16) -> Vec<SocketAddr> {
        let first = self.socket_addr(tcp_port);
        std::iter::once(first)
            .chain(
                self.more
                    .iter()
                    .flatten()
                    .map(|ip| SocketAddr::new(*ip, first.port())),
            )
            .collect()
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proto.as_str())?;
        if self.more.iter().any(Option::is_some) {
            let ips: Vec<String> = std::iter::once(self.ip)
                .chain(self.more.iter().flatten().copied())
                .map(|ip| ip.to_string())
                .collect();
            write!(f, ":({})", ips.join(", "))?;
            return match self.port {
                Some(p) => write!(f, ":{p}"),
                None => Ok(()),
            };
        }
        match (self.ip, self.port) {
            (IpAddr::V4(ip), None) => write!(f, ":{ip}"),
            (IpAddr::V4(ip), Some(p)) => write!(f, ":{ip}:{p}"),
            (IpAddr::V6(ip), None) => write!(f, ":[{ip}]"),
            (IpAddr::V6(ip), Some(p)) => write!(f, ":[{ip}]:{p}"),
        }
    }
}

/// What a `listen=` value turned out to be.
pub(crate) enum ListenParse {
    /// A transport sipwire serves.
    Use(Listen),
    /// A transport sipwire does not serve (udp, tls, ws, wss): the protocol named.
    Foreign(String),
}

/// Parses `tcp:1.2.3.4:5060`, `tcp:1.2.3.4`, `tcp:[::1]:5070`, `sctp:...`, `1.2.3.4:5060`.
/// Returns the entry and, for a line without protocol, `true`.
pub(crate) fn parse_listen(text: &str) -> Result<(ListenParse, bool), String> {
    let text = text.trim();
    let (proto, rest, implicit) = match text.split_once(':') {
        Some((p, rest)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic()) => {
            (p.to_ascii_lowercase(), rest, false)
        }
        _ => ("tcp".to_string(), text, true),
    };
    let proto = match proto.as_str() {
        "tcp" => ListenProto::Tcp,
        "sctp" => ListenProto::Sctp,
        "udp" | "tls" | "ws" | "wss" => return Ok((ListenParse::Foreign(proto), false)),
        other => return Err(format!("unknown protocol {other:?} (expected tcp or sctp)")),
    };
    if let Some(inner) = rest.strip_prefix('(') {
        return parse_multihomed(proto, inner).map(|l| (ListenParse::Use(l), implicit));
    }
    let (ip, port) = split_host_port(rest)?;
    let more = [None; MAX_HOMES - 1];
    Ok((
        ListenParse::Use(Listen {
            proto,
            ip,
            port,
            more,
        }),
        implicit,
    ))
}

/// `(ip1, ip2, ...)[:port]` after `sctp:` (Kamailio's multi-homed listen syntax).
fn parse_multihomed(proto: ListenProto, inner: &str) -> Result<Listen, String> {
    if proto != ListenProto::Sctp {
        return Err("a list of addresses (multi-homing) is for sctp: only".into());
    }
    let (list, after) = inner
        .split_once(')')
        .ok_or_else(|| format!("missing ')' in ({inner}"))?;
    let port = match after {
        "" => None,
        p => Some(parse_port(p.strip_prefix(':').ok_or_else(|| {
            format!("unexpected {after:?} after the address list")
        })?)?),
    };
    let mut ips = Vec::new();
    for a in list.split(',').map(str::trim) {
        let ip: IpAddr = a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        if ips.contains(&ip) {
            return Err(format!("{ip} is listed twice"));
        }
        ips.push(ip);
    }
    if ips.len() > MAX_HOMES {
        return Err(format!(
            "at most {MAX_HOMES} addresses per multi-homed endpoint"
        ));
    }
    let first = *ips.first().ok_or("an empty address list")?;
    if ips.iter().any(|ip| ip.is_ipv4() != first.is_ipv4()) {
        return Err("a multi-homed endpoint's addresses must be of one family".into());
    }
    let mut more = [None; MAX_HOMES - 1];
    for (slot, ip) in more.iter_mut().zip(ips.iter().skip(1)) {
        *slot = Some(*ip);
    }
    Ok(Listen {
        proto,
        ip: first,
        port,
        more,
    })
}

fn split_host_port(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad_host = |h: &str| {
        format!(
            "{h:?} is not an IP address (sipwire needs a literal IPv4 address or [IPv6] \
             address; host and interface names are not resolved)"
        )
    };
    if let Some(inner) = s.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in {s:?}"))?;
        let ip: IpAddr = host.parse().map_err(|_| bad_host(host))?;
        if !ip.is_ipv6() {
            return Err(format!("[{host}] must hold an IPv6 address"));
        }
        return match after {
            "" => Ok((ip, None)),
            p => match p.strip_prefix(':') {
                Some(p) => Ok((ip, Some(parse_port(p)?))),
                None => Err(format!("unexpected {after:?} after [{host}]")),
            },
        };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => {
            let ip: IpAddr = host.parse().map_err(|_| bad_host(host))?;
            if ip.is_ipv6() {
                return Err(format!(
                    "write an IPv6 address with a port as [{host}]:{port}"
                ));
            }
            Ok((ip, Some(parse_port(port)?)))
        }
        None => Err(bad_host(s)),
    }
}

/// A listen port; 0 lets the OS pick a free one (tests and embedders read the chosen port back
/// from the runtime).
fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u32>() {
        Ok(v) if v <= 65535 => Ok(v as u16),
        Ok(v) => Err(format!("port {v} out of range 0..=65535")),
        Err(_) => Err(format!("port {p:?} is not a number")),
    }
}
