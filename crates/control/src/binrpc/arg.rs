//! kamcmd's typing of command-line words (`parse_arg` in `utils/kamcmd/kamcmd.c`): a word
//! `strtol` reads whole is an INT, else one `strtod` reads whole is a DOUBLE, else a STR
//! (with an `s:` prefix dropped).

use super::value::Value;

/// C's `isspace` in the "C" locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Skips leading white space and an optional sign; returns (negative, rest).
fn sign(s: &[u8]) -> (bool, &[u8]) {
    let start = s.iter().position(|&b| !c_space(b)).unwrap_or(s.len());
    let s = s.get(start..).unwrap_or_default();
    match s.first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    }
}

/// kamcmd's integer test: `strtol(arg, &end, 10)` must stop at the end of the word. Returns
/// the `int` kamcmd sends: `strtol`'s 64-bit `long` (saturated on overflow) truncated to 32
/// bits, as gcc converts it. Like C, an empty word reads as 0.
fn c_strtol_whole(word: &str) -> Option<i32> {
    if word.is_empty() {
        // No digits: strtol leaves `end` at the start, which is the terminating NUL.
        return Some(0);
    }
    let (neg, digits) = sign(word.as_bytes());
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for d in digits {
        let d = i64::from(d - b'0');
        n = match n.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(d)
            } else {
                x.checked_add(d)
            }
        }) {
            Some(x) => x,
            None if neg => i64::MIN,
            None => i64::MAX,
        };
        if n == i64::MIN || n == i64::MAX {
            // Saturated (ERANGE); the rest of the digits cannot change it.
            break;
        }
    }
    Some(n as i32)
}

fn digits_len(s: &[u8], hex: bool) -> usize {
    s.iter()
        .take_while(|b| {
            if hex {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count()
}

/// An exponent (`e`/`p` then an optional sign and digits) at the start of `s`: its length
/// and value, or 0 when there is none (C then stops before the letter).
fn exponent(s: &[u8], marks: &[u8]) -> (usize, i64) {
    let Some(m) = s.first() else { return (0, 0) };
    if !marks.contains(m) {
        return (0, 0);
    }
    let (neg, signed) = match s.get(1) {
        Some(b'-') => (true, 2),
        Some(b'+') => (false, 2),
        _ => (false, 1),
    };
    let rest = s.get(signed..).unwrap_or_default();
    let n = digits_len(rest, false);
    if n == 0 {
        return (0, 0);
    }
    let v = rest
        .iter()
        .take(n)
        .fold(0i64, |acc, d| (acc * 10 + i64::from(d - b'0')).min(1 << 20));
    (signed + n, if neg { -v } else { v })
}

/// A hexadecimal float after its `0x` ("1.8p3"), when `strtod` would read it whole.
fn hex_float(s: &[u8]) -> Option<f64> {
    let int_len = digits_len(s, true);
    let (frac, frac_len) = match s.get(int_len) {
        Some(b'.') => {
            let f = s.get(int_len + 1..).unwrap_or_default();
            (f, digits_len(f, true))
        }
        _ => (&[][..], 0),
    };
    if int_len + frac_len == 0 {
        return None;
    }
    let mantissa_end = int_len
        + if s.get(int_len) == Some(&b'.') {
            1 + frac_len
        } else {
            0
        };
    let (exp_len, exp) = exponent(s.get(mantissa_end..).unwrap_or_default(), b"pP");
    if mantissa_end + exp_len != s.len() {
        return None;
    }
    // Accumulate up to 28 significant hex digits exactly; later ones only scale.
    let mut mant: u128 = 0;
    let mut scale: i64 = 0;
    let digits = s.iter().take(int_len).chain(frac.iter().take(frac_len));
    for (i, d) in digits.enumerate() {
        let v = char::from(*d).to_digit(16).unwrap_or(0);
        if mant >> 112 == 0 {
            mant = (mant << 4) | u128::from(v);
            if i >= int_len {
                scale -= 4;
            }
        } else if i < int_len {
            scale += 4;
        }
    }
    let e = (scale + exp).clamp(-4000, 4000) as i32;
    Some(mant as f64 * 2f64.powi(e))
}

/// kamcmd's float test: `strtod(arg, &end)` must stop at the end of the word. Accepts C's
/// forms: decimal with optional fraction and exponent, hexadecimal (`0x1p4`), `inf`,
/// `infinity` and `nan` (any case, `nan(...)` too), each after optional white space and sign.
fn c_strtod_whole(word: &str) -> Option<f64> {
    let (neg, s) = sign(word.as_bytes());
    let lower = s.to_ascii_lowercase();
    let magnitude = if lower == b"inf" || lower == b"infinity" {
        f64::INFINITY
    } else if lower == b"nan"
        || (lower.starts_with(b"nan(")
            && lower.ends_with(b")")
            && lower
                .get(4..lower.len() - 1)
                .is_some_and(|n| n.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')))
    {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix(b"0x").filter(|h| {
        // "0x" without a hex digit is the number 0 followed by junk.
        h.first().is_some_and(u8::is_ascii_hexdigit)
            || (h.first() == Some(&b'.') && h.get(1).is_some_and(u8::is_ascii_hexdigit))
    }) {
        hex_float(hex)?
    } else {
        let int_len = digits_len(s, false);
        let mut end = int_len;
        let mut frac_len = 0;
        if s.get(end) == Some(&b'.') {
            frac_len = digits_len(s.get(end + 1..).unwrap_or_default(), false);
            end += 1 + frac_len;
        }
        if int_len + frac_len == 0 {
            return None;
        }
        end += exponent(s.get(end..).unwrap_or_default(), b"eE").0;
        if end != s.len() {
            return None;
        }
        // The grammar is checked; Rust parses the same text to the same (correctly rounded)
        // value.
        std::str::from_utf8(s).ok()?.parse::<f64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// How kamcmd types one command-line word before sending it: a word C's `strtol` reads whole
/// is an INT (truncated to 32 bits as kamcmd does, so `4294967296` sends 0, and an empty word
/// is INT 0); else a word `strtod` reads whole is a DOUBLE (`2.5`, `1e3`, `0x1p4`, `inf`);
/// else a STR, without its `s:` prefix if it has one (`s:1` sends the string "1").
pub fn kamcmd_arg(s: &str) -> Value {
    if let Some(i) = c_strtol_whole(s) {
        Value::Int(i)
    } else if let Some(f) = c_strtod_whole(s) {
        Value::Double(f)
    } else {
        Value::Str(s.strip_prefix("s:").unwrap_or(s).to_owned())
    }
}
