//! SCTP messages: [`send`] (`sendmsg` with an `SCTP_SNDRCV` control message) and [`recv`]
//! (`recvmsg`, reading `SCTP_RCVINFO` or `SCTP_SNDRCV` and telling data from notifications).

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::RawFd;
use std::ptr;

use super::ffi::{
    SctpRcvinfo, SctpSndrcvinfo, IPPROTO_SCTP, MSG_NOTIFICATION, SCTP_ABORT, SCTP_ADDR_OVER,
    SCTP_EOF, SCTP_RCVINFO, SCTP_SNDRCV, SCTP_UNORDERED,
};
use super::notify::{parse_notification, Notification};
use super::{gate, AssocId};
use crate::{from_sockaddr, to_sockaddr};

/// `sinfo_flags` of a send, combined with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SendFlags(u16);

impl SendFlags {
    /// No flag.
    pub const EMPTY: SendFlags = SendFlags(0);
    /// `SCTP_EOF`: shut the association down gracefully once what is queued is sent (data may
    /// be empty).
    pub const EOF: SendFlags = SendFlags(SCTP_EOF);
    /// `SCTP_ABORT`: abort the association (the data, if any, is the abort reason).
    pub const ABORT: SendFlags = SendFlags(SCTP_ABORT);
    /// `SCTP_UNORDERED`: deliver without ordering on the stream.
    pub const UNORDERED: SendFlags = SendFlags(SCTP_UNORDERED);
    /// `SCTP_ADDR_OVER`: send to the given address of the association, not the primary path.
    pub const ADDR_OVER: SendFlags = SendFlags(SCTP_ADDR_OVER);

    /// The raw `sinfo_flags`.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SendFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for SendFlags {
    type Output = SendFlags;
    fn bitor(self, rhs: SendFlags) -> SendFlags {
        SendFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for SendFlags {
    fn bitor_assign(&mut self, rhs: SendFlags) {
        self.0 |= rhs.0;
    }
}

/// What goes with a message (`sctp_sndrcvinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendInfo {
    /// The association, when sending without a destination address (0 otherwise).
    pub assoc: AssocId,
    /// The stream (below the association's outbound streams, else `EINVAL`).
    pub stream: u16,
    /// Payload protocol identifier, host order (sent in network order).
    pub ppid: u32,
    /// Milliseconds after which a message not yet sent is dropped (with a send-failed
    /// notification); 0: never (`sctp_send_ttl`).
    pub ttl_ms: u32,
    /// Flags.
    pub flags: SendFlags,
}

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

const SNDRCV_SPACE: usize = {
    // SAFETY: CMSG_SPACE is arithmetic on its argument only.
    unsafe { libc::CMSG_SPACE(size_of::<SctpSndrcvinfo>() as u32) as usize }
};
const CMSG_HDR_LEN: usize = {
    // SAFETY: CMSG_LEN is arithmetic on its argument only.
    unsafe { libc::CMSG_LEN(0) as usize }
};
const _: () = assert!(SNDRCV_SPACE <= size_of::<CmsgBuf>());

/// Sends `data` as one message: to `dst` (setting up an association implicitly if there is
/// none) or, with `dst` `None`, on association `info.assoc`. Returns the bytes sent; a full
/// send buffer is `WouldBlock`. `SIGPIPE` is never raised.
pub fn send(fd: RawFd, data: &[u8], dst: Option<SocketAddr>, info: &SendInfo) -> io::Result<usize> {
    gate()?;
    let sinfo = SctpSndrcvinfo {
        sinfo_stream: info.stream,
        sinfo_ssn: 0,
        sinfo_flags: info.flags.bits(),
        sinfo_ppid: info.ppid.to_be(),
        sinfo_context: 0,
        sinfo_timetolive: info.ttl_ms,
        sinfo_tsn: 0,
        sinfo_cumtsn: 0,
        sinfo_assoc_id: info.assoc,
    };
    let mut name = dst.map(|d| to_sockaddr(&d));
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = CmsgBuf([0; 256]);
    // SAFETY: msghdr is plain old data; all-zero (null pointers, zero lengths) is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some((sa, len)) = name.as_mut() {
        msg.msg_name = (sa as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = *len;
    }
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = SNDRCV_SPACE as _;
    // SAFETY: `msg` describes `cbuf`, SNDRCV_SPACE bytes, 8-aligned; CMSG_FIRSTHDR returns its
    // start (or null if too short, checked).
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if c.is_null() {
        return Err(io::Error::other("sctp send: no room for cmsg"));
    }
    // SAFETY: `c` points at the start of `cbuf`, which holds the header and, after it, the
    // data CMSG_SPACE made room for; the data may be unaligned, so it is written unaligned.
    unsafe {
        (*c).cmsg_level = IPPROTO_SCTP;
        (*c).cmsg_type = SCTP_SNDRCV;
        (*c).cmsg_len = (CMSG_HDR_LEN + size_of::<SctpSndrcvinfo>()) as _;
        ptr::write_unaligned(libc::CMSG_DATA(c).cast::<SctpSndrcvinfo>(), sinfo);
    }
    // SAFETY: every pointer in `msg` (name, iov → data, control → cbuf) is valid for its
    // length and outlives the call; the kernel only reads them.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// What [`recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recv {
    /// A message (or a part of one) of `len` bytes at the start of the buffer.
    Data {
        /// Bytes in the buffer.
        len: usize,
        /// The peer address it came from.
        from: SocketAddr,
        /// Its association (0 if the socket is not [`subscribe`](super::subscribe)d).
        assoc: AssocId,
        /// Its stream.
        stream: u16,
        /// Its payload protocol identifier, host order.
        ppid: u32,
        /// `MSG_EOR`: the message is complete; `false`: more of it follows (the buffer was
        /// too small).
        eor: bool,
    },
    /// A notification (`MSG_NOTIFICATION`), read whole even when the buffer was smaller.
    Notification(Notification),
    /// Nothing to read (`EAGAIN`).
    WouldBlock,
}

/// One `recvmsg`.
struct Got {
    n: usize,
    flags: libc::c_int,
    from: Option<SocketAddr>,
    /// (association, stream, ppid in host order).
    info: Option<(AssocId, u16, u32)>,
}

fn recv_once(fd: RawFd, buf: &mut [u8]) -> io::Result<Got> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = CmsgBuf([0; 256]);
    // SAFETY: msghdr is plain old data; all-zero (null pointers, zero lengths) is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<CmsgBuf>() as _;
    // SAFETY: every pointer in `msg` (name, iov → buf, control → cbuf) is valid for writes of
    // its length and outlives the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let from = if msg.msg_namelen > 0 {
        // SAFETY: zeroed before the call and (partly) written by the kernel: initialised.
        from_sockaddr(unsafe { name.assume_init_ref() })
    } else {
        None
    };
    let ctl_start = cbuf.0.as_ptr() as usize;
    let ctl_len = (msg.msg_controllen as usize).min(size_of::<CmsgBuf>());
    let mut info = None;
    // SAFETY: `msg` describes `cbuf` with the length the kernel left; CMSG_FIRSTHDR returns a
    // header inside it or null.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: `c` is non-null, so CMSG_FIRSTHDR/NXTHDR found a whole header in `cbuf`.
        let h = unsafe { ptr::read_unaligned(c) };
        // SAFETY: arithmetic on `c`, which is inside `cbuf`.
        let data = unsafe { libc::CMSG_DATA(c) } as usize;
        let have = (h.cmsg_len as usize).saturating_sub(CMSG_HDR_LEN);
        let room = (ctl_start + ctl_len).saturating_sub(data);
        let fits = |need: usize| have >= need && room >= need;
        if h.cmsg_level == IPPROTO_SCTP {
            if h.cmsg_type == SCTP_RCVINFO && fits(size_of::<SctpRcvinfo>()) {
                // SAFETY: the header says, and the buffer bounds confirm, that a whole
                // sctp_rcvinfo follows; read unaligned, any bytes are a valid value.
                let r: SctpRcvinfo = unsafe { ptr::read_unaligned(data as *const SctpRcvinfo) };
                info = Some((r.rcv_assoc_id, r.rcv_sid, u32::from_be(r.rcv_ppid)));
            } else if h.cmsg_type == SCTP_SNDRCV && fits(size_of::<SctpSndrcvinfo>()) {
                // SAFETY: as above, for a whole sctp_sndrcvinfo.
                let s: SctpSndrcvinfo =
                    unsafe { ptr::read_unaligned(data as *const SctpSndrcvinfo) };
                info = Some((s.sinfo_assoc_id, s.sinfo_stream, u32::from_be(s.sinfo_ppid)));
            }
        }
        // SAFETY: `c` is a header of `msg`'s control buffer; NXTHDR checks the bounds.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    Ok(Got {
        n: n.min(buf.len()),
        flags: msg.msg_flags,
        from,
        info,
    })
}

