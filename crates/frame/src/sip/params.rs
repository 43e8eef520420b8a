//! `;name[=value]` parameter lists (Via, URI and header parameters) as byte ranges, split at
//! semicolons outside quoted strings.

use std::ops::Range;

use super::lex::{find_unquoted_byte, trim_range};

/// One `;name[=value]` parameter, as ranges of the text it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter without its `;`, trimmed (`rport`, `received=1.2.3.4`).
    pub whole: Range<usize>,
    /// The name.
    pub name: Range<usize>,
    /// The value, if there is an `=`.
    pub value: Option<Range<usize>>,
}

impl Param {
    /// The parameter in `raw` (a range of `text` between separators), trimmed; the name
    /// ends at the first `=`.
    pub(crate) fn at(text: &[u8], raw: Range<usize>) -> Self {
        let whole = trim_range(text, raw);
        let w = text.get(whole.clone()).unwrap_or(&[]);
        let (name, value) = match memchr::memchr(b'=', w) {
            Some(eq) => (
                trim_range(text, whole.start..whole.start + eq),
                Some(trim_range(text, whole.start + eq + 1..whole.end)),
            ),
            None => (whole.clone(), None),
        };
        Param { whole, name, value }
    }

    /// The name's bytes in `text`.
    pub fn name_in<'a>(&self, text: &'a [u8]) -> &'a [u8] {
        text.get(self.name.clone()).unwrap_or(&[])
    }

    /// The value's bytes in `text`.
    pub fn value_in<'a>(&self, text: &'a [u8]) -> Option<&'a [u8]> {
        self.value.clone().map(|r| text.get(r).unwrap_or(&[]))
    }
}

/// The untrimmed ranges between the separators of a parameter section: from the first `;`
/// on, split at `;` outside quoted strings, empty pieces included.
#[derive(Debug, Clone)]
pub(crate) struct RawParams<'a> {
    text: &'a [u8],
    next: Option<usize>,
}

impl<'a> RawParams<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        let next = memchr::memchr(b';', text).map(|semi| semi + 1);
        Self { text, next }
    }
}

impl Iterator for RawParams<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let start = self.next?;
        let rest = self.text.get(start..).unwrap_or(&[]);
        match find_unquoted_byte(rest, b';') {
            Some(end) => {
                self.next = Some(start + end + 1);
                Some(start..start + end)
            }
            None => {
                self.next = None;
                Some(start..start + rest.len())
            }
        }
    }
}

/// Iterator over the parameters of a section; see [`params`].
#[derive(Debug, Clone)]
pub struct Params<'a> {
    text: &'a [u8],
    raw: RawParams<'a>,
}

impl Iterator for Params<'_> {
    type Item = Param;

    fn next(&mut self) -> Option<Param> {
        let text = self.text;
        self.raw
            .by_ref()
            .map(|r| Param::at(text, r))
            .find(|p| !p.whole.is_empty())
    }
}

/// Splits a parameter section (`;a=1;b;c="x;y"`) at semicolons outside quoted strings. Text
/// before the first `;` is ignored; empty parameters are skipped. Ranges are of `text`.
pub fn params(text: &[u8]) -> Params<'_> {
    Params {
        text,
        raw: RawParams::new(text),
    }
}

/// The first parameter of `section` named `name` (case-insensitive).
pub fn find_param(section: &[u8], name: &[u8]) -> Option<Param> {
    params(section).find(|p| p.name_in(section).eq_ignore_ascii_case(name))
}
