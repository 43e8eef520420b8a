//! Command-line parsing, by hand (the tool takes no argument-parsing crate).
//!
//! Every option takes the form `--name value` or `--name=value`; flags take
//! none. [`parse`] turns the words into an [`Args`] with all defaults filled
//! in and all cross-option rules checked, so the rest of the tool never
//! re-validates.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::error::LoadError;

/// What the program does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Client to `--target` (a relay) plus an in-process UAS on `--uas-listen`
    /// that the relay forwards to.
    Relay,
    /// Client only; the target itself answers (a UAS, e.g. another
    /// `sipwire-load --mode serve`).
    UasOnly,
    /// Only the UAS: answer every request on `--uas-listen` with 200 OK.
    Serve,
    /// Per transaction: connect, send one request, read the answer, close.
    ConnectRate,
    /// Open `--conns` idle connections and hold them (memory benchmark).
    Idle,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::UasOnly => "uas-only",
            Self::Serve => "serve",
            Self::ConnectRate => "connect-rate",
            Self::Idle => "idle",
        }
    }
}

/// Which requests the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// OPTIONS without a body, about 400 bytes.
    Small,
    /// INVITE with an SDP body, about 1 KB.
    Invite,
    /// Alternating small and INVITE.
    Both,
}

/// Everything a run needs, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// What to do.
    pub mode: Mode,
    /// Where the client connects.
    pub target: SocketAddr,
    /// Where the in-process UAS listens (relay and serve modes, optional in
    /// connect-rate mode).
    pub uas_listen: Option<SocketAddr>,
    /// Request-URI host\[:port\] override.
    pub ruri_host: Option<String>,
    /// Client connections in total (idle: connections to hold).
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// UAS worker threads.
    pub uas_threads: usize,
    /// Open loop: transactions per second in total.
    pub rate: Option<f64>,
    /// Closed loop: transactions in flight per connection.
    pub outstanding: usize,
    /// Open loop: send window (requests due within it go out together).
    pub batch: Duration,
    /// Measured run time (after warmup); `None` with `count`, or serve/idle without limit.
    pub duration: Option<Duration>,
    /// Measured transactions in total.
    pub count: Option<u64>,
    /// Time at the start whose transactions are left out of the results.
    pub warmup: Duration,
    /// A transaction without a final answer after this long timed out.
    pub timeout: Duration,
    /// Request mix.
    pub mix: Mix,
    /// Print one JSON object instead of the table.
    pub json: bool,
    /// No per-second progress lines.
    pub quiet: bool,
    /// Idle mode: how long to hold (`None`: until stdin closes or SIGINT/SIGTERM).
    pub hold: Option<Duration>,
    /// Idle mode: send one CRLFCRLF ping on each connection.
    pub idle_ping: bool,
    /// Connect-rate mode: close with RST (SO_LINGER 0), leaving no TIME_WAIT.
    pub linger0: bool,
    /// UAS fault injection: drop every Nth request (0 = never).
    pub uas_drop_every: u64,
    /// UAS fault injection: answer every Nth request twice (0 = never).
    pub uas_dup_every: u64,
}

/// Result of parsing: run, or print the usage text.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// `-h` / `--help`.
    Help,
    /// A run.
    Run(Box<Args>),
}

/// The `--help` text.
pub const USAGE: &str = "\
sipwire-load: SIP over TCP load generator and latency recorder

USAGE: sipwire-load [--mode MODE] [OPTIONS]

MODES (--mode):
  relay         client -> --target (a relay) -> in-process UAS on --uas-listen (default)
  uas-only      client -> --target, which answers itself
  serve         only the UAS on --uas-listen (prints 'listening ADDR'); until SIGINT/SIGTERM/--duration
  connect-rate  per transaction: connect, one request, answer, close (own UAS if --uas-listen)
  idle          hold --conns idle connections; prints 'ready N' once all are up

OPTIONS:
  --target ADDR          relay or UAS to connect to            [127.0.0.1:5060]
  --uas-listen ADDR      in-process UAS address (port 0: any)  [127.0.0.1:5070]
  --ruri-host H[:P]      Request-URI host (default: the UAS address)
  --conns N              client connections in total           [2; idle: 1000]
  --threads T            client threads                        [2]
  --uas-threads U        UAS worker threads                    [1]
  --rate R               open loop: R transactions/s in total (latency from intended send time)
  --outstanding P        closed loop: P transactions in flight per connection [1]
  --batch-us US          open loop: a wakeup also sends what is due within US [100]
  --duration SECS        measured run time after warmup        [10 unless --count]
  --count N              stop after N measured transactions
  --warmup SECS          leave the first SECS out of the results [0]
  --timeout MS           no final answer after MS: timed out   [5000]
  --mix small|invite|both  OPTIONS ~400 B, INVITE+SDP ~1 KB, or alternating [small]
  --json                 print one JSON object instead of the table
  --quiet                no per-second progress lines on stderr
  --hold SECS            idle: hold time (default: until stdin closes or SIGINT/SIGTERM)
  --idle-ping            idle: send one CRLFCRLF keepalive per connection
  --linger0              connect-rate: close with RST (no TIME_WAIT)
  --uas-drop-every N     UAS fault injection: never answer every Nth request
  --uas-dup-every N      UAS fault injection: answer every Nth request twice
  -h, --help             this text

