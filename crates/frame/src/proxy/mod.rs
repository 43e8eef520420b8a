//! PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy and
//! other TCP load balancers before the first byte of the real stream.
//!
//! [`parse_proxy`] looks at the first bytes of a connection. A partial header
//! asks for more bytes (the runtime bounds the wait with `tcp_wait_data`);
//! bytes that can no longer become a valid header are an error at once: a
//! prefix matching neither signature, a v1 line without CRLF in its first 107
//! bytes, an invalid v2 version/command/family byte as soon as it arrives.
//!
//! A v2 PROXY header may carry TLVs after its addresses (haproxy's
//! proxy-protocol.txt, section 2.2). The parser checks that they form a
//! sequence of whole TLVs ending exactly at the header's end and records where
//! they are ([`ProxyTlvArea`]); [`ProxyHeader::tlvs`] views them in the
//! header's bytes ([`ProxyTlvs`]: ALPN, authority, unique id, SSL and any other
//! type), without copying. TLVs that do not form such a sequence are ignored
//! ([`ProxyTlvArea::Malformed`]), not an error: the spec lets a receiver skip
//! the bytes after the addresses, and Kamailio skips them all. The CRC32C TLV
//! is not verified.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ProxyError;

mod tlv;

use tlv::well_formed;
pub use tlv::{encode_tlv, pp2, ProxySsl, ProxyTlv, ProxyTlvArea, ProxyTlvIter, ProxyTlvs};

/// The 12-byte signature that starts a v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included.
pub const V1_MAX_LEN: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";

/// Which protocol version carried the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// Text header `PROXY TCP4 ...\r\n`.
    V1,
    /// Binary header with the 12-byte signature.
    V2,
}

/// Transport of the proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyTransport {
    /// Stream (TCP); v1 TCP4/TCP6 always means this.
    Stream,
    /// Datagram (UDP), v2 only.
    Dgram,
}

/// Addresses carried by the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyAddresses {
    /// The original client (`source`) and the address it connected to.
    Proxied {
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to (at the proxy).
        destination: SocketAddr,
        /// Transport of the original connection.
        transport: ProxyTransport,
    },
    /// v2 LOCAL command (health check by the proxy itself): keep the socket's addresses.
    Local,
    /// v1 UNKNOWN, or a v2 family with no IP addresses (UNSPEC, UNIX):
    /// keep the socket's addresses.
    Unknown,
}

/// A parsed PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// v1 or v2.
    pub version: ProxyVersion,
    /// The addresses to use for the connection, if any.
    pub addresses: ProxyAddresses,
    /// Where the v2 TLVs are in the header's bytes (see [`ProxyHeader::tlvs`]).
    pub tlvs: ProxyTlvArea,
}

impl ProxyHeader {
    /// The header's TLVs, viewed in `header`: the bytes this header was parsed
    /// from (the input of [`parse_proxy`], or the `bytes` of its
    /// [`crate::Frame`]). Empty when it has none ([`ProxyTlvArea::None`]), when
    /// they were malformed, or when `header` is too short to be those bytes.
    pub fn tlvs<'a>(&self, header: &'a [u8]) -> ProxyTlvs<'a> {
        match self.tlvs {
            ProxyTlvArea::Valid { start, len } => {
                let start = usize::from(start);
                header
                    .get(start..start + usize::from(len))
                    .map_or_else(ProxyTlvs::default, ProxyTlvs::new)
            }
            ProxyTlvArea::None | ProxyTlvArea::Malformed => ProxyTlvs::default(),
        }
    }
}

/// Result of looking at the start of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyParse {
    /// More bytes are needed; `need` is the exact count when known.
    Incomplete {
        /// Bytes still missing, when the header length is already known.
        need: Option<usize>,
    },
    /// A complete header of `len` bytes.
    Complete {
        /// The parsed header.
        header: ProxyHeader,
        /// Its length in bytes (to be consumed).
        len: usize,
    },
}

