//! Shapes shared by the method groups: an object from pairs, a config value as JSON, an
//! integer as Kamailio's `d` (32-bit), a time as `ctime()` writes it.

use serde_json::{Map, Value};
use sipwire_config::ConfigValue;

/// A cfg value as JSON: integers as numbers, strings as strings.
pub(crate) fn cfg_value(v: &ConfigValue) -> Value {
    match v {
        ConfigValue::Int(i) => Value::from(*i),
        ConfigValue::Str(s) => Value::from(s.as_str()),
    }
}

/// An object from (key, value) pairs, in their order, keeping the last value of a repeated
/// key (in the place of its first).
pub(crate) fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<Map<_, _>>(),
    )
}

/// An integer as Kamailio sends a `d` field: clamped to the 32-bit range, so it travels as a
/// BINRPC INT (which `go-kamailio-binrpc`'s `Int()` needs) and never as a DOUBLE.
pub(crate) fn d(v: impl TryInto<i64>) -> Value {
    let n: i64 = v.try_into().unwrap_or(i64::MAX);
    Value::from(n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))
}

/// `secs` since the Unix epoch as C's `ctime()` writes it, without its newline, in UTC:
/// `Thu Aug 20 08:03:50 2026` (the day of the month padded to 2 with a space).
pub(crate) fn ctime_utc(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[((days + 4) % 7) as usize];
    let (year, month, day) = civil_from_days(days);
    let month = MONTHS[(month - 1) as usize];
    format!("{weekday} {month} {day:2} {h:02}:{m:02}:{s:02} {year}")
}

/// (year, month 1..=12, day 1..=31) of `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_as_c_writes_it() {
        assert_eq!(ctime_utc(0), "Thu Jan  1 00:00:00 1970");
        // date -u -d @1787558630
        assert_eq!(ctime_utc(1_787_558_630), "Mon Aug 24 08:03:50 2026");
        assert_eq!(ctime_utc(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(ctime_utc(4_102_444_799), "Thu Dec 31 23:59:59 2099");
    }

    #[test]
    fn d_clamps_to_32_bits() {
        assert_eq!(d(5u64), Value::from(5));
        assert_eq!(d(u64::MAX), Value::from(i32::MAX));
        assert_eq!(d(-7i64), Value::from(-7));
        assert_eq!(d(i64::MIN), Value::from(i32::MIN));
    }
}
