//! The connection lists: `core.tcp_list` (Kamailio's ten fields per TCP connection) and
//! sipwire's `tcp.list` / `tcp.info` (everything it knows, TCP connections then SCTP
//! associations), with the same paging and filter: `[offset [limit [filter]]]`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use sipwire::{ConId, ConnInfo, ConnState, TcpOpsError, Transport};

use super::super::context::Ctx;
use super::super::error::RpcError;
use super::super::params::Params;
use super::super::tcp_methods::state_name;
use super::super::values::d;
use super::tcp_disabled;

/// Most connections one call lists, and how many it lists when no limit is given: a page
/// of `core.tcp_list` then stays near 75 KiB, under kamcmd's 128 KiB reply limit.
pub(crate) const TCP_LIST_MAX: usize = 512;

/// Kamailio's name of a connection state (`core_tcp_list`).
fn kamailio_state(s: ConnState) -> &'static str {
    match s {
        ConnState::Ok => "CONN_OK",
        ConnState::Accepting => "CONN_ACCEPT",
        ConnState::Connecting => "CONN_CONNECT",
        ConnState::Eof => "CONN_EOF",
        ConnState::Error => "CONN_ERROR",
        ConnState::Bad => "CONN_BAD",
        ConnState::Gone => "UNKNOWN",
    }
}

/// An IP network (`10.0.0.0/8`, `::1`) a listed connection must have an address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    ip: IpAddr,
    prefix: u8,
}

impl Net {
    /// `IP`, `IP/PREFIX` or `[IPv6]`; `None` for no filter (``, `*`, `all`).
    fn parse(text: &str) -> Result<Option<Net>, String> {
        let text = text.trim();
        if text.is_empty() || text == "*" || text.eq_ignore_ascii_case("all") {
            return Ok(None);
        }
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text, None),
        };
        let ip = ip
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(ip);
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or IP/prefix"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0..={max}"))?,
        };
        Ok(Some(Net { ip, prefix }))
    }

    /// `addr` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let bits = |prefix: u8, width: u8| -> u128 {
            if prefix == 0 {
                0
            } else {
                (u128::MAX << (width - prefix)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.ip, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = bits(self.prefix, 32);
                (u128::from(u32::from(n)) & m) == (u128::from(u32::from(a)) & m)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = bits(self.prefix, 128);
                (u128::from(n) & m) == (u128::from(a) & m)
            }
            _ => false,
        }
    }
}

/// What `[offset [limit [filter]]]` asks for.
struct Page {
    offset: usize,
    limit: usize,
    filter: Option<Net>,
}

impl Page {
    fn of(p: &Params<'_>) -> Result<Page, RpcError> {
        let offset = match p.get(0) {
            None => 0,
            Some(_) => usize::try_from(p.u64(0)?).unwrap_or(usize::MAX),
        };
        let limit = match p.get(1) {
            None => TCP_LIST_MAX,
            Some(v) => match p.u64(1)? {
                n if n <= TCP_LIST_MAX as u64 => n as usize,
                _ => {
                    return Err(RpcError::invalid_params(format!(
                        "param 2 (limit) of {} must be 0..={TCP_LIST_MAX}, got {v}",
                        p.method()
                    )))
                }
            },
        };
        let filter = match p.get(2) {
            None => None,
            Some(_) => Net::parse(&p.string(2)?).map_err(|why| {
                RpcError::invalid_params(format!("param 3 (filter) of {}: {why}", p.method()))
            })?,
        };
        Ok(Page {
            offset,
            limit,
            filter,
        })
    }

    fn takes(&self, addrs: &[SocketAddr]) -> bool {
        match self.filter {
            None => true,
            Some(net) => addrs.iter().any(|a| net.contains(a.ip())),
        }
    }
}

/// The open TCP connections of the page, in id order. Without a filter only the page's
/// connections are read (each read costs a few socket calls).
fn tcp_page(t: &Transport, page: &Page) -> Vec<ConnInfo> {
    let mut ids = t.connection_ids();
    ids.sort_unstable();
    // A connection that closed since the ids were read is simply not listed.
    let infos = ids.into_iter().filter_map(|id| t.conn_info(id));
    if page.filter.is_none() {
        return infos.skip(page.offset).take(page.limit).collect();
    }
    infos
        .filter(|c| page.takes(&addresses(c)))
        .skip(page.offset)
        .take(page.limit)
        .collect()
}

