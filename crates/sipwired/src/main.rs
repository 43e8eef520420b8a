//! `sipwired`: the stateless SIP relay daemon built on the sipwire runtime.
//!
//! - [`cli`]: arguments and exit codes.
//! - [`daemon`]: configuration, start, signals, shutdown.
//! - [`relay`]: the relay rules as a pure function (message in, action out).
//! - [`handler`]: the runtime's `Handler` calling the relay.
//! - `ctl_server`: the JSON-RPC control socket.
//!
//! Usage and the relay's rules: `docs/sipwired.md`.

use std::process::ExitCode;

mod cli;
mod ctl_server;
mod daemon;
mod handler;
mod relay;

/// The embedded default configuration (`--print-default-config`).
pub const DEFAULT_CONFIG: &str = include_str!("default.cfg");

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sipwired: {e}");
            return ExitCode::from(cli::EXIT_CONFIG);
        }
    };
    match command {
        cli::Command::Help => {
            print!("{}", cli::usage());
            ExitCode::from(cli::EXIT_OK)
        }
        cli::Command::Version => {
            println!("sipwired {}", env!("CARGO_PKG_VERSION"));
            ExitCode::from(cli::EXIT_OK)
        }
        cli::Command::PrintDefaultConfig => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::from(cli::EXIT_OK)
        }
        cli::Command::Run(opts) => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
                .init();
            ExitCode::from(daemon::run(&opts))
        }
    }
}