EXIT STATUS: 0 all transactions answered correctly; 1 any lost, timed-out,
duplicated, mismatched transaction or broken connection; 2 usage or setup error.
";

fn usage(msg: impl Into<String>) -> LoadError {
    LoadError::Usage(msg.into())
}

fn addr(name: &str, v: &str) -> Result<SocketAddr, LoadError> {
    v.to_socket_addrs()
        .map_err(|e| usage(format!("{name} {v}: {e}")))?
        .next()
        .ok_or_else(|| usage(format!("{name} {v}: no address")))
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, LoadError> {
    v.parse()
        .map_err(|_| usage(format!("{name} {v}: not a valid number")))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    name: &str,
    v: &str,
) -> Result<T, LoadError> {
    let n: T = num(name, v)?;
    if n <= T::default() {
        return Err(usage(format!("{name} {v}: must be greater than 0")));
    }
    Ok(n)
}

fn secs(name: &str, v: &str) -> Result<Duration, LoadError> {
    let s: f64 = num(name, v)?;
    if !s.is_finite() || !(0.0..=1e7).contains(&s) {
        return Err(usage(format!("{name} {v}: seconds out of range")));
    }
    Ok(Duration::from_secs_f64(s))
}

fn ruri_host(v: &str) -> Result<String, LoadError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ".-_:[]".contains(c);
    if v.is_empty() || !v.chars().all(ok) {
        return Err(usage(format!("--ruri-host {v:?}: not a host[:port]")));
    }
    Ok(v.to_owned())
}

fn parse_mode(v: &str) -> Result<Mode, LoadError> {
    Ok(match v {
        "relay" => Mode::Relay,
        "uas-only" => Mode::UasOnly,
        "serve" => Mode::Serve,
        "connect-rate" => Mode::ConnectRate,
        "idle" => Mode::Idle,
        _ => return Err(usage(format!("--mode {v}: unknown mode"))),
    })
}

fn parse_mix(v: &str) -> Result<Mix, LoadError> {
    Ok(match v {
        "small" => Mix::Small,
        "invite" => Mix::Invite,
        "both" => Mix::Both,
        _ => return Err(usage(format!("--mix {v}: small, invite or both"))),
    })
}

fn parse_rate(name: &str, v: &str) -> Result<f64, LoadError> {
    let r: f64 = positive(name, v)?;
    if !r.is_finite() {
        return Err(usage(format!("--rate {v}: not finite")));
    }
    Ok(r)
}

