//! The Linux kernel SCTP ABI (`linux/sctp.h`) that this module needs, declared here rather than
//! taken from `libc`: `libc` lacks most of it (`sctp_rtoinfo`, `sctp_paddrparams`, `sctp_status`,
//! every notification, the private option numbers 100–127), and has the rest only when
//! compiling for Linux, while this module compiles everywhere (its calls return `Unsupported`
//! off Linux). Every size and every offset the code relies on is asserted at compile time
//! against the values gcc gives for `linux/sctp.h` on x86_64.
//!
//! Addresses inside these structs (`struct sockaddr_storage`) are plain 128-byte arrays: the
//! kernel writes them in its own layout, which [`super::addr`] encodes and decodes byte by byte.

// The ABI is declared whole (as the kernel has it); some structs serve only their size and
// field offsets (notifications are parsed from bytes by offset), so not every field is read.
#![allow(dead_code)]

use std::mem::{offset_of, size_of};

/// `sctp_assoc_t`.
pub(crate) type AssocT = i32;

/// `SOL_SCTP` / `IPPROTO_SCTP`.
pub(crate) const SOL_SCTP: libc::c_int = 132;
/// `IPPROTO_SCTP`, the protocol argument of `socket(2)`.
pub(crate) const IPPROTO_SCTP: libc::c_int = 132;

// Option numbers (SOL_SCTP level).
pub(crate) const SCTP_RTOINFO: libc::c_int = 0;
pub(crate) const SCTP_ASSOCINFO: libc::c_int = 1;
pub(crate) const SCTP_INITMSG: libc::c_int = 2;
pub(crate) const SCTP_NODELAY: libc::c_int = 3;
pub(crate) const SCTP_AUTOCLOSE: libc::c_int = 4;
pub(crate) const SCTP_PEER_ADDR_PARAMS: libc::c_int = 9;
pub(crate) const SCTP_EVENTS: libc::c_int = 11;
pub(crate) const SCTP_STATUS: libc::c_int = 14;
pub(crate) const SCTP_DELAYED_SACK: libc::c_int = 16;
pub(crate) const SCTP_MAX_BURST: libc::c_int = 20;
pub(crate) const SCTP_RECVRCVINFO: libc::c_int = 32;
pub(crate) const SCTP_SOCKOPT_BINDX_ADD: libc::c_int = 100;
pub(crate) const SCTP_GET_PEER_ADDRS: libc::c_int = 108;
pub(crate) const SCTP_GET_LOCAL_ADDRS: libc::c_int = 109;
pub(crate) const SCTP_EVENT: libc::c_int = 127;

// Control message types (IPPROTO_SCTP level).
pub(crate) const SCTP_SNDRCV: libc::c_int = 1;
pub(crate) const SCTP_RCVINFO: libc::c_int = 3;

/// `msg_flags` bit of a notification (`MSG_NOTIFICATION`).
pub(crate) const MSG_NOTIFICATION: libc::c_int = 0x8000;

// `sinfo_flags`.
pub(crate) const SCTP_UNORDERED: u16 = 1;
pub(crate) const SCTP_ADDR_OVER: u16 = 2;
pub(crate) const SCTP_ABORT: u16 = 4;
/// `SCTP_EOF` = `MSG_FIN`.
pub(crate) const SCTP_EOF: u16 = 0x200;

// `spp_flags`.
pub(crate) const SPP_HB_ENABLE: u32 = 1;
pub(crate) const SPP_HB_DISABLE: u32 = 2;
pub(crate) const SPP_HB_TIME_IS_ZERO: u32 = 1 << 7;

// Notification types (`enum sctp_sn_type`).
pub(crate) const SCTP_DATA_IO_EVENT: u16 = 0x8000;
pub(crate) const SCTP_ASSOC_CHANGE: u16 = 0x8001;
pub(crate) const SCTP_PEER_ADDR_CHANGE: u16 = 0x8002;
pub(crate) const SCTP_SEND_FAILED: u16 = 0x8003;
pub(crate) const SCTP_SHUTDOWN_EVENT: u16 = 0x8005;
pub(crate) const SCTP_SEND_FAILED_EVENT: u16 = 0x800d;

/// Address families as the Linux kernel numbers them (on every architecture).
pub(crate) const LINUX_AF_INET: u16 = 2;
pub(crate) const LINUX_AF_INET6: u16 = 10;

