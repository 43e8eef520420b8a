//! The keyed MACs in our Via, so a response is routed only when this relay (or another
//! instance sharing the key) wrote the Via it carries.
//!
//! Our Via is `Via: SIP/2.0/<TCP|SCTP> <addr>;branch=z9hG4bKsWd.<T><M>;cid=<conid>.<C>`, with
//! three 16-hex-digit values:
//!
//! - `T`, the transaction hash (FNV-1a, `hash.rs`): the same for retransmissions and for the
//!   CANCEL of an INVITE, as RFC 3261 §16.11 asks of a stateless proxy.
//! - `M = SipHash-2-4(key; T, our address, fallback[, "sctp"])`, where the fallback is the
//!   address a response goes to when the request's connection is gone: the request's source
//!   IP (what `received` says) and the previous hop's sent-by port (RFC 3261 §18.2.2). When
//!   the previous hop's Via says `SIP/2.0/SCTP` the fallback is reached over SCTP, and the
//!   transport is bound too (the trailing `"sctp"`; a TCP fallback's `M` is exactly what it
//!   was before SCTP existed, so instances sharing a key agree across versions). A response
//!   whose `M` does not verify against its own Vias is dropped: nobody but a key holder can
//!   name a destination, or the transport to it, for us to connect to.
//! - `C = SipHash-2-4(key; T, conid, peer)`: binds the connection id to the peer address the
//!   runtime sees on that connection. A response goes over connection `conid` only when `C`
//!   verifies against that connection's peer now, so guessing ids reaches nobody, and an id
//!   minted by another instance (shared key) never selects an unrelated local connection.
//!   An SCTP association's id (top bit set) and its peer (the address the request came from)
//!   work the same way.
//!
//! Nothing here allocates; a MAC costs a few hundred nanoseconds.

use std::fmt;
use std::hash::Hasher;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use siphasher::sip::SipHasher24;

use super::Proto;

/// Domain separation of the two MACs.
const TAG_BRANCH: &[u8] = b"sipwired/branch/1";
const TAG_CID: &[u8] = b"sipwired/cid/1";
/// The branch MAC's last input when the fallback is reached over SCTP (nothing for TCP).
const TRANSPORT_SCTP: &[u8] = b"sctp";

/// The 128-bit SipHash key of a relay.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MacKey {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)") // never print the secret
    }
}

impl MacKey {
    /// A key from 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> MacKey {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        MacKey {
            k0: u64::from_le_bytes(lo),
            k1: u64::from_le_bytes(hi),
        }
    }

    /// 16 random bytes from `/dev/urandom` (a new key per start).
    pub fn random() -> std::io::Result<MacKey> {
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        Ok(MacKey::from_bytes(b))
    }

    /// A key from the standard library's randomly seeded `RandomState` (itself seeded by
    /// the OS): the fallback of `Relay::new` when `/dev/urandom` cannot be read.
    pub fn from_random_state() -> MacKey {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        MacKey {
            k0: s.hash_one(0u8),
            k1: s.hash_one(1u8),
        }
    }

    /// `--relay-secret`: 32 hex digits, or the path of a file holding them (surrounding
    /// white space ignored). A file keeps the secret out of `ps`.
    pub fn parse_secret(text: &str) -> Result<MacKey, String> {
        if let Some(k) = MacKey::from_hex(text.trim()) {
            return Ok(k);
        }
        let path = Path::new(text);
        let content = std::fs::read_to_string(path).map_err(|e| {
            format!("--relay-secret: neither 32 hex digits nor a readable file ({e})")
        })?;
        MacKey::from_hex(content.trim()).ok_or_else(|| {
            format!(
                "--relay-secret: {} does not hold 32 hex digits",
                path.display()
            )
        })
    }

    /// 32 hex digits (128 bits).
    pub fn from_hex(hex: &str) -> Option<MacKey> {
        let hex = hex.as_bytes();
        if hex.len() != 32 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, out) in b.iter_mut().enumerate() {
            let hi = hex_digit(*hex.get(2 * i)?)?;
            let lo = hex_digit(*hex.get(2 * i + 1)?)?;
            *out = (hi << 4) | lo;
        }
        Some(MacKey::from_bytes(b))
    }

    fn hasher(&self, tag: &[u8]) -> SipHasher24 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(tag);
        h
    }

    /// `M`: the branch MAC over the transaction hash, our Via address and the fallback
    /// (reached over TCP).
    pub fn branch_mac(&self, tx: u64, ours: SocketAddr, fallback: SocketAddr) -> u64 {
        self.branch_mac_over(tx, ours, fallback, Proto::Tcp)
    }

    /// `M` for a fallback reached over `proto`: [`MacKey::branch_mac`] for TCP; for SCTP the
    /// transport is one more input, so a TCP Via's `M` never verifies a Via turned into SCTP
    /// (or back).
    pub fn branch_mac_over(
        &self,
        tx: u64,
        ours: SocketAddr,
        fallback: SocketAddr,
        proto: Proto,
    ) -> u64 {
        let mut h = self.hasher(TAG_BRANCH);
        h.write(&tx.to_le_bytes());
        write_addr(&mut h, ours);
        write_addr(&mut h, fallback);
        match proto {
            Proto::Tcp => {}
            Proto::Sctp => h.write(TRANSPORT_SCTP),
        }
        h.finish()
    }

    /// `C`: the cid MAC over the transaction hash, the connection id and its peer address.
    pub fn cid_mac(&self, tx: u64, conid: u64, peer: SocketAddr) -> u64 {
        let mut h = self.hasher(TAG_CID);
        h.write(&tx.to_le_bytes());
        h.write(&conid.to_le_bytes());
        write_addr(&mut h, peer);
        h.finish()
    }
}

