//! Tokens of Kamailio-style config text: words, strings, punctuation, line ends and
//! preprocessor directives; `#`, `//` and `/* */` comments are dropped.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A run of characters that are not space, punctuation, quotes or comment starts.
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
    /// One of `= ( ) { } [ ] , ;`.
    Punct(char),
    /// End of a line (also a multi-line block comment).
    Newline,
    /// A `#!name args` / `!!name args` preprocessor line: (name, args).
    Directive(String, String),
}

/// A token with its 1-based line and byte span in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
    pub start: usize,
    pub end: usize,
}

/// Preprocessor keywords Kamailio knows after `#!` / `!!`; other `#!...` lines are comments.
const DIRECTIVES: &[&str] = &[
    "define",
    "trydef",
    "redefine",
    "undef",
    "ifdef",
    "ifndef",
    "ifexp",
    "else",
    "endif",
    "subst",
    "substdef",
    "substdefs",
    "defenv",
    "defenvs",
    "trydefenv",
    "trydefenvs",
    "defexp",
    "defexps",
    "KAMAILIO",
    "OPENSER",
    "SER",
    "ALL",
    "MAXCOMPAT",
];

const PUNCT: &[u8] = b"=(){}[],;";

/// A lexing failure: line and reason.
pub(crate) type LexError = (u32, String);

/// Splits `src` into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line: u32 = 1;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            out.push(Token {
                tok: Tok::Newline,
                line,
                start: i,
                end: i + 1,
            });
            line += 1;
            line_start = true;
            i += 1;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if line_start && (rest.starts_with(b"#!") || rest.starts_with(b"!!")) {
            let (text, next, lines) = directive_text(src, i + 2);
            let name: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if DIRECTIVES.contains(&name.as_str()) {
                let args = text[name.len()..].trim().to_string();
                out.push(Token {
                    tok: Tok::Directive(name, args),
                    line,
                    start: i,
                    end: next,
                });
            }
            line += lines;
            i = next;
            continue;
        }
        line_start = false;
        if c == b'#' || rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if rest.starts_with(b"/*") {
            let open_line = line;
            let start = i;
            i += 2;
            let mut spanned = false;
            loop {
                if i >= b.len() {
                    return Err((open_line, "unterminated /* comment".to_string()));
                }
                if b[i..].starts_with(b"*/") {
                    i += 2;
                    break;
                }
                if b[i] == b'\n' {
                    line += 1;
                    spanned = true;
                }
                i += 1;
            }
            if spanned {
                out.push(Token {
                    tok: Tok::Newline,
                    line,
                    start,
                    end: i,
                });
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            let (s, next, lines) = string(src, i, line)?;
            out.push(Token {
                tok: Tok::Str(s),
                line,
                start: i,
                end: next,
            });
            line += lines;
            i = next;
            continue;
        }
        if PUNCT.contains(&c) {
            out.push(Token {
                tok: Tok::Punct(char::from(c)),
                line,
                start: i,
                end: i + 1,
            });
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() {
            let c = b[i];
            let r = &b[i..];
            if c.is_ascii_whitespace()
                || PUNCT.contains(&c)
                || c == b'"'
                || c == b'\''
                || c == b'#'
                || r.starts_with(b"//")
                || r.starts_with(b"/*")
            {
                break;
            }
            i += 1;
        }
        out.push(Token {
            tok: Tok::Word(src[start..i].to_string()),
            line,
            start,
            end: i,
        });
    }
    Ok(out)
}

/// The text of a directive starting at `from` (after `#!`), joining `\`-continued lines.
/// Returns (text, index after the line, newlines consumed by continuations).
fn directive_text(src: &str, from: usize) -> (String, usize, u32) {
    let mut text = String::new();
    let mut i = from;
    let mut lines = 0;
    loop {
        let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
        let piece = src[i..end].trim_end_matches('\r');
        match piece.strip_suffix('\\') {
            Some(head) if end < src.len() => {
                text.push_str(head);
                text.push(' ');
                lines += 1;
                i = end + 1;
            }
            _ => {
                text.push_str(piece);
                return (text, end, lines);
            }
        }
    }
}

/// A quoted string starting at `start`; returns (content, index after it, newlines inside).
fn string(src: &str, start: usize, line: u32) -> Result<(String, usize, u32), LexError> {
    let quote = src.as_bytes()[start];
    let mut out = String::new();
    let mut lines = 0;
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, e)) if e == '\\' || e == '"' || e == '\'' => out.push(e),
                Some((_, e)) => {
                    if e == '\n' {
                        lines += 1;
                    }
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            '\n' => {
                lines += 1;
                out.push(c);
            }
            c if c as u32 == u32::from(quote) => {
                return Ok((out, start + 1 + off + 1, lines));
            }
            c => out.push(c),
        }
    }
    Err((line, "unterminated string".to_string()))
}