/// Plain old data: integer fields and byte arrays only, so all-zero bytes and any bytes the
/// kernel writes are a valid value.
///
/// # Safety
/// Implement only for `#[repr(C)]` structs made of integers and integer arrays.
pub(crate) unsafe trait Pod: Copy {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: the trait's contract: every bit pattern, all-zero included, is valid.
        unsafe { std::mem::zeroed() }
    }
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: declared below as #[repr(C)] with integer and byte-array fields only.
        unsafe impl Pod for $t {}
    )*};
}
pod!(
    i32,
    u32,
    SctpInitmsg,
    SctpSndrcvinfo,
    SctpRcvinfo,
    SctpRtoinfo,
    SctpAssocparams,
    SctpEventSubscribe,
    SctpEvent,
    SctpPaddrparams,
    SctpSackInfo,
    SctpAssocValue,
    SctpStatus
);

/// `struct sctp_initmsg`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpInitmsg {
    pub sinit_num_ostreams: u16,
    pub sinit_max_instreams: u16,
    pub sinit_max_attempts: u16,
    pub sinit_max_init_timeo: u16,
}

/// `struct sctp_sndrcvinfo` (the `SCTP_SNDRCV` cmsg).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpSndrcvinfo {
    pub sinfo_stream: u16,
    pub sinfo_ssn: u16,
    pub sinfo_flags: u16,
    pub sinfo_ppid: u32,
    pub sinfo_context: u32,
    pub sinfo_timetolive: u32,
    pub sinfo_tsn: u32,
    pub sinfo_cumtsn: u32,
    pub sinfo_assoc_id: AssocT,
}

/// `struct sctp_sndinfo` (inside `sctp_send_failed_event`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpSndinfo {
    pub snd_sid: u16,
    pub snd_flags: u16,
    pub snd_ppid: u32,
    pub snd_context: u32,
    pub snd_assoc_id: AssocT,
}

/// `struct sctp_rcvinfo` (the `SCTP_RCVINFO` cmsg).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpRcvinfo {
    pub rcv_sid: u16,
    pub rcv_ssn: u16,
    pub rcv_flags: u16,
    pub rcv_ppid: u32,
    pub rcv_tsn: u32,
    pub rcv_cumtsn: u32,
    pub rcv_context: u32,
    pub rcv_assoc_id: AssocT,
}

/// `struct sctp_rtoinfo`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpRtoinfo {
    pub srto_assoc_id: AssocT,
    pub srto_initial: u32,
    pub srto_max: u32,
    pub srto_min: u32,
}

/// `struct sctp_assocparams`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpAssocparams {
    pub sasoc_assoc_id: AssocT,
    pub sasoc_asocmaxrxt: u16,
    pub sasoc_number_peer_destinations: u16,
    pub sasoc_peer_rwnd: u32,
    pub sasoc_local_rwnd: u32,
    pub sasoc_cookie_life: u32,
}

/// `struct sctp_event_subscribe` (the 14-byte form of Linux ≥ 5.x; older kernels take a
/// prefix, see `subscribe`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpEventSubscribe {
    pub sctp_data_io_event: u8,
    pub sctp_association_event: u8,
    pub sctp_address_event: u8,
    pub sctp_send_failure_event: u8,
    pub sctp_peer_error_event: u8,
    pub sctp_shutdown_event: u8,
    pub sctp_partial_delivery_event: u8,
    pub sctp_adaptation_layer_event: u8,
    pub sctp_authentication_event: u8,
    pub sctp_sender_dry_event: u8,
    pub sctp_stream_reset_event: u8,
    pub sctp_assoc_reset_event: u8,
    pub sctp_stream_change_event: u8,
    pub sctp_send_failure_event_event: u8,
}

/// `struct sctp_event` (`SCTP_EVENT`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpEvent {
    pub se_assoc_id: AssocT,
    pub se_type: u16,
    pub se_on: u8,
    pub _pad: u8,
}

/// `struct sctp_paddrparams`, `__attribute__((packed, aligned(4)))` in C. That is not
/// `packed(4)` (which would pad after `spp_pathmaxrxt`): packed with the one tail byte the C
/// alignment adds, since the kernel checks this option's `optlen` exactly.
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct SctpPaddrparams {
    pub spp_assoc_id: AssocT,
    pub spp_address: [u8; 128],
    pub spp_hbinterval: u32,
    pub spp_pathmaxrxt: u16,
    pub spp_pathmtu: u32,
    pub spp_sackdelay: u32,
    pub spp_flags: u32,
    pub spp_ipv6_flowlabel: u32,
    pub spp_dscp: u8,
    pub _pad: u8,
}

