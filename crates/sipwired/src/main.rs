//! `sipwired`: the stateless SIP relay daemon built on the sipwire runtime. The work is in the
//! library half of this crate (`lib.rs`); usage and the relay's rules: `docs/sipwired.md`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use sipwired::{cli, daemon, DEFAULT_CONFIG};
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
