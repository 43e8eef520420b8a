//! SCTP socket options (level `SOL_SCTP`), one setter and one getter each, per association or
//! for the socket's future associations (`assoc` 0). Kamailio's `sctp_srto_*` are
//! [`set_rtoinfo`], `sctp_asocmaxrxt` [`set_asocmaxrxt`], `sctp_init_max_*` [`set_initmsg`],
//! `sctp_hbinterval`/`sctp_pathmaxrxt` [`set_paddrparams`], `sctp_sack_delay`/`sctp_sack_freq`
//! [`set_delayed_sack`], `sctp_max_burst` [`set_max_burst`], `sctp_autoclose`
//! [`set_autoclose`].
//!
//! The kernel keeps per-association times in jiffies: a value read back from an association
//! can differ from the one set by the rounding of the kernel's `HZ` (multiples of 100 ms are
//! exact for every common `HZ`); socket defaults are kept in milliseconds as given.

use std::io;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::ffi::{
    Pod, SctpAssocValue, SctpAssocparams, SctpInitmsg, SctpPaddrparams, SctpRtoinfo, SctpSackInfo,
    SctpStatus, PADDRPARAMS_OLD_LEN, SCTP_ASSOCINFO, SCTP_AUTOCLOSE, SCTP_DELAYED_SACK,
    SCTP_INITMSG, SCTP_MAX_BURST, SCTP_NODELAY, SCTP_PEER_ADDR_PARAMS, SCTP_RTOINFO, SCTP_STATUS,
    SOL_SCTP, SPP_HB_DISABLE, SPP_HB_ENABLE, SPP_HB_TIME_IS_ZERO,
};
use super::{addr, gate, AssocId};
use crate::cvt;

/// Sets an SCTP option from the first `len` bytes of `v` (at most its size).
pub(super) fn setopt_len<T: Pod>(
    fd: RawFd,
    name: libc::c_int,
    v: &T,
    len: usize,
) -> io::Result<()> {
    gate()?;
    let len = len.min(size_of::<T>()) as libc::socklen_t;
    // SAFETY: `v` is a live plain-data value of at least `len` bytes; the kernel only reads it.
    cvt(unsafe { libc::setsockopt(fd, SOL_SCTP, name, (v as *const T).cast(), len) }).map(drop)
}

/// Sets an SCTP option from all of `v`.
pub(super) fn setopt<T: Pod>(fd: RawFd, name: libc::c_int, v: &T) -> io::Result<()> {
    setopt_len(fd, name, v, size_of::<T>())
}

/// Reads an SCTP option into `v`, which also carries the input SCTP getters take (the
/// association id). Returns the length the kernel wrote.
pub(super) fn getopt<T: Pod>(fd: RawFd, name: libc::c_int, v: &mut T) -> io::Result<usize> {
    gate()?;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is a live, writable plain-data value of `len` bytes, for which any bytes the
    // kernel writes are valid; `len` is valid for writes.
    cvt(unsafe { libc::getsockopt(fd, SOL_SCTP, name, (v as *mut T).cast(), &mut len) })?;
    Ok(len as usize)
}

