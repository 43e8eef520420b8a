//! The TLVs of a PROXY v2 header (haproxy's proxy-protocol.txt, section 2.2): where they are
//! in the header, a borrowed view with lookups by type, and the SSL TLV with its sub-TLVs.
//! Nothing here copies or reads past the bytes it is given.

/// Where the TLVs of a header are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyTlvArea {
    /// None: a v1 header, a v2 LOCAL command (its whole block is discarded), or
    /// no bytes after the addresses.
    #[default]
    None,
    /// Whole TLVs, ending exactly at the header's end: bytes
    /// `start..start + len` of the header.
    Valid {
        /// Offset of the first TLV from the header's first byte.
        start: u16,
        /// Bytes of TLVs (at least 3, the smallest TLV).
        len: u16,
    },
    /// Bytes after the addresses that are not whole TLVs (fewer than 3 bytes
    /// left for a TLV's type and length, or a length running past the header's
    /// end): ignored, the header's addresses still apply.
    Malformed,
}

/// TLV type and flag values of the v2 header (proxy-protocol.txt, section 2.2).
pub mod pp2 {
    /// `PP2_TYPE_ALPN`: the application protocol (TLS ALPN), opaque bytes.
    pub const TYPE_ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
    pub const TYPE_AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: checksum of the header (not verified by sipwire).
    pub const TYPE_CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, to be ignored.
    pub const TYPE_NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: opaque id of the connection (up to 128 bytes).
    pub const TYPE_UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: the client's TLS details ([`super::ProxySsl`]).
    pub const TYPE_SSL: u8 = 0x20;
    /// `PP2_SUBTYPE_SSL_VERSION`, inside the SSL TLV: TLS version, US-ASCII.
    pub const SUBTYPE_SSL_VERSION: u8 = 0x21;
    /// `PP2_SUBTYPE_SSL_CN`, inside the SSL TLV: the client certificate's Common Name.
    pub const SUBTYPE_SSL_CN: u8 = 0x22;
    /// `PP2_SUBTYPE_SSL_CIPHER`, inside the SSL TLV: cipher name, US-ASCII.
    pub const SUBTYPE_SSL_CIPHER: u8 = 0x23;
    /// `PP2_SUBTYPE_SSL_SIG_ALG`, inside the SSL TLV: certificate signature algorithm.
    pub const SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
    /// `PP2_SUBTYPE_SSL_KEY_ALG`, inside the SSL TLV: certificate key algorithm.
    pub const SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
    /// `PP2_TYPE_NETNS`: network namespace name, US-ASCII.
    pub const TYPE_NETNS: u8 = 0x30;
    /// `PP2_CLIENT_SSL`, in the SSL TLV's `client` field: the client connected over TLS.
    pub const CLIENT_SSL: u8 = 0x01;
    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    pub const CLIENT_CERT_CONN: u8 = 0x02;
    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate in this TLS session.
    pub const CLIENT_CERT_SESS: u8 = 0x04;
}

/// Bytes of a TLV's type and length.
const TLV_HEADER_LEN: usize = 3;
/// Bytes of the SSL TLV's fixed part: `client` (1) and `verify` (4).
const SSL_FIXED_LEN: usize = 5;

/// One TLV: its type and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTlv<'a> {
    /// The type byte (see [`pp2`]).
    pub kind: u8,
    /// The value (may be empty).
    pub value: &'a [u8],
}

/// A sequence of TLVs, borrowed: the TLVs of a header ([`ProxyHeader::tlvs`]) or
/// the sub-TLVs of an SSL TLV ([`ProxySsl::sub_tlvs`]). Lookups return the
/// first TLV of a type; iteration stops at the first TLV that does not fit
/// (never past the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyTlvs<'a> {
    bytes: &'a [u8],
}

impl<'a> ProxyTlvs<'a> {
    /// A view of `bytes` as TLVs (not checked: see [`ProxyTlvs::is_well_formed`]).
    pub fn new(bytes: &'a [u8]) -> ProxyTlvs<'a> {
        ProxyTlvs { bytes }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// No bytes at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the bytes are whole TLVs, the last ending at the last byte.
    pub fn is_well_formed(&self) -> bool {
        well_formed(self.bytes)
    }

    /// The TLVs in order.
    pub fn iter(&self) -> ProxyTlvIter<'a> {
        ProxyTlvIter { rest: self.bytes }
    }

    /// The value of the first TLV of type `kind`.
    pub fn get(&self, kind: u8) -> Option<&'a [u8]> {
        self.iter().find(|t| t.kind == kind).map(|t| t.value)
    }

