//! The fd limit and the open-fd count, from `sipwire_sys` (not copied).

pub use sipwire_sys::{open_fd_count, raise_fd_limit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (idempotent) and returns the soft limit
/// now in force.
pub fn fd_limit() -> u64 {
    raise_fd_limit().unwrap_or_else(|e| panic!("RLIMIT_NOFILE: {e}"))
}
