//! Socket addresses in the Linux kernel's byte layout, for the places SCTP embeds them in its
//! own structs (`sctp_paddr_change`, `sctp_status`, `sctp_paddrparams`) or packs them back to
//! back (`SCTP_SOCKOPT_BINDX_ADD`, `SCTP_GET_{LOCAL,PEER}_ADDRS`): encoded and decoded byte by
//! byte, so no `unsafe`, every length checked, and the same on every host (the kernel ABI, not
//! the host's `sockaddr`).
//!
//! `sockaddr_in`: family (u16, native order), port (big-endian), address, 8 zero bytes — 16
//! bytes. `sockaddr_in6`: family, port, flowinfo (u32 as stored), address, scope id — 28 bytes.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::ffi::{LINUX_AF_INET, LINUX_AF_INET6};

/// `sizeof(struct sockaddr_in)`.
pub(crate) const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
pub(crate) const SOCKADDR_IN6_LEN: usize = 28;

/// `addr` in the kernel's layout, into the start of `out` (at least 28 bytes; the rest is left
/// as it is). Returns the length used, 0 if `out` is too short.
pub(crate) fn encode_into(addr: &SocketAddr, out: &mut [u8]) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            let Some(b) = out.get_mut(..SOCKADDR_IN_LEN) else {
                return 0;
            };
            b.fill(0);
            b[0..2].copy_from_slice(&LINUX_AF_INET.to_ne_bytes());
            b[2..4].copy_from_slice(&a.port().to_be_bytes());
            b[4..8].copy_from_slice(&a.ip().octets());
            SOCKADDR_IN_LEN
        }
        SocketAddr::V6(a) => {
            let Some(b) = out.get_mut(..SOCKADDR_IN6_LEN) else {
                return 0;
            };
            b[0..2].copy_from_slice(&LINUX_AF_INET6.to_ne_bytes());
            b[2..4].copy_from_slice(&a.port().to_be_bytes());
            b[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
            b[8..24].copy_from_slice(&a.ip().octets());
            b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
            SOCKADDR_IN6_LEN
        }
    }
}

/// `addrs` packed back to back, as `SCTP_SOCKOPT_BINDX_ADD` takes them.
pub(crate) fn encode_list(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(addrs.len() * SOCKADDR_IN6_LEN);
    let mut one = [0u8; SOCKADDR_IN6_LEN];
    for a in addrs {
        let n = encode_into(a, &mut one);
        out.extend_from_slice(&one[..n]);
    }
    out
}

/// Decodes the address at the start of `b`: the address and the bytes it took. `None` for an
/// unknown family (`AF_UNSPEC` included: "no address") or too few bytes.
pub(crate) fn decode(b: &[u8]) -> Option<(SocketAddr, usize)> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        LINUX_AF_INET => {
            b.get(..SOCKADDR_IN_LEN)?;
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some((
                SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)),
                SOCKADDR_IN_LEN,
            ))
        }
        LINUX_AF_INET6 => {
            let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some((
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)),
                SOCKADDR_IN6_LEN,
            ))
        }
        _ => None,
    }
}

/// Decodes up to `count` packed addresses from `b`, stopping at the first one that is
/// truncated or of an unknown family.
pub(crate) fn decode_list(b: &[u8], count: usize) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut rest = b;
    while out.len() < count {
        let Some((a, used)) = decode(rest) else { break };
        out.push(a);
        rest = rest.get(used..).unwrap_or_default();
    }
    out
}