/// The size of `sctp_paddrparams` before `spp_ipv6_flowlabel` was added (Linux < 4.19), which
/// older kernels require as the exact `optlen`.
pub(crate) const PADDRPARAMS_OLD_LEN: usize = 152;

/// `struct sctp_sack_info` (`SCTP_DELAYED_SACK`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpSackInfo {
    pub sack_assoc_id: AssocT,
    pub sack_delay: u32,
    pub sack_freq: u32,
}

/// `struct sctp_assoc_value` (`SCTP_MAX_BURST` and others).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpAssocValue {
    pub assoc_id: AssocT,
    pub assoc_value: u32,
}

/// `struct sctp_prim` (packed, aligned 4).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct SctpPrim {
    pub ssp_assoc_id: AssocT,
    pub ssp_addr: [u8; 128],
}

/// `struct sctp_paddrinfo` (packed, aligned 4).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct SctpPaddrinfo {
    pub spinfo_assoc_id: AssocT,
    pub spinfo_address: [u8; 128],
    pub spinfo_state: i32,
    pub spinfo_cwnd: u32,
    pub spinfo_srtt: u32,
    pub spinfo_rto: u32,
    pub spinfo_mtu: u32,
}

/// `struct sctp_status`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpStatus {
    pub sstat_assoc_id: AssocT,
    pub sstat_state: i32,
    pub sstat_rwnd: u32,
    pub sstat_unackdata: u16,
    pub sstat_penddata: u16,
    pub sstat_instrms: u16,
    pub sstat_outstrms: u16,
    pub sstat_fragmentation_point: u32,
    pub sstat_primary: SctpPaddrinfo,
}

/// `struct sctp_getaddrs` header; the packed addresses follow.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpGetaddrs {
    pub assoc_id: AssocT,
    pub addr_num: u32,
}

/// The common notification header (`struct sctp_tlv`-like: type, flags, length).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SnHeader {
    pub sn_type: u16,
    pub sn_flags: u16,
    pub sn_length: u32,
}

/// `struct sctp_assoc_change` (followed by optional `sac_info` bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpAssocChange {
    pub sac_type: u16,
    pub sac_flags: u16,
    pub sac_length: u32,
    pub sac_state: u16,
    pub sac_error: u16,
    pub sac_outbound_streams: u16,
    pub sac_inbound_streams: u16,
    pub sac_assoc_id: AssocT,
}

/// `struct sctp_paddr_change` (packed, aligned 4).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct SctpPaddrChange {
    pub spc_type: u16,
    pub spc_flags: u16,
    pub spc_length: u32,
    pub spc_aaddr: [u8; 128],
    pub spc_state: i32,
    pub spc_error: i32,
    pub spc_assoc_id: AssocT,
}

/// `struct sctp_send_failed` (the old `SCTP_SEND_FAILED`; the unsent data follows).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpSendFailed {
    pub ssf_type: u16,
    pub ssf_flags: u16,
    pub ssf_length: u32,
    pub ssf_error: u32,
    pub ssf_info: SctpSndrcvinfo,
    pub ssf_assoc_id: AssocT,
}

/// `struct sctp_send_failed_event` (`SCTP_SEND_FAILED_EVENT`; the unsent data follows).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpSendFailedEvent {
    pub ssf_type: u16,
    pub ssf_flags: u16,
    pub ssf_length: u32,
    pub ssf_error: u32,
    pub ssfe_info: SctpSndinfo,
    pub ssf_assoc_id: AssocT,
}

/// `struct sctp_shutdown_event`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SctpShutdownEvent {
    pub sse_type: u16,
    pub sse_flags: u16,
    pub sse_length: u32,
    pub sse_assoc_id: AssocT,
}

/// Asserts at compile time a struct's size and the offsets of some of its fields.
macro_rules! layout {
    ($t:ty, $size:expr $(, $f:ident @ $off:expr)*) => {
        const _: () = {
            assert!(size_of::<$t>() == $size);
            $(assert!(offset_of!($t, $f) == $off);)*
        };
    };
}

