//! Printing records exactly as kamcmd prints them (`print_body` and `print_binrpc_val` in
//! `utils/kamcmd/kamcmd.c`), so `sipwire-ctl` output can be diffed against kamcmd's.

use super::value::Value;

/// One record as kamcmd reads it off the wire: indentation, AVP name, printed value.
struct Line<'a> {
    tabs: usize,
    name: Option<&'a str>,
    text: String,
}

/// kamcmd prints strings with `%.*s`, which stops at a NUL.
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// A DOUBLE as kamcmd prints it: `%lld` when integral, else `%f` (six decimals).
fn c_double(f: f64) -> String {
    // 2^63: beyond it (and for inf/NaN) C's cast to long long does not round-trip.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        format!("{}", f as i64)
    } else if f.is_nan() {
        if f.is_sign_negative() { "-nan" } else { "nan" }.to_owned()
    } else {
        format!("{f:.6}")
    }
}

/// Flattens records into the order kamcmd reads them, with its indentation: the number of
/// structs and arrays open after reading the record, one less for a struct start.
struct Flat<'a> {
    lines: Vec<Line<'a>>,
    in_struct: usize,
    in_array: usize,
}

impl<'a> Flat<'a> {
    fn open(&self) -> usize {
        self.in_struct + self.in_array
    }

    fn push(&mut self, tabs: usize, name: Option<&'a str>, text: impl Into<String>) {
        self.lines.push(Line {
            tabs,
            name,
            text: text.into(),
        });
    }

    fn walk_struct<I: Iterator<Item = (Option<&'a str>, &'a Value)>>(
        &mut self,
        name: Option<&'a str>,
        members: I,
    ) {
        self.in_struct += 1;
        self.push(self.open() - 1, name, "{");
        for (n, v) in members {
            self.walk(n, v);
        }
        self.in_struct -= 1;
        self.push(self.open(), None, "}");
    }

    fn walk(&mut self, name: Option<&'a str>, v: &'a Value) {
        let text = match v {
            Value::Int(i) => i.to_string(),
            Value::Str(s) => c_text(s.as_bytes()),
            Value::Bytes(b) => c_text(b),
            Value::Double(f) => c_double(*f),
            Value::Struct(members) => {
                let it = members.iter().map(|m| (m.name.as_deref(), &m.value));
                return self.walk_struct(name, it);
            }
            // A named array goes on the wire as a struct of unnamed values (see encode).
            Value::Array(items) if name.is_some() => {
                return self.walk_struct(name, items.iter().map(|v| (None, v)))
            }
            Value::Array(items) => {
                self.in_array += 1;
                self.push(self.open(), name, "[");
                for item in items {
                    self.walk(None, item);
                }
                self.in_array -= 1;
                self.push(self.open(), None, "]");
                return;
            }
        };
        self.push(self.open(), name, text);
    }
}

fn flatten(records: &[Value]) -> Vec<Line<'_>> {
    let mut flat = Flat {
        lines: Vec::new(),
        in_struct: 0,
        in_array: 0,
    };
    for r in records {
        flat.walk(None, r);
    }
    flat.lines
}

fn write_line(out: &mut String, name: Option<&str>, text: &str) {
    if let Some(n) = name {
        out.push_str(n);
        out.push_str(": ");
    }
    out.push_str(text);
}

/// A reply's records printed as kamcmd prints them: one record per line, a struct as `{`,
/// then `\t<name>: <value>` per member (one more tab per nesting level), then `}`; INT as
/// `%d`, STR raw (up to a NUL), DOUBLE without decimals when integral and with six
/// otherwise. An empty reply prints nothing.
pub fn print_kamcmd(records: &[Value]) -> String {
    let mut out = String::new();
    for line in flatten(records) {
        for _ in 0..line.tabs {
            out.push('\t');
        }
        write_line(&mut out, line.name, &line.text);
        out.push('\n');
    }
    out
}

/// A fault's records printed as kamcmd prints them: `error: <code> - <message>\n`.
///
/// This follows kamcmd's `"%v - %v\n"` format loop for odd bodies too: a missing message
/// prints `error: 400 - \n`, extra records start another `a - b` line.
pub fn print_kamcmd_fault(records: &[Value]) -> String {
    let mut out = String::from("error: ");
    let lines = flatten(records);
    for (i, line) in lines.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str(" - ");
        } else if i > 0 {
            out.push('\n');
        }
        write_line(&mut out, line.name, &line.text);
    }
    if lines.len() % 2 == 1 || lines.is_empty() {
        out.push_str(" - ");
    }
    out.push('\n');
    out
}