/// Reads one message or notification into `buf` (non-empty; `InvalidInput` otherwise). A
/// message larger than `buf` comes in parts (`eor` false until the last); a notification is
/// always returned whole (the rest is read here, up to 1 MiB kept). `UnexpectedEof`: the
/// socket was shut down for reading.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Recv> {
    gate()?;
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sctp recv: empty buffer",
        ));
    }
    let got = match recv_once(fd, buf) {
        Ok(g) => g,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Recv::WouldBlock),
        Err(e) => return Err(e),
    };
    let eor = got.flags & libc::MSG_EOR != 0;
    let first = buf.get(..got.n).unwrap_or_default();
    if got.flags & MSG_NOTIFICATION != 0 {
        if eor {
            return Ok(Recv::Notification(parse_notification(first)));
        }
        let all = rest_of_notification(fd, first);
        return Ok(Recv::Notification(parse_notification(&all)));
    }
    if got.n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "sctp socket shut down",
        ));
    }
    let (assoc, stream, ppid) = got.info.unwrap_or((0, 0, 0));
    Ok(Recv::Data {
        len: got.n,
        from: got
            .from
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        assoc,
        stream,
        ppid,
        eor,
    })
}

/// The most of one notification kept (a send failure carries the unsent message).
const MAX_NOTIFICATION: usize = 1 << 20;

/// A notification read in part: the kernel keeps the rest at the head of the queue, each part
/// flagged `MSG_NOTIFICATION`, the last `MSG_EOR`; read them all.
fn rest_of_notification(fd: RawFd, first: &[u8]) -> Vec<u8> {
    let mut all = first.to_vec();
    let mut chunk = [0u8; 4096];
    loop {
        match recv_once(fd, &mut chunk) {
            Ok(g) if g.flags & MSG_NOTIFICATION != 0 => {
                let room = MAX_NOTIFICATION.saturating_sub(all.len());
                all.extend_from_slice(chunk.get(..g.n.min(room)).unwrap_or_default());
                if g.flags & libc::MSG_EOR != 0 || g.n == 0 {
                    break;
                }
            }
            // Not a continuation (the kernel does not interleave one), nothing more, or an
            // error: parse what there is.
            _ => break,
        }
    }
    all
}
