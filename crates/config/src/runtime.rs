//! Runtime changes: [`ConfigHandle`] publishes immutable snapshots; [`SnapshotCache`] gives
//! each thread a consistent config per message for one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::api::CfgEntry;
use super::error::{ConfigError, ErrorKind};
use super::options::{self, OptionDef};
use super::types::ConfigValue;
use crate::config::Config;

struct Shared {
    current: RwLock<Arc<Config>>,
    /// Bumped after each publish; readers compare it with the one they cached.
    generation: AtomicU64,
    /// Serialises writers (read-modify-publish).
    writer: Mutex<()>,
}

/// The live configuration: cheap to clone, `Send + Sync`. Readers take snapshots (an
/// `Arc<Config>` that never changes); writers change options Kamailio can change at runtime,
/// with the same range checks as the file, and publish a new snapshot atomically.
#[derive(Clone)]
pub struct ConfigHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConfigHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl ConfigHandle {
    /// Publishes `config` (which should have passed [`Config::validate`]; configs read by
    /// [`Config::from_str_with`] have).
    pub fn new(config: Config) -> ConfigHandle {
        ConfigHandle {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(config)),
                generation: AtomicU64::new(0),
                writer: Mutex::new(()),
            }),
        }
    }

    /// The current snapshot. It keeps its values whatever is changed later.
    pub fn snapshot(&self) -> Arc<Config> {
        Arc::clone(&self.shared.current.read())
    }

    /// How many changes have been published.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// A per-thread cache of the current snapshot.
    pub fn cache(&self) -> SnapshotCache {
        let generation = self.generation();
        SnapshotCache {
            handle: self.clone(),
            generation,
            current: self.snapshot(),
        }
    }

    /// The current value of cfg entry `group.name`, `None` if there is no such entry.
    pub fn get(&self, group: &str, name: &str) -> Option<ConfigValue> {
        self.snapshot().cfg_get(group, name)
    }

    /// Every option with its current value (see [`Config::cfg_list`]).
    pub fn cfg_list(&self) -> Vec<CfgEntry> {
        self.snapshot().cfg_list()
    }

    /// `cfg.set_now_int group name value`: changes an integer (or boolean) option now.
    /// Errors: unknown entry, read-only entry ("tcp.async cannot be changed at runtime"),
    /// string entry, value out of range, or a dependency not met.
    pub fn set_now_int(&self, group: &str, name: &str, value: i64) -> Result<(), ConfigError> {
        let row = writable(group, name)?;
        let key = row.cfg_key();
        let v = row.check_int(&key, value).map_err(ConfigError::new)?;
        if row.runtime_zero_keeps && value == 0 {
            return Ok(());
        }
        self.commit(row, &v)
    }

    /// `cfg.set_now_string group name value`: changes an option from text, parsed as in the
    /// config file (so `"yes"` works for booleans) but without clamping.
    pub fn set_now_string(&self, group: &str, name: &str, value: &str) -> Result<(), ConfigError> {
        let row = writable(group, name)?;
        let key = row.cfg_key();
        let parsed = row
            .parse_text(&key, value, false)
            .map_err(ConfigError::new)?;
        if row.runtime_zero_keeps && parsed.value == ConfigValue::Int(0) {
            return Ok(());
        }
        self.commit(row, &parsed.value)
    }

    fn commit(&self, row: &'static OptionDef, value: &ConfigValue) -> Result<(), ConfigError> {
        let _writer = self.shared.writer.lock();
        let mut next = Config::clone(&self.snapshot());
        if !(row.set)(&mut next, value) {
            return Err(ConfigError::new(ErrorKind::Invalid {
                option: row.cfg_key(),
                reason: format!("value {value} cannot be stored"),
            }));
        }
        dependencies(row, &next)?;
        next.validate()?;
        let mut slot = self.shared.current.write();
        *slot = Arc::new(next);
        self.shared.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// The row for `group.name` (a cfg name, or its script spelling as an alias) if it may be
/// changed at runtime.
fn writable(group: &str, name: &str) -> Result<&'static OptionDef, ConfigError> {
    let row = options::by_cfg(group, name).ok_or_else(|| {
        ConfigError::new(ErrorKind::UnknownCfg {
            group: group.to_string(),
            name: name.to_string(),
        })
    })?;
    if !row.runtime {
        // Named by its cfg name, also when it was asked for by its script spelling.
        return Err(ConfigError::new(ErrorKind::ReadOnly {
            group: row.cfg_group.to_string(),
            name: row.cfg_name.to_string(),
        }));
    }
    Ok(row)
}

/// Kamailio's order rules for SCTP association tracking and reuse, with its advice.
fn dependencies(row: &OptionDef, next: &Config) -> Result<(), ConfigError> {
    let s = &next.sctp;
    let reason = match (row.cfg_group, row.cfg_name) {
        ("sctp", "assoc_tracking") if !s.assoc_tracking && s.assoc_reuse => {
            "cannot be turned off while sctp.assoc_reuse is on; turn assoc_reuse off first"
        }
        ("sctp", "assoc_reuse") if s.assoc_reuse && !s.assoc_tracking => {
            "cannot be turned on while sctp.assoc_tracking is off; turn assoc_tracking on first"
        }
        _ => return Ok(()),
    };
    Err(ConfigError::new(ErrorKind::Invalid {
        option: row.cfg_key(),
        reason: reason.to_string(),
    }))
}

/// A thread's view of the live config: [`SnapshotCache::get`] costs one atomic load unless
/// a change was published, and then one read lock to pick up the new snapshot. Hold the
/// returned snapshot for the whole message to see one consistent config.
#[derive(Debug)]
pub struct SnapshotCache {
    handle: ConfigHandle,
    generation: u64,
    current: Arc<Config>,
}

impl SnapshotCache {
    /// A cache of `handle`'s snapshots (same as [`ConfigHandle::cache`]).
    pub fn new(handle: &ConfigHandle) -> SnapshotCache {
        handle.cache()
    }

    /// The current snapshot, refreshed if a change was published since the last call.
    pub fn get(&mut self) -> &Arc<Config> {
        let g = self.handle.shared.generation.load(Ordering::Acquire);
        if g != self.generation {
            self.current = self.handle.snapshot();
            self.generation = g;
        }
        &self.current
    }

    /// The generation of the cached snapshot.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
