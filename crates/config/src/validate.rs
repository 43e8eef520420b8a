//! [`Config::validate`]: every value in range, and options that must agree do.

use std::collections::HashSet;

use super::error::{ConfigError, ErrorKind};
use super::options::{self, Kind};
use crate::config::Config;

fn invalid(option: &str, reason: String) -> ConfigError {
    ConfigError::new(ErrorKind::Invalid {
        option: option.to_string(),
        reason,
    })
}

impl Config {
    /// Checks what single options cannot: every field within its table range (for configs
    /// built by hand), addresses of the right family, no address listed twice, and
    /// dependent options (`sctp_assoc_reuse` needs `sctp_assoc_tracking`; `sctp_srto_min`
    /// ≤ `sctp_srto_initial` ≤ `sctp_srto_max` when set).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for row in options::all() {
            let value = row.value(self);
            let key = row.key();
            match (row.kind, &value) {
                (Kind::Bool | Kind::Int(_), _) => {
                    let v = value.as_int().unwrap_or(i64::MIN);
                    row.check_int(&key, v).map_err(ConfigError::new)?;
                }
                (Kind::Ip(_), v) => {
                    let text = v.as_str().unwrap_or_default();
                    row.parse_text(&key, text, false)
                        .map_err(ConfigError::new)?;
                }
                _ => {}
            }
        }
        let mut seen = HashSet::new();
        for (proto, addr) in self.listeners() {
            if !seen.insert((proto, addr)) {
                let reason = format!("{}:{addr} is listed twice", proto.as_str());
                return Err(invalid("listen", reason));
            }
        }
        let s = &self.sctp;
        if s.assoc_reuse && !s.assoc_tracking {
            let reason = "needs sctp_assoc_tracking = 1; turn sctp_assoc_reuse off or \
                          sctp_assoc_tracking on"
                .to_string();
            return Err(invalid("sctp_assoc_reuse", reason));
        }
        if let (Some(min), Some(max)) = (s.srto_min, s.srto_max) {
            if min > max {
                let reason = format!(
                    "{} ms is above sctp_srto_max ({} ms)",
                    min.as_millis(),
                    max.as_millis()
                );
                return Err(invalid("sctp_srto_min", reason));
            }
        }
        if let Some(init) = s.srto_initial {
            if s.srto_min.is_some_and(|min| init < min) || s.srto_max.is_some_and(|max| init > max)
            {
                let reason = format!(
                    "{} ms is outside sctp_srto_min..=sctp_srto_max",
                    init.as_millis()
                );
                return Err(invalid("sctp_srto_initial", reason));
            }
        }
        Ok(())
    }
}