/// Reads an SCTP option of variable size into `buf` (input in its first bytes). Returns the
/// length the kernel reported.
pub(super) fn getopt_bytes(fd: RawFd, name: libc::c_int, buf: &mut [u8]) -> io::Result<usize> {
    gate()?;
    let mut len = libc::socklen_t::try_from(buf.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `buf` is writable for `len` bytes (at most its length); `len` is valid for writes.
    cvt(unsafe { libc::getsockopt(fd, SOL_SCTP, name, buf.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// Retransmission timeout bounds, milliseconds (`SCTP_RTOINFO`). Setting: 0 leaves a value
/// as it is. The kernel refuses `min > max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtoInfo {
    /// `srto_initial` (`sctp_srto_initial`).
    pub initial_ms: u32,
    /// `srto_max` (`sctp_srto_max`).
    pub max_ms: u32,
    /// `srto_min` (`sctp_srto_min`).
    pub min_ms: u32,
}

/// Sets the RTO bounds of `assoc` (0: the socket's future associations).
pub fn set_rtoinfo(fd: RawFd, assoc: AssocId, v: RtoInfo) -> io::Result<()> {
    let r = SctpRtoinfo {
        srto_assoc_id: assoc,
        srto_initial: v.initial_ms,
        srto_max: v.max_ms,
        srto_min: v.min_ms,
    };
    setopt(fd, SCTP_RTOINFO, &r)
}

/// The RTO bounds of `assoc` (0: the socket's defaults).
pub fn get_rtoinfo(fd: RawFd, assoc: AssocId) -> io::Result<RtoInfo> {
    let mut r = SctpRtoinfo::zeroed();
    r.srto_assoc_id = assoc;
    getopt(fd, SCTP_RTOINFO, &mut r)?;
    Ok(RtoInfo {
        initial_ms: r.srto_initial,
        max_ms: r.srto_max,
        min_ms: r.srto_min,
    })
}

fn get_assocparams(fd: RawFd, assoc: AssocId) -> io::Result<SctpAssocparams> {
    let mut p = SctpAssocparams::zeroed();
    p.sasoc_assoc_id = assoc;
    getopt(fd, SCTP_ASSOCINFO, &mut p)?;
    Ok(p)
}

/// Sets the association's maximum retransmissions (`SCTP_ASSOCINFO` `sasoc_asocmaxrxt`,
/// `sctp_asocmaxrxt`), reading the struct first and writing it back with only that changed.
/// On an association with several paths the kernel refuses more than the sum of the paths'
/// `pathmaxrxt`.
pub fn set_asocmaxrxt(fd: RawFd, assoc: AssocId, n: u16) -> io::Result<()> {
    let mut p = get_assocparams(fd, assoc)?;
    p.sasoc_assoc_id = assoc;
    p.sasoc_asocmaxrxt = n;
    setopt(fd, SCTP_ASSOCINFO, &p)
}

/// The association's maximum retransmissions.
pub fn get_asocmaxrxt(fd: RawFd, assoc: AssocId) -> io::Result<u16> {
    Ok(get_assocparams(fd, assoc)?.sasoc_asocmaxrxt)
}

/// What a new association asks for in its INIT (`SCTP_INITMSG`, socket-wide). Setting: 0
/// leaves a value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitMsg {
    /// Outbound streams asked for (the peer may grant fewer).
    pub num_ostreams: u16,
    /// Inbound streams accepted at most.
    pub max_instreams: u16,
    /// INIT retransmissions (`sctp_init_max_attempts`).
    pub max_attempts: u16,
    /// INIT retransmission timeout cap, ms (`sctp_init_max_timeo`).
    pub max_init_timeo_ms: u16,
}

/// Sets the INIT parameters of the socket's future associations.
pub fn set_initmsg(fd: RawFd, v: InitMsg) -> io::Result<()> {
    let m = SctpInitmsg {
        sinit_num_ostreams: v.num_ostreams,
        sinit_max_instreams: v.max_instreams,
        sinit_max_attempts: v.max_attempts,
        sinit_max_init_timeo: v.max_init_timeo_ms,
    };
    setopt(fd, SCTP_INITMSG, &m)
}

/// The INIT parameters of the socket's future associations.
pub fn get_initmsg(fd: RawFd) -> io::Result<InitMsg> {
    let mut m = SctpInitmsg::zeroed();
    getopt(fd, SCTP_INITMSG, &mut m)?;
    Ok(InitMsg {
        num_ostreams: m.sinit_num_ostreams,
        max_instreams: m.sinit_max_instreams,
        max_attempts: m.sinit_max_attempts,
        max_init_timeo_ms: m.sinit_max_init_timeo,
    })
}

/// Heartbeat and path retransmission parameters of all paths (`SCTP_PEER_ADDR_PARAMS` with the
/// wildcard address), as read by [`get_paddrparams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerAddrParams {
    /// Heartbeat interval, ms (`sctp_hbinterval`).
    pub hbinterval_ms: u32,
    /// Retransmissions per path before it is unreachable (`sctp_pathmaxrxt`).
    pub pathmaxrxt: u16,
    /// Heartbeats on (`SPP_HB_ENABLE`) or off (`SPP_HB_DISABLE`).
    pub hb_enabled: bool,
}

/// What [`set_paddrparams`] changes: `None` leaves a value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerAddrParamsSet {
    /// Heartbeat interval, ms (0 is a real 0: `SPP_HB_TIME_IS_ZERO`).
    pub hbinterval_ms: Option<u32>,
    /// Path retransmissions (`Some(0)` is what the kernel reads as "unchanged").
    pub pathmaxrxt: Option<u16>,
    /// Heartbeats on or off (Kamailio's `sctp_hbinterval = -1` is `Some(false)`).
    pub hb_enabled: Option<bool>,
}

impl From<PeerAddrParams> for PeerAddrParamsSet {
    fn from(v: PeerAddrParams) -> Self {
        PeerAddrParamsSet {
            hbinterval_ms: Some(v.hbinterval_ms),
            pathmaxrxt: Some(v.pathmaxrxt),
            hb_enabled: Some(v.hb_enabled),
        }
    }
}

fn paddrparams(assoc: AssocId) -> SctpPaddrparams {
    // The address stays all-zero: the wildcard, "every path" (and the defaults of new ones).
    let mut p = SctpPaddrparams::zeroed();
    p.spp_assoc_id = assoc;
    p
}

fn set_paddrparams_raw(fd: RawFd, p: &SctpPaddrparams) -> io::Result<()> {
    match setopt(fd, SCTP_PEER_ADDR_PARAMS, p) {
        // Linux < 4.19 knows only the struct without flowlabel/dscp and checks optlen exactly.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            setopt_len(fd, SCTP_PEER_ADDR_PARAMS, p, PADDRPARAMS_OLD_LEN).map_err(|_| e)
        }
        r => r,
    }
}

