//! Command-line arguments, parsed by hand.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::relay::{Forward, Proto};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: bad configuration or usage.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status: a listening address could not be bound.
pub const EXIT_BIND: u8 = 3;
/// Exit status: any other failure to start (threads, pollers, control socket).
pub const EXIT_START: u8 = 4;

/// Seconds between two resolutions of the configured names (`--resolve-interval`).
pub const DEFAULT_RESOLVE_INTERVAL: u64 = 30;

/// The longest `--drain-timeout`, in seconds.
pub const MAX_DRAIN_TIMEOUT: u64 = 3600;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run (or check the configuration).
    Run(Box<Options>),
    /// `-h`, `--help`.
    Help,
    /// `-V`, `--version`.
    Version,
    /// `--print-default-config`.
    PrintDefaultConfig,
}

/// Options of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-f FILE`: a Kamailio-style transport config instead of the embedded default.
    pub file: Option<PathBuf>,
    /// `--listen tcp:IP:PORT`, repeatable: replaces the config's TCP listen lines.
    pub listen: Vec<String>,
    /// `--forward [tcp:|sctp:]HOST:PORT`: send every request there (over TCP unless
    /// `sctp:`).
    pub forward: Option<String>,
    /// `--relay-allow LIST`, repeatable: destinations requests may be routed to.
    pub relay_allow: Vec<String>,
    /// `--resolve-interval SECONDS`: how often the configured names are resolved again
    /// (default [`DEFAULT_RESOLVE_INTERVAL`]; 0: only at start).
    pub resolve_interval: Option<u64>,
    /// `--relay-secret HEX|FILE`: the MAC key of our Vias (shared by instances).
    pub relay_secret: Option<String>,
    /// `--drain-timeout SECONDS`: on SIGINT/SIGTERM, stop accepting and wait up to this long
    /// for the accepted connections to close before stopping (`None`, 0: stop at once).
    pub drain_timeout: Option<u64>,
    /// `--ctl PATH`: the control socket.
    pub ctl: Option<PathBuf>,
    /// `--metrics IP:PORT|off`: the Prometheus `/metrics` listener (checked by
    /// [`parse_metrics_addr`]); overrides the config's `metrics_listen`.
    pub metrics: Option<String>,
    /// `--binrpc unixs:PATH|unixd:PATH|off`, repeatable: BINRPC sockets (kamcmd); override
    /// the config's `modparam("ctl", "binrpc", ...)`.
    pub binrpc: Vec<String>,
    /// `--jsonrpc-fifo PATH|off`: the jsonrpcs FIFO (kamctl).
    pub jsonrpc_fifo: Option<PathBuf>,
    /// `--jsonrpc-dgram PATH|off`: the jsonrpcs datagram socket (kamcli).
    pub jsonrpc_dgram: Option<PathBuf>,
    /// `--check-config`: parse, report, exit.
    pub check_config: bool,
}

