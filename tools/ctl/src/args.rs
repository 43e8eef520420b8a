//! kamcmd's rule for turning command-line words into JSON-RPC params.

use serde_json::Value;

/// One word as a param: an integer becomes a JSON number, anything else a string; a leading
/// `s:` forces a string (`s:123` is the string "123"), as in kamcmd.
pub fn to_param(word: &str) -> Value {
    if let Some(text) = word.strip_prefix("s:") {
        return Value::from(text);
    }
    if is_integer(word) {
        if let Ok(n) = word.parse::<i64>() {
            return Value::from(n);
        }
        if let Ok(n) = word.parse::<u64>() {
            return Value::from(n);
        }
    }
    Value::from(word)
}

/// Optional `-` or `+`, then decimal digits only (no spaces, dots or exponents).
fn is_integer(word: &str) -> bool {
    let digits = word
        .strip_prefix('-')
        .or_else(|| word.strip_prefix('+'))
        .unwrap_or(word);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_become_numbers_and_words_strings() {
        assert_eq!(to_param("1"), json!(1));
        assert_eq!(to_param("-5"), json!(-5));
        assert_eq!(to_param("+7"), json!(7));
        assert_eq!(to_param("18446744073709551615"), json!(u64::MAX));
        assert_eq!(to_param("tcp"), json!("tcp"));
        assert_eq!(to_param("1.5"), json!("1.5"));
        assert_eq!(to_param("1e3"), json!("1e3"));
        assert_eq!(to_param("127.0.0.1:5060"), json!("127.0.0.1:5060"));
        assert_eq!(to_param("-"), json!("-"));
        assert_eq!(to_param(""), json!(""));
        // Too large for 64 bits: left as text.
        assert_eq!(
            to_param("99999999999999999999999"),
            json!("99999999999999999999999")
        );
        assert_eq!(to_param("s:123"), json!("123"));
        assert_eq!(to_param("s:"), json!(""));
        assert_eq!(to_param("s:s:x"), json!("s:x"));
    }
}