/// Parses a v1 or v2 header at the start of `data`. `capacity` is the read
/// buffer size: a v2 header that cannot fit is rejected immediately.
pub fn parse_proxy(data: &[u8], capacity: usize) -> Result<ProxyParse, ProxyError> {
    match data.first() {
        None => Ok(ProxyParse::Incomplete { need: None }),
        Some(b'P') => parse_v1(data),
        Some(b'\r') => parse_v2(data, capacity),
        Some(_) => Err(ProxyError::BadSignature),
    }
}

fn parse_v1(data: &[u8]) -> Result<ProxyParse, ProxyError> {
    let n = data.len().min(V1_PREFIX.len());
    if data.get(..n) != V1_PREFIX.get(..n) {
        return Err(ProxyError::BadSignature);
    }
    let window = data.get(..data.len().min(V1_MAX_LEN)).unwrap_or(data);
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return if data.len() >= V1_MAX_LEN {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(ProxyParse::Incomplete { need: None })
        };
    };
    let line = match lf.checked_sub(1).and_then(|cr| window.get(..=cr)) {
        Some(l) => l.strip_suffix(b"\r").ok_or(ProxyError::V1BareLf)?,
        None => return Err(ProxyError::V1BareLf),
    };
    let header = v1_fields(line)?;
    Ok(ProxyParse::Complete {
        header,
        len: lf + 1,
    })
}

fn v1_fields(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let mut f = line.split(|&b| b == b' ');
    if f.next() != Some(b"PROXY") {
        return Err(ProxyError::BadSignature);
    }
    let proto = f.next().ok_or(ProxyError::V1BadProtocol)?;
    let v6 = match proto {
        b"UNKNOWN" => {
            // The rest of an UNKNOWN line is ignored by definition.
            return Ok(ProxyHeader {
                version: ProxyVersion::V1,
                addresses: ProxyAddresses::Unknown,
                tlvs: ProxyTlvArea::None,
            });
        }
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(ProxyError::V1BadProtocol),
    };
    let mut next = || f.next().filter(|s| !s.is_empty());
    let src = v1_ip(next(), v6)?;
    let dst = v1_ip(next(), v6)?;
    let sport = v1_port(next())?;
    let dport = v1_port(next())?;
    if f.next().is_some() {
        return Err(ProxyError::V1BadFormat);
    }
    Ok(ProxyHeader {
        version: ProxyVersion::V1,
        addresses: ProxyAddresses::Proxied {
            source: SocketAddr::new(src, sport),
            destination: SocketAddr::new(dst, dport),
            transport: ProxyTransport::Stream,
        },
        tlvs: ProxyTlvArea::None,
    })
}

fn v1_ip(field: Option<&[u8]>, v6: bool) -> Result<IpAddr, ProxyError> {
    let s = field
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or(ProxyError::V1BadAddress)?;
    if v6 {
        s.parse::<Ipv6Addr>().map(IpAddr::V6)
    } else {
        s.parse::<Ipv4Addr>().map(IpAddr::V4)
    }
    .map_err(|_| ProxyError::V1BadAddress)
}

fn v1_port(field: Option<&[u8]>) -> Result<u16, ProxyError> {
    let b = field.ok_or(ProxyError::V1BadPort)?;
    if b.is_empty() || b.len() > 5 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ProxyError::V1BadPort);
    }
    let v = b
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(v).map_err(|_| ProxyError::V1BadPort)
}

