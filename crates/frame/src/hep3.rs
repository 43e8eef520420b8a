//! HEP3 (Homer encapsulation protocol v3) packets over a stream.
//!
//! A packet is `"HEP3"`, a 16-bit big-endian total length (including these
//! 6 bytes), then chunks of `vendor id u16, type id u16, length u16` (the
//! length includes the 6-byte chunk header) and a payload. Framing uses the
//! total length; a complete packet is accepted only if its chunks tile it
//! exactly, so a bad chunk length is an error, never a stalled loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::Hep3Error;

/// The 4 magic bytes that start every HEP3 packet.
pub const HEP3_MAGIC: &[u8; 4] = b"HEP3";
/// Size of the packet header and of each chunk header.
pub const HEP3_HEADER_LEN: usize = 6;

/// Chunk type ids of the generic vendor (0) that [`Hep3Packet`] decodes.
pub mod chunk {
    /// IP family (u8): 2 = IPv4, 10 = IPv6.
    pub const IP_FAMILY: u16 = 0x0001;
    /// IP protocol number (u8): 6 = TCP, 17 = UDP.
    pub const IP_PROTO: u16 = 0x0002;
    /// IPv4 source address (4 bytes).
    pub const SRC_IP4: u16 = 0x0003;
    /// IPv4 destination address (4 bytes).
    pub const DST_IP4: u16 = 0x0004;
    /// IPv6 source address (16 bytes).
    pub const SRC_IP6: u16 = 0x0005;
    /// IPv6 destination address (16 bytes).
    pub const DST_IP6: u16 = 0x0006;
    /// Source port (u16).
    pub const SRC_PORT: u16 = 0x0007;
    /// Destination port (u16).
    pub const DST_PORT: u16 = 0x0008;
    /// Timestamp, seconds (u32).
    pub const TS_SEC: u16 = 0x0009;
    /// Timestamp, microseconds offset (u32).
    pub const TS_USEC: u16 = 0x000a;
    /// Captured protocol type (u8): 1 = SIP.
    pub const PROTO_TYPE: u16 = 0x000b;
    /// Capture agent id (u32).
    pub const CAPTURE_ID: u16 = 0x000c;
    /// Captured packet payload.
    pub const PAYLOAD: u16 = 0x000f;
    /// Correlation id (octets).
    pub const CORRELATION_ID: u16 = 0x0011;
}

/// Looks at a stream position holding `HEP3...`: `Ok(None)` until the 6-byte
/// header is buffered, then `Ok(Some(total))` (after checking the total
/// length against the header size and `capacity`).
pub(crate) fn packet_len(data: &[u8], capacity: usize) -> Result<Option<usize>, Hep3Error> {
    let Some(h) = data.get(..HEP3_HEADER_LEN) else {
        return Ok(None);
    };
    if h.get(..4) != Some(&HEP3_MAGIC[..]) {
        return Err(Hep3Error::BadMagic);
    }
    let len = be16(h, 4).unwrap_or(0);
    if usize::from(len) < HEP3_HEADER_LEN {
        return Err(Hep3Error::LengthTooShort(len));
    }
    if usize::from(len) > capacity {
        return Err(Hep3Error::TooLarge {
            size: usize::from(len),
            capacity,
        });
    }
    Ok(Some(usize::from(len)))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(<[u8; 2]>::try_from(s).ok()?))
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(<[u8; 4]>::try_from(b).ok()?))
}

/// One chunk of a HEP3 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hep3Chunk<'a> {
    /// Vendor id (0 = generic).
    pub vendor: u16,
    /// Chunk type id.
    pub chunk_type: u16,
    /// Payload (without the 6-byte chunk header).
    pub data: &'a [u8],
    /// Offset of the chunk header in the packet.
    pub offset: usize,
}

