//! `tcp_accept_iplimit`: TCP main counts the open accepted connections per peer IP (an entry
//! is counted when it is registered and uncounted when it is forgotten) and refuses one more
//! beyond the limit. Outgoing connections are not counted.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ratelimit::{limited_log, RateLimit};
use crate::stats::bump;

use super::TcpMain;

/// Refusals logged at most this often per second (a flood from one IP must not fill the disk).
static REFUSED_LOG: RateLimit = RateLimit::new(10);

/// Open accepted connections per peer IP.
#[derive(Debug, Default)]
pub(super) struct IpCounts {
    open: HashMap<IpAddr, u32>,
}

impl IpCounts {
    /// Open accepted connections from `ip`.
    pub fn get(&self, ip: IpAddr) -> u32 {
        self.open.get(&ip).copied().unwrap_or(0)
    }

    pub fn add(&mut self, ip: IpAddr) {
        *self.open.entry(ip).or_insert(0) += 1;
    }

    pub fn remove(&mut self, ip: IpAddr) {
        if let Some(n) = self.open.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.open.remove(&ip);
            }
        }
    }
}

/// Whether one more connection from an IP that has `open` would exceed `limit` (0 = none).
pub(super) fn over_limit(open: u32, limit: u32) -> bool {
    limit > 0 && open >= limit
}

impl TcpMain {
    /// True (counted and logged) if accepting one more connection from `ip` would exceed
    /// `tcp_accept_iplimit`. Accept calls it before the connection enters the table;
    /// registering an accepted entry checks again.
    pub(super) fn refused_by_iplimit(&self, ip: IpAddr) -> bool {
        let limit = self.shared.config.snapshot().tcp.accept_iplimit;
        let open = self.per_ip.get(ip);
        if !over_limit(open, limit) {
            return false;
        }
        bump(&self.shared.stats.refused_iplimit);
        limited_log!(
            REFUSED_LOG,
            Warn,
            "refusing connection from {ip}: tcp_accept_iplimit ({limit}) reached"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_ip_and_forgets_at_zero() {
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut c = IpCounts::default();
        c.add(a);
        c.add(a);
        assert_eq!(c.get(a), 2);
        assert!(over_limit(c.get(a), 2));
        assert!(!over_limit(c.get(a), 3));
        assert!(!over_limit(c.get(a), 0), "0 is no limit");
        c.remove(a);
        c.remove(a);
        c.remove(a);
        assert_eq!(c.get(a), 0);
        assert!(c.open.is_empty());
    }
}
