//! Splitting a byte stream into JSON documents the way jsonrpcs reads its FIFO: a document
//! starts at a `{` and ends at the `}` that balances it, braces inside strings not counted.
//! Bytes between documents (newlines, stray text) are skipped. A document longer than the
//! limit is dropped whole: its bytes are still followed to find its end, but not kept.

/// Where the splitter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between documents.
    Outside,
    /// Inside one, `depth` braces open.
    Inside {
        depth: u32,
        string: bool,
        escape: bool,
    },
}

/// What [`Splitter::push`] found in a byte.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// A whole document.
    Document(Vec<u8>),
    /// A document over the limit ended; it was dropped.
    TooLarge,
}

/// An incremental document splitter.
#[derive(Debug)]
pub(super) struct Splitter {
    state: State,
    buf: Vec<u8>,
    limit: usize,
    /// The current document went over the limit.
    dropping: bool,
}

impl Splitter {
    pub(super) fn new(limit: usize) -> Splitter {
        Splitter {
            state: State::Outside,
            buf: Vec::new(),
            limit,
            dropping: false,
        }
    }

    /// Feeds `bytes`; `out` gets each document (or drop) that ends in them.
    pub(super) fn push(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        for &b in bytes {
            if let Some(p) = self.byte(b) {
                out.push(p);
            }
        }
    }

    fn byte(&mut self, b: u8) -> Option<Piece> {
        let (depth, string, escape) = match self.state {
            State::Outside if b == b'{' => (0, false, false),
            State::Outside => return None,
            State::Inside {
                depth,
                string,
                escape,
            } => (depth, string, escape),
        };
        if !self.dropping {
            if self.buf.len() >= self.limit {
                self.dropping = true;
                self.buf = Vec::new();
            } else {
                self.buf.push(b);
            }
        }
        let next = if string {
            match (escape, b) {
                (true, _) => State::Inside {
                    depth,
                    string: true,
                    escape: false,
                },
                (false, b'\\') => State::Inside {
                    depth,
                    string: true,
                    escape: true,
                },
                (false, b'"') => State::Inside {
                    depth,
                    string: false,
                    escape: false,
                },
                _ => self.state,
            }
        } else {
            match b {
                b'"' => State::Inside {
                    depth,
                    string: true,
                    escape: false,
                },
                b'{' => State::Inside {
                    depth: depth.saturating_add(1),
                    string: false,
                    escape: false,
                },
                b'}' if depth <= 1 => State::Outside,
                b'}' => State::Inside {
                    depth: depth - 1,
                    string: false,
                    escape: false,
                },
                _ => State::Inside {
                    depth,
                    string,
                    escape,
                },
            }
        };
        self.state = next;
        if next != State::Outside {
            return None;
        }
        if std::mem::take(&mut self.dropping) {
            return Some(Piece::TooLarge);
        }
        Some(Piece::Document(std::mem::take(&mut self.buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(limit: usize, input: &[u8], step: usize) -> Vec<Piece> {
        let mut s = Splitter::new(limit);
        let mut out = Vec::new();
        for c in input.chunks(step.max(1)) {
            s.push(c, &mut out);
        }
        out
    }

    fn doc(s: &str) -> Piece {
        Piece::Document(s.as_bytes().to_vec())
    }

    #[test]
    fn documents_are_cut_at_their_balancing_brace_in_any_split() {
        let input = br#"junk {"a": {"b": "}{\"}"}}
{"c":1}"#;
        for step in 1..input.len() {
            assert_eq!(
                split(1024, input, step),
                [doc(r#"{"a": {"b": "}{\"}"}}"#), doc(r#"{"c":1}"#)],
                "step {step}"
            );
        }
    }

    #[test]
    fn an_oversized_document_is_dropped_and_the_next_one_kept() {
        let big = format!("{{\"x\":\"{}\"}}", "y".repeat(100));
        let input = format!("{big}{{\"ok\":1}}");
        assert_eq!(
            split(50, input.as_bytes(), 7),
            [Piece::TooLarge, doc(r#"{"ok":1}"#)]
        );
        // Exactly at the limit is kept.
        let exact = r#"{"k":"v"}"#;
        assert_eq!(split(exact.len(), exact.as_bytes(), 1), [doc(exact)]);
        assert_eq!(
            split(exact.len() - 1, exact.as_bytes(), 1),
            [Piece::TooLarge]
        );
    }

    #[test]
    fn an_unfinished_document_yields_nothing() {
        assert!(split(1024, br#"{"a": {"b": 1}"#, 3).is_empty());
        assert!(split(1024, b"no braces at all }}}", 3).is_empty());
    }
}