/// An address as family, canonical IP octets (IPv4-mapped IPv6 as IPv4) and port.
fn write_addr(h: &mut SipHasher24, a: SocketAddr) {
    match a.ip().to_canonical() {
        IpAddr::V4(ip) => {
            h.write(&[4]);
            h.write(&ip.octets());
        }
        IpAddr::V6(ip) => {
            h.write(&[6]);
            h.write(&ip.octets());
        }
    }
    h.write(&a.port().to_le_bytes());
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `v` as 16 lower-case hex digits.
pub(crate) fn hex16(v: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *o = DIGITS[((v >> shift) & 0xf) as usize];
    }
    out
}

/// Exactly 16 hex digits (either case) to a number.
pub(crate) fn parse_hex16(s: &[u8]) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    s.iter()
        .try_fold(0u64, |acc, &c| Some((acc << 4) | u64::from(hex_digit(c)?)))
}

/// A branch value `z9hG4bKsWd.<T><M>` split into `T` and `M`; `None` for any other shape.
pub(crate) fn parse_branch(branch: &[u8]) -> Option<(u64, u64)> {
    let rest = branch.strip_prefix(super::hash::BRANCH_PREFIX.as_bytes())?;
    if rest.len() != 32 {
        return None;
    }
    Some((parse_hex16(rest.get(..16)?)?, parse_hex16(rest.get(16..)?)?))
}

