//! Running the daemon: configuration (embedded default or `-f`, then command-line
//! overrides), the configured names (resolved before serving, then by a refresh thread),
//! the control socket path (served by `sipwire_control`), the optional Prometheus listener
//! (`--metrics` / `metrics_listen`, `sipwire_control::metrics`), start, the startup report,
//! signals, the drain (`--drain-timeout`, [`crate::drain`]), shutdown.

use std::fs::DirBuilder;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use sipwire::config::{Config, ListenProto, ParseOptions, Warning};
use sipwire::{Histogram, Runtime, StartError};

use crate::cli::{
    self, Options, DEFAULT_RESOLVE_INTERVAL, EXIT_BIND, EXIT_CONFIG, EXIT_OK, EXIT_START,
};
use crate::drain::{self, Drained, Signals};
use crate::handler::RelayHandler;
use crate::relay::{
    system_lookup, AllowList, Forward, MacKey, NameTable, Proto, Relay, RelayStats,
};
use sipwire_control::metrics::{MetricSet, MetricsSource, RuntimeMetrics};
use sipwire_control::{EventBus, RpcError, RpcExtension};

/// Everything a run needs, checked.
#[derive(Debug)]
struct Setup {
    config: Config,
    forward: Option<Forward>,
    /// The transport to `forward` (`--forward sctp:...`; TCP otherwise).
    forward_proto: Proto,
    /// `--relay-allow` (the `--forward` target needs no entry: it is always allowed).
    allow: AllowList,
    /// The names that may be resolved: the `--forward` host and the `--relay-allow` domains.
    names: Vec<String>,
    /// `--resolve-interval`; zero: at start only.
    resolve_interval: Duration,
    /// `--relay-secret`; `None`: a random key per start.
    key: Option<MacKey>,
    /// `--metrics`, else the config's `metrics_listen`; `None`: no metrics listener.
    metrics: Option<SocketAddr>,
    /// `--drain-timeout`; zero: stop at once.
    drain: Duration,
}

/// Reads the configuration and applies the command line; errors are for the user.
fn setup(opts: &Options) -> Result<(Setup, Vec<Warning>), String> {
    let parse = ParseOptions::default();
    let (mut config, warnings) = match &opts.file {
        Some(path) => Config::from_file(path, parse),
        None => Config::from_str_with("<embedded default>", crate::DEFAULT_CONFIG, parse),
    }
    .map_err(|e| e.to_string())?;
    let mut warnings = warnings;
    if !opts.listen.is_empty() {
        config.listen.retain(|l| l.proto != ListenProto::Tcp);
        for l in &opts.listen {
            let w = config
                .set("listen", l)
                .map_err(|e| format!("--listen {l}: {e}"))?;
            warnings.extend(w);
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    let (forward_proto, forward) = match opts.forward.as_deref() {
        Some(f) => {
            let (proto, target) = cli::parse_forward_spec(f)?;
            (proto, Some(target))
        }
        None => (Proto::Tcp, None),
    };
    let mut allow = AllowList::default();
    for a in &opts.relay_allow {
        allow.add(a)?;
    }
    let names = match &forward {
        Some(Forward::Name(host, _)) => vec![host.clone()],
        _ => Vec::new(),
    }
    .into_iter()
    .chain(allow.domain_names().map(str::to_string))
    .collect();
    let resolve_interval =
        Duration::from_secs(opts.resolve_interval.unwrap_or(DEFAULT_RESOLVE_INTERVAL));
    let key = opts
        .relay_secret
        .as_deref()
        .map(MacKey::parse_secret)
        .transpose()?;
    let metrics = match &opts.metrics {
        Some(m) => cli::parse_metrics_addr(m).map_err(|e| format!("--metrics {m:?}: {e}"))?,
        None => cli::parse_metrics_addr(&config.metrics_listen)
            .map_err(|e| format!("metrics_listen {:?}: {e}", config.metrics_listen))?,
    };
    Ok((
        Setup {
            config,
            forward,
            forward_proto,
            allow,
            names,
            resolve_interval,
            key,
            metrics,
            drain: Duration::from_secs(opts.drain_timeout.unwrap_or(0)),
        },
        warnings,
    ))
}

/// The default control socket: `$XDG_RUNTIME_DIR/sipwired/ctl.sock`, else
/// `/tmp/sipwired-<uid>/ctl.sock`.
fn default_ctl_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Path::new(&dir).join("sipwired").join("ctl.sock"),
        None => {
            let who = current_uid().map_or_else(
                || std::env::var("USER").unwrap_or_else(|_| "user".into()),
                |u| u.to_string(),
            );
            PathBuf::from(format!("/tmp/sipwired-{who}")).join("ctl.sock")
        }
    }
}