/// Iterator over the chunks of a packet; yields an error (then stops) on a
/// malformed chunk.
#[derive(Debug, Clone)]
pub struct Hep3Chunks<'a> {
    packet: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Hep3Chunks<'a> {
    type Item = Result<Hep3Chunk<'a>, Hep3Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.pos;
        if offset >= self.packet.len() {
            return None;
        }
        let fail = |e| Some(Err(e));
        let (Some(vendor), Some(chunk_type), Some(len)) = (
            be16(self.packet, offset),
            be16(self.packet, offset + 2),
            be16(self.packet, offset + 4),
        ) else {
            self.pos = self.packet.len();
            return fail(Hep3Error::ChunkOverrun { offset });
        };
        if usize::from(len) < HEP3_HEADER_LEN {
            self.pos = self.packet.len();
            return fail(Hep3Error::ChunkTooShort { offset, len });
        }
        let end = offset + usize::from(len);
        let Some(data) = self.packet.get(offset + HEP3_HEADER_LEN..end) else {
            self.pos = self.packet.len();
            return fail(Hep3Error::ChunkOverrun { offset });
        };
        self.pos = end;
        Some(Ok(Hep3Chunk {
            vendor,
            chunk_type,
            data,
            offset,
        }))
    }
}

/// Iterates the chunks of a whole packet (magic and length are checked by
/// [`validate`]; this only walks chunks after the 6-byte header, up to the
/// end of `packet`).
pub fn chunks(packet: &[u8]) -> Hep3Chunks<'_> {
    Hep3Chunks {
        packet,
        pos: HEP3_HEADER_LEN,
    }
}

/// Checks a complete packet: magic, total length equal to `packet.len()`,
/// and chunks that tile the rest exactly.
pub fn validate(packet: &[u8]) -> Result<(), Hep3Error> {
    let Some(len) = packet_len(packet, usize::MAX)? else {
        // Shorter than the 6-byte header (magic checked where present).
        if packet.get(..packet.len().min(4)) != HEP3_MAGIC.get(..packet.len().min(4)) {
            return Err(Hep3Error::BadMagic);
        }
        return Err(Hep3Error::Truncated {
            len: HEP3_HEADER_LEN as u16,
            available: packet.len(),
        });
    };
    if len != packet.len() {
        return Err(Hep3Error::Truncated {
            len: u16::try_from(len).unwrap_or(u16::MAX),
            available: packet.len(),
        });
    }
    for c in chunks(packet) {
        c?;
    }
    Ok(())
}

/// A decoded, borrowed view of the generic (vendor 0) chunks of a packet.
/// Unknown chunks and other vendors are skipped; [`Hep3Packet::chunks`]
/// iterates everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hep3Packet<'a> {
    /// The whole packet.
    pub bytes: &'a [u8],
    /// IP family (2 = IPv4, 10 = IPv6).
    pub ip_family: Option<u8>,
    /// IP protocol number (6 = TCP, 17 = UDP).
    pub ip_proto: Option<u8>,
    /// Source IP (from the IPv4 or IPv6 chunk).
    pub src_ip: Option<IpAddr>,
    /// Destination IP.
    pub dst_ip: Option<IpAddr>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// Capture time, seconds since the epoch.
    pub ts_sec: Option<u32>,
    /// Capture time, microseconds offset.
    pub ts_usec: Option<u32>,
    /// Captured protocol type (1 = SIP).
    pub proto_type: Option<u8>,
    /// Capture agent id.
    pub capture_id: Option<u32>,
    /// Captured payload (e.g. the SIP message).
    pub payload: Option<&'a [u8]>,
    /// Correlation id.
    pub correlation_id: Option<&'a [u8]>,
}