/// Every address of a connection: the socket's peer and local, and what a PROXY header
/// announced.
fn addresses(c: &ConnInfo) -> Vec<SocketAddr> {
    let mut v = vec![c.peer, c.local, c.source];
    if let Some(p) = &c.proxy {
        v.push(p.destination);
    }
    v
}

/// The idle lifetime that applies to `c` now: its own (`tcp.set_connection_lifetime`), else
/// `tcp_connection_lifetime`.
fn lifetime(t: &Transport, c: &ConnInfo) -> Duration {
    c.lifetime_override
        .unwrap_or_else(|| t.config().snapshot().tcp.connection_lifetime)
}

/// Seconds until `c`'s lifetime runs out if it stays idle (negative once overdue).
fn timeout_secs(t: &Transport, c: &ConnInfo) -> i64 {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    ms(lifetime(t, c)).saturating_sub(ms(c.idle_for)) / 1000
}

/// One `core.tcp_list` entry, Kamailio's fields in its order (`dssdddsdsd`): `src` is the
/// message source (the PROXY-announced client, else the peer), `dst` the local address
/// messages report (the PROXY destination, else the socket's), as Kamailio's `rcv`.
fn kamailio_row(t: &Transport, c: &ConnInfo) -> Value {
    let dst = c.proxy.as_ref().map_or(c.local, |p| p.destination);
    json!({
        "id": c.conid.0,
        "type": "TCP",
        "state": kamailio_state(c.state),
        "timeout": d(timeout_secs(t, c)),
        "lifetime": d(lifetime(t, c).as_secs()),
        "ref_count": 1,
        "src_ip": c.source.ip().to_string(),
        "src_port": c.source.port(),
        "dst_ip": dst.ip().to_string(),
        "dst_port": dst.port(),
    })
}

/// `core.tcp_list [offset [limit [filter]]]`: Kamailio's entry per open TCP connection (SCTP
/// associations are not TCP connections: `tcp.list` has them), in id order, `[]` for none.
pub(crate) fn core_tcp_list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    tcp_disabled(ctx)?;
    let page = Page::of(p)?;
    let t = ctx.transport;
    let rows: Vec<Value> = tcp_page(t, &page)
        .iter()
        .map(|c| kamailio_row(t, c))
        .collect();
    Ok(Value::from(rows))
}

/// sipwire's entry for a TCP connection.
fn tcp_row(t: &Transport, c: &ConnInfo) -> Value {
    let (idle, cnt, intvl) = c.keepalive_params;
    let destination = c.proxy.as_ref().map_or(c.local, |p| p.destination);
    json!({
        "id": c.conid.0,
        "type": "TCP",
        "state": c.state as i8,
        "state_name": state_name(c.state),
        "peer": c.peer.to_string(),
        "local": c.local.to_string(),
        "source": c.source.to_string(),
        "destination": destination.to_string(),
        "proxy": c.proxy.is_some(),
        "outbound": c.outbound,
        "keepalive": c.keepalive,
        "keepidle": idle,
        "keepcnt": cnt,
        "keepintvl": intvl,
        "lifetime_s": lifetime(t, c).as_secs(),
        "lifetime_override_s": c.lifetime_override.map(|d| d.as_secs()),
        "timeout_s": timeout_secs(t, c),
        "idle_ms": u64::try_from(c.idle_for.as_millis()).unwrap_or(u64::MAX),
        "queued_bytes": c.queued_bytes,
    })
}