/// The process's user id, read without `unsafe`: the owner of `/proc/self`.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Creates the control socket's directory (mode 0700) if missing; refuses a directory owned
/// by someone else or writable by others.
fn prepare_ctl_dir(path: &Path) -> Result<(), String> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        return Ok(());
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if let Some(uid) = current_uid() {
        let shared = meta.permissions().mode() & 0o022 != 0;
        let sticky = meta.permissions().mode() & 0o1000 != 0;
        if meta.uid() != uid && !(meta.uid() == 0 && sticky) {
            return Err(format!(
                "{} belongs to uid {}, not to us ({uid})",
                dir.display(),
                meta.uid()
            ));
        }
        if shared && !sticky {
            return Err(format!(
                "{} is writable by others; use a private directory",
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Runs the daemon (or `--check-config`); returns the exit status.
pub fn run(opts: &Options) -> u8 {
    let (setup, warnings) = match setup(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipwired: {e}");
            return EXIT_CONFIG;
        }
    };
    for w in &warnings {
        eprintln!("sipwired: {w}");
    }
    if setup.forward.is_none() && setup.allow.is_empty() {
        eprintln!(
            "sipwired: warning: no --forward and no --relay-allow: every request will be \
             refused (403); allow destinations with --relay-allow"
        );
    }
    // The configured names, resolved before serving; one that does not resolve is not fatal
    // (requests to it get 503 until a refresh resolves it).
    let names = NameTable::new(&setup.names, system_lookup);
    if !names.is_empty() {
        for n in names.refresh() {
            eprintln!(
                "sipwired: warning: {n} does not resolve; requests to it get 503 until it does"
            );
        }
    }
    if opts.check_config {
        println!("config OK");
        return EXIT_OK;
    }
    let ctl_path = opts.ctl.clone().unwrap_or_else(default_ctl_path);
    if let Err(e) = prepare_ctl_dir(&ctl_path) {
        eprintln!("sipwired: control socket: {e}");
        return EXIT_START;
    }
    let control_plan = match crate::control::plan(opts, &setup.config, &ctl_path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sipwired: {e}");
            return EXIT_CONFIG;
        }
    };

    // Block SIGINT/SIGTERM before any thread starts, so every thread inherits the mask and
    // the signals wait for `sigwait` below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if let Err(e) = signals.thread_block() {
        eprintln!("sipwired: cannot block signals: {e}");
        return EXIT_START;
    }
    let signals = match Signals::spawn(signals) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipwired: cannot start the signal thread: {e}");
            return EXIT_START;
        }
    };

    let key = match setup.key.map_or_else(MacKey::random, Ok) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("sipwired: cannot read a random key from /dev/urandom: {e}");
            return EXIT_START;
        }
    };
    // Dropped on return: the thread stops after its lookup in progress, if any.
    let _refresher = if names.is_empty() || setup.resolve_interval.is_zero() {
        None
    } else {
        match names.spawn_refresher(setup.resolve_interval) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("sipwired: cannot start the resolver thread: {e}");
                return EXIT_START;
            }
        }
    };
    let stats = Arc::new(RelayStats::default());
    let relay_time = Arc::new(Histogram::relay_time());
    let relay = Relay::new(None, names.clone())
        .with_forward(setup.forward.clone())
        .with_forward_proto(setup.forward_proto)
        .with_key(key)
        .with_allow(setup.allow.clone());
    // Close events go from the handler (on TCP main) to the control socket's subscribers.
    let events = EventBus::new();
    let handler = Arc::new(
        RelayHandler::new(relay, stats.clone())
            .with_events(events.clone())
            .with_relay_time(relay_time.clone()),
    );
    let poll = setup.config.tcp.poll_method;
    let children = setup.config.tcp.children.max(1);
    let runtime = match Runtime::start(setup.config, handler) {
        Ok(r) => r,
        Err(e @ StartError::Bind(..)) => {
            eprintln!("sipwired: {e}");
            return EXIT_BIND;
        }
        Err(e) => {
            eprintln!("sipwired: {e}");
            return EXIT_START;
        }
    };
    let transport = runtime.transport();
    // The relay's counters join the runtime's in the control socket's `stats.get`.
    let ext: Arc<dyn RpcExtension> = Arc::new(RelayRpc(stats.clone()));
    let ctl = match sipwire_control::spawn_with_events(
        &ctl_path,
        transport.clone(),
        Some(ext.clone()),
        events,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "sipwired: cannot open the control socket {}: {e}",
                ctl_path.display()
            );
            runtime.shutdown();
            return EXIT_START;
        }
    };
    // kamcmd, kamctl and kamcli: the same methods, Kamailio's transports.
    let transports = match crate::control::start(&control_plan, &transport, &ext) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sipwired: {e}");
            ctl.shutdown();
            runtime.shutdown();
            return EXIT_START;
        }
    };
    // The runtime's families, then the relay's, on the configured address only.
    let metrics = match setup.metrics {
        None => None,
        Some(addr) => {
            let sources: Vec<Arc<dyn MetricsSource>> = vec![
                Arc::new(RuntimeMetrics::new(transport.clone())),
                Arc::new(RelayMetrics {
                    stats: stats.clone(),
                    relay_time,
                }),
            ];
            match sipwire_control::metrics::serve(addr, Arc::new(sources)) {
                Ok(m) => Some(m),
                Err(e) => {
                    eprintln!("sipwired: cannot open the metrics listener {addr}: {e}");
                    transports.shutdown();
                    ctl.shutdown();
                    runtime.shutdown();
                    return EXIT_BIND;
                }
            }
        }
    };

    println!("sipwired {} started", env!("CARGO_PKG_VERSION"));
    for a in transport.listen_addrs() {
        println!("listening on tcp:{a}");
    }
    for ep in transport.sctp_endpoints() {
        let addrs: Vec<String> = ep.local_addrs().iter().map(|a| a.to_string()).collect();
        println!("listening on sctp:{}", addrs.join(","));
    }
    if setup.forward.is_some()
        && setup.forward_proto == Proto::Sctp
        && transport.sctp_endpoints().is_empty()
    {
        eprintln!(
            "sipwired: warning: --forward sctp: but no SCTP endpoint (listen=sctp:...): every \
             request will get 503"
        );
    }
    println!(
        "poll method: {} (tcp_poll_method = {poll})",
        poll.resolve().name()
    );
    println!("readers: {children} (tcp_children)");
    println!("control socket: {}", ctl_path.display());
    for l in &transports.lines {
        println!("{l}");
    }
    if let Some(m) = &metrics {
        println!("metrics: http://{}/metrics", m.local_addr());
    }
    match &setup.forward {
        Some(Forward::Addr(f)) => println!(
            "routing: every request to {}:{f} (--forward)",
            setup.forward_proto
        ),
        Some(Forward::Name(h, p)) => println!(
            "routing: every request to {}:{h}:{p} (--forward)",
            setup.forward_proto
        ),
        None if opts.relay_allow.is_empty() => {
            println!(
                "routing: by Route (loose routing) and Request-URI, to nowhere (no --relay-allow)"
            )
        }
        None => println!(
            "routing: by Route (loose routing) and Request-URI, to {}",
            opts.relay_allow.join(",")
        ),
    }
    if !names.is_empty() {
        let table: Vec<String> = names
            .entries()
            .iter()
            .map(|e| match e.ip {
                Some(ip) => format!("{}={ip}", e.name),
                None => format!("{}=unresolved", e.name),
            })
            .collect();
        let when = match setup.resolve_interval.as_secs() {
            0 => "at start only".to_string(),
            n => format!("at start and every {n} s"),
        };
        println!(
            "names: {} (resolved {when}; no other name is ever resolved)",
            table.join(", ")
        );
    }
    println!("ready");

    let signal = signals.wait();
    match signal {
        Ok(s) => println!("sipwired: {s}, shutting down"),
        Err(e) => eprintln!("sipwired: waiting for signals failed ({e}); shutting down"),
    }
    if signal.is_ok() && !setup.drain.is_zero() {
        println!(
            "sipwired: draining: not accepting; up to {} s for {} client connections to close",
            setup.drain.as_secs(),
            transport.accepted_count()
        );
        match drain::drain(&transport, setup.drain, &signals) {
            Drained::Empty => println!("sipwired: drained"),
            Drained::TimedOut(n) => {
                println!("sipwired: drain timed out; closing {n} client connections")
            }
            Drained::Interrupted(n) => {
                println!("sipwired: signalled again; closing {n} client connections")
            }
        }
    }
    if let Some(m) = metrics {
        m.shutdown();
    }
    transports.shutdown();
    ctl.shutdown();
    runtime.shutdown();
    let runtime_counters: Vec<String> = transport
        .stats()
        .fields()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("sipwired: runtime counters: {}", runtime_counters.join(" "));
    let counters: Vec<String> = stats
        .fields()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    log::info!("relay counters: {}", counters.join(" "));
    println!(
        "sipwired: stopped ({} dropped in all); {}",
        stats.dropped_total(),
        counters.join(" ")
    );
    if signal.is_ok() {
        EXIT_OK
    } else {
        EXIT_START
    }
}

