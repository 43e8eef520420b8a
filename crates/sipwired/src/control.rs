//! sipwired's control transports besides its JSON-RPC socket, so Kamailio operators' tools
//! work unchanged: BINRPC for `kamcmd` and the Prometheus exporters (`--binrpc
//! unixs:PATH|unixd:PATH`, `modparam("ctl", "binrpc", ...)`; on by default as a stream
//! socket `sipwire_ctl` beside the control socket), the jsonrpcs FIFO for `kamctl rpc`
//! (`--jsonrpc-fifo`, `modparam("jsonrpcs", "fifo_name", ...)`) and the jsonrpcs datagram
//! socket for kamcli (`--jsonrpc-dgram`, `modparam("jsonrpcs", "dgram_socket", ...)`). The
//! command line overrides the file, kind by kind. Every one serves the same method table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sipwire::config::Config;
use sipwire::Transport;
use sipwire_control::jsonrpcs::{self, JsonrpcsServer};
use sipwire_control::{CtlServer, RpcExtension};

use crate::cli::Options;

/// Where BINRPC is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinrpcAddr {
    /// `unixs:PATH` (or `unix:PATH`, or a bare path): a unix stream socket.
    Stream(PathBuf),
    /// `unixd:PATH`: a unix datagram socket.
    Dgram(PathBuf),
}

impl std::fmt::Display for BinrpcAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BinrpcAddr::Stream(p) => write!(f, "unixs:{}", p.display()),
            BinrpcAddr::Dgram(p) => write!(f, "unixd:{}", p.display()),
        }
    }
}

/// Parses a BINRPC address in kamcmd's syntax; `None` for `off`. `tcp:` and `udp:` are
/// refused: the control plane stays on local sockets, whose file mode decides who may use it.
pub fn parse_binrpc(text: &str) -> Result<Option<BinrpcAddr>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (kind, path) = match t.split_once(':') {
        Some((k, p)) if k.eq_ignore_ascii_case("unixs") || k.eq_ignore_ascii_case("unix") => {
            ("s", p)
        }
        Some((k, p)) if k.eq_ignore_ascii_case("unixd") => ("d", p),
        Some((k, _)) if k.eq_ignore_ascii_case("tcp") || k.eq_ignore_ascii_case("udp") => {
            return Err("only unix sockets (unixs:PATH, unixd:PATH) are served".into())
        }
        _ => ("s", t),
    };
    if path.is_empty() {
        return Err("a socket path is needed (unixs:PATH or unixd:PATH)".into());
    }
    let path = PathBuf::from(path);
    Ok(Some(if kind == "s" {
        BinrpcAddr::Stream(path)
    } else {
        BinrpcAddr::Dgram(path)
    }))
}

/// What to open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// BINRPC sockets.
    pub binrpc: Vec<BinrpcAddr>,
    /// The jsonrpcs FIFO.
    pub fifo: Option<PathBuf>,
    /// The jsonrpcs datagram socket.
    pub dgram: Option<PathBuf>,
}

/// The transports asked for by the command line, else the config file, else the default (a
/// BINRPC stream socket `sipwire_ctl` in the control socket's directory).
pub fn plan(opts: &Options, config: &Config, ctl_path: &Path) -> Result<Plan, String> {
    let binrpc = if !opts.binrpc.is_empty() {
        let mut v = Vec::new();
        for b in &opts.binrpc {
            v.extend(parse_binrpc(b).map_err(|e| format!("--binrpc {b:?}: {e}"))?);
        }
        v
    } else if !config.control.binrpc.is_empty() {
        let b = &config.control.binrpc;
        parse_binrpc(b)
            .map_err(|e| format!("modparam(\"ctl\", \"binrpc\", {b:?}): {e}"))?
            .into_iter()
            .collect()
    } else {
        let dir = ctl_path.parent().unwrap_or(Path::new("."));
        vec![BinrpcAddr::Stream(dir.join("sipwire_ctl"))]
    };
    let pick = |flag: &Option<PathBuf>, file: &str| {
        flag.clone()
            .or_else(|| (!file.is_empty()).then(|| PathBuf::from(file)))
            .filter(|p| p.as_os_str() != "off")
    };
    Ok(Plan {
        binrpc,
        fifo: pick(&opts.jsonrpc_fifo, &config.control.jsonrpcs_fifo),
        dgram: pick(&opts.jsonrpc_dgram, &config.control.jsonrpcs_dgram),
    })
}

/// The open transports and the lines that report them.
pub struct Running {
    stream: Vec<CtlServer>,
    others: Vec<JsonrpcsServer>,
    /// One line per transport for the startup report.
    pub lines: Vec<String>,
}

