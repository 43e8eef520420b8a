//! `sipwire-ctl` as a library: the kamcmd-style client for sipwired's JSON-RPC 2.0 control
//! socket (connect, send one request, read the reply, print it kamcmd-style). The binary is a
//! thin `main` over [`main_with`]; tests drive [`main_with`] or [`client::call`] in-process.
//!
//! `sipwire-ctl [-s PATH] [--json] <method> [args...]`, e.g.
//! `sipwire-ctl cfg.set_now_int tcp no_connect 1`. Integers become JSON numbers, other words
//! strings, `s:WORD` forces a string. Exit status: 0 success, 1 the server answered with an
//! error, 2 usage or connection problem. The methods are listed in `docs/control.md`.
//!
//! `sipwire-ctl events.subscribe [name...]` does not return after the answer: it prints each
//! event the server pushes, one line each, until interrupted (or the server goes).
#![forbid(unsafe_code)]

pub mod args;
pub mod binrpc_client;
pub mod client;
pub mod output;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Exit status: the call succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status: the server answered with a JSON-RPC error.
pub const EXIT_RPC_ERROR: u8 = 1;
/// Exit status: bad usage, or the server could not be reached or answered nonsense.
pub const EXIT_USAGE: u8 = 2;

/// How long a call waits for the answer unless `-t` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `--help` text.
pub fn usage() -> String {
    format!(
        "sipwire-ctl {version} — control client for sipwired (JSON-RPC 2.0 over a unix socket)

Usage: sipwire-ctl [OPTIONS] <method> [args...]

Options (before the method):
  -s, --socket ADDRESS A JSON-RPC control socket PATH (default $XDG_RUNTIME_DIR/sipwired/
                       ctl.sock, else /tmp/sipwired-UID/ctl.sock; now: {default}), or
                       kamcmd's unixs:PATH / unixd:PATH for BINRPC (sipwired's --binrpc
                       sockets, or a Kamailio's ctl socket)
      --json           Print the result as one line of JSON instead of text
  -t, --timeout SECS   Wait this long for the answer (default {timeout})
  -h, --help           This help
  -V, --version        Version

Arguments: integers are sent as JSON numbers, other words as strings;
s:WORD forces a string (s:123).

Examples:
  sipwire-ctl core.tcp_info
  sipwire-ctl core.tcp_list [offset [limit [ip-or-cidr]]]   (at most 512 per call)
  sipwire-ctl tcp.list 0 100 10.0.0.0/8                   sipwire's view of them
  sipwire-ctl cfg.set_now_int tcp no_connect 1
  sipwire-ctl cfg.get tcp connection_lifetime
  sipwire-ctl tcp.close_connection 3
  sipwire-ctl system.listMethods
  sipwire-ctl events.subscribe [tcp:closed ...]   print events as they come, until
                                                  interrupted (--json: the raw lines)

Output: as kamcmd prints it. Exit status: 0 success, 1 the server answered
with an error (printed as kamcmd does, \"error: CODE - MESSAGE\"; kamcmd itself exits
0), 2 usage or connection problem.
",
        version = env!("CARGO_PKG_VERSION"),
        default = client::default_socket_path().display(),
        timeout = DEFAULT_TIMEOUT.as_secs(),
    )
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// `-h`, `--help`.
    Help,
    /// `-V`, `--version`.
    Version,
    /// A method call.
    Call(Call),
}

/// Where a call goes, in kamcmd's address syntax plus sipwired's JSON-RPC socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A bare path: sipwired's JSON-RPC 2.0 control socket.
    Json(PathBuf),
    /// `unixs:PATH` (or `unix:PATH`): BINRPC over a unix stream socket (sipwired's
    /// `--binrpc`, or a Kamailio's `ctl` socket).
    BinrpcStream(PathBuf),
    /// `unixd:PATH`: BINRPC over a unix datagram socket.
    BinrpcDgram(PathBuf),
}

impl Address {
    /// Parses `-s`: `unixs:PATH`, `unix:PATH`, `unixd:PATH`, or a path (JSON-RPC).
    /// kamcmd's `tcp:`/`udp:` are refused (sipwired serves its control plane on unix sockets
    /// only).
    pub fn parse(text: &str) -> Result<Address, String> {
        let (kind, rest) = text.split_once(':').unwrap_or(("", text));
        let path = || {
            if rest.is_empty() {
                Err(format!("-s {text:?}: no path"))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        match kind {
            "unixs" | "unix" => Ok(Address::BinrpcStream(path()?)),
            "unixd" => Ok(Address::BinrpcDgram(path()?)),
            "tcp" | "udp" => Err(format!(
                "-s {text:?}: only unix sockets (unixs:PATH, unixd:PATH, or a JSON-RPC socket path)"
            )),
            _ => Ok(Address::Json(PathBuf::from(text))),
        }
    }

    /// The socket file.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Address::Json(p) | Address::BinrpcStream(p) | Address::BinrpcDgram(p) => p,
        }
    }
}

