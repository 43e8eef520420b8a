//! `--relay-allow`: the destinations requests may be relayed to when there is no `--forward`.
//! Without it sipwired would be an open relay (any host a Request-URI or Route names).
//!
//! An entry is a network with an optional port — `127.0.0.0/8`, `10.1.2.3:5060` (a host is a
//! /32 or /128), `[::1]/128`, `[2001:db8::]/32:5060`, `::1` — or a domain name with an optional
//! port (`pbx.example.com`, `pbx.example.com:5080`), compared case-insensitively with the
//! Request-URI or Route host before it is looked up. A host name that no domain entry names is
//! refused (403); the domain names are resolved off the readers (`names.rs`), so no
//! Request-URI can cause a DNS query.

use std::net::{IpAddr, SocketAddr};

/// One network: address, prefix length, and a port (any port when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Net {
    ip: IpAddr,
    prefix: u8,
    port: Option<u16>,
}

impl Net {
    fn contains(&self, a: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != a.port()) {
            return false;
        }
        match (self.ip, a.ip().to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix.min(128)));
    a & mask == b & mask
}

/// The destinations a request may go to (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Net>,
    domains: Vec<(String, Option<u16>)>,
}

impl AllowList {
    /// Every IPv4 and IPv6 destination (an open relay: for tests and embedders only).
    pub fn any() -> AllowList {
        let mut a = AllowList::default();
        for e in ["0.0.0.0/0", "[::]/0"] {
            // Both entries are literals that parse.
            let _ = a.add(e);
        }
        a
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.domains.is_empty()
    }

    /// Adds the comma-separated entries of one `--relay-allow` value.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            self.add_one(entry)
                .map_err(|why| format!("--relay-allow {entry:?}: {why}"))?;
        }
        Ok(())
    }

    fn add_one(&mut self, e: &str) -> Result<(), String> {
        let bad_port = |p: &str| p.parse::<u16>().map_err(|_| "bad port".to_string());
        // [v6] or [v6]/len, then an optional :port.
        if let Some(rest) = e.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or("missing ']'")?;
            let (addr, inner_len) = split_len(inside)?;
            let (len, port) = match after.strip_prefix('/') {
                Some(l) => match l.split_once(':') {
                    Some((l, p)) => (Some(l), Some(p)),
                    None => (Some(l), None),
                },
                None => match after.strip_prefix(':') {
                    Some(p) => (None, Some(p)),
                    None if after.is_empty() => (None, None),
                    None => return Err("junk after ']'".into()),
                },
            };
            let len = match len {
                Some(l) => Some(l.parse::<u8>().map_err(|_| "bad prefix length")?),
                None => inner_len,
            };
            let port = port.map(bad_port).transpose()?;
            let ip: IpAddr = addr.parse().map_err(|_| "bad IPv6 address")?;
            return self.push(ip, len, port);
        }
        // A bare IPv6 (several colons), optionally /len, no port.
        if e.matches(':').count() > 1 {
            let (addr, len) = split_len(e)?;
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| "bad IPv6 address (write [addr]:port)")?;
            return self.push(ip, len, None);
        }
        let (host, port) = match e.rsplit_once(':') {
            Some((h, p)) => (h, Some(bad_port(p)?)),
            None => (e, None),
        };
        let (addr, len) = split_len(host)?;
        match addr.parse::<IpAddr>() {
            Ok(ip) => self.push(ip, len, port),
            Err(_) if len.is_none() && is_domain(addr) => {
                self.domains.push((addr.to_ascii_lowercase(), port));
                Ok(())
            }
            Err(_) => Err("not a network, an address or a domain name".into()),
        }
    }

    fn push(&mut self, ip: IpAddr, len: Option<u8>, port: Option<u16>) -> Result<(), String> {
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = len.unwrap_or(max);
        if prefix > max {
            return Err(format!("prefix length over {max}"));
        }
        self.nets.push(Net { ip, prefix, port });
        Ok(())
    }

    /// True if `to` is in an allowed network.
    pub fn allows_addr(&self, to: SocketAddr) -> bool {
        self.nets.iter().any(|n| n.contains(to))
    }

    /// The domain names of the entries (lower case; a name may repeat with other ports):
    /// the names the daemon resolves (`names.rs`).
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.domains.iter().map(|(d, _)| d.as_str())
    }

    /// True if the host name `host` (no brackets) with `port` is an allowed domain.
    pub fn allows_name(&self, host: &[u8], port: u16) -> bool {
        self.domains
            .iter()
            .any(|(d, p)| d.as_bytes().eq_ignore_ascii_case(host) && !p.is_some_and(|p| p != port))
    }
}

