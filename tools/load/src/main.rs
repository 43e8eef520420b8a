//! `sipwire-load` command: parse the arguments, run, print, exit
//! (0 ok, 1 errors seen during the run, 2 usage or setup error).

#![forbid(unsafe_code)]

use std::io::Write;

use sipwire_load::args::{self, Parsed};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let parsed = match args::parse(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sipwire-load: {e}");
            std::process::exit(e.exit_code());
        }
    };
    let args = match parsed {
        Parsed::Help => {
            print!("{}", args::USAGE);
            return;
        }
        Parsed::Run(a) => a,
    };
    // Before any other thread starts: they inherit the blocked SIGINT/SIGTERM.
    if let Err(e) = sipwire_load::sys::install_signals() {
        log::warn!("cannot catch SIGINT/SIGTERM: {e}");
    }
    match sipwire_load::run(&args) {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(outcome.render(args.json).as_bytes());
            let _ = out.flush();
            std::process::exit(outcome.exit_code());
        }
        Err(e) => {
            eprintln!("sipwire-load: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
