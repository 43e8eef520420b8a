//! Splicing: the outgoing message is the original's bytes with a handful of edits (insert our
//! Via, rewrite Max-Forwards, remove a Via or Route value, add `received`). Everything not
//! edited is copied byte for byte, bodies and unknown headers included.

use std::ops::Range;

/// Edits a reused set keeps room for between messages (more are freed on [`Edits::clear`]).
const RETAIN_EDITS: usize = 1024;

/// Replacement bytes a reused set keeps room for between messages.
pub(crate) const RETAIN_BYTES: usize = 256 * 1024;

/// One edit: replace `range` of the original with `text[with]` (an empty range inserts);
/// `seq` is the order it was added in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    range: Range<usize>,
    with: Range<usize>,
    seq: usize,
}

/// A set of non-overlapping edits against one message. The replacement bytes of every edit
/// live in one buffer; [`Edits::clear`] keeps both buffers' capacity, so a set reused from
/// message to message (the relay's [`super::Scratch`]) stops allocating once grown.
#[derive(Debug, Default, Clone)]
pub(crate) struct Edits {
    list: Vec<Edit>,
    text: Vec<u8>,
}

impl Edits {
    /// Forgets every edit, keeping the buffers (unless a hostile message grew them past
    /// what a reader should hold on to: then they are freed).
    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.text.clear();
        if self.list.capacity() > RETAIN_EDITS {
            self.list = Vec::new();
        }
        if self.text.capacity() > RETAIN_BYTES {
            self.text = Vec::new();
        }
    }

    /// Inserts `bytes` at offset `at`. Inserts at the same offset keep the order they were
    /// added in, and come before a replacement that starts there.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, at: usize, bytes: impl AsRef<[u8]>) {
        self.replace(at..at, bytes);
    }

    /// Replaces `range` with `bytes`.
    pub(crate) fn replace(&mut self, range: Range<usize>, bytes: impl AsRef<[u8]>) {
        self.replace_with(range, |t| t.extend_from_slice(bytes.as_ref()));
    }

    /// Inserts at `at` what `write` appends to the buffer it is given (only appends count:
    /// the bytes before its length on entry belong to other edits).
    pub(crate) fn insert_with<T>(&mut self, at: usize, write: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        self.replace_with(at..at, write)
    }

    /// Replaces `range` with what `write` appends (as [`Edits::insert_with`]).
    pub(crate) fn replace_with<T>(
        &mut self,
        range: Range<usize>,
        write: impl FnOnce(&mut Vec<u8>) -> T,
    ) -> T {
        let start = self.text.len();
        let out = write(&mut self.text);
        // A writer that truncated would have eaten other edits' bytes: keep the ranges sane.
        let end = self.text.len().max(start);
        let seq = self.list.len();
        self.list.push(Edit {
            range,
            with: start..end,
            seq,
        });
        out
    }

    /// Removes `range`.
    pub(crate) fn remove(&mut self, range: Range<usize>) {
        self.replace(range, []);
    }

    /// Builds the edited copy of `src`. `None` if two edits overlap or one is out of range —
    /// a bug in the caller or a message whose ranges contradict each other; never a panic.
    pub(crate) fn apply(mut self, src: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.apply_into(src, &mut out)?;
        Some(out)
    }

    /// [`Edits::apply`] into `out` (cleared first; its capacity reused). On `None`, `out`
    /// holds a partial copy.
    pub(crate) fn apply_into(&mut self, src: &[u8], out: &mut Vec<u8>) -> Option<()> {
        // Same start keeps insertion order (`seq`); empty ranges (inserts) first. The keys
        // are unique, so the unstable (allocation-free) sort gives the stable order.
        self.list
            .sort_unstable_by_key(|e| (e.range.start, e.range.end != e.range.start, e.seq));
        out.clear();
        out.reserve(src.len() + self.text.len());
        let mut cursor = 0usize;
        for e in &self.list {
            if e.range.start < cursor || e.range.end < e.range.start {
                return None;
            }
            out.extend_from_slice(src.get(cursor..e.range.start)?);
            out.extend_from_slice(self.text.get(e.with.clone())?);
            cursor = e.range.end;
        }
        out.extend_from_slice(src.get(cursor..)?);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_replaces_and_removes() {
        let mut e = Edits::default();
        e.insert(0, b"<");
        e.replace(2..4, b"XY");
        e.remove(5..6);
        e.insert(2, b"^");
        e.insert(8, b">");
        assert_eq!(e.apply(b"abcdefgh").unwrap(), b"<ab^XYegh>".to_vec());
    }

    #[test]
    fn overlapping_or_out_of_range_edits_fail_cleanly() {
        let mut e = Edits::default();
        e.replace(1..4, Vec::new());
        e.replace(3..5, Vec::new());
        assert_eq!(e.apply(b"abcdef"), None);
        let mut e = Edits::default();
        e.insert(9, b"x");
        assert_eq!(e.apply(b"abc"), None);
        assert_eq!(Edits::default().apply(b"abc").unwrap(), b"abc".to_vec());
    }

    #[test]
    fn a_reused_set_builds_the_same_bytes_as_a_fresh_one() {
        let mut e = Edits::default();
        let mut out = Vec::new();
        e.insert_with(0, |t| t.extend_from_slice(b"first "));
        e.apply_into(b"abc", &mut out).unwrap();
        assert_eq!(out, b"first abc".to_vec());
        e.clear();
        e.replace_with(1..2, |t| t.push(b'B'));
        e.insert(3, b"!");
        e.apply_into(b"abc", &mut out).unwrap();
        assert_eq!(out, b"aBc!".to_vec());
    }
}
