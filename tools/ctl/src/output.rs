//! Human-readable output, kamcmd-style: objects as `{ key: value }` blocks with one tab per
//! level (members in the server's order, so `core.tcp_info` prints as kamcmd prints it),
//! arrays of objects as one block after another, lists of plain values one per line.

use serde_json::{Map, Value};

/// The text for a result: empty for `null` and `{}` (kamcmd prints nothing for an empty
/// reply, such as a `cfg.set_now_int` that worked), otherwise lines ending with a newline.
pub fn human(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {}
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
/// `key=value` for each other param, in alphabetical key order:
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
            let mut members: Vec<(&String, &Value)> =
                map.iter().filter(|(k, _)| k.as_str() != "name").collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            for (k, val) in members {
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

fn block(out: &mut String, map: &Map<String, Value>, depth: usize) {
    out.push_str("{\n");
    for (k, v) in map {
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
        assert_eq!(
            human(&json!({})),
            "",
            "an empty reply prints nothing, as kamcmd"
        );
        let info = json!({
            "readers": 2,
            "listen": ["tcp:127.0.0.1:5060", "tcp:[::1]:5060"],
            "none": null,
            "empty": [],
            "ok": true
        });
        // In the server's order.
        assert_eq!(
            human(&info),
            "{\n\treaders: 2\n\tlisten: tcp:127.0.0.1:5060, tcp:[::1]:5060\n\tnone: -\n\
             \tempty: []\n\tok: true\n}\n"
        );
        let tcp_info = json!({
            "readers": 1, "max_connections": 2048, "max_tls_connections": 2048,
            "opened_connections": 3, "opened_tls_connections": 0, "write_queued_bytes": 0
        });
        assert_eq!(
            human(&tcp_info),
            "{\n\treaders: 1\n\tmax_connections: 2048\n\tmax_tls_connections: 2048\n\
             \topened_connections: 3\n\topened_tls_connections: 0\n\twrite_queued_bytes: 0\n}\n"
        );
        assert_eq!(human(&json!("a\n(b)")), "a\n(b)\n");
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
    fn arrays_of_objects_are_blocks_one_after_another() {
        let list = json!([
            { "id": 7, "type": "TCP", "state": "CONN_OK" },
            { "id": 8, "type": "TCP", "state": "CONN_EOF" }
        ]);
        assert_eq!(
            human(&list),
            "{\n\tid: 7\n\ttype: TCP\n\tstate: CONN_OK\n}\n\
             {\n\tid: 8\n\ttype: TCP\n\tstate: CONN_EOF\n}\n"
        );
        let nested = json!({ "a": { "b": [ { "c": 1 } ] } });
        assert_eq!(
            human(&nested),
            "{\n\ta: {\n\t\tb: [\n\t\t\t{\n\t\t\t\tc: 1\n\t\t\t}\n\t\t]\n\t}\n}\n"
        );
    }
}