/// A cid value `<conid>.<C>` (decimal id, 16 hex digits) split; `None` for any other shape.
pub(crate) fn parse_cid(cid: &[u8]) -> Option<(u64, u64)> {
    let dot = cid.iter().position(|&b| b == b'.')?;
    let (id, mac) = (cid.get(..dot)?, cid.get(dot + 1..)?);
    if id.is_empty() || id.len() > 20 || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id = id.iter().try_fold(0u64, |a, &d| {
        a.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some((id, parse_hex16(mac)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    #[test]
    fn siphash_matches_the_reference_vector() {
        // SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e -> a129ca6149be45e5.
        let k = MacKey::from_hex(KEY_HEX).unwrap();
        let mut h = SipHasher24::new_with_keys(k.k0, k.k1);
        h.write(&(0u8..15).collect::<Vec<_>>());
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn secrets_parse_from_hex_or_file() {
        assert!(MacKey::from_hex(KEY_HEX).is_some());
        assert!(MacKey::from_hex(&KEY_HEX.to_uppercase()).is_some());
        assert!(MacKey::from_hex(&KEY_HEX[1..]).is_none());
        assert!(MacKey::from_hex(&format!("{}x", &KEY_HEX[1..])).is_none());
        let path = std::env::temp_dir().join(format!("sipwired-secret-{}", std::process::id()));
        std::fs::write(&path, format!("  {KEY_HEX}\n")).unwrap();
        assert_eq!(
            MacKey::parse_secret(path.to_str().unwrap()).unwrap(),
            MacKey::from_hex(KEY_HEX).unwrap()
        );
        std::fs::write(&path, "not hex").unwrap();
        assert!(MacKey::parse_secret(path.to_str().unwrap()).is_err());
        std::fs::remove_file(&path).unwrap();
        assert!(MacKey::parse_secret("/nonexistent/secret").is_err());
        assert_eq!(
            format!("{:?}", MacKey::from_hex(KEY_HEX).unwrap()),
            "MacKey(..)"
        );
        assert_ne!(MacKey::random().unwrap(), MacKey::random().unwrap());
    }

    #[test]
    fn macs_bind_every_input_and_the_key() {
        let k = MacKey::from_hex(KEY_HEX).unwrap();
        let other = MacKey::from_bytes([9; 16]);
        let (ours, fb) = (sa("192.0.2.1:5060"), sa("203.0.113.5:5070"));
        let m = k.branch_mac(1, ours, fb);
        assert_eq!(m, k.branch_mac(1, ours, fb));
        assert_ne!(m, k.branch_mac(2, ours, fb));
        assert_ne!(m, k.branch_mac(1, sa("192.0.2.1:5061"), fb));
        assert_ne!(m, k.branch_mac(1, ours, sa("203.0.113.6:5070")));
        assert_ne!(m, k.branch_mac(1, ours, sa("203.0.113.5:5071")));
        assert_ne!(m, other.branch_mac(1, ours, fb));
        // IPv4-mapped IPv6 is the same address.
        assert_eq!(m, k.branch_mac(1, ours, sa("[::ffff:203.0.113.5]:5070")));
        let c = k.cid_mac(1, 7, fb);
        assert_ne!(c, k.cid_mac(1, 8, fb));
        assert_ne!(c, k.cid_mac(1, 7, sa("203.0.113.5:5071")));
        assert_ne!(c, k.cid_mac(2, 7, fb));
        assert_ne!(c, other.cid_mac(1, 7, fb));
        // The transport of the fallback: TCP is the plain branch MAC, SCTP another one.
        assert_eq!(m, k.branch_mac_over(1, ours, fb, Proto::Tcp));
        let s = k.branch_mac_over(1, ours, fb, Proto::Sctp);
        assert_ne!(m, s);
        assert_eq!(s, k.branch_mac_over(1, ours, fb, Proto::Sctp));
        assert_ne!(s, other.branch_mac_over(1, ours, fb, Proto::Sctp));
        // The two MACs are separated: same numbers, different tags.
        assert_ne!(k.branch_mac(1, fb, fb), k.cid_mac(1, 7, fb));
    }

    #[test]
    fn encode_and_parse_round_trip() {
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(
            parse_hex16(b"0123456789ABCDEF"),
            Some(0x0123_4567_89ab_cdef)
        );
        assert_eq!(parse_hex16(b"0123456789abcde"), None);
        assert_eq!(parse_hex16(b"0123456789abcdeg"), None);
        let mut b = b"z9hG4bKsWd.".to_vec();
        b.extend_from_slice(&hex16(5));
        b.extend_from_slice(&hex16(u64::MAX));
        assert_eq!(parse_branch(&b), Some((5, u64::MAX)));
        assert_eq!(parse_branch(&b[..b.len() - 1]), None);
        assert_eq!(parse_branch(b"z9hG4bKsWd.0000000000001234"), None);
        assert_eq!(parse_branch(b"z9hG4bK-other"), None);
        let mut c = b"42.".to_vec();
        c.extend_from_slice(&hex16(0xabc));
        assert_eq!(parse_cid(&c), Some((42, 0xabc)));
        assert_eq!(parse_cid(b"42"), None);
        assert_eq!(parse_cid(b".0000000000000abc"), None);
        assert_eq!(parse_cid(b"-1.0000000000000abc"), None);
        assert_eq!(parse_cid(b"99999999999999999999.0000000000000abc"), None);
        assert_eq!(parse_cid(b"4.2.0000000000000abc"), None);
    }
}
