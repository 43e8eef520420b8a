//! [`Params`]: typed access to by-position parameters, with errors that name the parameter
//! and say what was expected.

use serde_json::Value;

use super::error::RpcError;
use sipwire::ConId;

/// The by-position parameters of one call, with the method's name and its parameter names for
/// error messages. Embedders' [`RpcExtension`](super::RpcExtension)s may use it too.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    method: &'a str,
    names: &'a [&'a str],
    values: &'a [Value],
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A float with no fraction that fits an i64, as that integer.
fn whole(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
        .then_some(f as i64)
}

/// A number, or a string holding one: an integer parameter of the right kind whose value may
/// still be out of range (negative, too large).
fn is_integer_like(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::String(s) => s.trim().parse::<i128>().is_ok(),
        _ => false,
    }
}

impl<'a> Params<'a> {
    /// Parameters `values` of a call to `method`; `names` name them in error messages (it may be
    /// shorter than `values`, or empty).
    pub fn new(method: &'a str, names: &'a [&'a str], values: &'a [Value]) -> Params<'a> {
        Params {
            method,
            names,
            values,
        }
    }

    /// The method the parameters are for.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// Number of parameters given.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No parameters were given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// All parameters.
    pub fn values(&self) -> &'a [Value] {
        self.values
    }

    /// Parameter `i`, if given.
    pub fn get(&self, i: usize) -> Option<&'a Value> {
        self.values.get(i)
    }

    /// "param 2 (name) of cfg.get"
    fn label(&self, i: usize) -> String {
        match self.names.get(i) {
            Some(n) => format!("param {} ({n}) of {}", i + 1, self.method),
            None => format!("param {} of {}", i + 1, self.method),
        }
    }

    /// Parameter `i`, or the error for a missing one; `kind` is its type as Kamailio names
    /// it (`"integer"`, `"string"`), for [`RpcError::kamailio`].
    fn required(&self, i: usize, kind: &'static str) -> Result<&'a Value, RpcError> {
        self.values.get(i).ok_or_else(|| {
            RpcError::bad_param(i, kind, true, format!("{} is missing", self.label(i)))
        })
    }

    /// Parameter `i` has the wrong JSON type (`kind` as in [`required`](Self::required)).
    fn wrong(&self, i: usize, kind: &'static str, expected: &str, got: &Value) -> RpcError {
        RpcError::bad_param(
            i,
            kind,
            false,
            format!(
                "{} must be {expected}, got {}",
                self.label(i),
                describe(got)
            ),
        )
    }

    /// Parameter `i` has the right type but a value out of range: a plain -32602 (Kamailio's
    /// clients get 400 with this text).
    fn out_of_range(&self, i: usize, expected: &str, got: &Value) -> RpcError {
        RpcError::invalid_params(format!(
            "{} must be {expected}, got {}",
            self.label(i),
            describe(got)
        ))
    }

    /// Parameter `i` as text: a string, or a number or boolean written out (so
    /// `cfg.set_now_string core tcp_source_ipv4 ...` works whatever a client made of its words).
    pub fn string(&self, i: usize) -> Result<String, RpcError> {
        match self.required(i, "string")? {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.wrong(i, "string", "a string", other)),
        }
    }

    /// Parameter `i` as a signed integer: a JSON integer (also a float with no fraction, as
    /// BINRPC carries 64-bit values), a boolean (1/0) or a string holding a decimal integer
    /// (Kamailio's RPC layer converts these too).
    pub fn int(&self, i: usize) -> Result<i64, RpcError> {
        let v = self.required(i, "integer")?;
        let n = match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        n.ok_or_else(|| self.wrong(i, "integer", "an integer", v))
    }

    /// Parameter `i` as an unsigned 64-bit integer (also from a decimal string).
    pub fn u64(&self, i: usize) -> Result<u64, RpcError> {
        let v = self.required(i, "integer")?;
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                let f = n.as_f64()?;
                // A whole float up to 2^64 (BINRPC's DOUBLE for a large conid).
                (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f))
                    .then_some(f as u64)
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) => Ok(n),
            None if is_integer_like(v) => Err(self.out_of_range(i, "a non-negative integer", v)),
            None => Err(self.wrong(i, "integer", "a non-negative integer", v)),
        }
    }

    /// Parameter `i` as an unsigned 32-bit integer.
    pub fn u32(&self, i: usize) -> Result<u32, RpcError> {
        let v = self.required(i, "integer")?;
        self.u64(i).and_then(|n| {
            u32::try_from(n).map_err(|_| self.out_of_range(i, "an integer in 0..=4294967295", v))
        })
    }

    /// Parameter `i` as a connection id (`$conid`, as `core.tcp_list` shows it).
    pub fn conid(&self, i: usize) -> Result<ConId, RpcError> {
        let v = self.required(i, "integer")?;
        const WHAT: &str = "a connection id (a positive integer)";
        match self.u64(i) {
            Ok(n) if n != 0 => Ok(ConId(n)),
            _ if is_integer_like(v) => Err(self.out_of_range(i, WHAT, v)),
            _ => Err(self.wrong(i, "integer", WHAT, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_access_and_messages() {
        let vals = [json!("tcp"), json!(7), json!("12"), json!(true), json!(1.5)];
        let p = Params::new("m.x", &["group", "value"], &vals);
        assert_eq!(p.string(0).unwrap(), "tcp");
        assert_eq!(p.string(1).unwrap(), "7");
        assert_eq!(p.int(1).unwrap(), 7);
        assert_eq!(p.int(2).unwrap(), 12);
        assert_eq!(p.int(3).unwrap(), 1);
        assert_eq!(p.u32(2).unwrap(), 12);
        let e = p.int(0).unwrap_err();
        assert_eq!(e.code, super::super::error::INVALID_PARAMS);
        assert_eq!(
            e.message,
            "param 1 (group) of m.x must be an integer, got string \"tcp\""
        );
        let e = p.int(4).unwrap_err();
        assert!(e.message.starts_with("param 5 of m.x must be an integer"));
        let e = p.string(9).unwrap_err();
        assert_eq!(e.message, "param 10 of m.x is missing");
        let neg = [json!(-1), json!(0)];
        let p = Params::new("t", &[], &neg);
        assert!(p.u64(0).is_err());
        assert!(p.conid(1).is_err());
    }
}