/// Exposes the relay's counters through the control socket (`stats.get`, prefixed `relay.`).
struct RelayRpc(Arc<RelayStats>);

impl RpcExtension for RelayRpc {
    fn call(
        &self,
        _method: &str,
        _params: &[serde_json::Value],
    ) -> Option<Result<serde_json::Value, RpcError>> {
        None
    }

    fn stats(&self) -> Vec<(String, u64)> {
        self.0
            .fields()
            .into_iter()
            .map(|(name, v)| (format!("relay.{name}"), v))
            .collect()
    }
}

/// The relay's metric families (`sipwire_relay_*`, the relay-time histogram) for the
/// metrics listener.
struct RelayMetrics {
    stats: Arc<RelayStats>,
    relay_time: Arc<Histogram>,
}

impl MetricsSource for RelayMetrics {
    fn collect(&self, out: &mut MetricSet) {
        self.stats.collect_metrics(&self.relay_time, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn embedded_default_config_listens_on_localhost_5060() {
        let (s, warnings) = setup(&Options::default()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            s.config.listeners(),
            vec![(ListenProto::Tcp, "127.0.0.1:5060".parse().unwrap())]
        );
        assert_eq!(s.forward, None);
        assert!(s.names.is_empty());
        assert_eq!(s.resolve_interval, Duration::from_secs(30));
    }

    #[test]
    fn the_names_are_the_forward_host_and_the_allowed_domains() {
        let opts = Options {
            forward: Some("tcp:Proxy.example.com:5080".into()),
            relay_allow: vec![
                "10.0.0.0/8,pbx.example.com".into(),
                "gw.example.net:5070".into(),
            ],
            resolve_interval: Some(0),
            ..Options::default()
        };
        let (s, _) = setup(&opts).unwrap();
        assert_eq!(
            s.forward,
            Some(Forward::Name("proxy.example.com".into(), 5080))
        );
        assert_eq!(
            s.names,
            ["proxy.example.com", "pbx.example.com", "gw.example.net"]
        );
        assert!(s.resolve_interval.is_zero());
    }

    #[test]
    fn listen_flags_replace_the_config_lines() {
        let opts = Options {
            listen: vec!["tcp:127.0.0.1:0".into(), "tcp:127.0.0.2:5070".into()],
            forward: Some("tcp:127.0.0.1:5080".into()),
            ..Options::default()
        };
        let (s, _) = setup(&opts).unwrap();
        let l: Vec<_> = s.config.listeners().into_iter().map(|(_, a)| a).collect();
        assert_eq!(
            l,
            vec![
                "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
                "127.0.0.2:5070".parse().unwrap()
            ]
        );
        assert_eq!(s.forward, Some("127.0.0.1:5080".parse().unwrap()));
        assert_eq!(s.forward_proto, Proto::Tcp);
        let sctp = Options {
            forward: Some("sctp:127.0.0.1:5080".into()),
            ..Options::default()
        };
        let (s, _) = setup(&sctp).unwrap();
        assert_eq!(s.forward, Some("127.0.0.1:5080".parse().unwrap()));
        assert_eq!(s.forward_proto, Proto::Sctp);
        let bad = Options {
            listen: vec!["tcp:not-an-ip:1".into()],
            ..Options::default()
        };
        assert!(setup(&bad).is_err());
    }

    #[test]
    fn metrics_address_from_the_flag_or_the_config() {
        let (s, _) = setup(&Options::default()).unwrap();
        assert_eq!(s.metrics, None, "off by default");
        let flag = Options {
            metrics: Some("127.0.0.1:0".into()),
            ..Options::default()
        };
        assert_eq!(
            setup(&flag).unwrap().0.metrics,
            Some("127.0.0.1:0".parse().unwrap())
        );
        let dir = std::env::temp_dir().join(format!("sipwired-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.cfg");
        let write = |line: &str| {
            std::fs::write(&file, format!("listen=tcp:127.0.0.1:0\n{line}\n")).unwrap();
        };
        let with_file = |metrics: Option<&str>| Options {
            file: Some(file.clone()),
            metrics: metrics.map(str::to_string),
            ..Options::default()
        };
        write("metrics_listen = \"[::1]:9090\"");
        assert_eq!(
            setup(&with_file(None)).unwrap().0.metrics,
            Some("[::1]:9090".parse().unwrap())
        );
        // The flag overrides the file, `off` included.
        assert_eq!(
            setup(&with_file(Some("127.0.0.2:9091"))).unwrap().0.metrics,
            Some("127.0.0.2:9091".parse().unwrap())
        );
        assert_eq!(setup(&with_file(Some("off"))).unwrap().0.metrics, None);
        write("metrics_listen = \"\"");
        assert_eq!(setup(&with_file(None)).unwrap().0.metrics, None);
        write("metrics_listen = \"localhost:9090\"");
        let e = setup(&with_file(None)).unwrap_err();
        assert!(e.contains("metrics_listen") && e.contains("IP:PORT"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ctl_dir_is_private() {
        let dir = std::env::temp_dir().join(format!("sipwired-unit-{}", std::process::id()));
        let sock = dir.join("sub").join("ctl.sock");
        prepare_ctl_dir(&sock).unwrap();
        let mode = std::fs::metadata(dir.join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        prepare_ctl_dir(&sock).unwrap();
        std::fs::set_permissions(dir.join("sub"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(prepare_ctl_dir(&sock).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(default_ctl_path().ends_with("ctl.sock"));
    }
}