    /// `PP2_TYPE_ALPN`.
    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.get(pp2::TYPE_ALPN)
    }

    /// `PP2_TYPE_AUTHORITY` (UTF-8 by the spec; not checked).
    pub fn authority(&self) -> Option<&'a [u8]> {
        self.get(pp2::TYPE_AUTHORITY)
    }

    /// `PP2_TYPE_UNIQUE_ID`.
    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.get(pp2::TYPE_UNIQUE_ID)
    }

    /// `PP2_TYPE_SSL`, when its value is well formed (see [`ProxySsl::parse`]).
    pub fn ssl(&self) -> Option<ProxySsl<'a>> {
        self.get(pp2::TYPE_SSL).and_then(ProxySsl::parse)
    }
}

impl<'a> IntoIterator for ProxyTlvs<'a> {
    type Item = ProxyTlv<'a>;
    type IntoIter = ProxyTlvIter<'a>;

    fn into_iter(self) -> ProxyTlvIter<'a> {
        self.iter()
    }
}

/// Iterator over [`ProxyTlvs`].
#[derive(Debug, Clone)]
pub struct ProxyTlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ProxyTlvIter<'a> {
    type Item = ProxyTlv<'a>;

    fn next(&mut self) -> Option<ProxyTlv<'a>> {
        match split_tlv(self.rest) {
            Some((tlv, rest)) => {
                self.rest = rest;
                Some(tlv)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The first TLV of `b` and what follows it; `None` when `b` is empty or its
/// first TLV does not fit.
fn split_tlv(b: &[u8]) -> Option<(ProxyTlv<'_>, &[u8])> {
    let (&kind, &hi, &lo) = (b.first()?, b.get(1)?, b.get(2)?);
    let end = TLV_HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo]));
    let value = b.get(TLV_HEADER_LEN..end)?;
    Some((ProxyTlv { kind, value }, b.get(end..)?))
}

/// Whether `b` is whole TLVs, the last ending at its last byte.
pub(super) fn well_formed(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        match split_tlv(b) {
            Some((_, rest)) => b = rest,
            None => return false,
        }
    }
    true
}

/// The value of a `PP2_TYPE_SSL` TLV: what the proxy knows of the client's TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySsl<'a> {
    /// The `client` bit field ([`pp2::CLIENT_SSL`], [`pp2::CLIENT_CERT_CONN`],
    /// [`pp2::CLIENT_CERT_SESS`]).
    pub client: u8,
    /// The `verify` field: 0 when the client presented a certificate and it
    /// was verified, non-zero otherwise.
    pub verify: u32,
    sub: &'a [u8],
}

impl<'a> ProxySsl<'a> {
    /// Reads an SSL TLV's value: `None` when it is shorter than its 5 fixed
    /// bytes or its sub-TLVs are not well formed (the TLV is then ignored).
    pub fn parse(value: &'a [u8]) -> Option<ProxySsl<'a>> {
        let client = *value.first()?;
        let verify = value
            .get(1..SSL_FIXED_LEN)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(u32::from_be_bytes)?;
        let sub = value.get(SSL_FIXED_LEN..)?;
        well_formed(sub).then_some(ProxySsl {
            client,
            verify,
            sub,
        })
    }

    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub fn client_tls(&self) -> bool {
        self.client & pp2::CLIENT_SSL != 0
    }

    /// `PP2_CLIENT_CERT_CONN`: the client presented a certificate on this connection.
    pub fn client_cert_conn(&self) -> bool {
        self.client & pp2::CLIENT_CERT_CONN != 0
    }

    /// `PP2_CLIENT_CERT_SESS`: the client presented a certificate in this TLS session.
    pub fn client_cert_sess(&self) -> bool {
        self.client & pp2::CLIENT_CERT_SESS != 0
    }

    /// The sub-TLVs (version, CN, cipher, ...).
    pub fn sub_tlvs(&self) -> ProxyTlvs<'a> {
        ProxyTlvs::new(self.sub)
    }

    /// `PP2_SUBTYPE_SSL_VERSION`: the TLS version, e.g. `TLSv1.3`.
    pub fn version(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().get(pp2::SUBTYPE_SSL_VERSION)
    }

    /// `PP2_SUBTYPE_SSL_CN`: the client certificate's Common Name.
    pub fn cn(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().get(pp2::SUBTYPE_SSL_CN)
    }

    /// `PP2_SUBTYPE_SSL_CIPHER`: the cipher name.
    pub fn cipher(&self) -> Option<&'a [u8]> {
        self.sub_tlvs().get(pp2::SUBTYPE_SSL_CIPHER)
    }
}

/// Builds one TLV (for tests, benches and fuzz seeds): `kind`, the length of
/// `value` (cut to 65535 bytes) and `value`.
#[doc(hidden)]
pub fn encode_tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let value = value.get(..usize::from(u16::MAX)).unwrap_or(value);
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    let mut v = vec![kind];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(value);
    v
}