fn parse_v2(data: &[u8], capacity: usize) -> Result<ProxyParse, ProxyError> {
    let n = data.len().min(V2_SIGNATURE.len());
    if data.get(..n) != V2_SIGNATURE.get(..n) {
        return Err(ProxyError::BadSignature);
    }
    let Some(&ver_cmd) = data.get(12) else {
        return Ok(ProxyParse::Incomplete { need: None });
    };
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2BadVersion(ver_cmd >> 4));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        c => return Err(ProxyError::V2BadCommand(c)),
    };
    let Some(&fam) = data.get(13) else {
        return Ok(ProxyParse::Incomplete { need: None });
    };
    let (family, transport) = (fam >> 4, fam & 0x0f);
    // LOCAL discards the address block, family included.
    if !local {
        if family > 3 {
            return Err(ProxyError::V2BadFamily(family));
        }
        if transport > 2 {
            return Err(ProxyError::V2BadTransport(transport));
        }
    }
    let (Some(&hi), Some(&lo)) = (data.get(14), data.get(15)) else {
        return Ok(ProxyParse::Incomplete { need: None });
    };
    let len = u16::from_be_bytes([hi, lo]);
    let total = 16 + usize::from(len);
    if total > capacity {
        return Err(ProxyError::TooLarge {
            size: total,
            capacity,
        });
    }
    let needed: u16 = match family {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };
    if !local && len < needed {
        return Err(ProxyError::V2ShortAddresses { len, needed });
    }
    let Some(block) = data.get(16..total) else {
        return Ok(ProxyParse::Incomplete {
            need: Some(total - data.len()),
        });
    };
    // LOCAL discards its whole block, and an UNSPEC family has no known address
    // length, so its bytes are not read as TLVs; other families' addresses are
    // followed by TLVs.
    let (addresses, tlvs) = if local {
        (ProxyAddresses::Local, ProxyTlvArea::None)
    } else if family == 0 {
        (ProxyAddresses::Unknown, ProxyTlvArea::None)
    } else {
        (
            v2_addresses(block, family, transport),
            tlv_area(block, needed),
        )
    };
    Ok(ProxyParse::Complete {
        header: ProxyHeader {
            version: ProxyVersion::V2,
            addresses,
            tlvs,
        },
        len: total,
    })
}

/// Where the TLVs after the first `addr_len` bytes of a v2 `block` (the bytes
/// after the 16-byte fixed part) are, and whether they are whole.
fn tlv_area(block: &[u8], addr_len: u16) -> ProxyTlvArea {
    let Some(tlvs) = block.get(usize::from(addr_len)..) else {
        return ProxyTlvArea::Malformed;
    };
    if tlvs.is_empty() {
        return ProxyTlvArea::None;
    }
    match (u16::try_from(tlvs.len()), well_formed(tlvs)) {
        (Ok(len), true) => ProxyTlvArea::Valid {
            start: 16 + addr_len,
            len,
        },
        _ => ProxyTlvArea::Malformed,
    }
}

fn v2_addresses(block: &[u8], family: u8, transport: u8) -> ProxyAddresses {
    let transport = match transport {
        1 => ProxyTransport::Stream,
        2 => ProxyTransport::Dgram,
        _ => return ProxyAddresses::Unknown,
    };
    let port = |at: usize| {
        block
            .get(at..at + 2)
            .and_then(|p| <[u8; 2]>::try_from(p).ok())
            .map(u16::from_be_bytes)
    };
    let ips = match family {
        1 => {
            let a = block.get(0..4).and_then(|b| <[u8; 4]>::try_from(b).ok());
            let b = block.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok());
            a.zip(b).map(|(a, b)| (IpAddr::from(a), IpAddr::from(b), 8))
        }
        2 => {
            let a = block.get(0..16).and_then(|b| <[u8; 16]>::try_from(b).ok());
            let b = block.get(16..32).and_then(|b| <[u8; 16]>::try_from(b).ok());
            a.zip(b)
                .map(|(a, b)| (IpAddr::from(a), IpAddr::from(b), 32))
        }
        _ => None,
    };
    match ips.and_then(|(s, d, at)| Some((s, d, port(at)?, port(at + 2)?))) {
        Some((s, d, sp, dp)) => ProxyAddresses::Proxied {
            source: SocketAddr::new(s, sp),
            destination: SocketAddr::new(d, dp),
            transport,
        },
        None => ProxyAddresses::Unknown,
    }
}

