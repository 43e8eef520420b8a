//! FNV-1a (64 bit): the transaction hash in the branch of the Via sipwired inserts.
//!
//! A stateless relay keeps no transactions, so the branch must be a pure function of the
//! request (RFC 3261 §16.11): a retransmission, and the CANCEL of an INVITE, get the branch
//! the original got. FNV-1a is not a cryptographic hash; it only has to spread well and be
//! the same in every process, which it is (no random seed). What makes a branch ours is the
//! keyed MAC next to it (`mac.rs`), not this hash.

/// RFC 3261's magic cookie followed by sipwired's marker. A response whose top Via branch
/// does not start with this was not produced by a sipwired relay.
pub const BRANCH_PREFIX: &str = "z9hG4bKsWd.";

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental FNV-1a, 64 bit.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET_BASIS)
    }
}

impl Fnv1a {
    /// Feeds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
        self
    }

    /// Feeds one field followed by a separator byte that cannot appear in SIP text (0xff),
    /// so `("ab", "c")` and `("a", "bc")` hash differently.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.write(bytes).write(&[0xff])
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// True if `branch` has our marker (it may still be forged: `mac.rs` decides).
pub fn is_our_branch(branch: &[u8]) -> bool {
    branch.starts_with(BRANCH_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        // Test vectors from the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
        assert_eq!(Fnv1a::default().finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::default().write(b"a").finish(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            Fnv1a::default().write(b"foobar").finish(),
            0x8594_4171_f739_67e8
        );
    }

    #[test]
    fn fields_are_separated() {
        let a = Fnv1a::default().field(b"ab").field(b"c").finish();
        let b = Fnv1a::default().field(b"a").field(b"bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn branch_shape() {
        assert!(is_our_branch(b"z9hG4bKsWd.0000000000001234"));
        assert!(!is_our_branch(b"z9hG4bK-19212-1-0"));
    }
}
