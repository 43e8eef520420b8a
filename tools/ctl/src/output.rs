//! Human-readable output, kamcmd-style: objects as `{ key: value }` blocks with one tab per
//! level, arrays of objects as one block after another, lists of plain values one per line.

use serde_json::{Map, Value};

/// Keys shown first in a block (the rest follow in alphabetical order).
const FIRST: &[&str] = &["id", "conid", "group", "name"];

/// The text for a result: empty for `null`, otherwise lines ending with a newline.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                inline(&mut out, item, 0);
                out.push('\n');
            }
        }
        other => {
            inline(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

/// A pushed notification on one line: the event's `name` (else the method), then
/// `key=value` for each other param, in key order:
/// `tcp:closed conid=7 local=127.0.0.1:5060 reason="closed by peer" ...`.
pub fn notification(v: &Value) -> String {
    let params = v.get("params");
    let name = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .or_else(|| v.get("method").and_then(Value::as_str))
        .unwrap_or("?");
    let mut out = name.to_string();
    match params {
        Some(Value::Object(map)) => {
            for (k, val) in map.iter().filter(|(k, _)| k.as_str() != "name") {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                out.push_str(&word(val));
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            out.push(' ');
            out.push_str(&word(other));
        }
    }
    out.push('\n');
    out
}

/// A value as one word: a plain string as is, a string with blanks, quotes or `=` (or an
/// empty one) and anything else as JSON.
pub fn word(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control()) =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

fn tabs(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push('\t');
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push('-'),
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

fn ordered(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut first: Vec<(&String, &Value)> =
        FIRST.iter().filter_map(|k| map.get_key_value(*k)).collect();
    first.extend(map.iter().filter(|(k, _)| !FIRST.contains(&k.as_str())));
    first
}

fn block(out: &mut String, map: &Map<String, Value>, depth: usize) {
    out.push_str("{\n");
    for (k, v) in ordered(map) {
        tabs(out, depth + 1);
        out.push_str(k);
        out.push_str(": ");
        inline(out, v, depth + 1);
        out.push('\n');
    }
    tabs(out, depth);
    out.push('}');
}

/// A value where the cursor is (after `key: ` or at the start of a line).
fn inline(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(map) => block(out, map, depth),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) if items.iter().all(is_scalar) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar(out, item);
            }
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                tabs(out, depth + 1);
                inline(out, item, depth + 1);
                out.push('\n');
            }
            tabs(out, depth);
            out.push(']');
        }
        other => scalar(out, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_objects_and_lists() {
        assert_eq!(human(&Value::Null), "");
        assert_eq!(human(&json!(5)), "5\n");
        assert_eq!(human(&json!("text")), "text\n");
        assert_eq!(human(&json!(["a", "b"])), "a\nb\n");
        assert_eq!(human(&json!([])), "");
        let info = json!({
            "readers": 2,
            "listen": ["tcp:127.0.0.1:5060", "tcp:[::1]:5060"],
            "none": null,
            "empty": [],
            "ok": true
        });
        assert_eq!(
            human(&info),
            "{\n\tempty: []\n\tlisten: tcp:127.0.0.1:5060, tcp:[::1]:5060\n\tnone: -\n\
             \tok: true\n\treaders: 2\n}\n"
        );
    }

    #[test]
    fn notifications_are_one_line_each() {
        let ev = json!({"jsonrpc": "2.0", "method": "event", "params": {
            "name": "tcp:closed", "conid": 7, "reason": "closed by peer", "local": "127.0.0.1:5060"
        }});
        assert_eq!(
            notification(&ev),
            "tcp:closed conid=7 local=127.0.0.1:5060 reason=\"closed by peer\"\n"
        );
        let dropped = json!({"jsonrpc": "2.0", "method": "events.dropped",
                             "params": {"count": 3, "total": 5}});
        assert_eq!(notification(&dropped), "events.dropped count=3 total=5\n");
        assert_eq!(
            notification(&json!({"method": "x", "params": ["a"]})),
            "x [\"a\"]\n"
        );
        assert_eq!(word(&json!("")), "\"\"");
        assert_eq!(word(&json!("a=b")), "\"a=b\"");
    }

    #[test]
    fn arrays_of_objects_are_blocks_with_ids_first() {
        let list = json!([
            { "state": 1, "id": 7, "peer": "127.0.0.1:40000" },
            { "state": -1, "id": 8, "peer": "127.0.0.1:40001" }
        ]);
        assert_eq!(
            human(&list),
            "{\n\tid: 7\n\tpeer: 127.0.0.1:40000\n\tstate: 1\n}\n\
             {\n\tid: 8\n\tpeer: 127.0.0.1:40001\n\tstate: -1\n}\n"
        );
        let nested = json!({ "a": { "b": [ { "c": 1 } ] } });
        assert_eq!(
            human(&nested),
            "{\n\ta: {\n\t\tb: [\n\t\t\t{\n\t\t\t\tc: 1\n\t\t\t}\n\t\t]\n\t}\n}\n"
        );
    }
}