/// Sets heartbeat and path parameters for all paths of `assoc` (0: the socket's future
/// associations). The kernel takes an interval only together with `SPP_HB_ENABLE`, so an
/// interval with heartbeats off (asked, or as they are now when `hb_enabled` is `None`) is
/// set enabled and then disabled again, in two calls.
pub fn set_paddrparams(fd: RawFd, assoc: AssocId, v: &PeerAddrParamsSet) -> io::Result<()> {
    let hb_enabled = match (v.hbinterval_ms, v.hb_enabled) {
        (Some(_), None) => Some(get_paddrparams(fd, assoc)?.hb_enabled),
        (_, e) => e,
    };
    let mut p = paddrparams(assoc);
    if let Some(n) = v.pathmaxrxt {
        p.spp_pathmaxrxt = n;
    }
    if let Some(ms) = v.hbinterval_ms {
        p.spp_flags = SPP_HB_ENABLE;
        if ms == 0 {
            p.spp_flags |= SPP_HB_TIME_IS_ZERO;
        } else {
            p.spp_hbinterval = ms;
        }
        set_paddrparams_raw(fd, &p)?;
        if hb_enabled == Some(false) {
            let mut off = paddrparams(assoc);
            off.spp_flags = SPP_HB_DISABLE;
            set_paddrparams_raw(fd, &off)?;
        }
        return Ok(());
    }
    p.spp_flags = match hb_enabled {
        Some(true) => SPP_HB_ENABLE,
        Some(false) => SPP_HB_DISABLE,
        None => 0,
    };
    set_paddrparams_raw(fd, &p)
}

/// Heartbeat and path parameters of `assoc` (0: the socket's defaults).
pub fn get_paddrparams(fd: RawFd, assoc: AssocId) -> io::Result<PeerAddrParams> {
    let mut p = paddrparams(assoc);
    getopt(fd, SCTP_PEER_ADDR_PARAMS, &mut p)?;
    let flags = p.spp_flags;
    Ok(PeerAddrParams {
        hbinterval_ms: p.spp_hbinterval,
        pathmaxrxt: p.spp_pathmaxrxt,
        hb_enabled: flags & SPP_HB_ENABLE != 0,
    })
}

/// Delayed SACK (`SCTP_DELAYED_SACK`, `sctp_sack_info`): the delay in ms (the kernel refuses
/// more than 500) and the packet count after which a SACK goes at once (`Some(1)` turns
/// delayed SACK off). `None` (or 0) leaves a value as it is.
pub fn set_delayed_sack(
    fd: RawFd,
    assoc: AssocId,
    delay_ms: Option<u32>,
    freq: Option<u32>,
) -> io::Result<()> {
    let s = SctpSackInfo {
        sack_assoc_id: assoc,
        sack_delay: delay_ms.unwrap_or(0),
        sack_freq: freq.unwrap_or(0),
    };
    setopt(fd, SCTP_DELAYED_SACK, &s)
}

/// Delayed SACK as (delay ms, frequency); `(0, 1)` when it is off.
pub fn get_delayed_sack(fd: RawFd, assoc: AssocId) -> io::Result<(u32, u32)> {
    let mut s = SctpSackInfo::zeroed();
    s.sack_assoc_id = assoc;
    getopt(fd, SCTP_DELAYED_SACK, &mut s)?;
    Ok((s.sack_delay, s.sack_freq))
}