impl<'a> Hep3Packet<'a> {
    /// Validates and decodes a whole packet. A generic chunk of a fixed-size
    /// type with the wrong size is an error.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Hep3Error> {
        validate(bytes)?;
        let mut p = Hep3Packet {
            bytes,
            ..Self::default()
        };
        for c in chunks(bytes) {
            let c = c?;
            if c.vendor != 0 {
                continue;
            }
            let bad = Hep3Error::BadChunkSize {
                chunk_type: c.chunk_type,
                len: c.data.len(),
            };
            let u8v = || match c.data {
                [b] => Ok(*b),
                _ => Err(bad),
            };
            match c.chunk_type {
                chunk::IP_FAMILY => p.ip_family = Some(u8v()?),
                chunk::IP_PROTO => p.ip_proto = Some(u8v()?),
                chunk::PROTO_TYPE => p.proto_type = Some(u8v()?),
                chunk::SRC_IP4 | chunk::DST_IP4 => {
                    let a = <[u8; 4]>::try_from(c.data).map_err(|_| bad)?;
                    let ip = Some(IpAddr::V4(Ipv4Addr::from(a)));
                    if c.chunk_type == chunk::SRC_IP4 {
                        p.src_ip = ip;
                    } else {
                        p.dst_ip = ip;
                    }
                }
                chunk::SRC_IP6 | chunk::DST_IP6 => {
                    let a = <[u8; 16]>::try_from(c.data).map_err(|_| bad)?;
                    let ip = Some(IpAddr::V6(Ipv6Addr::from(a)));
                    if c.chunk_type == chunk::SRC_IP6 {
                        p.src_ip = ip;
                    } else {
                        p.dst_ip = ip;
                    }
                }
                chunk::SRC_PORT => {
                    p.src_port = Some(be16(c.data, 0).filter(|_| c.data.len() == 2).ok_or(bad)?)
                }
                chunk::DST_PORT => {
                    p.dst_port = Some(be16(c.data, 0).filter(|_| c.data.len() == 2).ok_or(bad)?)
                }
                chunk::TS_SEC => p.ts_sec = Some(be32(c.data).ok_or(bad)?),
                chunk::TS_USEC => p.ts_usec = Some(be32(c.data).ok_or(bad)?),
                chunk::CAPTURE_ID => p.capture_id = Some(be32(c.data).ok_or(bad)?),
                chunk::PAYLOAD => p.payload = Some(c.data),
                chunk::CORRELATION_ID => p.correlation_id = Some(c.data),
                _ => {}
            }
        }
        Ok(p)
    }

    /// All chunks, including other vendors' and unknown types.
    pub fn chunks(&self) -> Hep3Chunks<'a> {
        chunks(self.bytes)
    }

    /// Source address, if both IP and port are present.
    pub fn source(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.src_ip?, self.src_port?))
    }

    /// Destination address, if both IP and port are present.
    pub fn destination(&self) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.dst_ip?, self.dst_port?))
    }
}

/// Builds a packet from `(vendor, type, payload)` chunks (tests, benches, seeds).
#[doc(hidden)]
pub fn encode(chunks: &[(u16, u16, &[u8])]) -> Vec<u8> {
    let mut v = HEP3_MAGIC.to_vec();
    v.extend_from_slice(&[0, 0]);
    for (vendor, ty, data) in chunks {
        v.extend_from_slice(&vendor.to_be_bytes());
        v.extend_from_slice(&ty.to_be_bytes());
        let l = u16::try_from(data.len() + HEP3_HEADER_LEN).unwrap_or(u16::MAX);
        v.extend_from_slice(&l.to_be_bytes());
        v.extend_from_slice(data);
    }
    let total = u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes();
    v[4] = total[0];
    v[5] = total[1];
    v
}

