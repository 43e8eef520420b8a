//! The drain half of the load tool's read-and-frame step (the read half is
//! [`StreamDecoder::fill_from`]): every complete frame a read made available,
//! in order, to a per-mode handler.

use std::ops::ControlFlow;

use sipwire_frame::{Frame, FrameError, StreamDecoder};

/// Hands every complete frame buffered in `dec` to `on_frame`, in order:
/// `Ok(None)` when no whole frame is left, `Ok(Some(b))` when `on_frame`
/// breaks with `b` (later frames stay buffered), `Err` on a framing error.
pub fn drain<B>(
    dec: &mut StreamDecoder,
    mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<B>,
) -> Result<Option<B>, FrameError> {
    while let Some(f) = dec.next_frame()? {
        if let ControlFlow::Break(b) = on_frame(f) {
            return Ok(Some(b));
        }
    }
    Ok(None)
}
