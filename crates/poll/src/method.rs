//! `tcp_poll_method`: the names Kamailio uses for its readiness backends, and parsing them.

use std::error::Error;
use std::fmt;
use std::io;
use std::str::FromStr;

/// A readiness backend, named as Kamailio's `tcp_poll_method` names it.
///
/// `None` means "the best one for this OS" (`epoll_lt` on Linux, `kqueue` on the BSDs and
/// macOS, `poll` elsewhere); [`PollMethod::resolve`] turns it into that concrete method.
/// Kamailio's `sigio_rt` and `/dev/poll` are not implemented: parsing them is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PollMethod {
    /// `none`: pick the best method for this OS.
    #[default]
    None,
    /// `poll`: poll(2), level triggered, cost O(registered fds) per wait.
    Poll,
    /// `epoll_lt`: Linux epoll, level triggered.
    EpollLt,
    /// `epoll_et`: Linux epoll, edge triggered (`EPOLLET`).
    EpollEt,
    /// `select`: select(2), level triggered, only fds below `FD_SETSIZE` (1024).
    Select,
    /// `kqueue`: BSD/macOS kqueue, level triggered.
    Kqueue,
}

/// What this build supports, `none` first (it is always accepted).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SUPPORTED: &[PollMethod] = &[
    PollMethod::None,
    PollMethod::Poll,
    PollMethod::EpollLt,
    PollMethod::EpollEt,
    PollMethod::Select,
];

/// What this build supports, `none` first (it is always accepted).
#[cfg(bsd)]
const SUPPORTED: &[PollMethod] = &[
    PollMethod::None,
    PollMethod::Poll,
    PollMethod::Select,
    PollMethod::Kqueue,
];

/// What this build supports, `none` first (it is always accepted).
#[cfg(not(any(target_os = "linux", target_os = "android", bsd)))]
const SUPPORTED: &[PollMethod] = &[PollMethod::None, PollMethod::Poll, PollMethod::Select];

/// Kamailio method names that sipwire knows of but does not implement on any OS.
const NOT_IMPLEMENTED: &[&str] = &["sigio_rt", "/dev/poll"];

impl PollMethod {
    /// Every method name, in Kamailio's spelling.
    pub const ALL: [PollMethod; 6] = [
        PollMethod::None,
        PollMethod::Poll,
        PollMethod::EpollLt,
        PollMethod::EpollEt,
        PollMethod::Select,
        PollMethod::Kqueue,
    ];

    /// The configuration name (`"epoll_et"`, ...), as accepted by `FromStr`.
    pub const fn name(self) -> &'static str {
        match self {
            PollMethod::None => "none",
            PollMethod::Poll => "poll",
            PollMethod::EpollLt => "epoll_lt",
            PollMethod::EpollEt => "epoll_et",
            PollMethod::Select => "select",
            PollMethod::Kqueue => "kqueue",
        }
    }

    /// The methods this build can run, `none` first; what `tcp_poll_method` accepts here.
    pub fn supported() -> &'static [PollMethod] {
        SUPPORTED
    }

    /// True if [`Poller::new`](crate::Poller::new) accepts this method in this build.
    pub fn is_supported(self) -> bool {
        SUPPORTED.contains(&self)
    }

    /// Turns `None` into the best concrete method for this OS; other methods are returned as is.
    pub const fn resolve(self) -> PollMethod {
        match self {
            PollMethod::None => best(),
            other => other,
        }
    }

    /// True if the (resolved) method is edge triggered; only `epoll_et` is.
    pub const fn is_edge_triggered(self) -> bool {
        matches!(self.resolve(), PollMethod::EpollEt)
    }

    /// True if the (resolved) method reports hang-up and error as distinct flags;
    /// `select` cannot (a peer close or reset shows as readable).
    pub const fn reports_hup(self) -> bool {
        !matches!(self.resolve(), PollMethod::Select)
    }
}

/// The best method of this OS, what `none` means: on Linux level-triggered epoll, as
/// Kamailio chooses (`choose_poll_method`), which also lets a reader stop at a short read
/// instead of reading again for `EAGAIN`.
const fn best() -> PollMethod {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        PollMethod::EpollLt
    } else if cfg!(bsd) {
        PollMethod::Kqueue
    } else {
        PollMethod::Poll
    }
}

impl fmt::Display for PollMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PollMethod {
    type Err = PollError;

    /// Parses a `tcp_poll_method` value; ASCII case and surrounding blanks are ignored.
    fn from_str(s: &str) -> Result<PollMethod, PollError> {
        let name = s.trim();
        let found = PollMethod::ALL
            .iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(name));
        match found {
            Some(m) if m.is_supported() => Ok(m),
            Some(_) => Err(PollError::Unsupported {
                name: name.to_owned(),
            }),
            None if NOT_IMPLEMENTED.iter().any(|n| n.eq_ignore_ascii_case(name)) => {
                Err(PollError::Unsupported {
                    name: name.to_owned(),
                })
            }
            None => Err(PollError::Unknown {
                name: name.to_owned(),
            }),
        }
    }
}

/// Why a poll method could not be chosen or its poller created.
#[derive(Debug)]
pub enum PollError {
    /// The name is not a Kamailio poll method at all.
    Unknown {
        /// The name as given (trimmed).
        name: String,
    },
    /// A Kamailio poll method this build does not provide (`kqueue` on Linux, `epoll_*` off
    /// Linux, `sigio_rt` and `/dev/poll` everywhere).
    Unsupported {
        /// The name as given (trimmed).
        name: String,
    },
    /// The kernel refused to create the backend (e.g. `epoll_create1` hit the fd limit).
    Io {
        /// The resolved method being created.
        method: PollMethod,
        /// The OS error.
        source: io::Error,
    },
}

/// `"none, poll, epoll_lt, ..."`: the names this build accepts.
fn supported_list() -> String {
    let names: Vec<&str> = SUPPORTED.iter().map(|m| m.name()).collect();
    names.join(", ")
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Unknown { name } => write!(
                f,
                "unknown poll method {name:?} (tcp_poll_method); this build supports: {}",
                supported_list()
            ),
            PollError::Unsupported { name } => write!(
                f,
                "poll method {name:?} is not available in this build ({}); this build supports: {}",
                std::env::consts::OS,
                supported_list()
            ),
            PollError::Io { method, source } => {
                write!(f, "cannot create the {method} poller: {source}")
            }
        }
    }
}

impl Error for PollError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PollError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in PollMethod::supported() {
            assert_eq!(m.name().parse::<PollMethod>().unwrap(), *m);
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(" EPOLL_ET ".parse::<PollMethod>().ok(), {
            if PollMethod::EpollEt.is_supported() {
                Some(PollMethod::EpollEt)
            } else {
                None
            }
        });
    }

    #[test]
    fn none_resolves_to_a_supported_concrete_method() {
        let best = PollMethod::None.resolve();
        assert_ne!(best, PollMethod::None);
        assert!(best.is_supported());
        if cfg!(target_os = "linux") {
            assert_eq!(best, PollMethod::EpollLt, "Kamailio's choice on Linux");
            assert!(!PollMethod::None.is_edge_triggered());
        }
        assert_eq!(PollMethod::default(), PollMethod::None);
        assert_eq!(PollMethod::Select.resolve(), PollMethod::Select);
    }
}