/// The most packets sent at once (`SCTP_MAX_BURST`, `sctp_max_burst`; 0: no limit).
pub fn set_max_burst(fd: RawFd, assoc: AssocId, n: u32) -> io::Result<()> {
    let v = SctpAssocValue {
        assoc_id: assoc,
        assoc_value: n,
    };
    setopt(fd, SCTP_MAX_BURST, &v)
}

/// The max burst of `assoc` (0: the socket's default).
pub fn get_max_burst(fd: RawFd, assoc: AssocId) -> io::Result<u32> {
    let mut v = SctpAssocValue::zeroed();
    v.assoc_id = assoc;
    getopt(fd, SCTP_MAX_BURST, &mut v)?;
    Ok(v.assoc_value)
}

/// Seconds after which an idle association is shut down (`SCTP_AUTOCLOSE`, `sctp_autoclose`;
/// 0: never). One-to-many sockets only; the kernel caps it at `net.sctp.max_autoclose`.
pub fn set_autoclose(fd: RawFd, secs: u32) -> io::Result<()> {
    setopt(fd, SCTP_AUTOCLOSE, &secs)
}

/// The autoclose time, seconds.
pub fn get_autoclose(fd: RawFd) -> io::Result<u32> {
    let mut v = 0u32;
    getopt(fd, SCTP_AUTOCLOSE, &mut v)?;
    Ok(v)
}

/// `SCTP_NODELAY`: send at once instead of bundling (Nagle off).
pub fn set_nodelay(fd: RawFd, on: bool) -> io::Result<()> {
    setopt(fd, SCTP_NODELAY, &i32::from(on))
}

/// `SCTP_NODELAY` as the kernel has it.
pub fn get_nodelay(fd: RawFd) -> io::Result<bool> {
    let mut v = 0i32;
    getopt(fd, SCTP_NODELAY, &mut v)?;
    Ok(v != 0)
}

/// An association's state (`SCTP_STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `sstat_state`: one of the `Status::*` state constants.
    pub state: i32,
    /// The peer's receive window.
    pub rwnd: u32,
    /// Data chunks sent and not yet acknowledged.
    pub unacked: u16,
    /// Data chunks received and waiting to be read.
    pub pending: u16,
    /// Inbound streams of the association.
    pub instreams: u16,
    /// Outbound streams of the association (min of ours asked and the peer's granted).
    pub outstreams: u16,
    /// The primary path's peer address.
    pub primary: Option<SocketAddr>,
    /// The largest message part sent unfragmented (`sstat_fragmentation_point`).
    pub frag_point: u32,
    /// The primary path's current RTO, ms.
    pub primary_rto_ms: u32,
    /// The primary path's smoothed round-trip time, ms.
    pub primary_srtt_ms: u32,
}

impl Status {
    /// `SCTP_CLOSED`.
    pub const CLOSED: i32 = 1;
    /// `SCTP_COOKIE_WAIT`.
    pub const COOKIE_WAIT: i32 = 2;
    /// `SCTP_COOKIE_ECHOED`.
    pub const COOKIE_ECHOED: i32 = 3;
    /// `SCTP_ESTABLISHED`.
    pub const ESTABLISHED: i32 = 4;
    /// `SCTP_SHUTDOWN_PENDING`.
    pub const SHUTDOWN_PENDING: i32 = 5;
    /// `SCTP_SHUTDOWN_SENT`.
    pub const SHUTDOWN_SENT: i32 = 6;
    /// `SCTP_SHUTDOWN_RECEIVED`.
    pub const SHUTDOWN_RECEIVED: i32 = 7;
    /// `SCTP_SHUTDOWN_ACK_SENT`.
    pub const SHUTDOWN_ACK_SENT: i32 = 8;
}

/// The status of association `assoc` (`SCTP_STATUS`; an unknown id is `EINVAL`).
pub fn status(fd: RawFd, assoc: AssocId) -> io::Result<Status> {
    let mut s = SctpStatus::zeroed();
    s.sstat_assoc_id = assoc;
    getopt(fd, SCTP_STATUS, &mut s)?;
    let p = s.sstat_primary;
    let primary_addr: [u8; 128] = p.spinfo_address;
    Ok(Status {
        state: s.sstat_state,
        rwnd: s.sstat_rwnd,
        unacked: s.sstat_unackdata,
        pending: s.sstat_penddata,
        instreams: s.sstat_instrms,
        outstreams: s.sstat_outstrms,
        primary: addr::decode(&primary_addr).map(|(a, _)| a),
        frag_point: s.sstat_fragmentation_point,
        primary_rto_ms: p.spinfo_rto,
        primary_srtt_ms: p.spinfo_srtt,
    })
}
