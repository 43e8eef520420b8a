//! Splicing: the outgoing message is the original's bytes with a handful of edits (insert our
//! Via, rewrite Max-Forwards, remove a Via or Route value, add `received`). Everything not
//! edited is copied byte for byte, bodies and unknown headers included.

use std::ops::Range;

/// One edit: replace `range` of the original with `with` (an empty range inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    range: Range<usize>,
    with: Vec<u8>,
}

/// A set of non-overlapping edits against one message.
#[derive(Debug, Default, Clone)]
pub(crate) struct Edits {
    list: Vec<Edit>,
    extra: usize,
}

impl Edits {
    /// Inserts `bytes` at offset `at`. Inserts at the same offset keep the order they were
    /// added in, and come before a replacement that starts there.
    pub(crate) fn insert(&mut self, at: usize, bytes: Vec<u8>) {
        self.replace(at..at, bytes);
    }

    /// Replaces `range` with `bytes`.
    pub(crate) fn replace(&mut self, range: Range<usize>, bytes: Vec<u8>) {
        self.extra += bytes.len();
        self.list.push(Edit { range, with: bytes });
    }

    /// Removes `range`.
    pub(crate) fn remove(&mut self, range: Range<usize>) {
        self.replace(range, Vec::new());
    }

    /// Builds the edited copy of `src`. `None` if two edits overlap or one is out of range —
    /// a bug in the caller or a message whose ranges contradict each other; never a panic.
    pub(crate) fn apply(mut self, src: &[u8]) -> Option<Vec<u8>> {
        // Stable sort: same start keeps insertion order; empty ranges (inserts) first.
        self.list
            .sort_by_key(|e| (e.range.start, e.range.end != e.range.start));
        let mut out = Vec::with_capacity(src.len() + self.extra);
        let mut cursor = 0usize;
        for e in &self.list {
            if e.range.start < cursor || e.range.end < e.range.start {
                return None;
            }
            out.extend_from_slice(src.get(cursor..e.range.start)?);
            out.extend_from_slice(&e.with);
            cursor = e.range.end;
        }
        out.extend_from_slice(src.get(cursor..)?);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_replaces_and_removes() {
        let mut e = Edits::default();
        e.insert(0, b"<".to_vec());
        e.replace(2..4, b"XY".to_vec());
        e.remove(5..6);
        e.insert(2, b"^".to_vec());
        e.insert(8, b">".to_vec());
        assert_eq!(e.apply(b"abcdefgh").unwrap(), b"<ab^XYegh>".to_vec());
    }

    #[test]
    fn overlapping_or_out_of_range_edits_fail_cleanly() {
        let mut e = Edits::default();
        e.replace(1..4, Vec::new());
        e.replace(3..5, Vec::new());
        assert_eq!(e.apply(b"abcdef"), None);
        let mut e = Edits::default();
        e.insert(9, b"x".to_vec());
        assert_eq!(e.apply(b"abc"), None);
        assert_eq!(Edits::default().apply(b"abc").unwrap(), b"abc".to_vec());
    }
}
