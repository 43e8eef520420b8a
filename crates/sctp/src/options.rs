//! Kamailio's `sctp_*` options as socket options: what each one sets, applied to the
//! endpoint's socket (the defaults new associations get). Options left unset keep the
//! kernel's values, as Kamailio does.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use sipwire_config::{SctpConfig, SctpHeartbeat};
use sipwire_sys::sctp::{self, InitMsg, PeerAddrParamsSet, RtoInfo};

/// Milliseconds as the kernel's u32 fields take them (saturating).
fn ms32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Milliseconds as a u16 field (`sinit_max_init_timeo`), saturating.
fn ms16(d: Duration) -> u16 {
    u16::try_from(d.as_millis()).unwrap_or(u16::MAX)
}

/// Applies every set option of `cfg` to the socket `fd` (association 0: the socket's defaults
/// for new associations):
///
/// | option | socket option |
/// |---|---|
/// | `sctp_socket_rcvbuf` / `sndbuf` | `SO_RCVBUF` / `SO_SNDBUF` |
/// | `sctp_autoclose` | `SCTP_AUTOCLOSE` (seconds) |
/// | `sctp_srto_initial` / `max` / `min` | `SCTP_RTOINFO` |
/// | `sctp_asocmaxrxt` | `SCTP_ASSOCINFO` `sasoc_asocmaxrxt` |
/// | `sctp_init_max_attempts` / `init_max_timeo` | `SCTP_INITMSG` |
/// | `sctp_hbinterval` / `sctp_pathmaxrxt` | `SCTP_PEER_ADDR_PARAMS` (-1: heartbeats off) |
/// | `sctp_sack_delay` / `sack_freq` | `SCTP_DELAYED_SACK` |
/// | `sctp_max_burst` | `SCTP_MAX_BURST` |
///
/// `sctp_send_ttl`, `sctp_send_retries`, `sctp_assoc_tracking`, `sctp_assoc_reuse` and
/// `sctp_max_assocs` are not socket options: the endpoint applies them per send and per
/// association. Returns the first failure, naming the option.
pub fn apply_socket_options(fd: RawFd, cfg: &SctpConfig) -> io::Result<()> {
    let named =
        |opt: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{opt}: {e}"));
    if let Some(n) = cfg.socket_rcvbuf {
        let v = i32::try_from(n).unwrap_or(i32::MAX);
        sipwire_sys::set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v)
            .map_err(named("sctp_socket_rcvbuf"))?;
    }
    if let Some(n) = cfg.socket_sndbuf {
        let v = i32::try_from(n).unwrap_or(i32::MAX);
        sipwire_sys::set_int_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v)
            .map_err(named("sctp_socket_sndbuf"))?;
    }
    let secs = u32::try_from(cfg.autoclose.as_secs()).unwrap_or(u32::MAX);
    sctp::set_autoclose(fd, secs).map_err(named("sctp_autoclose"))?;
    if cfg.srto_initial.is_some() || cfg.srto_max.is_some() || cfg.srto_min.is_some() {
        let rto = RtoInfo {
            initial_ms: cfg.srto_initial.map_or(0, ms32),
            max_ms: cfg.srto_max.map_or(0, ms32),
            min_ms: cfg.srto_min.map_or(0, ms32),
        };
        sctp::set_rtoinfo(fd, 0, rto).map_err(named("sctp_srto_*"))?;
    }
    if let Some(n) = cfg.asocmaxrxt {
        sctp::set_asocmaxrxt(fd, 0, u16::try_from(n).unwrap_or(u16::MAX))
            .map_err(named("sctp_asocmaxrxt"))?;
    }
    if cfg.init_max_attempts.is_some() || cfg.init_max_timeo.is_some() {
        let cur = sctp::get_initmsg(fd).map_err(named("sctp_init_max_*"))?;
        let v = InitMsg {
            num_ostreams: cur.num_ostreams,
            max_instreams: cur.max_instreams,
            max_attempts: cfg
                .init_max_attempts
                .map_or(cur.max_attempts, |n| u16::try_from(n).unwrap_or(u16::MAX)),
            max_init_timeo_ms: cfg.init_max_timeo.map_or(cur.max_init_timeo_ms, ms16),
        };
        sctp::set_initmsg(fd, v).map_err(named("sctp_init_max_*"))?;
    }
    if cfg.hbinterval.is_some() || cfg.pathmaxrxt.is_some() {
        let (hb_enabled, hbinterval_ms) = match cfg.hbinterval {
            Some(SctpHeartbeat::Disabled) => (Some(false), None),
            Some(SctpHeartbeat::Every(d)) => (Some(true), Some(ms32(d))),
            None => (None, None),
        };
        let v = PeerAddrParamsSet {
            hbinterval_ms,
            pathmaxrxt: cfg.pathmaxrxt.map(|n| u16::try_from(n).unwrap_or(u16::MAX)),
            hb_enabled,
        };
        sctp::set_paddrparams(fd, 0, &v).map_err(named("sctp_hbinterval / sctp_pathmaxrxt"))?;
    }
    if cfg.sack_delay.is_some() || cfg.sack_freq.is_some() {
        sctp::set_delayed_sack(fd, 0, cfg.sack_delay.map(ms32), cfg.sack_freq)
            .map_err(named("sctp_sack_delay / sctp_sack_freq"))?;
    }
    if let Some(n) = cfg.max_burst {
        sctp::set_max_burst(fd, 0, n).map_err(named("sctp_max_burst"))?;
    }
    Ok(())
}