fn split_len(s: &str) -> Result<(&str, Option<u8>), String> {
    match s.split_once('/') {
        Some((a, l)) => Ok((a, Some(l.parse().map_err(|_| "bad prefix length")?))),
        None => Ok((s, None)),
    }
}

fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(e: &str) -> AllowList {
        let mut a = AllowList::default();
        a.add(e).unwrap();
        a
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_hosts_and_ports() {
        let a = list("127.0.0.0/8, 10.1.2.3:5060");
        assert!(a.allows_addr(sa("127.0.0.1:5070")));
        assert!(a.allows_addr(sa("127.255.0.9:1")));
        assert!(a.allows_addr(sa("[::ffff:127.0.0.1]:5070")));
        assert!(a.allows_addr(sa("10.1.2.3:5060")));
        assert!(!a.allows_addr(sa("10.1.2.3:5061")));
        assert!(!a.allows_addr(sa("10.1.2.4:5060")));
        assert!(!a.allows_addr(sa("192.0.2.1:5060")));
        assert!(!a.allows_addr(sa("[::1]:5060")));
        let a = list("[::1]/128,[2001:db8::]/32:5060,[fe80::1]:5070,::2");
        assert!(a.allows_addr(sa("[::1]:9")));
        assert!(a.allows_addr(sa("[2001:db8:1::5]:5060")));
        assert!(!a.allows_addr(sa("[2001:db8:1::5]:5061")));
        assert!(!a.allows_addr(sa("[2001:db9::5]:5060")));
        assert!(a.allows_addr(sa("[fe80::1]:5070")));
        assert!(a.allows_addr(sa("[::2]:1")));
        assert!(!a.allows_addr(sa("127.0.0.1:9")));
        let a = list("10.0.0.0/8:5060");
        assert!(a.allows_addr(sa("10.9.9.9:5060")));
        assert!(!a.allows_addr(sa("10.9.9.9:5061")));
        assert!(AllowList::any().allows_addr(sa("192.0.2.1:1")));
        assert!(AllowList::any().allows_addr(sa("[2001:db8::1]:1")));
        assert!(AllowList::default().is_empty());
        assert!(!AllowList::default().allows_addr(sa("127.0.0.1:5060")));
    }

    #[test]
    fn domains() {
        let a = list("PBX.example.com, gw.example.net:5080");
        assert!(a.allows_name(b"pbx.EXAMPLE.com", 5060));
        assert!(a.allows_name(b"gw.example.net", 5080));
        assert!(!a.allows_name(b"gw.example.net", 5060));
        assert!(!a.allows_name(b"evil.example.com", 5060));
        assert!(!a.allows_addr(sa("127.0.0.1:5060")));
        let names: Vec<_> = a.domain_names().collect();
        assert_eq!(names, ["pbx.example.com", "gw.example.net"]);
    }

    #[test]
    fn bad_entries() {
        for e in [
            "127.0.0.1/33",
            "[::1]/129",
            "10.0.0.1:x",
            "[::1",
            "[::1]x",
            "1.2.3.4/8x",
            "bad_name",
            "[nope]:5060",
        ] {
            assert!(AllowList::default().add(e).is_err(), "{e}");
        }
    }
}
