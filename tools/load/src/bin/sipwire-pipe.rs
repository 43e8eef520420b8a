//! `sipwire-pipe`: the peer benchmark's floor, a one-thread epoll TCP byte pipe
//! ([`sipwire_load::pipe`]). Prints `listening ADDR`, then pipes until killed;
//! exit status 2 on a usage or setup error, 1 if the poll loop fails.

#![forbid(unsafe_code)]

use std::io::Write;

use sipwire_load::pipe::{self, Pipe};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let (listen, upstream) = match pipe::parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) if msg == pipe::USAGE => {
            print!("{msg}");
            return;
        }
        Err(msg) => {
            eprintln!("sipwire-pipe: {msg}");
            std::process::exit(2);
        }
    };
    let mut p = match Pipe::bind(listen, upstream) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sipwire-pipe: listen {listen}: {e}");
            std::process::exit(2);
        }
    };
    if let Ok(a) = p.local_addr() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {a}");
        let _ = out.flush();
    }
    if let Err(e) = p.run(None) {
        eprintln!("sipwire-pipe: {e}");
        std::process::exit(1);
    }
}