/// The tracked SCTP associations (with the id of each), in id order.
fn sctp_rows(t: &Transport) -> Vec<(ConId, Vec<SocketAddr>, Value)> {
    let mut out = Vec::new();
    for (i, ep) in t.sctp_endpoints().iter().enumerate() {
        let Ok(index) = u16::try_from(i) else { break };
        let local = ep.local_addrs().first().copied();
        let local_text = local.map(|a| a.to_string()).unwrap_or_default();
        for a in ep.assocs() {
            let id = ConId::sctp(index, a.assoc);
            let mut addrs = ep.local_addrs().to_vec();
            addrs.push(a.peer);
            let row = json!({
                "id": id.0,
                "type": "SCTP",
                "assoc_id": a.assoc,
                "state": ConnState::Ok as i8,
                "state_name": state_name(ConnState::Ok),
                "peer": a.peer.to_string(),
                "local": local_text,
                "source": a.peer.to_string(),
                "destination": local_text,
                "idle_ms": u64::try_from(a.last.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            out.push((id, addrs, row));
        }
    }
    out.sort_by_key(|(id, _, _)| *id);
    out
}

/// `tcp.list [offset [limit [filter]]]`: sipwire's entry per TCP connection, then per
/// tracked SCTP association (their ids have the top bit set), paged and filtered as
/// `core.tcp_list` over both.
pub(crate) fn tcp_list(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let page = Page::of(p)?;
    let t = ctx.transport;
    let mut rows: Vec<Value> = tcp_page(t, &page).iter().map(|c| tcp_row(t, c)).collect();
    if rows.len() < page.limit {
        // The SCTP associations come after the TCP connections: skip what of the offset the
        // TCP connections did not use up (none of it when some are on this page).
        let skip = if rows.is_empty() {
            page.offset.saturating_sub(count_tcp(t, &page))
        } else {
            0
        };
        let left = page.limit - rows.len();
        rows.extend(
            sctp_rows(t)
                .into_iter()
                .filter(|(_, addrs, _)| page.takes(addrs))
                .skip(skip)
                .take(left)
                .map(|(_, _, row)| row),
        );
    }
    Ok(Value::from(rows))
}

/// How many open TCP connections the filter takes (all of them without one).
fn count_tcp(t: &Transport, page: &Page) -> usize {
    if page.filter.is_none() {
        return t.connection_count();
    }
    t.connection_ids()
        .into_iter()
        .filter_map(|id| t.conn_info(id))
        .filter(|c| page.takes(&addresses(c)))
        .count()
}

/// `tcp.info <conid>`: the `tcp.list` entry of one connection or SCTP association.
pub(crate) fn tcp_info(ctx: &Ctx<'_>, p: &Params<'_>) -> Result<Value, RpcError> {
    let id = p.conid(0)?;
    let t = ctx.transport;
    let gone = || RpcError::from(TcpOpsError::NoSuchConnection(id));
    if id.is_sctp() {
        return sctp_rows(t)
            .into_iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, _, row)| row)
            .ok_or_else(gone);
    }
    t.conn_info(id).map(|c| tcp_row(t, &c)).ok_or_else(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn filters_are_ips_or_networks() {
        assert_eq!(Net::parse("").unwrap(), None);
        assert_eq!(Net::parse("*").unwrap(), None);
        let one = Net::parse("127.0.0.1").unwrap().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        let net = Net::parse("10.0.0.0/8").unwrap().unwrap();
        assert!(net.contains(ip("10.200.3.4")) && !net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        let any = Net::parse("0.0.0.0/0").unwrap().unwrap();
        assert!(any.contains(ip("192.0.2.1")));
        let v6 = Net::parse("[2001:db8::]/32").unwrap().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        let lo = Net::parse("::1").unwrap().unwrap();
        assert!(lo.contains(ip("::1")) && !lo.contains(ip("127.0.0.1")));
        for bad in ["x", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "1.2.3.4:5060"] {
            assert!(Net::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_have_kamailio_names() {
        assert_eq!(kamailio_state(ConnState::Ok), "CONN_OK");
        assert_eq!(kamailio_state(ConnState::Accepting), "CONN_ACCEPT");
        assert_eq!(kamailio_state(ConnState::Connecting), "CONN_CONNECT");
        assert_eq!(kamailio_state(ConnState::Eof), "CONN_EOF");
        assert_eq!(kamailio_state(ConnState::Error), "CONN_ERROR");
        assert_eq!(kamailio_state(ConnState::Bad), "CONN_BAD");
    }
}
