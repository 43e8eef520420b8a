//! JSON shapes shared by the method groups: an object from pairs, a config value as JSON.

use serde_json::{Map, Value};
use sipwire_config::ConfigValue;

/// A cfg value as JSON: integers as numbers, strings as strings.
pub(crate) fn cfg_value(v: &ConfigValue) -> Value {
    match v {
        ConfigValue::Int(i) => Value::from(*i),
        ConfigValue::Str(s) => Value::from(s.as_str()),
    }
}

/// An object from (key, value) pairs, keeping the last value of a repeated key.
pub(crate) fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<Map<_, _>>(),
    )
}
