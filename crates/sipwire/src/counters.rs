//! Named counters as relaxed atomics, declared once: [`counters!`](crate::counters) makes the
//! live struct (bumped on hot paths), its point-in-time snapshot and the (name, value) list
//! the control socket prints. The runtime's counters and the daemon's relay counters are both
//! declared with it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares a live counter struct of `AtomicU64`s and its snapshot struct of `u64`s:
///
/// ```
/// sipwire::counters! {
///     /// Live counters.
///     pub struct Live => pub struct Snapshot {
///         /// Requests seen.
///         requests,
///     }
/// }
/// let live = Live::default();
/// sipwire::counters::bump(&live.requests);
/// assert_eq!(live.snapshot().fields(), vec![("requests", 1)]);
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[doc = $live_doc:literal])*
        $live_vis:vis struct $live:ident => $snap_vis:vis struct $snap:ident {
            $( $(#[doc = $doc:literal])* $name:ident, )*
        }
    ) => {
        $(#[doc = $live_doc])*
        #[derive(Debug, Default)]
        $live_vis struct $live {
            $( $(#[doc = $doc])* pub $name: ::std::sync::atomic::AtomicU64, )*
        }

        /// A point-in-time copy of the counters.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $snap_vis struct $snap {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        impl $live {
            /// Reads every counter (each one atomically; the set is not one instant).
            pub fn snapshot(&self) -> $snap {
                $snap {
                    $( $name: self.$name.load(::std::sync::atomic::Ordering::Relaxed), )*
                }
            }
        }

        impl $snap {
            /// Every counter as (name, value), in declaration order, for the control socket
            /// and logs.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }
        }
    };
}

/// Adds one to a counter.
#[inline]
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}
