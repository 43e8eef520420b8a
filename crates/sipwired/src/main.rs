//! `sipwired`: the stateless SIP relay daemon built on the sipwire runtime.
//!
//! Not built yet: the runtime and the relay land in later issues. Until then this
//! binary says so and exits non-zero, so `make run` fails loudly instead of pretending.

use std::process::ExitCode;

mod ctl_server;

fn main() -> ExitCode {
    eprintln!(
        "sipwired: not built yet — the relay lands with the runtime issues; \
         see README.md for what exists today"
    );
    ExitCode::from(2)
}