// Sizes and offsets measured with gcc on `linux/sctp.h` (x86_64; Debian 12 headers).
layout!(SctpInitmsg, 8, sinit_max_init_timeo @ 6);
layout!(SctpSndrcvinfo, 32, sinfo_flags @ 4, sinfo_ppid @ 8, sinfo_assoc_id @ 28);
layout!(SctpSndinfo, 16, snd_assoc_id @ 12);
layout!(SctpRcvinfo, 28, rcv_ppid @ 8, rcv_assoc_id @ 24);
layout!(SctpRtoinfo, 16, srto_min @ 12);
layout!(SctpAssocparams, 20, sasoc_asocmaxrxt @ 4, sasoc_cookie_life @ 16);
layout!(SctpEventSubscribe, 14);
layout!(SctpEvent, 8, se_type @ 4, se_on @ 6);
layout!(SctpPaddrparams, 156, spp_address @ 4, spp_hbinterval @ 132, spp_pathmaxrxt @ 136,
    spp_pathmtu @ 138, spp_sackdelay @ 142, spp_flags @ 146, spp_ipv6_flowlabel @ 150,
    spp_dscp @ 154);
const _: () = assert!(PADDRPARAMS_OLD_LEN == offset_of!(SctpPaddrparams, spp_ipv6_flowlabel) + 2);
layout!(SctpSackInfo, 12, sack_freq @ 8);
layout!(SctpAssocValue, 8, assoc_value @ 4);
layout!(SctpPrim, 132, ssp_addr @ 4);
layout!(SctpPaddrinfo, 152, spinfo_address @ 4, spinfo_state @ 132, spinfo_srtt @ 140,
    spinfo_rto @ 144);
layout!(SctpStatus, 176, sstat_state @ 4, sstat_outstrms @ 18, sstat_fragmentation_point @ 20,
    sstat_primary @ 24);
layout!(SctpGetaddrs, 8, addr_num @ 4);
layout!(SnHeader, 8, sn_length @ 4);
layout!(SctpAssocChange, 20, sac_state @ 8, sac_error @ 10, sac_outbound_streams @ 12,
    sac_inbound_streams @ 14, sac_assoc_id @ 16);
layout!(SctpPaddrChange, 148, spc_aaddr @ 8, spc_state @ 136, spc_error @ 140,
    spc_assoc_id @ 144);
layout!(SctpSendFailed, 48, ssf_error @ 8, ssf_info @ 12, ssf_assoc_id @ 44);
layout!(SctpSendFailedEvent, 32, ssf_error @ 8, ssfe_info @ 12, ssf_assoc_id @ 28);
layout!(SctpShutdownEvent, 12, sse_assoc_id @ 8);

// Where libc has the same declarations (Linux), they agree with ours.
#[cfg(target_os = "linux")]
const _: () = {
    assert!(size_of::<libc::sctp_initmsg>() == size_of::<SctpInitmsg>());
    assert!(size_of::<libc::sctp_sndrcvinfo>() == size_of::<SctpSndrcvinfo>());
    assert!(size_of::<libc::sctp_sndinfo>() == size_of::<SctpSndinfo>());
    assert!(size_of::<libc::sctp_rcvinfo>() == size_of::<SctpRcvinfo>());
    assert!(libc::AF_INET == LINUX_AF_INET as libc::c_int);
    assert!(libc::AF_INET6 == LINUX_AF_INET6 as libc::c_int);
    assert!(libc::MSG_NOTIFICATION == MSG_NOTIFICATION);
    assert!(libc::SCTP_EOF == SCTP_EOF as libc::c_int);
    assert!(libc::SCTP_ABORT == SCTP_ABORT as libc::c_int);
    assert!(libc::SCTP_UNORDERED == SCTP_UNORDERED as libc::c_int);
    assert!(libc::SCTP_ADDR_OVER == SCTP_ADDR_OVER as libc::c_int);
    assert!(libc::SCTP_RCVINFO == SCTP_RCVINFO);
    assert!(libc::SCTP_SNDRCV == SCTP_SNDRCV);
    assert!(libc::SCTP_RECVRCVINFO == SCTP_RECVRCVINFO);
    assert!(libc::SCTP_STATUS == SCTP_STATUS);
    assert!(libc::SCTP_DELAYED_SACK == SCTP_DELAYED_SACK);
    assert!(libc::SCTP_MAX_BURST == SCTP_MAX_BURST);
    assert!(libc::IPPROTO_SCTP == IPPROTO_SCTP);
};