/// Opens everything in `plan`; on an error, what was opened is closed again.
pub fn start(
    plan: &Plan,
    transport: &Transport,
    ext: &Arc<dyn RpcExtension>,
) -> Result<Running, String> {
    let mut r = Running {
        stream: Vec::new(),
        others: Vec::new(),
        lines: Vec::new(),
    };
    for b in &plan.binrpc {
        match b {
            BinrpcAddr::Stream(p) => {
                let s = sipwire_control::spawn_binrpc(p, transport.clone(), Some(ext.clone()))
                    .map_err(|e| format!("cannot open the BINRPC socket {b}: {e}"))?;
                r.stream.push(s);
            }
            BinrpcAddr::Dgram(p) => {
                let s =
                    sipwire_control::spawn_binrpc_dgram(p, transport.clone(), Some(ext.clone()))
                        .map_err(|e| format!("cannot open the BINRPC socket {b}: {e}"))?;
                r.others.push(s);
            }
        }
        r.lines.push(format!("binrpc socket: {b}"));
    }
    if let Some(p) = &plan.fifo {
        let s = jsonrpcs::spawn_fifo(
            p,
            Path::new(jsonrpcs::DEFAULT_REPLY_DIR),
            transport.clone(),
            Some(ext.clone()),
        )
        .map_err(|e| format!("cannot open the JSON-RPC FIFO {}: {e}", p.display()))?;
        r.others.push(s);
        r.lines.push(format!("jsonrpc fifo: {}", p.display()));
    }
    if let Some(p) = &plan.dgram {
        let s = jsonrpcs::spawn_dgram(p, transport.clone(), Some(ext.clone())).map_err(|e| {
            format!(
                "cannot open the JSON-RPC datagram socket {}: {e}",
                p.display()
            )
        })?;
        r.others.push(s);
        r.lines
            .push(format!("jsonrpc datagram socket: {}", p.display()));
    }
    Ok(r)
}

impl Running {
    /// Closes every transport and removes its file.
    pub fn shutdown(self) {
        for s in self.stream {
            s.shutdown();
        }
        for s in self.others {
            s.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binrpc_addresses_in_kamcmds_syntax() {
        let s = |p: &str| Some(BinrpcAddr::Stream(PathBuf::from(p)));
        assert_eq!(parse_binrpc("unixs:/run/x").unwrap(), s("/run/x"));
        assert_eq!(parse_binrpc("unix:/run/x").unwrap(), s("/run/x"));
        assert_eq!(parse_binrpc("/run/x").unwrap(), s("/run/x"));
        assert_eq!(
            parse_binrpc("unixd:/run/d").unwrap(),
            Some(BinrpcAddr::Dgram(PathBuf::from("/run/d")))
        );
        assert_eq!(parse_binrpc("off").unwrap(), None);
        assert!(parse_binrpc("tcp:127.0.0.1:2049").is_err());
        assert!(parse_binrpc("udp:host").is_err());
        assert!(parse_binrpc("unixs:").is_err());
    }

    #[test]
    fn the_command_line_wins_then_the_file_then_the_default() {
        let ctl = Path::new("/run/sw/ctl.sock");
        let mut cfg = Config::default();
        let opts = Options::default();
        let p = plan(&opts, &cfg, ctl).unwrap();
        assert_eq!(
            p.binrpc,
            [BinrpcAddr::Stream(PathBuf::from("/run/sw/sipwire_ctl"))]
        );
        assert_eq!((p.fifo, p.dgram), (None, None));
        cfg.control.binrpc = "unixd:/f/d".into();
        cfg.control.jsonrpcs_fifo = "/f/rpc.fifo".into();
        let p = plan(&opts, &cfg, ctl).unwrap();
        assert_eq!(p.binrpc, [BinrpcAddr::Dgram(PathBuf::from("/f/d"))]);
        assert_eq!(p.fifo, Some(PathBuf::from("/f/rpc.fifo")));
        let opts = Options {
            binrpc: vec!["unixs:/c/s".into(), "unixd:/c/d".into()],
            jsonrpc_fifo: Some(PathBuf::from("off")),
            jsonrpc_dgram: Some(PathBuf::from("/c/rpc.sock")),
            ..Options::default()
        };
        let p = plan(&opts, &cfg, ctl).unwrap();
        assert_eq!(p.binrpc.len(), 2);
        assert_eq!(
            (p.fifo, p.dgram),
            (None, Some(PathBuf::from("/c/rpc.sock")))
        );
        let off = Options {
            binrpc: vec!["off".into()],
            ..Options::default()
        };
        assert!(plan(&off, &cfg, ctl).unwrap().binrpc.is_empty());
    }
}