/// One method call to make.
#[derive(Debug, PartialEq)]
pub struct Call {
    /// Where it goes.
    pub address: Address,
    /// The control socket's path (the address's file).
    pub socket: PathBuf,
    /// `--json`: print the result as one line of JSON.
    pub json: bool,
    /// How long to wait for the answer.
    pub timeout: Duration,
    /// The method name.
    pub method: String,
    /// Its params, converted by [`args::to_param`] (JSON-RPC).
    pub params: Vec<Value>,
    /// The words as given, typed by kamcmd's rules for BINRPC ([`binrpc::kamcmd_arg`]).
    ///
    /// [`binrpc::kamcmd_arg`]: sipwire_control::binrpc::kamcmd_arg
    pub words: Vec<String>,
}

/// Parses the command line (without the program name).
pub fn parse(argv: Vec<String>) -> Result<Command, String> {
    let mut socket = None;
    let mut json = false;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut it = argv.into_iter();
    let method = loop {
        let Some(arg) = it.next() else {
            return Err("no method given (try --help; system.listMethods lists them)".into());
        };
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-s" | "--socket" => socket = Some(Address::parse(&value("ADDRESS")?)?),
            "--json" => json = true,
            "-t" | "--timeout" => {
                let v = value("SECS")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("{name}: {v:?} is not a positive number of seconds"))?;
                timeout = Duration::from_secs_f64(secs);
            }
            "--" => match it.next() {
                Some(m) => break m,
                None => return Err("no method given after --".into()),
            },
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s:?} (try --help)"));
            }
            _ => break arg,
        }
        if inline.is_some() && name == "--json" {
            return Err("--json takes no value".into());
        }
    };
    let address = socket.unwrap_or_else(|| Address::Json(client::default_socket_path()));
    let words: Vec<String> = it.collect();
    Ok(Command::Call(Call {
        socket: address.path().to_path_buf(),
        address,
        json,
        timeout,
        method,
        params: words.iter().map(|a| args::to_param(a)).collect(),
        words,
    }))
}

/// The method whose answer is followed by notifications [`run`] prints until the end.
pub const SUBSCRIBE: &str = "events.subscribe";

/// Writes a JSON-RPC error response's error to `err`.
fn print_error(answer: &Value, err: &mut dyn Write) -> Option<u8> {
    let e = answer.get("error")?;
    let code = e.get("code").map_or_else(|| "?".into(), Value::to_string);
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(err, "error: {code} - {message}");
    if let Some(data) = e.get("data") {
        let _ = writeln!(err, "{}", output::human(data).trim_end());
    }
    Some(EXIT_RPC_ERROR)
}

/// Makes `call`, writes the result to `out` (errors to `err`) and returns the exit status.
/// `events.subscribe` then prints each notification until the connection ends.
pub fn run(call: Call, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if !matches!(call.address, Address::Json(_)) {
        return run_binrpc(call, out, err);
    }
    if call.method == SUBSCRIBE {
        return watch(call, out, err);
    }
    let answer = match client::call(&call.socket, &call.method, call.params, call.timeout) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "sipwire-ctl: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(code) = print_error(&answer, err) {
        return code;
    }
    let result = answer.get("result").unwrap_or(&Value::Null);
    let text = if call.json {
        format!("{result}\n")
    } else {
        kamcmd_text(result)
    };
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // stdout closed (a pipe to `head`): nothing more to say.
        return EXIT_USAGE;
    }
    EXIT_OK
}

/// A JSON result printed as kamcmd prints the same result over BINRPC.
fn kamcmd_text(result: &Value) -> String {
    match sipwire_control::binrpc::reply_records(result) {
        Ok(records) => sipwire_control::binrpc::print_kamcmd(&records),
        Err(_) => output::human(result),
    }
}

/// A call over BINRPC: the reply printed as kamcmd prints it (`--json`: its records as one
/// JSON line), a fault as kamcmd prints it, on stdout, with exit status 1 (kamcmd's is 0).
fn run_binrpc(call: Call, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    use sipwire_control::binrpc::{self, PacketType};
    let params: Vec<binrpc::Value> = call.words.iter().map(|w| binrpc::kamcmd_arg(w)).collect();
    let r = match &call.address {
        Address::BinrpcDgram(p) => {
            binrpc_client::call_dgram(p, &call.method, &params, call.timeout)
        }
        a => binrpc_client::call_stream(a.path(), &call.method, &params, call.timeout),
    };
    let answer = match r {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "sipwire-ctl: {e}");
            return EXIT_USAGE;
        }
    };
    let fault = answer.kind == PacketType::Fault;
    let text = match (fault, call.json) {
        (true, _) => binrpc::print_kamcmd_fault(&answer.records),
        (false, true) => {
            let mut v: Vec<Value> = answer.records.iter().map(binrpc::Value::to_json).collect();
            let one = if v.len() == 1 {
                v.remove(0)
            } else {
                Value::Array(v)
            };
            format!("{one}\n")
        }
        (false, false) => binrpc::print_kamcmd(&answer.records),
    };
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return EXIT_USAGE;
    }
    if fault {
        EXIT_RPC_ERROR
    } else {
        EXIT_OK
    }
}