/// The `--help` text.
pub fn usage() -> String {
    format!(
        "sipwired {version} — stateless SIP relay (RFC 3261 §16.11) over TCP and SCTP, on the sipwire runtime

Usage: sipwired [OPTIONS]

Options:
  -f FILE                  Kamailio-style transport config (listen=, tcp_*, sctp_*,
                           modparam(...)); without it the embedded default is used
                           (--print-default-config). SCTP: listen=sctp:IP:PORT
      --listen tcp:IP:PORT Listen here (repeatable); replaces the config's TCP listen lines.
                           Port 0 picks a free port; the real address is printed on start
      --forward [tcp:|sctp:]HOST:PORT
                           Send every request to this next hop, over TCP (or SCTP with
                           sctp:), instead of routing by Route / Request-URI (where
                           ;transport=sctp picks SCTP); a host name is resolved like the
                           --relay-allow names
      --relay-allow NET[:PORT],...
                           Without --forward, relay only to these destinations (repeatable,
                           comma separated): 127.0.0.0/8, 10.1.2.3:5060, [::1]/128,
                           pbx.example.com[:PORT]; others get 403. Default: none
      --resolve-interval SECONDS
                           The --relay-allow domains and the --forward host are the only
                           names resolved: at start, then by a background thread this
                           often (0: at start only). Default: 30
      --relay-secret HEX|FILE
                           128-bit key (32 hex digits, or a file holding them) of the MACs in
                           our Vias; instances behind one balancer share it. Default: random
      --drain-timeout SECONDS
                           On SIGINT/SIGTERM, drain first: stop accepting (the listeners
                           close, new connects are refused), keep serving the open
                           connections until their clients close them, at most this long,
                           then stop. A second signal stops at once. Default: 0 (stop at
                           once); at most 3600
      --ctl PATH           Control socket (JSON-RPC 2.0); default
                           $XDG_RUNTIME_DIR/sipwired/ctl.sock, else /tmp/sipwired-UID/ctl.sock
      --binrpc unixs:PATH|unixd:PATH|off
                           Serve BINRPC (kamcmd -s unixs:PATH, the Prometheus exporters) on
                           this unix stream or datagram socket (repeatable); overrides
                           modparam(\"ctl\", \"binrpc\", ...). Default: a stream socket
                           sipwire_ctl beside the control socket
      --jsonrpc-fifo PATH|off
                           The jsonrpcs FIFO for kamctl (RPCFIFOPATH=PATH kamctl rpc ...);
                           overrides modparam(\"jsonrpcs\", \"fifo_name\", ...). Default: none
      --jsonrpc-dgram PATH|off
                           The jsonrpcs datagram socket for kamcli; overrides
                           modparam(\"jsonrpcs\", \"dgram_socket\", ...). Default: none
      --metrics IP:PORT|off
                           Serve Prometheus metrics over HTTP at http://IP:PORT/metrics
                           (that address only; port 0 picks one, printed on start); overrides
                           the config's metrics_listen; off: none. Default: off
      --check-config       Parse the configuration, print warnings and \"config OK\", exit
      --print-default-config
                           Print the embedded default configuration and exit
  -h, --help               This help
  -V, --version            Version

Signals: SIGINT and SIGTERM stop it gracefully (after draining, with --drain-timeout).
Logging: RUST_LOG=debug (to stderr); default level warn.

Exit status:
  0  success (clean shutdown, config OK)
  2  bad configuration or usage
  3  cannot bind a listening address
  4  other start failure (threads, pollers, control socket)

Docs: docs/sipwired.md
",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// Parses the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = OsString>,
{
    let mut opts = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument is not UTF-8: {a:?}"))?;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .ok_or_else(|| format!("{name} needs a value ({what})"))?
                    .into_string()
                    .map_err(|a| format!("{name}: value is not UTF-8: {a:?}")),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--print-default-config" => return Ok(Command::PrintDefaultConfig),
            "-f" | "--config" => opts.file = Some(PathBuf::from(value("FILE")?)),
            "--listen" => opts.listen.push(value("tcp:IP:PORT")?),
            "--forward" => opts.forward = Some(value("[tcp:|sctp:]HOST:PORT")?),
            "--relay-allow" => opts.relay_allow.push(value("NET[:PORT],...")?),
            "--relay-secret" => opts.relay_secret = Some(value("HEX|FILE")?),
            "--resolve-interval" => {
                let v = value("SECONDS")?;
                let secs = v
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s <= 86_400)
                    .ok_or_else(|| format!("--resolve-interval {v:?}: seconds, 0 to 86400"))?;
                opts.resolve_interval = Some(secs);
            }
            "--drain-timeout" => {
                let v = value("SECONDS")?;
                let secs = v
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s <= MAX_DRAIN_TIMEOUT)
                    .ok_or_else(|| {
                        format!("--drain-timeout {v:?}: seconds, 0 to {MAX_DRAIN_TIMEOUT}")
                    })?;
                opts.drain_timeout = Some(secs);
            }
            "--ctl" => opts.ctl = Some(PathBuf::from(value("PATH")?)),
            "--binrpc" => {
                let v = value("unixs:PATH|unixd:PATH|off")?;
                crate::control::parse_binrpc(&v).map_err(|e| format!("--binrpc {v:?}: {e}"))?;
                opts.binrpc.push(v);
            }
            "--jsonrpc-fifo" => opts.jsonrpc_fifo = Some(PathBuf::from(value("PATH|off")?)),
            "--jsonrpc-dgram" => opts.jsonrpc_dgram = Some(PathBuf::from(value("PATH|off")?)),
            "--metrics" => {
                let v = value("IP:PORT|off")?;
                parse_metrics_addr(&v).map_err(|e| format!("--metrics {v:?}: {e}"))?;
                opts.metrics = Some(v);
            }
            "--check-config" => opts.check_config = true,
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
        if inline.is_some() && matches!(name.as_str(), "--check-config") {
            return Err(format!("{name} takes no value"));
        }
    }
    Ok(Command::Run(Box::new(opts)))
}

/// Parses a metrics listener address (`--metrics`, `metrics_listen`): `IP:PORT` or
/// `[IPv6]:PORT`; `None` for `off` or empty (no listener). Names are refused: the listener
/// binds exactly this address.
pub fn parse_metrics_addr(text: &str) -> Result<Option<SocketAddr>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    t.parse::<SocketAddr>()
        .map(Some)
        .map_err(|_| "an IP:PORT or [IPv6]:PORT address (or off) is expected".to_string())
}

/// Parses `--forward`: `tcp:HOST:PORT`, `sctp:HOST:PORT`, `tcp:[IPv6]:PORT`, ..., or
/// without a transport (TCP); the transport name in any case; the port defaults to 5060. A
/// host name is kept as a name (the daemon resolves it off the readers). Other transports
/// (`udp:`, `tls:`, `ws:`, `wss:`) are refused.
pub fn parse_forward_spec(text: &str) -> Result<(Proto, Forward), String> {
    let bad = |why: &str| format!("--forward {text:?}: {why}");
    let (proto, rest) = match text.split_once(':') {
        Some((proto, rest)) if proto.eq_ignore_ascii_case("tcp") => (Proto::Tcp, rest),
        Some((proto, rest)) if proto.eq_ignore_ascii_case("sctp") => (Proto::Sctp, rest),
        Some((proto, _))
            if ["udp", "tls", "ws", "wss"]
                .iter()
                .any(|p| proto.eq_ignore_ascii_case(p)) =>
        {
            return Err(bad("sipwired relays over TCP and SCTP only"));
        }
        _ => (Proto::Tcp, text),
    };
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Ok((proto, Forward::Addr(a)));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if after.is_empty() => 5060,
            None => return Err(bad("junk after ']'")),
        };
        (h, port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (rest, 5060),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if let Ok(ip) = host.parse() {
        return Ok((proto, Forward::Addr(SocketAddr::new(ip, port))));
    }
    let is_name = host.len() <= 253
        && host.bytes().any(|b| b.is_ascii_alphabetic())
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !is_name {
        return Err(bad("not an IP address or a host name"));
    }
    Ok((proto, Forward::Name(host.to_ascii_lowercase(), port)))
}

/// [`parse_forward_spec`] for a TCP next hop: `tcp:HOST:PORT`, `tcp:[IPv6]:PORT`, or
/// without `tcp:`. An `sctp:` target is refused here (the transport would be lost): use
/// [`parse_forward_spec`].
pub fn parse_forward_target(text: &str) -> Result<Forward, String> {
    match parse_forward_spec(text)? {
        (Proto::Tcp, f) => Ok(f),
        (Proto::Sctp, _) => Err(format!(
            "--forward {text:?}: an SCTP next hop needs its transport (parse_forward_spec)"
        )),
    }
}

impl FromStr for Forward {
    type Err = String;

    /// [`parse_forward_target`].
    fn from_str(s: &str) -> Result<Forward, String> {
        parse_forward_target(s)
    }
}

/// [`parse_forward_target`], then a host name through `resolve` (once: for embedders that
/// want an address; the daemon keeps the name).
pub fn parse_forward(
    text: &str,
    resolve: impl Fn(&str, u16) -> Option<SocketAddr>,
) -> Result<SocketAddr, String> {
    match parse_forward_target(text)? {
        Forward::Addr(a) => Ok(a),
        Forward::Name(host, port) => resolve(&host, port)
            .ok_or_else(|| format!("--forward {text:?}: cannot resolve the host name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(OsString::from))
    }

    #[test]
    fn flags() {
        assert_eq!(args(&[]).unwrap(), Command::Run(Box::default()));
        assert_eq!(args(&["-h"]).unwrap(), Command::Help);
        assert_eq!(args(&["--version"]).unwrap(), Command::Version);
        assert_eq!(
            args(&["--print-default-config"]).unwrap(),
            Command::PrintDefaultConfig
        );
        let Command::Run(o) = args(&[
            "-f",
            "a.cfg",
            "--listen",
            "tcp:127.0.0.1:0",
            "--listen=tcp:[::1]:5070",
            "--forward",
            "tcp:127.0.0.1:5080",
            "--ctl=/tmp/x.sock",
            "--relay-allow",
            "127.0.0.0/8",
            "--relay-allow=10.0.0.1:5060,[::1]/128",
            "--relay-secret",
            "00112233445566778899aabbccddeeff",
            "--resolve-interval=5",
            "--drain-timeout",
            "30",
            "--check-config",
        ])
        .unwrap() else {
            panic!("not a run");
        };
        assert_eq!(o.file, Some(PathBuf::from("a.cfg")));
        assert_eq!(o.listen, ["tcp:127.0.0.1:0", "tcp:[::1]:5070"]);
        assert_eq!(o.forward.as_deref(), Some("tcp:127.0.0.1:5080"));
        assert_eq!(o.ctl, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(o.relay_allow, ["127.0.0.0/8", "10.0.0.1:5060,[::1]/128"]);
        assert_eq!(
            o.relay_secret.as_deref(),
            Some("00112233445566778899aabbccddeeff")
        );
        assert!(o.check_config);
        assert_eq!(o.resolve_interval, Some(5));
        assert_eq!(o.drain_timeout, Some(30));
        assert!(args(&["--drain-timeout", "3601"]).is_err());
        assert!(args(&["--drain-timeout=-1"]).is_err());
        assert!(args(&["--resolve-interval", "x"]).is_err());
        assert!(args(&["--resolve-interval", "-1"]).is_err());
        assert!(args(&["--bogus"]).unwrap_err().contains("unknown"));
        assert!(args(&["--listen"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--check-config=1"]).is_err());
        assert!(usage().contains("Exit status"));
    }

    #[test]
    fn metrics_flag() {
        let run = |a: &[&str]| match args(a).unwrap() {
            Command::Run(o) => o,
            other => panic!("not a run: {other:?}"),
        };
        assert_eq!(run(&[]).metrics, None);
        assert_eq!(
            run(&["--metrics", "127.0.0.1:9090"]).metrics.as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(
            run(&["--metrics=[::1]:0"]).metrics.as_deref(),
            Some("[::1]:0")
        );
        assert_eq!(run(&["--metrics", "off"]).metrics.as_deref(), Some("off"));
        for bad in [
            "localhost:9090",
            "127.0.0.1",
            "127.0.0.1:x",
            ":9090",
            "[::1]",
            "1.2.3.4:70000",
        ] {
            let e = args(&["--metrics", bad]).unwrap_err();
            assert!(
                e.contains("--metrics") && e.contains("IP:PORT"),
                "{bad}: {e}"
            );
        }
        assert!(args(&["--metrics"]).unwrap_err().contains("needs a value"));
        let p = |s| parse_metrics_addr(s).unwrap();
        assert_eq!(p("127.0.0.1:9090"), Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(p(" [::1]:9090 "), Some("[::1]:9090".parse().unwrap()));
        assert_eq!(p(""), None);
        assert_eq!(p("OFF"), None);
        assert!(usage().contains("--metrics IP:PORT|off"));
    }

    #[test]
    fn forward_transports() {
        let spec = |s| parse_forward_spec(s);
        let addr = |s: &str| Forward::Addr(s.parse().unwrap());
        assert_eq!(
            spec("sctp:127.0.0.1:5080").unwrap(),
            (Proto::Sctp, addr("127.0.0.1:5080"))
        );
        assert_eq!(
            spec("SCTP:[::1]").unwrap(),
            (Proto::Sctp, addr("[::1]:5060"))
        );
        assert_eq!(
            spec("sctp:PBX.example.com:5070").unwrap(),
            (Proto::Sctp, Forward::Name("pbx.example.com".into(), 5070))
        );
        // The old forms: TCP.
        assert_eq!(
            spec("tcp:127.0.0.1:5080").unwrap(),
            (Proto::Tcp, addr("127.0.0.1:5080"))
        );
        assert_eq!(
            spec("TCP:127.0.0.1").unwrap(),
            (Proto::Tcp, addr("127.0.0.1:5060"))
        );
        assert_eq!(
            spec("127.0.0.1:5080").unwrap(),
            (Proto::Tcp, addr("127.0.0.1:5080"))
        );
        assert_eq!(
            spec("proxy.example.com").unwrap(),
            (Proto::Tcp, Forward::Name("proxy.example.com".into(), 5060))
        );
        for other in [
            "udp:127.0.0.1:5060",
            "tls:127.0.0.1",
            "ws:h:80",
            "WSS:h:443",
        ] {
            let e = spec(other).unwrap_err();
            assert!(e.contains("TCP and SCTP only"), "{other}: {e}");
        }
        assert!(spec("sctp:127.0.0.1:x").is_err());
        assert!(spec("sctp::5060").is_err());
        assert!(spec("sctp:bad_name").is_err());
        // The TCP-only entry points refuse SCTP rather than dropping the transport.
        assert!(parse_forward_target("sctp:127.0.0.1:5080").is_err());
        assert!("sctp:127.0.0.1:5080".parse::<Forward>().is_err());
        assert!(parse_forward("sctp:127.0.0.1:5080", |_, _| None).is_err());
        let Command::Run(o) = args(&["--forward", "sctp:127.0.0.1:5080"]).unwrap() else {
            panic!("not a run");
        };
        assert_eq!(o.forward.as_deref(), Some("sctp:127.0.0.1:5080"));
    }

    #[test]
    fn forward_addresses() {
        let none = |_: &str, _: u16| None;
        let p = |s| parse_forward(s, none);
        assert_eq!(
            p("tcp:127.0.0.1:5080").unwrap(),
            "127.0.0.1:5080".parse().unwrap()
        );
        assert_eq!(p("127.0.0.1").unwrap(), "127.0.0.1:5060".parse().unwrap());
        assert_eq!(p("tcp:[::1]:5070").unwrap(), "[::1]:5070".parse().unwrap());
        assert_eq!(p("tcp:[::1]").unwrap(), "[::1]:5060".parse().unwrap());
        assert!(p("udp:127.0.0.1:5060").is_err());
        assert!(p("tcp:127.0.0.1:x").is_err());
        assert!(p("tcp:nosuch.invalid:5060").is_err());
        let fake =
            |h: &str, port: u16| (h == "proxy").then(|| SocketAddr::from(([10, 0, 0, 1], port)));
        assert_eq!(
            parse_forward("tcp:proxy:5099", fake).unwrap(),
            "10.0.0.1:5099".parse().unwrap()
        );
        // The daemon's form: a name stays a name, nothing is resolved.
        assert_eq!(
            parse_forward_target("tcp:Proxy.Example.com").unwrap(),
            Forward::Name("proxy.example.com".into(), 5060)
        );
        assert_eq!(
            "tcp:127.0.0.1:5080".parse::<Forward>().unwrap(),
            Forward::Addr("127.0.0.1:5080".parse().unwrap())
        );
        assert!(parse_forward_target("tcp:bad_name:5060").is_err());
        assert!(parse_forward_target("tcp::5060").is_err());
    }
}