/// A typical capture packet: IPv4 SIP over UDP with the given payload.
#[doc(hidden)]
pub fn sample(payload: &[u8]) -> Vec<u8> {
    encode(&[
        (0, chunk::IP_FAMILY, &[2]),
        (0, chunk::IP_PROTO, &[17]),
        (0, chunk::SRC_IP4, &[192, 0, 2, 1]),
        (0, chunk::DST_IP4, &[192, 0, 2, 2]),
        (0, chunk::SRC_PORT, &5060u16.to_be_bytes()),
        (0, chunk::DST_PORT, &5080u16.to_be_bytes()),
        (0, chunk::TS_SEC, &1_700_000_000u32.to_be_bytes()),
        (0, chunk::TS_USEC, &123_456u32.to_be_bytes()),
        (0, chunk::PROTO_TYPE, &[1]),
        (0, chunk::CAPTURE_ID, &2001u32.to_be_bytes()),
        (0, chunk::CORRELATION_ID, b"call-1@host"),
        (0x1234, 0x0099, b"vendor"),
        (0, chunk::PAYLOAD, payload),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_sample() {
        let pkt = sample(b"OPTIONS sip:a SIP/2.0\r\n\r\n");
        let p = Hep3Packet::parse(&pkt).unwrap();
        assert_eq!(p.ip_family, Some(2));
        assert_eq!(p.ip_proto, Some(17));
        assert_eq!(p.source(), Some("192.0.2.1:5060".parse().unwrap()));
        assert_eq!(p.destination(), Some("192.0.2.2:5080".parse().unwrap()));
        assert_eq!((p.ts_sec, p.ts_usec), (Some(1_700_000_000), Some(123_456)));
        assert_eq!(p.capture_id, Some(2001));
        assert_eq!(p.proto_type, Some(1));
        assert_eq!(p.correlation_id, Some(&b"call-1@host"[..]));
        assert_eq!(p.payload, Some(&b"OPTIONS sip:a SIP/2.0\r\n\r\n"[..]));
        assert_eq!(p.chunks().count(), 13);
        let v6 = encode(&[(0, chunk::SRC_IP6, &[0; 16]), (0, chunk::SRC_PORT, &[0, 1])]);
        assert_eq!(
            Hep3Packet::parse(&v6).unwrap().source(),
            Some("[::]:1".parse().unwrap())
        );
    }

    #[test]
    fn framing_checks() {
        assert_eq!(packet_len(b"HEP3\x00", 100), Ok(None));
        assert_eq!(packet_len(b"HEP3\x00\x06", 100), Ok(Some(6)));
        assert_eq!(
            packet_len(b"HEP3\x00\x05", 100),
            Err(Hep3Error::LengthTooShort(5))
        );
        assert_eq!(
            packet_len(b"HEP3\x00\x65", 100),
            Err(Hep3Error::TooLarge {
                size: 101,
                capacity: 100
            })
        );
        assert_eq!(packet_len(b"HEP2\x00\x06", 100), Err(Hep3Error::BadMagic));
    }

    #[test]
    fn chunk_errors() {
        // Chunk length 5 (< 6).
        let mut p = encode(&[(0, 1, &[2])]);
        p[11] = 5;
        assert_eq!(
            validate(&p),
            Err(Hep3Error::ChunkTooShort { offset: 6, len: 5 })
        );
        // Chunk length running past the packet.
        p[11] = 8;
        assert_eq!(validate(&p), Err(Hep3Error::ChunkOverrun { offset: 6 }));
        // Trailing bytes too short for a chunk header.
        let mut q = encode(&[(0, 1, &[2])]);
        q.extend_from_slice(&[0, 0, 0]);
        q[5] += 3;
        assert_eq!(validate(&q), Err(Hep3Error::ChunkOverrun { offset: 13 }));
        // Empty chunk list is fine; a zero-payload chunk is fine.
        assert!(validate(&encode(&[])).is_ok());
        assert!(validate(&encode(&[(0, 0x20, b"")])).is_ok());
        // Wrong fixed size.
        let r = encode(&[(0, chunk::SRC_PORT, &[1, 2, 3])]);
        assert_eq!(
            Hep3Packet::parse(&r),
            Err(Hep3Error::BadChunkSize {
                chunk_type: 7,
                len: 3
            })
        );
        // Length field not matching the slice.
        let s = encode(&[]);
        assert_eq!(
            validate(&s[..5]),
            Err(Hep3Error::Truncated {
                len: 6,
                available: 5
            })
        );
        assert_eq!(
            validate(b""),
            Err(Hep3Error::Truncated {
                len: 6,
                available: 0
            })
        );
        assert_eq!(validate(b"HEX"), Err(Hep3Error::BadMagic));
        assert!(Hep3Packet::parse(b"").is_err());
    }
}