/// `events.subscribe`: the answer (on `err`, so `out` holds only events), then one line per
/// notification (`--json`: as received) until the server closes the connection (exit 2).
fn watch(call: Call, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let filter = if call.params.is_empty() {
        "all events".to_string()
    } else {
        let names: Vec<String> = call.params.iter().map(output::word).collect();
        names.join(", ")
    };
    let fail = |err: &mut dyn Write, e: client::CallError| {
        let _ = writeln!(err, "sipwire-ctl: {e}");
        EXIT_USAGE
    };
    let (answer, mut watch) =
        match client::watch(&call.socket, &call.method, call.params, call.timeout) {
            Ok(a) => a,
            Err(e) => return fail(err, e),
        };
    if let Some(code) = print_error(&answer, err) {
        return code;
    }
    if let Err(e) = watch.no_timeout() {
        return fail(err, e);
    }
    let _ = writeln!(
        err,
        "sipwire-ctl: subscribed to {filter} on {}; interrupt to stop",
        call.socket.display()
    );
    loop {
        let v = match watch.next() {
            Ok(Some(v)) => v,
            Ok(None) => {
                let _ = writeln!(
                    err,
                    "sipwire-ctl: control socket {} closed the subscription",
                    call.socket.display()
                );
                return EXIT_USAGE;
            }
            Err(e) => return fail(err, e),
        };
        if v.get("id").is_some() {
            // A response, not an event: only an error (the server closing us) matters.
            match print_error(&v, err) {
                Some(code) => return code,
                None => continue,
            }
        }
        let line = if call.json {
            format!("{v}\n")
        } else {
            output::notification(&v)
        };
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return EXIT_USAGE;
        }
    }
}

/// The whole program on `argv` (without the program name): parse, call, print; returns the
/// exit status. `main` passes the process's stdout and stderr.
pub fn main_with(argv: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match parse(argv) {
        Ok(Command::Help) => {
            let _ = out.write_all(usage().as_bytes());
            EXIT_OK
        }
        Ok(Command::Version) => {
            let _ = writeln!(out, "sipwire-ctl {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Ok(Command::Call(call)) => run(call, out, err),
        Err(e) => {
            let _ = writeln!(err, "sipwire-ctl: {e}");
            EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn call(s: &str) -> Call {
        match parse(argv(s)).unwrap() {
            Command::Call(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_before_the_method_args_after() {
        let c = call("-s /x.sock --json cfg.set_now_int tcp no_connect 1");
        assert_eq!(c.socket, PathBuf::from("/x.sock"));
        assert!(c.json);
        assert_eq!(c.method, "cfg.set_now_int");
        assert_eq!(c.params, vec![json!("tcp"), json!("no_connect"), json!(1)]);
        // After the method everything is an argument, even things that look like options.
        let c = call("--socket=/y cfg.set_now_int tcp x -5 --json");
        assert_eq!(c.socket, PathBuf::from("/y"));
        assert!(!c.json);
        assert_eq!(
            c.params,
            vec![json!("tcp"), json!("x"), json!(-5), json!("--json")]
        );
        let c = call("-t 2.5 -- core.version");
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.method, "core.version");
        assert_eq!(call("core.tcp_list").socket, client::default_socket_path());
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(argv("-h")).unwrap(), Command::Help);
        assert_eq!(parse(argv("--version")).unwrap(), Command::Version);
        assert!(parse(argv("")).unwrap_err().contains("no method"));
        assert!(parse(argv("--json")).unwrap_err().contains("no method"));
        assert!(parse(argv("-s")).unwrap_err().contains("needs a value"));
        assert!(parse(argv("--bogus x"))
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(argv("-t 0 x")).unwrap_err().contains("positive"));
        assert!(parse(argv("--json=1 x")).unwrap_err().contains("no value"));
    }

    #[test]
    fn default_socket_follows_xdg_runtime_dir_rule() {
        let p = client::default_socket_path();
        assert!(p.ends_with("ctl.sock"), "{}", p.display());
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(d) => assert_eq!(p, PathBuf::from(d).join("sipwired/ctl.sock")),
            None => assert!(p.starts_with("/tmp"), "{}", p.display()),
        }
    }
}
