//! `sipwire-ctl`: kamcmd-style client for sipwired's JSON-RPC 2.0 control socket; the
//! program is [`sipwire_ctl::main_with`] on the process's arguments, stdout and stderr.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(argv) = argv else {
        eprintln!("sipwire-ctl: arguments must be UTF-8");
        return ExitCode::from(sipwire_ctl::EXIT_USAGE);
    };
    let code = sipwire_ctl::main_with(
        argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