/// Builds a v2 header (for tests, benches and fuzz seeds): `PROXY` command
/// over STREAM with the given addresses (both must be the same family), plus
/// `tlv_bytes` of opaque TLV data.
#[doc(hidden)]
pub fn encode_v2(source: SocketAddr, destination: SocketAddr, tlv_bytes: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(0x21);
    let mut addrs = Vec::new();
    match (source, destination) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            v.push(0x11);
            addrs.extend_from_slice(&s.ip().octets());
            addrs.extend_from_slice(&d.ip().octets());
        }
        (s, d) => {
            v.push(0x21);
            let six = |a: SocketAddr| match a.ip() {
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                IpAddr::V6(x) => x.octets(),
            };
            addrs.extend_from_slice(&six(s));
            addrs.extend_from_slice(&six(d));
        }
    }
    addrs.extend_from_slice(&source.port().to_be_bytes());
    addrs.extend_from_slice(&destination.port().to_be_bytes());
    addrs.extend_from_slice(tlv_bytes);
    let len = u16::try_from(addrs.len()).unwrap_or(u16::MAX);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&addrs);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(data: &[u8]) -> (ProxyHeader, usize) {
        match parse_proxy(data, 4096).unwrap() {
            ProxyParse::Complete { header, len } => (header, len),
            other => panic!("{other:?}"),
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_tcp4_and_tcp6() {
        let (h, len) = complete(b"PROXY TCP4 192.0.2.1 198.51.100.2 5060 5061\r\nINVITE");
        assert_eq!(len, 45);
        assert_eq!(
            h.addresses,
            ProxyAddresses::Proxied {
                source: sa("192.0.2.1:5060"),
                destination: sa("198.51.100.2:5061"),
                transport: ProxyTransport::Stream
            }
        );
        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
        assert_eq!(
            h.addresses,
            ProxyAddresses::Proxied {
                source: sa("[2001:db8::1]:65535"),
                destination: sa("[::1]:0"),
                transport: ProxyTransport::Stream
            }
        );
        let (h, len) = complete(b"PROXY UNKNOWN whatever follows\r\n");
        assert_eq!((h.addresses, len), (ProxyAddresses::Unknown, 32));
    }

    /// A v1 line padded to exactly `total` bytes including CRLF (UNKNOWN allows padding).
    fn v1_line(total: usize) -> Vec<u8> {
        let mut l = b"PROXY UNKNOWN ".to_vec();
        l.resize(total - 2, b'x');
        l.extend_from_slice(b"\r\n");
        l
    }

    #[test]
    fn v1_length_boundary() {
        let l107 = v1_line(107);
        assert_eq!(complete(&l107).1, 107);
        let l108 = v1_line(108);
        // Every prefix shorter than 107 bytes waits; at 107 bytes it fails.
        for n in 1..107 {
            assert_eq!(
                parse_proxy(&l108[..n], 4096),
                Ok(ProxyParse::Incomplete { need: None })
            );
        }
        assert_eq!(parse_proxy(&l108[..107], 4096), Err(ProxyError::V1TooLong));
        assert_eq!(parse_proxy(&l108, 4096), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn v1_errors() {
        let e = |d: &[u8]| parse_proxy(d, 4096).unwrap_err();
        assert_eq!(e(b"PROXX"), ProxyError::BadSignature);
        assert_eq!(e(b"INVITE sip:a SIP/2.0\r\n"), ProxyError::BadSignature);
        assert_eq!(e(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), ProxyError::V1BareLf);
        assert_eq!(
            e(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
            ProxyError::V1BadProtocol
        );
        assert_eq!(
            e(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"),
            ProxyError::V1BadAddress
        );
        assert_eq!(
            e(b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"),
            ProxyError::V1BadAddress
        );
        assert_eq!(
            e(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
            ProxyError::V1BadPort
        );
        assert_eq!(
            e(b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"),
            ProxyError::V1BadPort
        );
        assert_eq!(
            e(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
            ProxyError::V1BadPort
        );
        assert_eq!(
            e(b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"),
            ProxyError::V1BadAddress
        );
        assert_eq!(
            e(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
            ProxyError::V1BadFormat
        );
        assert_eq!(e(b"PROXY \r\n"), ProxyError::V1BadProtocol);
    }

    #[test]
    fn v2_inet_with_tlvs() {
        let h = encode_v2(sa("192.0.2.1:40000"), sa("10.0.0.1:5060"), b"\x04\x00\x01z");
        let (p, len) = complete(&h);
        assert_eq!(len, h.len());
        assert_eq!(
            p,
            ProxyHeader {
                version: ProxyVersion::V2,
                addresses: ProxyAddresses::Proxied {
                    source: sa("192.0.2.1:40000"),
                    destination: sa("10.0.0.1:5060"),
                    transport: ProxyTransport::Stream
                },
                tlvs: ProxyTlvArea::Valid { start: 28, len: 4 }
            }
        );
        let t: Vec<_> = p.tlvs(&h).iter().collect();
        assert_eq!(
            t,
            [ProxyTlv {
                kind: pp2::TYPE_NOOP,
                value: b"z"
            }]
        );
        let h6 = encode_v2(sa("[2001:db8::5]:1"), sa("[::1]:2"), b"");
        assert_eq!(h6.len(), 16 + 36);
        let (p, _) = complete(&h6);
        assert!(
            matches!(p.addresses, ProxyAddresses::Proxied { source, .. } if source == sa("[2001:db8::5]:1"))
        );
        assert_eq!(p.tlvs, ProxyTlvArea::None);
        assert!(p.tlvs(&h6).is_empty());
        // Every strict prefix waits.
        for n in 0..h.len() {
            assert!(matches!(
                parse_proxy(&h[..n], 4096),
                Ok(ProxyParse::Incomplete { .. })
            ));
        }
        assert_eq!(
            parse_proxy(&h[..20], 4096),
            Ok(ProxyParse::Incomplete {
                need: Some(h.len() - 20)
            })
        );
    }

    #[test]
    fn v2_local_unspec_unix() {
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(complete(&local).0.addresses, ProxyAddresses::Local);
        let mut unspec = V2_SIGNATURE.to_vec();
        unspec.extend_from_slice(&[0x21, 0x00, 0, 3, 1, 2, 3]);
        assert_eq!(
            complete(&unspec),
            (
                ProxyHeader {
                    version: ProxyVersion::V2,
                    addresses: ProxyAddresses::Unknown,
                    // UNSPEC: the bytes are not read as TLVs.
                    tlvs: ProxyTlvArea::None
                },
                19
            )
        );
        let mut unix = V2_SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0, 216]);
        unix.resize(16 + 216, 0);
        assert_eq!(complete(&unix).0.addresses, ProxyAddresses::Unknown);
        // LOCAL with bytes after it: the block is discarded, TLVs included.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x11, 0, 15]);
        local.resize(16 + 12, 0);
        local.extend_from_slice(&encode_tlv(pp2::TYPE_ALPN, b""));
        let (h, len) = complete(&local);
        assert_eq!(
            (h.addresses, h.tlvs, len),
            (ProxyAddresses::Local, ProxyTlvArea::None, 31)
        );
    }

    fn v4_with(tlvs: &[u8]) -> Vec<u8> {
        encode_v2(sa("192.0.2.1:40000"), sa("10.0.0.1:5060"), tlvs)
    }

    #[test]
    fn v2_tlvs_known_types() {
        let mut ssl = vec![pp2::CLIENT_SSL | pp2::CLIENT_CERT_CONN, 0, 0, 0, 7];
        ssl.extend_from_slice(&encode_tlv(pp2::SUBTYPE_SSL_VERSION, b"TLSv1.3"));
        ssl.extend_from_slice(&encode_tlv(pp2::SUBTYPE_SSL_CN, b"client.example.com"));
        let mut tlvs = encode_tlv(pp2::TYPE_ALPN, b"h2");
        tlvs.extend_from_slice(&encode_tlv(pp2::TYPE_AUTHORITY, b"sip.example.com"));
        tlvs.extend_from_slice(&encode_tlv(0xE0, b"custom"));
        tlvs.extend_from_slice(&encode_tlv(pp2::TYPE_UNIQUE_ID, &[0, 1, 2, 0xff]));
        tlvs.extend_from_slice(&encode_tlv(pp2::TYPE_SSL, &ssl));
        // A second ALPN: lookups return the first.
        tlvs.extend_from_slice(&encode_tlv(pp2::TYPE_ALPN, b"sip"));
        let h = v4_with(&tlvs);
        let (p, _) = complete(&h);
        assert_eq!(
            p.tlvs,
            ProxyTlvArea::Valid {
                start: 28,
                len: tlvs.len() as u16
            }
        );
        let t = p.tlvs(&h);
        assert!(t.is_well_formed());
        assert_eq!(t.as_bytes(), &tlvs[..]);
        assert_eq!(t.alpn(), Some(&b"h2"[..]));
        assert_eq!(t.authority(), Some(&b"sip.example.com"[..]));
        assert_eq!(t.unique_id(), Some(&[0, 1, 2, 0xff][..]));
        assert_eq!(t.get(0xE0), Some(&b"custom"[..]));
        assert_eq!(t.get(pp2::TYPE_NETNS), None);
        let kinds: Vec<u8> = t.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [1, 2, 0xE0, 5, 0x20, 1]);
        let s = t.ssl().unwrap();
        assert!(s.client_tls() && s.client_cert_conn() && !s.client_cert_sess());
        assert_eq!(s.verify, 7);
        assert_eq!(s.version(), Some(&b"TLSv1.3"[..]));
        assert_eq!(s.cn(), Some(&b"client.example.com"[..]));
        assert_eq!(s.cipher(), None);
        // A view on the wrong bytes (too short) is empty, not a panic.
        assert!(p.tlvs(&h[..20]).is_empty());
    }

    #[test]
    fn v2_tlv_edges() {
        // A zero-length TLV is whole (3 bytes).
        let h = v4_with(&encode_tlv(pp2::TYPE_NOOP, b""));
        let (p, _) = complete(&h);
        assert_eq!(p.tlvs, ProxyTlvArea::Valid { start: 28, len: 3 });
        assert_eq!(p.tlvs(&h).get(pp2::TYPE_NOOP), Some(&b""[..]));
        // A TLV ending exactly at the header's end, after an empty one.
        let mut t = encode_tlv(pp2::TYPE_ALPN, b"");
        t.extend_from_slice(&encode_tlv(pp2::TYPE_AUTHORITY, b"a.example"));
        let h = v4_with(&t);
        let (p, len) = complete(&h);
        assert_eq!(len, h.len());
        assert_eq!(p.tlvs(&h).alpn(), Some(&b""[..]));
        assert_eq!(p.tlvs(&h).authority(), Some(&b"a.example"[..]));
        // One byte past the end: the length says 10, 9 bytes follow. The header
        // (whose own length covers exactly what is there) still parses and its
        // addresses apply; the TLVs are ignored.
        let mut t = encode_tlv(pp2::TYPE_AUTHORITY, b"a.example");
        t[2] = 10;
        let h = v4_with(&t);
        let (p, len) = complete(&h);
        assert_eq!(len, h.len());
        assert_eq!(p.tlvs, ProxyTlvArea::Malformed);
        assert!(p.tlvs(&h).is_empty());
        assert!(matches!(p.addresses, ProxyAddresses::Proxied { .. }));
        // Well-formed TLVs before a bad one do not make the area valid.
        let mut t = encode_tlv(pp2::TYPE_ALPN, b"h2");
        t.extend_from_slice(&[pp2::TYPE_AUTHORITY, 0xff, 0xff, b'x']);
        let (p, _) = complete(&v4_with(&t));
        assert_eq!(p.tlvs, ProxyTlvArea::Malformed);
        // 1 and 2 bytes left: no room for a TLV's type and length.
        for tail in [&[1u8][..], &[1, 0]] {
            let mut t = encode_tlv(pp2::TYPE_ALPN, b"h2");
            t.extend_from_slice(tail);
            assert_eq!(complete(&v4_with(&t)).0.tlvs, ProxyTlvArea::Malformed);
        }
        // The view alone stops at the first TLV that does not fit.
        let mut t = encode_tlv(pp2::TYPE_ALPN, b"h2");
        t.extend_from_slice(&[pp2::TYPE_AUTHORITY, 0, 5, b'x']);
        let v = ProxyTlvs::new(&t);
        assert!(!v.is_well_formed());
        assert_eq!(v.iter().count(), 1);
        assert_eq!(v.authority(), None);
        assert!(ProxyTlvs::new(&[]).is_well_formed());
    }

    #[test]
    fn v2_ssl_tlv_edges() {
        // Shorter than client + verify: ignored (the raw value is still there).
        for n in 0..5 {
            let value = vec![pp2::CLIENT_SSL; n];
            let h = v4_with(&encode_tlv(pp2::TYPE_SSL, &value));
            let (p, _) = complete(&h);
            assert!(matches!(p.tlvs, ProxyTlvArea::Valid { .. }));
            assert_eq!(p.tlvs(&h).ssl(), None, "{n} bytes");
            assert_eq!(p.tlvs(&h).get(pp2::TYPE_SSL), Some(&value[..]));
        }
        // Exactly 5 bytes: no sub-TLVs.
        let s = ProxySsl::parse(&[0, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert!(!s.client_tls());
        assert_eq!((s.verify, s.version()), (u32::MAX, None));
        assert!(s.sub_tlvs().is_empty());
        // Sub-TLVs running past the value: the SSL TLV is ignored.
        assert_eq!(ProxySsl::parse(&[1, 0, 0, 0, 0, 0x21, 0, 9, b'T']), None);
        assert_eq!(ProxySsl::parse(&[1, 0, 0, 0, 0, 0x21]), None);
    }

    #[test]
    fn v1_and_bare_v2_have_no_tlvs() {
        let (h, _) = complete(b"PROXY TCP4 192.0.2.1 198.51.100.2 5060 5061\r\n");
        assert_eq!(h.tlvs, ProxyTlvArea::None);
        let (h, _) = complete(&v4_with(b""));
        assert_eq!(h.tlvs, ProxyTlvArea::None);
    }

    #[test]
    fn v2_errors() {
        let with = |tail: &[u8]| {
            let mut v = V2_SIGNATURE.to_vec();
            v.extend_from_slice(tail);
            parse_proxy(&v, 4096)
        };
        assert_eq!(with(&[0x11]), Err(ProxyError::V2BadVersion(1)));
        assert_eq!(with(&[0x22]), Err(ProxyError::V2BadCommand(2)));
        assert_eq!(with(&[0x21, 0x41]), Err(ProxyError::V2BadFamily(4)));
        assert_eq!(with(&[0x21, 0x13]), Err(ProxyError::V2BadTransport(3)));
        assert_eq!(
            with(&[0x21, 0x11, 0, 11]),
            Err(ProxyError::V2ShortAddresses {
                len: 11,
                needed: 12
            })
        );
        assert_eq!(
            with(&[0x21, 0x21, 0, 35]),
            Err(ProxyError::V2ShortAddresses {
                len: 35,
                needed: 36
            })
        );
        // Length past the buffer: rejected as soon as the length is known.
        assert_eq!(
            with(&[0x21, 0x11, 0x10, 0x00]),
            Err(ProxyError::TooLarge {
                size: 16 + 4096,
                capacity: 4096
            })
        );
        // Signature mismatch at its first wrong byte.
        assert_eq!(
            parse_proxy(b"\r\n\r\n\0\r\nQUIX", 4096),
            Err(ProxyError::BadSignature)
        );
        assert_eq!(
            parse_proxy(b"\r\n\r\n\r\n", 4096),
            Err(ProxyError::BadSignature)
        );
        assert_eq!(
            parse_proxy(b"\r\n\r\n", 4096),
            Ok(ProxyParse::Incomplete { need: None })
        );
    }
}
