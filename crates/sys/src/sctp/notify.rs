//! SCTP notifications: [`subscribe`] asks the kernel for them, [`parse_notification`] decodes
//! one from the bytes `recvmsg` returned with `MSG_NOTIFICATION`.
//!
//! The parser is plain safe code over a byte slice: every field is read with a bounds check, a
//! notification shorter than its fixed part is [`Notification::Other`], and the kernel's
//! `sn_length` is used only to shorten the slice, never to read past the buffer. It runs (and
//! is tested) on every host.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::ffi::{
    Pod, SctpAssocChange, SctpEvent, SctpEventSubscribe, SctpPaddrChange, SctpSendFailed,
    SctpSendFailedEvent, SctpShutdownEvent, SnHeader, SCTP_ASSOC_CHANGE, SCTP_DATA_IO_EVENT,
    SCTP_EVENT, SCTP_EVENTS, SCTP_PEER_ADDR_CHANGE, SCTP_RECVRCVINFO, SCTP_SEND_FAILED,
    SCTP_SEND_FAILED_EVENT, SCTP_SHUTDOWN_EVENT,
};
use super::opts::{setopt, setopt_len};
use super::{addr, gate, AssocId};

/// `sac_state` of an association change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssocState {
    /// `SCTP_COMM_UP`: the association is up.
    CommUp,
    /// `SCTP_COMM_LOST`: lost (retransmissions exhausted, or aborted by the peer).
    CommLost,
    /// `SCTP_RESTART`: the peer restarted.
    Restart,
    /// `SCTP_SHUTDOWN_COMP`: a graceful shutdown finished.
    ShutdownComplete,
    /// `SCTP_CANT_STR_ASSOC`: the association could not be set up.
    CantStartAssoc,
    /// A state this code does not know.
    Other(u16),
}

impl AssocState {
    fn from_raw(v: u16) -> Self {
        match v {
            0 => AssocState::CommUp,
            1 => AssocState::CommLost,
            2 => AssocState::Restart,
            3 => AssocState::ShutdownComplete,
            4 => AssocState::CantStartAssoc,
            v => AssocState::Other(v),
        }
    }
}

/// `spc_state` of a peer address change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddrState {
    /// `SCTP_ADDR_AVAILABLE`: the path is reachable (again).
    Available,
    /// `SCTP_ADDR_UNREACHABLE`: the path failed.
    Unreachable,
    /// `SCTP_ADDR_REMOVED`.
    Removed,
    /// `SCTP_ADDR_ADDED`.
    Added,
    /// `SCTP_ADDR_MADE_PRIM`: now the primary path.
    MadePrimary,
    /// `SCTP_ADDR_CONFIRMED`: confirmed by a heartbeat.
    Confirmed,
    /// Another state (`SCTP_ADDR_POTENTIALLY_FAILED` is `Other(6)`).
    Other(i32),
}

impl PeerAddrState {
    fn from_raw(v: i32) -> Self {
        match v {
            0 => PeerAddrState::Available,
            1 => PeerAddrState::Unreachable,
            2 => PeerAddrState::Removed,
            3 => PeerAddrState::Added,
            4 => PeerAddrState::MadePrimary,
            5 => PeerAddrState::Confirmed,
            v => PeerAddrState::Other(v),
        }
    }
}

/// A notification [`recv`](super::recv) returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `SCTP_ASSOC_CHANGE`.
    AssocChange {
        /// The association.
        assoc: AssocId,
        /// What happened.
        state: AssocState,
        /// `sac_error` (an SCTP cause code, or 0).
        error: u16,
        /// Streams we may send on.
        outbound_streams: u16,
        /// Streams the peer may send on.
        inbound_streams: u16,
    },
    /// `SCTP_PEER_ADDR_CHANGE`.
    PeerAddrChange {
        /// The association.
        assoc: AssocId,
        /// The peer address whose path changed (`None` for an unknown family).
        addr: Option<SocketAddr>,
        /// What happened.
        state: PeerAddrState,
        /// `spc_error`.
        error: i32,
    },
    /// `SCTP_SEND_FAILED_EVENT` (or the older `SCTP_SEND_FAILED`): a message not delivered.
    SendFailed {
        /// The association.
        assoc: AssocId,
        /// `ssf_error`.
        error: u32,
        /// The unsent message bytes the kernel returned (cut at the buffer if it was too
        /// short for all of them).
        data: Vec<u8>,
    },
    /// `SCTP_SHUTDOWN_EVENT`: the peer started a graceful shutdown.
    Shutdown {
        /// The association.
        assoc: AssocId,
    },
    /// Any other notification, or one too short to decode (`kind` 0 if even the type is
    /// missing).
    Other {
        /// `sn_type`.
        kind: u16,
    },
}

fn rd<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    rd(b, off).map(u16::from_ne_bytes)
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    rd(b, off).map(u32::from_ne_bytes)
}
fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    rd(b, off).map(i32::from_ne_bytes)
}

/// Decodes a notification from the bytes `recvmsg` returned with `MSG_NOTIFICATION` (any
/// bytes: a short or unknown one is [`Notification::Other`]; this never panics).
pub fn parse_notification(buf: &[u8]) -> Notification {
    let Some(kind) = u16_at(buf, offset_of!(SnHeader, sn_type)) else {
        return Notification::Other { kind: 0 };
    };
    let Some(sn_length) = u32_at(buf, offset_of!(SnHeader, sn_length)) else {
        return Notification::Other { kind };
    };
    // The kernel's length may only shorten what is there.
    let len = usize::try_from(sn_length).map_or(buf.len(), |l| l.min(buf.len()));
    let b = buf.get(..len).unwrap_or(buf);
    parse_kind(kind, b).unwrap_or(Notification::Other { kind })
}

