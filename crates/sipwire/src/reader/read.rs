//! The read side of one pass over a connection: read what the socket has into its decoder
//! (a small stack buffer first while it holds none), deliver the frames, until the socket is
//! drained or the pass's budget is used up.
//!
//! With a level-triggered poller (poll, select, epoll_lt) a short read — fewer bytes than the
//! room there was — ends the pass: the socket is drained, and if more arrives the poller says
//! so, so the read that would only return `EAGAIN` is skipped. Edge-triggered epoll reports
//! only new data, so there the loop reads until `EAGAIN`.

use super::*;
/// Reads a connection until it would block or its budget for this pass is used up,
/// delivering every complete frame.
pub(super) fn read_conn(rs: &mut ReadSide, pass: &mut Pass<'_>) -> Outcome {
    let ReadSide { conn, dec } = rs;
    // Nothing buffered: read into a small stack buffer first, so a connection that wakes up
    // with nothing to read (or only EOF) never takes a decoder or a read buffer.
    let mut first = [0u8; 512];
    let first_len = if dec.is_none() {
        match read_first(conn, &mut first) {
            Ok(Some(n)) => n,
            Ok(None) => {
                bump(&pass.shared.stats.empty_reads);
                return Outcome::Keep;
            }
            Err(reason) => return Outcome::Close(reason),
        }
    } else {
        0
    };
    let dec = dec.get_or_insert_with(|| new_decoder(conn, pass.snapshots));
    if !dec.has_buffer() {
        give_buffer(dec, pass.shared, pass.snapshots.get());
    }
    if first_len > 0 {
        // A fresh buffer's free tail is its whole capacity, at least 512 bytes.
        if let Some(spare) = dec.spare_mut().get_mut(..first_len) {
            spare.copy_from_slice(first.get(..first_len).unwrap_or(&[]));
            dec.advance(first_len);
            if let Err(reason) = pass.deliver_read(conn, dec, first_len) {
                return Outcome::Close(reason);
            }
        }
        if first_len < first.len() && !pass.edge {
            return drained(conn);
        }
    }
    // The one read-and-frame loop: read what the socket has, deliver, until it would block
    // or the budget is used up.
    let (mut reads, mut bytes) = (u32::from(first_len > 0), first_len);
    loop {
        if let Some(reason) = conn.close_reason() {
            return Outcome::Close(reason);
        }
        if reads >= READS_PER_PASS || bytes >= BYTES_PER_PASS {
            return Outcome::More;
        }
        let room = dec.spare_mut().len();
        let read = dec.fill_from(&mut &conn.stream);
        let reason = match read {
            Ok(Fill::Data(n)) => match pass.deliver_read(conn, dec, n) {
                Ok(()) if n < room && !pass.edge => return drained(conn),
                Ok(()) => {
                    reads += 1;
                    bytes += n;
                    continue;
                }
                Err(reason) => reason,
            },
            Ok(Fill::WouldBlock) => {
                bump(&pass.shared.stats.empty_reads);
                return Outcome::Keep;
            }
            Ok(Fill::Eof) => peer_closed(conn),
            Ok(Fill::Full) => {
                // The framer reports oversize messages itself; a full buffer means it could not.
                limited_log!(
                    FRAMING_LOG,
                    Warn,
                    "conid {}: read buffer full ({} bytes buffered, tcp_rd_buf_size)",
                    conn.id,
                    dec.buffered()
                );
                bump(&pass.shared.stats.parse_errors);
                CloseReason::Protocol
            }
            Err(e) => read_error(conn, &e),
        };
        return Outcome::Close(reason);
    }
}

/// A connection's first decoder (when it turns busy); a PROXY header is expected only until
/// one was read.
fn new_decoder(conn: &Conn, snapshots: &mut SnapshotCache) -> Box<StreamDecoder> {
    let mut c = snapshots.get().decoder_config();
    // PROXY headers come only on accepted connections: one we opened never carries one.
    c.haproxy &= !conn.outbound && !conn.proxy_done.load(Ordering::Acquire);
    Box::new(StreamDecoder::new(c))
}

/// Gives a decoder a read buffer from the pool, following `tcp_rd_buf_size` and the decoder
/// options as they are now.
fn give_buffer(dec: &mut StreamDecoder, shared: &Shared, cfg: &Config) {
    if shared.pool.capacity() != cfg.tcp.rd_buf_size {
        if let Err(e) = shared.pool.set_capacity(cfg.tcp.rd_buf_size) {
            log::error!("tcp_rd_buf_size {}: {e}", cfg.tcp.rd_buf_size);
        }
    }
    if let Err(buf) = dec.put_buffer(shared.pool.get()) {
        shared.pool.put(buf);
    }
    dec.set_config(cfg.decoder_config());
}

/// The first read of a busy spell into `buf`: `Ok(Some(n))` bytes, `Ok(None)` nothing to read
/// now, `Err` the close it means (EOF or error).
fn read_first(conn: &Conn, buf: &mut [u8]) -> Result<Option<usize>, CloseReason> {
    loop {
        return match (&conn.stream).read(buf) {
            Ok(0) => Err(peer_closed(conn)),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(read_error(conn, &e)),
        };
    }
}

/// A read returned EOF: the connection reports EOF from now on (`tcp_conid_state` -2, not
/// alive), unless a close was asked for already (whose reason wins).
fn peer_closed(conn: &Conn) -> CloseReason {
    conn.set_close_reason(CloseReason::PeerClosed);
    conn.close_reason().unwrap_or(CloseReason::PeerClosed)
}

/// The close a read error means, recorded at once (`tcp_conid_state` -3 for a socket error):
/// a close already asked for wins.
fn read_error(conn: &Conn, e: &io::Error) -> CloseReason {
    conn.set_close_reason(CloseReason::from_io_error(e));
    let reason = conn
        .close_reason()
        .unwrap_or_else(|| CloseReason::from_io_error(e));
    if reason == CloseReason::Error {
        limited_log!(READ_ERROR_LOG, Info, "conid {}: read error: {e}", conn.id);
    }
    reason
}

/// A short read drained the socket (level-triggered poller): wait for the next event, unless
/// the handler asked for a close meanwhile.
fn drained(conn: &Conn) -> Outcome {
    match conn.close_reason() {
        Some(reason) => Outcome::Close(reason),
        None => Outcome::Keep,
    }
}