/// Parses the command line (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(words: I) -> Result<Parsed, LoadError> {
    let mut mode = Mode::Relay;
    let mut target = None;
    let mut uas_listen = None;
    let mut ruri = None;
    let mut conns = None;
    let mut threads = 2usize;
    let mut uas_threads = 1usize;
    let mut rate = None;
    let mut outstanding = None;
    let mut duration = None;
    let mut count = None;
    let mut warmup = Duration::ZERO;
    let mut batch = Duration::from_micros(100);
    let mut timeout = Duration::from_millis(5000);
    let mut mix = Mix::Small;
    let (mut json, mut quiet, mut idle_ping, mut linger0) = (false, false, false, false);
    let mut hold = None;
    let (mut drop_every, mut dup_every) = (0u64, 0u64);

    let mut it = words.into_iter();
    while let Some(word) = it.next() {
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (word.clone(), None),
        };
        let flag = |v: &Option<String>| match v {
            Some(_) => Err(usage(format!("{name} takes no value"))),
            None => Ok(true),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => json = flag(&inline)?,
            "--quiet" => quiet = flag(&inline)?,
            "--idle-ping" => idle_ping = flag(&inline)?,
            "--linger0" => linger0 = flag(&inline)?,
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| usage(format!("{name} needs a value")))?,
                };
                let v = value.as_str();
                match name.as_str() {
                    "--mode" => mode = parse_mode(v)?,
                    "--target" => target = Some(addr(&name, v)?),
                    "--uas-listen" => uas_listen = Some(addr(&name, v)?),
                    "--ruri-host" => ruri = Some(ruri_host(v)?),
                    "--conns" => conns = Some(positive(&name, v)?),
                    "--threads" => threads = positive(&name, v)?,
                    "--uas-threads" => uas_threads = positive(&name, v)?,
                    "--rate" => rate = Some(parse_rate(&name, v)?),
                    "--outstanding" => outstanding = Some(positive(&name, v)?),
                    "--duration" => duration = Some(secs(&name, v)?),
                    "--count" => count = Some(positive(&name, v)?),
                    "--warmup" => warmup = secs(&name, v)?,
                    "--batch-us" => batch = Duration::from_micros(num(&name, v)?),
                    "--timeout" => timeout = Duration::from_millis(positive(&name, v)?),
                    "--mix" => mix = parse_mix(v)?,
                    "--hold" => hold = Some(secs(&name, v)?),
                    "--uas-drop-every" => drop_every = num(&name, v)?,
                    "--uas-dup-every" => dup_every = num(&name, v)?,
                    _ => return Err(usage(format!("unknown option {name}"))),
                }
            }
        }
    }

    if rate.is_some() && outstanding.is_some() {
        return Err(usage(
            "--rate (open loop) and --outstanding (closed loop) exclude each other",
        ));
    }
    match mode {
        Mode::UasOnly | Mode::Idle if uas_listen.is_some() => {
            return Err(usage(format!(
                "--uas-listen makes no sense with --mode {}",
                mode.name()
            )))
        }
        Mode::Relay | Mode::Serve if uas_listen.is_none() => {
            uas_listen = Some(SocketAddr::from(([127, 0, 0, 1], 5070)));
        }
        _ => {}
    }
    if mode == Mode::ConnectRate && outstanding.is_some() {
        return Err(usage(
            "--outstanding: connect-rate runs one transaction per connection",
        ));
    }
    if hold.is_some() && mode != Mode::Idle {
        return Err(usage("--hold only applies to --mode idle"));
    }
    let client = matches!(mode, Mode::Relay | Mode::UasOnly | Mode::ConnectRate);
    if duration.is_none() && count.is_none() && client {
        duration = Some(Duration::from_secs(10));
    }
    let conns = conns.unwrap_or(if mode == Mode::Idle { 1000 } else { 2 });
    Ok(Parsed::Run(Box::new(Args {
        mode,
        target: target.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060))),
        uas_listen,
        ruri_host: ruri,
        conns,
        threads,
        uas_threads,
        rate,
        outstanding: outstanding.unwrap_or(1),
        batch,
        duration,
        count,
        warmup,
        timeout,
        mix,
        json,
        quiet,
        hold,
        idle_ping,
        linger0,
        uas_drop_every: drop_every,
        uas_dup_every: dup_every,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Parsed, LoadError> {
        parse(s.split_whitespace().map(String::from))
    }

    fn args(s: &str) -> Args {
        match p(s) {
            Ok(Parsed::Run(a)) => *a,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let a = args("");
        assert_eq!(a.mode, Mode::Relay);
        assert_eq!(a.target.to_string(), "127.0.0.1:5060");
        assert_eq!(
            a.uas_listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:5070")
        );
        assert_eq!(a.duration, Some(Duration::from_secs(10)));
        assert_eq!((a.conns, a.threads, a.outstanding), (2, 2, 1));
        assert_eq!(a.timeout, Duration::from_millis(5000));
        assert_eq!(a.batch, Duration::from_micros(100));
        assert_eq!(args("--batch-us 0").batch, Duration::ZERO);
    }

    #[test]
    fn forms_and_values() {
        let a =
            args("--mode=uas-only --target 127.0.0.1:9 --rate 1000 --count=50 --mix both --json");
        assert_eq!(a.mode, Mode::UasOnly);
        assert_eq!(a.uas_listen, None);
        assert_eq!(a.rate, Some(1000.0));
        assert_eq!(a.count, Some(50));
        assert_eq!(a.duration, None);
        assert_eq!(a.mix, Mix::Both);
        assert!(a.json);
        assert_eq!(args("--mode idle").conns, 1000);
        assert_eq!(p("--help"), Ok(Parsed::Help));
    }

    #[test]
    fn errors() {
        for bad in [
            "--rate 10 --outstanding 2",
            "--mode uas-only --uas-listen 127.0.0.1:1",
            "--conns 0",
            "--conns",
            "--bogus 1",
            "--mode nope",
            "--json=1",
            "--ruri-host a;b",
            "--hold 3",
            "--rate -1",
        ] {
            assert!(matches!(p(bad), Err(LoadError::Usage(_))), "{bad}");
        }
    }
}
