//! The one error type of the tool. Problems *during* a run (lost, late,
//! duplicated or mismatched responses, broken connections) are not errors
//! but counters in the report; `LoadError` is for runs that cannot start.

use std::fmt;

/// Why a run could not be started. Both kinds exit with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Bad command line.
    Usage(String),
    /// The run could not be set up: connect refused, bind failed, ...
    Setup(String),
}

impl LoadError {
    /// Process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) => write!(f, "usage error: {m} (see --help)"),
            Self::Setup(m) => write!(f, "setup error: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}