fn parse_kind(kind: u16, b: &[u8]) -> Option<Notification> {
    match kind {
        SCTP_ASSOC_CHANGE if b.len() >= size_of::<SctpAssocChange>() => {
            Some(Notification::AssocChange {
                assoc: i32_at(b, offset_of!(SctpAssocChange, sac_assoc_id))?,
                state: AssocState::from_raw(u16_at(b, offset_of!(SctpAssocChange, sac_state))?),
                error: u16_at(b, offset_of!(SctpAssocChange, sac_error))?,
                outbound_streams: u16_at(b, offset_of!(SctpAssocChange, sac_outbound_streams))?,
                inbound_streams: u16_at(b, offset_of!(SctpAssocChange, sac_inbound_streams))?,
            })
        }
        SCTP_PEER_ADDR_CHANGE if b.len() >= size_of::<SctpPaddrChange>() => {
            let a = offset_of!(SctpPaddrChange, spc_aaddr);
            let aaddr = b.get(a..a + 128)?;
            Some(Notification::PeerAddrChange {
                assoc: i32_at(b, offset_of!(SctpPaddrChange, spc_assoc_id))?,
                addr: addr::decode(aaddr).map(|(a, _)| a),
                state: PeerAddrState::from_raw(i32_at(b, offset_of!(SctpPaddrChange, spc_state))?),
                error: i32_at(b, offset_of!(SctpPaddrChange, spc_error))?,
            })
        }
        SCTP_SEND_FAILED_EVENT if b.len() >= size_of::<SctpSendFailedEvent>() => {
            Some(Notification::SendFailed {
                assoc: i32_at(b, offset_of!(SctpSendFailedEvent, ssf_assoc_id))?,
                error: u32_at(b, offset_of!(SctpSendFailedEvent, ssf_error))?,
                data: b.get(size_of::<SctpSendFailedEvent>()..)?.to_vec(),
            })
        }
        SCTP_SEND_FAILED if b.len() >= size_of::<SctpSendFailed>() => {
            Some(Notification::SendFailed {
                assoc: i32_at(b, offset_of!(SctpSendFailed, ssf_assoc_id))?,
                error: u32_at(b, offset_of!(SctpSendFailed, ssf_error))?,
                data: b.get(size_of::<SctpSendFailed>()..)?.to_vec(),
            })
        }
        SCTP_SHUTDOWN_EVENT if b.len() >= size_of::<SctpShutdownEvent>() => {
            Some(Notification::Shutdown {
                assoc: i32_at(b, offset_of!(SctpShutdownEvent, sse_assoc_id))?,
            })
        }
        _ => None,
    }
}

/// Subscribes `fd` to what sipwire needs: the `SCTP_RCVINFO` ancillary data on every message
/// (`SCTP_RECVRCVINFO`), association changes, peer address changes, send failures
/// (`SCTP_SEND_FAILED_EVENT`, else the older `SCTP_SEND_FAILED`) and the peer's shutdown.
/// One `SCTP_EVENT` per event (for the socket's future associations: call it before they
/// exist), falling back to `SCTP_EVENTS` (`sctp_event_subscribe`, in the size the kernel
/// takes) on kernels without `SCTP_EVENT`; without `SCTP_RECVRCVINFO` it asks for the older
/// `SCTP_SNDRCV` data instead, which [`recv`](super::recv) reads too.
pub fn subscribe(fd: RawFd) -> io::Result<()> {
    gate()?;
    let rcvinfo = setopt(fd, SCTP_RECVRCVINFO, &1i32).is_ok();
    match subscribe_each(fd, rcvinfo) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EINVAL)) => {
            subscribe_all(fd, rcvinfo)
        }
        r => r,
    }
}

fn event(fd: RawFd, kind: u16) -> io::Result<()> {
    let ev = SctpEvent {
        se_assoc_id: 0,
        se_type: kind,
        se_on: 1,
        _pad: 0,
    };
    setopt(fd, SCTP_EVENT, &ev)
}

fn subscribe_each(fd: RawFd, rcvinfo: bool) -> io::Result<()> {
    if !rcvinfo {
        event(fd, SCTP_DATA_IO_EVENT)?;
    }
    event(fd, SCTP_ASSOC_CHANGE)?;
    event(fd, SCTP_PEER_ADDR_CHANGE)?;
    event(fd, SCTP_SHUTDOWN_EVENT)?;
    if event(fd, SCTP_SEND_FAILED_EVENT).is_err() {
        event(fd, SCTP_SEND_FAILED)?;
    }
    Ok(())
}

fn subscribe_all(fd: RawFd, rcvinfo: bool) -> io::Result<()> {
    let mut s = SctpEventSubscribe::zeroed();
    s.sctp_data_io_event = u8::from(!rcvinfo);
    s.sctp_association_event = 1;
    s.sctp_address_event = 1;
    s.sctp_send_failure_event = 1;
    s.sctp_shutdown_event = 1;
    // Older kernels refuse a struct longer than theirs (9 fields up to 2.6.34, 10 up to 4.10,
    // then 11, 12, 13, and 14 since 5.x); the fields set here are in every size.
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for len in (9..=size_of::<SctpEventSubscribe>()).rev() {
        match setopt_len(fd, SCTP_EVENTS, &s, len) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
