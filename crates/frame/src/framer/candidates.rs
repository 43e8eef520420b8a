//! Finding candidate lines: the lines that can change the framing (empty line, Content-Length,
//! compact `l`, Transfer-Encoding), found by one multi-pattern search (see the framer docs).

use std::sync::OnceLock;

use aho_corasick::packed::{Config, MatchKind, Searcher};
use aho_corasick::Span;

/// Candidate patterns; see the module docs. Pattern ids: 0–1 empty line,
/// 2–3 compact `l`, 4–5 `Content-Length`, 6–9 `Transfer-Encoding`. All are
/// two bytes long, so Teddy's two-byte fingerprint is exact.
const PATTERNS: [&[u8]; 10] = [
    b"\n\r", b"\n\n", b"\nl", b"\nL", b"-l", b"-L", b"sf", b"sF", b"Sf", b"SF",
];

/// How candidate header lines are found.
#[derive(Debug)]
pub(crate) enum Finder {
    /// Teddy over [`PATTERNS`].
    Packed(Searcher),
    /// Every line is a candidate (no packed searcher on this CPU).
    Lines,
}

/// What a candidate line probably is: the fast path tries it, the general
/// path decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hint {
    /// Unknown.
    Any,
    /// Found by `\n\r` or `\n\n`: maybe the empty line.
    Empty,
    /// Found by `\nl`: maybe a compact Content-Length.
    Compact,
    /// Found by `-l` after `\ncontent`: maybe a Content-Length.
    Full,
}

/// The result of one candidate search.
pub(super) enum Next {
    /// A line starting at `start` must be handled; its LF is at or after `lf_from`.
    Line {
        start: usize,
        lf_from: usize,
        hint: Hint,
    },
    /// No candidate before the end of the data; search again from `resume`.
    None { resume: usize },
}

impl Finder {
    /// The packed searcher, or `Lines` if it cannot be built here.
    pub(crate) fn new() -> Self {
        let mut b = Config::new().match_kind(MatchKind::LeftmostFirst).builder();
        b.extend(PATTERNS);
        b.build().map_or(Finder::Lines, Finder::Packed)
    }

    /// The process-wide finder.
    pub(crate) fn get() -> &'static Finder {
        static FINDER: OnceLock<Finder> = OnceLock::new();
        FINDER.get_or_init(Finder::new)
    }

    /// Finds the next candidate line whose pattern starts at or after `from`.
    #[inline]
    pub(super) fn next(&self, data: &[u8], from: usize, work: &mut u64) -> Next {
        let len = data.len();
        let mut from = from.min(len);
        match self {
            Finder::Lines => match memchr::memchr(b'\n', data.get(from..).unwrap_or(&[])) {
                Some(rel) => {
                    *work += rel as u64 + 1;
                    let start = from + rel + 1;
                    Next::Line {
                        start,
                        lf_from: start,
                        hint: Hint::Any,
                    }
                }
                None => {
                    *work += (len - from) as u64;
                    Next::None { resume: len }
                }
            },
            Finder::Packed(searcher) => loop {
                let Some(m) = searcher.find_in(data, Span::from(from..len)) else {
                    *work += (len - from) as u64;
                    return Next::None {
                        resume: resume_point(data, from),
                    };
                };
                *work += (m.end() - from) as u64;
                let p = m.start();
                let (start, hint) = match m.pattern().as_usize() {
                    0 | 1 => (p + 1, Hint::Empty),
                    2 | 3 => (p + 1, Hint::Compact),
                    // `-l`: the line must start 7 bytes earlier, after an
                    // LF, with `content`. Only bytes up to the end of the
                    // match are used: later ones may not have arrived yet.
                    4 | 5 => {
                        *work += 8;
                        match p.checked_sub(8) {
                            Some(lf) if word_is(data, lf, LF_CONTENT) => (lf + 1, Hint::Full),
                            _ => {
                                from = p + 1;
                                continue;
                            }
                        }
                    }
                    // `sf`: the line must start 4 bytes earlier, after an
                    // LF, with `tran`.
                    _ => {
                        *work += 5;
                        match p.checked_sub(5) {
                            Some(lf)
                                if data.get(lf) == Some(&b'\n')
                                    && data
                                        .get(lf + 1..p)
                                        .is_some_and(|n| eq_lower(n, b"tran")) =>
                            {
                                (lf + 1, Hint::Any)
                            }
                            _ => {
                                from = p + 1;
                                continue;
                            }
                        }
                    }
                };
                return Next::Line {
                    start,
                    lf_from: m.end(),
                    hint,
                };
            },
        }
    }
}

/// Where to search again after no candidate was found in `from..`: the
/// start of a pattern cut by the end of the data, if any.
fn resume_point(data: &[u8], from: usize) -> usize {
    let len = data.len();
    let at = match data {
        [.., b'\n' | b'-' | b's' | b'S'] => len - 1,
        _ => len,
    };
    at.max(from)
}

/// Eight bytes to compare ignoring ASCII case: the lowercase bytes as a
/// little-endian word, and the mask of the letters (bit 5 set for each).
#[derive(Clone, Copy)]
pub(super) struct Word {
    lower: u64,
    letters: u64,
}

impl Word {
    const fn new(lit: &[u8; 8]) -> Self {
        let mut letters = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            if lit[i].is_ascii_lowercase() {
                letters[i] = 0x20;
            }
            i += 1;
        }
        Self {
            lower: u64::from_le_bytes(*lit),
            letters: u64::from_le_bytes(letters),
        }
    }
}

pub(super) const LF_CONTENT: Word = Word::new(b"\ncontent");
pub(super) const CONTENT_: Word = Word::new(b"content-");
pub(super) const T_LENGTH: Word = Word::new(b"t-length");

/// True if the 8 bytes at `at` equal `w` ignoring ASCII case. For a letter,
/// `b | 0x20` equals it only for its two cases; other bytes must be equal.
#[inline(always)]
pub(super) fn word_is(data: &[u8], at: usize, w: Word) -> bool {
    let Some(bytes) = at
        .checked_add(8)
        .and_then(|end| data.get(at..end))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    else {
        return false;
    };
    u64::from_le_bytes(bytes) | w.letters == w.lower
}

/// Skips SP and HT from `i`.
#[inline(always)]
pub(super) fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while matches!(data.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// `a.eq_ignore_ascii_case(lower)` for a lowercase `lower`, without
/// branches (the names compared are short constants).
#[inline]
pub(crate) fn eq_lower(a: &[u8], lower: &[u8]) -> bool {
    a.len() == lower.len()
        && a.iter()
            .zip(lower)
            .fold(0u8, |acc, (&x, &y)| acc | (x.to_ascii_lowercase() ^ y))
            == 0
}
