//! Codecs between typed [`Config`](crate::Config) fields and cfg values, and the `opt!` row
//! macro that ties a field path to a codec so each option's get/set is written once.

use std::net::IpAddr;
use std::time::Duration;

use super::row::Unit;
use crate::types::{ClosedEvent, ConfigValue, SctpHeartbeat};
use sipwire_poll::PollMethod;

/// Turns a field into a [`ConfigValue`] and back; the unit is the codec's.
pub(super) trait Codec {
    /// The field type.
    type T;
    /// The unit values are written in.
    const UNIT: Unit;
    /// Field to cfg value.
    fn enc(v: &Self::T) -> ConfigValue;
    /// Checked cfg value to field (`None` only if the value was never checked).
    fn dec(v: &ConfigValue) -> Option<Self::T>;
}

fn int_of(v: &ConfigValue) -> Option<i64> {
    v.as_int()
}

fn clamp_i64(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Whole seconds, rounded up so that a non-zero time never reads as 0.
fn ceil_secs(d: &Duration) -> i64 {
    clamp_i64(d.as_nanos().div_ceil(1_000_000_000))
}

fn ceil_millis(d: &Duration) -> i64 {
    clamp_i64(d.as_nanos().div_ceil(1_000_000))
}

/// Declares a codec in one line: name, field type, unit, encode and decode expressions.
macro_rules! codec {
    ($(#[$m:meta])* $name:ident, $t:ty, $unit:expr, |$e:ident| $enc:expr, |$d:ident| $dec:expr) => {
        $(#[$m])*
        pub(super) struct $name;
        impl Codec for $name {
            type T = $t;
            const UNIT: Unit = $unit;
            fn enc($e: &$t) -> ConfigValue {
                $enc
            }
            fn dec(v: &ConfigValue) -> Option<$t> {
                let $d = v;
                $dec
            }
        }
    };
}

codec!(
    /// bool as 0/1.
    Flag, bool, Unit::None,
    |v| ConfigValue::Int(i64::from(*v)),
    |v| int_of(v).map(|i| i != 0)
);
codec!(
    /// Duration in seconds.
    Secs, Duration, Unit::Seconds,
    |v| ConfigValue::Int(ceil_secs(v)),
    |v| int_of(v).and_then(|i| u64::try_from(i).ok()).map(Duration::from_secs)
);
codec!(
    /// Duration in milliseconds.
    Millis, Duration, Unit::Millis,
    |v| ConfigValue::Int(ceil_millis(v)),
    |v| int_of(v).and_then(|i| u64::try_from(i).ok()).map(Duration::from_millis)
);
codec!(
    /// Optional duration in seconds, 0 = not set.
    OptSecs, Option<Duration>, Unit::Seconds,
    |v| ConfigValue::Int(v.as_ref().map_or(0, ceil_secs)),
    |v| int_of(v).and_then(|i| u64::try_from(i).ok())
        .map(|i| (i != 0).then(|| Duration::from_secs(i)))
);
codec!(
    /// Optional duration in milliseconds, 0 = not set.
    OptMillis, Option<Duration>, Unit::Millis,
    |v| ConfigValue::Int(v.as_ref().map_or(0, ceil_millis)),
    |v| int_of(v).and_then(|i| u64::try_from(i).ok())
        .map(|i| (i != 0).then(|| Duration::from_millis(i)))
);
codec!(
    /// A count.
    Count, u32, Unit::None,
    |v| ConfigValue::Int(i64::from(*v)),
    |v| int_of(v).and_then(|i| u32::try_from(i).ok())
);
codec!(
    /// A size in bytes.
    Bytes, usize, Unit::Bytes,
    |v| ConfigValue::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
    |v| int_of(v).and_then(|i| usize::try_from(i).ok())
);
codec!(
    /// A number of threads.
    Threads, usize, Unit::None,
    |v| ConfigValue::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
    |v| int_of(v).and_then(|i| usize::try_from(i).ok())
);
codec!(
    /// A TCP/UDP port.
    Port, u16, Unit::None,
    |v| ConfigValue::Int(i64::from(*v)),
    |v| int_of(v).and_then(|i| u16::try_from(i).ok())
);
codec!(
    /// Optional count, 0 = not set.
    OptCount, Option<u32>, Unit::None,
    |v| ConfigValue::Int(v.map_or(0, i64::from)),
    |v| int_of(v).and_then(|i| u32::try_from(i).ok()).map(|i| (i != 0).then_some(i))
);
codec!(
    /// Optional size in bytes, 0 = not set.
    OptBytes, Option<u32>, Unit::Bytes,
    |v| ConfigValue::Int(v.map_or(0, i64::from)),
    |v| int_of(v).and_then(|i| u32::try_from(i).ok()).map(|i| (i != 0).then_some(i))
);
codec!(
    /// Optional count, -1 = no limit.
    Limit, Option<u32>, Unit::None,
    |v| ConfigValue::Int(v.map_or(-1, i64::from)),
    |v| match int_of(v)? {
        -1 => Some(None),
        i => u32::try_from(i).ok().map(Some),
    }
);
codec!(
    /// `sctp_hbinterval`: -1 = disabled, 0 = not set, else milliseconds.
    Heartbeat, Option<SctpHeartbeat>, Unit::Millis,
    |v| ConfigValue::Int(match v {
        None => 0,
        Some(SctpHeartbeat::Disabled) => -1,
        Some(SctpHeartbeat::Every(d)) => ceil_millis(d),
    }),
    |v| match int_of(v)? {
        -1 => Some(Some(SctpHeartbeat::Disabled)),
        0 => Some(None),
        i => u64::try_from(i).ok().map(|ms| Some(SctpHeartbeat::Every(Duration::from_millis(ms)))),
    }
);
codec!(
    /// `closed_event` 0/1/2.
    Closed, ClosedEvent, Unit::None,
    |v| ConfigValue::Int(v.as_int()),
    |v| int_of(v).and_then(ClosedEvent::from_int)
);
codec!(
    /// A string.
    Text, String, Unit::None,
    |v| ConfigValue::Str(v.clone()),
    |v| v.as_str().map(str::to_string)
);
codec!(
    /// An optional IP address, empty = not set.
    Addr, Option<IpAddr>, Unit::None,
    |v| ConfigValue::Str(v.map(|ip| ip.to_string()).unwrap_or_default()),
    |v| match v.as_str()? {
        "" => Some(None),
        s => s.parse().ok().map(Some),
    }
);
codec!(
    /// A poll method name.
    Poll, PollMethod, Unit::None,
    |v| ConfigValue::Str(v.name().to_string()),
    |v| v.as_str().and_then(|s| s.parse().ok())
);

/// A table row for a field: `opt!(tcp.keepalive => Flag { name: "tcp_keepalive", ... })`.
/// The field path and codec give `get`, `set`, `field` and `unit`; the rest overrides
/// [`BASE`](super::row::BASE).
macro_rules! opt {
    ($($f:ident).+ => $codec:ident { $($body:tt)* }) => {
        OptionDef {
            field: stringify!($($f).+),
            unit: <$codec as Codec>::UNIT,
            get: |c: &Config| <$codec as Codec>::enc(&c $(.$f)+),
            set: |c: &mut Config, v: &ConfigValue| match <$codec as Codec>::dec(v) {
                Some(x) => {
                    c $(.$f)+ = x;
                    true
                }
                None => false,
            },
            $($body)*
            ..BASE
        }
    };
}
pub(super) use opt;
